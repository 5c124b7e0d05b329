import { spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { REPO_ROOT } from "../config/config-paths.js";
import { runningLocalStack } from "../config/stack-state-file.js";
import { CliError, EXIT } from "../exit-codes.js";
import { alive, detachedFiles } from "../local-stack/stack-files.js";
import { style } from "../output/terminal-style.js";
import { positiveInt } from "./option-parsers.js";

const START = join(REPO_ROOT, "bin", "start.mjs");
const SETUP = join(REPO_ROOT, "bin", "setup");

/** `bash bin/setup`: packages and an incremental build, as `npm start` runs first. */
async function runSetup(): Promise<void> {
  // Its progress goes to stderr: stdout stays for what scripts read.
  const child = spawn("bash", [SETUP], {
    cwd: REPO_ROOT,
    stdio: ["ignore", process.stderr, process.stderr],
  });
  const [code] = (await once(child, "exit")) as [number | null];
  if (code !== 0) throw new CliError(`bin/setup failed (exit ${code}); see its output above`);
}

async function readPid(pidFile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidFile, "utf8").catch(() => "")).trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** New lines of the log since `from`, passed on as progress. */
async function tailFrom(file: string, from: number, say: (text: string) => void): Promise<number> {
  const text = await readFile(file).catch(() => Buffer.alloc(0));
  if (text.length > from) say(text.subarray(from).toString("utf8"));
  return Math.max(from, text.length);
}

async function foreground(): Promise<void> {
  // Its own process group, so a Ctrl-C reaches it once, from us: a second Ctrl-C then forces
  // its exit exactly as with `npm start`.
  const child = spawn(process.execPath, [START], { stdio: "inherit", detached: true });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
  process.exitCode = code ?? (signal ? EXIT.interrupted : EXIT.error);
}

async function detached(waitSeconds: number): Promise<void> {
  const files = detachedFiles();
  const running = await readPid(files.pidFile);
  if (running)
    throw new CliError(`Wrenn is already running (pid ${running}); \`wrenn down\` stops it`);
  await mkdir(dirname(files.logFile), { recursive: true, mode: 0o700 });
  const from = (await stat(files.logFile).catch(() => ({ size: 0 }))).size;
  const log = openSync(files.logFile, "a");
  const child = spawn(process.execPath, [START], { stdio: ["ignore", log, log], detached: true });
  closeSync(log);
  child.unref();
  if (!child.pid) throw new CliError("could not start bin/start.mjs");
  await writeFile(files.pidFile, `${child.pid}\n`);
  let exited: number | null | undefined;
  child.once("exit", (code) => {
    exited = code;
  });
  const say = (text: string) => process.stderr.write(style.dim(text, process.stderr));
  let offset = from;
  const deadline = Date.now() + waitSeconds * 1000;
  while (Date.now() < deadline) {
    offset = await tailFrom(files.logFile, offset, say);
    if (exited !== undefined) {
      await rm(files.pidFile, { force: true });
      throw new CliError(`Wrenn exited during start (code ${exited}); log: ${files.logFile}`);
    }
    // The stack says where it listens once it is up (the default port may have been taken).
    const stack = await runningLocalStack();
    const url = stack?.pid === child.pid ? stack.url : undefined;
    if (url && (await healthy(url))) {
      // The banner (URL, admin key, E2B variables) follows the health check by a moment.
      await sleep(300);
      await tailFrom(files.logFile, offset, say);
      process.stdout.write(
        `Wrenn is up at ${url} (pid ${child.pid}); log: ${files.logFile}; stop it with \`wrenn down\`\n`,
      );
      return;
    }
    await sleep(250);
  }
  throw new CliError(
    `Wrenn did not come up within ${waitSeconds} s; it keeps starting in the background (pid ${child.pid}, log ${files.logFile}); \`wrenn down\` stops it`,
  );
}

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("Start Wrenn on this machine (control plane, host agent, embedded database; root)")
    .option(
      "-d, --detach",
      "run in the background (pid and log in the data dir); `wrenn down` stops it",
    )
    .option("--no-setup", "skip bin/setup (packages and build)")
    .option(
      "--wait <seconds>",
      "with --detach: how long to wait for the API",
      positiveInt("--wait"),
      600,
    )
    .addHelpText(
      "after",
      `
Like \`npm start\` in the repository wrenn is installed in: bin/setup, then bin/start.mjs.
Everything lives in WRENN_DATA_DIR (default <repo>/.wrenn); WRENN_LISTEN and
WRENN_AGENT_LISTEN set the ports (3000 and 7070, or the next free ones when those are taken).
Other wrenn commands find this stack through <data dir>/stack.json. In the foreground Ctrl-C
pauses the sandboxes and stops; they come back at the next \`wrenn up\`.

Examples:
  sudo wrenn up
  sudo wrenn up --detach && wrenn status
  sudo WRENN_LISTEN=127.0.0.1:3100 wrenn up -d`,
    )
    .action(async (o) => {
      if (o.setup) await runSetup();
      if (o.detach) await detached(o.wait);
      else await foreground();
    });

  program
    .command("down")
    .description("Stop a Wrenn started with `wrenn up --detach` (its sandboxes are paused first)")
    .option(
      "--timeout <seconds>",
      "how long to wait for a clean stop",
      positiveInt("--timeout"),
      300,
    )
    .option(
      "--force",
      "SIGKILL it when the timeout passes (sandboxes are adopted at the next start)",
    )
    .addHelpText("after", "\nExamples:\n  sudo wrenn down\n  sudo wrenn down --timeout 30 --force")
    .action(async (o) => {
      const files = detachedFiles();
      const pid = await readPid(files.pidFile);
      if (!pid) {
        await rm(files.pidFile, { force: true });
        process.stderr.write(
          "Wrenn is not running in the background (no live wrenn up --detach).\n",
        );
        return;
      }
      const from = (await stat(files.logFile).catch(() => ({ size: 0 }))).size;
      process.stderr.write(`Stopping Wrenn (pid ${pid}): pausing sandboxes, then stopping...\n`);
      // SIGINT is the Ctrl-C of the foreground stack: pause sandboxes, stop cleanly.
      process.kill(pid, "SIGINT");
      const deadline = Date.now() + o.timeout * 1000;
      while (alive(pid) && Date.now() < deadline) await sleep(200);
      if (alive(pid)) {
        if (!o.force)
          throw new CliError(
            `pid ${pid} is still stopping after ${o.timeout} s (log: ${files.logFile}); \`wrenn down --force\` kills it`,
          );
        process.kill(pid, "SIGKILL");
        while (alive(pid)) await sleep(100);
      }
      await tailFrom(files.logFile, from, (t) => process.stderr.write(t));
      await rm(files.pidFile, { force: true });
      process.stdout.write("Stopped.\n");
    });
}
