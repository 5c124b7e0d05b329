import { describe, expect, test } from "vitest";
import { OutputRing } from "./output-ring.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunks: { data: Uint8Array }[]) =>
  chunks.map((c) => new TextDecoder().decode(c.data)).join("");

describe("OutputRing", () => {
  test("offsets count all streams together", () => {
    const ring = new OutputRing(100);
    ring.append("stdout", bytes("abc"));
    const second = ring.append("stderr", bytes("de"));
    expect(second.offset).toBe(3);
    expect(ring.total).toBe(5);
    expect(ring.since(0).map((c) => c.stream)).toEqual(["stdout", "stderr"]);
  });

  test("since() trims the first chunk to the offset", () => {
    const ring = new OutputRing(100);
    ring.append("stdout", bytes("hello"));
    ring.append("stdout", bytes("world"));
    expect(text(ring.since(3))).toBe("loworld");
    expect(ring.since(3)[0]?.offset).toBe(3);
    expect(ring.since(10)).toEqual([]);
  });

  test("drops the oldest chunks beyond capacity and reports where it starts", () => {
    const ring = new OutputRing(6);
    ring.append("stdout", bytes("aaaa"));
    ring.append("stdout", bytes("bbbb"));
    ring.append("stdout", bytes("cc"));
    expect(ring.start).toBe(4);
    expect(text(ring.since(0))).toBe("bbbbcc");
  });

  test("keeps the newest chunk even when it alone exceeds capacity", () => {
    const ring = new OutputRing(2);
    ring.append("pty", bytes("xyz"));
    expect(text(ring.since(0))).toBe("xyz");
  });

  test("compaction keeps offsets right", () => {
    const ring = new OutputRing(10);
    for (let i = 0; i < 5000; i++) ring.append("stdout", bytes("x"));
    expect(ring.total).toBe(5000);
    expect(ring.start).toBe(4990);
    expect(ring.since(4995).length).toBe(5);
  });
});
