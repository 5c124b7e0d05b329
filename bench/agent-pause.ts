/**
 * Pause (checkpoint to disk) and resume latency and checkpoint size, for an idle sandbox and one
 * holding 200 MiB, beside the floor: bare `runsc checkpoint` + `delete` and `runsc restore` to
 * envd's /health on the same root filesystem and the same memory.
 *
 *   npx tsx bench/agent-pause.ts        (as root; writes bench/results/agent-pause.json)
 */
import { readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { PauseMode } from "@wrenn/proto/hostagent";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { templatesDir } from "../tests/harness/paths.js";
import { execInSandbox } from "../tests/harness/sandbox-exec.js";
import { RawRunsc, runInRaw, withRawScratch } from "./support/raw-runsc.js";
import { summary, table, writeResults } from "./support/stats.js";

const CYCLES = Number(process.env.CYCLES ?? 8);
const _ONLY_OURS = process.env.ONLY_OURS === "1";
let rootfs = "";
let scratch = "";
// Random bytes: resident and incompressible (gVisor compresses checkpoint images, so zeroed
// memory would shrink to nothing); then it sleeps with no socket open.
const HOLD_200M =
  "nohup python3 -c 'import os,time\na=os.urandom(200<<20)\ntime.sleep(10**6)' >/dev/null 2>&1 & sleep 4";

function dirBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(`${dir}/${f}`).size, 0);
}

async function floor(hold: boolean) {
  const r = new RawRunsc(0, scratch, rootfs);
  r.prepare();
  await r.run();
  if (hold) {
    await runInRaw(r.ip, HOLD_200M);
  }
  const pause: number[] = [];
  const resume: number[] = [];
  let bytes = 0;
  for (let i = 0; i < CYCLES; i++) {
    const image = `${scratch}/floor-image-${i}`;
    const t0 = performance.now();
    await r.checkpoint(image);
    pause.push(performance.now() - t0);
    bytes = dirBytes(image);
    resume.push(await r.restore(image));
    rmSync(image, { recursive: true, force: true });
  }
  r.cleanup();
  return { pause, resume, bytes };
}

async function ours(agent: AgentProcess, id: string, hold: boolean) {
  await agent.client.createSandbox({
    sandboxId: id,
    template: "base",
    resources: { memoryMb: 1024 },
  });
  if (hold) await execInSandbox(agent.url, id, HOLD_200M);
  const pause: number[] = [];
  const resume: number[] = [];
  let bytes = 0;
  for (let i = 0; i < CYCLES; i++) {
    let t0 = performance.now();
    const { sandbox } = await agent.client.pauseSandbox({ sandboxId: id });
    pause.push(performance.now() - t0);
    if (sandbox?.pauseMode !== PauseMode.CHECKPOINT)
      throw new Error("expected a checkpoint, not a freeze");
    bytes = Number(sandbox.checkpointBytes);
    t0 = performance.now();
    await agent.client.resumeSandbox({ sandboxId: id });
    resume.push(performance.now() - t0);
  }
  if (hold) {
    // The process and its memory came back every time.
    const ps = await execInSandbox(agent.url, id, "ps -o rss= -C python3");
    if (Number(ps.stdout.trim()) < 190 * 1024)
      throw new Error(`python lost its memory: ${ps.stdout}`);
  }
  await agent.client.destroySandbox({ sandboxId: id });
  return { pause, resume, bytes };
}

async function main() {
  console.log(
    `host: ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  const agent = await AgentProcess.start({ poolSize: 0 });
  const data: Record<string, unknown> = {};
  const rows: Array<Record<string, string | number>> = [];
  try {
    for (const [label, hold] of [
      ["idle", false],
      ["200 MiB held", true],
    ] as const) {
      const o = await ours(agent, hold ? "sb-b0000a02" : "sb-b0000a01", hold);
      const f = await floor(hold);
      data[label] = { ours: o, floor: f };
      for (const op of ["pause", "resume"] as const) {
        const s = summary(o[op]);
        const fl = summary(f[op]);
        rows.push({
          sandbox: label,
          op,
          "p50 ms": s.p50,
          "p95 ms": s.p95,
          "floor p50": fl.p50,
          "floor p95": fl.p95,
          "ratio p50": s.p50 / fl.p50,
          "checkpoint MiB": o.bytes / 2 ** 20,
          "floor MiB": f.bytes / 2 ** 20,
        });
      }
    }
  } finally {
    await agent.dispose();
  }
  console.log(
    `\npause / resume, ${CYCLES} cycles each (floor: bare runsc checkpoint+delete / restore to /health)`,
  );
  table(rows);
  console.log(
    `\nwritten to ${writeResults("agent-pause", { load: os.loadavg(), rows, raw: data })}`,
  );
}

await withRawScratch(templatesDir, async (dir, templateRootfs) => {
  scratch = dir;
  rootfs = templateRootfs;
  await main();
});
