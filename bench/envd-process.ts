// Starts the built envd bundle on a free loopback port for a benchmark, like the tests do.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const bundle = join(dirname(fileURLToPath(import.meta.url)), "..", "apps/envd/dist/envd.mjs");

export interface BenchEnvd {
  url: string;
  child: ChildProcess;
  stop(): void;
}

export async function startBenchEnvd(): Promise<BenchEnvd> {
  if (!existsSync(bundle)) throw new Error(`${bundle} missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [bundle, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, WRENN_ENVD_LOG_LEVEL: "warn" },
  });
  // With logging at warn the start line is not printed: find the port from /proc instead.
  const port = await new Promise<number>((resolve, reject) => {
    const stopAt = Date.now() + 20_000;
    const poll = async () => {
      const { readFileSync, readdirSync, readlinkSync } = await import("node:fs");
      const inodes = new Set<string>();
      try {
        for (const fd of readdirSync(`/proc/${child.pid}/fd`)) {
          const link = readlinkSync(`/proc/${child.pid}/fd/${fd}`);
          const m = /^socket:\[(\d+)\]$/.exec(link);
          if (m?.[1]) inodes.add(m[1]);
        }
        for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
          const f = line.trim().split(/\s+/);
          if (f[3] === "0A" && f[9] && inodes.has(f[9])) {
            resolve(Number.parseInt(f[1]?.split(":")[1] ?? "0", 16));
            return;
          }
        }
      } catch {
        // not up yet
      }
      if (Date.now() > stopAt) reject(new Error("envd did not start"));
      else setTimeout(poll, 50);
    };
    void poll();
  });
  return { url: `http://127.0.0.1:${port}`, child, stop: () => child.kill("SIGTERM") };
}
