import { randomBytes } from "node:crypto";
import { startControlPlane } from "@wrenn/control-plane";
import {
  createKey,
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
  TEST_ADMIN_KEY,
} from "@wrenn/control-plane/testing";
import { pino } from "pino";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { apiCaller } from "./support/api-call.js";
import { startControlPlaneProcess } from "./support/control-plane-process.js";
import { percentile, table, writeResults } from "./support/stats.js";

const CREATES = Number(process.env.CREATES ?? 15);
const REQUESTS = Number(process.env.REQUESTS ?? 3000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
// Issue 18 asks for list/get figures with 1,000 sandboxes recorded.
const RECORDED = Number(process.env.RECORDED ?? 1000);

const stats = (times: number[]) => ({ p50: percentile(times, 50), p95: percentile(times, 95) });

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

const agent = await AgentProcess.start({ poolSize: 0 });
const results: Record<string, unknown> = {};
let directIds = 0;
try {
  for (const kind of DATABASE_KINDS) {
    const target = await freshDatabase(kind);

    // Setup in this process: a key, a real sandbox's sealed token, RECORDED rows, and the
    // SQL floors on them.
    const setup = await startControlPlane(
      {
        host: "127.0.0.1",
        port: 0,
        dataDir: target.dataDir,
        databaseUrl: target.databaseUrl,
        apiKey: TEST_ADMIN_KEY,
        agentUrl: agent.url,
        logLevel: "silent",
        lifecycleIntervalMs: 1000,
        hostMonitorIntervalMs: 5000,
        backgroundLoops: false,
      },
      { logger: pino({ level: "silent" }) },
    );
    let key: string;
    let ownerId: string;
    let sqlGetQps: number;
    let sqlListQps: number;
    let recorded: string[];
    try {
      const call = apiCaller(() => setup.url);
      const created = await createKey(
        { call },
        {
          name: "bench",
          pools: { vcpus: 100_000, memoryMb: 100_000_000, storageMb: 100_000_000 },
          createRatePerMinute: 100_000,
        },
      );
      key = created.key;
      ownerId = created.ownerId;
      const sandbox = await call("POST", "/v1/sandboxes", { key, body: {} });
      if (sandbox.status !== 201) throw new Error(`create: ${sandbox.text}`);
      const sealed = (
        await setup.db.query<{ s: string }>(
          "SELECT envd_token_sealed AS s FROM sandboxes WHERE id = $1",
          [sandbox.body.id],
        )
      ).rows[0]!.s;
      await call("DELETE", `/v1/sandboxes/${sandbox.body.id}`, { key });
      await setup.db.query(
        `INSERT INTO sandboxes (id, owner_id, api_key_id, template, state, vcpus, memory_mb, disk_mb,
           timeout_seconds, envd_version, envd_token_sealed, host_id, started_at, end_at)
         SELECT 'sb-' || lpad(to_hex(x), 8, '0'), $1, $2, 'base', 'running', 1, 512, 2048, 300,
           '0.6.13', $3, NULL, now() - x * interval '1 second', now() + interval '1 day'
         FROM generate_series(1, ${RECORDED}) AS x`,
        // On no host, so reconciliation leaves them alone (the agent has never heard of them).
        [ownerId, created.id, sealed],
      );
      recorded = (
        await setup.db.query<{ id: string }>("SELECT id FROM sandboxes WHERE state = 'running'")
      ).rows.map((r) => r.id);
      let turn = 0;
      sqlGetQps = await throughput(async () => {
        await setup.db.query("SELECT * FROM sandboxes WHERE id = $1 AND owner_id = $2", [
          recorded[turn++ % RECORDED],
          ownerId,
        ]);
      });
      sqlListQps = await throughput(async () => {
        await setup.db.query(
          "SELECT * FROM sandboxes WHERE owner_id = $1 AND state <> 'stopped' ORDER BY started_at DESC, id DESC LIMIT 101",
          [ownerId],
        );
      });
    } finally {
      await setup.close();
    }

    const cp = await startControlPlaneProcess(target.dataDir, agent.url, {
      DATABASE_URL: target.databaseUrl ?? "",
      // Only creates may end sandboxes here; the recorded rows outlive the run.
      WRENN_HOST_MONITOR_INTERVAL_MS: "5000",
    });
    try {
      const headers = { "x-api-key": key, "content-type": "application/json" };
      const viaApi: number[] = [];
      const viaAgent: number[] = [];
      for (let i = -2; i < CREATES; i++) {
        let t = performance.now();
        const response = await fetch(`${cp.url}/v1/sandboxes`, {
          method: "POST",
          headers,
          body: "{}",
        });
        if (response.status !== 201)
          throw new Error(`create: ${response.status} ${await response.text()}`);
        const apiMs = performance.now() - t;
        const { id } = (await response.json()) as { id: string };
        await expectOk(
          await fetch(`${cp.url}/v1/sandboxes/${id}`, { method: "DELETE", headers }),
          204,
        );

        const sandboxId = `sb-b${(0xc000000 + directIds++).toString(16)}`;
        t = performance.now();
        await agent.client.createSandbox({
          sandboxId,
          template: "base",
          resources: { vcpus: 1, memoryMb: 512, diskMb: 2048 },
          envdAccessToken: randomBytes(16).toString("hex"),
        });
        const agentMs = performance.now() - t;
        await agent.client.destroySandbox({ sandboxId });
        if (i >= 0) {
          viaApi.push(apiMs);
          viaAgent.push(agentMs);
        }
      }

      let turn = 0;
      const getRps = await throughput(async () =>
        expectOk(await fetch(`${cp.url}/v1/sandboxes/${recorded[turn++ % RECORDED]}`, { headers })),
      );
      const listRps = await throughput(async () =>
        expectOk(await fetch(`${cp.url}/v1/sandboxes?limit=100`, { headers })),
      );
      const e2bListRps = await throughput(async () =>
        expectOk(await fetch(`${cp.url}/v2/sandboxes?limit=100`, { headers })),
      );
      const healthRps = await throughput(async () => expectOk(await fetch(`${cp.url}/healthz`)));

      const api = stats(viaApi);
      const alone = stats(viaAgent);
      console.log(
        `\n${kind}: create (${CREATES} each, real agent, no warm pool), then reads with ${RECORDED} recorded rows, ${CONCURRENCY} callers`,
      );
      table([
        {
          measure: "create p50 ms",
          ours: api.p50,
          floor: alone.p50,
          ratio: api.p50 / alone.p50,
          "floor is": "CreateSandbox to the agent alone",
        },
        {
          measure: "create p95 ms",
          ours: api.p95,
          floor: alone.p95,
          ratio: api.p95 / alone.p95,
          "floor is": "CreateSandbox to the agent alone",
        },
        {
          measure: "GET /v1/sandboxes/{id} req/s",
          ours: Math.round(getRps),
          floor: Math.round(healthRps),
          ratio: getRps / healthRps,
          "floor is": "GET /healthz, same server",
        },
        {
          measure: "  the same, beside its query",
          ours: Math.round(getRps),
          floor: Math.round(sqlGetQps),
          ratio: getRps / sqlGetQps,
          "floor is": "the SELECT by id alone",
        },
        {
          measure: "GET /v1/sandboxes?limit=100 req/s",
          ours: Math.round(listRps),
          floor: Math.round(healthRps),
          ratio: listRps / healthRps,
          "floor is": "GET /healthz, same server",
        },
        {
          measure: "  the same, beside its query",
          ours: Math.round(listRps),
          floor: Math.round(sqlListQps),
          ratio: listRps / sqlListQps,
          "floor is": "the list SELECT alone",
        },
        {
          measure: "GET /v2/sandboxes?limit=100 req/s (E2B)",
          ours: Math.round(e2bListRps),
          floor: Math.round(sqlListQps),
          ratio: e2bListRps / sqlListQps,
          "floor is": "the list SELECT alone",
        },
      ]);
      results[kind] = {
        agent: "real (wrenn-agent, gVisor), warm pool off",
        controlPlane: "wrenn-cp child process",
        recorded: `${RECORDED} rows inserted directly`,
        concurrency: CONCURRENCY,
        creates: CREATES,
        createMs: {
          api,
          agentAlone: alone,
          ratioP50: api.p50 / alone.p50,
          ratioP95: api.p95 / alone.p95,
        },
        requestsPerSecond: {
          get: getRps,
          list: listRps,
          e2bList: e2bListRps,
          healthzFloor: healthRps,
          sqlGetFloor: sqlGetQps,
          sqlListFloor: sqlListQps,
        },
      };
    } finally {
      await cp.stop();
    }
  }
  console.log(`\nwritten to ${writeResults("cp-api", results)}`);
} finally {
  await agent.dispose();
  await releaseTestDatabases();
}
