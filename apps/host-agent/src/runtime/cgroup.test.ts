import { describe, expect, test } from "vitest";
import { BACKGROUND_CPU_SHARES, cpuWeightOf, DEFAULT_CPU_SHARES, memoryHighFor } from "./cgroup.js";

const MiB = 1024 * 1024;

describe("memory.high on cgroup v2", () => {
  test("sits 48 MiB under memory.max, past where envd's OOM guard acts", () => {
    // A 256 MiB sandbox with the default 128 MiB overhead: the guard kills with ≈ 115 MiB left.
    expect(memoryHighFor(384 * MiB)).toBe(336 * MiB);
  });

  test("a quarter under it for limits too small for 48 MiB of margin", () => {
    expect(memoryHighFor(128 * MiB)).toBe(96 * MiB);
  });
});

describe("cpu.weight on cgroup v2 for v1's cpu.shares", () => {
  test("the defaults meet: a sandbox in use gets a new cgroup's weight", () => {
    expect(cpuWeightOf(DEFAULT_CPU_SHARES)).toBe(100);
  });

  test("a warm-pool sandbox gets the least weight there is, and no value leaves the range", () => {
    expect(cpuWeightOf(BACKGROUND_CPU_SHARES)).toBe(1);
    expect(cpuWeightOf(2)).toBe(1);
    expect(cpuWeightOf(262_144)).toBe(10_000);
  });
});
