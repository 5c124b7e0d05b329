import { describe, expect, test } from "vitest";
import { memoryHighFor } from "./cgroup.js";

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
