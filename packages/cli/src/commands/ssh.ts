import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { isSshHostKey, SSH_HOST_KEY_HEADER, SSH_HOST_SUFFIX, SSH_USER } from "@wrenn/contract";
import {
  errorFromBody,
  type SshKeyInfo,
  SshKeys,
  Workspaces,
  workspaceSshEndpoint,
} from "@wrenn/sdk";
import type { Command } from "commander";
import WebSocket from "ws";
import { contextOf, wantsJson } from "../command-context.js";
import { resolveConfig } from "../config/cli-config.js";
import { configFile } from "../config/config-paths.js";
import { workspaceFileFor } from "../config/workspace-file.js";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { formatTable, printJson } from "../output/table.js";
import { knownHostsFile, pinHostKey, sshConfigPath } from "./known-hosts.js";
import {
  type HostKeyCheck,
  hostKeyOptions,
  proxyCommand,
  runningCli,
  sshBlock,
  sshWorkspaceName,
  writeSshBlock,
} from "./ssh-config.js";

// `wrenn ssh-key add|ls|rm`, `wrenn ssh NAME`, `wrenn ssh --stdio NAME` (the ProxyCommand)
// and `wrenn code NAME [PATH]`: SSH into a workspace over the control plane's own port, with
// the system's OpenSSH client and a key registered with Wrenn. No root, no VPN.

const DEFAULT_KEY_FILES = ["id_ed25519.pub", "id_rsa.pub"];

async function readKeyFile(file: string | undefined): Promise<{ file: string; text: string }> {
  const candidates = file
    ? [file]
    : DEFAULT_KEY_FILES.map((f) => path.join(os.homedir(), ".ssh", f));
  for (const candidate of candidates) {
    try {
      return { file: candidate, text: await readFile(candidate, "utf8") };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || file) {
        throw new CliError(`cannot read ${candidate}: ${(error as Error).message}`, EXIT.notFound);
      }
    }
  }
  throw new CliError(
    `no public key at ${candidates.join(" or ")}; make one with \`ssh-keygen -t ed25519\` or name the .pub file`,
    EXIT.notFound,
  );
}

const keyRow = (k: SshKeyInfo) => [k.id, k.name, k.type, k.fingerprint, k.createdAt.toISOString()];

/**
 * Carries stdin to the workspace's sshd and its answers to stdout, over the control plane's
 * WebSocket: OpenSSH's ProxyCommand. Nothing else is ever written to stdout.
 *
 * The upgrade's answer names the host key sshd presents on this connection; it is written to
 * Wrenn's known_hosts before the first byte of sshd's reaches ssh, which reads that file only
 * when it checks the key. So a key changed inside the workspace is pinned for this very
 * connection (`wrenn ssh`, `wrenn code`'s block), and any other key is still refused by ssh.
 */
async function stdioRelay(
  url: string,
  headers: Record<string, string>,
  name: string,
): Promise<void> {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false });
  let presented: string | undefined;
  ws.once("upgrade", (res) => {
    const key = res.headers[SSH_HOST_KEY_HEADER];
    if (isSshHostKey(key)) presented = key;
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("unexpected-response", (_req, res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.once("end", () =>
        reject(errorFromBody(res.statusCode ?? 502, Buffer.concat(chunks).toString("utf8"))),
      );
    });
    ws.once("error", reject);
    ws.once("open", () => {
      if (presented !== undefined) {
        ws.pause();
        pinHostKey(knownHostsFile(), name, presented).then(
          () => ws.resume(),
          (error: Error) => {
            // ssh then checks against what the file held: at worst it refuses, never accepts.
            process.stderr.write(`warning: could not pin ${name}'s host key: ${error.message}\n`);
            ws.resume();
          },
        );
      }
      process.stdin.on("data", (chunk: Buffer) => {
        ws.send(chunk, { binary: true });
        // Backpressure: stop reading while the socket has a lot queued.
        if (ws.bufferedAmount > 4 * 1024 * 1024) {
          process.stdin.pause();
          const wait = setInterval(() => {
            if (ws.bufferedAmount < 1024 * 1024 || ws.readyState !== WebSocket.OPEN) {
              clearInterval(wait);
              process.stdin.resume();
            }
          }, 5);
        }
      });
      process.stdin.once("end", () => ws.close(1000));
      ws.on("message", (data: Buffer) => {
        if (!process.stdout.write(data)) {
          ws.pause();
          process.stdout.once("drain", () => ws.resume());
        }
      });
      ws.once("close", () => resolve());
    });
  });
}

