/** What a `wrenn run` gets: the sandbox's size, its network and how DIR is mounted. */
export interface RunProfile {
  name: string;
  description: string;
  /** none: no route out at all; egress: outbound traffic allowed (allowInternetAccess). */
  network: "none" | "egress";
  /** How DIR appears at /workspace. */
  mount: "read-only" | "read-write";
  vcpus: number;
  memoryMb: number;
  /** The command is stopped (and the sandbox removed) after this long. */
  timeoutSeconds: number;
  template: string;
  /** "built-in" or the file it was read from. */
  source: string;
}

export const BUILTIN_PROFILES: Record<string, RunProfile> = {
  strict: {
    name: "strict",
    description: "untrusted code: no network, DIR read-only, 1 vCPU, 512 MiB, 5 minutes",
    network: "none",
    mount: "read-only",
    vcpus: 1,
    memoryMb: 512,
    timeoutSeconds: 300,
    template: "base",
    source: "built-in",
  },
  // The everyday choice: builds and tests may write their outputs into DIR, but nothing gets
  // out to (or in from) the network unless asked for with `dev`.
  default: {
    name: "default",
    description: "builds and tests: no network, DIR read-write, 1 vCPU, 1 GiB, 30 minutes",
    network: "none",
    mount: "read-write",
    vcpus: 1,
    memoryMb: 1024,
    timeoutSeconds: 1800,
    template: "base",
    source: "built-in",
  },
  dev: {
    name: "dev",
    description: "development: network allowed, DIR read-write, 2 vCPUs, 2 GiB, 60 minutes",
    network: "egress",
    mount: "read-write",
    vcpus: 2,
    memoryMb: 2048,
    timeoutSeconds: 3600,
    template: "base",
    source: "built-in",
  },
};
