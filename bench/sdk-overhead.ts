// What each SDK adds to a call: `commands.run("true")` and a 100 MiB upload and download with
// the TypeScript, Python and Go SDKs, each beside the same calls made raw over HTTP in the same
// language (the floor: envd's Process/Start Connect stream, and envd's /files, through the same
// control plane to the same sandbox), alternating SDK and raw so load drift hits both alike.
//   npx tsx bench/sdk-overhead.ts      (needs `npm run build` first; root; python3 and go)
//   RUNS=20 TRANSFERS=3 MIB=100 by default.
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { repoRoot } from "../tests/harness/paths.js";
import { type Side, type Target, tsSide } from "./sdk-overhead/ts-side.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, writeResults } from "./support/stats.js";

const RUNS = Number(process.env.RUNS ?? 20);
const TRANSFERS = Number(process.env.TRANSFERS ?? 3);
const MIB = Number(process.env.MIB ?? 100);

/** Runs one language's side as its own program; its last stdout line is the Side. */
function child(command: string, args: string[], target: Target, cwd: string, env = {}): Side {
  const r = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    maxBuffer: 16 * 1024 * 1024,
    env: {
      ...process.env,
      ...env,
      WRENN_API_URL: target.apiUrl,
      WRENN_API_KEY: target.apiKey,
      BENCH_SANDBOX_ID: target.sandboxId,
      BENCH_ENVD_TOKEN: target.envdAccessToken,
      BENCH_RUNS: String(RUNS),
      BENCH_TRANSFERS: String(TRANSFERS),
      BENCH_MIB: String(MIB),
    },
  });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")}: ${r.status}\n${r.stderr}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1] ?? "{}") as Side;
}

const load = execFileSync("uptime", { encoding: "utf8" }).trim();
console.log(`load: ${load}`);
const agent = await AgentProcess.start({ poolSize: 1 });
const target = await freshDatabase("pglite");
const cp = await startControlPlaneProcess(target.dataDir, agent.url);
try {
  const call = apiCaller(() => cp.url);
  const { key } = await createKey({ call }, { name: "bench" });
  const created = await call("POST", "/v1/sandboxes", { key, body: { timeoutSeconds: 3600 } });
  if (created.status !== 201) throw new Error(created.text);
  const t: Target = {
    apiUrl: cp.url,
    apiKey: key,
    sandboxId: created.body.id,
    envdAccessToken: created.body.envdAccessToken,
  };
  const goDir = join(repoRoot, "bench/sdk-overhead/go");
  const goBinary = join(goDir, ".scratch-overhead");
  execFileSync("go", ["build", "-o", goBinary, "."], {
    cwd: goDir,
    env: { ...process.env, GOPROXY: "off", GOFLAGS: "-mod=mod" },
  });
  const sides: Record<string, Side> = {
    TypeScript: await tsSide(t, RUNS, TRANSFERS, MIB * 1024 * 1024),
    Python: child("python3", [join(repoRoot, "bench/sdk-overhead/overhead.py")], t, repoRoot, {
      PYTHONPATH: join(repoRoot, "sdks/python"),
    }),
    Go: child(goBinary, [], t, goDir),
  };

  const p = (xs: number[], q: number) => percentile(xs, q);
  const rows = Object.entries(sides).flatMap(([language, side]) =>
    (["exec", "upload", "download"] as const).map((what) => {
      const { sdk, raw } = side[what];
      const transfer = what !== "exec";
      return {
        language,
        measure: transfer ? `${what} ${MIB} MiB` : 'commands.run("true")',
        "raw p50 ms": p(raw, 50),
        "sdk p50 ms": p(sdk, 50),
        "sdk p95 ms": p(sdk, 95),
        "x p50": p(sdk, 50) / p(raw, 50),
        "sdk MiB/s": transfer ? MIB / (p(sdk, 50) / 1000) : "",
        "raw MiB/s": transfer ? MIB / (p(raw, 50) / 1000) : "",
      };
    }),
  );
  console.log(
    `\nEach SDK beside raw HTTP in its own language (floor), one sandbox; exec n=${RUNS}, transfers n=${TRANSFERS}`,
  );
  table(rows);
  const loadAfter = execFileSync("uptime", { encoding: "utf8" }).trim();
  console.log(`\nload at the end: ${loadAfter}`);
  console.log(
    `written to ${writeResults("sdk-overhead", { load, loadAfter, runs: RUNS, transfers: TRANSFERS, mib: MIB, rows, samples: sides })}`,
  );
  // After the figures are out: a pooled connection the server closed while the other
  // languages ran (minutes) can fail this call, and the agent's stop removes the sandbox anyway.
  await call("DELETE", `/v1/sandboxes/${t.sandboxId}`, { key }).catch((e: Error) =>
    console.log(`(deleting the sandbox: ${e.message}; the agent's stop removes it)`),
  );
} finally {
  await cleanUp({
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
