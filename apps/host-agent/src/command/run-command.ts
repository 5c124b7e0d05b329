import { type ChildProcessByStdio, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";

/**
 * A host program that failed: which one, with what, how it ended, and what it said (the first
 * and last lines of its output), which is what a person needs to fix the problem.
 */
export class CommandError extends Error {
  override readonly name = "CommandError";
  /** The signal that ended it, when one did (a timeout kills with SIGKILL). */
  readonly signal: string | null;
  /**
   * False when the program could not be started at all (not installed, not executable):
   * callers that tolerate a program's refusal (conntrack's "nothing to delete") still report
   * a missing program.
   */
  readonly started: boolean;

  constructor(
    readonly program: string,
    readonly args: readonly string[],
    /** null when it never ran or was killed by a signal. */
    readonly exitCode: number | null,
    /** Its stderr and stdout lines: the first 8 and the last 12, long lines cut. */
    readonly output: string,
    opts: { signal?: string | null; notStarted?: Error } = {},
  ) {
    const missing = (opts.notStarted as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
    super(
      opts.notStarted
        ? `cannot run ${program}: ${opts.notStarted.message}${missing ? " (is it installed? `npm run setup` installs it)" : ""}`
        : `${program} ${args.slice(0, 3).join(" ")} failed (${opts.signal ?? `exit ${exitCode}`})${output ? `: ${output}` : ""}`,
      opts.notStarted ? { cause: opts.notStarted } : undefined,
    );
    this.signal = opts.signal ?? null;
    this.started = opts.notStarted === undefined;
  }
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Fed to the program's stdin: `ip -batch -` and `nft -f -` take whole transactions so. */
  input?: string;
  /** Every line of stdout and stderr, as it comes (the streaming use: build logs). */
  onLine?: (line: string) => void;
  /** Kill the command after this long (ms). */
  timeoutMs?: number;
  /** Kill the command (SIGKILL) when this aborts: a cancelled build's step, say. */
  signal?: AbortSignal;
  /**
   * Extra stdio, e.g. a log file descriptor given to a daemon that outlives the command;
   * stdout and stderr must stay "pipe" to be collected. Not with `input`.
   */
  stdio?: Array<"ignore" | "pipe" | number>;
}

/** More than any listing the agent reads (nft's JSON of a full table is far smaller). */
const MAX_STDOUT = 64 << 20;

/**
 * Keeps what a person needs from a program's output: the first lines usually say why (a Go
 * panic's message comes before its stack), the last ones say where it ended.
 */
function outputLines(onLine?: (line: string) => void) {
  const head: string[] = [];
  const tail: string[] = [];
  let skipped = 0;
  return {
    add(line: string): void {
      if (head.length < 8) head.push(line);
      else {
        tail.push(line);
        if (tail.length > 12) {
          tail.shift();
          skipped++;
        }
      }
      onLine?.(line);
    },
    text(): string {
      return [...head, ...(skipped ? [`[... ${skipped} lines ...]`] : []), ...tail]
        .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
        .join("\n");
    },
  };
}

/**
 * The one way the agent runs a host program: argv, never a shell. Resolves with its stdout;
 * rejects with a CommandError (program, args, exit status, the lines it printed).
 */
export function runCommand(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdio = opts.stdio ?? [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"];
    const child = spawn(cmd, args, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio,
      timeout: opts.timeoutMs,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    const lines = outputLines(opts.onLine);
    if (child.stdout) {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        if (stdout.length < MAX_STDOUT) stdout += d;
      });
      createInterface({ input: child.stdout }).on("line", lines.add);
    }
    if (child.stderr) createInterface({ input: child.stderr }).on("line", lines.add);
    // Not spawn's own `signal` option: its AbortError would read as "cannot run".
    const kill = () => child.kill("SIGKILL");
    if (opts.signal?.aborted) kill();
    else opts.signal?.addEventListener("abort", kill, { once: true });
    child.on("error", (err) => {
      opts.signal?.removeEventListener("abort", kill);
      reject(new CommandError(cmd, args, null, "", { notStarted: err }));
    });
    child.on("close", (code, signal) => {
      opts.signal?.removeEventListener("abort", kill);
      if (code === 0) resolve(stdout);
      else reject(new CommandError(cmd, args, code, lines.text(), { signal }));
    });
    if (child.stdin) {
      // EPIPE when the program exits before reading its input is reported through "close".
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input ?? "");
    }
  });
}

/** A program whose stdout its caller reads as a stream (binary, as long as it lasts). */
export interface StreamingCommand {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  /** Settles when it has ended: undefined after exit 0, else why not (stderr's lines). */
  readonly exited: Promise<CommandError | undefined>;
}

/** runCommand's streaming form: the caller reads `child.stdout` and may kill `child`. */
export function streamCommand(cmd: string, args: readonly string[]): StreamingCommand {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  const lines = outputLines();
  createInterface({ input: child.stderr }).on("line", lines.add);
  const exited = new Promise<CommandError | undefined>((resolve) => {
    child.once("error", (err) =>
      resolve(new CommandError(cmd, args, null, "", { notStarted: err })),
    );
    child.once("close", (code, signal) =>
      resolve(code === 0 ? undefined : new CommandError(cmd, args, code, lines.text(), { signal })),
    );
  });
  return { child, exited };
}
