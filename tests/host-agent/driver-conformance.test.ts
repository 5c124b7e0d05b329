import { randomBytes } from "node:crypto";
import { access, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ENVD_PORT } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EnvdClient } from "../../apps/host-agent/src/envd/envd-client.js";
import { NetworkManager } from "../../apps/host-agent/src/network/network-manager.js";
import { DENY_ALL } from "../../apps/host-agent/src/network/policy.js";
import { withNetnsFix } from "../../apps/host-agent/src/network/runsc-netns-fix.js";
import { ManagedNetworks } from "../../apps/host-agent/src/network/sandbox-networks.js";
import type {
  GuestControl,
  RuntimeDriver,
  RuntimeSpec,
} from "../../apps/host-agent/src/runtime/driver.js";
import { GvisorDriver } from "../../apps/host-agent/src/runtime/gvisor/driver.js";
import { SandboxDisk } from "../../apps/host-agent/src/storage/sandbox-disk.js";
import { TemplateStore } from "../../apps/host-agent/src/templates/store.js";
import { CPU_WEIGHT, cpuWeightOfSandbox } from "../harness/cpu-weight.js";
import { templatesDir } from "../harness/paths.js";
import { execAt } from "../harness/sandbox-exec.js";
import { leaseSlot, slotPool } from "../harness/slot-lease.js";

/**
 * One set of cases every runtime driver must pass, run against the driver alone through the
 * RuntimeDriver interface (no agent, no manager): boot, exec through envd, suspend and resume
 * in memory and to disk, an unsafe checkpoint refused or turned into a freeze, stop, what is
 * left after stop, and unknown ids. The suite only lends the driver the guest (GuestControl),
 * as the manager does; whatever the runtime needs around a save is the driver's own recipe.
 * A new driver (a microVM) adds an entry to DRIVERS; a case it cannot pass is skipped with a
 * written reason, never silently.
 *
 * The network and the disk are the agent's (NetworkManager, SandboxDisk), as in production:
 * the interface takes a network namespace and a root directory, so those stay outside it.
 */

interface DriverUnderTest {
  readonly name: string;
  /** A ready driver whose state lives under dataDir. */
  make(dataDir: string): Promise<RuntimeDriver>;
  /** Case name → why this driver skips it. */
  readonly skips: Record<string, string>;
}

const DRIVERS: DriverUnderTest[] = [
  {
    name: "gvisor",
    async make(dataDir) {
      const driver = new GvisorDriver({
        stateDir: path.join(dataDir, "runsc"),
        bundlesDir: path.join(dataDir, "bundles"),
        memoryOverheadMb: 128,
        wrapForNetns: (netnsPath, argv) => {
          const [cmd, ...args] = withNetnsFix(netnsPath, argv);
          return [cmd as string, args];
        },
        runsc: process.env.WRENN_RUNSC || undefined,
      });
      await driver.init();
      return driver;
    },
    skips: {},
  },
];

const BOOT_TIMEOUT_MS = 180_000;

