// Control-plane API figures, on PGlite and on PostgreSQL, each beside its floor:
//   - create latency through POST /v1/sandboxes beside CreateSandbox sent to the host agent alone;
//   - get and list throughput (requests/s) with 100 sandboxes recorded, beside the same HTTP
//     server answering /healthz (no key check, no database) and beside the bare SQL query.
//   npx tsx bench/cp-api.ts      (needs `npm run build` first; starts its own PostgreSQL)
// The host agent is the in-process fake from @wrenn/control-plane/testing, so create latency is
// the control plane's own overhead; set WRENN_BENCH_AGENT_URL to measure against a real agent.
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
  startTestStack,
} from "@wrenn/control-plane/testing";
import { HostAgentService } from "@wrenn/proto/hostagent";
import { percentile, writeResults } from "./support/stats.js";

const CREATES = Number(process.env.CREATES ?? 50);
const REQUESTS = Number(process.env.REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const RECORDED = 100;

async function latencies(runs: number, once: (i: number) => Promise<void>) {
  for (let i = 0; i < 3; i++) await once(-1 - i); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await once(i);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

/** Requests per second with CONCURRENCY callers sharing REQUESTS calls. */
async function throughput(once: () => Promise<void>): Promise<number> {
  for (let i = 0; i < 50; i++) await once(); // warm-up
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) await once();
    }),
  );
  return REQUESTS / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function expectOk(response: Response, status = 200): Promise<void> {
  if (response.status !== status)
    throw new Error(`${response.url}: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

const fmt = (n: number, digits = 1) => n.toFixed(digits).padStart(9);
const results: Record<string, unknown> = {};

try {
  for (const kind of DATABASE_KINDS) {
    const agentUrl = process.env.WRENN_BENCH_AGENT_URL;
    const stack = await startTestStack(await freshDatabase(kind), {
      config: agentUrl ? { agentUrl, agentToken: process.env.WRENN_BENCH_AGENT_TOKEN } : {},
    });
    try {
      const base = stack.cp.url;
      const keyResponse = await stack.call("POST", "/v1/api-keys", {
        body: {
          name: "bench",
          pools: { vcpus: 100_000, memoryMb: 100_000_000, storageMb: 100_000_000 },
          createRatePerMinute: 100_000,
        },
      });
      const key = (keyResponse.body as { key: string }).key;
      const headers = { "x-api-key": key, "content-type": "application/json" };
      const small = JSON.stringify({ resources: { vcpus: 1, memoryMb: 128, diskMb: 256 } });

      const ids: string[] = [];
      const viaApi = await latencies(CREATES, async () => {
        const response = await fetch(`${base}/v1/sandboxes`, {
          method: "POST",
          headers,
          body: small,
        });
        if (response.status !== 201)
          throw new Error(`create: ${response.status} ${await response.text()}`);
        ids.push(((await response.json()) as { id: string }).id);
      });
      const agent = createClient(
        HostAgentService,
        createConnectTransport({ baseUrl: agentUrl ?? stack.agent.url, httpVersion: "1.1" }),
      );
      const direct: string[] = [];
      const viaAgent = await latencies(CREATES, async (i) => {
        const sandboxId = `sb-${(0xb0000000 + i + 10).toString(16)}`;
        await agent.createSandbox({
          sandboxId,
          template: "base",
          resources: { vcpus: 1, memoryMb: 128, diskMb: 256 },
        });
        direct.push(sandboxId);
      });
      for (const id of direct) await agent.destroySandbox({ sandboxId: id });
      for (const id of ids.slice(RECORDED)) {
        await expectOk(
          await fetch(`${base}/v1/sandboxes/${id}`, { method: "DELETE", headers }),
          204,
        );
      }
      while (ids.length < RECORDED) {
        const response = await fetch(`${base}/v1/sandboxes`, {
          method: "POST",
          headers,
          body: small,
        });
        ids.push(((await response.json()) as { id: string }).id);
      }
      const recorded = ids.slice(0, RECORDED);

      let turn = 0;
      const getRps = await throughput(async () =>
        expectOk(await fetch(`${base}/v1/sandboxes/${recorded[turn++ % RECORDED]}`, { headers })),
      );
      const listRps = await throughput(async () =>
        expectOk(await fetch(`${base}/v1/sandboxes?limit=100`, { headers })),
      );
      const e2bListRps = await throughput(async () =>
        expectOk(await fetch(`${base}/v2/sandboxes?limit=100`, { headers })),
      );
      const healthRps = await throughput(async () => expectOk(await fetch(`${base}/healthz`)));
      const sqlGetQps = await throughput(async () => {
        await stack.cp.db.query("SELECT * FROM sandboxes WHERE id = $1 AND owner_id = owner_id", [
          recorded[turn++ % RECORDED],
        ]);
      });

      console.log(`\n${kind} (${RECORDED} sandboxes recorded, ${CONCURRENCY} concurrent callers)`);
      console.log(`${"measure".padEnd(52)}${"ours".padStart(9)}${"floor".padStart(9)}  floor is`);
      console.log(
        `${"create p50 ms".padEnd(52)}${fmt(viaApi.p50)}${fmt(viaAgent.p50)}  CreateSandbox to the agent alone`,
      );
      console.log(
        `${"create p95 ms".padEnd(52)}${fmt(viaApi.p95)}${fmt(viaAgent.p95)}  CreateSandbox to the agent alone`,
      );
      console.log(
        `${"GET /v1/sandboxes/{id} req/s".padEnd(52)}${fmt(getRps, 0)}${fmt(healthRps, 0)}  GET /healthz, same server`,
      );
      console.log(
        `${"GET /v1/sandboxes?limit=100 req/s".padEnd(52)}${fmt(listRps, 0)}${fmt(healthRps, 0)}  GET /healthz, same server`,
      );
      console.log(
        `${"GET /v2/sandboxes?limit=100 (E2B) req/s".padEnd(52)}${fmt(e2bListRps, 0)}${fmt(healthRps, 0)}  GET /healthz, same server`,
      );
      console.log(
        `${"bare SELECT by id, queries/s".padEnd(52)}${fmt(sqlGetQps, 0)}${"".padStart(9)}  (the database alone)`,
      );
      results[kind] = {
        agent: agentUrl ? "real" : "in-process fake",
        recorded: RECORDED,
        concurrency: CONCURRENCY,
        createMs: { api: viaApi, agentAlone: viaAgent },
        requestsPerSecond: {
          get: getRps,
          list: listRps,
          e2bList: e2bListRps,
          healthzFloor: healthRps,
          sqlGetFloor: sqlGetQps,
        },
      };
    } finally {
      await stack.close();
    }
  }
  console.log(
    `\nwritten to ${await writeResults("cp-api", { date: new Date().toISOString(), ...results })}`,
  );
} finally {
  await releaseTestDatabases();
}
