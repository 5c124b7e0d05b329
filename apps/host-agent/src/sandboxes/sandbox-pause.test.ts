import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DENY_ALL } from "../network/policy.js";
import {
  CheckpointError,
  type ResumeFrom,
  type RuntimeCapabilities,
  type RuntimeDriver,
  type RuntimeStatus,
  type SuspendOutcome,
  type SuspendRequest,
} from "../runtime/driver.js";
import type { TemplateStore } from "../templates/store.js";
import { Instance } from "./instance.js";
import { ManagerCore } from "./manager-core.js";
import type { SandboxNetworks } from "./network-port.js";
import { RecordStore } from "./record-store.js";
import { pauseSandbox, resumeSandbox } from "./sandbox-pause.js";
import type { TemplateSnapshots } from "./template-snapshots.js";

// The manager's pause and resume against a runtime driver double: what the manager records for
// each outcome the RuntimeDriver interface allows, with no runtime, envd or network. The double
// follows the interface's contract (a failed save is a CheckpointError and the sandbox is gone;
// a checkpoint is a directory of files) and never calls the guest it is lent.

class ScriptedRuntime implements Partial<RuntimeDriver> {
  readonly kind = "scripted";
  readonly identity = "scripted 1";
  capabilities: RuntimeCapabilities = {
    checkpoint: true,
    freeze: true,
    network: "veth",
    storage: "overlay-dir",
  };
  readonly statuses = new Map<string, RuntimeStatus>();
  readonly suspends: SuspendRequest[] = [];
  readonly resumes: ResumeFrom[] = [];
  /** What the next checkpoint does: save, find these blockers, or fail the save. */
  nextCheckpoint: "save" | string[] | Error = "save";

  async suspend(runtimeId: string, req: SuspendRequest): Promise<SuspendOutcome> {
    this.suspends.push(req);
    if (req.mode === "freeze") {
      this.statuses.set(runtimeId, "paused");
      return { mode: "freeze", blockers: [] };
    }
    const next = this.nextCheckpoint;
    if (next instanceof Error) {
      this.statuses.set(runtimeId, "absent");
      throw new CheckpointError(next.message);
    }
    if (Array.isArray(next)) {
      this.statuses.set(runtimeId, "paused");
      return { mode: "freeze", blockers: next };
    }
    await mkdir(req.imageDir, { recursive: true });
    await writeFile(path.join(req.imageDir, "pages.img"), "x".repeat(4096));
    this.statuses.set(runtimeId, "absent");
    return { mode: "checkpoint" };
  }

  async resume(runtimeId: string, from: ResumeFrom): Promise<void> {
    this.resumes.push(from);
    if (this.statuses.get(runtimeId) !== "paused") throw new Error(`${runtimeId} is not frozen`);
    this.statuses.set(runtimeId, "running");
  }
}

const networks: SandboxNetworks = {
  attachment: "veth",
  setup: async () => ({ netnsPath: "/nonexistent", guestIp: "127.0.0.1" }),
  applyPolicy: async () => {},
  restoreAddress: async () => {},
  teardown: async () => {},
  reconcile: async () => {},
  closingConnections: async () => [],
  egressCa: async () => undefined,
  wrapForNetns: (_netns, argv) => [argv[0] as string, argv.slice(1)],
};

const config = {
  defaults: { vcpus: 1, memoryMb: 512, diskMb: 1024 },
  poolSize: 0,
  templateRestore: false,
  pidsLimit: 1024,
  healthTimeoutMs: 1000,
  sandboxDns: [],
  mountRoots: [],
};

