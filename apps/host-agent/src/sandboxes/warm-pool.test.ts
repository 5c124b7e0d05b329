import { pino } from "pino";
import { describe, expect, test } from "vitest";
import type { TemplateRef } from "./template-snapshots.js";
import { type PoolDemand, WarmPool } from "./warm-pool.js";

// The pool's bookkeeping with boots that cost nothing: which templates it keeps warm, for how
// long, and what it gives back. (Real boots: tests/host-agent/lifecycle.test.ts.)

const base: TemplateRef = { name: "base", version: "b1", rootfs: "/x/base" };
const custom: TemplateRef = { name: "t-12345678", version: "c1", rootfs: "/x/custom" };

function poolWith(demand?: PoolDemand) {
  let next = 0;
  const discarded: string[] = [];
  const pool = new WarmPool(
    2,
    async (t) => ({ runtimeId: `${t.name}-${next++}`, template: t }),
    async (id) => {
      discarded.push(id);
    },
    pino({ level: "silent" }),
    demand,
  );
  return { pool, discarded };
}

describe("warm pool", () => {
  test("by default every template is kept warm", async () => {
    const { pool } = poolWith();
    pool.maintain([base, custom]);
    await expect.poll(() => [pool.count(base), pool.count(custom)]).toEqual([2, 2]);
    await pool.drain();
  });

  test("with demand: base always, another template only while in use, then its sandboxes go", async () => {
    let now = 1_000_000;
    const { pool, discarded } = poolWith({
      alwaysWarm: new Set(["base"]),
      idleMs: 600_000,
      now: () => now,
    });
    pool.maintain([base, custom]);
    await expect.poll(() => pool.count(base)).toBe(2);
    expect(pool.count(custom)).toBe(0);
    expect(pool.target(custom)).toBe(0);

    // A create from it (which missed the pool) kicks a refill: it is warm from then on.
    pool.used(custom.name);
    expect(pool.target(custom)).toBe(2);
    pool.kick();
    await expect.poll(() => pool.count(custom)).toBe(2);
    expect(pool.claim(custom)?.template.name).toBe(custom.name);

    // Still in use just before the idle time ends; not after it: trimmed, base untouched.
    now += 599_000;
    pool.trim();
    expect(discarded).toEqual([]);
    now += 2_000;
    pool.trim();
    // The one left after the claim (the claimed one is its owner's now).
    expect(discarded).toHaveLength(1);
    expect(discarded[0]).toMatch(/^t-12345678-/);
    expect(pool.count(custom)).toBe(0);
    expect(pool.count(base)).toBe(2);
    // And not booted again by the next refill.
    pool.kick();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(pool.count(custom)).toBe(0);
    await pool.drain();
  });
});
