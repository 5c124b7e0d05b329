// Template builds (issue 11): a 5-step template built cold (force: no cached layer) and again
// with its layers cached, beside the floor: the same steps run by hand in one sandbox of the
// same base (create + the commands). Then Sandbox.create from the custom template beside
// base, and what the template and each of its layers cost on disk (du, hard links counted
// once, in build order: each layer's figure is what it adds).
//   npx tsx bench/template-build.ts      (needs `npm run build` first; root)
import { execFileSync } from "node:child_process";
import { access, readdir, readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { Sandbox } from "e2b";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { templatesDir } from "../tests/harness/paths.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, vsFloor, writeResults } from "./support/stats.js";

const BUILDS = Number(process.env.BUILDS ?? 3);
const CREATES = Number(process.env.CREATES ?? 6);

// Five steps of the kinds a Dockerfile has: files made by a command, ENV, WORKDIR, commands
// reading the files and the environment. No network: the machine has none to give.
const RUN1 = "mkdir -p /opt/app && head -c 16777216 /dev/urandom > /opt/app/blob";
const RUN4 = "for i in $(seq 2000); do echo line $i $APP_MODE; done > lines.txt";
const RUN5 = "sha256sum blob lines.txt > sums && tar -czf /opt/app.tgz -C /opt app";
const STEPS = [
  { type: "RUN", args: [RUN1, "root"] },
  { type: "ENV", args: ["APP_MODE", "bench"] },
  { type: "WORKDIR", args: ["/opt/app"] },
  { type: "RUN", args: [RUN4, "root"] },
  { type: "RUN", args: [RUN5, "root"] },
];

const du = (dirs: string[]) =>
  execFileSync("du", ["-sb", ...dirs], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => Number(l.split("\t")[0]));
const mib = (bytes: number) => bytes / (1024 * 1024);
const ms = (t0: number) => performance.now() - t0;
const stat = (xs: number[]) => ({ p50: percentile(xs, 50), p95: percentile(xs, 95) });

const load = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`load: ${load}`);
const agent = await AgentProcess.start({ poolSize: 0 });
const target = await freshDatabase("pglite");
const cp = await startControlPlaneProcess(target.dataDir, agent.url);
const call = apiCaller(() => cp.url);
const { key } = await createKey({ call }, { name: "bench" });
const opts = { apiKey: key, apiUrl: cp.url, sandboxUrl: cp.url, requestTimeoutMs: 600_000 };
const built: string[] = [];

