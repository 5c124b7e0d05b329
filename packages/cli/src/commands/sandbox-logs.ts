import { setTimeout as sleep } from "node:timers/promises";
import {
  type CommandHandle,
  type OwnedSandboxInfo,
  type ProcessInfo,
  Sandbox,
  type WrennClient,
} from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { CliError, EXIT } from "../exit-codes.js";
import { positiveInt } from "./option-parsers.js";

// `wrenn logs`: the output of a sandbox's processes. The design is the smallest honest one:
// envd already keeps each running process's recent output and replays it on connect (the SDK's
// commands.connect), so the CLI lists the processes envd runs and follows each from the start
// of what envd still holds. Nothing new is stored anywhere; a process that has ended is gone
// from envd's list, and so from here (its commands and exit codes stay in `wrenn events`).

/** Writes one process's output, a line at a time with its pid in front when several are shown. */
class Printer {
  private readonly partial = { stdout: "", stderr: "" };

  constructor(private readonly prefix: string) {}

  write(stream: "stdout" | "stderr", text: string): void {
    const out = stream === "stdout" ? process.stdout : process.stderr;
    if (!this.prefix) {
      out.write(text);
      return;
    }
    const lines = (this.partial[stream] + text).split("\n");
    this.partial[stream] = lines.pop() ?? "";
    for (const line of lines) out.write(`${this.prefix}${line}\n`);
  }

  /** What is left of an unfinished last line, once the process ended. */
  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.partial[stream]) this.write(stream, "\n");
    }
  }
}

async function runningSandbox(client: WrennClient, ref: string): Promise<OwnedSandboxInfo> {
  const info = await client.sandboxes.info(ref);
  if (info.state !== "running") {
    throw new CliError(
      `sandbox ${info.sandboxId} is ${info.state}: only a running sandbox has processes to show (its audit trail: wrenn events ${ref})`,
    );
  }
  return info;
}

export function registerSandboxLogs(parent: Command): void {
  parent
    .command("logs")
    .description(
      "Show the output of a sandbox's running processes (background commands, servers), from the oldest output envd still holds, until they end",
    )
    .argument("<id>", "sandbox id or name")
    .option("-p, --pid <pid>", "only this process", positiveInt("--pid"))
    .option(
      "-f, --follow",
      "also show processes started later, until the sandbox stops (or Ctrl-C)",
    )
    .addHelpText(
      "after",
      `
Lines are prefixed with [pid] when more than one process is shown. Commands that already ended
are not shown (envd forgets them), nor, with -f, ones that start and end between two looks (one
a second); their runs and exit codes are in \`wrenn events\`.

Examples:
  wrenn logs web
  wrenn logs -f sb-1a2b3c4d
  wrenn logs --pid 42 web 2>/dev/null`,
    )
    .action(async (ref: string, o: { pid?: number; follow?: boolean }, command: Command) => {
      const ctx = await contextOf(command);
      const info = await runningSandbox(ctx.client(), ref);
      const box = new Sandbox(info, ctx.sdk());
      const wanted = (p: ProcessInfo) => o.pid === undefined || p.pid === o.pid;
      const first = (await box.commands.list()).filter(wanted);
      if (o.pid !== undefined && first.length === 0) {
        throw new CliError(`no process ${o.pid} runs in sandbox ${info.sandboxId}`, EXIT.notFound);
      }
      if (first.length === 0 && !o.follow) {
        process.stderr.write(`No processes run in ${info.sandboxId}. Started ones show with -f.\n`);
        return;
      }
      const prefixed = o.pid === undefined && (first.length > 1 || Boolean(o.follow));
      const followed = new Map<number, { handle?: CommandHandle; ended: Promise<void> }>();
      const attach = (p: ProcessInfo) => {
        if (followed.has(p.pid)) return;
        const printer = new Printer(prefixed ? `[${p.pid}] ` : "");
        const entry: { handle?: CommandHandle; ended: Promise<void> } = {
          ended: box.commands
            .connect(p.pid, {
              onStdout: (d) => printer.write("stdout", d),
              onStderr: (d) => printer.write("stderr", d),
            })
            .then((handle) => {
              entry.handle = handle;
              // A non-zero exit or a lost stream only ends this process's part.
              return handle.wait().then(
                () => {},
                () => {},
              );
            })
            // It ended between the list and the connect: nothing left to show.
            .catch(() => {})
            .finally(() => printer.flush()),
        };
        followed.set(p.pid, entry);
      };
      for (const p of first) attach(p);

      if (!o.follow) {
        await Promise.all([...followed.values()].map((f) => f.ended));
        return;
      }
      let stop = false;
      process.once("SIGINT", () => {
        stop = true;
        process.exitCode = EXIT.interrupted;
      });
      while (!stop) {
        await sleep(1000);
        const state = (await ctx.client().sandboxes.info(info.sandboxId)).state;
        if (state !== "running") break;
        const now = await box.commands.list().catch(() => []);
        for (const p of now.filter(wanted)) attach(p);
      }
      for (const f of followed.values()) f.handle?.disconnect();
    });
}
