import { randomBytes } from "node:crypto";
import { lstat, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { CommandError, runCommand } from "../command/run-command.js";
import { CAPABILITIES, cgroupLimits } from "../runtime/gvisor/oci-spec.js";
import type { RunscBuild } from "../runtime/gvisor/runsc-build.js";

/** One process a build step runs inside the template's root filesystem. */
export interface StepProcess {
  rootfs: string;
  argv: string[];
  uid: number;
  gid: number;
  env: string[];
  cwd: string;
  /** Host directories bind-mounted read-only into the step (COPY's unpacked files). */
  readOnlyMounts?: Array<{ hostPath: string; sandboxPath: string }>;
  timeoutMs: number;
  onLine: (line: string) => void;
  /** The build was cancelled: the step's runsc is killed (and its sandbox deleted below). */
  signal?: AbortSignal;
}

export class StepExitError extends Error {
  constructor(
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(`exit code ${exitCode ?? "none (killed)"}`);
  }
}

/**
 * Runs a build step's process in a throwaway gVisor sandbox whose root is the template's root
 * filesystem being built, writable: what the process changes is the template. It has no
 * network (its own empty namespace: no route anywhere) and no host path but the root and what
 * is mounted read-only, so a hostile Dockerfile is as contained as any sandbox. Never Docker,
 * never a chroot on the host.
 */
export class StepSandbox {
  constructor(
    private readonly options: {
      runsc: string;
      /** runsc's --root for build steps (not the sandboxes' one: nothing else lists these). */
      stateDir: string;
      bundlesDir: string;
      build: () => RunscBuild;
      /**
       * What one step may use, as a sandbox's limits are enforced (its cgroup holds the sentry
       * and gofer too): a hostile RUN must not take the host's memory, CPUs or tasks.
       */
      limits: StepLimits;
    },
  ) {}

  async run(p: StepProcess): Promise<void> {
    const id = `wrenn-step-${randomBytes(6).toString("hex")}`;
    const bundle = path.join(this.options.bundlesDir, id);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    await mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    const build = this.options.build();
    const flags = [
      `--root=${this.options.stateDir}`,
      `--platform=${build.platform}`,
      "--network=none",
      "--overlay2=none",
      ...(build.directfs ? ["--directfs=true"] : []),
    ];
    try {
      // A step before may have made /tmp a link (to "/", say): the bind below would then
      // follow it on the host. Only a real directory is bound.
      const tmp = await lstat(path.join(p.rootfs, "tmp")).catch(() => undefined);
      const spec = stepSpec(p, tmp?.isDirectory() === true && !tmp.isSymbolicLink(), {
        id,
        ...this.options.limits,
      });
      await writeFile(path.join(bundle, "config.json"), JSON.stringify(spec));
      await runCommand(this.options.runsc, [...flags, "run", "--bundle", bundle, id], {
        timeoutMs: p.timeoutMs,
        onLine: p.onLine,
        ...(p.signal ? { signal: p.signal } : {}),
      });
    } catch (err) {
      if (err instanceof CommandError) throw new StepExitError(err.exitCode, err.output);
      throw err;
    } finally {
      await runCommand(this.options.runsc, [...flags, "delete", "--force", id]).catch(() => {});
      await rm(bundle, { recursive: true, force: true });
    }
  }
}

export interface StepLimits {
  vcpus: number;
  /** Memory for the step's processes; the sentry's own overhead is added on top. */
  memoryMb: number;
  memoryOverheadMb: number;
  pids: number;
}

function stepSpec(p: StepProcess, bindTmp: boolean, limits: StepLimits & { id: string }): object {
  return {
    ociVersion: "1.0.0",
    process: {
      terminal: false,
      user: { uid: p.uid, gid: p.gid },
      args: p.argv,
      env: p.env,
      cwd: p.cwd,
      capabilities: {
        bounding: CAPABILITIES,
        effective: p.uid === 0 ? CAPABILITIES : [],
        permitted: p.uid === 0 ? CAPABILITIES : [],
        inheritable: [],
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 }],
      noNewPrivileges: false,
    },
    root: { path: p.rootfs, readonly: false },
    hostname: "sandbox",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs" },
      { destination: "/dev/pts", type: "devpts", source: "devpts" },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "nodev"] },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["ro", "nosuid", "nodev"] },
      // The root's own /tmp (runsc would put a tmpfs there): what a step leaves in it stays,
      // as in a Docker layer.
      ...(bindTmp
        ? [
            {
              destination: "/tmp",
              type: "bind",
              source: path.join(p.rootfs, "tmp"),
              options: ["rbind", "rw", "nosuid", "nodev"],
            },
          ]
        : []),
      ...(p.readOnlyMounts ?? []).map((m) => ({
        destination: m.sandboxPath,
        type: "bind",
        source: m.hostPath,
        options: ["rbind", "ro", "nosuid", "nodev"],
      })),
    ],
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "network" },
      ],
      ...cgroupLimits(limits.id, limits),
    },
  };
}
