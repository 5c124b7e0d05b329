import { setTimeout as sleep } from "node:timers/promises";
import { SANDBOX_EVENTS_LIMIT } from "@wrenn/contract";
import type { SandboxEvent, WrennClient } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { EXIT } from "../exit-codes.js";
import { style } from "../output/terminal-style.js";
import { positiveInt } from "./option-parsers.js";

/** The short form people read: what was run or touched, from the event's detail. */
function summary(e: SandboxEvent): string {
  const d = e.detail;
  const parts: string[] = [];
  for (const key of ["cmd", "command", "path", "template", "exitCode", "reason", "error"]) {
    const v = d[key];
    if (v === undefined || v === null || v === "") continue;
    // Commands run through the SDK are wrapped in a login shell: show what the person typed.
    if (key === "command" && typeof v === "string") {
      parts.push(`${key}=${v.replace(/^\/bin\/bash -l -c /, "")}`);
      continue;
    }
    parts.push(`${key}=${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  return parts.join(" ");
}

function printEvent(e: SandboxEvent, json: boolean): void {
  if (json) {
    // One object a line, so --follow can be piped into jq as it goes.
    process.stdout.write(`${JSON.stringify(e)}\n`);
    return;
  }
  const outcome = e.outcome === "ok" ? style.green(e.outcome) : style.red(e.outcome);
  const took = e.durationMs === null ? "" : style.dim(` ${e.durationMs}ms`);
  process.stdout.write(
    `${style.dim(e.at)}  ${e.action.padEnd(18)} ${outcome}${took}  ${e.actor}  ${summary(e)}`.trimEnd() +
      "\n",
  );
}

/** Events newer than `afterId`, oldest first, paging back as far as needed. */
async function newerThan(
  client: WrennClient,
  id: string,
  afterId: bigint,
): Promise<SandboxEvent[]> {
  const out: SandboxEvent[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await client.sandboxes.events(id, { before, limit: SANDBOX_EVENTS_LIMIT.max });
    for (const e of page.events) {
      if (BigInt(e.id) <= afterId) return out.reverse();
      out.push(e);
    }
    if (!page.nextBefore) return out.reverse();
    before = page.nextBefore;
  }
}

/** `events`: the sandbox's audit trail (what `logs` showed before it showed process output). */
export function registerSandboxEvents(parent: Command): void {
  parent
    .command("events")
    .description(
      "Show a sandbox's audit trail: lifecycle, commands run, files read and written (its processes' output: `wrenn logs`)",
    )
    .argument("<id>", "sandbox id or name")
    .option("-n, --tail <n>", "the last N events", positiveInt("--tail"), 100)
    .option("-f, --follow", "keep printing new events until the sandbox stops (or Ctrl-C)")
    .option("--json", "one JSON object per line")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn events sb-1a2b3c4d\n  wrenn events -f web\n  wrenn events --json sb-1a2b3c4d | jq -r .action",
    )
    .action(async (id: string, o, command: Command) => {
      const ctx = await contextOf(command);
      const json = wantsJson(command);
      const tail = Math.min(Math.max(Math.trunc(o.tail) || 100, 1), 500);
      const first = await ctx.client().sandboxes.events(id, { limit: tail });
      const shown = [...first.events].reverse();
      for (const e of shown) printEvent(e, json);
      if (!o.follow) return;
      let last = BigInt(shown.at(-1)?.id ?? "0");
      let stop = false;
      process.once("SIGINT", () => {
        stop = true;
        process.exitCode = EXIT.interrupted;
      });
      let ended = false;
      while (!stop) {
        await sleep(1000);
        // The state is read before the events, and one more round follows the first "stopped":
        // the destroy's own event may be written just after the state changes.
        const state = (await ctx.client().sandboxes.info(id)).state;
        if (state === "stopped" || state === "error") {
          if (ended) break;
          ended = true;
        }
        const events = await newerThan(ctx.client(), id, last);
        for (const e of events) printEvent(e, json);
        if (events.length) last = BigInt(events.at(-1)!.id);
      }
    });
}
