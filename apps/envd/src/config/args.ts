import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENVD_PORT } from "@wrenn/contract";

export interface EnvdOptions {
  host: string;
  port: number;
  /** Directory holding wrenn-pty and wrenn-inotify. */
  binDir: string;
}

const DEFAULT_LISTEN = `0.0.0.0:${ENVD_PORT}`;

export class UsageError extends Error {}

/** Parses "HOST:PORT" or "[V6]:PORT". */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : Number.NaN;
  const host = match ? (match[1] ?? match[2]) : undefined;
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`invalid --listen '${value}': expected HOST:PORT`);
  }
  return { host, port };
}

// The helpers ship beside the bundle (<dir of envd.mjs>/bin), wherever the template puts it.
function defaultBinDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), "bin");
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): EnvdOptions {
  let listen = env.WRENN_ENVD_LISTEN ?? DEFAULT_LISTEN;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--listen") {
      const value = argv[++i];
      if (value === undefined) throw new UsageError("--listen needs HOST:PORT");
      listen = value;
    } else if (arg?.startsWith("--listen=")) {
      listen = arg.slice("--listen=".length);
    } else {
      throw new UsageError(`unknown argument '${arg}'`);
    }
  }
  return { ...parseListen(listen), binDir: env.WRENN_ENVD_BIN_DIR || defaultBinDir() };
}
