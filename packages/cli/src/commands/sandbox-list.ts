import { SANDBOX_STATES, Sandbox, type SandboxInfo, type SandboxState } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { formatTable, printJson, relativeTime } from "../output/table.js";
import { stateColour } from "../output/terminal-style.js";
import { collectPairs, positiveInt } from "./option-parsers.js";
import { sandboxJson } from "./sandbox-info.js";

/**
 * When it ends, only while that is true: a paused sandbox waits without a clock (it ends only
 * when resumed), a stopped one shows when it stopped, an errored one has no end.
 */
export function endsColumn(s: SandboxInfo): string {
  if (s.state === "running" || s.state === "starting" || s.state === "pending")
    return `${s.autoPause ? "pauses" : "ends"} ${relativeTime(s.endAt)}`;
  if (s.state === "stopped") {
    if (s.stopReason === "expired") return `expired ${relativeTime(s.endAt)}`;
    return s.stoppedAt ? `stopped ${relativeTime(s.stoppedAt)}` : "-";
  }
  return "-";
}

export function registerSandboxList(sandbox: Command): void {
  sandbox
    .command("ls")
    .alias("list")
    .description(
      "List your sandboxes, newest first (stopped ones, and creates that failed over 10 minutes ago, only with --all or --state)",
    )
    .option("-a, --all", "include stopped sandboxes and old failed creates")
    .option("-s, --state <states>", "only these states, comma-separated (e.g. running,paused)")
    .option(
      "-m, --metadata <key=value>",
      "only sandboxes with this label (repeatable)",
      collectPairs,
    )
    .option("--limit <n>", "at most this many", positiveInt("--limit"), 1000)
    .option("--json", "print a JSON array")
    .option("-q, --quiet", "print only the ids, one per line")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox ls\n  wrenn sandbox ls --state paused\n  wrenn sandbox ls --json | jq -r '.[].sandboxId'",
    )
    .action(async (o, command: Command) => {
      const ctx = await contextOf(command);
      const state: SandboxState[] | undefined = o.state
        ? (String(o.state)
            .split(",")
            .map((s) => s.trim()) as SandboxState[])
        : o.all
          ? [...SANDBOX_STATES]
          : undefined;
      const paginator = Sandbox.list({
        ...ctx.sdk(),
        query: { ...(state ? { state } : {}), ...(o.metadata ? { metadata: o.metadata } : {}) },
      });
      const all: SandboxInfo[] = [];
      for await (const info of paginator) {
        all.push(info);
        if (all.length >= o.limit) break;
      }
      if (o.quiet) {
        for (const s of all) process.stdout.write(`${s.sandboxId}\n`);
        return;
      }
      if (wantsJson(command)) {
        printJson(all.map(sandboxJson));
        return;
      }
      if (all.length === 0) {
        process.stderr.write("No sandboxes. Create one with `wrenn sandbox create`.\n");
        return;
      }
      process.stdout.write(
        `${formatTable(
          ["ID", "NAME", "STATE", "TEMPLATE", "VCPU", "MEMORY", "STARTED", "ENDS"],
          all.map((s) => [
            s.sandboxId,
            s.name ?? "-",
            stateColour(s.state),
            s.templateId,
            String(s.cpuCount),
            `${s.memoryMB} MiB`,
            relativeTime(s.startedAt),
            endsColumn(s),
          ]),
        )}\n`,
      );
    });
}
