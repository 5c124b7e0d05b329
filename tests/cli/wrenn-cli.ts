// Runs the real built `wrenn` binary as a child process, with a config of its own.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "../harness/paths.js";

/** The package's bin (a bundle built by packages/cli/build.mjs), as `npm i` installs it. */
export const WRENN_MAIN = `${repoRoot}packages/cli/dist/bin/wrenn.js`;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout exactly as the CLI wrote it. */
  stdoutBytes: Buffer;
}

/**
 * Homes made by this test file, removed after its last test (tests never hold them past that);
 * outside vitest (bench/) when the process exits. vitest's workers end without an 'exit', so
 * that hook alone left every home behind.
 */
const homes: string[] = [];
const removeHomes = () => {
  for (const home of homes.splice(0)) {
    try {
      rmSync(home, { recursive: true, force: true });
    } catch {
      // Something of a stack still mounted in it: the stack's own teardown reports that.
    }
  }
};
if (process.env.VITEST) {
  const { afterAll } = await import("vitest");
  afterAll(removeHomes);
} else {
  process.once("exit", removeHomes);
}

/**
 * An environment with nothing of this machine's: its own XDG_CONFIG_HOME and WRENN_DATA_DIR (so
 * neither a real config nor the repository's admin key is picked up), no colours.
 */
export async function isolatedEnv(
  extra: Record<string, string> = {},
): Promise<Record<string, string>> {
  const home = await mkdtemp(join(tmpdir(), "wrenn-cli-home-"));
  homes.push(home);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("WRENN_") && k !== "FORCE_COLOR") env[k] = v;
  }
  return {
    ...env,
    NO_COLOR: "1",
    XDG_CONFIG_HOME: join(home, "config"),
    WRENN_DATA_DIR: join(home, "data"),
    ...extra,
  };
}

export function wrenn(
  args: string[],
  o: {
    env: Record<string, string>;
    cwd?: string;
    input?: string;
    onSpawn?: (pid: number) => void;
    /** Everything written to stdout so far, after each write. */
    onStdout?: (soFar: string) => void;
  },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRENN_MAIN, ...args], {
      env: o.env,
      cwd: o.cwd,
      stdio: ["pipe", "pipe", "pipe"],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => {
      stdout.push(d);
      o.onStdout?.(Buffer.concat(stdout).toString("utf8"));
    });
    child.stderr.on("data", (d: Buffer) => void stderr.push(d));
    child.on("error", reject);
    if (o.input !== undefined) child.stdin.end(o.input);
    else child.stdin.end();
    if (child.pid) o.onSpawn?.(child.pid);
    child.on("close", (code, signal) => {
      const stdoutBytes = Buffer.concat(stdout);
      resolve({
        code,
        signal,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        stdoutBytes,
      });
    });
  });
}
