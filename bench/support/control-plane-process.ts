import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { TEST_ADMIN_KEY } from "@wrenn/control-plane/testing";

// As in production, wrenn-cp runs as its own process: in the benchmark's, it would share an
// event loop with the benchmark's client, which the floors do not.
const main = fileURLToPath(new URL("../../apps/control-plane/dist/main.js", import.meta.url));

export interface ControlPlaneProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts wrenn-cp on a free port with TEST_ADMIN_KEY as its first admin key. */
export async function startControlPlaneProcess(
  dataDir: string,
  agentUrl: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ControlPlaneProcess> {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      WRENN_LISTEN: "127.0.0.1:0",
      WRENN_DATA_DIR: dataDir,
      WRENN_API_KEY: TEST_ADMIN_KEY,
      WRENN_AGENT_URL: agentUrl,
      WRENN_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      const match = /Wrenn control plane: (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.once("exit", (code) => reject(new Error(`wrenn-cp exited (${code}):\n${out}`)));
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}
