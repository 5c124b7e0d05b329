import { Code, ConnectError } from "@connectrpc/connect";
import { ENVD_REPLAY_FROM_HEADER, ENVD_REPLAY_START_HEADER } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { rpcClients } from "./testing/rpc-clients.js";

// Wrenn's reconnect extension: Connect with Wrenn-Replay-From replays buffered output.

let world: EnvdWorld;
let envd: RunningEnvd;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
});

afterAll(async () => {
  await world?.close();
});

interface Collected {
  pid: number;
  output: string;
  ended: boolean;
  headers?: Headers;
}

async function collect(
  stream: AsyncIterable<{ event?: { event: { case: string | undefined; value?: unknown } } }>,
  until?: (c: Collected) => boolean,
): Promise<Collected> {
  const c: Collected = { pid: 0, output: "", ended: false };
  for await (const res of stream) {
    const event = res.event?.event;
    if (event?.case === "start") c.pid = (event.value as { pid: number }).pid;
    if (event?.case === "data") {
      const output = (event.value as { output: { value: Uint8Array } }).output;
      c.output += Buffer.from(output.value).toString();
    }
    if (event?.case === "end") c.ended = true;
    if (until?.(c)) break;
  }
  return c;
}

async function startWaiting(script: string) {
  const { process: proc } = rpcClients(envd.url, "connect-json");
  const abort = new AbortController();
  const stream = proc.start(
    { process: { cmd: "/bin/sh", args: ["-c", script] }, stdin: true },
    { signal: abort.signal },
  );
  const first = await collect(stream, (c) => c.output.includes("READY"));
  abort.abort();
  return first;
}

describe("replay on Connect", () => {
  test("replays from 0 and from a middle offset, then follows live output", async () => {
    const first = await startWaiting("printf 'abcdefghij'; echo READY; read x; echo after-$x");
    const { process: proc } = rpcClients(envd.url, "connect-json", {
      [ENVD_REPLAY_FROM_HEADER]: "0",
    });
    let headers: Headers | undefined;
    const all = proc.connect(
      { process: { selector: { case: "pid", value: first.pid } } },
      { onHeader: (h) => (headers = h) },
    );
    const replayed = collect(all);
    const mid = await collect(
      rpcClients(envd.url, "connect-json", { [ENVD_REPLAY_FROM_HEADER]: "5" }).process.connect({
        process: { selector: { case: "pid", value: first.pid } },
      }),
      (c) => c.output.includes("READY"),
    );
    expect(mid.output).toBe("fghijREADY\n");
    await proc.sendInput({
      process: { selector: { case: "pid", value: first.pid } },
      input: { input: { case: "stdin", value: Buffer.from("1\n") } },
    });
    const full = await replayed;
    expect(full.output).toBe("abcdefghijREADY\nafter-1\n");
    expect(full.ended).toBe(true);
    expect(headers?.get(ENVD_REPLAY_START_HEADER)).toBe("0");
  });

  test("without the header Connect gives live output only (E2B behaviour)", async () => {
    const first = await startWaiting("echo early; echo READY; read x; echo late");
    const { process: proc } = rpcClients(envd.url, "connect-json");
    const stream = proc.connect({ process: { selector: { case: "pid", value: first.pid } } });
    const iterator = stream[Symbol.asyncIterator]();
    // The start event means the subscription exists; only then send the input.
    expect((await iterator.next()).value?.event?.event.case).toBe("start");
    await proc.sendInput({
      process: { selector: { case: "pid", value: first.pid } },
      input: { input: { case: "stdin", value: Buffer.from("\n") } },
    });
    const live = collect({ [Symbol.asyncIterator]: () => iterator });
    expect((await live).output).toBe("late\n");
  });

  test("an ended process stays connectable (replay + end) but leaves List", async () => {
    const { process: proc } = rpcClients(envd.url, "connect-json");
    const done = await collect(proc.start({ process: { cmd: "/bin/echo", args: ["finished"] } }));
    expect(done.ended).toBe(true);
    const listed = await proc.list({});
    expect(listed.processes.some((p) => p.pid === done.pid)).toBe(false);
    const again = await collect(
      rpcClients(envd.url, "connect-json", { [ENVD_REPLAY_FROM_HEADER]: "0" }).process.connect({
        process: { selector: { case: "pid", value: done.pid } },
      }),
    );
    expect(again).toMatchObject({ pid: done.pid, output: "finished\n", ended: true });
    // Input to an ended process: not found, as in E2B.
    const err = await proc
      .sendInput({
        process: { selector: { case: "pid", value: done.pid } },
        input: { input: { case: "stdin", value: Buffer.from("x") } },
      })
      .catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.NotFound);
  });

  test("the ring keeps the last 4 MiB: replay starts later than asked and says so", async () => {
    const { process: proc } = rpcClients(envd.url, "connect-json");
    // 6 MiB of output, then the end.
    const done = await collect(
      proc.start({
        process: { cmd: "/bin/sh", args: ["-c", "head -c 6291456 /dev/zero | tr '\\0' x"] },
      }),
    );
    expect(done.output.length).toBe(6 * 1024 * 1024);
    let headers: Headers | undefined;
    const replay = await collect(
      rpcClients(envd.url, "connect-json", { [ENVD_REPLAY_FROM_HEADER]: "0" }).process.connect(
        { process: { selector: { case: "pid", value: done.pid } } },
        { onHeader: (h) => (headers = h) },
      ),
    );
    const start = Number(headers?.get(ENVD_REPLAY_START_HEADER));
    expect(start).toBeGreaterThan(0);
    expect(replay.output.length).toBe(6 * 1024 * 1024 - start);
    expect(replay.output.length).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  test("a malformed replay offset is invalid_argument", async () => {
    const first = await startWaiting("echo READY; read x");
    const err = await collect(
      rpcClients(envd.url, "connect-json", { [ENVD_REPLAY_FROM_HEADER]: "-5" }).process.connect({
        process: { selector: { case: "pid", value: first.pid } },
      }),
    ).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.InvalidArgument);
    await rpcClients(envd.url, "connect-json").process.sendSignal({
      process: { selector: { case: "pid", value: first.pid } },
      signal: 9,
    });
  });
});
