// File write/read throughput through envd's /files beside the floor: a local stream copy.
//   npx tsx bench/envd-files.ts      (needs `npm run build` first)
import {
  createReadStream,
  createWriteStream,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { startBenchEnvd } from "./envd-process.js";
import { percentile, writeResults } from "./support/stats.js";

const MiB = 1024 * 1024;
const sizes = [
  { label: "1 MiB", bytes: MiB, runs: 30 },
  { label: "100 MiB", bytes: 100 * MiB, runs: 5 },
];

async function timed(runs: number, once: () => Promise<void>): Promise<number> {
  await once(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await once();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return percentile(times, 50);
}

const dir = mkdtempSync(join(tmpdir(), "envd-bench-files-"));
const envd = await startBenchEnvd();
try {
  const rows = [];
  for (const size of sizes) {
    const source = join(dir, `source-${size.bytes}`);
    writeFileSync(source, Buffer.alloc(size.bytes, 0x5a));
    const target = join(dir, `target-${size.bytes}`);
    const url = `${envd.url}/files?path=${encodeURIComponent(target)}`;

    const upload = async () => {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: Readable.toWeb(createReadStream(source)) as ReadableStream<Uint8Array>,
        duplex: "half",
      } as RequestInit);
      if (res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    };
    const download = async () => {
      const res = await fetch(url);
      if (res.status !== 200) throw new Error(`download: ${res.status}`);
      let got = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        got += chunk.length;
      if (got !== size.bytes) throw new Error(`download: ${got} bytes`);
    };
    const copy = async () => {
      await pipeline(createReadStream(source), createWriteStream(join(dir, "copy")));
    };

    const writeMs = await timed(size.runs, upload);
    if (statSync(target).size !== size.bytes) throw new Error("upload size mismatch");
    const readMs = await timed(size.runs, download);
    const copyMs = await timed(size.runs, copy);
    const mibps = (ms: number) => size.bytes / MiB / (ms / 1000);
    rows.push({
      size: size.label,
      writeMiBps: mibps(writeMs),
      readMiBps: mibps(readMs),
      floorCopyMiBps: mibps(copyMs),
      writeRatio: copyMs / writeMs,
      readRatio: copyMs / readMs,
    });
  }

  console.log("\nenvd /files throughput (MiB/s, median run; floor = local stream copy)");
  console.log(
    ["size", "write", "read", "floor copy", "write/floor", "read/floor"]
      .map((h) => h.padEnd(13))
      .join(""),
  );
  for (const r of rows) {
    console.log(
      [
        r.size,
        r.writeMiBps.toFixed(0),
        r.readMiBps.toFixed(0),
        r.floorCopyMiBps.toFixed(0),
        r.writeRatio.toFixed(2),
        r.readRatio.toFixed(2),
      ]
        .map((c) => String(c).padEnd(13))
        .join(""),
    );
  }
  const path = writeResults("envd-files", {
    date: new Date().toISOString(),
    node: process.version,
    rows,
  });
  console.log(`\nresults: ${path}`);
} finally {
  envd.stop();
  rmSync(dir, { recursive: true, force: true });
}
