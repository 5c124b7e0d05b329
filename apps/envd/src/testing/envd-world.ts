import { type ChildProcess, execFile } from "node:child_process";

// Where an envd under test runs, and what a test may do there beside envd (never through it):
// run a shell command as root, create files, look at processes and TCP endpoints. On the
// host that is the host; in gVisor mode it is the sandbox, reached with `runsc exec`, so a
// test checks envd's work with an independent tool in envd's own world.

export type EnvdMode = "host" | "gvisor";

/** `WRENN_ENVD_TARGET=gvisor` runs the envd suites against envd inside a gVisor sandbox. */
export const ENVD_MODE: EnvdMode = process.env.WRENN_ENVD_TARGET === "gvisor" ? "gvisor" : "host";
export const IN_GVISOR = ENVD_MODE === "gvisor";

export interface ShellResult {
  stdout: Buffer;
  stderr: string;
  exitCode: number;
}

/** An envd under test, wherever it runs. */
export interface RunningEnvd {
  /** Base URL, e.g. http://127.0.0.1:41234 or http://10.224.0.6:49983. */
  url: string;
  /** Address and port for raw TCP. */
  host: string;
  port: number;
  /** Its pid in its own world (the sandbox's pid namespace in gVisor mode). */
  pid: number;
  /** The user processes and relative paths default to, and that user's home. */
  defaultUser: string;
  home: string;
  /** Everything envd has logged so far (JSON lines). */
  logs(): Promise<string>;
  /** Delivers a signal to envd the way its supervisor would (runsc kill in gVisor). */
  signal(signal: NodeJS.Signals): Promise<void>;
  alive(): Promise<boolean>;
  stop(): Promise<void>;
}

export interface ProcessRow {
  pid: number;
  pgid: number;
  sid: number;
  state: string;
}

