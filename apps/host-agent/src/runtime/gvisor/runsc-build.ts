import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { runCommand } from "../../command/run-command.js";

/**
 * What the agent learned about its runsc at start: which build it is and how it runs
 * sandboxes. Debian bookworm's runsc (0.0~20221219) has only ptrace; bookworm-backports'
 * (0.0~20240729) has systrap (about 3x faster per system call here) and directfs.
 */
export interface RunscBuild {
  /** `runsc --version`'s first line, e.g. "runsc version 0.0~20240729.0". */
  version: string;
  platform: "systrap" | "ptrace";
  /** Why systrap is not used, when it is not. */
  fallbackReason?: string;
  /** The sentry opens the sandbox's files itself instead of asking the gofer (newer runsc). */
  directfs: boolean;
  /**
   * Hides /proc/sys/net/core from runsc before it starts (gVisor issue 10704: runsc wrongly
   * thinks it is in the host's network namespace on kernels >= 6; 2022 and 2024 builds).
   */
  needsNetnsFix: boolean;
  /**
   * Boots sandboxes with the template's preloaded work-arounds for the 2022 build's statx and
   * zero-length tty write bugs (guest-shims.ts); later builds fixed both.
   */
  needsGuestShims: boolean;
  /** `delete --force` of a frozen container panics ("paused => stopped") in the 2022 build. */
  needsThawBeforeDelete: boolean;
  /** The global flags of every call, so one container always sees the same ones. */
  flags: string[];
  /** What a checkpoint made by this build must match to be restored by it. */
  identity: string;
}

/** Written into every checkpoint directory: the identity of the runsc that made it. */
export const IDENTITY_FILE = "wrenn-runtime-identity";

/**
 * Asks the runsc binary what it is, then proves systrap by running /bin/true under it once
 * (it needs seccomp features a host may withhold); ptrace is the fallback.
 */
export async function probeRunsc(runsc: string, preferPlatform?: string): Promise<RunscBuild> {
  const version = (await runCommand(runsc, ["--version"], { timeoutMs: 30_000 }))
    .split("\n")[0]
    ?.trim();
  if (!version) throw new Error(`${runsc} --version printed nothing`);
  const flagsText = await flagHelp(runsc);
  const hasSystrap = /systrap/.test(flagsText);
  const directfs = /^\s*-directfs\b/m.test(flagsText);
  let platform: RunscBuild["platform"] = "ptrace";
  let fallbackReason: string | undefined;
  if (preferPlatform === "ptrace") {
    fallbackReason = "WRENN_RUNSC_PLATFORM=ptrace";
  } else if (!hasSystrap) {
    fallbackReason = `${version} has no systrap platform`;
  } else {
    const err = await tryPlatform(runsc, "systrap");
    if (err) fallbackReason = `systrap cannot run here: ${err}`;
    else platform = "systrap";
  }
  // The bugs below are the 2022 build's (bookworm); builds that know systrap came after their
  // fixes, which were checked on 0.0~20240729 (bookworm-backports).
  // Still there in 0.0~20240729 ("cannot run with network enabled in root network
  // namespace"): every build gets the work-around, which costs a few ms per start.
  const needsNetnsFix = true;
  const needsGuestShims = !hasSystrap;
  const needsThawBeforeDelete = !hasSystrap;
  const flags = [
    "--network=sandbox",
    `--platform=${platform}`,
    // Newer runsc defaults to keeping root writes in its own overlay (root:self); a sandbox's
    // files belong on its disk, where they survive restarts and count against disk_mb.
    "--overlay2=none",
    ...(directfs ? ["--directfs=true"] : []),
  ];
  return {
    version,
    platform,
    fallbackReason,
    directfs,
    needsNetnsFix,
    needsGuestShims,
    needsThawBeforeDelete,
    flags,
    identity: `${version} platform=${platform}${directfs ? " directfs" : ""}`,
  };
}

/**
 * `runsc flags`: the help of every global flag, which runsc prints on stderr. Every line (not
 * the error's excerpt), whatever its exit status.
 */
async function flagHelp(runsc: string): Promise<string> {
  const lines: string[] = [];
  await runCommand(runsc, ["flags"], { timeoutMs: 30_000, onLine: (l) => lines.push(l) }).catch(
    () => {},
  );
  return lines.join("\n");
}

/** Runs /bin/true in a throwaway sandbox on this platform; the error's gist if it fails. */
async function tryPlatform(runsc: string, platform: string): Promise<string | undefined> {
  const root = await mkdtemp(path.join(tmpdir(), "wrenn-runsc-probe-"));
  try {
    await runCommand(
      runsc,
      [`--root=${root}`, `--platform=${platform}`, "--network=none", "do", "/bin/true"],
      { timeoutMs: 120_000 },
    );
    return undefined;
  } catch (err) {
    return ((err as Error).message.split("\n")[0] ?? "failed").slice(0, 300);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The identity stamp of a checkpoint directory, if it has one. */
export async function readIdentity(dir: string): Promise<string | undefined> {
  try {
    return (await readFile(path.join(dir, IDENTITY_FILE), "utf8")).trim();
  } catch {
    return undefined;
  }
}

export async function writeIdentity(dir: string, identity: string): Promise<void> {
  await writeFile(path.join(dir, IDENTITY_FILE), `${identity}\n`);
}

/**
 * Why this runsc must not restore the checkpoint in dir (undefined when it may). A checkpoint
 * without a stamp predates stamping: the agents that made those ran bookworm's runsc with
 * ptrace, which is what `legacy` names.
 */
export async function restoreRefusal(
  dir: string,
  build: Pick<RunscBuild, "identity">,
  legacy: string,
): Promise<string | undefined> {
  try {
    await stat(dir);
  } catch {
    return `the checkpoint ${dir} is missing`;
  }
  const made = (await readIdentity(dir)) ?? legacy;
  if (made === build.identity) return undefined;
  return `the checkpoint was made by ${made}; this host runs ${build.identity}, which cannot restore it (gVisor checkpoints only restore under the same runsc build and platform). Resume it on a host with that runsc, or switch this host back to it; its files are kept`;
}
