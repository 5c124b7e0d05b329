#!/usr/bin/env node
// The whole suite, as `npm test` runs it, in two lanes side by side (two cores):
//   e2e:      end-to-end files, one at a time (each starts real sandboxes);
//   unit+e2e: the unit and envd-in-gVisor projects, then end-to-end files too.
// The end-to-end files are one shared queue, longest first: each lane takes the next file when
// it is free, so both lanes end within about one file of each other whatever the machine's
// speed (fixed lanes ended ten minutes apart). Each file is its own vitest (a few seconds of
// start-up each). Each test stack leases its own slot (ports, pool, prefix, table), so the
// lanes never share anything.
//
// With arguments it is plain `vitest run ARGS` (one file, one project, a filter).
import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { sep } from "node:path";
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
// Every vitest below inherits this: their global setups skip the check just made.
process.env.WRENN_TEST_BASE_BUILT = "1";

/**
 * The longest end-to-end files (seconds in a quiet run), taken first so that the last files
 * taken are short ones; every other file follows in path order.
 */
const LONGEST_FIRST = [
  // Every fleet case (fleet.test.ts and host-ops.test.ts folded in, fork x10 and a snapshot
  // added): 276 s at a load average of 7.
  "tests/e2e-stack/fleet-netns.test.ts",
  "tests/sdk-scenario/scenario.test.ts", // 275: five languages and runtimes
  "tests/e2e-stack/header-rules.test.ts", // 170: an agent kill -9 and a SOCKS5 proxy added
  "tests/cli/sandbox-commands.test.ts", // 155
  "tests/e2e-stack/honest-state.test.ts", // 145
  "tests/sdk-scenario/install.test.ts", // 140: npm, Go and Python installs, offline
  "tests/workspaces/move.test.ts", // 130: two agents, a move, a wake during it, WireGuard after
  "tests/e2e-stack/exec-output.test.ts", // 130
  "tests/admin/admin-ui.test.ts", // 115: Chromium
  "tests/workspaces/ssh.test.ts", // 115
  "tests/workspaces/wireguard.test.ts", // 110
  "tests/e2b-compat/sdk-matrix.test.ts", // 105
  "tests/workspaces/clients.test.ts", // 105: a workspace's services, snapshots and restore
  "tests/template/e2b-builder.test.ts", // 100
  "tests/host-agent/isolation.test.ts", // 100
  "tests/e2e-stack/v1-api.test.ts", // 90
  "tests/template/dockerfile-cli.test.ts", // 85
  "tests/template/base.test.ts", // 80
  "tests/cli/run-and-profiles.test.ts", // 80
  "tests/e2e-stack/e2b-snapshots.test.ts", // 80
  "tests/e2e-stack/e2b-sdk.test.ts", // 80
  "tests/sdk/examples.test.ts", // 80
  "tests/e2e-stack/network.test.ts", // 80
];

/** Every end-to-end file (the e2e project includes every tests/ file named *.test.ts), longest first. */
function endToEndFiles() {
  const all = readdirSync(`${root}tests`, { recursive: true })
    .map((f) => `tests/${String(f).split(sep).join("/")}`)
    .filter((f) => f.endsWith(".test.ts"))
    .sort();
  const first = LONGEST_FIRST.filter((f) => all.includes(f));
  return [...first, ...all.filter((f) => !first.includes(f))];
}

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
  /** The failure whose error lines are being kept, and how many more to keep. */
  let keeping;
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
      if (keeping && (keeping.left === 0 || /^\s*(⎯|❯|FAIL\s)/.test(bare))) keeping = undefined;
      if (keeping && bare.trim() !== "") {
        keeping.failure.error.push(bare.trimEnd().slice(0, 240));
        keeping.left -= 1;
      }
      const title = `[${name}] ${bare.trim()}`;
      if (/^\s*FAIL\s/.test(bare) && !failures.some((f) => f.title === title)) {
        const failure = { title, error: [] };
        failures.push(failure);
        // Its first lines (the message, the start of a diff) go in the summary at the end,
        // which is all of a long run's output some readers see.
        keeping = { failure, left: ERROR_LINES };
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

/**
 * Runs a lane: its own vitests first, then end-to-end files from the shared queue until it is
 * empty. A failed vitest does not stop the rest.
 */
async function lane(name, runs, queue) {
  const started = Date.now();
  const tail = []; // the last lines of each vitest that failed
  let code = 0;
  const run = async (vitestArgs) => {
    const own = [];
    const c = await vitestRun(name, vitestArgs, own);
    if (c !== 0) {
      code = c;
      tail.push(...own);
    }
  };
  for (const vitestArgs of runs) await run(vitestArgs);
  for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
    await run(["--project", "e2e", file]);
  }
  return { name, code, seconds: (Date.now() - started) / 1000, tail };
}

/** Each failed test's FAIL line and the first lines of its error, printed again at the end. */
const failures = [];
const ERROR_LINES = 80;

/**
 * What of a failure's error lines to print at the end: its message and, for a diff, the lines
 * that differ (not the unchanged lines around them); else its first lines.
 */
function errorSummary(lines) {
  const changed = lines.filter((l) => /^[-+]\s/.test(l) && !/^[-+] (Expected|Received)$/.test(l));
  return changed.length > 0 ? [lines[0], ...changed.slice(0, 10)] : lines.slice(0, 6);
}
const queue = endToEndFiles();
const started = Date.now();
const results = await Promise.all([
  lane("e2e", [], queue),
  lane("unit+e2e", [["--project", "unit", "--project", "envd-gvisor"]], queue),
]);
console.log("");
for (const r of results.filter((r) => r.code !== 0)) {
  console.log(`==> ${r.name}: failed (exit ${r.code}); its last lines again:`);
  for (const line of r.tail) console.log(`[${r.name}] ${line}`);
  console.log("");
}
if (failures.length > 0) {
  console.log(`==> ${failures.length} failed test(s):`);
  for (const f of failures) {
    console.log(f.title);
    for (const line of errorSummary(f.error)) console.log(`    ${line}`);
  }
  console.log("");
}
for (const r of results) {
  console.log(`==> ${r.name}: ${r.code === 0 ? "passed" : "FAILED"} in ${Math.round(r.seconds)} s`);
}
console.log(`==> whole suite: ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
