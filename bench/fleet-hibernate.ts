/**
 * Hibernation across hosts beside local pause/resume, for a sandbox holding 200 MiB: two agents
 * share one S3-compatible store (s3rver on loopback). Per cycle: pause + hibernate on A, then
 * restore on B (and back). Floors from the same run: bare `runsc checkpoint` / `restore` of the
 * same memory, plus a plain PutObject / GetObject of as many bytes as the hibernation stored.
 *
 *   npx tsx bench/fleet-hibernate.ts    (as root; writes bench/results/fleet-hibernate.json)
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { TestS3 } from "../apps/host-agent/src/artifacts/store-test-kit.js";
import { AgentProcess } from "../tests/harness/agent-process.js";
import { templatesDir } from "../tests/harness/paths.js";
import { execInSandbox } from "../tests/harness/sandbox-exec.js";
import { RawRunsc, runInRaw, withRawScratch } from "./support/raw-runsc.js";
import { summary, table, writeResults } from "./support/stats.js";

const CYCLES = Number(process.env.CYCLES ?? 3);
// Random bytes: resident and incompressible, then it sleeps with no socket open.
const HOLD_200M =
  "nohup python3 -c 'import os,time\na=os.urandom(200<<20)\ntime.sleep(10**6)' >/dev/null 2>&1 & sleep 4";

async function rawRunsc(scratch: string, rootfs: string) {
  const r = new RawRunsc(0, scratch, rootfs);
  r.prepare();
  await r.run();
  await runInRaw(r.ip, HOLD_200M);
  const checkpoint: number[] = [];
  const restore: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const image = `${scratch}/floor-image-${i}`;
    const t0 = performance.now();
    await r.checkpoint(image);
    checkpoint.push(performance.now() - t0);
    restore.push(await r.restore(image));
  }
  r.cleanup();
  return { checkpoint, restore };
}

/** A plain PutObject and GetObject (read to the end) of `bytes` random bytes. */
async function rawTransfer(s3: TestS3, bytes: number) {
  const client = new S3Client({
    region: "us-east-1",
    endpoint: `http://127.0.0.1:${s3.port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  const body = randomBytes(bytes);
  const up: number[] = [];
  const down: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    let t0 = performance.now();
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `raw/${i}`, Body: body }));
    up.push(performance.now() - t0);
    t0 = performance.now();
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `raw/${i}` }));
    await got.Body?.transformToByteArray();
    down.push(performance.now() - t0);
  }
  client.destroy();
  return { up, down };
}

async function main(scratch: string, rootfs: string) {
  const load = os.loadavg();
  console.log(`host: ${os.cpus().length} cores, load ${load.map((l) => l.toFixed(1)).join(" ")}`);
  const s3 = await TestS3.start();
  const env = { ...s3.env(), WRENN_S3_MAX_ATTEMPTS: "4", WRENN_S3_REQUEST_TIMEOUT_MS: "60000" };
  const a = await AgentProcess.start({ poolSize: 0, env });
  const b = await AgentProcess.start({ poolSize: 0, env });
  const id = "sb-b0000b01";
  const t: Record<string, number[]> = {
    "local pause": [],
    "local resume": [],
    hibernate: [],
    "cross-host restore": [],
  };
  let storedBytes = 0;
  try {
    await a.client.createSandbox({
      sandboxId: id,
      template: "base",
      resources: { memoryMb: 1024 },
    });
    await execInSandbox(a.url, id, HOLD_200M);
    const time = async (name: string, f: () => Promise<unknown>) => {
      const t0 = performance.now();
      await f();
      t[name]?.push(performance.now() - t0);
    };
    let [here, there] = [a, b];
    for (let i = 0; i < CYCLES; i++) {
      await time("local pause", () => here.client.pauseSandbox({ sandboxId: id }));
      await time("local resume", () => here.client.resumeSandbox({ sandboxId: id }));
      await here.client.pauseSandbox({ sandboxId: id });
      await time("hibernate", async () => {
        const r = await here.client.hibernateSandbox({ sandboxId: id });
        storedBytes = Number(r.storedBytes);
      });
      await time("cross-host restore", () =>
        there.client.restoreHibernatedSandbox({ sandboxId: id }),
      );
      [here, there] = [there, here];
    }
    // The process and its memory came along every time.
    const ps = await execInSandbox(here.url, id, "ps -o rss= -C python3");
    if (Number(ps.stdout.trim()) < 190 * 1024) throw new Error(`memory lost: ${ps.stdout}`);
    await here.client.destroySandbox({ sandboxId: id });
  } finally {
    await a.dispose();
    await b.dispose();
  }
  const raw = await rawRunsc(scratch, rootfs);
  const transfer = await rawTransfer(s3, storedBytes);
  await s3.close();
  const p50 = (v: number[]) => summary(v).p50;
  const rows = [
    {
      op: "local pause",
      "p50 ms": p50(t["local pause"]!),
      floor: "runsc checkpoint",
      "floor p50": p50(raw.checkpoint),
    },
    {
      op: "local resume",
      "p50 ms": p50(t["local resume"]!),
      floor: "runsc restore",
      "floor p50": p50(raw.restore),
    },
    {
      op: "pause + hibernate",
      "p50 ms": p50(t["local pause"]!) + p50(t.hibernate!),
      floor: "checkpoint + PutObject",
      "floor p50": p50(raw.checkpoint) + p50(transfer.up),
    },
    {
      op: "cross-host restore",
      "p50 ms": p50(t["cross-host restore"]!),
      floor: "GetObject + restore",
      "floor p50": p50(transfer.down) + p50(raw.restore),
    },
  ].map((r) => ({ ...r, ratio: r["p50 ms"] / r["floor p50"] }));
  console.log(
    `\n200 MiB held, ${CYCLES} cycles; ${(storedBytes / 2 ** 20).toFixed(1)} MiB stored per hibernation (s3rver on loopback)`,
  );
  table(rows);
  console.log(
    `\nwritten to ${writeResults("fleet-hibernate", { load: [load, os.loadavg()], storedBytes, rows, raw: { ours: t, runsc: raw, transfer } })}`,
  );
}

await withRawScratch(templatesDir, (dir, templateRootfs) => main(dir, templateRootfs));
