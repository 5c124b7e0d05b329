import { describe, expect, test } from "vitest";
import { type CommandCallbacks, type CommandControls, CommandHandle } from "./command-handle.js";
import type { ProcessStreamEvent } from "./process-stream.js";

const controls: CommandControls = {
  kill: async () => false,
  sendStdin: async () => {},
  closeStdin: async () => {},
  disconnect: () => {},
};

async function* events(...list: ProcessStreamEvent[]): AsyncGenerator<ProcessStreamEvent> {
  for (const e of list) yield e;
}

const out = (...bytes: number[]): ProcessStreamEvent => ({
  type: "data",
  stream: "stdout",
  data: new Uint8Array(bytes),
});
const err = (...bytes: number[]): ProcessStreamEvent => ({
  type: "data",
  stream: "stderr",
  data: new Uint8Array(bytes),
});
const end: ProcessStreamEvent = { type: "end", exitCode: 0, exited: true, status: "exit status 0" };

describe("CommandHandle output", () => {
  test("bytes callbacks get every chunk unchanged; text ones decode across chunks", async () => {
    const seen: { stdoutBytes: Uint8Array[]; stderrBytes: Uint8Array[]; text: string[] } = {
      stdoutBytes: [],
      stderrBytes: [],
      text: [],
    };
    const callbacks: CommandCallbacks = {
      onStdoutBytes: (c) => void seen.stdoutBytes.push(c),
      onStderrBytes: (c) => void seen.stderrBytes.push(c),
      onStdout: (s) => void seen.text.push(`out:${s}`),
      onStderr: (s) => void seen.text.push(`err:${s}`),
    };
    // "€" (e2 82 ac) split across chunks, then bytes that are not UTF-8 at all.
    const chunks = [out(0x61, 0xe2), out(0x82), out(0xac, 0xff, 0x00), err(0xc3), err(0xa9), end];
    const handle = new CommandHandle(1, events(...chunks), controls, callbacks);
    const result = await handle.wait();
    expect(seen.stdoutBytes.map((c) => [...c])).toEqual([[0x61, 0xe2], [0x82], [0xac, 0xff, 0]]);
    expect(seen.stderrBytes.map((c) => [...c])).toEqual([[0xc3], [0xa9]]);
    expect(seen.text).toEqual(["out:a", "out:€\uFFFD\0", "err:é"]);
    expect(result).toMatchObject({ stdout: "a€\uFFFD\0", stderr: "é" });
  });

  test("a sequence cut off by the end reaches the text callbacks as U+FFFD", async () => {
    const text: string[] = [];
    const handle = new CommandHandle(1, events(out(0x78, 0xe2, 0x82), end), controls, {
      onStdout: (s) => void text.push(s),
    });
    expect((await handle.wait()).stdout).toBe("x\uFFFD");
    expect(text.join("")).toBe("x\uFFFD");
  });

  test("a promise from a bytes callback is awaited before the next chunk", async () => {
    const order: string[] = [];
    const handle = new CommandHandle(1, events(out(1), out(2), end), controls, {
      onStdoutBytes: async (c) => {
        order.push(`start ${c[0]}`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`done ${c[0]}`);
      },
    });
    await handle.wait();
    expect(order).toEqual(["start 1", "done 1", "start 2", "done 2"]);
  });
});
