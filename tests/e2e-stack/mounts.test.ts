import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "./stack.js";

// POST /v1/sandboxes with mounts: admin keys only; the host agent decides which directories.
describe("/v1 sandboxes with host directories mounted", () => {
  let stack: Stack;
  let user: UserKey;
  let root: string;
  let outside: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "wrenn-cp-mount-"));
    outside = await mkdtemp(path.join(os.tmpdir(), "wrenn-cp-outside-"));
    await writeFile(path.join(root, "hello.txt"), "hello from the host\n");
    stack = await Stack.start({ poolSize: 0, agentEnv: { WRENN_MOUNT_ROOTS: root } });
    user = await stack.key({ name: "mount-user" });
  });
  afterAll(async () => {
    await stack?.close();
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  test("an admin mounts a directory; the sandbox reads and writes it", async () => {
    const created = await stack.call("POST", "/v1/sandboxes", {
      key: stack.adminKey,
      body: { mounts: [{ hostPath: root, path: "/workspace" }] },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: string }).id;
    const run = await stack.call("POST", `/v1/sandboxes/${id}/exec`, {
      key: stack.adminKey,
      body: {
        command: "cat /workspace/hello.txt && echo written > /workspace/out.txt",
        user: "root",
      },
    });
    expect(run.body).toMatchObject({ exitCode: 0, stdout: "hello from the host\n" });
    expect(await readFile(path.join(root, "out.txt"), "utf8")).toBe("written\n");
    expect(
      (await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: stack.adminKey })).status,
    ).toBe(204);
  });

  test("a user key may not mount, and nothing is created", async () => {
    const before = await stack.call("GET", "/v1/sandboxes", { key: user.key });
    const refused = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { mounts: [{ hostPath: root, path: "/workspace", readOnly: true }] },
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: "mounts_not_allowed" } });
    const after = await stack.call("GET", "/v1/sandboxes", { key: user.key });
    expect(after.body).toEqual(before.body);
  });

  test("directories outside the agent's roots and malformed mounts are refused", async () => {
    const outsideRoot = await stack.call("POST", "/v1/sandboxes", {
      key: stack.adminKey,
      body: { mounts: [{ hostPath: outside, path: "/workspace" }] },
    });
    expect(outsideRoot.status).toBe(403);
    expect(outsideRoot.body).toMatchObject({ error: { code: "mount_not_allowed" } });
    for (const mounts of [
      [{ hostPath: "relative", path: "/workspace" }],
      [{ hostPath: root, path: "workspace" }],
      [{ hostPath: root, path: "/workspace", extra: 1 }],
      Array.from({ length: 17 }, (_, i) => ({ hostPath: root, path: `/w${i}` })),
    ]) {
      const bad = await stack.call("POST", "/v1/sandboxes", {
        key: stack.adminKey,
        body: { mounts },
      });
      expect(bad.status).toBe(400);
    }
  });
});
