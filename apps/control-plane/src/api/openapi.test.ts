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
  // The schema's examples become the media type's example, which "Try it out" fills in.
  const { examples, ...schema } = JSON.parse(JSON.stringify(CreateSandboxBody));
  expect(documented).toEqual(schema);
  expect(
    (
      doc.paths["/v1/sandboxes"]!.post!.requestBody!.content["application/json"] as unknown as {
        example: unknown;
      }
    ).example,
  ).toEqual(examples[0]);
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

type Operation = {
  tags?: string[];
  requestBody?: { content: Record<string, { example?: unknown; examples?: unknown }> };
  responses: Record<string, { description: string }>;
};

test("docs: named responses, examples that work as written, admin apart, WebSockets, upload body", async () => {
  const doc = (await stack.call("GET", "/openapi.json", { key: null })).body as {
    info: { title: string; description: string };
    paths: Record<string, Record<string, Operation>>;
  };
  expect(doc.info.title).toContain("Wrenn");
  expect(doc.info.description).toContain("## Quick start");
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (status.startsWith("2"))
          expect(response.description, `${method} ${path} ${status}`).not.toBe("Default Response");
      }
      const json = op.requestBody?.content["application/json"];
      // Every JSON body a user fills in comes with an example (empty-object bodies aside).
      if (json && path.startsWith("/v1/") && !/\/(pause|hibernate)$/.test(path))
        expect(json.example ?? json.examples, `${method} ${path} example`).toBeDefined();
    }
  }
  // "Try it out" on create, as written: a running sandbox (no mounts, which need an admin key).
  const example = doc.paths["/v1/sandboxes"]!.post!.requestBody!.content["application/json"]!
    .example as Record<string, unknown>;
  expect(example).not.toHaveProperty("mounts");
  const created = await stack.call("POST", "/v1/sandboxes", { body: example });
  expect(created.status).toBe(201);
  const id = (created.body as { id: string }).id;
  for (const [path, body] of [
    [`/v1/sandboxes/${id}/timeout`, "/v1/sandboxes/{id}/timeout"],
    [`/v1/sandboxes/${id}/resume`, "/v1/sandboxes/{id}/resume"],
  ] as const) {
    const sample = doc.paths[body]!.post!.requestBody!.content["application/json"]!.example;
    expect((await stack.call("POST", path, { body: sample })).status, path).toBe(200);
  }
  const keyExample =
    doc.paths["/v1/api-keys"]!.post!.requestBody!.content["application/json"]!.example;
  expect((await stack.call("POST", "/v1/api-keys", { body: keyExample })).status).toBe(201);

  expect(doc.paths["/v1/api-keys"]!.post!.tags).toEqual(["admin"]);
  expect(doc.paths["/v1/hosts"]!.get!.tags).toEqual(["admin"]);
  expect(doc.paths["/v1/sandboxes/{id}/exec/stream"]!.get!.responses).toHaveProperty("101");
  expect(doc.paths["/v1/sandboxes/{id}/terminal"]!.get!.responses).toHaveProperty("101");
  expect(doc.paths["/v1/sandboxes/{id}/files"]!.put!.requestBody!.content).toHaveProperty(
    "application/octet-stream",
  );
});

test("/docs in Chromium: Wrenn's page, no console errors (CSP included)", async () => {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await page.goto(`${stack.cp.url}/docs/`, { waitUntil: "networkidle" });
    await page.getByText("Quick start").first().waitFor({ timeout: 60_000 });
    await page.locator(".opblock-summary-path", { hasText: "/v1/sandboxes" }).first().waitFor();
    expect(problems).toEqual([]);
    expect(await page.title()).toContain("Wrenn");
  } finally {
    await browser.close();
  }
});
