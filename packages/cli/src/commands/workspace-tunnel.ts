import { execFile } from "node:child_process";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { wgQuickConfig, wgQuickFileName } from "@wrenn/contract";
import { type CreatedWorkspaceInfo, type WorkspaceClientConfig, Workspaces } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { configDir } from "../config/config-paths.js";
import { CliError } from "../exit-codes.js";
import { printJson } from "../output/table.js";

const run = promisify(execFile);

/** Where the CLI keeps a workspace's wg-quick config. */
export function tunnelConfigPath(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(configDir(env), "wireguard", wgQuickFileName(name));
}

/** Writes it 0600 in a 0700 directory (it holds the private key). Returns its path. */
export async function saveTunnelConfig(c: WorkspaceClientConfig): Promise<string> {
  const file = tunnelConfigPath(c.name);
  await mkdir(join(configDir(), "wireguard"), { recursive: true, mode: 0o700 });
  await rm(file, { force: true });
  await writeFile(file, wgQuickConfig(c), { mode: 0o600 });
  return file;
}

/**
 * After a change that gave the workspace a new WireGuard endpoint (restore, move): its new
 * config is saved over the old one, which no longer works, and the workspace is printed.
 */
export async function reportNewConfig(command: Command, w: CreatedWorkspaceInfo): Promise<void> {
  const file = await saveTunnelConfig(w.clientConfig);
  if (wantsJson(command)) return printJson(w);
  process.stdout.write(`${w.name} ${w.state}\n`);
  process.stderr.write(
    `WireGuard config: ${file}, endpoint ${w.clientConfig.endpoint} (wrenn ws down ${w.name} && wrenn ws up ${w.name} if its tunnel was up)\n`,
  );
}

const exists = (file: string) =>
  stat(file).then(
    () => true,
    () => false,
  );

/** Root on Linux with wg-quick and wireguard-go: the CLI can bring the tunnel up itself. */
async function canBringUp(): Promise<boolean> {
  if (process.platform !== "linux" || process.getuid?.() !== 0) return false;
  const found = async (program: string) =>
    run("sh", ["-c", `command -v ${program}`]).then(
      () => true,
      () => false,
    );
  return (await found("wg-quick")) && (await found("wireguard-go"));
}

/** wireguard-go when the kernel has no WireGuard module (gVisor hosts, containers). */
const WG_QUICK_ENV = { ...process.env, WG_QUICK_USERSPACE_IMPLEMENTATION: "wireguard-go" };

async function wgQuick(action: "up" | "down", file: string): Promise<void> {
  try {
    await run("wg-quick", [action, file], { env: WG_QUICK_ENV });
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr?.trim() || String(error);
    throw new CliError(`wg-quick ${action} ${file} failed: ${detail}`);
  }
}

/** `wrenn workspace rotate|up|down NAME`: the WireGuard tunnel of a workspace. */
export function registerWorkspaceTunnel(workspace: Command): void {
  workspace
    .command("rotate <name>")
    .description(
      "New WireGuard keys for a workspace (same port); the old config stops working, the new one is saved",
    )
    .option("--json", "print the new client config (private key included) as JSON")
    .action(async (name: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      const config = await Workspaces.rotate(name, ctx.sdk());
      const file = await saveTunnelConfig(config);
      if (wantsJson(command)) return printJson(config);
      process.stdout.write(`${file}\n`);
    });

  workspace
    .command("up <name>")
    .description(
      "Bring up the WireGuard tunnel to a workspace (root on Linux), else print its wg-quick config's path",
    )
    .action(async (name: string, _o, command: Command) => {
      let file = tunnelConfigPath(name);
      if (!(await exists(file))) {
        // The private key was given once, at create: without the file only new keys help.
        const ctx = await contextOf(command);
        process.stderr.write(
          `no saved config for ${name}: rotating its keys (older configs stop working)\n`,
        );
        file = await saveTunnelConfig(await Workspaces.rotate(name, ctx.sdk()));
      }
      if (!(await canBringUp())) {
        process.stdout.write(
          `${file}\nImport this file in the WireGuard app ("Import tunnel(s) from file"), or as root: wg-quick up ${file}\nThe workspace is then at 10.10.0.2 (any port it listens on).\n`,
        );
        return;
      }
      await wgQuick("up", file);
      process.stdout.write(`tunnel to ${name} up: the workspace is at 10.10.0.2\n`);
    });

  workspace
    .command("down <name>")
    .description("Take the WireGuard tunnel to a workspace down (its config file stays)")
    .action(async (name: string) => {
      const file = tunnelConfigPath(name);
      if (!(await canBringUp())) {
        process.stdout.write(
          `Deactivate the tunnel in the WireGuard app, or as root: wg-quick down ${file}\n`,
        );
        return;
      }
      await wgQuick("down", file);
      process.stdout.write(`tunnel to ${name} down\n`);
    });
}
