import { readFile } from "node:fs/promises";
import { type Host, WrennClient, WrennError } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { EXIT } from "../exit-codes.js";
import { alive, detachedFiles } from "../local-stack/stack-files.js";
import { formatTable, printJson } from "../output/table.js";
import { style } from "../output/terminal-style.js";
import { HOST_HEADERS, hostRows } from "./hosts.js";

export function registerStatus(program: Command): void {
  program
    .command("status")
    .description("Is the API up? Its version, hosts and sandbox counts (exit 1 when it is down)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn status\n  wrenn status --json | jq .up\n  until wrenn status >/dev/null; do sleep 1; done",
    )
    .action(async (_o, command: Command) => {
      const ctx = await contextOf(command);
      const json = wantsJson(command);
      const files = detachedFiles();
      const pid =
        Number((await readFile(files.pidFile, "utf8").catch(() => "")).trim()) || undefined;
      const detached = pid !== undefined && alive(pid) ? pid : undefined;
      let version: string | undefined;
      try {
        // /healthz needs no key: status works before one is set up.
        version = (await new WrennClient({ apiUrl: ctx.config.apiUrl }).health()).version;
      } catch (error) {
        const reason = (error as Error).message;
        if (json)
          printJson({
            up: false,
            apiUrl: ctx.config.apiUrl,
            apiUrlSource: ctx.config.urlSource,
            error: reason,
            detachedPid: detached ?? null,
          });
        else
          process.stdout.write(
            `${style.red("down")}  ${ctx.config.apiUrl} (from ${ctx.config.urlSource}): ${reason}\n${detached ? `wrenn up --detach is running as pid ${detached} (log: ${files.logFile}); it may still be starting\n` : "Start it with `wrenn up`.\n"}`,
          );
        process.exitCode = EXIT.error;
        return;
      }
      // Hosts need an admin key; a user key still gets its own sandbox count.
      let hosts: Host[] | undefined;
      let note: string | undefined;
      if (ctx.config.apiKey) {
        try {
          hosts = await ctx.client().hosts.list();
        } catch (error) {
          note = error instanceof WrennError ? `hosts: ${error.message}` : String(error);
        }
      } else note = "no API key: hosts and sandboxes not shown";
      const counts: Record<string, number> = {};
      for (const h of hosts ?? [])
        for (const [s, n] of Object.entries(h.sandboxesByState)) counts[s] = (counts[s] ?? 0) + n;
      if (json) {
        printJson({
          up: true,
          apiUrl: ctx.config.apiUrl,
          apiUrlSource: ctx.config.urlSource,
          version,
          hosts: hosts ?? null,
          sandboxes: hosts ? counts : null,
          detachedPid: detached ?? null,
        });
        return;
      }
      process.stdout.write(
        `${style.green("up")}  ${ctx.config.apiUrl} (from ${ctx.config.urlSource})  version ${version}${detached ? `  (wrenn up --detach, pid ${detached})` : ""}\n`,
      );
      if (hosts) {
        const summary = Object.entries(counts)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${n} ${s}`)
          .join(", ");
        process.stdout.write(
          `${hosts.length} host(s), sandboxes: ${summary || "none"}\n${formatTable(HOST_HEADERS, hostRows(hosts))}\n`,
        );
      }
      if (note) process.stderr.write(`${note}\n`);
    });
}
