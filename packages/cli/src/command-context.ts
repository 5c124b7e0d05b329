import { type ConnectionOpts, WrennClient } from "@wrenn/sdk";
import type { Command } from "commander";
import { type CliConfig, requireKey, resolveConfig } from "./config/cli-config.js";

/**
 * What a command needs to talk to Wrenn, resolved from its flags, the env and config files.
 * Every API call goes through @wrenn/sdk: `client()` for the /v1 routes (keys, hosts,
 * templates, sandbox records and events), `sdk()` for `Sandbox.*`.
 */
export interface CommandContext {
  config: CliConfig;
  /** The SDK's /v1 client (the key is checked here, with the CLI's own message). */
  client(): WrennClient;
  /** Options for @wrenn/sdk calls (the key is checked here, with the CLI's own message). */
  sdk(): ConnectionOpts;
}

/** The last context made, so main() can name the API URL in an "unreachable" error. */
export let lastContext: CommandContext | undefined;

export async function contextOf(command: Command): Promise<CommandContext> {
  const flags = command.optsWithGlobals<{ apiUrl?: string; apiKey?: string }>();
  const config = await resolveConfig({ apiUrl: flags.apiUrl, apiKey: flags.apiKey });
  let client: WrennClient | undefined;
  const context: CommandContext = {
    config,
    client: () => {
      client ??= new WrennClient(context.sdk());
      return client;
    },
    sdk: () => ({ apiUrl: config.apiUrl, apiKey: requireKey(config) }),
  };
  lastContext = context;
  return context;
}

/** `--json` of the command or of a parent. */
export function wantsJson(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json);
}
