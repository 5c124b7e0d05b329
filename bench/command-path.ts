// `commands.run('echo hi')` end to end (E2B SDK → wrenn-cp proxy → agent forwarder → envd →
// bash -l -c in a real gVisor sandbox), beside the floor: the same command's own cost, timed
// inside the same sandbox by the shell. Also create → first command, and the first command
// against the tenth. Runs under the agent's runsc: set WRENN_RUNSC to compare builds.
//   npx tsx bench/command-path.ts      (needs `npm run build` first; root)
import { execFileSync } from "node:child_process";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { probeRunsc } from "@wrenn/host-agent";
import { Sandbox } from "e2b";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, vsFloor, writeResults } from "./support/stats.js";

const RUNS = Number(process.env.RUNS ?? 40);
const CREATES = Number(process.env.CREATES ?? 6);
const CONCURRENT = 10;

const stat = (xs: number[]) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) });

async function timed(once: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await once();
  return performance.now() - t;
}

async function series(runs: number, once: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await once();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push(await timed(once));
  return out;
}

/** ms per run of `cmd` inside the sandbox, timed there by bash around each run. */
async function inside(sbx: Sandbox, cmd: string, runs: number, user = "user"): Promise<number[]> {
  const script = `for i in $(seq ${runs}); do s=$(date +%s%N); ${cmd} >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e-s)/1000 )); done`;
  const r = await sbx.commands.run(script, { user: user as "user", timeoutMs: 600_000 });
  return r.stdout
    .trim()
    .split("\n")
    .map((us) => Number(us) / 1000);
}

/** Per-command ms of `cmd` run CONCURRENT at a time inside the sandbox, `rounds` times. */
async function insideConcurrent(sbx: Sandbox, cmd: string, rounds: number): Promise<number[]> {
  const one = `( s=$(date +%s%N); ${cmd} >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e-s)/1000 )) ) &`;
  const script = `for r in $(seq ${rounds}); do for j in $(seq ${CONCURRENT}); do ${one} done; wait; done`;
  const r = await sbx.commands.run(script, { timeoutMs: 600_000 });
  return r.stdout
    .trim()
    .split("\n")
    .map((us) => Number(us) / 1000);
}

const runsc = process.env.WRENN_RUNSC || "runsc";
const build = await probeRunsc(runsc);
const load = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`runsc: ${build.identity} (${runsc})\nload: ${load}`);

