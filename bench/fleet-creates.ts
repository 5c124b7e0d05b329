/**
 * Creates per second through the control plane with three registered hosts beside one host:
 * one wrenn-cp process (PGlite, the default least-loaded-of-2 scheduler) and three host agents
 * on this machine that join it with registration tokens, each in its own slot (data dir, port,
 * address pool, interface prefix, nft table, WireGuard ports; tests/harness/registered-fleet.ts).
 * Load: CLIENTS closed-loop clients share CREATES creates per phase; each client creates a
 * sandbox (template base, default size, timed), then kills it and starts the next. "One host"
 * is the same control plane with two of the three hosts drained.
 *
 * Floor: the same closed loop sent straight to the agents' own CreateSandbox / DestroySandbox
 * (round-robin over the same three agents, or the one left), same clients, same creates. The
 * ratio is then what the control plane adds (HTTP, key checks, scheduler, database rows, the
 * extra RPC hop) over the hosts' own rate. A bare `runsc` floor would fold the agent's own cost
 * into the ratio; bench/agent-create.ts puts the agent beside bare runsc already.
 *
 * All three agents share this machine's CPUs: three hosts cannot create three times as fast
 * here. What this shows is the overhead of the control plane and that placement spreads.
 * Phases are interleaved round by round (fleet, fleet floor, one host, one-host floor), so a
 * change in the machine's load falls on all of them.
 *
 *   npx tsx bench/fleet-creates.ts    (as root; writes bench/results/fleet-creates.json)
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import type { AgentProcess } from "../tests/harness/agent-process.js";
import { freePort } from "../tests/harness/agent-process.js";
import {
  adminApi,
  closeFleet,
  startRegisteredAgent,
  waitRegisteredOnline,
} from "../tests/harness/registered-fleet.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { summary, table, writeResults } from "./support/stats.js";
import { untilTemplateRestore } from "./support/template-ready.js";

const HOSTS = 3;
const CLIENTS = Number(process.env.CLIENTS ?? 4);
const CREATES = Number(process.env.CREATES ?? 8);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const RUNSC = process.env.WRENN_RUNSC || "runsc";

let idCounter = 0;
const nextId = () =>
  `sb-f${(process.pid % 256).toString(16).padStart(2, "0")}${(idCounter++).toString(16).padStart(5, "0")}`;

/** One create, timed, and the kill after it; `host` names where it ran. */
type Cycle = () => Promise<{ ms: number; host: string }>;

interface PhaseResult {
  wallMs: number;
  latencies: number[];
  perHost: Record<string, number>;
}

/** CREATES cycles shared by CLIENTS clients, each starting its next when its last ended. */
async function closedLoop(cycle: Cycle): Promise<PhaseResult> {
  let started = 0;
  const latencies: number[] = [];
  const perHost: Record<string, number> = {};
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (started < CREATES) {
        started++;
        const { ms, host } = await cycle();
        latencies.push(ms);
        perHost[host] = (perHost[host] ?? 0) + 1;
      }
    }),
  );
  return { wallMs: performance.now() - t0, latencies, perHost };
}

function loadNow(): number[] {
  return os.loadavg().map((l) => Number(l.toFixed(2)));
}

