import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, test } from "vitest";
import { hostCpuFeatures, missingCpuFeatures } from "./cpu-features.js";

test("this host's flags are read, sorted and unique; a checkpoint's own host lacks none", async () => {
  const mine = await hostCpuFeatures();
  expect(mine.length).toBeGreaterThan(0);
  expect([...mine].sort()).toEqual(mine);
  expect(new Set(mine).size).toBe(mine.length);
  expect(missingCpuFeatures(mine, mine)).toEqual([]);
});

test("a host without some of the checkpoint's flags is told which", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "wrenn-cpuinfo-"));
  try {
    const file = path.join(dir, "cpuinfo");
    await writeFile(
      file,
      "processor\t: 0\nflags\t\t: sse2 avx2 fpu\n\nprocessor\t: 1\nflags\t\t: sse2 avx2 fpu\n",
    );
    const older = await hostCpuFeatures(file);
    expect(older).toEqual(["avx2", "fpu", "sse2"]);
    expect(missingCpuFeatures(["avx2", "avx512f", "fpu", "sse2"], older)).toEqual(["avx512f"]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
