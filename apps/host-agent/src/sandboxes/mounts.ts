import { realpath, stat } from "node:fs/promises";
import { checkMounts } from "@wrenn/contract";
import { AgentError } from "./errors.js";

/** A host directory visible inside a sandbox (see hostagent.proto Mount). */
export interface SandboxMount {
  hostPath: string;
  sandboxPath: string;
  readOnly: boolean;
}

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
      "mount_not_allowed",
    );
  }
  const out: SandboxMount[] = [];
  // The shape (absolute paths, nothing over the sandbox's machinery, no two at one place) is
  // the contract's rule, checked by the control plane too; the roots are this host's.
  for (const m of checkMounts(requested)) {
    const target = m.sandboxPath;
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
        "mount_not_allowed",
      );
    }
    if (!(await stat(real)).isDirectory()) {
      throw new AgentError("invalid_argument", `mount host path is not a directory: ${m.hostPath}`);
    }
    out.push({ hostPath: real, sandboxPath: target, readOnly: m.readOnly });
  }
  return out;
}
