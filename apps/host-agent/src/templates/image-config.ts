/**
 * What a template built from an OCI image keeps of the image's config (Env, WorkingDir, User)
 * and applies to the sandbox's processes, as `docker run` would.
 */
export interface ImageConfig {
  /** "KEY=value" entries, in the image's order. */
  env: string[];
  /** Absolute working directory; empty when the image sets none. */
  workdir: string;
  /** A user name of the image's /etc/passwd (numeric USER is resolved at build time). */
  user: string;
  /** Started in every sandbox at create (a template's start command), as `user` in `workdir`. */
  startCmd?: string;
  /** Create waits until this exits 0 (bounded), after startCmd was started. */
  readyCmd?: string;
}

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The image's variables as a map (PATH included), later entries winning. */
export function imageEnv(config: ImageConfig | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of config?.env ?? []) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}
