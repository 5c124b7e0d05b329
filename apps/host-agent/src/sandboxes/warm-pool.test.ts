import { pino } from "pino";
import { describe, expect, test } from "vitest";
import type { NetworkPolicy } from "../network/policy.js";
import { BURST_MEMORY_MS } from "./pool-demand.js";
import type { TemplateRef } from "./template-snapshots.js";
import { type PoolDemand, WarmPool } from "./warm-pool.js";

// The pool's bookkeeping with boots that cost nothing: which templates it keeps warm, for how
// long, and what it gives back. (Real boots: tests/host-agent/lifecycle.test.ts.)

const base: TemplateRef = { name: "base", version: "b1", rootfs: "/x/base" };
const custom: TemplateRef = { name: "t-12345678", version: "c1", rootfs: "/x/custom" };

function poolWith(demand?: PoolDemand, refillBoots = 1, boot = async () => {}) {
  let next = 0;
  const discarded: string[] = [];
  const pool = new WarmPool(
    2,
    async (t, network) => {
      await boot();
      return { runtimeId: `${t.name}-${next++}`, template: t, network };
    },
    async (id) => {
      discarded.push(id);
    },
    pino({ level: "silent" }),
    demand,
    refillBoots,
  );
  return { pool, discarded };
}

/** Lets the pool's refill run, then says how many of each template it holds. */
async function settled(pool: WarmPool, ...ts: TemplateRef[]): Promise<number[]> {
  await new Promise((resolve) => setTimeout(resolve, 30));
  return ts.map((t) => pool.count(t));
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

  test("a burst is served warm when it comes again: the pool grows to it within the host's bound, and shrinks once it is forgotten", async () => {
    let now = 1_000_000;
    const { pool, discarded } = poolWith({
      alwaysWarm: new Set(["base"]),
      idleMs: 600_000,
      maxWarm: 7,
      now: () => now,
    });
    pool.used(custom.name);
    pool.maintain([base, custom]);
    expect(await settled(pool, base, custom)).toEqual([2, 2]);

    // Ten creates of custom at once: all but two missed the pool; it now keeps up to ten, but
    // the host holds at most seven warm sandboxes, base's two among them.
    for (let i = 0; i < 10; i++) {
      pool.used(custom.name);
      pool.claim(custom);
    }
    expect(pool.target(custom)).toBe(7);
    expect(pool.target(base)).toBe(2);
    pool.kick();
    expect(await settled(pool, base, custom)).toEqual([2, 5]);

    // The next burst of five finds them warm.
    for (let i = 0; i < 5; i++) expect(pool.claim(custom)).toBeDefined();

    // Creates one at a time, further apart than a boot, are no burst: the peak stays.
    now += 5_000;
    pool.used(custom.name);
    expect(pool.target(custom)).toBe(7);
    pool.kick();
    expect(await settled(pool, base, custom)).toEqual([2, 5]);

    // Past the burst memory the peak is those lone creates: back to the size; trim gives the
    // rest back.
    now += BURST_MEMORY_MS - 4_000;
    expect(pool.target(custom)).toBe(2);
    pool.trim();
    expect(await settled(pool, base, custom)).toEqual([2, 2]);
    expect(discarded).toHaveLength(3);
    await pool.drain();
  });

  test("no growth past the size while the host's memory has no room; the size is still kept", async () => {
    let room = false;
    const { pool } = poolWith({
      alwaysWarm: new Set(["base"]),
      idleMs: 600_000,
      maxWarm: 10,
      roomForMore: () => room,
    });
    pool.maintain([base]);
    for (let i = 0; i < 6; i++) {
      pool.used(base.name);
      pool.claim(base);
    }
    expect(pool.target(base)).toBe(6);
    pool.kick();
    expect(await settled(pool, base)).toEqual([2]);
    room = true;
    pool.kick();
    expect(await settled(pool, base)).toEqual([6]);
    await pool.drain();
  });

  test("refills boot at most `refillBoots` at a time", async () => {
    let running = 0;
    let most = 0;
    const { pool } = poolWith(
      { alwaysWarm: new Set(["base"]), idleMs: 0, maxWarm: 8 },
      2,
      async () => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
      },
    );
    for (let i = 0; i < 8; i++) pool.used(base.name);
    pool.maintain([base]);
    await expect.poll(() => pool.count(base)).toBe(8);
    expect(most).toBe(2);
    await pool.drain();
  });

  test("warm sandboxes wait with the policy of their template's last create, never one holding secrets; a claim takes one with its own policy first", async () => {
    const { pool } = poolWith({ alwaysWarm: new Set(["base"]), idleMs: 0 });
    const open: NetworkPolicy = { allowInternet: true, allowOut: [], denyOut: [] };
    const withRules: NetworkPolicy = {
      ...open,
      rules: { "api.example.com": [{ transform: { headers: { authorization: "Bearer x" } } }] },
    };
    pool.maintain([base]);
    expect(await settled(pool, base)).toEqual([2]);
    // Booted before any create: no policy (deny all).
    const first = pool.claim(base, open);
    expect(first?.network).toBeUndefined();

    pool.used(base.name, open);
    pool.kick();
    expect(await settled(pool, base)).toEqual([2]);
    // The one left from before, and one booted with `open`: the claim picks the latter.
    expect(pool.claim(base, open)?.network).toEqual(open);

    // A create with header rules: the next boot waits with the last shareable policy.
    pool.used(base.name, withRules);
    pool.kick();
    expect(await settled(pool, base)).toEqual([2]);
    const policies = [pool.claim(base), pool.claim(base)].map((e) => e?.network);
    expect(policies).toContainEqual(open);
    expect(policies).not.toContainEqual(withRules);
    await pool.drain();
  });
});
