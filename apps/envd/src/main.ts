import { parseArgs, UsageError } from "./config/args.js";
import { MetadataStore } from "./filesystem/metadata.js";
import { EnvdServer } from "./http/server.js";
import { logger } from "./log/logger.js";
import { OomGuard } from "./memory/oom-guard.js";
import { ProcessRegistry } from "./process/registry.js";
import { SandboxState } from "./state/sandbox-state.js";
import { ENVD_VERSION } from "./version.js";

async function main(): Promise<void> {
  let options: ReturnType<typeof parseArgs>;
  try {
    options = parseArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`envd: ${error.message}\nusage: envd [--listen HOST:PORT]\n`);
      process.exit(2);
    }
    throw error;
  }

  const server = new EnvdServer({
    state: new SandboxState(),
    registry: new ProcessRegistry(),
    metadata: new MetadataStore(),
    binDir: options.binDir,
    log: logger,
  });

  // Under tini as PID 1's child, envd must never die of a stray error: log it and go on.
  process.on("uncaughtException", (error) => logger.error({ err: error }, "uncaught exception"));
  process.on("unhandledRejection", (error) => logger.error({ err: error }, "unhandled rejection"));
  process.on("SIGUSR2", () => {
    server.resume().then(
      (resumed) => {
        if (!resumed) logger.info("SIGUSR2 while not quiesced: nothing to do");
      },
      (error: unknown) => logger.error({ err: error }, "cannot listen again after quiesce"),
    );
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.on(signal, () => {
      logger.info({ signal }, "shutting down");
      server.close();
      process.exit(0);
    });
  }

  // Only inside a sandbox: on a developer's machine (envd's own tests) the guard would pick
  // among the host's processes.
  if (process.env.WRENN_SANDBOX === "1")
    new OomGuard({ log: logger, binDir: options.binDir }).start();

  const port = await server.listen(options.host, options.port);
  logger.info(
    {
      version: ENVD_VERSION,
      host: options.host,
      port,
      binDir: options.binDir,
      node: process.version,
    },
    "envd listening",
  );
}

main().catch((error: unknown) => {
  logger.fatal({ err: error }, "envd failed to start");
  process.exit(1);
});
