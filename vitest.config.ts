import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Real runsc sandboxes and real servers: two cores cannot take many at once.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: "unit",
          include: ["{apps,packages}/*/src/**/*.test.ts"],
          // PGlite and the real stacks start slowly on a saturated 2-core machine: slow is
          // not broken (seen: wrenn-cp's start past 60 s while another suite ran beside it).
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
      {
        // The envd suites again, against envd inside a real gVisor sandbox (base template).
        test: {
          name: "envd-gvisor",
          include: ["apps/envd/src/*.test.ts"],
          env: { WRENN_ENVD_TARGET: "gvisor" },
          globalSetup: ["tests/envd-gvisor/global-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["tests/**/*.test.ts"],
          globalSetup: ["tests/harness/global-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
