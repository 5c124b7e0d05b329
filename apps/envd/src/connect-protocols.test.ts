import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { FileType } from "@wrenn/proto/filesystem";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RunningEnvd, startEnvd } from "./testing/envd-harness.js";
import { type Codec, rpcClients } from "./testing/rpc-clients.js";

// The E2B SDK only speaks Connect+JSON; envd must also serve the binary codec and gRPC-web
// (Wrenn's host agent and SDK use them).

let envd: RunningEnvd;
let dir: string;

beforeAll(async () => {
  envd = await startEnvd();
  dir = mkdtempSync(join(tmpdir(), "envd-proto-"));
  writeFileSync(join(dir, "f.txt"), "x");
});

afterAll(async () => {
  await envd?.stop();
  rmSync(dir, { recursive: true, force: true });
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
