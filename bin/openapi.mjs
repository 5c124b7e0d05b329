#!/usr/bin/env node
// Writes packages/contract/openapi.json from the control plane's routes and the contract's
// schemas, or with --check fails when the checked-in file differs from a fresh one (run by
// `npm run check`; needs `npm run build` first, as it reads the built control plane).
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "@wrenn/control-plane";

const target = fileURLToPath(new URL("../packages/contract/openapi.json", import.meta.url));
const marker = {
  "x-generated":
    "by bin/openapi.mjs from the control plane's routes and @wrenn/contract; do not edit",
};
const fresh = `${JSON.stringify({ ...marker, ...(await openApiDocument()) }, null, 2)}\n`;

if (process.argv.includes("--check")) {
  const current = await readFile(target, "utf8").catch(() => "");
  if (current !== fresh) {
    console.error(
      "packages/contract/openapi.json is not current: run `npm run build && npm run openapi` and commit it",
    );
    process.exit(1);
  }
  console.log("packages/contract/openapi.json is current");
} else {
  await writeFile(target, fresh);
  console.log(`wrote ${target}`);
}
