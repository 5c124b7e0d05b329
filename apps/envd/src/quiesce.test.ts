import { connect as tcpConnect } from "node:net";
import { ENVD_REPLAY_FROM_HEADER } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, initEnvd, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";
import { rpcClients } from "./testing/rpc-clients.js";

// gVisor refuses to checkpoint connected, listening-with-waiters or TIME_WAIT TCP endpoints.
// POST /_wrenn/quiesce must leave envd with no TCP endpoint at all; SIGUSR2 brings it back,
// with running processes and their output intact. Endpoints are read from /proc/net/tcp of
// envd's world: in gVisor mode that is the sandbox's netstack, which is what the checkpoint
// refuses; the signal goes through `runsc kill`, as the agent sends it after a restore. (The
// checkpoint and restore themselves are the agent's, covered in tests/host-agent.)

const TOKEN = "quiesce-token";
let world: EnvdWorld;
let envd: RunningEnvd;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  expect((await initEnvd(envd, { accessToken: TOKEN })).status).toBe(204);
});

afterAll(async () => {
  await world?.close();
});

const endpointsOnPort = (port: number) => world.tcpEndpoints(port);

/** Sends the quiesce request on a raw socket; resolves with the status line. */
function quiesce(
  host: string,
  port: number,
): Promise<{ status: string; resetAfterOurFin: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, host);
    let text = "";
    let status = "";
    socket.on("data", (d) => {
      text += d.toString();
      if (!status && text.includes("\r\n\r\n")) {
        status = text.split("\r\n")[0] ?? "";
        // We close first (FIN); envd must answer with a reset, not a FIN of its own.
        socket.end();
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code === "ECONNRESET") resolve({ status, resetAfterOurFin: true });
      else reject(error);
    });
    socket.on("close", () => resolve({ status, resetAfterOurFin: false }));
    socket.write(
      `POST /_wrenn/quiesce HTTP/1.1\r\nHost: x\r\nX-Access-Token: ${TOKEN}\r\nContent-Length: 0\r\n\r\n`,
    );
  });
}

describe("quiesce for checkpoint, SIGUSR2 to resume", () => {
  test("needs the token", async () => {
    const res = await fetch(`${envd.url}/_wrenn/quiesce`, { method: "POST" });
    expect(res.status).toBe(401);
  });

  test("drops every TCP endpoint, keeps processes, serves again after SIGUSR2", async () => {
    const headers = { "x-access-token": TOKEN };
    const { process: proc } = rpcClients(envd.url, "connect-json", headers);
    const script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";
    const stream = proc.start({ process: { cmd: "/bin/sh", args: ["-c", script] } });
    const iterator = stream[Symbol.asyncIterator]();
    const first = await iterator.next();
    const pid = first.value?.event?.event.case === "start" ? first.value.event.event.value.pid : 0;
    expect(pid).toBeGreaterThan(0);
    // Let some output flow through the open stream.
    let seen = "";
    while (!seen.includes("tick 3")) {
      const next = await iterator.next();
      const ev = next.value?.event?.event;
      if (ev?.case === "data") seen += Buffer.from(ev.value.output.value as Uint8Array).toString();
    }
    // An idle keep-alive connection too.
    expect((await fetch(`${envd.url}/health`)).status).toBe(204);
    // Not vacuous: the listener and the open connections are there to be seen.
    const before = await endpointsOnPort(envd.port);
    expect(before.some((e) => e.endsWith("state=0A"))).toBe(true);
    expect(before.some((e) => e.endsWith("state=01"))).toBe(true);

    const result = await quiesce(envd.host, envd.port);
    expect(result.status).toBe("HTTP/1.1 204 No Content");
    expect(result.resetAfterOurFin).toBe(true);

    // The open stream was reset under the client.
    await expect(
      (async () => {
        for (;;) {
          const next = await iterator.next();
          if (next.done) throw new Error("stream ended cleanly");
        }
      })(),
    ).rejects.toThrow();
    // No listener and no connection left on envd's port, in any state (TIME_WAIT included).
    await eventually(
      async () => ((await endpointsOnPort(envd.port)).length === 0 ? true : undefined),
      5000,
    ).catch(async () => {
      throw new Error(`endpoints left: ${(await endpointsOnPort(envd.port)).join(", ")}`);
    });
    await expect(fetch(`${envd.url}/health`)).rejects.toThrow();

    await envd.signal("SIGUSR2");
    await eventually(async () =>
      (await fetch(`${envd.url}/health`)).status === 204 ? true : undefined,
    );

    // The process kept running and its output kept accumulating while envd was quiesced.
    const listed = await proc.list({});
    expect(listed.processes.some((p) => p.pid === pid)).toBe(true);
    const replay = rpcClients(envd.url, "connect-json", {
      ...headers,
      [ENVD_REPLAY_FROM_HEADER]: "0",
    });
    let all = "";
    for await (const res of replay.process.connect({
      process: { selector: { case: "pid", value: pid } },
    })) {
      const ev = res.event?.event;
      if (ev?.case === "data") all += Buffer.from(ev.value.output.value as Uint8Array).toString();
      if (all.includes("tick 25\n")) break;
    }
    const ticks = all.trim().split("\n");
    expect(ticks.slice(0, 26)).toEqual(Array.from({ length: 26 }, (_, i) => `tick ${i}`));
    await proc.sendSignal({ process: { selector: { case: "pid", value: pid } }, signal: 9 });
  });

  test("stays alive while quiesced with no process running, and serves after SIGUSR2", async () => {
    // A fresh envd: nothing but its listener holds Node's event loop, which quiesce closes.
    const idle = await world.spawnEnvd();
    try {
      const res = await fetch(`${idle.url}/_wrenn/quiesce`, { method: "POST" });
      expect(res.status).toBe(204);
      await new Promise((r) => setTimeout(r, 500));
      expect(await idle.alive()).toBe(true);
      await idle.signal("SIGUSR2");
      await eventually(async () =>
        (await fetch(`${idle.url}/health`)).status === 204 ? true : undefined,
      );
    } finally {
      await idle.stop();
    }
  });

  test("a client asking for Connection: close closes first, so envd keeps no TIME_WAIT", async () => {
    const socket = tcpConnect(envd.port, envd.host);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    const clientPort = socket.localPort as number;
    const remoteHex = clientPort.toString(16).toUpperCase().padStart(4, "0");
    const ours = async () =>
      (await endpointsOnPort(envd.port)).filter((e) => e.includes(`:${remoteHex} state=`));
    // Not vacuous: envd's side of this very connection is visible while it is open.
    expect(await ours()).toHaveLength(1);
    const response = new Promise<string>((resolve) => {
      let text = "";
      socket.on("data", (d) => {
        text += d.toString();
        if (text.includes("\r\n\r\n")) resolve(text);
      });
    });
    socket.write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect((await response).split("\r\n")[0]).toBe("HTTP/1.1 204 No Content");
    socket.end();
    await new Promise((resolve) => socket.once("close", resolve));
    await eventually(async () => ((await ours()).length > 0 ? undefined : true)).catch(async () => {
      throw new Error(`server side kept: ${(await endpointsOnPort(envd.port)).join(", ")}`);
    });
  });
});
