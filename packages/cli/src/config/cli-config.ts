import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError, EXIT } from "../exit-codes.js";
import { configFile, localApiUrl, localDataDir } from "./config-paths.js";
import { serversOf } from "./known-servers.js";
import { runningLocalStack } from "./stack-state-file.js";
import { readTomlFile, rejectUnknownKeys } from "./toml-file.js";

export interface GlobalFlags {
  apiUrl?: string;
  apiKey?: string;
}

export interface CliConfig {
  apiUrl: string;
  /** Where the URL came from ("--api-url", "WRENN_API_URL", a file, the local stack). */
  urlSource: string;
  /** Undefined when no source had one: commands that need it say how to get one. */
  apiKey: string | undefined;
  /** Where the key came from, for error messages. */
  keySource: string;
}

/**
 * Flags, then WRENN_API_URL / WRENN_API_KEY, then ~/.config/wrenn/config.toml (its
 * default_host's [hosts.NAME], else api_url, api_key), then the local stack: its address and the admin key it keeps in its data dir,
 * so that after `wrenn up` every command works with no setup.
 */
export async function resolveConfig(
  flags: GlobalFlags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliConfig> {
  const path = configFile(env);
  const file = (await readTomlFile(path)) ?? {};
  rejectUnknownKeys(path, file, ["api_url", "api_key", "hosts", "default_host"]);
  for (const key of ["api_url", "api_key"]) {
    if (file[key] !== undefined && typeof file[key] !== "string") {
      throw new CliError(`${path}: ${key} must be a string`, EXIT.usage);
    }
  }
  // The default of the servers `wrenn ws host` keeps: after the flags and the environment.
  const known = serversOf(path, file);
  const host = known.servers.find((s) => s.name === known.defaultName);
  if (host && !flags.apiUrl && !env.WRENN_API_URL) {
    const source = `${path} [hosts.${host.name}]`;
    const url = { apiUrl: host.apiUrl, urlSource: source };
    if (flags.apiKey) return { ...url, apiKey: flags.apiKey, keySource: "--api-key" };
    if (env.WRENN_API_KEY) return { ...url, apiKey: env.WRENN_API_KEY, keySource: "WRENN_API_KEY" };
    return host.apiKey
      ? { ...url, apiKey: host.apiKey, keySource: source }
      : { ...url, apiKey: undefined, keySource: "none" };
  }
  const stack = await runningLocalStack(env);
  const [apiUrl, urlSource] = flags.apiUrl
    ? [flags.apiUrl, "--api-url"]
    : env.WRENN_API_URL
      ? [env.WRENN_API_URL, "WRENN_API_URL"]
      : file.api_url
        ? [file.api_url as string, path]
        : stack
          ? [stack.url, `the local stack running from ${stack.dataDir}`]
          : [
              localApiUrl(env),
              `the default local address (no stack runs from ${localDataDir(env)})`,
            ];
  const url = { apiUrl, urlSource };
  if (flags.apiKey) return { ...url, apiKey: flags.apiKey, keySource: "--api-key" };
  if (env.WRENN_API_KEY) return { ...url, apiKey: env.WRENN_API_KEY, keySource: "WRENN_API_KEY" };
  if (file.api_key) return { ...url, apiKey: file.api_key as string, keySource: path };
  // The local admin key only goes to the local stack, never to a server named elsewhere.
  const named = flags.apiUrl || env.WRENN_API_URL || file.api_url;
  if (named && !(stack && sameServer(apiUrl, stack.url)))
    return { ...url, apiKey: undefined, keySource: "none" };
  const keyFile = stack?.keyFile ?? join(localDataDir(env), "admin-api-key");
  const kept = (await readFile(keyFile, "utf8").catch(() => "")).trim();
  return kept
    ? { ...url, apiKey: kept, keySource: keyFile }
    : { ...url, apiKey: undefined, keySource: "none" };
}

function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

export function requireKey(config: CliConfig): string {
  if (!config.apiKey) {
    throw new CliError(
      `no API key for ${config.apiUrl} (from ${config.urlSource}): pass --api-key, set WRENN_API_KEY or api_key in ~/.config/wrenn/config.toml (\`npm start\` and \`wrenn up\` print the local admin key)`,
      EXIT.auth,
    );
  }
  return config.apiKey;
}
