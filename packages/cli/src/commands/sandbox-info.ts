import { Sandbox, type SandboxInfo } from "@wrenn/sdk";
import type { Command } from "commander";
import { contextOf, wantsJson } from "../command-context.js";
import { printJson, relativeTime } from "../output/table.js";
import { stateColour, style } from "../output/terminal-style.js";

/** Dates as ISO strings and no undefined fields: what --json prints for a sandbox. */
export function sandboxJson(info: SandboxInfo): Record<string, unknown> {
  return JSON.parse(JSON.stringify(info));
}

/** What a sandbox may reach, in one line. */
export function describeNetwork(info: SandboxInfo): string {
  const p = info.network.egressProxy;
  const via = p ? ` via SOCKS5 ${p.username ? `${p.username}@` : ""}${p.address}` : "";
  return `${reach(info)}${via}`;
}

function reach(info: SandboxInfo): string {
  const { allowOut, denyOut } = info.network;
  if (info.allowInternetAccess) {
    const except = denyOut.length ? ` except ${denyOut.join(", ")}` : "";
    const still = allowOut.length && denyOut.length ? ` (but always ${allowOut.join(", ")})` : "";
    return `internet${except}${still}`;
  }
  return allowOut.length ? `only ${allowOut.join(", ")}` : "none";
}

export function printSandboxInfo(info: SandboxInfo): void {
  const rows: [string, string][] = [
    ["id", style.bold(info.sandboxId)],
    ...(info.name ? ([["name", info.name]] as [string, string][]) : []),
    ["state", stateColour(info.state)],
    ["template", info.templateId],
    [
      "resources",
      `${info.cpuCount} vCPU, ${info.memoryMB} MiB memory, ${info.diskSizeMB} MiB disk`,
    ],
    ["network", describeNetwork(info)],
    ["started", `${info.startedAt.toISOString()} (${relativeTime(info.startedAt)})`],
  ];
  // A paused or stopped sandbox has no running clock: its end time would mislead.
  if (info.state === "running" || info.state === "starting" || info.state === "pending")
    rows.push([
      info.autoPause ? "pauses" : "ends",
      `${info.endAt.toISOString()} (${relativeTime(info.endAt)})`,
    ]);
  if (info.autoResume) rows.push(["auto-resume", "a request to it while paused resumes it"]);
  if (info.hostId) rows.push(["host", info.hostId]);
  if (info.envdVersion) rows.push(["envd", info.envdVersion]);
  for (const [k, v] of Object.entries(info.metadata)) rows.push([`metadata ${k}`, v]);
  if (info.envVarNames.length) rows.push(["env", info.envVarNames.join(", ")]);
  // Not every SDK build describes mounts yet (the API always sends them).
  const mounts = (info as { mounts?: { hostPath: string; path: string; readOnly: boolean }[] })
    .mounts;
  for (const m of mounts ?? [])
    rows.push(["mount", `${m.hostPath} → ${m.path}${m.readOnly ? " (read-only)" : ""}`]);
  // How it ended: an expired sandbox says so, and when its time ran out.
  if (info.stopReason === "expired")
    rows.push(["expired", `expired at ${info.endAt.toISOString()} (${relativeTime(info.endAt)})`]);
  else if (info.stopReason === "destroyed") rows.push(["ended", "destroyed"]);
  if (info.stoppedAt) rows.push(["stopped", info.stoppedAt.toISOString()]);
  if (info.error) {
    const reason = info.errorReason ? `${style.bold(info.errorReason)}: ` : "";
    rows.push(["error", style.red(`${reason}${info.error}`)]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) process.stdout.write(`${style.dim(k.padEnd(width))}  ${v}\n`);
}

export function registerSandboxInfo(sandbox: Command): void {
  sandbox
    .command("info")
    .description("Show one sandbox (stopped ones stay readable)")
    .argument("<id>", "sandbox id or name")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  wrenn sandbox info sb-1a2b3c4d\n  wrenn sandbox info sb-1a2b3c4d --json | jq -r .state",
    )
    .action(async (id: string, _o, command: Command) => {
      const ctx = await contextOf(command);
      const info = await Sandbox.getInfo(id, ctx.sdk());
      if (wantsJson(command)) printJson(sandboxJson(info));
      else printSandboxInfo(info);
    });
}
