import { spawn } from "node:child_process";
import { NetworkError } from "./errors.js";

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a program with an argv array (never a shell), optionally feeding it stdin: `ip -batch -`
 * and `nft -f -` take whole transactions that way, without temp files.
 */
export function runCommand(
  file: string,
  args: readonly string[],
  input?: string,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) =>
      reject(new NetworkError("command_failed", `cannot run ${file}: ${e.message}`, { cause: e })),
    );
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) {
        resolve({ stdout, stderr });
        return;
      }
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      reject(
        new CommandError(`${file} ${args.join(" ")} failed (${how}): ${stderr.trim()}`, stderr),
      );
    });
    // EPIPE when the program exits before reading its input is reported through "close".
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
  });
}

export class CommandError extends NetworkError {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super("command_failed", message);
  }
}
