// The warm pool under demand: create → first `commands.run('echo hi')` through the E2B SDK at a
// steady rate (one create a second), then a burst of ten creates at once, a pause, and the same
// burst again. Each create's boot path comes from the agent's `sandbox created` log lines: a
// `warm_pool` create was served by a claim (+ personalise); anything else booted on the request.
// Floor: `bash -l -c 'echo hi'` timed inside a sandbox (the command's own cost).
//   npx tsx bench/pool-demand.ts        (root, after `npm run build`)
//   STEADY=30 RATE_MS=1000 BURST=10 WRENN_POOL_REFILL_BOOTS=1 npx tsx bench/pool-demand.ts
import { execFileSync } from "node:child_process";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { probeRunsc } from "@wrenn/host-agent";
import { Sandbox } from "e2b";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, writeResults } from "./support/stats.js";

const STEADY = Number(process.env.STEADY ?? 30);
const RATE_MS = Number(process.env.RATE_MS ?? 1000);
const BURST = Number(process.env.BURST ?? 10);
const POOL_MAX = process.env.WRENN_POOL_MAX ?? "12";
const REFILL_BOOTS = process.env.WRENN_POOL_REFILL_BOOTS ?? "2";

const runsc = process.env.WRENN_RUNSC || "runsc";
const build = await probeRunsc(runsc);
const load = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(
  `runsc: ${build.identity}\nload: ${load}\npool: size 2 (the default), max ${POOL_MAX}, ${REFILL_BOOTS} refill boot(s) at once`,
);

const agent = await AgentProcess.start({
  poolSize: 2,
  env: { WRENN_POOL_MAX: POOL_MAX, WRENN_POOL_REFILL_BOOTS: REFILL_BOOTS },
});
const target = await freshDatabase("pglite");
const cp = await startControlPlaneProcess(target.dataDir, agent.url);

interface Logged {
  bootPath: string;
  ms: number;
  steps: Record<string, number>;
}
/** The agent's log lines of `message` in `text` (its creates, its warm-pool boots). */
function logged(message: string, text = agent.output): Logged[] {
  return text
    .split("\n")
    .filter((l) => l.includes(`"${message}"`))
    .map((l) => JSON.parse(l) as Logged);
}

/** Where the time of these creates or boots went, by step. */
function stepRows(lines: Logged[]) {
  const steps = new Set(lines.flatMap((l) => Object.keys(l.steps)));
  return ["total", ...steps].map((step) => {
    const xs = lines.map((l) => (step === "total" ? l.ms : (l.steps[step] ?? 0)));
    return { step, "p50 ms": percentile(xs, 50), "p95 ms": percentile(xs, 95), n: xs.length };
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  const call = apiCaller(() => cp.url);
  // A user key may create 60 a minute and hold 16 vCPUs: this bench needs more.
  const { key } = await createKey(
    { call },
    { name: "bench", createRatePerMinute: 600, pools: { vcpus: 64, memoryMb: 65_536 } },
  );
  const opts = { apiKey: key, apiUrl: cp.url, sandboxUrl: cp.url };
  const kills: Promise<unknown>[] = [];

  interface Timing {
    /** create → first command done */
    total: number;
    create: number;
  }
  /** One create → first command; the sandbox is killed in the background. */
  async function createThenEcho(): Promise<Timing> {
    const t0 = performance.now();
    const sbx = await Sandbox.create("base", opts);
    const create = performance.now() - t0;
    const r = await sbx.commands.run("echo hi");
    const total = performance.now() - t0;
    if (r.stdout !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(r.stdout)}`);
    kills.push(sbx.kill());
    return { total, create };
  }

  // Let the pool fill to its size first, as on a host that has been up a while.
  await sleep(15_000);

  const phases: Array<{
    phase: string;
    ms: Timing[];
    agent: Logged[];
  }> = [];
  async function phase(name: string, run: () => Promise<Timing[]>): Promise<void> {
    const from = agent.output.length;
    console.log(`${name} ...`);
    const ms = await run();
    // The log line of a create is written before its response: all are in by now.
    phases.push({ phase: name, ms, agent: logged("sandbox created", agent.output.slice(from)) });
  }

  await phase(`steady: 1 create every ${RATE_MS} ms`, async () => {
    const started: Promise<Timing>[] = [];
    for (let i = 0; i < STEADY; i++) {
      started.push(createThenEcho());
      await sleep(RATE_MS);
    }
    return Promise.all(started);
  });
  await Promise.all(kills.splice(0));
  await sleep(5_000);
  await phase(`burst of ${BURST}, the first`, () =>
    Promise.all(Array.from({ length: BURST }, createThenEcho)),
  );
  await Promise.all(kills.splice(0));
  // The pool grows to the burst it saw (one boot's time per refill boot, at a low CPU share).
  await sleep(45_000);
  await phase(`burst of ${BURST}, again 45 s later`, () =>
    Promise.all(Array.from({ length: BURST }, createThenEcho)),
  );
  await Promise.all(kills.splice(0));

  // The floor, in a sandbox of its own.
  const sbx = await Sandbox.create("base", opts);
  const script =
    "for i in $(seq 20); do s=$(date +%s%N); bash -l -c 'echo hi' >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e-s)/1000 )); done";
  const own = (await sbx.commands.run(script, { timeoutMs: 120_000 })).stdout
    .trim()
    .split("\n")
    .map((us) => Number(us) / 1000);
  await sbx.kill();

  const floor = percentile(own, 50);
  const rows = phases.map((p) => {
    const total = p.ms.map((t) => t.total);
    return {
      measure: `${p.phase}: create → first command`,
      "p50 ms": percentile(total, 50),
      "p95 ms": percentile(total, 95),
      "p99 ms": percentile(total, 99),
      "create p50": percentile(
        p.ms.map((t) => t.create),
        50,
      ),
      "agent p50": percentile(
        p.agent.map((a) => a.ms),
        50,
      ),
      "floor p50": floor,
      "x p50": percentile(total, 50) / floor,
      warm: `${p.agent.filter((a) => a.bootPath === "warm_pool").length}/${p.ms.length}`,
    };
  });
  console.log(
    "\ncreate → first command; warm: creates served by a warm-pool claim; floor: `bash -l -c 'echo hi'` timed inside a sandbox",
  );
  table(rows);
  // Where the agent's part of the creates and the warm-pool boots went (its log lines).
  const claimSteps = phases.map((p) => ({
    phase: p.phase,
    steps: stepRows(p.agent.filter((a) => a.bootPath === "warm_pool")),
  }));
  for (const c of claimSteps) {
    console.log(`\nthe agent's part of each warm claim, by step: ${c.phase}`);
    table(c.steps);
  }
  const poolSteps = stepRows(logged("warm sandbox ready"));
  console.log("\neach warm-pool boot, by step (at a low CPU weight, beside the creates)");
  table(poolSteps);
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  console.log(`\nload at the end: ${loadAfter}`);
  console.log(
    `written to ${writeResults("pool-demand", { runsc: build.identity, load, loadAfter, poolMax: POOL_MAX, refillBoots: REFILL_BOOTS, rows, phases, claimSteps, poolSteps })}`,
  );
} finally {
  await cleanUp({
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
