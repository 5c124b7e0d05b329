import { access, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { ConnectError } from "@connectrpc/connect";
import { BootPath, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentProcess } from "../harness/agent-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

// gVisor promises no checkpoint compatibility across runsc builds or platforms: the agent
// stamps every checkpoint with the runsc that made it and never restores one into another.
const FOREIGN = "runsc version 0.0~19990101.0 platform=ptrace";

describe("host agent: the runsc build is part of every checkpoint's identity", () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start({ poolSize: 0 });
  });
  afterAll(async () => {
    await agent?.dispose();
  });
  afterEach(({ task }) => {
    if (task.result?.state === "fail") console.error(agent?.output.slice(-4000));
  });

  /** The identity the agent logged at start (it probes its runsc once). */
  function loggedIdentity(): string {
    const lines = agent.output.split("\n").filter((l) => l.includes('"identity"'));
    const last = lines.at(-1);
    if (!last) throw new Error(`the agent logged no runsc identity:\n${agent.output}`);
    return (JSON.parse(last) as { identity: string }).identity;
  }

  it("logs which runsc and platform it uses", () => {
    const want = process.env.WRENN_RUNSC || "runsc";
    const line = agent.output.split("\n").find((l) => l.includes('"component":"runtime"'));
    expect(line).toBeDefined();
    const entry = JSON.parse(line ?? "{}") as Record<string, unknown>;
    expect(entry.runsc).toBe(want);
    expect(entry.platform === "systrap" || entry.platform === "ptrace").toBe(true);
    // ptrace only with the reason why.
    if (entry.platform === "ptrace") expect(String(entry.fallbackReason)).not.toBe("");
    expect(loggedIdentity()).toContain(`platform=${entry.platform}`);
  });

  it("refuses to resume a checkpoint made by another runsc, and the state says why", async () => {
    const id = "sb-00000d01";
    await agent.client.createSandbox({ sandboxId: id, template: "base" });
    await execInSandbox(agent.url, id, "echo kept > ~/kept.txt");
    await agent.client.pauseSandbox({ sandboxId: id });
    await agent.stop();
    const stamp = await onlyCheckpointStamp(agent.dataDir);
    const own = (await readFile(stamp, "utf8")).trim();
    expect(own).toBe(loggedIdentity());
    // As if the checkpoint came from another runsc (the package changed while it was paused).
    await writeFile(stamp, `${FOREIGN}\n`);
    await agent.launch();

    const { sandbox } = await agent.client.getSandbox({ sandboxId: id });
    expect(sandbox?.state).toBe(SandboxState.PAUSED);
    expect(sandbox?.error).toContain(`made by ${FOREIGN}`);
    expect(sandbox?.error).toContain(own);
    const refused = await agent.client.resumeSandbox({ sandboxId: id }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).rawMessage).toContain(`made by ${FOREIGN}`);
    expect((await agent.client.getSandbox({ sandboxId: id })).sandbox?.state).toBe(
      SandboxState.PAUSED,
    );

    // The runsc that made it is back: the refusal goes, and the sandbox resumes whole.
    await agent.stop();
    await writeFile(stamp, `${own}\n`);
    await agent.launch();
    expect((await agent.client.getSandbox({ sandboxId: id })).sandbox?.error).toBe("");
    await agent.client.resumeSandbox({ sandboxId: id });
    expect((await execInSandbox(agent.url, id, "cat ~/kept.txt")).stdout).toBe("kept\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("checkpoints the template again for its runsc, and never restores another's", async () => {
    const { templates } = await agent.client.listTemplates({});
    const base = templates.find((t) => t.name === "base");
    expect(base).toBeDefined();
    await agent.stop();
    // Left by an agent of another runsc: one in the layout before identities existed (which a
    // 2022 runsc made), one under a foreign identity. Garbage: restoring either would fail.
    const root = path.join(agent.dataDir, "template-checkpoints");
    // What an agent finds at its first start after a runsc change: none of its own.
    await rm(root, { recursive: true, force: true });
    const legacy = path.join(root, `base-${base?.version}`);
    const foreign = path.join(root, "runsc-version-0.0-19990101.0-platform-ptrace-00000000");
    for (const dir of [legacy, path.join(foreign, `base-${base?.version}`)]) {
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, "checkpoint.img"), "not a checkpoint");
    }
    const before = agent.output.length;
    await agent.launch();
    await waitFor(
      () => agent.output.slice(before).includes("template checkpoint saved"),
      240_000,
      "the template checkpoint of this runsc",
    );
    const left = await readdir(root);
    expect(left).toHaveLength(1);
    expect(left).not.toContain(path.basename(legacy));
    expect(left).not.toContain(path.basename(foreign));

    const id = "sb-00000d02";
    const { sandbox } = await agent.client.createSandbox({ sandboxId: id, template: "base" });
    expect(sandbox?.bootPath).toBe(BootPath.TEMPLATE_RESTORE);
    expect((await execInSandbox(agent.url, id, "echo restored")).stdout).toBe("restored\n");
    await agent.client.destroySandbox({ sandboxId: id });
  });

  it("refuses to start with a runsc it cannot run, naming it", async () => {
    const bad = await AgentProcess.start({
      poolSize: 0,
      env: { WRENN_RUNSC: "/nonexistent/wrenn-test-runsc" },
    }).then(
      (a) => a.dispose().then(() => undefined),
      (err: Error) => err,
    );
    expect(bad).toBeInstanceOf(Error);
    expect((bad as Error).message).toContain("/nonexistent/wrenn-test-runsc");
  });
});

/** The identity stamp of the one checkpointed sandbox of this agent. */
async function onlyCheckpointStamp(dataDir: string): Promise<string> {
  const dir = path.join(dataDir, "sandboxes");
  const found: string[] = [];
  for (const name of await readdir(dir)) {
    const stamp = path.join(dir, name, "checkpoint", "wrenn-runtime-identity");
    if (
      await access(stamp).then(
        () => true,
        () => false,
      )
    )
      found.push(stamp);
  }
  if (found.length !== 1) throw new Error(`want one checkpoint in ${dir}, found ${found.length}`);
  return found[0] as string;
}
