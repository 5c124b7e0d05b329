import { Workspaces } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf } from "../command-context.js";
import { reportNewConfig } from "./workspace-tunnel.js";

/** `wrenn ws to NAME HOST`: the workspace moves to another host; its client config follows. */
export function registerWorkspaceMove(workspace: Command): void {
  workspace
    .command("to <name> <host>")
    .description(
      "Move a workspace to another host (its id, or its host name if only one host has it): paused, copied through the shared artifact store, resumed there; saves its new WireGuard config (the old one stops working)",
    )
    .option("--json", "print the workspace and its new client config as JSON")
    .action(async (name: string, host: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      await reportNewConfig(command, await Workspaces.move(name, host, ctx.sdk()));
    });
}
