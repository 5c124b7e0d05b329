import { describe, expect, test, vi } from "vitest";
import { chunksUpTo, inOrder, latestOnly } from "./in-order.js";

// A terminal's keys and sizes, and a command's stdin, go one call at a time, in order, however
// slow each call.

describe("inOrder", () => {
  test("one call at a time, in the order pushed; what came meanwhile goes together next", async () => {
    const calls: string[][] = [];
    let inFlight = 0;
    let most = 0;
    const sender = inOrder<string>(
      async (items) => {
        inFlight++;
        most = Math.max(most, inFlight);
        calls.push(items);
        // Later calls answer sooner, as a busy network may: the order must not follow them.
        await new Promise((resolve) => setTimeout(resolve, 30 - calls.length * 10));
        inFlight--;
      },
      (queue) => queue.splice(0),
    );
    sender.push("sleep 100\r");
    sender.push("\x03");
    sender.push("echo still-here\r");
    await sender.idle();
    expect(most).toBe(1);
    expect(calls).toEqual([["sleep 100\r"], ["\x03", "echo still-here\r"]]);
  });

  test("of sizes, only the latest one pushed while a call was under way is sent", async () => {
    const sent: number[][] = [];
    const sender = inOrder<number>(async (items) => {
      sent.push(items);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }, latestOnly);
    for (const n of [1, 2, 3, 4]) sender.push(n);
    await sender.idle();
    expect(sent).toEqual([[1], [4]]);
  });

  test("a failed call is said once on stderr and the next items still go", async () => {
    const write = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      const sent: string[] = [];
      let first = true;
      const sender = inOrder<string>(
        async (items) => {
          if (first) {
            first = false;
            throw new Error("sandbox not reachable");
          }
          sent.push(...items);
        },
        (queue) => queue.splice(0),
      );
      sender.push("a");
      await sender.idle();
      sender.push("b");
      sender.push("c");
      await sender.idle();
      expect(sent).toEqual(["b", "c"]);
      const said = write.mock.calls.map((c) => String(c[0])).join("");
      expect(said).toContain("input not delivered: sandbox not reachable");
    } finally {
      write.mockRestore();
    }
  });

  test("byte chunks go together up to the call's limit; a bigger chunk alone", () => {
    const take = chunksUpTo(10);
    const queue = [4, 4, 4, 20, 1].map((n) => new Uint8Array(n));
    expect(take(queue).map((c) => c.length)).toEqual([4, 4]);
    expect(take(queue).map((c) => c.length)).toEqual([4]);
    expect(take(queue).map((c) => c.length)).toEqual([20]);
    expect(take(queue).map((c) => c.length)).toEqual([1]);
    expect(queue).toEqual([]);
  });
});
