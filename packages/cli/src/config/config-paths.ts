import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** $XDG_CONFIG_HOME/wrenn, else ~/.config/wrenn. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(base, "wrenn");
}

export const configFile = (env: NodeJS.ProcessEnv = process.env) =>
  join(configDir(env), "config.toml");

export const profilesDir = (env: NodeJS.ProcessEnv = process.env) =>
  join(configDir(env), "profiles");

/**
 * The repository this CLI was built in (packages/cli/dist/config/ → the root): `wrenn up` and
 * `wrenn template` run programs that live beside it, as `npm start` does.
 */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** Where the local stack keeps everything, as bin/start.mjs decides it. */
export function localDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.WRENN_DATA_DIR || join(REPO_ROOT, ".wrenn"));
}

/** The local stack's API address (WRENN_LISTEN, as the control plane reads it). */
export function localApiUrl(env: NodeJS.ProcessEnv = process.env): string {
  const listen = env.WRENN_LISTEN || "127.0.0.1:3000";
  const hostPort = listen.includes(":") ? listen : `127.0.0.1:${listen}`;
  return `http://${hostPort.replace(/^0\.0\.0\.0:/, "127.0.0.1:")}`;
}
