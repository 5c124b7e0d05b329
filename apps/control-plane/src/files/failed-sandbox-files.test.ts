import { SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

// /v1 files of a failed sandbox come from its host's disk read (ReadStoppedFiles), with the
// contract's refusals. The host agent is the in-process fake, which checks reads as
// wrenn-agent does; tests/e2e-stack/failed-sandbox-files.test.ts runs the real one.
afterAll(() => releaseTestDatabases());

describe("files of a failed sandbox, through the control plane", () => {
  let stack: TestStack;
  let user: UserKey;
  let other: UserKey;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase("pglite"));
    user = await createKey(stack, { createRatePerMinute: 1000 });
    other = await createKey(stack, {});
  });
  afterAll(() => stack?.close());

  async function failed(files: Record<string, Buffer>): Promise<string> {
    const s = await createSandbox(stack, user.key);
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    const onHost = stack.agent.sandboxes.get(s.id)!;
    onHost.state = SandboxState.ERROR;
    onHost.errorReason = "crashed";
    onHost.files = files;
    stack.agent.stateVersion++;
    await stack.cp.monitor.refresh(stack.cp.localHostId);
    return s.id;
  }
  const get = (path: string, key = user.key) =>
    fetch(`${stack.cp.url}${path}`, { headers: { "x-api-key": key } });

  test("a file comes back from the disk, by absolute or home-relative path", async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254]);
    const id = await failed({ "/home/user/data.bin": bytes });
    for (const path of ["/home/user/data.bin", "data.bin", "/home/user/./x/../data.bin"]) {
      const r = await get(`/v1/sandboxes/${id}/files?path=${encodeURIComponent(path)}`);
      expect(r.status, path).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(bytes), path).toBe(true);
    }
    const missing = await get(`/v1/sandboxes/${id}/files?path=/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "file_not_found" } });
  });

  test("another owner gets 404; bad paths and users are 400 and reach no host", async () => {
    const id = await failed({ "/home/user/a": Buffer.from("a") });
    const r = await get(`/v1/sandboxes/${id}/files?path=/home/user/a`, other.key);
    expect(r.status).toBe(404);
    const before = stack.agent.callsOf("readStoppedFiles");
    for (const q of ["path=", "path=%00", "path=a&user=Bad!", `path=${"a".repeat(4097)}`]) {
      const bad = await get(`/v1/sandboxes/${id}/files?${q}`);
      expect(bad.status, q).toBe(400);
      expect(await bad.json()).toMatchObject({ error: { code: expect.any(String) } });
    }
    expect(stack.agent.callsOf("readStoppedFiles")).toBe(before);
  });

  test("a disk its host no longer holds is files_unavailable; a running sandbox has no archive", async () => {
    const id = await failed({});
    stack.agent.sandboxes.delete(id);
    const gone = await get(`/v1/sandboxes/${id}/files?path=/x`);
    expect(gone.status).toBe(409);
    expect(await gone.json()).toMatchObject({ error: { code: "files_unavailable" } });

    const running = await createSandbox(stack, user.key);
    const archive = await get(`/v1/sandboxes/${running.id}/archive?path=/home/user`);
    expect(archive.status).toBe(409);
  });
});