/** Builds NAME:TAG from base with STEPS; ms until it is ready. */
async function build(name: string, force: boolean): Promise<number> {
  const t0 = performance.now();
  const r = await call("POST", "/v1/templates", {
    key,
    body: { name, fromTemplate: "base", steps: STEPS, force },
  });
  if (r.status !== 202 && r.status !== 201) throw new Error(`build ${name}: ${r.text}`);
  built.push(name);
  for (;;) {
    const s = await call("GET", `/v1/templates/${name}`, { key });
    if (s.body.status === "ready") return ms(t0);
    if (s.body.status !== "building") throw new Error(`build ${name}: ${s.text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The floor: one sandbox of base, the same steps by hand (ENV and WORKDIR as options). */
async function byHand(): Promise<{ total: number; steps: number }> {
  const t0 = performance.now();
  const sbx = await Sandbox.create("base", opts);
  const t1 = performance.now();
  try {
    const root = { user: "root" as const, timeoutMs: 600_000 };
    await sbx.commands.run(RUN1, root);
    const env = { envs: { APP_MODE: "bench" }, cwd: "/opt/app" };
    await sbx.commands.run(RUN4, { ...root, ...env });
    await sbx.commands.run(RUN5, { ...root, ...env });
    return { total: ms(t0), steps: ms(t1) };
  } finally {
    await sbx.kill();
  }
}

/** The host's name for the template (the t- directory its build added) and its meta. */
async function hostTemplate(before: Set<string>) {
  const added = (await readdir(templatesDir)).filter((d) => d.startsWith("t-") && !before.has(d));
  if (added.length !== 1) throw new Error(`expected one new template, found ${added.join(", ")}`);
  const dir = await realpath(path.join(templatesDir, added[0] as string, "current"));
  const meta = JSON.parse(await readFile(path.join(dir, "template.json"), "utf8")) as {
    name: string;
    layers: string[];
  };
  return { dir, ...meta };
}

/** Waits (bounded) for the agent's boot checkpoint of template `name`. */
async function checkpointed(name: string): Promise<boolean> {
  const root = path.join(agent.dataDir, "template-checkpoints");
  const deadline = Date.now() + 300_000;
  while (Date.now() < deadline) {
    for (const runtime of await readdir(root).catch(() => [] as string[])) {
      for (const d of await readdir(path.join(root, runtime)).catch(() => [] as string[])) {
        if (!d.startsWith(`${name}-`)) continue;
        const img = path.join(root, runtime, d, "checkpoint.img");
        if (
          await access(img).then(
            () => true,
            () => false,
          )
        )
          return true;
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return false;
}

try {
  const before = new Set(await readdir(templatesDir));
  const cold: number[] = [];
  const cached: number[] = [];
  const hand: number[] = [];
  const handSteps: number[] = [];
  // Interleaved, so load changes touch all three alike.
  for (let i = 0; i < BUILDS; i++) {
    cold.push(await build(`bench-cold:${i}`, true));
    cached.push(await build("bench-app:1", false));
    const h = await byHand();
    hand.push(h.total);
    handSteps.push(h.steps);
  }
  // The cached builds are rebuilds of one name: one host template stays (the others go).
  for (let i = 0; i < BUILDS; i++) {
    await call("DELETE", `/v1/templates/bench-cold:${i}`, { key });
  }
  const t = await hostTemplate(before);
  const hasCheckpoint = await checkpointed(t.name);

  const custom: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    for (const [name, into] of [
      ["bench-app:1", custom],
      ["base", base],
    ] as const) {
      const t0 = performance.now();
      const sbx = await Sandbox.create(name, opts);
      into.push(ms(t0));
      const r = await sbx.commands.run("cat /opt/app/sums 2>/dev/null | wc -l");
      if (name !== "base" && r.stdout.trim() !== "2") throw new Error(`no build in ${name}`);
      await sbx.kill();
    }
  }

  // Disk: base's root, then each layer in build order, then the template's own root (hard
  // links to its last layer), in one du so shared files count once, where first seen.
  const baseRoot = path.join(templatesDir, "base", "current", "rootfs");
  // A layer's current tree is the one its layer.json names (a forced build puts a new one
  // beside the old, swept later).
  const layers = await Promise.all(
    t.layers.map(async (l) => {
      const dir = path.join(templatesDir, ".layers", l);
      const meta = JSON.parse(await readFile(path.join(dir, "layer.json"), "utf8")) as {
        source: string;
        root?: string;
      };
      return { dir: path.join(dir, meta.root ?? "root"), source: meta.source };
    }),
  );
  const layerDirs = layers.map((l) => l.dir);
  const sizes = du([baseRoot, ...layerDirs, t.dir]);
  const layerBytes = sizes.slice(1, 1 + layerDirs.length);
  const templateBytes = sizes.at(-1) as number;
  const [wholeTemplate] = du([t.dir]);

  const h = stat(hand);
  const row = vsFloor;
  const rows = [
    row("build, cold (force: no cached layer)", cold, h),
    row("build, every layer cached", cached, h),
    row("by hand: create base + the 3 RUN steps", hand, h),
    row("by hand: the 3 RUN steps alone", handSteps, h),
    row(`Sandbox.create(custom)${hasCheckpoint ? "" : " (no checkpoint yet)"}`, custom, stat(base)),
  ];
  console.log(`\n5-step template from base; floor: the same steps by hand in one base sandbox`);
  console.log("(the create row's floor is Sandbox.create('base') in the same run)");
  table(rows);
  const diskRows = [
    ...layerBytes.map((b, i) => ({
      what: `layer ${i + 1} (${(layers[i]?.source ?? "?").slice(0, 40)}), added`,
      MiB: mib(b),
    })),
    { what: "template root (hard links to its last layer), added", MiB: mib(templateBytes) },
    { what: "template root on its own (du of it alone)", MiB: mib(wholeTemplate as number) },
    {
      what: "base root (the floor: what every template starts from)",
      MiB: mib(sizes[0] as number),
    },
  ];
  console.log("\non disk (du -sb, hard links counted once)");
  table(diskRows);
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  console.log(`\nload at the end: ${loadAfter}`);
  console.log(
    `written to ${writeResults("template-build", { load, loadAfter, builds: BUILDS, creates: CREATES, hasCheckpoint, rows, diskRows })}`,
  );
} finally {
  await cleanUp({
    templates: async () => {
      for (const name of new Set(built)) await call("DELETE", `/v1/templates/${name}`, { key });
    },
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
