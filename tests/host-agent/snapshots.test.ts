import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { BootPath, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { COUNTER_PROCESS, counterOf, countingPast } from "../harness/counter-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

const SOURCE = "sb-00000c01";
const COPY = "sb-00000c02";
const SNAP = "snap-0000c001";
const SOURCE_TOKEN = "tok-snapshot-source";
const COPY_TOKEN = "tok-snapshot-copy";

describe("host agent: snapshots of running sandboxes", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });

  it("saves files and processes; the source keeps running; a new sandbox restores it", async () => {
    await agent.client.createSandbox({
      sandboxId: SOURCE,
      template: "base",
      envdAccessToken: SOURCE_TOKEN,
      envVars: { FROM_SOURCE: "yes" },
    });
    await execInSandbox(agent.url, SOURCE, `echo kept > /home/user/note.txt; ${COUNTER_PROCESS}`, {
      token: SOURCE_TOKEN,
    });
    const before = await countingPast(agent.url, SOURCE, SOURCE_TOKEN, 0);

    const { snapshot, sandbox } = await agent.client.snapshotSandbox({
      sandboxId: SOURCE,
      snapshotId: SNAP,
    });
    expect(snapshot).toMatchObject({ snapshotId: SNAP, sourceSandboxId: SOURCE, template: "base" });
    expect(Number(snapshot?.sizeBytes)).toBeGreaterThan(0);
    expect(sandbox?.state).toBe(SandboxState.RUNNING);
    // The source: same id, same token, its process still counting.
    const afterSnap = await countingPast(agent.url, SOURCE, SOURCE_TOKEN, before);

    const { sandbox: copy } = await agent.client.createSandbox({
      sandboxId: COPY,
      template: "base",
      fromSnapshot: SNAP,
      envdAccessToken: COPY_TOKEN,
      metadata: { copy: "1" },
    });
    expect(copy).toMatchObject({
      sandboxId: COPY,
      state: SandboxState.RUNNING,
      bootPath: BootPath.SNAPSHOT_RESTORE,
      metadata: { copy: "1" },
    });
    expect(copy?.address).not.toBe(sandbox?.address);
    const files = await execInSandbox(
      agent.url,
      COPY,
      "cat /home/user/note.txt; echo $FROM_SOURCE",
      {
        token: COPY_TOKEN,
      },
    );
    expect(files).toMatchObject({ stdout: "kept\nyes\n", exitCode: 0 });
    // The copy's counter resumes from where the snapshot left it, and goes on.
    const restored = await counterOf(agent.url, COPY, COPY_TOKEN);
    expect(restored).toBeGreaterThanOrEqual(before);
    await countingPast(agent.url, COPY, COPY_TOKEN, restored);
    // Its own token: the source's no longer opens it.
    await expect(execInSandbox(agent.url, COPY, "true", { token: SOURCE_TOKEN })).rejects.toThrow();

    // Independent: a file written in the copy is not in the source.
    await execInSandbox(agent.url, COPY, "echo copy > /home/user/only-copy", { token: COPY_TOKEN });
    const src = await execInSandbox(agent.url, SOURCE, "ls /home/user", { token: SOURCE_TOKEN });
    expect(src.stdout.split("\n")).not.toContain("only-copy");
    await countingPast(agent.url, SOURCE, SOURCE_TOKEN, afterSnap);

    await agent.client.deleteSnapshot({ snapshotId: SNAP });
    // Idempotent.
    await agent.client.deleteSnapshot({ snapshotId: SNAP });
    await expect(
      agent.client.createSandbox({
        sandboxId: "sb-00000c03",
        template: "base",
        fromSnapshot: SNAP,
      }),
    ).rejects.toThrow(/not on this host/);
    await expect(agent.client.getSandbox({ sandboxId: "sb-00000c03" })).rejects.toThrow(
      /not found/,
    );
    // The copy does not depend on the artifact once restored.
    await countingPast(agent.url, COPY, COPY_TOKEN, await counterOf(agent.url, COPY, COPY_TOKEN));
    await agent.client.destroySandbox({ sandboxId: COPY });
  });

  it("refuses a snapshot taken under another runtime build, or whose mounts this host forbids", async () => {
    const snap = "snap-0000c002";
    await agent.client.snapshotSandbox({ sandboxId: SOURCE, snapshotId: snap });
    const stamp = path.join(
      agent.dataDir,
      "snapshots",
      snap,
      "checkpoint",
      "wrenn-runtime-identity",
    );
    const real = await readFile(stamp, "utf8");
    await writeFile(stamp, "runsc version 0.0~19990101.0 platform=ptrace\n");
    await expect(
      agent.client.createSandbox({
        sandboxId: "sb-00000c04",
        template: "base",
        fromSnapshot: snap,
      }),
    ).rejects.toThrow(/0\.0~19990101\.0/);
    await expect(agent.client.getSandbox({ sandboxId: "sb-00000c04" })).rejects.toThrow(
      /not found/,
    );
    await writeFile(stamp, real);

    // The stored mounts are host paths the agent (root) would bind: checked again on restore,
    // as a create's are. This agent mounts nothing (no WRENN_MOUNT_ROOTS).
    const metaFile = path.join(agent.dataDir, "snapshots", snap, "snapshot.json");
    const meta = await readFile(metaFile, "utf8");
    await writeFile(
      metaFile,
      JSON.stringify({
        ...JSON.parse(meta),
        mounts: [{ hostPath: "/etc", sandboxPath: "/workspace", readOnly: true }],
      }),
    );
    await expect(
      agent.client.createSandbox({
        sandboxId: "sb-00000c06",
        template: "base",
        fromSnapshot: snap,
      }),
    ).rejects.toThrow(/WRENN_MOUNT_ROOTS/);
    await expect(agent.client.getSandbox({ sandboxId: "sb-00000c06" })).rejects.toThrow(
      /not found/,
    );
    await writeFile(metaFile, meta);
    await agent.client.deleteSnapshot({ snapshotId: snap });
  });

  it("refuses bad input and creates nothing", async () => {
    await expect(
      agent.client.snapshotSandbox({ sandboxId: SOURCE, snapshotId: "../../etc" }),
    ).rejects.toThrow(/snapshot id/);
    await expect(
      agent.client.snapshotSandbox({ sandboxId: "sb-0000dead", snapshotId: "snap-0000c003" }),
    ).rejects.toThrow(/not found/);
    await expect(
      agent.client.createSandbox({
        sandboxId: "sb-00000c05",
        template: "base",
        fromSnapshot: "snap-0000ffff",
      }),
    ).rejects.toThrow(/not on this host/);
    const { sandboxes } = await agent.client.listSandboxes({});
    expect(sandboxes.map((s) => s.sandboxId)).toEqual([SOURCE]);
    await agent.client.destroySandbox({ sandboxId: SOURCE });
  });
});
