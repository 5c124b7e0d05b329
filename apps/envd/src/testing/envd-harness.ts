import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Sandbox, type SandboxOpts } from "e2b";

// Runs the built bundle (dist/envd.mjs) on a free loopback port, as the template runs it, so
// tests exercise exactly what ships. Build first: `npm run build` (or `npm run bundle -w
// @wrenn/envd` after `npx tsc -b`).

const here = dirname(fileURLToPath(import.meta.url));
export const ENVD_BUNDLE = join(here, "..", "..", "dist", "envd.mjs");

export interface RunningEnvd {
  url: string;
  port: number;
  child: ChildProcess;
  logs: () => string;
  stop: () => Promise<void>;
}

export async function startEnvd(env: Record<string, string> = {}): Promise<RunningEnvd> {
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
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    child,
    logs: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** E2B's Sandbox pointed straight at an envd: no control-plane calls (sandboxUrl mode). */
class BareEnvdSandbox extends Sandbox {
  static attach(
    opts: SandboxOpts & { sandboxId: string; envdVersion: string; envdAccessToken?: string },
  ) {
    return new BareEnvdSandbox(opts as ConstructorParameters<typeof Sandbox>[0]);
  }
}

export function sdkSandbox(envd: RunningEnvd, accessToken?: string): Sandbox {
  return BareEnvdSandbox.attach({
    sandboxId: "wrenntest",
    envdVersion: "0.6.13",
    envdAccessToken: accessToken,
    sandboxUrl: envd.url,
    apiKey: "unused",
    requestTimeoutMs: 30_000,
  });
}

export async function initEnvd(
  envd: RunningEnvd,
  body: Record<string, unknown>,
  token?: string,
): Promise<Response> {
  return fetch(`${envd.url}/init`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { "x-access-token": token } : {}) },
    body: JSON.stringify(body),
  });
}
