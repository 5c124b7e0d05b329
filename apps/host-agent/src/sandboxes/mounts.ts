import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { AgentError } from "./errors.js";

/** A host directory visible inside a sandbox (see hostagent.proto Mount). */
export interface SandboxMount {
  hostPath: string;
  sandboxPath: string;
  readOnly: boolean;
}

const MAX_MOUNTS = 16;
// Where the sandbox's own machinery lives: a mount there would hide or replace it.
const RESERVED = [
  "/proc",
  "/dev",
  "/sys",
  "/opt/wrenn",
  "/etc",
  "/usr",
  "/bin",
  "/sbin",
  "/lib",
  "/lib64",
];

/**
 * Checks mount requests against the agent's roots. The agent runs as root, so a host path is
 * hostile input: it is resolved (symlinks followed, `..` gone) and must then lie inside one
 * of the configured roots and be a directory. Inside the sandbox, gVisor's gofer keeps the
 * sandbox within the mounted tree (a symlink there resolves in the sandbox's own view).
 */
export async function resolveMounts(
  requested: SandboxMount[],
  roots: string[],
): Promise<SandboxMount[]> {
  if (requested.length === 0) return [];
  if (roots.length === 0) {
    throw new AgentError(
      "permission_denied",
      "this host agent mounts no host directories (set WRENN_MOUNT_ROOTS to allow some)",
    );
  }
  if (requested.length > MAX_MOUNTS) {
    throw new AgentError("invalid_argument", `at most ${MAX_MOUNTS} mounts`);
  }
  const seen = new Set<string>();
  const out: SandboxMount[] = [];
  for (const m of requested) {
    if (!path.isAbsolute(m.hostPath) || m.hostPath.includes("\0")) {
      throw new AgentError(
        "invalid_argument",
        `mount host path must be absolute: ${JSON.stringify(m.hostPath)}`,
      );
    }
    const target = path.posix.normalize(m.sandboxPath);
    if (
      !path.posix.isAbsolute(target) ||
      target === "/" ||
      target.includes("\0") ||
      target.length > 256
    ) {
      throw new AgentError(
        "invalid_argument",
        `mount path inside the sandbox must be absolute and not /: ${JSON.stringify(m.sandboxPath)}`,
      );
    }
    if (RESERVED.some((r) => target === r || target.startsWith(`${r}/`))) {
      throw new AgentError("invalid_argument", `cannot mount over ${target} inside the sandbox`);
    }
    if (seen.has(target)) throw new AgentError("invalid_argument", `two mounts at ${target}`);
    seen.add(target);
    let real: string;
    try {
      real = await realpath(m.hostPath);
    } catch {
      throw new AgentError("invalid_argument", `mount host path does not exist: ${m.hostPath}`);
    }
    if (!roots.some((root) => real === root || real.startsWith(`${root}/`))) {
      throw new AgentError(
        "permission_denied",
        `${m.hostPath} is outside the directories this host agent may mount (WRENN_MOUNT_ROOTS)`,
      );
    }
    if (!(await stat(real)).isDirectory()) {
      throw new AgentError("invalid_argument", `mount host path is not a directory: ${m.hostPath}`);
    }
    out.push({ hostPath: real, sandboxPath: target, readOnly: m.readOnly });
  }
  return out;
}