async function main() {
  const runscVersion = execFileSync(RUNSC, ["--version"], { encoding: "utf8" }).split("\n")[0];
  const loadBefore = loadNow();
  console.log(`host: ${os.cpus().length} cores, load ${loadBefore.join(" ")}; ${runscVersion}`);
  const dataDir = await mkdtemp(join(os.tmpdir(), "wrenn-bench-fleet-"));
  // No agent listens at WRENN_AGENT_URL: every sandbox goes to a registered host. Silence is
  // generous so a heartbeat late on a loaded machine does not take a host out mid-phase.
  const cp = await startControlPlaneProcess(dataDir, `http://127.0.0.1:${await freePort()}`, {
    WRENN_HOST_SILENCE_S: "120",
  });
  const api = adminApi(() => cp.url);
  const agents: AgentProcess[] = [];
  const nameOf = new Map<string, string>();
  const phases: Record<string, PhaseResult[]> = {};
  const record = (phase: string, r: PhaseResult) => {
    phases[phase] = [...(phases[phase] ?? []), r];
    const s = summary(r.latencies);
    console.log(
      `${phase}: ${((CREATES * 1000) / r.wallMs).toFixed(2)} creates/s, p50 ${s.p50.toFixed(0)} ms, per host ${JSON.stringify(r.perHost)}`,
    );
  };
  try {
    for (let i = 0; i < HOSTS; i++) {
      // The agents' production heartbeat (5 s), not the tests' 500 ms.
      const { agent, hostId } = await startRegisteredAgent(api, cp.url, {
        env: { WRENN_HEARTBEAT_INTERVAL_MS: "5000" },
      });
      agents.push(agent);
      nameOf.set(hostId, String.fromCharCode(65 + i));
    }
    await waitRegisteredOnline(api, HOSTS, 120_000);
    for (const agent of agents) await untilTemplateRestore(agent, nextId);
    const hostIds = [...nameOf.keys()];

    const viaCp: Cycle = async () => {
      const t0 = performance.now();
      const r = await api.call("POST", "/v1/sandboxes", { template: "base" });
      const ms = performance.now() - t0;
      if (r.status !== 201) throw new Error(`create answered ${r.status}: ${r.text}`);
      const gone = await api.call("DELETE", `/v1/sandboxes/${r.body.id}`);
      if (gone.status !== 204) throw new Error(`delete answered ${gone.status}: ${gone.text}`);
      return { ms, host: nameOf.get(r.body.hostId) ?? r.body.hostId };
    };
    const direct = (pool: AgentProcess[]): Cycle => {
      let turn = 0;
      return async () => {
        const i = turn++ % pool.length;
        const agent = pool[i] as AgentProcess;
        const sandboxId = nextId();
        const t0 = performance.now();
        // What the control plane sends for a plain create: the agent's default size, no
        // internet, an envd token.
        await agent.client.createSandbox({
          sandboxId,
          template: "base",
          envdAccessToken: randomBytes(24).toString("base64url"),
        });
        const ms = performance.now() - t0;
        await agent.client.destroySandbox({ sandboxId });
        return { ms, host: String.fromCharCode(65 + agents.indexOf(agent)) };
      };
    };
    const drain = async (action: "drain" | "undrain") => {
      for (const id of hostIds.slice(1)) {
        const r = await api.call("POST", `/v1/hosts/${id}/${action}`);
        if (r.status !== 200) throw new Error(`${action} answered ${r.status}: ${r.text}`);
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      record("control plane, 3 hosts", await closedLoop(viaCp));
      record("agents direct, 3 hosts", await closedLoop(direct(agents)));
      await drain("drain");
      record("control plane, 1 host", await closedLoop(viaCp));
      record("agent direct, 1 host", await closedLoop(direct(agents.slice(0, 1))));
      await drain("undrain");
    }
  } finally {
    await cleanUp({
      fleet: () => closeFleet({ api, agents, dataDir, finally: () => cp.stop() }),
    });
  }
  const loadAfter = loadNow();

  const merged = (phase: string) => {
    const runs = phases[phase] ?? [];
    const perHost: Record<string, number> = {};
    for (const r of runs) {
      for (const [h, n] of Object.entries(r.perHost)) perHost[h] = (perHost[h] ?? 0) + n;
    }
    return {
      rate: (runs.length * CREATES * 1000) / runs.reduce((t, r) => t + r.wallMs, 0),
      ...summary(runs.flatMap((r) => r.latencies)),
      perHost,
    };
  };
  const rate = (r: PhaseResult) => (CREATES * 1000) / r.wallMs;
  const rows = ([3, 1] as const).map((n) => {
    const oursPhase = n === 3 ? "control plane, 3 hosts" : "control plane, 1 host";
    const floorPhase = n === 3 ? "agents direct, 3 hosts" : "agent direct, 1 host";
    const ours = merged(oursPhase);
    const floor = merged(floorPhase);
    // Each round's phases ran minutes apart at most: a load spike during one round moves
    // the pooled ratio, the per-round ones show it.
    const byRound = (phases[oursPhase] ?? []).map((r, i) => {
      const f = phases[floorPhase]?.[i];
      return f ? (rate(r) / rate(f)).toFixed(2) : "?";
    });
    return {
      hosts: n,
      "creates/s": ours.rate,
      "p50 ms": ours.p50,
      "p95 ms": ours.p95,
      "floor /s": floor.rate,
      "floor p50": floor.p50,
      "floor p95": floor.p95,
      "rate ÷ floor": ours.rate / floor.rate,
      "by round": byRound.join(" "),
      "per host (cp)": Object.entries(ours.perHost)
        .sort()
        .map(([h, c]) => `${h}:${c}`)
        .join(" "),
    };
  });
  console.log(
    `\n${CLIENTS} clients, ${CREATES} creates per phase, ${ROUNDS} rounds; create → envd ready, each killed after (floor: the agents' CreateSandbox called directly, same loop)`,
  );
  table(rows);
  console.log(`load ${loadBefore.join(" ")} → ${loadAfter.join(" ")}`);
  console.log(
    `\nwritten to ${writeResults("fleet-creates", {
      load: [loadBefore, loadAfter],
      runsc: runscVersion,
      clients: CLIENTS,
      createsPerPhase: CREATES,
      rounds: ROUNDS,
      rows,
      raw: phases,
    })}`,
  );
}

await main();
