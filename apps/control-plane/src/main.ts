#!/usr/bin/env node
// wrenn-cp: the control plane, configured from the environment (see config/config.ts).
import { ConfigError, egressLine, loadConfig } from "./config/config.js";
import { startControlPlane } from "./control-plane.js";

async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(`wrenn-cp: ${error.message}`);
      process.exit(2);
    }
    throw error;
  }
  const cp = await startControlPlane(config);
  // One write, so a reader of the pipe sees the banner whole.
  let banner =
    `\nWrenn control plane: ${cp.url}\n` +
    `Egress: ${egressLine(cp.defaultInternet)}\n` +
    `Previews: http://<port>-<sandbox id>.${cp.previewDomain}\n`;
  if (cp.bootstrapApiKey) {
    // Printed here, once, and never logged: only its hash is stored.
    banner +=
      `Admin API key (shown only now, store it): ${cp.bootstrapApiKey}\n` +
      `  export E2B_API_KEY=${cp.bootstrapApiKey} E2B_API_URL=${cp.url} E2B_SANDBOX_URL=${cp.url}\n`;
  }
  process.stdout.write(`${banner}\n`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write("wrenn-cp: forced exit\n");
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`wrenn-cp: ${signal}, shutting down\n`);
    await cp.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error) => {
  console.error("wrenn-cp: failed to start:", error instanceof Error ? error.message : error);
  process.exit(1);
});
