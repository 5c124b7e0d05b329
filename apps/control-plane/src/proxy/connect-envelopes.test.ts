import { describe, expect, test } from "vitest";
import { EnvelopeReader } from "./connect-envelopes.js";

const envelope = (flags: number, payload: string) => {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
};

describe("Connect envelopes read as they pass", () => {
  test("envelopes split across chunks in any way come out whole and in order", () => {
    const stream = Buffer.concat([envelope(0, '{"a":1}'), envelope(0, ""), envelope(2, "{}")]);
    for (let cut = 1; cut < stream.length; cut++) {
      const seen: [number, string][] = [];
      const reader = new EnvelopeReader((flags, payload) => seen.push([flags, payload.toString()]));
      reader.push(stream.subarray(0, cut));
      reader.push(stream.subarray(cut));
      expect(seen).toEqual([
        [0, '{"a":1}'],
        [0, ""],
        [2, "{}"],
      ]);
    }
  });

  test("an envelope over the limit stops the reader instead of being buffered", () => {
    const seen: number[] = [];
    const reader = new EnvelopeReader((flags) => seen.push(flags), 8);
    reader.push(envelope(0, "x".repeat(100)).subarray(0, 10));
    reader.push(envelope(0, "ok"));
    expect(reader.gaveUp).toBe(true);
    expect(seen).toEqual([]);
  });
});
