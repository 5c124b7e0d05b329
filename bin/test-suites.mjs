#!/usr/bin/env node
// The whole suite, as `npm test` runs it, in two lanes side by side (two cores):
//   e2e:      the end-to-end files (one at a time: each starts real sandboxes), except the CLI's;
//   unit+cli: the unit and envd-in-gVisor projects, then the CLI's end-to-end files and the
//             SDK scenario.
// One vitest runs its projects one after the other when a project is serial, which left a
// core idle for the length of the unit projects; two lanes overlap them, and the CLI's files
// and the SDK scenario (a third of the end-to-end time) move to the shorter lane so both end at
// about the same time. Each test stack leases its own slot (ports, pool, prefix, table), so the lanes never
// share anything.
//
// With arguments it is plain `vitest run ARGS` (one file, one project, a filter).
import { spawn, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { stripVTControlCharacters } from "node:util";

const root = fileURLToPath(new URL("../", import.meta.url));
const vitest = `${root}node_modules/vitest/vitest.mjs`;
const args = process.argv.slice(2);

if (args.length > 0) {
  const r = spawnSync(process.execPath, [vitest, "run", ...args], { stdio: "inherit", cwd: root });
  process.exit(r.status ?? 1);
}

// Both processes' global setups need the base template; built here once so they do not race
// to build it (instant when cached).
const build = spawnSync(
  process.execPath,
  [`${root}apps/host-agent/dist/main.js`, "template", "build", "base"],
  {
    stdio: "inherit",
    env: { ...process.env, WRENN_TEMPLATES_DIR: `${root}.wrenn/templates` },
  },
);
if (build.status !== 0) {
  console.error("building the base template failed (see above); run `npm run build` and retry");
  process.exit(1);
}

/**
 * The end-to-end files that run in the second lane, after the unit projects: the CLI's, and the
 * five-runtime SDK scenario (Node, Bun, Deno, Python, Go: the longest single file).
 */
const SECOND_LANE_E2E = [
  "tests/cli/",
  "tests/sdk-scenario/scenario.test.ts",
  "tests/sdk-scenario/failed-files.test.ts",
  // Moved when the first lane ran 10 minutes longer than this one (2,678 s against 2,073 s).
  "tests/sdk-scenario/install.test.ts",
];

/**
 * Runs one vitest, each line prefixed with its lane's name; keeps its last lines for the
 * summary. One worker: the end-to-end files are one at a time anyway, and two vitests of two
 * workers each would put four heavy files on two cores.
 */
function vitestRun(name, vitestArgs, tail) {
  const child = spawn(process.execPath, [vitest, "run", "--maxWorkers=1", ...vitestArgs], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  let pending = "";
  const onData = (chunk) => {
    pending += chunk.toString("utf8");
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) {
      process.stdout.write(`[${name}] ${line}\n`);
      tail.push(line);
      if (tail.length > 80) tail.shift();
      // Every failed test's name, kept whole: the tail alone can lose the earlier ones.
      const bare = stripVTControlCharacters(line);
      if (/^\s*FAIL\s/.test(bare) && !failures.includes(`[${name}] ${bare.trim()}`)) {
        failures.push(`[${name}] ${bare.trim()}`);
      }
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      if (pending) onData("\n");
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** Runs a lane's vitests one after the other; a failed one does not stop the rest. */
async function lane(name, runs) {
  const started = Date.now();
  const tail = []; // the last lines of each vitest that failed
  let code = 0;
  for (const vitestArgs of runs) {
    const own = [];
    const c = await vitestRun(name, vitestArgs, own);
    if (c !== 0) {
      code = c;
      tail.push(...own);
    }
  }
  return { name, code, seconds: (Date.now() - started) / 1000, tail };
}

/** Each failed test's FAIL line, from both lanes, printed again at the very end. */
const failures = [];
const started = Date.now();
const results = await Promise.all([
  lane("e2e", [
    [
      "--project",
      "e2e",
      ...SECOND_LANE_E2E.flatMap((f) => ["--exclude", f.endsWith("/") ? `${f}**` : f]),
    ],
  ]),
  lane("unit+cli", [
    ["--project", "unit", "--project", "envd-gvisor"],
    ["--project", "e2e", ...SECOND_LANE_E2E],
  ]),
]);
console.log("");
for (const r of results.filter((r) => r.code !== 0)) {
  console.log(`==> ${r.name}: failed (exit ${r.code}); its last lines again:`);
  for (const line of r.tail) console.log(`[${r.name}] ${line}`);
  console.log("");
}
if (failures.length > 0) {
  console.log(`==> ${failures.length} failed test(s):`);
  for (const f of failures) console.log(f);
  console.log("");
}
for (const r of results) {
  console.log(`==> ${r.name}: ${r.code === 0 ? "passed" : "FAILED"} in ${Math.round(r.seconds)} s`);
}
console.log(`==> whole suite: ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
