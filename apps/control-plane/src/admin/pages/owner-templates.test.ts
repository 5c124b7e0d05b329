import { afterAll, beforeAll, expect, test } from "vitest";
import { createKey, createSandbox } from "../../testing/api-helpers.js";
import {
  startTestStack,
  TEST_ADMIN_KEY,
  type TestStack,
} from "../../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../../testing/test-databases.js";

// The templates page over a real control plane on PGlite and the fake agent, which "builds" a
// template of buildSizeBytes and reports buildMessage as its progress line.
const MiB = 1024 * 1024;
let stack: TestStack;
let cookie = "";
let csrf = "";

const setCookies = (r: Response) =>
  r.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");

/** Logs in as the browser does: the form's nonce cookie and field, then the session cookie. */
async function login(): Promise<void> {
  const form = await fetch(`${stack.cp.url}/admin/login`);
  const nonce = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
  const done = await fetch(`${stack.cp.url}/admin/login`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: setCookies(form) },
    body: new URLSearchParams({ apiKey: TEST_ADMIN_KEY, _csrf: nonce, next: "/admin" }).toString(),
  });
  expect(done.status).toBe(303);
  cookie = setCookies(done).replace(/wrenn_admin_login=;?\s*/, "");
  csrf = /name="_csrf" value="([^"]+)"/.exec(await (await admin("GET", "/templates")).text)![1]!;
}

async function admin(method: "GET" | "POST", path: string) {
  const r = await fetch(`${stack.cp.url}/admin${path}`, {
    method,
    redirect: "manual",
    headers: {
      cookie,
      ...(method === "POST"
        ? { "x-csrf-token": csrf, "content-type": "application/x-www-form-urlencoded" }
        : {}),
    },
    ...(method === "POST" ? { body: "" } : {}),
  });
  return { status: r.status, text: await r.text() };
}

async function buildReady(key: string, name: string): Promise<void> {
  const started = await stack.call("POST", "/v1/templates", {
    key,
    body: { name, fromImage: "docker.io/library/alpine:3" },
  });
  expect(started.status, started.text).toBe(202);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const t = (await stack.call("GET", `/v1/templates/${name}`, { key })).body as {
      status: string;
    };
    if (t.status === "ready") return;
    if (t.status !== "building" || Date.now() > deadline) throw new Error(JSON.stringify(t));
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  stack = await startTestStack(await freshDatabase("pglite"));
  await login();
});
afterAll(async () => {
  await stack?.close();
  await releaseTestDatabases();
});

test("lists every owner's templates with size and a build log whose hostile lines are text", async () => {
  const alice = await createKey(stack, { name: "alice" });
  const bob = await createKey(stack, { name: "bob" });
  stack.agent.buildSizeBytes = 300 * MiB;
  stack.agent.buildMessage = "<script>alert(1)</script> pulled";
  await buildReady(alice.key, "web:1");
  await buildReady(bob.key, "db:2");

  const list = await admin("GET", "/templates");
  expect(list.status).toBe(200);
  for (const [owner, name] of [
    [alice.ownerId, "web:1"],
    [bob.ownerId, "db:2"],
  ] as const) {
    const row = new RegExp(
      `<tr data-template="${name}" data-owner="${owner}" data-status="ready">[\\s\\S]*?</tr>`,
    ).exec(list.text)?.[0];
    expect(row, name).toBeDefined();
    expect(row).toContain(">300 MiB<");
    expect(row).toContain(`href="/admin/templates/${owner}/${encodeURIComponent(name)}/logs"`);
    expect(row).toContain(`hx-post="/admin/templates/${owner}/${encodeURIComponent(name)}/delete"`);
  }

  const logs = await admin(
    "GET",
    `/templates/${alice.ownerId}/${encodeURIComponent("web:1")}/logs`,
  );
  expect(logs.status, logs.text).toBe(200);
  expect(logs.text).toContain("&lt;script&gt;alert(1)&lt;/script&gt; pulled");
  expect(logs.text).not.toContain("<script>alert(1)");

  // Another owner's name for the template is not alice's: nothing is found, not a 5xx.
  const wrong = await admin("GET", `/templates/${bob.ownerId}/${encodeURIComponent("web:1")}/logs`);
  expect(wrong.status).toBe(404);
  const bad = await admin("GET", `/templates/${bob.ownerId}/${encodeURIComponent("<x>")}/logs`);
  expect(bad.status).toBe(400);
});

test("delete removes a template; one in use answers 409 naming its sandboxes and stays", async () => {
  const carol = await createKey(stack, { name: "carol" });
  stack.agent.buildSizeBytes = 10 * MiB;
  await buildReady(carol.key, "app:1");
  await buildReady(carol.key, "spare:1");
  const sandbox = await createSandbox(stack, carol.key, { template: "app:1" });
  const path = (name: string) => `/templates/${carol.ownerId}/${encodeURIComponent(name)}/delete`;

  // Without the CSRF token nothing is deleted.
  const forged = await fetch(`${stack.cp.url}/admin${path("spare:1")}`, {
    method: "POST",
    headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
    body: "",
  });
  expect(forged.status).toBe(403);

  const inUse = await admin("POST", path("app:1"));
  expect(inUse.status, inUse.text).toBe(409);
  expect(inUse.text).toContain("is used by sandboxes");
  expect(inUse.text).toContain(sandbox.id);
  expect((await stack.call("GET", "/v1/templates/app:1", { key: carol.key })).status).toBe(200);

  const held = stack.agent.templates.length;
  const deleted = await admin("POST", path("spare:1"));
  expect(deleted.status, deleted.text).toBe(200);
  expect(deleted.text).toContain('data-status="deleted"');
  expect((await stack.call("GET", "/v1/templates/spare:1", { key: carol.key })).status).toBe(404);
  expect(stack.agent.templates.length).toBe(held - 1);
  const list = await admin("GET", "/templates");
  expect(list.text).toContain('data-template="app:1"');
  expect(list.text).not.toContain('data-template="spare:1"');
});
