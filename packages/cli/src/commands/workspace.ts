import { WORKSPACE_DEFAULTS } from "@wrenn/contract";
import { type WorkspaceInfo, Workspaces } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { workspaceFileFor } from "../config/workspace-file.js";
import { formatTable, printJson } from "../output/table.js";
import { style } from "../output/terminal-style.js";
import { positiveInt } from "./option-parsers.js";
import { registerWorkspaceHosts } from "./workspace-hosts.js";
import { registerWorkspaceLiving } from "./workspace-living.js";
import { registerWorkspaceMove } from "./workspace-move.js";
import { registerWorkspaceSnaps } from "./workspace-snaps.js";
import { registerWorkspaceTunnel, saveTunnelConfig } from "./workspace-tunnel.js";

const HEADERS = ["NAME", "STATE", "VCPU", "MEMORY MiB", "DISK GiB", "IMAGE", "ADDRESS", "CREATED"];

function row(w: WorkspaceInfo): string[] {
  const state =
    w.state === "running"
      ? style.green(w.state)
      : w.state === "stopped"
        ? style.red(w.state)
        : w.state;
  return [
    w.name,
    state,
    String(w.vcpus),
    String(w.memoryMb),
    String(w.diskGb),
    w.image,
    w.vmIp || "-",
    w.createdAt.toISOString(),
  ];
}

function print(command: Command, workspaces: WorkspaceInfo[]): void {
  if (wantsJson(command)) printJson(workspaces.length === 1 ? workspaces[0] : workspaces);
  else process.stdout.write(`${formatTable(HEADERS, workspaces.map(row))}\n`);
}

/** `wrenn workspace create|ls|get|suspend|resume|rm`: persistent sandboxes by name. */
export function registerWorkspace(program: Command): void {
  const workspace = program
    .command("workspace")
    .alias("ws")
    .description("Persistent named workspaces: no end time, suspended and resumed, never expired")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn workspace create mybox\n  wrenn ws ls\n  wrenn ws suspend mybox && wrenn ws resume mybox\n  wrenn ws up mybox    # WireGuard: the workspace at 10.10.0.2",
    );

  workspace
    .command("create <name>")
    .description(
      `Create a workspace (defaults: ${WORKSPACE_DEFAULTS.vcpus} vCPUs, ${WORKSPACE_DEFAULTS.memoryMb} MiB, ${WORKSPACE_DEFAULTS.diskGb} GiB disk)`,
    )
    .option("--image <template>", "the template it runs (default: base)")
    .option("--vcpus <n>", "vCPUs", positiveInt("--vcpus"))
    .option("--memory <mib>", "memory in MiB", positiveInt("--memory"))
    .option("--disk <gib>", "disk in GiB", positiveInt("--disk"))
    .option("-f, --file <path>", "the workspace file (default: ./wrenn-workspace.toml)")
    .option("--json", "print the workspace as JSON")
    .action(
      async (
        name: string,
        o: { image?: string; vcpus?: number; memory?: number; disk?: number; file?: string },
        command: Command,
      ) => {
        // Flags first, then this workspace's file (`wrenn ws init`), then the server's defaults.
        const declared = await workspaceFileFor(name, o.file);
        const ctx = await contextOf(command);
        const w = await Workspaces.create(name, {
          ...ctx.sdk(),
          image: o.image ?? declared?.image,
          vcpus: o.vcpus ?? declared?.vcpus,
          memoryMb: o.memory ?? declared?.memoryMb,
          diskGb: o.disk ?? declared?.diskGb,
        });
        // Its private key is given only now: kept as a wg-quick file for `wrenn ws up`.
        const file = await saveTunnelConfig(w.clientConfig);
        if (wantsJson(command)) return printJson(w);
        process.stdout.write(`${w.name}\n`);
        process.stderr.write(`WireGuard config: ${file} (wrenn ws up ${w.name})\n`);
      },
    );

  workspace
    .command("ls")
    .alias("list")
    .description("List your workspaces")
    .option("--json", "print a JSON array")
    .action(async (_o, command: Command) => {
      const ctx = await contextOf(command);
      const list = await Workspaces.list(ctx.sdk());
      if (wantsJson(command)) return printJson(list);
      process.stdout.write(`${formatTable(HEADERS, list.map(row))}\n`);
    });

  workspace
    .command("get <name>")
    .alias("info")
    .description("Show one workspace")
    .option("--json", "print it as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      print(command, [await Workspaces.get(name, ctx.sdk())]);
    });

  workspace
    .command("suspend <name>")
    .description("Suspend a workspace (its processes and memory are kept for resume)")
    .option("--json", "print it as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      print(command, [await Workspaces.suspend(name, ctx.sdk())]);
    });

  workspace
    .command("resume <name>")
    .description("Resume a suspended workspace")
    .option("--json", "print it as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      print(command, [await Workspaces.resume(name, ctx.sdk())]);
    });

  workspace
    .command("rm <name>")
    .alias("destroy")
    .description("Destroy a workspace and its disk")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      await Workspaces.destroy(name, ctx.sdk());
    });

  registerWorkspaceTunnel(workspace);
  registerWorkspaceLiving(workspace);
  registerWorkspaceHosts(workspace);
  registerWorkspaceSnaps(workspace);
  registerWorkspaceMove(workspace);
}
