// Wrenn's own known_hosts file: the host key of each workspace as the control plane knows it
// (read from the workspace's own disk), under `NAME.wrenn`. `wrenn ssh` and `wrenn code` write
// it before ssh runs, and their ssh settings hold ssh to it (StrictHostKeyChecking yes), so a
// key other than the workspace's is refused by ssh itself. The user's ~/.ssh/known_hosts is
// never touched.
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { isSshHostKey, SSH_HOST_SUFFIX } from "@wrenn/contract";
import { configDir } from "../config/config-paths.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { sshWorkspaceName } from "./ssh-config.js";

/** $XDG_CONFIG_HOME/wrenn/known_hosts (beside the CLI's config.toml). */
export const knownHostsFile = (env: NodeJS.ProcessEnv = process.env) =>
  path.join(configDir(env), "known_hosts");

/** The name ssh files a workspace's host key under (its HostKeyAlias): `NAME.wrenn`. */
export const sshHostKeyAlias = (name: string) => `${sshWorkspaceName(name)}${SSH_HOST_SUFFIX}`;

/**
 * A file path as an ssh_config value (also in `-o`): quoted (a space would end it) with ssh's
 * `%` tokens kept out. A path with a quote or a line break cannot be said there.
 */
export function sshConfigPath(file: string): string {
  if (/["\p{Cc}]/u.test(file)) {
    throw usageError(`${JSON.stringify(file)} cannot be named in an ssh config; use another path`);
  }
  return `"${file.replace(/%/g, "%%")}"`;
}

/**
 * The file's text with `alias`'s line set to `key` (dropped when the key is unknown: ssh then
 * learns it at the first connection); every other line kept as it was.
 */
export function withKnownHost(text: string, alias: string, key: string | null): string {
  if (key !== null && !isSshHostKey(key)) {
    throw new CliError(
      `the server sent a host key that is not an ed25519 key (${JSON.stringify(String(key).slice(0, 40))}); nothing was written`,
      EXIT.error,
    );
  }
  const kept = text
    .split("\n")
    .filter((line) => line !== "" && line.split(" ")[0] !== alias)
    .map((line) => `${line}\n`);
  return [...kept, ...(key === null ? [] : [`${alias} ${key}\n`])].join("");
}

/** Writes the workspace's entry (0600 in a 0700 directory), renamed into place whole. */
export async function pinHostKey(
  file: string,
  name: string,
  key: string | null,
): Promise<{ alias: string; pinned: boolean }> {
  const alias = sshHostKeyAlias(name);
  let text = "";
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  }
  const next = withKnownHost(text, alias, key);
  if (next !== text) {
    const temp = `${file}.wrenn-${process.pid}`;
    await writeFile(temp, next, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, file);
  }
  return { alias, pinned: key !== null };
}
