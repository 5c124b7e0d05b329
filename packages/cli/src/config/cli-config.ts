import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError, EXIT } from "../exit-codes.js";
import { configFile, localApiUrl, localDataDir } from "./config-paths.js";
import { readTomlFile, rejectUnknownKeys } from "./toml-file.js";

export interface GlobalFlags {
  apiUrl?: string;
  apiKey?: string;
}

export interface CliConfig {
  apiUrl: string;
  /** Undefined when no source had one: commands that need it say how to get one. */
  apiKey: string | undefined;
  /** Where the key came from, for error messages. */
  keySource: string;
}

/**
 * Flags, then WRENN_API_URL / WRENN_API_KEY, then ~/.config/wrenn/config.toml (api_url,
 * api_key), then the local stack: its address and the admin key it keeps in its data dir,
 * so that after `wrenn up` every command works with no setup.
 */
export async function resolveConfig(
  flags: GlobalFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliConfig> {
  const path = configFile(env);
  const file = (await readTomlFile(path)) ?? {};
  rejectUnknownKeys(path, file, ["api_url", "api_key"]);
  for (const key of ["api_url", "api_key"]) {
    if (file[key] !== undefined && typeof file[key] !== "string") {
      throw new CliError(`${path}: ${key} must be a string`, EXIT.usage);
    }
  }
  const apiUrl =
    flags.apiUrl || env.WRENN_API_URL || (file.api_url as string | undefined) || localApiUrl(env);
  if (flags.apiKey) return { apiUrl, apiKey: flags.apiKey, keySource: "--api-key" };
  if (env.WRENN_API_KEY) return { apiUrl, apiKey: env.WRENN_API_KEY, keySource: "WRENN_API_KEY" };
  if (file.api_key) return { apiUrl, apiKey: file.api_key as string, keySource: path };
  const keyFile = join(localDataDir(env), "admin-api-key");
  const kept = (await readFile(keyFile, "utf8").catch(() => "")).trim();
  return kept
    ? { apiUrl, apiKey: kept, keySource: keyFile }
    : { apiUrl, apiKey: undefined, keySource: "none" };
}

export function requireKey(config: CliConfig): string {
  if (!config.apiKey) {
    throw new CliError(
      "no API key: pass --api-key, set WRENN_API_KEY or api_key in ~/.config/wrenn/config.toml (`wrenn up` prints the local admin key)",
      EXIT.auth,
    );
  }
  return config.apiKey;
}
