import { Workspaces } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { printJson } from "../output/table.js";
import { printSnapshots } from "./snapshots.js";
import { reportNewConfig } from "./workspace-tunnel.js";

/**
 * `wrenn ws snap create|ls|restore`: the snapshot API, by workspace. A workspace's snapshots
 * are named after it (snapshot names are not unique), which is how `ls` finds them across the
 * sandboxes a restore replaces.
 */
export function registerWorkspaceSnaps(workspace: Command): void {
  const snap = workspace
    .command("snap")
    .description("Snapshots of a workspace: its disk, memory and processes")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn ws snap create mybox\n  wrenn ws snap ls mybox\n  wrenn ws snap restore mybox snap-1a2b3c4d",
    );

  snap
    .command("create <name>")
    .description("Snapshot a running workspace (it keeps running); prints the snapshot id")
    .option("--json", "print the snapshot as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      const w = await Workspaces.get(name, ctx.sdk());
      const taken = await ctx.client().snapshots.create(w.sandboxId, { name });
      if (wantsJson(command)) return printJson(taken);
      process.stdout.write(`${taken.id}\n`);
    });

  snap
    .command("ls <name>")
    .alias("list")
    .description("The workspace's snapshots, newest first")
    .option("--json", "print a JSON array")
    .action(async (name: string, _o, command: Command) => {
      await Workspaces.get(name, (await contextOf(command)).sdk());
      await printSnapshots(command, { name });
    });

  snap
    .command("restore <name> <snapshot>")
    .description(
      "Run the workspace from a snapshot (the sandbox it ran is destroyed); saves its new WireGuard config",
    )
    .option("--json", "print the workspace as JSON")
    .action(async (name: string, snapshotId: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      // A new sandbox has a new WireGuard port and keys: the old config no longer works.
      await reportNewConfig(command, await Workspaces.restore(name, snapshotId, ctx.sdk()));
    });
}
