// Exec round trip through envd beside the floor: the same command spawned directly.
//   npx tsx bench/envd-exec.ts      (needs `npm run build` first)
import { spawn } from "node:child_process";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Process } from "@wrenn/proto/process";
import { Sandbox } from "e2b";
import { startBenchEnvd } from "./envd-process.js";
import { percentile, writeResults } from "./support/stats.js";

const RUNS = Number(process.env.RUNS ?? 100);

async function measure(label: string, runs: number, once: () => Promise<void>) {
  for (let i = 0; i < 5; i++) await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await once();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { label, runs, p50: percentile(times, 50), p95: percentile(times, 95) };
}

function spawnOnce(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.resume();
    child.stderr.resume();
    child.once("error", reject);
    child.once("close", () => resolve());
  });
}

class BareEnvdSandbox extends Sandbox {
  static attach(url: string) {
    return new BareEnvdSandbox({
      sandboxId: "bench",
      envdVersion: "0.6.13",
      sandboxUrl: url,
      apiKey: "unused",
    } as ConstructorParameters<typeof Sandbox>[0]);
  }
}

const envd = await startBenchEnvd();
try {
  const client = createClient(
    Process,
    createConnectTransport({ baseUrl: envd.url, httpVersion: "1.1" }),
  );
  const rpcEcho = async () => {
    let output = "";
    for await (const res of client.start({ process: { cmd: "/bin/echo", args: ["hi"] } })) {
      const ev = res.event?.event;
      if (ev?.case === "data")
        output += Buffer.from(ev.value.output.value as Uint8Array).toString();
    }
    if (output !== "hi\n") throw new Error(`unexpected output ${JSON.stringify(output)}`);
  };
  const sbx = BareEnvdSandbox.attach(envd.url);
  const sdkEcho = async () => {
    const r = await sbx.commands.run("echo hi");
    if (r.stdout !== "hi\n") throw new Error("unexpected output");
  };

  const rows = [
    {
      ours: await measure("envd Start /bin/echo hi (Connect JSON, HTTP/1.1)", RUNS, rpcEcho),
      floor: await measure("spawn /bin/echo hi", RUNS, () => spawnOnce("/bin/echo", ["hi"])),
    },
    {
      ours: await measure(
        "E2B SDK commands.run('echo hi') (bash -l -c)",
        Math.min(RUNS, 50),
        sdkEcho,
      ),
      floor: await measure("spawn bash -l -c 'echo hi'", Math.min(RUNS, 50), () =>
        spawnOnce("/bin/bash", ["-l", "-c", "echo hi"]),
      ),
    },
  ];

  console.log("\nenvd exec round trip (ms)");
  console.log(
    ["what", "p50", "p95", "floor p50", "floor p95", "p50 ratio"].map((h) => h.padEnd(12)).join(""),
  );
  for (const { ours, floor } of rows) {
    console.log(`${ours.label}\n  vs ${floor.label}`);
    console.log(
      [
        "",
        ours.p50.toFixed(2),
        ours.p95.toFixed(2),
        floor.p50.toFixed(2),
        floor.p95.toFixed(2),
        `${(ours.p50 / floor.p50).toFixed(2)}x`,
      ]
        .map((c) => c.padEnd(12))
        .join(""),
    );
  }
  const path = writeResults("envd-exec", {
    date: new Date().toISOString(),
    node: process.version,
    rows,
  });
  console.log(`\nresults: ${path}`);
} finally {
  envd.stop();
}
