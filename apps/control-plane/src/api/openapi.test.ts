import { CreateSandboxBody } from "@wrenn/contract";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack(await freshDatabase("pglite"));
});
afterAll(async () => {
  await stack?.close();
  await releaseTestDatabases();
});

interface OpenApi {
  openapi: string;
  paths: Record<
    string,
    Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>
  >;
  components: { securitySchemes: Record<string, unknown> };
}

test("/openapi.json is OpenAPI 3.1 covering /v1 and the E2B paths", async () => {
  const response = await stack.call("GET", "/openapi.json", { key: null });
  expect(response.status).toBe(200);
  const doc = response.body as OpenApi;
  expect(doc.openapi).toBe("3.1.0");
  for (const path of [
    "/v1/sandboxes",
    "/v1/sandboxes/{id}",
    "/v1/sandboxes/{id}/pause",
    "/v1/sandboxes/{id}/resume",
    "/v1/sandboxes/{id}/timeout",
    "/v1/api-keys",
    "/v1/api-keys/{id}",
    "/v1/hosts",
    "/v2/sandboxes",
    "/sandboxes/{sandboxID}",
    "/sandboxes/{sandboxID}/timeout",
    "/sandboxes/{sandboxID}/pause",
    "/v2/sandboxes/{sandboxID}/connect",
    "/sandboxes/{sandboxID}/metrics",
  ]) {
    expect(doc.paths, path).toHaveProperty([path]);
  }
  expect(doc.components.securitySchemes).toHaveProperty("apiKey");
});

test("the documented request body is the schema that validates it", async () => {
  const doc = (await stack.call("GET", "/openapi.json", { key: null })).body as OpenApi;
  const documented =
    doc.paths["/v1/sandboxes"]!.post!.requestBody!.content["application/json"]!.schema;
  expect(documented).toEqual(JSON.parse(JSON.stringify(CreateSandboxBody)));
});

test("/docs is served with its assets from this server, no CDN", async () => {
  const page = await stack.call("GET", "/docs/", { key: null });
  expect(page.status).toBe(200);
  expect(page.text).toContain("swagger-ui");
  const sources = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  expect(sources.length).toBeGreaterThan(0);
  for (const source of sources) {
    expect(source, source).not.toMatch(/^(https?:)?\/\//);
    const asset = await fetch(new URL(source, `${stack.cp.url}/docs/`));
    expect(asset.status, source).toBe(200);
  }
});

test("health needs no key", async () => {
  const response = await stack.call("GET", "/healthz", { key: null });
  expect(response.status).toBe(200);
  expect(response.body).toMatchObject({ status: "ok" });
});
