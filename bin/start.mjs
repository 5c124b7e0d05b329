#!/usr/bin/env node
// `npm start`: the control plane and a host agent on this machine, in the foreground, with the
// embedded database. Ctrl-C pauses running sandboxes (they come back at the next start), then
// stops everything. The work is in @wrenn/local-stack (packages/local-stack), which `wrenn up` runs too.
import { banner, localStackOptionsFromEnv, startLocalStack } from "@wrenn/local-stack";

const bold = process.stdout.isTTY ? "\x1b[1m" : "";
const reset = process.stdout.isTTY ? "\x1b[0m" : "";
const say = (line) => process.stdout.write(`${line}\n`);

let stack;
let stopping = false;

async function stop(signal) {
  if (stopping) {
    say("Forced exit: sandboxes that were not paused yet keep running and are adopted next time.");
    if (stack?.agent.pid) process.kill(stack.agent.pid, "SIGKILL");
    process.exit(1);
  }
  stopping = true;
  if (!stack) process.exit(130); // still starting: the start's own cleanup runs on exit
  say(`\n${bold}==> ${signal}: stopping (Ctrl-C again to force)${reset}`);
  try {
    const report = await stack.stop();
    if (report.paused.length)
      say(`Paused ${report.paused.length} sandbox(es): ${report.paused.join(", ")}`);
    if (report.frozen.length)
      say(
        `Frozen in memory (they hold open TCP sockets, which cannot be saved to disk): ${report.frozen.join(", ")}; their processes stay until the next start adopts them`,
      );
    for (const f of report.failed) say(`Could not pause ${f.id}: ${f.error}`);
    if (report.strayProcesses > report.frozen.length)
      say(
        `Warning: ${report.strayProcesses} sandbox processes of this data directory are still running`,
      );
    say("Stopped.");
    process.exit(report.failed.length ? 1 : 0);
  } catch (error) {
    say(`Stopping failed: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
}
process.on("SIGINT", () => void stop("SIGINT"));
process.on("SIGTERM", () => void stop("SIGTERM"));

try {
  say(`${bold}==> Starting Wrenn${reset}`);
  stack = await startLocalStack(localStackOptionsFromEnv(process.env, say));
  if (stopping) await stop("SIGINT");
  say(banner(stack));
  stack.agent.exited.then((code) => {
    if (stopping) return;
    say(
      `The host agent exited unexpectedly (code ${code}); see ${stack.logDir}/agent.log. Stopping.`,
    );
    void stop("agent exit");
  });
} catch (error) {
  say(`wrenn: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
}
