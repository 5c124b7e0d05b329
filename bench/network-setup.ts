/**
 * Per-sandbox network setup and teardown latency (namespace, veth, addresses, routes,
 * nftables rules), beside the floors it is built from: a bare `ip netns add` + `ip netns del`,
 * and the same netlink work as raw `ip -batch` runs with no firewall and no bookkeeping.
 *
 *   npx tsx bench/network-setup.ts        (as root; writes bench/results/network-setup.json)
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { NetworkManager } from "../apps/host-agent/src/network/index.js";
import { percentile, writeResults } from "./support/stats.js";

const ROUNDS = 20;
const WARMUP = 3;
const run = promisify(execFile);

/** `ip` reading a batch from stdin; execFile has no input option, so spawn it by hand. */
function ipBatch(args: string[], lines: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile("ip", [...args, "-batch", "-"], (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin?.end(`${lines.join("\n")}\n`);
  });
}

interface Row {
  name: string;
  what: string;
  p50: number;
  p95: number;
  samples: number[];
}

const hex = (i: number) => i.toString(16).padStart(8, "0");

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root: it creates network namespaces");
  const stateDir = await mkdtemp(join(tmpdir(), "wrenn-bench-net-"));
  const manager = new NetworkManager({
    pool: "10.247.0.0/22",
    namePrefix: "wrb-",
    table: "wrenn_bench",
    stateDir,
    logger: pino({ level: "warn" }),
  });
  await manager.removeAll();

  const rows: Row[] = [];
  const row = (name: string, what: string, samples: number[], floor?: Row): Row => {
    const sorted = [...samples].sort((a, b) => a - b);
    const r = { name, what, p50: percentile(sorted, 50), p95: percentile(sorted, 95), samples };
    rows.push(r);
    floors.set(r, floor ?? r);
    return r;
  };
  const floors = new Map<Row, Row>();

  /** Runs `cycle` WARMUP + ROUNDS times; returns the timed phases of the last ROUNDS. */
  async function phases(cycle: (i: number) => Promise<[number, number]>) {
    for (let i = 0; i < WARMUP; i++) await cycle(1000 + i);
    const setup: number[] = [];
    const teardown: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const [s, t] = await cycle(i);
      setup.push(s);
      teardown.push(t);
    }
    return { setup, teardown, total: setup.map((s, i) => s + teardown[i]!) };
  }

  try {
    const bare = await phases(async (i) => {
      const t0 = performance.now();
      await run("ip", ["netns", "add", `wrb-floor-${i}`]);
      const t1 = performance.now();
      await run("ip", ["netns", "del", `wrb-floor-${i}`]);
      return [t1 - t0, performance.now() - t1];
    });

    // The netlink work the manager does, as the same raw batches: no nftables, no
    // validation, no allocation file.
    const raw = await phases(async (i) => {
      const ns = `wrb-rawsb-${hex(i)}`;
      const host = `wrb-r${hex(i).slice(2)}`;
      const t0 = performance.now();
      await ipBatch(
        [],
        [
          `netns add ${ns}`,
          `link add ${host} type veth peer name eth0 netns ${ns}`,
          `link set ${host} addrgenmode none`,
          `addr add 10.247.3.1/30 dev ${host}`,
          `link set ${host} up`,
        ],
      );
      await ipBatch(
        ["-n", ns],
        [
          "addr add 10.247.3.2/30 dev eth0",
          "link set eth0 up",
          "link set lo up",
          "route add default via 10.247.3.1 dev eth0",
        ],
      );
      const t1 = performance.now();
      await ipBatch([], [`link del ${host}`, `netns del ${ns}`]);
      return [t1 - t0, performance.now() - t1];
    });

    const wrenn = (policy?: { allowInternet: boolean }) =>
      phases(async (i) => {
        const id = `sb-${hex(0x10000 + i)}`;
        const t0 = performance.now();
        await manager.setup(id, policy);
        const t1 = performance.now();
        await manager.teardown(id);
        return [t1 - t0, performance.now() - t1];
      });
    const closed = await wrenn();
    const open = await wrenn({ allowInternet: true });

    row("bare ip netns add + del", "2 processes", bare.total);
    const rawSetup = row("raw ip -batch: setup", "2 ip runs", raw.setup);
    const rawTeardown = row("raw ip -batch: teardown", "1 ip run", raw.teardown);
    const rawTotal = row("raw ip -batch: both", "3 ip runs", raw.total);
    for (const [what, r] of [
      ["no internet", closed],
      ["internet + NAT", open],
    ] as const) {
      row("wrenn: setup", what, r.setup, rawSetup);
      row("wrenn: teardown", what, r.teardown, rawTeardown);
      row("wrenn: both", what, r.total, rawTotal);
    }
  } finally {
    await manager.removeAll();
    await rm(stateDir, { recursive: true, force: true });
  }

  const fmt = (n: number) => n.toFixed(1).padStart(7);
  console.log(
    `\nPer-sandbox network, ${ROUNDS} sandboxes in a row, ms` +
      " (ratio: p50 over the raw ip -batch p50 of the same phase)\n",
  );
  console.log(`${"operation".padEnd(26)}${"variant".padEnd(16)}    p50    p95  ratio`);
  for (const r of rows) {
    const floor = floors.get(r)!;
    const ratio = floor === r ? "     -" : (r.p50 / floor.p50).toFixed(2).padStart(7);
    console.log(`${r.name.padEnd(26)}${r.what.padEnd(16)}${fmt(r.p50)}${fmt(r.p95)}${ratio}`);
  }

  const result = {
    benchmark: "network-setup",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    rounds: ROUNDS,
    unit: "ms",
    rows: rows.map((r) => ({
      name: r.name,
      variant: r.what,
      p50: +r.p50.toFixed(2),
      p95: +r.p95.toFixed(2),
      floor: floors.get(r) === r ? null : floors.get(r)!.name,
      ratioToFloor: floors.get(r) === r ? null : +(r.p50 / floors.get(r)!.p50).toFixed(2),
      samples: r.samples.map((s) => +s.toFixed(2)),
    })),
  };
  writeResults("network-setup", result);
}

await main();
