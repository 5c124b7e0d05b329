import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BootPath, PauseMode } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

describe("host agent: host directories mounted into sandboxes", () => {
  let agent: AgentProcess;
  let root: string;
  let outside: string;
  const secret = `host-secret-${randomBytes(4).toString("hex")}`;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), "wrenn-mount-root-"));
    outside = await mkdtemp(path.join(os.tmpdir(), "wrenn-mount-outside-"));
    await writeFile(path.join(outside, "secret.txt"), secret);
    await mkdir(path.join(root, "project"));
    await writeFile(path.join(root, "project", "input.txt"), "from the host\n");
    // Escapes a mount may try: a link to a file outside, and a directory link outside.
    await symlink(path.join(outside, "secret.txt"), path.join(root, "project", "escape.txt"));
    await symlink(outside, path.join(root, "linked-outside"));
    agent = await AgentProcess.start({ poolSize: 1, env: { WRENN_MOUNT_ROOTS: root } });
  });
  afterAll(async () => {
    await agent?.dispose();
    await rm(root, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  it("mounts a directory read-write: both sides see each other's files", async () => {
    const id = "sb-00000f01";
    const { sandbox } = await agent.client.createSandbox({
      sandboxId: id,
      template: "base",
      mounts: [
        { hostPath: path.join(root, "project"), sandboxPath: "/workspace", readOnly: false },
      ],
    });
    expect(sandbox?.bootPath).toBe(BootPath.COLD_BOOT);
    expect(sandbox?.mounts.map((m) => m.sandboxPath)).toEqual(["/workspace"]);
    const r = await execInSandbox(
      agent.url,
      id,
      "cat /workspace/input.txt && sudo sh -c 'echo from the sandbox > /workspace/output.txt'",
    );
    expect(r).toMatchObject({ stdout: "from the host\n", exitCode: 0 });
    expect(await readFile(path.join(root, "project", "output.txt"), "utf8")).toBe(
      "from the sandbox\n",
    );
    // A symlink inside the mount resolves in the sandbox's own view, never the host's.
    const escaped = await execInSandbox(agent.url, id, "cat /workspace/escape.txt 2>&1; true");
    expect(escaped.stdout).not.toContain(secret);
    // Files written before a pause are there after, with the mount back in place.
    const paused = await agent.client.pauseSandbox({ sandboxId: id });
    expect(paused.sandbox?.pauseMode).toBe(PauseMode.CHECKPOINT);
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await execInSandbox(agent.url, id, "cat /workspace/output.txt")).stdout).toBe(
      "from the sandbox\n",
    );
    await agent.client.destroySandbox({ sandboxId: id });
    // Destroying the sandbox leaves the host directory alone.
    expect(await readFile(path.join(root, "project", "input.txt"), "utf8")).toBe("from the host\n");
  });

  it("mounts read-only: reading works, writing fails", async () => {
    const id = "sb-00000f02";
    await agent.client.createSandbox({
      sandboxId: id,
      template: "base",
      mounts: [{ hostPath: path.join(root, "project"), sandboxPath: "/workspace", readOnly: true }],
    });
    expect((await execInSandbox(agent.url, id, "cat /workspace/input.txt")).stdout).toBe(
      "from the host\n",
    );
    const w = await execInSandbox(
      agent.url,
      id,
      "sudo sh -c 'echo x > /workspace/new.txt' 2>&1; echo rc=$?",
    );
    expect(w.stdout).toMatch(/Read-only file system/);
    expect(w.stdout).toMatch(/rc=[1-9]/);
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("refuses host paths outside its roots, however they are spelled", async () => {
    const create = (hostPath: string, sandboxPath = "/workspace") =>
      agent.client.createSandbox({
        sandboxId: "sb-00000f03",
        template: "base",
        mounts: [{ hostPath, sandboxPath, readOnly: true }],
      });
    await expect(create(outside)).rejects.toThrow(/outside the directories/);
    await expect(create(path.join(root, "..", path.basename(outside)))).rejects.toThrow(/outside/);
    await expect(create(path.join(root, "linked-outside"))).rejects.toThrow(/outside/);
    await expect(create("/")).rejects.toThrow(/outside/);
    await expect(create("relative/dir")).rejects.toThrow(/absolute/);
    await expect(create(path.join(root, "missing"))).rejects.toThrow(/does not exist/);
    await expect(create(path.join(root, "project", "input.txt"))).rejects.toThrow(
      /not a directory/,
    );
    await expect(create(path.join(root, "project"), "/etc")).rejects.toThrow(/cannot mount over/);
    await expect(create(path.join(root, "project"), "/")).rejects.toThrow(/not \//);
    // Nothing was created by any of these.
    const { sandboxes } = await agent.client.listSandboxes({});
    expect(sandboxes.map((s) => s.sandboxId)).not.toContain("sb-00000f03");
  });
});
