import { join } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { EventType } from "@wrenn/proto/filesystem";
import type { StreamInputRequestSchema } from "@wrenn/proto/process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";
import { rpcClients } from "./testing/rpc-clients.js";

// The RPCs the E2B JS SDK does not use: polled watchers and client-streamed input.

let world: EnvdWorld;
let envd: RunningEnvd;
let dir: string;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  dir = await world.scratchDir("envd-watchers-", envd.defaultUser);
});

afterAll(async () => {
  await world?.close();
});

describe("polled watchers", () => {
  test("CreateWatcher, GetWatcherEvents (with entries), RemoveWatcher", async () => {
    const { filesystem } = rpcClients(envd.url, "connect-binary");
    const { watcherId } = await filesystem.createWatcher({ path: dir, includeEntry: true });
    expect(watcherId).toMatch(/^w/);
    // Written beside envd, not through it: the watcher must see any writer.
    await world.writeFile(join(dir, "polled.txt"), "content");
    const events = await eventually(async () => {
      const { events } = await filesystem.getWatcherEvents({ watcherId });
      return events.length > 0 ? events : undefined;
    });
    const create = events.find((e) => e.type === EventType.CREATE);
    expect(create?.name).toBe("polled.txt");
    expect(create?.entry?.path).toBe(join(dir, "polled.txt"));
    // Events are handed out once.
    await filesystem.removeWatcher({ watcherId });
    const gone = await filesystem.getWatcherEvents({ watcherId }).catch((e: unknown) => e);
    expect(ConnectError.from(gone).code).toBe(Code.NotFound);
  });
});

describe("StreamInput", () => {
  test("client-streamed input reaches the process", async () => {
    const { process: proc } = rpcClients(envd.url, "connect-binary");
    const iterator = proc
      .start({
        process: { cmd: "/bin/sh", args: ["-c", "read a; read b; echo $a-$b"] },
        stdin: true,
      })
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    const pid = first.value?.event?.event.case === "start" ? first.value.event.event.value.pid : 0;
    async function* input(): AsyncGenerator<MessageInitShape<typeof StreamInputRequestSchema>> {
      yield {
        event: { case: "start", value: { process: { selector: { case: "pid", value: pid } } } },
      };
      yield {
        event: {
          case: "data",
          value: { input: { input: { case: "stdin", value: Buffer.from("x\n") } } },
        },
      };
      yield { event: { case: "keepalive", value: {} } };
      yield {
        event: {
          case: "data",
          value: { input: { input: { case: "stdin", value: Buffer.from("y\n") } } },
        },
      };
    }
    await proc.streamInput(input());
    let output = "";
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const ev = next.value.event?.event;
      if (ev?.case === "data")
        output += Buffer.from(ev.value.output.value as Uint8Array).toString();
    }
    expect(output).toBe("x-y\n");
  });
});
