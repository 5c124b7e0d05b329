import { invalidInput } from "../errors/error-codes.js";
import { LIMITS } from "../limits.js";

/** A host directory bound into a sandbox, in the host agent's terms. */
export interface MountRequest {
  hostPath: string;
  sandboxPath: string;
  readOnly: boolean;
}

/** Where the sandbox's own machinery lives: a mount there would hide or replace it. */
export const RESERVED_MOUNT_PATHS = [
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
] as const;

function normalizePosix(p: string): string {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

/**
 * The shape of mount requests: absolute paths, not over the sandbox's machinery, no two at one
 * place. Which host directories may be mounted is the host agent's decision (its roots), made
 * after this. Returns the mounts with the sandbox path normalized.
 */
export function checkMounts(mounts: unknown): MountRequest[] {
  if (mounts === undefined) return [];
  if (!Array.isArray(mounts) || mounts.length > LIMITS.mounts) {
    throw invalidInput(`mounts: at most ${LIMITS.mounts}`);
  }
  const seen = new Set<string>();
  return mounts.map((m: Partial<MountRequest> | null, i) => {
    const { hostPath, sandboxPath } = m ?? {};
    if (
      typeof hostPath !== "string" ||
      !hostPath.startsWith("/") ||
      hostPath.length > LIMITS.mountHostPathLength ||
      hostPath.includes("\0")
    ) {
      throw invalidInput(`mounts[${i}].hostPath must be an absolute path`);
    }
    if (
      typeof sandboxPath !== "string" ||
      !sandboxPath.startsWith("/") ||
      sandboxPath.length > LIMITS.mountPathLength ||
      sandboxPath.includes("\0")
    ) {
      throw invalidInput(
        `mounts[${i}].path must be an absolute path of at most ${LIMITS.mountPathLength} characters`,
      );
    }
    const target = normalizePosix(sandboxPath);
    if (target === "/")
      throw invalidInput(`mounts[${i}].path must be a directory inside the sandbox, not /`);
    if (RESERVED_MOUNT_PATHS.some((r) => target === r || target.startsWith(`${r}/`))) {
      throw invalidInput(`mounts[${i}].path: cannot mount over ${target} inside the sandbox`);
    }
    if (seen.has(target)) throw invalidInput(`mounts: two mounts at ${target}`);
    seen.add(target);
    return { hostPath, sandboxPath: target, readOnly: m?.readOnly === true };
  });
}
