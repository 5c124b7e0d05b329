import {
  E2B_SANDBOX_ID_HEADER,
  E2B_SANDBOX_PORT_HEADER,
  ENVD_ACCESS_TOKEN_HEADER,
  ENVD_PORT,
  SERVER_TIMING_HEADER,
  TRACE_HEADER,
  TRACE_PHASES,
  type TraceHop,
  tracePhasesIn,
} from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "./stack.js";

// One E2B process Start (what `commands.run` sends) through the real stack with a trace id:
// every hop's phases come back in Server-Timing, in order. Durations are never asserted.

/** A Connect streaming request body: one enveloped JSON message. */
function envelope(message: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  return Buffer.concat([head, json]);
}

describe("a request trace across control plane, agent and envd", () => {
  let stack: Stack;
  let sandboxId: string;
  let envdToken: string;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    const { key } = await stack.key({ name: "trace" });
    const created = await stack.call("POST", "/sandboxes", {
      key,
      body: { templateID: "base", secure: true },
    });
    expect(created.status, created.text).toBe(201);
    const body = created.body as { sandboxID: string; envdAccessToken: string };
    sandboxId = body.sandboxID;
    envdToken = body.envdAccessToken;
    expect(envdToken).toBeTruthy();
  });
  afterAll(() => stack?.close());

  const start = async (headers: Record<string, string>) => {
    const response = await fetch(`${stack.url}/process.Process/Start`, {
      method: "POST",
      headers: {
        [E2B_SANDBOX_ID_HEADER]: sandboxId,
        [E2B_SANDBOX_PORT_HEADER]: String(ENVD_PORT),
        "content-type": "application/connect+json",
        authorization: `Basic ${Buffer.from("user:").toString("base64")}`,
        ...headers,
      },
      body: envelope({ process: { cmd: "/bin/bash", args: ["-l", "-c", "echo hi"] } }),
    });
    const text = Buffer.from(await response.arrayBuffer()).toString("latin1");
    return { status: response.status, timing: response.headers.get(SERVER_TIMING_HEADER), text };
  };

  const expectOrdered = (timing: string | null, hop: TraceHop, phases: readonly string[]) => {
    const seen = tracePhasesIn(timing, hop);
    expect(seen.map(([phase]) => phase)).toEqual(phases);
    const ms = seen.map(([, at]) => at);
    for (const at of ms) expect(Number.isFinite(at)).toBe(true);
    expect(ms).toEqual([...ms].sort((a, b) => a - b));
  };

  test("an authenticated caller's trace shows every hop's phases, outermost first, in order", async () => {
    const r = await start({ [ENVD_ACCESS_TOKEN_HEADER]: envdToken, [TRACE_HEADER]: "t-1a2b3c" });
    expect(r.status).toBe(200);
    expect(r.text).toContain(Buffer.from("hi\n").toString("base64"));
    // What is known when the stream's headers leave each hop; the later phases are logged.
    expectOrdered(r.timing, "cp", ["auth", "lookup", "connect", "first-byte"]);
    expectOrdered(r.timing, "agent", ["accept", "connect", "first-byte"]);
    expectOrdered(r.timing, "envd", TRACE_PHASES.envd.slice(0, 3));
    const names = (r.timing ?? "").split(",").map((e) => e.trim().split("-")[0]);
    expect(names.indexOf("cp")).toBeLessThan(names.indexOf("agent"));
    expect(names.indexOf("agent")).toBeLessThan(names.indexOf("envd"));
    // Each hop logged its phases under the id; the agent's log holds its own lines.
    const agentLog = await stack.agentLog();
    expect(agentLog).toMatch(/"trace":"t-1a2b3c","hop":"agent","phase":"first-byte"/);
  });

  test("a caller without envd's token gets no breakdown, and envd never sees the id", async () => {
    const r = await start({ [TRACE_HEADER]: "t-anonymous" });
    expect(r.status).toBe(401);
    expect(r.timing).toBeNull();
    expect(await stack.agentLog()).not.toContain("t-anonymous");
  });

  test("an id that is too long or has other characters is not traced at all", async () => {
    for (const id of ["a".repeat(65), "t 1", "t\u00e9"]) {
      const r = await start({ [ENVD_ACCESS_TOKEN_HEADER]: envdToken, [TRACE_HEADER]: id });
      expect(r.status).toBe(200);
      expect(r.timing).toBeNull();
    }
  });

  test("without a trace id nothing is added", async () => {
    const r = await start({ [ENVD_ACCESS_TOKEN_HEADER]: envdToken });
    expect(r.status).toBe(200);
    expect(r.timing).toBeNull();
  });
});