export function registerSsh(program: Command, dashDashArgs: () => string[] | undefined): void {
  const keys = program
    .command("ssh-key")
    .description("SSH public keys that open your workspaces (`wrenn ssh`); never a password");

  keys
    .command("add [file]")
    .description(
      `Register a public key (default: ~/.ssh/${DEFAULT_KEY_FILES.join(", then ~/.ssh/")})`,
    )
    .option("--name <name>", "a name for it (default: the key's comment)")
    .option("--json", "print the key as JSON")
    .action(async (file: string | undefined, o: { name?: string }, command: Command) => {
      const ctx = await contextOf(command);
      const { text } = await readKeyFile(file);
      const key = await SshKeys.add(text, { ...ctx.sdk(), name: o.name });
      if (wantsJson(command)) return printJson(key);
      process.stdout.write(`${key.id} ${key.fingerprint}\n`);
    });

  keys
    .command("ls")
    .alias("list")
    .description("List your SSH public keys")
    .option("--json", "print a JSON array")
    .action(async (_o, command: Command) => {
      const ctx = await contextOf(command);
      const list = await SshKeys.list(ctx.sdk());
      if (wantsJson(command)) return printJson(list);
      process.stdout.write(
        `${formatTable(["ID", "NAME", "TYPE", "FINGERPRINT", "ADDED"], list.map(keyRow))}\n`,
      );
    });

  keys
    .command("rm <id>")
    .alias("remove")
    .description("Remove an SSH public key")
    .action(async (id: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      await SshKeys.remove(id, ctx.sdk());
    });

  program
    .command("ssh <name> [command...]")
    .description("SSH into a workspace (OpenSSH through the control plane; resumes it first)")
    .option("--stdio", "relay stdin/stdout to the workspace's sshd (an ssh ProxyCommand)")
    .addHelpText(
      "after",
      `
Runs the system's ssh as ${SSH_USER}@NAME${SSH_HOST_SUFFIX} with ProxyCommand "wrenn ssh --stdio NAME", so
only the control plane's port is needed. Register your key first: wrenn ssh-key add.

Examples:
  wrenn ssh mybox
  wrenn ssh mybox -- uname -a
  ssh -o ProxyCommand="wrenn ssh --stdio mybox" ${SSH_USER}@mybox`,
    )
    .action(async (given: string, rest: string[], o: { stdio?: boolean }, command: Command) => {
      const name = sshWorkspaceName(given);
      const ctx = await contextOf(command);
      const sdk = ctx.sdk();
      if (o.stdio) {
        if (rest.length > 0) throw usageError("--stdio takes no command");
        const { url, headers } = workspaceSshEndpoint(name, sdk);
        await stdioRelay(url, headers, name);
        return;
      }
      const remote = dashDashArgs() ?? rest;
      const host = `${name}${SSH_HOST_SUFFIX}`;
      const workspace = await Workspaces.get(name, sdk);
      const hostKey = await pinned(name, workspace.sshHostKey);
      const args = [
        "-o",
        `ProxyCommand=${proxyCommand(runningCli(), name)}`,
        ...hostKeyOptions(name, hostKey).flatMap(([option, value]) => ["-o", `${option}=${value}`]),
        "-l",
        SSH_USER,
        host,
        ...(remote.length > 0 ? ["--", ...remote] : []),
      ];
      // The ProxyCommand finds the server and key in the environment, never on a command line.
      const env = { ...process.env, WRENN_API_URL: ctx.config.apiUrl, WRENN_API_KEY: sdk.apiKey };
      process.exitCode = await run("ssh", args, env);
    });

  program
    .command("code <name> [path]")
    .description("Open a workspace in VS Code (Remote - SSH), through a block in ~/.ssh/config")
    .option("-f, --file <path>", "the workspace file (default: ./wrenn-workspace.toml)")
    .action(async (given: string, target: string | undefined, o: { file?: string }, command) => {
      const name = sshWorkspaceName(given);
      // The folder: the argument, else the workspace file's editor.path, else the home directory.
      const editorPath = (await workspaceFileFor(name, o.file))?.editorPath;
      const ctx = await contextOf(command);
      const workspace = await Workspaces.get(name, ctx.sdk());
      const host = `${name}${SSH_HOST_SUFFIX}`;
      const file = path.join(os.homedir(), ".ssh", "config");
      // The block's ProxyCommand carries the server only. The key it uses is the one ssh's own
      // run of it resolves: never --api-key, and not WRENN_API_KEY (VS Code's ssh is not started
      // from this shell), so the config file's, or the local stack's.
      const { WRENN_API_KEY: _, ...withoutKey } = process.env;
      const proxied = await resolveConfig({ apiUrl: ctx.config.apiUrl }, withoutKey);
      const credential = proxied.apiKey
        ? proxied.keySource
        : `none found (set api_key in ${configFile()})`;
      await writeSshBlock(
        file,
        name,
        sshBlock(name, proxyCommand(runningCli(), name, ctx.config.apiUrl), {
          credential,
          hostKey: await pinned(name, workspace.sshHostKey),
        }),
      );
      if (proxied.apiKey !== ctx.config.apiKey) {
        const uses = proxied.apiKey
          ? `authenticates with the API key from ${proxied.keySource}`
          : "finds no API key";
        process.stderr.write(
          `warning: the ssh config block ${uses}, not the one from ${ctx.config.keySource} (ssh run by VS Code sees neither --api-key nor WRENN_API_KEY); to use that key there, set api_key in ${configFile()}\n`,
        );
      }
      const folder = target ?? editorPath ?? `/home/${SSH_USER}`;
      const args = ["--remote", `ssh-remote+${host}`, folder];
      process.stderr.write(`wrote Host ${host} in ${file}\n`);
      const code = await run("code", args, process.env).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
        process.stderr.write(
          `\`code\` is not on PATH; open the workspace with:\n  code ${args.join(" ")}\n`,
        );
        return EXIT.ok;
      });
      process.exitCode = code;
    });
}

/**
 * The workspace's host key written to Wrenn's known_hosts, as the control plane knows it ("":
 * not known yet, so ssh learns it at the first connection), and how ssh is to check it.
 */
async function pinned(name: string, key: string): Promise<HostKeyCheck> {
  const file = knownHostsFile();
  const { pinned } = await pinHostKey(file, name, key === "" ? null : key);
  if (!pinned) {
    process.stderr.write(
      `warning: Wrenn does not know workspace ${name}'s SSH host key yet; ssh learns it at this first connection\n`,
    );
  }
  return { file: sshConfigPath(file), pinned };
}

/** Runs a program on this terminal; resolves with its exit status. */
function run(program: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: "inherit", env });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  });
}
