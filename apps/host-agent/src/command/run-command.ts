import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(message);
  }
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Every line of stdout and stderr, as it comes. */
  onLine?: (line: string) => void;
  /** Kill the command after this long (ms). */
  timeoutMs?: number;
  /** Extra stdio, e.g. a log file descriptor given to a daemon that outlives the command. */
  stdio?: Array<"ignore" | "pipe" | number>;
}

/**
 * Runs a program (argv, never a shell) and resolves with its stdout; rejects with the exit
 * status and the last lines of output, which is what a person needs to fix the problem.
 */
export function runCommand(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
      stdio: opts.stdio ?? ["ignore", "pipe", "pipe"],
      timeout: opts.timeoutMs,
      killSignal: "SIGKILL",
    });
    let stdout = "";
    // The first lines usually say why (a Go panic's message comes before its stack); the
    // last ones say where it ended.
    const head: string[] = [];
    const tail: string[] = [];
    let skipped = 0;
    const collect = (line: string) => {
      if (head.length < 8) head.push(line);
      else {
        tail.push(line);
        if (tail.length > 12) {
          tail.shift();
          skipped++;
        }
      }
      opts.onLine?.(line);
    };
    if (child.stdout) {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (d: string) => {
        if (stdout.length < 4 << 20) stdout += d;
      });
      createInterface({ input: child.stdout }).on("line", collect);
    }
    if (child.stderr) createInterface({ input: child.stderr }).on("line", collect);
    child.on("error", (err) => {
      const missing = (err as NodeJS.ErrnoException).code === "ENOENT";
      reject(
        new CommandError(
          `${cmd}: ${err.message}${missing ? " (is it installed? `npm run setup` installs it)" : ""}`,
          null,
          "",
        ),
      );
    });
    child.on("close", (code, signal) => {
      if (code === 0) resolve(stdout);
      else {
        const output = [...head, ...(skipped ? [`[... ${skipped} lines ...]`] : []), ...tail]
          .map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l))
          .join("\n");
        reject(
          new CommandError(
            `${cmd} ${args.slice(0, 3).join(" ")} failed (${signal ?? `exit ${code}`})${output ? `: ${output}` : ""}`,
            code,
            output,
          ),
        );
      }
    });
  });
}
