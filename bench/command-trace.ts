// Where the time of `commands.run('echo hi')` goes, hop by hop: the E2B SDK against a
// control plane started with WRENN_TRACE=1, so every proxied request is traced (TRACE_HEADER in
// @wrenn/contract) and each hop logs its phases: control plane, agent forwarder, envd (from the
// sandbox's console log). First command after create and tenth, on CREATES fresh sandboxes.
//   npx tsx bench/command-trace.ts      (needs `npm run build` first; root)
import { execFileSync } from "node:child_process";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { probeRunsc } from "@wrenn/host-agent";
import { Sandbox } from "e2b";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, writeResults } from "./support/stats.js";
import {
  collectTraces,
  phaseRows,
  sandboxLogs,
  type TracedRequest,
  timelineRows,
} from "./support/trace-lines.js";

const CREATES = Number(process.env.CREATES ?? 3);
const PER_SANDBOX = 10;

const runsc = process.env.WRENN_RUNSC || "runsc";
const build = await probeRunsc(runsc);
const load = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`runsc: ${build.identity} (${runsc})\nload: ${load}`);

const agent = await AgentProcess.start({ poolSize: 2 });
const target = await freshDatabase("pglite");
const cp = await startControlPlaneProcess(target.dataDir, agent.url, {
  WRENN_TRACE: "1",
  WRENN_LOG_LEVEL: "info",
});
let cpLog = "";
cp.child.stdout?.on("data", (d: Buffer) => {
  cpLog += d.toString();
});
try {
  const call = apiCaller(() => cp.url);
  const { key } = await createKey({ call }, { name: "bench" });
  const opts = { apiKey: key, apiUrl: cp.url, sandboxUrl: cp.url };
  // Client-side ms of each command, by sandbox, in order.
  const client: number[][] = [];
  const envdLogs: string[] = [];
  for (let i = 0; i < CREATES; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const sbx = await Sandbox.create("base", opts);
    const times: number[] = [];
    for (let j = 0; j < PER_SANDBOX; j++) {
      const t = performance.now();
      const r = await sbx.commands.run("echo hi");
      times.push(performance.now() - t);
      if (r.stdout !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
    }
    client.push(times);
    envdLogs.push(...sandboxLogs(agent.dataDir));
    await sbx.kill();
  }
  await new Promise((r) => setTimeout(r, 500));
  const traces = collectTraces([cpLog, agent.output, ...envdLogs]);
  // The Start requests, in the order they were sent: the traces envd timed a spawn in.
  const starts = [...traces.values()]
    .filter((t) => t.hops.envd?.spawned !== undefined)
    .sort((a, b) => a.at - b.at);
  if (starts.length !== CREATES * PER_SANDBOX) {
    console.log(`warning: ${starts.length} traced Starts for ${CREATES * PER_SANDBOX} commands`);
  }
  const nth = (n: number): TracedRequest[] => starts.filter((_, k) => k % PER_SANDBOX === n);
  const clientP50 = (n: number) =>
    percentile(
      client.map((xs) => xs[n] as number),
      50,
    );
  const rows = [...phaseRows("first", nth(0)), ...phaseRows("tenth", nth(PER_SANDBOX - 1))];
  console.log("\nphases (ms since each hop received the request; p50 over the sandboxes)");
  table(rows);
  const summary = [
    { requests: "first", "client p50 ms": clientP50(0) },
    { requests: "tenth", "client p50 ms": clientP50(PER_SANDBOX - 1) },
  ];
  table(summary);
  const last = nth(PER_SANDBOX - 1).at(-1);
  if (last) {
    console.log("\nthe last tenth command on the hosts' shared wall clock (ms resolution)");
    table(timelineRows(last));
  }
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  console.log(`\nload at the end: ${loadAfter}`);
  console.log(
    `written to ${writeResults("command-trace", { runsc: build.identity, load, loadAfter, creates: CREATES, rows, summary, client, traces: starts })}`,
  );
} finally {
  await cleanUp({
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
