import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { chunksUpTo, inOrder, latestOnly } from "./in-order.js";
import { exitCodeOf, STDIN_CALL_BYTES } from "./remote-command.js";

function terminalSize(): { cols: number; rows: number } {
  return { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
}

export function registerSandboxShell(sandbox: Command): void {
  sandbox
    .command("shell")
    .description("Open an interactive terminal (a login shell) in a sandbox")
    .argument("<id>", "sandbox id (a paused sandbox is resumed)")
    .option("-u, --user <name>", "Linux user (default: user)")
    .option("-w, --cwd <dir>", "start in this directory")
    .addHelpText(
      "after",
      `
Keys go to the sandbox as they are typed (Ctrl-C interrupts the program inside, not this
one); the terminal follows this window's size. Leave with \`exit\` or Ctrl-D: wrenn exits with
the shell's exit code.

Examples:
  wrenn sandbox shell sb-1a2b3c4d
  wrenn sandbox shell -u root sb-1a2b3c4d`,
    )
    .action(async (id: string, o, command: Command) => {
      if (!process.stdin.isTTY) {
        throw new CliError(
          "wrenn sandbox shell needs a terminal; for scripts use `wrenn sandbox exec ID -- COMMAND`",
          EXIT.usage,
        );
      }
      const ctx = await contextOf(command);
      const box = await Sandbox.connect(id, ctx.sdk());
      const stdin = process.stdin;
      const terminal = await box.pty.create({
        ...terminalSize(),
        user: o.user,
        cwd: o.cwd,
        onData: (data) => void process.stdout.write(data),
      });
      // One call at a time, in order (in-order.ts): keys typed meanwhile go together, of sizes
      // only the latest.
      const input = inOrder<Uint8Array>(
        (chunks) => box.pty.sendInput(terminal.pid, Buffer.concat(chunks)),
        chunksUpTo(STDIN_CALL_BYTES),
      );
      const size = inOrder<{ cols: number; rows: number }>(
        ([latest]) => (latest ? box.pty.resize(terminal.pid, latest) : Promise.resolve()),
        latestOnly,
      );
      const onResize = () => size.push(terminalSize());
      const onInput = (chunk: Buffer) => input.push(chunk);
      // Raw: every key (Ctrl-C included) goes to the shell, not to our own signal handling.
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on("data", onInput);
      process.stdout.on("resize", onResize);
      process.on("SIGWINCH", onResize);
      try {
        const result = await terminal.wait().then(
          (r) => r.exitCode,
          (error: { exitCode?: number; error?: string }) => {
            if (typeof error.exitCode === "number") return exitCodeOf(error.exitCode, error.error);
            throw error;
          },
        );
        process.exitCode = result;
      } finally {
        stdin.removeListener("data", onInput);
        process.stdout.removeListener("resize", onResize);
        process.removeListener("SIGWINCH", onResize);
        stdin.setRawMode(false);
        stdin.pause();
      }
    });
}
