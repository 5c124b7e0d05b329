import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { CliError } from "../exit-codes.js";
import { formatBytes, formatTable, printJson, relativeTime } from "../output/table.js";
import { positiveInt } from "./option-parsers.js";

/** `wrenn sandbox snapshot` and `wrenn sandbox fork`. */
export function registerSandboxSnapshot(sandbox: Command): void {
  sandbox
    .command("snapshot")
    .description(
      "Save a running sandbox (memory, processes, files); it keeps running. Create from it with -t SNAPSHOT_ID",
    )
    .argument("<id>", "sandbox id or name")
    .option("--name <name>", "a name to find it by")
    .option("--json", "print the snapshot as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox snapshot sb-1a2b3c4d --name before-upgrade\n  wrenn sandbox create -t snap-5e6f7a8b",
    )
    .action(async (id: string, o: { name?: string }, command: Command) => {
      const ctx = await contextOf(command);
      const snap = await ctx.client().snapshots.create(id, o.name ? { name: o.name } : {});
      if (wantsJson(command)) printJson(snap);
      else process.stdout.write(`${snap.id}\n`);
    });

  sandbox
    .command("fork")
    .description("Create sandboxes from one snapshot of a running sandbox (it keeps running)")
    .argument("<id>", "sandbox id or name")
    .option("--count <n>", "how many (1-100, default 1)", positiveInt("--count"))
    .option("--timeout <seconds>", "lifetime of each fork", positiveInt("--timeout"))
    .option("--json", "print every outcome as JSON")
    .addHelpText("after", "\nExamples:\n  wrenn sandbox fork sb-1a2b3c4d --count 3")
    .action(async (id: string, o: { count?: number; timeout?: number }, command: Command) => {
      const ctx = await contextOf(command);
      const { forks } = await ctx.client().snapshots.fork(id, {
        ...(o.count === undefined ? {} : { count: o.count }),
        ...(o.timeout === undefined ? {} : { timeoutSeconds: o.timeout }),
      });
      if (wantsJson(command)) {
        printJson(forks);
      } else {
        for (const f of forks) {
          if (f.sandbox) process.stdout.write(`${f.sandbox.id}\n`);
          else process.stderr.write(`fork failed: ${f.error?.code}: ${f.error?.message}\n`);
        }
      }
      const failed = forks.filter((f) => !f.sandbox).length;
      if (failed > 0) throw new CliError(`${failed} of ${forks.length} forks failed`);
    });
}

/** `wrenn snapshot ls|rm`. */
export function registerSnapshots(program: Command): void {
  const snapshot = program
    .command("snapshot")
    .description("Snapshots of running sandboxes (take one with `wrenn sandbox snapshot`)")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn snapshot ls\n  wrenn snapshot ls --sandbox sb-1a2b3c4d\n  wrenn snapshot rm snap-5e6f7a8b",
    );
  snapshot
    .command("ls")
    .alias("list")
    .description("List your snapshots, newest first")
    .option("--sandbox <id>", "only those taken of this sandbox")
    .option("--name <name>", "only those with this name")
    .option("--json", "print a JSON array")
    .action((o: { sandbox?: string; name?: string }, command: Command) =>
      printSnapshots(command, o),
    );
  snapshot
    .command("rm")
    .alias("delete")
    .description("Delete snapshots (sandboxes made from them are not affected)")
    .argument("<ids...>", "snapshot ids")
    .action(async (ids: string[], _o, command: Command) => {
      const ctx = await contextOf(command);
      for (const id of ids) {
        await ctx.client().snapshots.delete(id);
        process.stderr.write(`Deleted ${id}\n`);
      }
    });
}

/** Every snapshot of the filter (all pages), as a table or JSON: `snapshot ls`, `ws snap ls`. */
export async function printSnapshots(
  command: Command,
  o: { sandbox?: string; name?: string },
): Promise<void> {
  const ctx = await contextOf(command);
  const all = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.client().snapshots.list({
      ...(o.sandbox ? { sandboxId: o.sandbox } : {}),
      ...(o.name ? { name: o.name } : {}),
      ...(cursor ? { cursor } : {}),
    });
    all.push(...page.snapshots);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  if (wantsJson(command)) {
    printJson(all);
    return;
  }
  process.stdout.write(
    formatTable(
      ["ID", "NAME", "SANDBOX", "TEMPLATE", "SIZE", "STORED", "CREATED"],
      all.map((s) => [
        s.id,
        s.name ?? "",
        s.sourceSandboxId,
        s.template,
        formatBytes(s.sizeBytes),
        // "yes": in the shared store, restorable on any host; "no": on its host alone.
        s.stored ? "yes" : "no",
        relativeTime(new Date(s.createdAt)),
      ]),
    ),
  );
}