/** The single quotes of a POSIX shell, for any string. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

export function execFileResult(
  file: string,
  args: string[],
  timeoutMs = 60_000,
): Promise<ShellResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { encoding: "buffer", maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = (error as (Error & { code?: unknown }) | null)?.code;
        if (error && typeof code !== "number") {
          reject(new Error(`${file} ${args.join(" ")}: ${error.message}\n${stderr.toString()}`));
          return;
        }
        resolve({ stdout, stderr: stderr.toString(), exitCode: error ? (code as number) : 0 });
      },
    );
  });
}

/** Waits until a spawned child has exited (already exited is fine). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export abstract class EnvdWorld {
  abstract readonly mode: EnvdMode;
  /** Where scratch directories go: on disk (not a tmpfs, which is memory in a sandbox). */
  protected readonly scratchRoot: string = "/var/tmp";
  protected readonly scratch: string[] = [];
  protected readonly spawned: RunningEnvd[] = [];

  /** Runs `/bin/sh -c command` as root in envd's world; never throws on a non-zero exit. */
  abstract sh(command: string, timeoutMs?: number): Promise<ShellResult>;

  /** Starts another envd in this world, one nobody has called /init on (default user root). */
  abstract spawnEnvd(env?: Record<string, string>): Promise<RunningEnvd>;

  /** Stops what the world started: spawned envds, scratch directories, the sandbox. */
  abstract close(): Promise<void>;

  /** Like sh, but the stdout as text, and a non-zero exit is an error. */
  async run(command: string, timeoutMs?: number): Promise<string> {
    const result = await this.sh(command, timeoutMs);
    if (result.exitCode !== 0) {
      throw new Error(
        `[${this.mode}] \`${command}\` exited ${result.exitCode}: ${result.stderr.trim()}`,
      );
    }
    return result.stdout.toString("utf8");
  }

  /** A new empty directory owned by `owner` (the envd's default user, usually). */
  async scratchDir(prefix: string, owner = "root"): Promise<string> {
    const dir = (
      await this.run(
        `d=$(mktemp -d ${shellQuote(`${this.scratchRoot}/${prefix}XXXXXX`)}) && chown ${shellQuote(owner)}: "$d" && echo "$d"`,
      )
    ).trim();
    this.scratch.push(dir);
    return dir;
  }

  protected async removeScratch(): Promise<void> {
    if (this.scratch.length === 0) return;
    await this.sh(`rm -rf ${this.scratch.map(shellQuote).join(" ")}`);
    this.scratch.length = 0;
  }

  async readFile(path: string): Promise<Buffer> {
    const result = await this.sh(`cat -- ${shellQuote(path)}`);
    if (result.exitCode !== 0) throw new Error(`[${this.mode}] cat ${path}: ${result.stderr}`);
    return result.stdout;
  }

  async readText(path: string): Promise<string> {
    return (await this.readFile(path)).toString("utf8");
  }

  /** Writes a file as root (parent directories must exist), optionally with a mode. */
  async writeFile(path: string, content: string, mode?: number): Promise<void> {
    const b64 = Buffer.from(content).toString("base64");
    const chmod = mode === undefined ? "" : ` && chmod ${mode.toString(8)} -- ${shellQuote(path)}`;
    await this.run(`printf %s ${shellQuote(b64)} | base64 -d > ${shellQuote(path)}${chmod}`);
  }

  async symlink(target: string, path: string): Promise<void> {
    await this.run(`ln -s -- ${shellQuote(target)} ${shellQuote(path)}`);
  }

  async remove(path: string): Promise<void> {
    await this.run(`rm -rf -- ${shellQuote(path)}`);
  }

  /** lstat-like facts about a path, or undefined when it does not exist. */
  async stat(path: string): Promise<
    | {
        uid: number;
        gid: number;
        owner: string;
        size: number;
        mode: number;
        isDirectory: boolean;
        isFile: boolean;
      }
    | undefined
  > {
    const result = await this.sh(`stat -c '%u %g %U %s %a %F' -- ${shellQuote(path)}`);
    if (result.exitCode !== 0) return undefined;
    const [uid, gid, owner, size, mode, ...type] = result.stdout.toString().trim().split(" ");
    const kind = type.join(" ");
    return {
      uid: Number(uid),
      gid: Number(gid),
      owner: owner ?? "",
      size: Number(size),
      mode: Number.parseInt(mode ?? "0", 8),
      isDirectory: kind === "directory",
      isFile: kind.startsWith("regular"),
    };
  }

  /** Every process of this world, from /proc (zombies included, as kill(pid, 0) sees them). */
  async processes(): Promise<ProcessRow[]> {
    // One line per process (a process may exit while cat reads: its file is just missing).
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const out = (
      await this.sh(`cat /proc/[0-9]*/stat 2>/dev/null | sed -e 's/^\\([0-9]*\\) (.*) /\\1 /'`)
    ).stdout.toString();
    const rows: ProcessRow[] = [];
    for (const line of out.split("\n")) {
      const fields = line.trim().split(" ");
      if (fields.length < 5 || !/^\d+$/.test(fields[0] ?? "")) continue;
      // pid state ppid pgrp session ...
      rows.push({
        pid: Number(fields[0]),
        state: fields[1] ?? "",
        pgid: Number(fields[3]),
        sid: Number(fields[4]),
      });
    }
    return rows;
  }

  async sessionMembers(sid: number): Promise<number[]> {
    return (await this.processes()).filter((p) => p.sid === sid).map((p) => p.pid);
  }

  async processAlive(pid: number): Promise<boolean> {
    return (await this.sh(`test -d /proc/${pid}`)).exitCode === 0;
  }

  /** /proc/<pid>/status of a process of this world, as text. */
  async procStatus(pid: number): Promise<string> {
    return this.readText(`/proc/${pid}/status`);
  }

  /** TCP endpoints (any state) whose local port is `port`, from this world's /proc/net. */
  async tcpEndpoints(port: number): Promise<string[]> {
    const hex = port.toString(16).toUpperCase().padStart(4, "0");
    const text = (await this.sh("cat /proc/net/tcp /proc/net/tcp6 2>/dev/null")).stdout.toString();
    const found: string[] = [];
    for (const line of text.split("\n")) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hex}`)) {
        found.push(`${fields[1]}->${fields[2]} state=${fields[3]}`);
      }
    }
    return found;
  }
}
