// The managed block `wrenn code NAME` keeps in ~/.ssh/config: `Host NAME.wrenn` with the
// ProxyCommand that reaches the workspace through the control plane. Only its own block is
// ever rewritten; every other byte of the file, and its mode, stay as they were.
import { chmod, mkdir, readFile, realpath, rename, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { checkWorkspaceName, SSH_HOST_SUFFIX, SSH_USER } from "@wrenn/contract";
import { usageError } from "../exit-codes.js";

const begin = (host: string) => `# >>> wrenn ${host}`;
const end = (host: string) => `# <<< wrenn ${host}`;

/**
 * The workspace name checked by the contract's rule before it goes into `Host`, the markers or
 * ssh's argv (a newline or a space there would write other ssh directives).
 */
export function sshWorkspaceName(name: unknown): string {
  try {
    return checkWorkspaceName(name);
  } catch (error) {
    throw usageError(`invalid workspace name: ${(error as Error).message}`);
  }
}

/** A word for /bin/sh (ssh runs ProxyCommand with the user's shell), `%` kept from ssh's tokens. */
export function shellWord(word: string): string {
  const quoted = /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
  return quoted.replace(/%/g, "%%");
}

/** The ProxyCommand line: this very CLI, by absolute path, in --stdio mode. */
export function proxyCommand(cli: string[], name: string, apiUrl?: string): string {
  const words = [...cli, ...(apiUrl ? ["--api-url", apiUrl] : []), "ssh", "--stdio", name];
  return words.map(shellWord).join(" ");
}

/** How the running CLI is started again by absolute paths (node, then its script). */
export function runningCli(): string[] {
  const script = process.argv[1];
  return script ? [process.execPath, path.resolve(script)] : [process.execPath];
}

/**
 * How ssh checks a workspace's host key: in Wrenn's known_hosts file (`file`, as an ssh_config
 * value: sshConfigPath's) under `NAME.wrenn`, held to the key the control plane gave (`pinned`)
 * or, when it had none, learnt at the first connection and held to from then on.
 */
export interface HostKeyCheck {
  file: string;
  pinned: boolean;
}

/** The ssh options of a HostKeyCheck, as `Option value` pairs. */
export function hostKeyOptions(name: string, check: HostKeyCheck): [string, string][] {
  return [
    ["HostKeyAlias", `${sshWorkspaceName(name)}${SSH_HOST_SUFFIX}`],
    ["UserKnownHostsFile", check.file],
    ["StrictHostKeyChecking", check.pinned ? "yes" : "accept-new"],
  ];
}

/**
 * `credential`: where the ProxyCommand finds its API key when ssh (VS Code's) runs it, said in a
 * comment line. The key itself is never written here.
 */
export function sshBlock(
  name: string,
  command: string,
  extra: { credential?: string; hostKey?: HostKeyCheck } = {},
): string {
  const host = `${sshWorkspaceName(name)}${SSH_HOST_SUFFIX}`;
  const hostKey = extra.hostKey
    ? hostKeyOptions(name, extra.hostKey).map(([option, value]) => `  ${option} ${value}`)
    : [`  HostKeyAlias ${host}`, "  StrictHostKeyChecking accept-new"];
  return [
    begin(host),
    ...(extra.credential === undefined
      ? []
      : [`# API key: ${extra.credential.replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, "?")}`]),
    `Host ${host}`,
    `  User ${SSH_USER}`,
    ...hostKey,
    `  ProxyCommand ${command}`,
    end(host),
    "",
  ].join("\n");
}

/**
 * The file's text with the workspace's block in place: replaced where it was (every copy of
 * it, should there be several, collapses into the first), appended otherwise. A begin marker
 * without its end marker (edited by hand) loses only that marker line: what follows it is the
 * user's and stays.
 */
export function withSshBlock(text: string, name: string, block: string): string {
  const host = `${sshWorkspaceName(name)}${SSH_HOST_SUFFIX}`;
  const lines = text.split(/(?<=\n)/);
  const out: string[] = [];
  let inside = false;
  let placed = false;
  let skipped: string[] = [];
  for (const line of lines) {
    const bare = line.replace(/\r?\n$/, "");
    if (!inside && bare === begin(host)) {
      inside = true;
      skipped = [];
      if (!placed) out.push(block);
      placed = true;
      continue;
    }
    if (inside) {
      if (bare === end(host)) inside = false;
      else skipped.push(line);
      continue;
    }
    out.push(line);
  }
  if (inside) out.push(...skipped);
  if (placed) return out.join("");
  const body = out.join("");
  const separator = body === "" || body.endsWith("\n") ? "" : "\n";
  return `${body}${separator}${body === "" ? "" : "\n"}${block}`;
}

/**
 * Writes the block into `file` (created 0600 in a 0700 directory when missing). A symlinked
 * file is written where it points, so the link stays a link.
 */
export async function writeSshBlock(given: string, name: string, block: string): Promise<void> {
  sshWorkspaceName(name);
  const file = await realpath(given).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return given;
    throw error;
  });
  let text = "";
  let mode = 0o600;
  try {
    text = await readFile(file, "utf8");
    mode = (await stat(file)).mode & 0o7777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  }
  const next = withSshBlock(text, name, block);
  if (next === text) return;
  // Written beside it and renamed over it: ssh never reads half a file.
  const temp = `${file}.wrenn-${process.pid}`;
  await writeFile(temp, next, { mode });
  await chmod(temp, mode);
  await rename(temp, file);
}
