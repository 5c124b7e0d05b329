import { readFileSync } from "node:fs";
import pino from "pino";
import type { AuditLog } from "../service/audit-log.js";
import type { ApiDeps } from "./api-deps.js";
import { buildServer } from "./server.js";

/** The control plane's version, which the document's info.version reports. */
function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

/**
 * The OpenAPI 3.1 document of the REST API, generated from the routes and the contract's
 * schemas without a database or a host: only the route table is needed, so the services are
 * never called. packages/contract/openapi.json is this document, checked in
 * (bin/openapi.mjs writes it and, in `npm run check`, fails when it is stale).
 */
export async function openApiDocument(): Promise<unknown> {
  const unused = {} as ApiDeps;
  const app = await buildServer({
    ...unused,
    audit: {} as AuditLog,
    logger: pino({ level: "silent" }),
    version: packageVersion(),
  });
  try {
    await app.ready();
    return app.swagger();
  } finally {
    await app.close();
  }
}
