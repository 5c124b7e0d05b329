import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { FileType } from "@wrenn/proto/filesystem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";
import { type Codec, rpcClients } from "./testing/rpc-clients.js";

// The E2B SDK only speaks Connect+JSON; envd must also serve the binary codec and gRPC-web
// (Wrenn's host agent and SDK use them).

let world: EnvdWorld;
let envd: RunningEnvd;
let dir: string;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  dir = await world.scratchDir("envd-proto-", envd.defaultUser);
  await world.writeFile(join(dir, "f.txt"), "x");
});

afterAll(async () => {
  await world?.close();
});

const codecs: Codec[] = ["connect-json", "connect-binary", "grpc-web"];

describe.each(codecs)("%s", (codec) => {
  test("unary Stat and ListDir", async () => {
    const { filesystem } = rpcClients(envd.url, codec);
    const stat = await filesystem.stat({ path: join(dir, "f.txt") });
    expect(stat.entry?.type).toBe(FileType.FILE);
    expect(stat.entry?.size).toBe(1n);
    const list = await filesystem.listDir({ path: dir, depth: 1 });
    expect(list.entries.map((e) => e.name)).toEqual(["f.txt"]);
  });

  test("server stream: start, data on both streams, end", async () => {
    const { process: proc } = rpcClients(envd.url, codec);
    let pid = 0;
    let stdout = "";
    let stderr = "";
    let end: { exitCode: number; status: string } | undefined;
    for await (const res of proc.start({
      process: { cmd: "/bin/sh", args: ["-c", "echo out; echo err >&2; exit 3"] },
    })) {
      const event = res.event?.event;
      if (event?.case === "start") pid = event.value.pid;
      if (event?.case === "data" && event.value.output.case === "stdout") {
        stdout += Buffer.from(event.value.output.value).toString();
      }
      if (event?.case === "data" && event.value.output.case === "stderr") {
        stderr += Buffer.from(event.value.output.value).toString();
      }
      if (event?.case === "end") end = event.value;
    }
    expect(pid).toBeGreaterThan(0);
    expect(stdout).toBe("out\n");
    expect(stderr).toBe("err\n");
    expect(end).toMatchObject({ exitCode: 3, status: "exit status 3" });
  });

  test("errors carry their Connect code", async () => {
    const { filesystem, process: proc } = rpcClients(envd.url, codec);
    const notFound = await filesystem.stat({ path: join(dir, "missing") }).catch((e: unknown) => e);
    expect(ConnectError.from(notFound).code).toBe(Code.NotFound);
    const noPid = await proc
      .sendSignal({ process: { selector: { case: "pid", value: 4_000_000 } }, signal: 9 })
      .catch((e: unknown) => e);
    expect(ConnectError.from(noPid).code).toBe(Code.NotFound);
  });

  test("keepalive events arrive on a quiet stream", async () => {
    const { process: proc } = rpcClients(envd.url, codec, { "Keepalive-Ping-Interval": "1" });
    let keepalives = 0;
    for await (const res of proc.start({ process: { cmd: "/bin/sleep", args: ["2.5"] } })) {
      if (res.event?.event.case === "keepalive") keepalives++;
    }
    expect(keepalives).toBeGreaterThanOrEqual(1);
  });
});

/** One Connect+JSON server-stream request sent by hand, without any client-side deadline. */
async function rawStream(path: string, message: unknown, timeoutMs: number) {
  const json = Buffer.from(JSON.stringify(message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(json.length, 1);
  const res = await fetch(`${envd.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/connect+json",
      "connect-protocol-version": "1",
      "connect-timeout-ms": String(timeoutMs),
    },
    body: Buffer.concat([head, json]),
  });
  const body = Buffer.from(await res.arrayBuffer());
  const envelopes: { flags: number; json: Record<string, unknown> }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    const data = body.subarray(at + 5, at + 5 + length).toString();
    envelopes.push({ flags: body[at] ?? 0, json: JSON.parse(data) as Record<string, unknown> });
    at += 5 + length;
  }
  return { status: res.status, envelopes };
}

describe("a stream past its Connect-Timeout-Ms deadline", () => {
  // The server's own deadline, which may fire before the client's: the stream must still end
  // with deadline_exceeded (E2B's SDK: TimeoutError), never cleanly without an end event.
  test("Start ends with deadline_exceeded and the process is killed", async () => {
    const { status, envelopes } = await rawStream(
      "/process.Process/Start",
      { process: { cmd: "/bin/sleep", args: ["30"] } },
      1500,
    );
    expect(status).toBe(200);
    const start = envelopes[0]?.json as { event?: { start?: { pid?: number } } };
    const pid = start.event?.start?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    const last = envelopes.at(-1);
    expect(last?.flags).toBe(2);
    expect(last?.json).toMatchObject({ error: { code: "deadline_exceeded" } });
    await eventually(async () => ((await world.processAlive(pid)) ? undefined : true));
  });

  test("WatchDir ends with deadline_exceeded", async () => {
    const { status, envelopes } = await rawStream(
      "/filesystem.Filesystem/WatchDir",
      { path: dir },
      1500,
    );
    expect(status).toBe(200);
    expect(envelopes[0]?.json).toEqual({ start: {} });
    const last = envelopes.at(-1);
    expect(last?.flags).toBe(2);
    expect(last?.json).toMatchObject({ error: { code: "deadline_exceeded" } });
  });
});
