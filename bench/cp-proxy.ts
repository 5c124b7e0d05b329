import http from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createKey, freshDatabase, releaseTestDatabases } from "@wrenn/control-plane/testing";
import { Sandbox } from "e2b";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { execInSandbox } from "../tests/harness/sandbox-exec.js";
import { apiCaller } from "./support/api-call.js";
import { cleanUp } from "./support/clean-up.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, writeResults } from "./support/stats.js";

// wrenn-cp as a child process, as it runs in production (its own event loop).

const RUNS = Number(process.env.RUNS ?? 300);
const EXECS = Number(process.env.EXECS ?? 60);
const REQUESTS = Number(process.env.REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const FILE_MIB = Number(process.env.FILE_MIB ?? 100);
const TRANSFERS = Number(process.env.TRANSFERS ?? 3);

async function latency(runs: number, once: () => Promise<void>) {
  for (let i = 0; i < Math.min(20, runs); i++) await once();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await once();
    times.push(performance.now() - t);
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

async function throughput(once: () => Promise<void>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await once();
    }),
  );
  return REQUESTS / ((performance.now() - start) / 1000);
}

async function expectStatus(response: Response, status: number) {
  if (response.status !== status)
    throw new Error(`${response.url}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

/** MiB/s of uploading FILE_MIB with `put` and downloading it with `get` (median of TRANSFERS). */
async function transfer(
  put: (body: Readable) => Promise<void>,
  get: () => Promise<Response>,
): Promise<{ upMiBps: number; downMiBps: number }> {
  const block = Buffer.alloc(1024 * 1024, 7);
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < TRANSFERS; i++) {
    let t = performance.now();
    await put(
      Readable.from(
        (function* () {
          for (let j = 0; j < FILE_MIB; j++) yield block;
        })(),
      ),
    );
    up.push(FILE_MIB / ((performance.now() - t) / 1000));
    t = performance.now();
    const response = await get();
    let bytes = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>)
      bytes += chunk.byteLength;
    if (bytes !== FILE_MIB * 1024 * 1024) throw new Error(`downloaded ${bytes} bytes`);
    down.push(FILE_MIB / ((performance.now() - t) / 1000));
  }
  return { upMiBps: percentile(up, 50), downMiBps: percentile(down, 50) };
}

function upload(
  url: string,
  headers: Record<string, string>,
  body: Readable,
  method = "PUT",
): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, {
      method,
      headers: { ...headers, "content-type": "application/octet-stream" },
    });
    request.on("response", (res) => {
      res.resume();
      res.on("end", () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`upload: ${res.statusCode}`)),
      );
    });
    request.on("error", reject);
    pipeline(body, request).catch(reject);
  });
}

const agent = await AgentProcess.start({ poolSize: 0 });
const target = await freshDatabase("pglite");
// The control plane runs as its own process, as in production: in this one it would share an
// event loop with the benchmark's client, which the floor does not.
const cp = await startControlPlaneProcess(target.dataDir, agent.url);
try {
  const call = apiCaller(() => cp.url);
  const { key } = await createKey({ call }, { name: "bench" });
  const sbx = await Sandbox.create("base", { apiKey: key, apiUrl: cp.url, sandboxUrl: cp.url });
  const id = sbx.sandboxId;
  const token = (await call("GET", `/v1/sandboxes/${id}`, { key })).body.envdAccessToken as string;
  const forward = { "wrenn-forward-sandbox": id, "wrenn-forward-port": "49983" };
  const proxied = { "e2b-sandbox-id": id, "e2b-sandbox-port": "49983" };

  const healthProxy = await latency(RUNS, async () =>
    expectStatus(await fetch(`${cp.url}/health`, { headers: proxied }), 204),
  );
  const healthDirect = await latency(RUNS, async () =>
    expectStatus(await fetch(`${agent.url}/health`, { headers: forward }), 204),
  );
  const healthProxyRps = await throughput(async () =>
    expectStatus(await fetch(`${cp.url}/health`, { headers: proxied }), 204),
  );
  const healthDirectRps = await throughput(async () =>
    expectStatus(await fetch(`${agent.url}/health`, { headers: forward }), 204),
  );

  const execApi = await latency(EXECS, async () => {
    const r = await call("POST", `/v1/sandboxes/${id}/exec`, { key, body: { cmd: "true" } });
    if (r.status !== 200 || r.body.exitCode !== 0) throw new Error(r.text);
  });
  const execSdk = await latency(EXECS, async () => {
    await sbx.commands.run("true");
  });
  const execDirect = await latency(EXECS, async () => {
    const r = await execInSandbox(agent.url, id, "true", { token });
    if (r.exitCode !== 0) throw new Error(r.stderr);
  });

  const apiFiles = await transfer(
    (body) =>
      upload(`${cp.url}/v1/sandboxes/${id}/files?path=/tmp/bench.bin`, { "x-api-key": key }, body),
    () =>
      fetch(`${cp.url}/v1/sandboxes/${id}/files?path=/tmp/bench.bin`, {
        headers: { "x-api-key": key },
      }),
  );
  const directFiles = await transfer(
    (body) =>
      upload(
        `${agent.url}/files?path=/tmp/bench.bin`,
        { ...forward, "x-access-token": token },
        body,
        "POST",
      ),
    () =>
      fetch(`${agent.url}/files?path=/tmp/bench.bin`, {
        headers: { ...forward, "x-access-token": token },
      }),
  );

  console.log(`\nthrough the control plane vs straight to the agent's forwarder (real sandbox)`);
  const rows = [
    {
      measure: "envd /health p50 ms",
      ours: healthProxy.p50,
      floor: healthDirect.p50,
      ratio: healthProxy.p50 / healthDirect.p50,
      "floor is": "agent forwarder alone",
    },
    {
      measure: "envd /health p95 ms",
      ours: healthProxy.p95,
      floor: healthDirect.p95,
      ratio: healthProxy.p95 / healthDirect.p95,
      "floor is": "agent forwarder alone",
    },
    {
      measure: `envd /health req/s (${CONCURRENCY} callers)`,
      ours: Math.round(healthProxyRps),
      floor: Math.round(healthDirectRps),
      ratio: healthProxyRps / healthDirectRps,
      "floor is": "agent forwarder alone",
    },
    {
      measure: "exec `true` p50 ms, /v1 exec",
      ours: execApi.p50,
      floor: execDirect.p50,
      ratio: execApi.p50 / execDirect.p50,
      "floor is": "Process.Start via forwarder",
    },
    {
      measure: "exec `true` p95 ms, /v1 exec",
      ours: execApi.p95,
      floor: execDirect.p95,
      ratio: execApi.p95 / execDirect.p95,
      "floor is": "Process.Start via forwarder",
    },
    {
      measure: "exec `true` p50 ms, E2B SDK via proxy",
      ours: execSdk.p50,
      floor: execDirect.p50,
      ratio: execSdk.p50 / execDirect.p50,
      "floor is": "Process.Start via forwarder",
    },
    {
      measure: `upload ${FILE_MIB} MiB, MiB/s`,
      ours: apiFiles.upMiBps,
      floor: directFiles.upMiBps,
      ratio: apiFiles.upMiBps / directFiles.upMiBps,
      "floor is": "envd /files via forwarder",
    },
    {
      measure: `download ${FILE_MIB} MiB, MiB/s`,
      ours: apiFiles.downMiBps,
      floor: directFiles.downMiBps,
      ratio: apiFiles.downMiBps / directFiles.downMiBps,
      "floor is": "envd /files via forwarder",
    },
  ];
  table(rows);
  await sbx.kill();
  console.log(
    `\nwritten to ${writeResults("cp-proxy", { runs: RUNS, execs: EXECS, concurrency: CONCURRENCY, fileMiB: FILE_MIB, rows })}`,
  );
} finally {
  await cleanUp({
    "control plane stop": () => cp.stop(),
    "agent stop": () => agent.dispose(),
    "test databases": () => releaseTestDatabases(),
  });
}
