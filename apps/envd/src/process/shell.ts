import { existsSync } from "node:fs";
import { basename } from "node:path";

/**
 * E2B's SDKs run every command as `/bin/bash -l -c CMD` and every terminal as `/bin/bash -i -l`.
 * Images without bash (Alpine, busybox-only, distroless) still answer: the image's own /bin/sh
 * when it has one, else the static busybox Wrenn's runtime brings (WRENN_ENVD_FALLBACK_SHELL,
 * set only for image templates), both of which take bash's -l, -i and -c. Any other missing
 * program is left to fail with its name in the error.
 */
export function resolveShell(
  cmd: string,
  args: readonly string[],
  fallbackShell: string | undefined,
  exists: (path: string) => boolean = existsSync,
): { cmd: string; args: string[] } {
  const name = basename(cmd);
  if (!cmd.startsWith("/") || (name !== "bash" && name !== "sh") || exists(cmd)) {
    return { cmd, args: [...args] };
  }
  if (cmd !== "/bin/sh" && exists("/bin/sh")) return { cmd: "/bin/sh", args: [...args] };
  if (fallbackShell && exists(fallbackShell)) return { cmd: fallbackShell, args: ["sh", ...args] };
  return { cmd, args: [...args] };
}

/** A clear reason when the program to run is not in the sandbox's root filesystem. */
export function missingProgram(cmd: string, exists: (path: string) => boolean = existsSync) {
  return cmd.startsWith("/") && !exists(cmd)
    ? `${cmd} does not exist in this sandbox (its template's image does not have it)`
    : undefined;
}
