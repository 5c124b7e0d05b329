import { BACKGROUND_CPU_SHARES } from "../cgroup.js";
import type { RuntimeSpec } from "../driver.js";
import { ENVD_RUNTIME_GUEST_DIR } from "./envd-runtime.js";

// Docker's default set plus SYS_PTRACE and NET_ADMIN: inside gVisor these act on the sentry's
// emulated kernel, not the host, and users expect strace/gdb and `ip` to work under sudo.
export const CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
  "CAP_SYS_PTRACE",
  "CAP_NET_ADMIN",
];

export const ENVD_ARGS = ["/usr/bin/tini", "--", "/usr/bin/node", "/opt/wrenn/envd.mjs"];

/** The cgroup (v1 path under each controller, v2 path under the unified root) of a sandbox. */
export function cgroupPath(runtimeId: string): string {
  return `/wrenn/${runtimeId}`;
}

/** OCI runtime spec for one sandbox: envd as the only process, under tini as PID 1. */
export function ociSpec(spec: RuntimeSpec, memoryOverheadMb: number): object {
  return {
    ociVersion: "1.0.0",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: spec.envdRuntime?.args ?? ENVD_ARGS,
      env: spec.envdRuntime?.env ?? [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME=/root",
        "WRENN_SANDBOX=1",
      ],
      cwd: "/",
      capabilities: {
        bounding: CAPABILITIES,
        effective: CAPABILITIES,
        permitted: CAPABILITIES,
        inheritable: CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1048576, soft: 1048576 }],
      // sudo is setuid: the sandbox's user must be able to gain privileges inside it.
      noNewPrivileges: false,
    },
    root: { path: spec.rootfs, readonly: false },
    hostname: "sandbox",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/dev", type: "tmpfs", source: "tmpfs" },
      { destination: "/dev/pts", type: "devpts", source: "devpts" },
      { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "nodev"] },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", "ro"],
      },
      // Without a /tmp of its own, runsc mounts a tmpfs there that lives in the sandbox's
      // memory with no bound but that memory: filling it killed the whole sandbox. The root
      // filesystem's own /tmp lives on the sandbox's disk, so it is bounded by disk_mb (ENOSPC).
      ...(spec.tmpOnDisk
        ? [
            {
              destination: "/tmp",
              type: "bind",
              source: `${spec.rootfs}/tmp`,
              options: ["rbind", "rw", "nosuid", "nodev"],
            },
          ]
        : []),
      // envd's runtime: read-only, so nothing in the sandbox (root included) can change it.
      ...(spec.envdRuntime
        ? [
            {
              destination: ENVD_RUNTIME_GUEST_DIR,
              type: "bind",
              source: spec.envdRuntime.hostDir,
              options: ["rbind", "ro", "nodev"],
            },
          ]
        : []),
      ...spec.mounts.map((m) => ({
        destination: m.sandboxPath,
        type: "bind",
        source: m.hostPath,
        options: ["rbind", "nosuid", "nodev", m.readOnly ? "ro" : "rw"],
      })),
    ],
    linux: {
      namespaces: [
        { type: "pid" },
        { type: "ipc" },
        { type: "uts" },
        { type: "mount" },
        { type: "network", path: spec.netnsPath },
      ],
      ...cgroupLimits(spec.runtimeId, {
        vcpus: spec.vcpus,
        memoryMb: spec.memoryMb,
        memoryOverheadMb,
        pids: spec.pidsLimit,
        background: spec.background === true,
      }),
    },
  };
}

/** The OCI `linux` fields that put a runsc container in its own limited cgroup. */
export function cgroupLimits(
  runtimeId: string,
  l: {
    vcpus: number;
    memoryMb: number;
    memoryOverheadMb: number;
    pids: number;
    background?: boolean;
  },
) {
  return {
    cgroupsPath: cgroupPath(runtimeId),
    resources: {
      // The sentry and gofer live in the same cgroup as the guest, so the limit carries
      // their overhead on top of what the user asked for.
      memory: { limit: (l.memoryMb + l.memoryOverheadMb) * 1024 * 1024 },
      cpu: {
        quota: Math.round(l.vcpus * 100_000),
        period: 100_000,
        // runsc writes it as cpu.shares (v1) or the matching cpu.weight (v2).
        ...(l.background ? { shares: BACKGROUND_CPU_SHARES } : {}),
      },
      pids: { limit: l.pids },
    },
  };
}

/**
 * Where a disk reader finds the host's busybox (see diskReaderSpec). Named `busybox`: it picks
 * its applet from its own name, then from its first argument.
 */
export const DISK_READER_GUEST_PATH = "/dev/.wrenn-reader/busybox";

/**
 * A sandbox's own spec turned into a one-shot reader of its disk (a failed sandbox's files):
 * the same root, read-only; no network (a fresh empty namespace, runsc --network=none); none
 * of the host directories it had bound (they are the host's, not its disk) and no envd; argv
 * runs as root inside gVisor, so every path and link resolves inside the sandbox's root and
 * never on the host. Its cgroup is its own (`readerId`), with `memoryMb` for the reader.
 */
export function diskReaderSpec(
  sandbox: RuntimeSpec,
  reader: {
    readerId: string;
    argv: string[];
    /** The host's static busybox, bound read-only at DISK_READER_GUEST_PATH. */
    busybox: string;
    memoryMb: number;
    memoryOverheadMb: number;
  },
): object {
  const base = ociSpec(
    {
      ...sandbox,
      runtimeId: reader.readerId,
      memoryMb: reader.memoryMb,
      vcpus: 1,
      mounts: [],
      envdRuntime: undefined,
      // runsc mounts a tmpfs at /tmp only over an empty one: a disk's own /tmp stays visible.
      tmpOnDisk: false,
    },
    reader.memoryOverheadMb,
  ) as {
    process: Record<string, unknown>;
    root: Record<string, unknown>;
    mounts: object[];
    linux: { namespaces: Array<{ type: string; path?: string }> };
  };
  return {
    ...base,
    // Under /dev, the reader's own tmpfs (listed before it): the mount point is made there, never
    // in the sandbox's read-only root, and nothing of the tenant's can sit at that path.
    mounts: [
      ...base.mounts,
      {
        destination: DISK_READER_GUEST_PATH,
        type: "bind",
        source: reader.busybox,
        options: ["bind", "ro", "nosuid", "nodev"],
      },
    ],
    process: {
      ...base.process,
      args: reader.argv,
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"],
      noNewPrivileges: true,
    },
    root: { ...base.root, readonly: true },
    linux: {
      ...base.linux,
      namespaces: base.linux.namespaces.map((ns) =>
        ns.type === "network" ? { type: "network" } : ns,
      ),
    },
  };
}
