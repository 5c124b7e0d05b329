import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  EnvdWorld,
  execFileResult,
  exited,
  type RunningEnvd,
  type ShellResult,
} from "./envd-world.js";

// envd on the host: the built bundle (dist/envd.mjs) on a free loopback port, as the template
// runs it, so tests exercise exactly what ships. Build first: `npm run build` (or `npm run
// bundle -w @wrenn/envd` after `npx tsc -b`).

const here = dirname(fileURLToPath(import.meta.url));
export const ENVD_BUNDLE = join(here, "..", "..", "dist", "envd.mjs");

export class HostWorld extends EnvdWorld {
  readonly mode = "host" as const;
  private home?: Promise<RootHome>;

  /**
   * The world's default user is root, whose login shell (`bash -l`, as the SDK asks) reads the
   * host's /root/.profile: whatever the machine put there (a pyenv rehash that waits 60 s on a
   * lock a killed test left behind) would become the tests' behaviour. So the world, its shell
   * and every envd it spawns share a mount namespace with an empty /root of their own; the
   * host's root home is neither read nor written.
   */
  private rootHome(): Promise<RootHome> {
    this.home ??= RootHome.open();
    return this.home;
  }

  async sh(command: string, timeoutMs?: number): Promise<ShellResult> {
    const home = await this.rootHome();
    return execFileResult("nsenter", [...home.enter(), "/bin/sh", "-c", command], timeoutMs);
  }

  async spawnEnvd(env: Record<string, string> = {}): Promise<RunningEnvd> {
    const envd = await spawnHostEnvd(env, (await this.rootHome()).enter());
    this.spawned.push(envd);
    return envd;
  }

  async close(): Promise<void> {
    await Promise.all(this.spawned.map((e) => e.stop()));
    await this.removeScratch();
    if (this.home) (await this.home).close();
  }
}

/** A mount namespace whose /root is an empty tmpfs, held open by a sleeping process. */
class RootHome {
  private constructor(private readonly holder: ChildProcess) {}

  static async open(): Promise<RootHome> {
    const holder = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        "mount -t tmpfs -o mode=0700 wrenn-envd-test-root /root && echo ready && exec sleep infinity",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    holder.stderr?.on("data", (d: Buffer) => {
      output += d.toString();
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout?.once("data", () => resolve());
      holder.once("exit", (code) =>
        reject(new Error(`could not give envd's tests their own /root (exit ${code}): ${output}`)),
      );
    });
    return new RootHome(holder);
  }

  /** nsenter's arguments that run a program in this namespace. */
  enter(): string[] {
    return ["-t", String(this.holder.pid), "-m", "--"];
  }

  close(): void {
    this.holder.kill("SIGKILL");
  }
}

async function spawnHostEnvd(env: Record<string, string>, enter: string[]): Promise<RunningEnvd> {
  if (!existsSync(ENVD_BUNDLE)) {
    throw new Error(`${ENVD_BUNDLE} is missing: run \`npm run build\` first`);
  }
  // WRENN_ENVD_NODE runs envd under another node, e.g. the sandbox's Node 18.
  const node = process.env.WRENN_ENVD_NODE || process.execPath;
  // In the world's namespace (see HostWorld.rootHome); nsenter execs, so the pid is envd's.
  const child = spawn("nsenter", [...enter, node, ENVD_BUNDLE, "--listen", "127.0.0.1:0"], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    output += d.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`envd did not start:\n${output}`)), 20_000);
    const onData = () => {
      for (const line of output.split("\n")) {
        if (!line.includes('"envd listening"')) continue;
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        resolve((JSON.parse(line) as { port: number }).port);
        return;
      }
    };
    child.stdout?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`envd exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    host: "127.0.0.1",
    port,
    pid: child.pid ?? 0,
    defaultUser: "root",
    home: "/root",
    logs: async () => output,
    signal: async (signal) => {
      child.kill(signal);
    },
    alive: async () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      await exited(child);
    },
  };
}
