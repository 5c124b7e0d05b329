import { expect, test } from "vitest";
import {
  prependServerTiming,
  serverTimingOf,
  TRACE_ID_MAX_LENGTH,
  TraceClock,
  traceIdOf,
  tracePhasesIn,
  withoutHopTimings,
} from "./request-trace.js";

test("a trace id is bounded and plain, or not used", () => {
  expect(traceIdOf("abc-123_X")).toBe("abc-123_X");
  expect(traceIdOf("a".repeat(TRACE_ID_MAX_LENGTH))).toBe("a".repeat(TRACE_ID_MAX_LENGTH));
  for (const bad of ["", "a".repeat(TRACE_ID_MAX_LENGTH + 1), "a b", "a,b", "a;dur=1", "é"]) {
    expect(traceIdOf(bad)).toBeUndefined();
  }
  expect(traceIdOf(["a", "b"])).toBeUndefined();
  expect(traceIdOf(undefined)).toBeUndefined();
  expect(traceIdOf(null)).toBeUndefined();
});

test("each hop's entries go before the inner hops', and read back per hop in order", () => {
  const envd = serverTimingOf("envd", [
    ["parsed", 0.4],
    ["spawned", 12],
  ]);
  const agent = prependServerTiming(serverTimingOf("agent", [["accept", 0]]), envd);
  const cp = prependServerTiming(serverTimingOf("cp", [["auth", 0.1]]), [agent]);
  expect(cp).toBe(
    "cp-auth;dur=0.1, agent-accept;dur=0.0, envd-parsed;dur=0.4, envd-spawned;dur=12.0",
  );
  expect(tracePhasesIn(cp, "envd")).toEqual([
    ["parsed", 0.4],
    ["spawned", 12],
  ]);
  expect(tracePhasesIn(cp, "cp")).toEqual([["auth", 0.1]]);
  expect(prependServerTiming("", undefined)).toBe("");
  expect(prependServerTiming("cp-auth;dur=1.0", undefined)).toBe("cp-auth;dur=1.0");
});

test("a clock notes each phase once, logs it, and gives what is known so far", () => {
  const lines: unknown[] = [];
  const clock = new TraceClock("t1", "agent", (line) => lines.push(line));
  clock.mark("accept");
  clock.mark("connect");
  clock.mark("accept");
  expect(tracePhasesIn(clock.header(), "agent").map(([p]) => p)).toEqual(["accept", "connect"]);
  expect(lines).toEqual([
    { trace: "t1", hop: "agent", phase: "accept", ms: expect.any(Number) },
    { trace: "t1", hop: "agent", phase: "connect", ms: expect.any(Number) },
  ]);
});

test("for a caller not authenticated for the sandbox, only our hops' entries are removed", () => {
  expect(withoutHopTimings("db;dur=53, cp-auth;dur=0.1, app;desc=x, envd-exit;dur=2")).toBe(
    "db;dur=53, app;desc=x",
  );
  expect(withoutHopTimings(["agent-accept;dur=0", "cache;desc=hit"])).toBe("cache;desc=hit");
  expect(withoutHopTimings("cp-done;dur=1")).toBeUndefined();
  expect(withoutHopTimings(undefined)).toBeUndefined();
});