describe.each(DRIVERS)("runtime driver conformance: $name", (d) => {
  const slot = leaseSlot();
  const tag = slot.slot.toString(16).padStart(2, "0");
  let dataDir: string;
  let driver: RuntimeDriver;
  let net: NetworkManager;
  let rootfs: string;
  const started = new Set<string>();

  const caseIt = (name: string, fn: () => Promise<void>) =>
    d.skips[name] ? it.skip(`${name} (skipped: ${d.skips[name]})`, fn) : it(name, fn);

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "wrenn-driver-test-"));
    // The same names a test agent of this slot uses (agent-process.ts), so leak checks and
    // clean-ups of test slots cover this suite too.
    net = new NetworkManager({
      pool: slotPool(slot.slot),
      namePrefix: `wt${tag}-`,
      table: `wrenn_test_${tag}`,
      stateDir: path.join(dataDir, "network"),
    });
    const base = await new TemplateStore(templatesDir).current("base");
    if (!base) throw new Error(`no base template in ${templatesDir} (global setup builds it)`);
    rootfs = base.rootfs;
    driver = await d.make(dataDir);
    // What this suite builds for every sandbox, as the agent does (manager-core.ts).
    expect(driver.capabilities).toMatchObject({ network: "veth", storage: "overlay-dir" });
  });

  afterAll(async () => {
    for (const id of started) await driver?.stop(id).catch(() => {});
    await net?.removeAll().catch(() => {});
    if (dataDir) {
      // Disks are loop-mounted ext4 with an overlay on top: unmount before removing.
      for (const id of await readdir(path.join(dataDir, "sandboxes")).catch(() => [])) {
        await new SandboxDisk(path.join(dataDir, "sandboxes", id)).destroy().catch(() => {});
      }
      await rm(dataDir, { recursive: true, force: true });
    }
    slot.release();
  });

  /** A sandbox as the manager makes one: its own disk over the template, its own network. */
  async function boot(
    background = false,
  ): Promise<{ spec: RuntimeSpec; envd: EnvdClient; guestIp: string }> {
    const runtimeId = `wr-${randomBytes(4).toString("hex")}`;
    const dir = path.join(dataDir, "sandboxes", runtimeId);
    await mkdir(dir, { recursive: true });
    const disk = new SandboxDisk(dir, rootfs);
    const [lease] = await Promise.all([net.setup(runtimeId, DENY_ALL), disk.create(1024)]);
    const spec: RuntimeSpec = {
      runtimeId,
      dir,
      rootfs: disk.rootfs,
      netnsPath: lease.netnsPath,
      vcpus: 1,
      memoryMb: 512,
      pidsLimit: 8192,
      tmpOnDisk: true,
      mounts: [],
      ...(background ? { background } : {}),
    };
    started.add(runtimeId);
    await driver.start(spec);
    const envd = new EnvdClient(lease.guestIp);
    await envd.waitHealthy(BOOT_TIMEOUT_MS);
    // As the manager does for every sandbox: commands run as "user" unless a request says so.
    await envd.init({ defaultUser: "user" });
    return { spec, envd, guestIp: lease.guestIp };
  }

  /** The guest as the manager lends it to the driver (ManagerCore.guest). */
  function guestOf(envd: EnvdClient, runtimeId: string): GuestControl {
    return {
      quiesce: () => envd.quiesce(),
      waitReady: () => envd.waitHealthy(BOOT_TIMEOUT_MS),
      closingConnections: () => new ManagedNetworks(net).closingConnections(runtimeId),
    };
  }

  async function destroy(runtimeId: string): Promise<void> {
    await driver.stop(runtimeId);
    started.delete(runtimeId);
    await net.teardown(runtimeId);
    await new SandboxDisk(path.join(dataDir, "sandboxes", runtimeId)).destroy();
  }

  caseIt("boots a sandbox whose envd runs commands, and reports it running", async () => {
    const { spec, envd, guestIp } = await boot();
    try {
      expect(await driver.status(spec.runtimeId)).toBe("running");
      expect(await driver.alive(spec.runtimeId)).toBe(true);
      expect(await driver.list()).toContainEqual({
        runtimeId: spec.runtimeId,
        status: "running",
      });
      const out = await exec(guestIp, "echo $((6 * 7))");
      expect(out.exitCode).toBe(0);
      expect(out.stdout).toBe("42\n");
      const stats = await driver.stats(spec.runtimeId);
      expect(stats.cpuNanos).toBeGreaterThan(0);
      expect(stats.memUsedBytes).toBeGreaterThan(0);
      expect(stats.memLimitBytes).toBeGreaterThanOrEqual(512 * 1024 * 1024);
      envd.close();
    } finally {
      await destroy(spec.runtimeId);
    }
  });

  caseIt(
    "a warm-pool boot has a small CPU share until it is brought to the foreground",
    async () => {
      const { spec, envd } = await boot(true);
      try {
        expect(await cpuWeightOfSandbox(spec.runtimeId)).toBe(CPU_WEIGHT.background);
        await driver.foreground(spec.runtimeId);
        expect(await cpuWeightOfSandbox(spec.runtimeId)).toBe(CPU_WEIGHT.foreground);
        envd.close();
      } finally {
        await destroy(spec.runtimeId);
      }
    },
  );

  caseIt("freezes in memory and thaws with every process as it was", async () => {
    const { spec, envd, guestIp } = await boot();
    try {
      await exec(guestIp, "echo before > /tmp/frozen.txt");
      const guest = guestOf(envd, spec.runtimeId);
      expect(await driver.suspend(spec.runtimeId, { mode: "freeze" }, guest)).toEqual({
        mode: "freeze",
        blockers: [],
      });
      expect(await driver.status(spec.runtimeId)).toBe("paused");
      await driver.resume(spec.runtimeId, { mode: "freeze" });
      expect(await driver.status(spec.runtimeId)).toBe("running");
      await envd.waitHealthy(BOOT_TIMEOUT_MS);
      expect((await exec(guestIp, "cat /tmp/frozen.txt")).stdout).toBe("before\n");
      envd.close();
    } finally {
      await destroy(spec.runtimeId);
    }
  });

  caseIt("checkpoints to disk and restores with the files and the network it had", async () => {
    const { spec, envd, guestIp } = await boot();
    try {
      await exec(guestIp, "echo kept > ~/kept.txt");
      const image = path.join(spec.dir, "checkpoint");
      const outcome = await driver.suspend(
        spec.runtimeId,
        { mode: "checkpoint", imageDir: image, ifUnsafe: "refuse" },
        guestOf(envd, spec.runtimeId),
      );
      envd.close();
      expect(outcome).toEqual({ mode: "checkpoint" });
      // Saved means nothing of it runs any more.
      expect(await driver.alive(spec.runtimeId)).toBe(false);
      expect(await driver.checkpointOutcome(spec.runtimeId, image)).toBe("complete");
      expect(await driver.restoreRefusal(image)).toBeUndefined();

      await net.restoreAddress(spec.runtimeId);
      await driver.resume(spec.runtimeId, { mode: "checkpoint", spec, imageDir: image });
      const again = new EnvdClient(guestIp);
      await again.waitHealthy(BOOT_TIMEOUT_MS);
      expect(await driver.status(spec.runtimeId)).toBe("running");
      expect((await exec(guestIp, "cat ~/kept.txt")).stdout).toBe("kept\n");
      again.close();
    } finally {
      await destroy(spec.runtimeId);
    }
  });

  caseIt("refuses or freezes a checkpoint it cannot take safely, and names why", async () => {
    const { spec, envd, guestIp } = await boot();
    try {
      // A guest that does not close anything when asked: envd's own listener stays open,
      // which no runtime is promised to save.
      const stubborn = { ...guestOf(envd, spec.runtimeId), quiesce: async () => {} };
      const image = path.join(spec.dir, "checkpoint");
      const refused = driver.suspend(
        spec.runtimeId,
        { mode: "checkpoint", imageDir: image, ifUnsafe: "refuse" },
        stubborn,
      );
      await expect(refused).rejects.toThrow(`LISTEN port ${ENVD_PORT}`);
      expect(await driver.status(spec.runtimeId)).toBe("running");
      expect((await exec(guestIp, "echo still")).stdout).toBe("still\n");

      const outcome = await driver.suspend(
        spec.runtimeId,
        { mode: "checkpoint", imageDir: image, ifUnsafe: "freeze" },
        stubborn,
      );
      expect(outcome.mode).toBe("freeze");
      expect(outcome.mode === "freeze" && outcome.blockers.join(" ")).toContain(
        `LISTEN port ${ENVD_PORT}`,
      );
      expect(await driver.status(spec.runtimeId)).toBe("paused");
      await driver.resume(spec.runtimeId, { mode: "freeze" });
      await envd.waitHealthy(BOOT_TIMEOUT_MS);
      expect((await exec(guestIp, "echo again")).stdout).toBe("again\n");
      envd.close();
    } finally {
      await destroy(spec.runtimeId);
    }
  });

  caseIt("stop leaves no process, container or bundle behind, and is idempotent", async () => {
    const { spec, envd } = await boot();
    envd.close();
    await driver.stop(spec.runtimeId);
    started.delete(spec.runtimeId);
    expect(await driver.status(spec.runtimeId)).toBe("absent");
    expect(await driver.alive(spec.runtimeId)).toBe(false);
    expect((await driver.list()).map((c) => c.runtimeId)).not.toContain(spec.runtimeId);
    expect(await processesMentioning(spec.runtimeId)).toEqual([]);
    expect(
      await access(path.join(dataDir, "bundles", spec.runtimeId)).then(
        () => "present",
        () => "gone",
      ),
    ).toBe("gone");
    await driver.stop(spec.runtimeId);
    await net.teardown(spec.runtimeId);
    await new SandboxDisk(spec.dir).destroy();
  });

  caseIt(
    "answers for an unknown id: absent, not alive, stop is a no-op, the rest refuse",
    async () => {
      const unknown = `wr-${randomBytes(4).toString("hex")}`;
      expect(await driver.status(unknown)).toBe("absent");
      expect(await driver.alive(unknown)).toBe(false);
      await driver.stop(unknown);
      const nobody: GuestControl = {
        quiesce: async () => {},
        waitReady: async () => {},
        closingConnections: async () => [],
      };
      await expect(driver.suspend(unknown, { mode: "freeze" }, nobody)).rejects.toThrow();
      await expect(driver.resume(unknown, { mode: "freeze" })).rejects.toThrow();
      await expect(driver.resume(unknown, { mode: "interrupted" })).rejects.toThrow();
      const nowhere = path.join(dataDir, "nowhere");
      await expect(
        driver.suspend(
          unknown,
          { mode: "checkpoint", imageDir: nowhere, ifUnsafe: "refuse" },
          nobody,
        ),
      ).rejects.toThrow();
      expect(await driver.checkpointOutcome(unknown, nowhere)).toBe("incomplete");
    },
  );
});

/** A command through envd's process service, as the control plane runs one. */
function exec(guestIp: string, command: string) {
  return execAt(`http://${guestIp}:${ENVD_PORT}`, command);
}

/** Host processes whose command line names the runtime id (runsc sandbox, gofer, shells). */
async function processesMentioning(runtimeId: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.includes(runtimeId)) found.push(`${pid} ${cmdline.replaceAll("\0", " ")}`);
  }
  return found;
}
