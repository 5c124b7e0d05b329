import type { ConnectionOpts } from "@wrenn/sdk";
import type { Command } from "commander";
import { WrennApi } from "./api/wrenn-api.js";
import { type CliConfig, requireKey, resolveConfig } from "./config/cli-config.js";

/** What a command needs to talk to Wrenn, resolved from its flags, the env and config files. */
export interface CommandContext {
  config: CliConfig;
  api: WrennApi;
  /** Options for @wrenn/sdk calls (the key is checked here, with the CLI's own message). */
  sdk(): ConnectionOpts;
}

/** The last context made, so main() can name the API URL in an "unreachable" error. */
export let lastContext: CommandContext | undefined;

export async function contextOf(command: Command): Promise<CommandContext> {
  const flags = command.optsWithGlobals<{ apiUrl?: string; apiKey?: string }>();
  const config = await resolveConfig({ apiUrl: flags.apiUrl, apiKey: flags.apiKey });
  lastContext = {
    config,
    api: new WrennApi(config),
    sdk: () => ({ apiUrl: config.apiUrl, apiKey: requireKey(config) }),
  };
  return lastContext;
}

/** `--json` of the command or of a parent. */
export function wantsJson(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json);
}
