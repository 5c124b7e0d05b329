import { chown, mkdir, stat } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { SystemUser } from "../users/passwd.js";

export class PathError extends Error {}

// Rejected up front so the error names the real problem instead of whatever fs would say.
export function validatePath(path: string): void {
  if (path.includes("\0")) throw new PathError("path contains a NUL byte");
  // Invalid UTF-8 in a request decodes to U+FFFD; acting on it would touch a different file
  // than the client meant (E2B's Go envd rejects such strings while decoding protobuf).
  if (path.includes("\uFFFD")) throw new PathError("path is not valid UTF-8");
  if (path.length > 4096) throw new PathError("path is longer than 4096 characters");
}

/**
 * E2B's ExpandAndResolve: "" means the default workdir (else home), "~" and "~/x" expand to
 * the user's home, and relative paths are taken from the home directory. `..` is resolved
 * lexically, like filepath.Abs; envd itself is the boundary, not the path.
 */
export function resolveUserPath(
  path: string,
  user: SystemUser,
  defaultWorkdir: string | undefined,
): string {
  validatePath(path);
  let p = path === "" ? (defaultWorkdir ?? "") : path;
  if (p.startsWith("~")) {
    if (p.length > 1 && p[1] !== "/") {
      throw new PathError(`cannot expand user-specific home dir in '${path}'`);
    }
    p = join(user.home, p.slice(1));
  }
  return isAbsolute(p) ? resolve(p) : resolve(user.home, p);
}

/** Creates every missing directory of `path` (mode 0755) owned by the user, like mkdir -p. */
export async function ensureDirs(path: string, uid: number, gid: number): Promise<void> {
  const missing: string[] = [];
  let current = path;
  for (;;) {
    try {
      const st = await stat(current);
      if (!st.isDirectory()) throw new PathError(`path is a file: ${current}`);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    // Also when another request created it first: chown is idempotent.
    await chown(dir, uid, gid);
  }
}