describe("pause and resume against the runtime driver interface", () => {
  let dir: string;
  let runtime: ScriptedRuntime;
  let core: ManagerCore;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "wrenn-pause-unit-"));
    runtime = new ScriptedRuntime();
    core = makeCore(runtime);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function makeCore(driver: ScriptedRuntime): ManagerCore {
    return new ManagerCore(
      config,
      new RecordStore(dir),
      driver as unknown as RuntimeDriver,
      networks,
      // Neither is reached by pause or resume.
      {} as TemplateStore,
      {} as TemplateSnapshots,
      pino({ level: "silent" }),
      { created: () => {}, paused: () => {}, resumed: () => {} },
    );
  }

  /** A running sandbox as a create leaves it: record saved, network leased. */
  async function running(sandboxId = "sb-0000abcd"): Promise<Instance> {
    const runtimeId = await core.records.newRuntimeId();
    const now = new Date().toISOString();
    const inst = new Instance(
      {
        runtimeId,
        sandboxId,
        phase: "running",
        template: { name: "base", version: "1", rootfs: "/nonexistent/rootfs" },
        resources: config.defaults,
        network: DENY_ALL,
        metadata: {},
        envdVersion: "0.0.0",
        bootPath: "cold_boot",
        createdAt: now,
        stateChangedAt: now,
        error: "an old error",
      },
      core.records.dirOf(runtimeId),
    );
    core.instances.set(runtimeId, inst);
    core.bySandbox.set(sandboxId, runtimeId);
    inst.lease = await networks.setup(runtimeId, DENY_ALL);
    runtime.statuses.set(runtimeId, "running");
    await core.records.save(inst.record);
    return inst;
  }

  it("a checkpoint that saves leaves the sandbox paused, with its size and no transition", async () => {
    const inst = await running();
    const view = await pauseSandbox(core, "sb-0000abcd", "checkpoint");
    expect(runtime.suspends).toEqual([
      { mode: "checkpoint", imageDir: inst.checkpointDir, ifUnsafe: "freeze" },
    ]);
    expect(view.phase).toBe("paused");
    expect(view.pauseMode).toBe("checkpoint");
    expect(view.checkpointBytes).toBe(4096);
    const [onDisk] = await core.records.loadAll();
    expect(onDisk).toMatchObject({ phase: "paused", checkpointBytes: 4096 });
    expect(onDisk?.transition).toBeUndefined();
  });

  it("a checkpoint the driver froze instead leaves it frozen, clears its error, and resumes", async () => {
    await running();
    runtime.nextCheckpoint = ["LISTEN port 8000"];
    const view = await pauseSandbox(core, "sb-0000abcd", "checkpoint");
    expect(view.phase).toBe("frozen");
    expect(view.pauseMode).toBe("freeze");
    expect(view.error).toBeUndefined();
    const resumed = await resumeSandbox(core, "sb-0000abcd");
    expect(runtime.resumes).toEqual([{ mode: "freeze" }]);
    expect(resumed.phase).toBe("running");
  });

  it("a failed save puts the sandbox in error with the reason, and says so", async () => {
    await running();
    runtime.nextCheckpoint = new Error("runsc checkpoint: boom");
    await expect(pauseSandbox(core, "sb-0000abcd", "checkpoint")).rejects.toThrow(
      "checkpoint failed: runsc checkpoint: boom",
    );
    const [onDisk] = await core.records.loadAll();
    expect(onDisk).toMatchObject({ phase: "error", errorReason: "failed" });
    expect(onDisk?.transition).toBeUndefined();
  });

  it("a runtime that cannot checkpoint is asked to freeze", async () => {
    runtime.capabilities = { ...runtime.capabilities, checkpoint: false };
    await running();
    const view = await pauseSandbox(core, "sb-0000abcd", "checkpoint");
    expect(runtime.suspends).toEqual([{ mode: "freeze" }]);
    expect(view.phase).toBe("frozen");
  });

  it("refuses a driver that needs a network link or storage the agent does not build", () => {
    const tap = new ScriptedRuntime();
    tap.capabilities = { ...tap.capabilities, network: "tap" };
    expect(() => makeCore(tap)).toThrow(/needs a tap link/);
    const block = new ScriptedRuntime();
    block.capabilities = { ...block.capabilities, storage: "block-image" };
    expect(() => makeCore(block)).toThrow(/block-image storage/);
  });
});
