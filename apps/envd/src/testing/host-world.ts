import { spawn } from "node:child_process";
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

  sh(command: string, timeoutMs?: number): Promise<ShellResult> {
    return execFileResult("/bin/sh", ["-c", command], timeoutMs);
  }

  async spawnEnvd(env: Record<string, string> = {}): Promise<RunningEnvd> {
    const envd = await spawnHostEnvd(env);
    this.spawned.push(envd);
    return envd;
  }

  async close(): Promise<void> {
    await Promise.all(this.spawned.map((e) => e.stop()));
    await this.removeScratch();
  }
}

async function spawnHostEnvd(env: Record<string, string>): Promise<RunningEnvd> {
  if (!existsSync(ENVD_BUNDLE)) {
    throw new Error(`${ENVD_BUNDLE} is missing: run \`npm run build\` first`);
  }
  // WRENN_ENVD_NODE runs envd under another node, e.g. the sandbox's Node 18.
  const node = process.env.WRENN_ENVD_NODE || process.execPath;
  const child = spawn(node, [ENVD_BUNDLE, "--listen", "127.0.0.1:0"], {
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
