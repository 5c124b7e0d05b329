/**
 * Memory per idle sandbox, and how many idle sandboxes fit in 20 GiB: boots up to 100 idle
 * sandboxes and measures the host's memory (MemAvailable) at steps, beside the floor: the same
 * number of bare `runsc run` sandboxes of the same root filesystem.
 *
 *   npx tsx bench/agent-density.ts      (as root; writes bench/results/agent-density.json)
 */
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { templatesDir } from "../tests/harness/paths.js";
import { RawRunsc, withRawScratch } from "./support/raw-runsc.js";
import { table, writeResults } from "./support/stats.js";

const MAX = Number(process.env.MAX ?? 100);
const STEPS = [1, 10, 25, 50, 75, 100].filter((n) => n <= MAX);
const TWENTY_GIB = 20 * 1024;
let rootfs = "";
let scratch = "";

function availableMib(): number {
  const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
  return Number(m?.[1] ?? 0) / 1024;
}

/**
 * Memory charged to the given sandboxes' cgroups: unlike MemAvailable, not disturbed by other
 * work on the machine (excludes shared page cache of the template, which is counted once).
 */
function cgroupMib(dirs: string[]): number {
  let bytes = 0;
  for (const d of dirs) {
    try {
      bytes += Number(readFileSync(`${d}/memory.usage_in_bytes`, "utf8"));
    } catch {
      // Gone or not there yet.
    }
  }
  return bytes / 2 ** 20;
}

function cgroupsUnder(root: string, match: RegExp): string[] {
  try {
    return readdirSync(root)
      .filter((d) => match.test(d))
      .map((d) => `${root}/${d}`);
  } catch {
    return [];
  }
}

async function settle(): Promise<number> {
  // Let page cache and freshly started sandboxes settle before reading.
  await new Promise((r) => setTimeout(r, 3000));
  return availableMib();
}

async function measure(start: (i: number) => Promise<void>, cgroups: () => string[]) {
  const base = await settle();
  const points: Array<{
    n: number;
    usedMib: number;
    perSandboxMib: number;
    cgroupMibEach: number;
  }> = [];
  let n = 0;
  for (const step of STEPS) {
    while (n < step) await start(n++);
    const used = base - (await settle());
    points.push({
      n,
      usedMib: used,
      perSandboxMib: used / n,
      cgroupMibEach: cgroupMib(cgroups()) / n,
    });
  }
  return points;
}

async function main() {
  console.log(`host: ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
  const raws: RawRunsc[] = [];
  const floor = await measure(
    async (i) => {
      const r = new RawRunsc(i, scratch, rootfs);
      r.prepare();
      await r.run();
      raws.push(r);
    },
    () =>
      cgroupsUnder(
        "/sys/fs/cgroup/memory",
        new RegExp(`^raw${String(process.pid).padStart(7, "0")}`),
      ),
  );
  for (const r of raws) r.cleanup();

  const agent = await AgentProcess.start({ poolSize: 0 });
  let ours: Awaited<ReturnType<typeof measure>>;
  try {
    ours = await measure(
      async (i) => {
        await agent.client.createSandbox({
          sandboxId: `sb-bd${i.toString(16).padStart(6, "0")}`,
          template: "base",
        });
      },
      () => {
        const mine = new Set(readdirSync(`${agent.dataDir}/sandboxes`));
        return cgroupsUnder("/sys/fs/cgroup/memory/wrenn", /^wr-/).filter((d) =>
          mine.has(d.split("/").pop() ?? ""),
        );
      },
    );
  } finally {
    await agent.dispose();
  }
  const rows = ours.map((o, i) => {
    const f = floor[i]!;
    return {
      sandboxes: o.n,
      "host MiB used": o.usedMib,
      "MiB each": o.perSandboxMib,
      "floor MiB each": f.perSandboxMib,
      ratio: o.perSandboxMib / f.perSandboxMib,
      "cgroup MiB each": o.cgroupMibEach,
      "floor cgroup MiB each": f.cgroupMibEach,
      "fit in 20 GiB": Math.floor(TWENTY_GIB / o.perSandboxMib),
    };
  });
  console.log("\nidle sandboxes: host memory (MemAvailable drop) — ours vs bare runsc run");
  table(rows);
  console.log(`\nwritten to ${writeResults("agent-density", { rows, raw: { ours, floor } })}`);
}

await withRawScratch(templatesDir, async (dir, templateRootfs) => {
  scratch = dir;
  rootfs = templateRootfs;
  await main();
});
