import os from "node:os";
import { BootPath } from "@wrenn/proto/hostagent";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { templatesDir } from "../tests/harness/paths.js";
import { waitFor } from "../tests/harness/wait.js";
import { RawRunsc, withRawScratch } from "./support/raw-runsc.js";
import { summary, table, writeResults } from "./support/stats.js";
import { untilTemplateRestore } from "./support/template-ready.js";

const SEQUENTIAL = Number(process.env.SEQUENTIAL ?? 20);
const CONCURRENT = Number(process.env.CONCURRENT ?? 10);
let rootfs = "";
let scratch = "";
let idCounter = 0;
const nextId = () => `sb-b${(idCounter++).toString(16).padStart(7, "0")}`;

async function rawFloor(kind: "run" | "restore", image?: string) {
  const seq: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const r = new RawRunsc(i, scratch, rootfs);
    r.prepare();
    seq.push(kind === "run" ? await r.run() : await r.restore(image as string));
    r.cleanup();
  }
  const group = Array.from(
    { length: CONCURRENT },
    (_, i) => new RawRunsc(100 + i, scratch, rootfs),
  );
  for (const r of group) r.prepare();
  const par = await Promise.all(
    group.map((r) => (kind === "run" ? r.run() : r.restore(image as string))),
  );
  for (const r of group) r.cleanup();
  return { seq, par };
}

async function templateImage(): Promise<string> {
  const r = new RawRunsc(999, scratch, rootfs);
  r.prepare();
  await r.run();
  const image = `${scratch}/image`;
  await r.checkpoint(image);
  r.cleanup();
  return image;
}

async function timedCreate(agent: AgentProcess, expect: BootPath): Promise<number> {
  const id = nextId();
  const t0 = performance.now();
  const { sandbox } = await agent.client.createSandbox({ sandboxId: id, template: "base" });
  const ms = performance.now() - t0;
  if (sandbox?.bootPath !== expect) {
    throw new Error(
      `expected boot path ${BootPath[expect]}, got ${BootPath[sandbox?.bootPath ?? 0]}`,
    );
  }
  return ms;
}

async function destroyAll(agent: AgentProcess): Promise<void> {
  const { sandboxes } = await agent.client.listSandboxes({});
  for (const s of sandboxes) await agent.client.destroySandbox({ sandboxId: s.sandboxId });
}

async function pooled(agent: AgentProcess): Promise<number> {
  return (await agent.client.hostStatus({})).sandboxesByState.pooled ?? 0;
}

async function ours(path: "warm_pool" | "template_restore" | "cold_boot") {
  const agent = await AgentProcess.start({
    poolSize: path === "warm_pool" ? SEQUENTIAL : 0,
    templateRestore: path !== "cold_boot",
  });
  const expect =
    path === "warm_pool"
      ? BootPath.WARM_POOL
      : path === "template_restore"
        ? BootPath.TEMPLATE_RESTORE
        : BootPath.COLD_BOOT;
  try {
    if (path === "template_restore") await untilTemplateRestore(agent, nextId);
    if (path === "warm_pool")
      await waitFor(async () => (await pooled(agent)) >= SEQUENTIAL, 300_000);
    const seq: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) seq.push(await timedCreate(agent, expect));
    await destroyAll(agent);
    if (path === "warm_pool")
      await waitFor(async () => (await pooled(agent)) >= CONCURRENT, 300_000);
    const par = await Promise.all(
      Array.from({ length: CONCURRENT }, () => timedCreate(agent, expect)),
    );
    await destroyAll(agent);
    return { seq, par };
  } finally {
    await agent.dispose();
  }
}

async function main() {
  console.log(
    `host: ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
  const floorRun = await rawFloor("run");
  const image = await templateImage();
  const floorRestore = await rawFloor("restore", image);
  const results = {
    cold_boot: await ours("cold_boot"),
    template_restore: await ours("template_restore"),
    warm_pool: await ours("warm_pool"),
  };
  const floors = { cold_boot: floorRun, template_restore: floorRestore, warm_pool: floorRestore };
  const floorName = {
    cold_boot: "runsc run",
    template_restore: "runsc restore",
    warm_pool: "runsc restore",
  };
  const rows: Array<Record<string, string | number>> = [];
  for (const path of ["warm_pool", "template_restore", "cold_boot"] as const) {
    for (const mode of ["seq", "par"] as const) {
      const s = summary(results[path][mode]);
      const f = summary(floors[path][mode]);
      rows.push({
        path,
        mode: mode === "seq" ? `${SEQUENTIAL} in a row` : `${CONCURRENT} at once`,
        "p50 ms": s.p50,
        "p95 ms": s.p95,
        floor: floorName[path],
        "floor p50": f.p50,
        "floor p95": f.p95,
        "ratio p50": s.p50 / f.p50,
      });
    }
  }
  console.log(
    "\ncreate → envd ready (ours: CreateSandbox RPC incl. /init; floors: bare runsc to /health)",
  );
  table(rows);
  console.log(
    `\nwritten to ${writeResults("agent-create", { load: os.loadavg(), rows, raw: { results, floors } })}`,
  );
}

await withRawScratch(templatesDir, async (dir, templateRootfs) => {
  scratch = dir;
  rootfs = templateRootfs;
  await main();
});
