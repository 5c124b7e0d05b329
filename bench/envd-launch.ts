// envd's cost of starting a command, inside a gVisor sandbox of the base template: Node's spawn
// of wrenn-pty (what envd did before) against the resident launcher (wrenn-launcher), each
// timed from envd's launch() to the command's end as envd sees it, for /bin/true. Floor: a
// small C program's fork + exec + wait of /bin/true in the same sandbox, same run.
//   npx tsx bench/envd-launch.ts      (root; `npm run build` first; RUNS=40)
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { probeRunsc } from "@wrenn/host-agent";
import { percentile, table, writeResults } from "./support/stats.js";

const RUNS = Number(process.env.RUNS ?? 40);
const repo = resolve(fileURLToPath(new URL("..", import.meta.url)));
const support = join(repo, "bench/support");
const rootfs = join(
  repo,
  ".wrenn/templates/base",
  readlinkSync(join(repo, ".wrenn/templates/base/current")),
  "rootfs",
);
const runsc = process.env.WRENN_RUNSC || "runsc";
const build = await probeRunsc(runsc);
// The agent's platform and file flags; no network: nothing here leaves the sandbox.
const flags = build.flags.filter((f) => !f.startsWith("--network")).concat("--network=none");

const work = mkdtempSync(join(tmpdir(), "wrenn-bench-launch-"));
const id = `wbl-${process.pid}`;
const loadBefore = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`runsc: ${build.identity} (${flags.join(" ")})\nload: ${loadBefore}`);
try {
  mkdirSync(join(work, "m"));
  mkdirSync(join(work, "bundle"));
  execFileSync("gcc", ["-O2", "-o", join(work, "m/fork-floor"), join(support, "fork-floor.c")]);
  copyFileSync(join(support, "envd-launch-guest.mjs"), join(work, "m/guest.mjs"));
  const script = [
    `/m/fork-floor ${RUNS} /bin/true | sed 's/^/floor /'`,
    `/usr/bin/node /m/guest.mjs /e/dist /e/dist/bin ${RUNS} /bin/true`,
  ].join("; ");
  writeFileSync(
    join(work, "bundle/config.json"),
    JSON.stringify({
      ociVersion: "1.0.0",
      process: {
        user: { uid: 0, gid: 0 },
        args: ["/bin/sh", "-c", script],
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
        cwd: "/",
        // What envd needs to switch users, as in the agent's sandboxes.
        capabilities: Object.fromEntries(
          ["bounding", "effective", "permitted"].map((set) => [
            set,
            ["CAP_SETUID", "CAP_SETGID", "CAP_KILL"],
          ]),
        ),
      },
      root: { path: rootfs, readonly: true },
      hostname: "bench",
      mounts: [
        { destination: "/proc", type: "proc", source: "proc" },
        { destination: "/dev", type: "tmpfs", source: "tmpfs" },
        { destination: "/tmp", type: "tmpfs", source: "tmpfs" },
        { destination: "/m", type: "bind", source: join(work, "m"), options: ["rbind", "ro"] },
        {
          destination: "/e",
          type: "bind",
          source: join(repo, "apps/envd"),
          options: ["rbind", "ro"],
        },
      ],
      linux: { namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }] },
    }),
  );
  const run = spawnSync(
    runsc,
    ["--root", join(work, "state"), ...flags, "run", "-bundle", join(work, "bundle"), id],
    { encoding: "utf8", timeout: 30 * 60_000 },
  );
  if (run.status !== 0)
    throw new Error(`runsc run failed (${run.status}): ${run.stderr}${run.stdout}`);
  const ms: Record<string, number[]> = { floor: [] };
  for (const line of run.stdout.split("\n")) {
    if (line.startsWith("floor ")) (ms.floor as number[]).push(Number(line.slice(6)));
    else if (line.startsWith("{")) {
      const row = JSON.parse(line) as { way: string; ms: number[] };
      ms[row.way] = row.ms;
    }
  }
  const floor50 = percentile(ms.floor as number[], 50);
  const floor95 = percentile(ms.floor as number[], 95);
  const rows = Object.entries(ms).map(([way, v]) => ({
    way,
    n: v.length,
    p50: percentile(v, 50),
    p95: percentile(v, 95),
    "× floor p50": percentile(v, 50) / floor50,
    "× floor p95": percentile(v, 95) / floor95,
  }));
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  table(rows);
  console.log(`load after: ${loadAfter}`);
  console.log(
    `results: ${writeResults("envd-launch", { runsc: build.identity, loadBefore, loadAfter, runs: RUNS, rows })}`,
  );
} finally {
  spawnSync(runsc, ["--root", join(work, "state"), "delete", "--force", id]);
  rmSync(work, { recursive: true, force: true });
}
