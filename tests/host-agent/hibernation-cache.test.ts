// A real agent whose artifact store is an S3 protocol server (s3rver on loopback, behind a
// relay that records the requests it carries): a sandbox it hibernates is kept in its cache,
// so resuming it there downloads no data.tar, with its files and a running process intact; a
// cached copy that was changed is noticed, dropped and downloaded instead; destroying a
// hibernated sandbox removes both its cached copy and the stored one.
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { PauseMode, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultRelay, TestS3 } from "../../apps/host-agent/src/artifacts/store-test-kit.js";
import { AgentProcess } from "../harness/agent-process.js";
import {
  COUNTER_PROCESS,
  counterOf,
  countingPast as countingPastOf,
} from "../harness/counter-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";

const ID = "sb-00000ca1";
const TOKEN = "tok-hibernation-cache";

describe("host agent: its cache of what it hibernated to a shared store", () => {
  let s3: TestS3;
  let relay: FaultRelay;
  let agent: AgentProcess;

  beforeAll(async () => {
    s3 = await TestS3.start();
    relay = await FaultRelay.start(s3.port);
    agent = await AgentProcess.start({
      poolSize: 0,
      env: { ...s3.env(relay.port), WRENN_ARTIFACT_CACHE_MB: "2048" },
    });
  }, 300_000);
  afterAll(async () => {
    await agent?.dispose();
    await relay?.close();
    await s3?.close();
  }, 300_000);

  const cached = () => path.join(agent.dataDir, "artifact-cache", "hibernation", `${ID}.tar`);
  const dataGets = () =>
    relay.requests.filter((r) => r.startsWith("GET ") && r.includes(`/hibernation/${ID}/data.tar`))
      .length;
  const run = async (command: string) =>
    (await execInSandbox(agent.url, ID, command, { token: TOKEN })).stdout.trim();
  const counter = () => counterOf(agent.url, ID, TOKEN);
  const countingPast = (after: number) => countingPastOf(agent.url, ID, TOKEN, after);

  async function pauseAndHibernate(): Promise<void> {
    const paused = await agent.client.pauseSandbox({ sandboxId: ID });
    expect(paused.sandbox?.pauseMode).toBe(PauseMode.CHECKPOINT);
    const { storedBytes } = await agent.client.hibernateSandbox({ sandboxId: ID });
    expect(Number(storedBytes)).toBeGreaterThan(0);
    // It left the host; the copy this host keeps is the very size the store took.
    await expect(agent.client.getSandbox({ sandboxId: ID })).rejects.toThrow(/not found/);
    expect((await stat(cached())).size).toBe(Number(storedBytes));
  }

  async function resume(): Promise<void> {
    const { sandbox } = await agent.client.restoreHibernatedSandbox({ sandboxId: ID });
    expect(sandbox?.state).toBe(SandboxState.RUNNING);
    expect(await run("cat /home/user/note.txt")).toBe("kept in the cache");
    // The same process, counting on from where it was (a new one would start again at 1).
    const seen = await counter();
    expect(seen).toBeGreaterThan(5);
    await countingPast(seen);
    // It lives here again: the cached copy would only go stale.
    await expect(stat(cached())).rejects.toThrow(/ENOENT/);
  }

  it("resumes from its own copy twice without downloading; a changed copy is downloaded instead; destroy removes both copies", async () => {
    await agent.client.createSandbox({ sandboxId: ID, template: "base", envdAccessToken: TOKEN });
    await run(`echo kept in the cache > /home/user/note.txt; ${COUNTER_PROCESS}`);
    await countingPast(5);

    await pauseAndHibernate();
    await resume();
    await pauseAndHibernate();
    await resume();
    expect(dataGets()).toBe(0);
    // The store was asked which artifact is current (its manifest) at each resume.
    expect(
      relay.requests.filter((r) => r.startsWith("GET ") && r.includes(`/${ID}/manifest.json`))
        .length,
    ).toBeGreaterThanOrEqual(2);

    // One byte of the copy changed, its size the same: not the artifact the manifest names.
    await pauseAndHibernate();
    const bytes = await readFile(cached());
    const at = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    await writeFile(cached(), bytes);
    await resume();
    expect(dataGets()).toBe(1);

    // Destroyed while hibernated: gone from the cache and from the store.
    await pauseAndHibernate();
    await agent.client.destroySandbox({ sandboxId: ID });
    await expect(stat(cached())).rejects.toThrow(/ENOENT/);
    const store = s3.store(relay.port, { prefix: "" });
    expect(await store.head({ kind: "hibernation", id: ID })).toBeUndefined();
    await expect(agent.client.restoreHibernatedSandbox({ sandboxId: ID })).rejects.toThrow(
      /not in/,
    );
  }, 600_000);
});
