import { Sandbox } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { usageError } from "../exit-codes.js";
import { collectPairs, positiveInt } from "./option-parsers.js";
import { runRemoteCommand, shellLine } from "./remote-command.js";

export function registerSandboxExec(sandbox: Command): void {
  sandbox
    .command("exec")
    .description("Run a command in a sandbox, stream its output and exit with its exit code")
    .argument("<id>", "sandbox id (a paused sandbox is resumed)")
    .argument("<command...>", "the command, after --")
    .option("-w, --cwd <dir>", "working directory (default: the user's home)")
    .option("-u, --user <name>", "Linux user (default: user; root for administration)")
    .option("-e, --env <KEY=VALUE>", "environment variable (repeatable)", collectPairs)
    .option("-i, --stdin", "forward this program's stdin to the command")
    .option(
      "--timeout <seconds>",
      "kill the command after this long (exit 124)",
      positiveInt("--timeout"),
    )
    .passThroughOptions()
    .addHelpText(
      "after",
      `
One argument is a shell line run by bash in the sandbox; several are quoted one by one.
Ctrl-C kills the command in the sandbox and exits 130.

Examples:
  wrenn sandbox exec sb-1a2b3c4d -- uname -a
  wrenn sandbox exec sb-1a2b3c4d -- 'cd /tmp && ls | wc -l'
  echo hi | wrenn sandbox exec -i sb-1a2b3c4d -- cat
  wrenn sandbox exec -u root sb-1a2b3c4d -- apt-get install -y jq`,
    )
    .action(async (id: string, operands: string[], o, command: Command) => {
      // With passThroughOptions commander keeps the `--` itself among the operands.
      const argv = operands[0] === "--" ? operands.slice(1) : operands;
      if (argv.length === 0)
        throw usageError("no command given: wrenn sandbox exec ID -- COMMAND...");
      const ctx = await contextOf(command);
      const box = await Sandbox.connect(id, ctx.sdk());
      const result = await runRemoteCommand(box, shellLine(argv), {
        cwd: o.cwd,
        user: o.user,
        envs: o.env,
        stdin: Boolean(o.stdin),
        timeoutMs: o.timeout === undefined ? undefined : o.timeout * 1000,
      });
      process.exitCode = result.exitCode;
    });
}
