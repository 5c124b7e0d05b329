// Two real agents sharing one S3 protocol server (s3rver on loopback, behind a relay that
// records requests and can cut transfers) as their artifact store: a snapshot taken on A is
// stored there, and B makes a sandbox of it (files and a running process intact), downloading
// it once. A store that cuts the upload loses nothing: the snapshot answers on A, and its
// upload is retried until B can use it (A reports whether it is stored, in its answer and when
// asked). A host lacking a CPU feature the checkpoint recorded refuses it; deleting the
// snapshot removes it from the store.
import { readdir } from "node:fs/promises";
import path from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { BootPath, SandboxState } from "@wrenn/proto/hostagent";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultRelay, TestS3 } from "../../apps/host-agent/src/artifacts/store-test-kit.js";
import { AgentProcess } from "../harness/agent-process.js";
import {
  COUNTER_PROCESS,
  counterOf,
  countingPast as countingPastOf,
} from "../harness/counter-process.js";
import { execInSandbox } from "../harness/sandbox-exec.js";
import { waitFor } from "../harness/wait.js";

const SOURCE = "sb-00000d01";
const SOURCE_TOKEN = "tok-store-source";
const SNAP = "snap-0000d001";
const CUT = "snap-0000d002";
const ALIEN = "snap-0000d003";

describe("host agents: snapshots on the shared artifact store", () => {
  let s3: TestS3;
  let relay: FaultRelay;
  let a: AgentProcess;
  let b: AgentProcess;

  beforeAll(async () => {
    s3 = await TestS3.start();
    relay = await FaultRelay.start(s3.port);
    const env = { ...s3.env(relay.port), WRENN_STORE_RETRY_S: "2" };
    a = await AgentProcess.start({ poolSize: 0, env });
    b = await AgentProcess.start({ poolSize: 0, env });
  }, 300_000);
  afterAll(async () => {
    await a?.dispose();
    await b?.dispose();
    await relay?.close();
    await s3?.close();
  }, 300_000);

  const store = () => s3.store(relay.port, { prefix: "" });
  const dataGets = (id: string) =>
    relay.requests.filter((r) => r.startsWith("GET ") && r.includes(`/snapshot/${id}/data.tar`))
      .length;
  const counter = (agent: AgentProcess, id: string, token: string) =>
    counterOf(agent.url, id, token);
  const countingPast = (agent: AgentProcess, id: string, token: string, after: number) =>
    countingPastOf(agent.url, id, token, after);

  async function copyOnB(sandboxId: string, snapshotId: string, token: string) {
    const { sandbox } = await b.client.createSandbox({
      sandboxId,
      template: "base",
      fromSnapshot: snapshotId,
      envdAccessToken: token,
    });
    expect(sandbox).toMatchObject({
      state: SandboxState.RUNNING,
      bootPath: BootPath.SNAPSHOT_RESTORE,
    });
    const files = await execInSandbox(b.url, sandboxId, "cat /home/user/note.txt", { token });
    expect(files).toMatchObject({ stdout: "taken on A\n", exitCode: 0 });
    const seen = await counter(b, sandboxId, token);
    expect(seen).toBeGreaterThan(5);
    await countingPast(b, sandboxId, token, seen);
  }

  it("a snapshot taken on A makes sandboxes on B, downloaded once; deleted, it leaves the store", async () => {
    await a.client.createSandbox({
      sandboxId: SOURCE,
      template: "base",
      envdAccessToken: SOURCE_TOKEN,
    });
    await execInSandbox(
      a.url,
      SOURCE,
      `echo taken on A > /home/user/note.txt; ${COUNTER_PROCESS}`,
      {
        token: SOURCE_TOKEN,
      },
    );
    await countingPast(a, SOURCE, SOURCE_TOKEN, 5);
    const taken = await a.client.snapshotSandbox({ sandboxId: SOURCE, snapshotId: SNAP });
    // Stored (in the answer, or once a retry under load is done): A says so when asked, and
    // the control plane may then place its sandboxes anywhere.
    if (!taken.snapshot?.stored) {
      await waitFor(
        async () => (await a.client.getSnapshot({ snapshotId: SNAP })).snapshot?.stored === true,
        120_000,
        "A reporting the upload done",
      );
    }
    expect(await store().head({ kind: "snapshot", id: SNAP })).toMatchObject({
      kind: "snapshot",
      id: SNAP,
    });

    await copyOnB("sb-00000d11", SNAP, "tok-copy-1");
    // A second one reads B's own copy now.
    await copyOnB("sb-00000d12", SNAP, "tok-copy-2");
    expect(dataGets(SNAP)).toBe(1);

    await a.client.deleteSnapshot({ snapshotId: SNAP });
    expect(await store().head({ kind: "snapshot", id: SNAP })).toBeUndefined();
  }, 600_000);

  it("an upload the store cut leaves the snapshot on A and is retried until B can use it", async () => {
    relay.mode = { kind: "cut-after", bytes: 1024 * 1024 };
    try {
      const { snapshot } = await a.client.snapshotSandbox({ sandboxId: SOURCE, snapshotId: CUT });
      expect(snapshot?.snapshotId).toBe(CUT);
      expect(snapshot?.stored).toBe(false);
      expect((await a.client.getSnapshot({ snapshotId: CUT })).snapshot?.stored).toBe(false);
      expect(await store().head({ kind: "snapshot", id: CUT })).toBeUndefined();
      await expect(
        b.client.createSandbox({ sandboxId: "sb-00000d21", template: "base", fromSnapshot: CUT }),
      ).rejects.toThrow(/neither on this host nor in/);
    } finally {
      relay.mode = { kind: "pass" };
    }
    await waitFor(
      async () => (await store().head({ kind: "snapshot", id: CUT })) !== undefined,
      120_000,
      "the retried upload in the store",
    );
    // A is asked again (as the control plane does before placing or deleting a host): stored.
    await waitFor(
      async () => (await a.client.getSnapshot({ snapshotId: CUT })).snapshot?.stored === true,
      60_000,
      "A reporting the upload done",
    );
    await expect(b.client.getSnapshot({ snapshotId: CUT })).rejects.toThrow(/not on this host/);
    await copyOnB("sb-00000d22", CUT, "tok-copy-3");
  }, 600_000);

  it("a host without a CPU feature the snapshot recorded refuses it, keeping nothing", async () => {
    await a.client.snapshotSandbox({ sandboxId: SOURCE, snapshotId: ALIEN });
    // Its manifest rewritten as if A's CPU had one flag more (the bytes stay A's own).
    const client = new S3Client({
      endpoint: `http://127.0.0.1:${s3.port}`,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    try {
      const Key = `snapshot/${ALIEN}/manifest.json`;
      const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key }));
      const manifest = JSON.parse(await got.Body!.transformToString());
      manifest.meta.cpuFeatures.push("wrenn_test_flag");
      await client.send(
        new PutObjectCommand({ Bucket: s3.bucket, Key, Body: JSON.stringify(manifest) }),
      );
    } finally {
      client.destroy();
    }
    await expect(
      b.client.createSandbox({ sandboxId: "sb-00000d31", template: "base", fromSnapshot: ALIEN }),
    ).rejects.toThrow(/CPU with features this host lacks \(wrenn_test_flag\)/);
    await expect(b.client.getSandbox({ sandboxId: "sb-00000d31" })).rejects.toThrow(/not found/);
    // Nothing of it kept on B.
    expect(await readdir(path.join(b.dataDir, "snapshots"))).not.toContain(ALIEN);
  }, 300_000);
});
