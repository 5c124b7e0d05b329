// The Wrenn servers the CLI knows (`wrenn ws host add|rm|ls|default`): kept in the CLI's own
// config.toml as [hosts.NAME] tables (api_url, api_key) and default_host, beside api_url and
// api_key. The default one is used when neither a flag nor the environment names a server.
import { mkdir, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { stringify } from "smol-toml";
import { usageError } from "../exit-codes.js";
import { configFile } from "./config-paths.js";
import { readTomlFile } from "./toml-file.js";

export interface KnownServer {
  name: string;
  apiUrl: string;
  apiKey: string | undefined;
}

export interface KnownServers {
  servers: KnownServer[];
  defaultName: string | undefined;
}

/** A server's name: a word to type (`wrenn ws host default prod`), also a TOML key. */
const NAME = /^[a-z][a-z0-9-]{0,31}$/;

export function checkServerName(name: string): string {
  if (!NAME.test(name)) {
    throw usageError(
      `host names are lower-case letters, digits and dashes, starting with a letter; got ${JSON.stringify(name)}`,
    );
  }
  return name;
}

export function checkServerUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(
      `${JSON.stringify(url)} is not a URL; give one like https://wrenn.example.com`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw usageError(`a Wrenn server's URL is http:// or https://, not ${parsed.protocol}`);
  }
  return url.replace(/\/+$/, "");
}

/** The config file's hosts and default, checked (a broken one names the file and the key). */
export function serversOf(path: string, file: Record<string, unknown>): KnownServers {
  const hosts = file.hosts ?? {};
  if (hosts === null || typeof hosts !== "object" || Array.isArray(hosts)) {
    throw usageError(`${path}: hosts must be a table of [hosts.NAME] tables`);
  }
  const servers: KnownServer[] = [];
  for (const [name, value] of Object.entries(hosts as Record<string, unknown>)) {
    const entry = value as Record<string, unknown>;
    if (!NAME.test(name) || entry === null || typeof entry !== "object") {
      throw usageError(`${path}: hosts.${name} must be a table named by a host name`);
    }
    for (const key of Object.keys(entry)) {
      if (key !== "api_url" && key !== "api_key") {
        throw usageError(`${path}: hosts.${name} has an unknown key ${JSON.stringify(key)}`);
      }
    }
    if (typeof entry.api_url !== "string") {
      throw usageError(`${path}: hosts.${name}.api_url must be a string`);
    }
    if (entry.api_key !== undefined && typeof entry.api_key !== "string") {
      throw usageError(`${path}: hosts.${name}.api_key must be a string`);
    }
    servers.push({ name, apiUrl: entry.api_url, apiKey: entry.api_key as string | undefined });
  }
  const defaultName = file.default_host;
  if (defaultName !== undefined) {
    if (typeof defaultName !== "string" || !servers.some((s) => s.name === defaultName)) {
      throw usageError(`${path}: default_host must name one of its [hosts.NAME] tables`);
    }
  }
  return { servers, defaultName: defaultName as string | undefined };
}

export async function readKnownServers(
  env: NodeJS.ProcessEnv = process.env,
): Promise<KnownServers & { path: string }> {
  const path = configFile(env);
  return { ...serversOf(path, (await readTomlFile(path)) ?? {}), path };
}

/**
 * Rewrites config.toml with `servers` and `defaultName`, keeping its other keys (its comments
 * are not kept). 0600, written beside it and renamed: it holds API keys.
 */
export async function writeKnownServers(
  servers: KnownServers,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = configFile(env);
  const file = (await readTomlFile(path)) ?? {};
  const { hosts: _, default_host: __, ...rest } = file;
  const next: Record<string, unknown> = { ...rest };
  if (servers.defaultName) next.default_host = servers.defaultName;
  if (servers.servers.length) {
    next.hosts = Object.fromEntries(
      servers.servers.map((s) => [
        s.name,
        { api_url: s.apiUrl, ...(s.apiKey === undefined ? {} : { api_key: s.apiKey }) },
      ]),
    );
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, stringify(next), { mode: 0o600 });
  await rename(temp, path);
  return path;
}
