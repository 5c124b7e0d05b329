import { describe, expect, it } from "vitest";
import { KeyedLock } from "./keyed-lock.js";

/** A promise the test settles by hand, so the order of events is the test's, not the clock's. */
function gate(): { promise: Promise<void>; open: () => void; fail: (e: Error) => void } {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

const ticks = async (n = 10): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe("KeyedLock", () => {
  it("runs one operation at a time per key, in call order", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const first = gate();
    const a = lock.run("k", async () => {
      events.push("a start");
      await first.promise;
      events.push("a end");
    });
    const b = lock.run("k", async () => {
      events.push("b");
    });
    await ticks();
    expect(events).toEqual(["a start"]);
    expect(lock.busy("k")).toBe(true);
    first.open();
    await Promise.all([a, b]);
    expect(events).toEqual(["a start", "a end", "b"]);
    await ticks();
    expect(lock.busy("k")).toBe(false);
  });

  it("lets different keys run in parallel", async () => {
    const lock = new KeyedLock();
    const held = gate();
    const events: string[] = [];
    const a = lock.run("a", async () => {
      await held.promise;
      events.push("a");
    });
    await lock.run("b", async () => {
      events.push("b");
    });
    expect(events).toEqual(["b"]);
    held.open();
    await a;
  });

  it("a failed operation rejects its own caller only; the next one still runs", async () => {
    const lock = new KeyedLock();
    const failing = lock.run("k", async () => {
      throw new Error("boom");
    });
    const next = lock.run("k", async () => "ran");
    await expect(failing).rejects.toThrow("boom");
    await expect(next).resolves.toBe("ran");
    await ticks();
    expect(lock.busy("k")).toBe(false);
  });

  it("an exclusive run waits for keyed work in flight and holds later keyed work back", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const inFlight = gate();
    const before = lock.run("a", async () => {
      events.push("a start");
      await inFlight.promise;
      events.push("a end");
    });
    const exclusiveHeld = gate();
    const exclusive = lock.runExclusive(async () => {
      events.push("exclusive start");
      await exclusiveHeld.promise;
      events.push("exclusive end");
      return 7;
    });
    const after = lock.run("b", async () => {
      events.push("b");
    });
    await ticks();
    expect(events).toEqual(["a start"]);
    inFlight.open();
    await before;
    await ticks();
    expect(events).toEqual(["a start", "a end", "exclusive start"]);
    exclusiveHeld.open();
    await expect(exclusive).resolves.toBe(7);
    await after;
    expect(events).toEqual(["a start", "a end", "exclusive start", "exclusive end", "b"]);
  });

  it("exclusive runs take turns, and a failed one releases the lock", async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const firstHeld = gate();
    const first = lock.runExclusive(async () => {
      events.push("first start");
      await firstHeld.promise;
      throw new Error("first failed");
    });
    const second = lock.runExclusive(async () => {
      events.push("second");
    });
    const keyed = lock.run("k", async () => {
      events.push("keyed");
    });
    await ticks();
    expect(events).toEqual(["first start"]);
    firstHeld.open();
    await expect(first).rejects.toThrow("first failed");
    await second;
    await keyed;
    expect(events).toEqual(["first start", "second", "keyed"]);
  });
});
