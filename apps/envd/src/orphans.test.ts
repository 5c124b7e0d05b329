import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type EnvdWorld, openEnvd, type RunningEnvd } from "./testing/envd-harness.js";
import { eventually } from "./testing/eventually.js";
import { rpcClients } from "./testing/rpc-clients.js";

// Killing a process (SendSignal, or the Connect-Timeout-Ms deadline) takes everything it
// started with it: its process group and every other group in its session. Processes are
// looked at in envd's world (the sandbox's /proc in gVisor mode), not through envd.

let world: EnvdWorld;
let envd: RunningEnvd;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
});

afterAll(async () => {
  await world?.close();
});

const sessionMembers = (sid: number) => world.sessionMembers(sid);

async function expectAllGone(pids: number[]): Promise<void> {
  for (const pid of pids) expect(await world.processAlive(pid)).toBe(false);
}

interface Started {
  pid: number;
  rest: AsyncIterator<{ event?: { event: { case: string | undefined; value?: unknown } } }>;
}

async function startUntil(
  text: string,
  request: Parameters<ReturnType<typeof rpcClients>["process"]["start"]>[0],
  options: { timeoutMs?: number } = {},
): Promise<Started> {
  const { process: proc } = rpcClients(envd.url, "connect-json");
  const iterator = proc.start(request, options)[Symbol.asyncIterator]();
  let pid = 0;
  let output = "";
  while (!output.includes(text)) {
    const next = await iterator.next();
    if (next.done) throw new Error(`ended before '${text}': ${output}`);
    const ev = next.value.event?.event;
    if (ev?.case === "start") pid = ev.value.pid;
    if (ev?.case === "data") output += Buffer.from(ev.value.output.value as Uint8Array).toString();
  }
  return { pid, rest: iterator };
}

async function endOf(iterator: Started["rest"]) {
  for (;;) {
    const next = await iterator.next();
    if (next.done) return undefined;
    const ev = next.value.event?.event;
    if (ev?.case === "end") return ev.value as { exitCode: number; status: string };
  }
}

describe("no orphans", () => {
  test("SIGKILL takes the background children of a shell", async () => {
    const started = await startUntil("ready", {
      process: { cmd: "/bin/sh", args: ["-c", "sleep 300 & sleep 301 & echo ready; wait"] },
    });
    const members = await sessionMembers(started.pid);
    expect(members.length).toBeGreaterThanOrEqual(3);
    const { process: proc } = rpcClients(envd.url, "connect-json");
    await proc.sendSignal({
      process: { selector: { case: "pid", value: started.pid } },
      signal: 9,
    });
    expect(await endOf(started.rest)).toMatchObject({ exitCode: -1, status: "signal: killed" });
    await eventually(async () =>
      (await sessionMembers(started.pid)).length === 0 ? true : undefined,
    );
    await expectAllGone(members);
  });

  test("killing a pty shell takes its job-control jobs (other process groups)", async () => {
    const { process: proc } = rpcClients(envd.url, "connect-json");
    const iterator = proc
      .start({
        process: { cmd: "/bin/bash", args: ["--norc", "--noprofile", "-i"] },
        pty: { size: { cols: 80, rows: 24 } },
      })
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    const pid = first.value?.event?.event.case === "start" ? first.value.event.event.value.pid : 0;
    await proc.sendInput({
      process: { selector: { case: "pid", value: pid } },
      input: {
        input: { case: "pty", value: Buffer.from("sleep 300 & sleep 302 & echo JOBS-$((1+1))\n") },
      },
    });
    let output = "";
    while (!output.includes("JOBS-2")) {
      const next = await iterator.next();
      const ev = next.value?.event?.event;
      if (ev?.case === "data")
        output += Buffer.from(ev.value.output.value as Uint8Array).toString();
    }
    const members = await sessionMembers(pid);
    expect(members.length).toBeGreaterThanOrEqual(3);
    // Job control put the jobs in process groups of their own: the group alone is not enough.
    const rows = await world.processes();
    const groups = new Set(rows.filter((p) => members.includes(p.pid)).map((p) => p.pgid));
    expect(groups.size).toBeGreaterThanOrEqual(2);
    await proc.sendSignal({ process: { selector: { case: "pid", value: pid } }, signal: 9 });
    await eventually(async () => ((await sessionMembers(pid)).length === 0 ? true : undefined));
    await expectAllGone(members);
  });

  test("the Connect-Timeout-Ms deadline kills the whole session", async () => {
    const started = await startUntil(
      "ready",
      { process: { cmd: "/bin/sh", args: ["-c", "sleep 300 & echo ready; wait"] } },
      { timeoutMs: 4000 },
    );
    const members = await sessionMembers(started.pid);
    expect(members.length).toBeGreaterThanOrEqual(2);
    const error = await endOf(started.rest).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.DeadlineExceeded);
    await eventually(async () =>
      (await sessionMembers(started.pid)).length === 0 ? true : undefined,
    );
    await expectAllGone(members);
  });

  test("the deadline also takes background children that outlived their shell", async () => {
    // The shell exits at once; its background sleep keeps the output pipe, so the command
    // is not over (as in E2B) until the deadline kills the session.
    const started = await startUntil(
      "ready",
      { process: { cmd: "/bin/sh", args: ["-c", "sleep 300 & echo ready"] } },
      { timeoutMs: 4000 },
    );
    const members = await sessionMembers(started.pid);
    expect(members.length).toBeGreaterThanOrEqual(1);
    const error = await endOf(started.rest).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.DeadlineExceeded);
    await eventually(async () =>
      (await sessionMembers(started.pid)).length === 0 ? true : undefined,
    );
    await expectAllGone(members);
  });
});