const agent = await AgentProcess.start({ poolSize: 2 });
const target = await freshDatabase("pglite");
const cp = await startControlPlaneProcess(target.dataDir, agent.url);
try {
  const call = apiCaller(() => cp.url);
  const { key } = await createKey({ call }, { name: "bench" });
  const opts = { apiKey: key, apiUrl: cp.url, sandboxUrl: cp.url };
  const echo = (sbx: Sandbox) => async () => {
    const r = await sbx.commands.run("echo hi");
    if (r.stdout !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
  };

  // Create → first command, and the first command against the tenth, on fresh sandboxes
  // (one at a time, so the pool refills between them as it would at a modest rate).
  const create: number[] = [];
  const first: number[] = [];
  const tenth: number[] = [];
  const createToFirst: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = performance.now();
    const sbx = await Sandbox.create("base", opts);
    const t1 = performance.now();
    first.push(await timed(echo(sbx)));
    createToFirst.push(performance.now() - t0);
    create.push(t1 - t0);
    for (let j = 2; j < 10; j++) await echo(sbx)();
    tenth.push(await timed(echo(sbx)));
    await sbx.kill();
  }
  // The same first command 3 s after its create, when the pool's refill (which the create
  // started as it ended) is done: if this is as fast as the tenth, the first command's extra time
  // is the refill's boot competing for the CPU, not something lazy in the new sandbox.
  const firstLater: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    await new Promise((r) => setTimeout(r, 3000));
    const sbx = await Sandbox.create("base", opts);
    await new Promise((r) => setTimeout(r, 3000));
    firstLater.push(await timed(echo(sbx)));
    await sbx.kill();
  }

  const sbx = await Sandbox.create("base", opts);
  const id = sbx.sandboxId;
  const sdkSeq = await series(RUNS, echo(sbx));
  const v1Seq = await series(RUNS, async () => {
    const r = await call("POST", `/v1/sandboxes/${id}/exec`, {
      key,
      body: { cmd: "/bin/bash", args: ["-l", "-c", "echo hi"] },
    });
    if (r.status !== 200 || r.body.exitCode !== 0) throw new Error(r.text);
  });
  // A wrong answer here is a bug, not a timing: counted and printed, so the figures still come.
  const sdkConcurrent: number[] = [];
  const wrong: string[] = [];
  for (let round = 0; round < Math.max(1, Math.round(RUNS / CONCURRENT)); round++) {
    sdkConcurrent.push(
      ...(await Promise.all(
        Array.from({ length: CONCURRENT }, () =>
          timed(() => echo(sbx)().catch((err: Error) => void wrong.push(err.message))),
        ),
      )),
    );
  }
  // The floor: what the command itself costs inside this sandbox, and what each piece a
  // command passes through costs (the login shell's start-up files, sudo).
  const own = await inside(sbx, "bash -l -c 'echo hi'", RUNS);
  const ownConcurrent = await insideConcurrent(
    sbx,
    "bash -l -c 'echo hi'",
    Math.max(1, Math.round(RUNS / CONCURRENT)),
  );
  const pieces = {
    "/bin/true": await inside(sbx, "/bin/true", RUNS),
    "bash -c true": await inside(sbx, "bash -c true", RUNS),
    "bash -l -c true": await inside(sbx, "bash -l -c true", RUNS),
    "bash -l -c true (root)": await inside(sbx, "bash -l -c true", RUNS, "root"),
    "sudo -n true": await inside(sbx, "sudo -n true", Math.min(RUNS, 20)),
    "python3 -c pass": await inside(sbx, "python3 -c pass", Math.min(RUNS, 20)),
    "node -e 0": await inside(sbx, "node -e 0", Math.min(RUNS, 10)),
  };
  await sbx.kill();

  const o = stat(own);
  const row = (measure: string, xs: number[], floor = o) => vsFloor(measure, xs, floor);
  const rows = [
    row("E2B SDK commands.run('echo hi'), sequential", sdkSeq),
    row("/v1 exec bash -l -c 'echo hi', sequential", v1Seq),
    row(`E2B SDK commands.run, ${CONCURRENT} concurrent`, sdkConcurrent, stat(ownConcurrent)),
    row("first command after create", first),
    row("first command, 3 s after create", firstLater),
    row("tenth command after create", tenth),
    row("Sandbox.create", create),
    row("create → first command done", createToFirst),
  ];
  console.log(
    "\necho hi through the stack; floor: `bash -l -c 'echo hi'` timed inside the sandbox" +
      ` (for the concurrent row: ${CONCURRENT} at once there too)`,
  );
  table(rows);
  console.log("\ninside the sandbox, timed by the shell (what each process pays)");
  const pieceRows = Object.entries(pieces).map(([what, xs]) => ({
    what,
    "p50 ms": stat(xs).p50,
    "p95 ms": stat(xs).p95,
  }));
  table(pieceRows);
  // Where the agent's part of each warm-pool create went (its "sandbox created" log lines).
  const claims = agent.output
    .split("\n")
    .filter((l) => l.includes('"sandbox created"') && l.includes('"warm_pool"'))
    .map((l) => JSON.parse(l) as { ms: number; steps: Record<string, number> });
  const stepRows = ["total", ...Object.keys(claims[0]?.steps ?? {})].map((step) => {
    const xs = claims.map((c) => (step === "total" ? c.ms : (c.steps[step] ?? 0)));
    return { step, "p50 ms": stat(xs).p50, "p95 ms": stat(xs).p95, n: xs.length };
  });
  console.log("\nthe agent's part of a warm-pool create, by step");
  table(stepRows);
  if (wrong.length > 0) {
    console.log(
      `\nWRONG ANSWERS under ${CONCURRENT} concurrent: ${wrong.length} of ${sdkConcurrent.length}: ${[...new Set(wrong)].join("; ")}`,
    );
  }
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  console.log(`\nload at the end: ${loadAfter}`);
  console.log(
    `written to ${writeResults("command-path", { runsc: build.identity, load, loadAfter, wrongConcurrent: wrong.length, runs: RUNS, creates: CREATES, rows, pieces: pieceRows, claimSteps: stepRows })}`,
  );
} finally {
  await cleanUp({
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
