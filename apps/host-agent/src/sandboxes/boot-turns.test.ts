import { describe, expect, test } from "vitest";
import { BootTurns } from "./boot-turns.js";

// The turns' bookkeeping alone; real boots taking turns: bench/pool-demand's first burst.

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe("boot turns", () => {
  test("at most `slots` boots at once; the others wait in order and go as slots free", async () => {
    const turns = new BootTurns(2);
    const nothing = () => undefined;
    const order: number[] = [];
    const releases: Array<() => void> = [];
    const takers = [0, 1, 2, 3].map((i) =>
      turns.take(nothing).then((turn) => {
        order.push(i);
        if ("release" in turn) releases.push(turn.release);
      }),
    );
    await tick();
    expect(order).toEqual([0, 1]);
    expect(turns.queued).toBe(2);
    releases[0]?.();
    releases[0]?.(); // a second call frees nothing more
    await tick();
    expect(order).toEqual([0, 1, 2]);
    releases[1]?.();
    await Promise.all(takers);
    expect(order).toEqual([0, 1, 2, 3]);
  });

  test("a waiting create takes a warm sandbox that is ready before its turn", async () => {
    const turns = new BootTurns(1);
    const warm: string[] = [];
    const claim = () => warm.shift();
    const first = await turns.take(claim);
    expect("release" in first).toBe(true);
    const second = turns.take(claim);
    const third = turns.take(claim);
    await tick();
    warm.push("wr-00000001");
    turns.changed();
    expect(await second).toEqual({ claimed: "wr-00000001" });
    // The third still waits for the slot, which the first frees.
    expect(turns.queued).toBe(1);
    if ("release" in first) first.release();
    expect("release" in (await third)).toBe(true);
  });
});
