import { Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "./stack.js";
import { TestSocket } from "./ws-client.js";

// Output of commands through the real stack (control plane → host agent forwarder → envd in a
// gVisor sandbox): nothing a finished process wrote is lost, whatever the timing, and the
// output limits are the documented ones on every path.

const MB = 1024 * 1024;
// Documented in the OpenAPI description of POST /v1/sandboxes/{id}/exec (IO_LIMITS).
const ONE_SHOT_KEPT_BYTES = 16 * MB;

/** Runs `count` jobs, `width` at a time, and returns their results in order. */
async function inBatches<T>(count: number, width: number, job: (i: number) => Promise<T>) {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await job(i);
      }
    }),
  );
  return results;
}

describe("command output through the real stack", () => {
  let stack: Stack;
  let user: UserKey;
  let id: string;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 1 });
    user = await stack.key({ name: "output" });
    const created = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    id = (created.body as { id: string }).id;
  });
  afterAll(() => stack?.close());

  /** The E2B SDK's handle on the sandbox. */
  const connectSdk = () =>
    Sandbox.connect(id, {
      apiKey: user.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
      requestTimeoutMs: 60_000,
    });

  const exec = (body: unknown) =>
    stack.call("POST", `/v1/sandboxes/${id}/exec`, { key: user.key, body });

  test("120 short commands, 10 at a time through /v1, all return their stdout", async () => {
    const results = await inBatches(120, 10, (i) =>
      exec({ cmd: "/bin/echo", args: [`line-${i}`] }),
    );
    const wrong = results
      .map((r, i) => ({ i, status: r.status, body: r.body as { stdout?: string } }))
      .filter((r) => r.status !== 200 || r.body.stdout !== `line-${r.i}\n`);
    expect(wrong).toEqual([]);
  });

  test("120 short commands, 10 at a time through the E2B SDK, all return their stdout", async () => {
    const sbx = await connectSdk();
    const results = await inBatches(120, 10, async (i) => {
      const r = await sbx.commands.run(`echo line-${i}`, { timeoutMs: 120_000 });
      return { i, exitCode: r.exitCode, stdout: r.stdout };
    });
    expect(results.filter((r) => r.exitCode !== 0 || r.stdout !== `line-${r.i}\n`)).toEqual([]);
  });

  test("120 commands writing stdout and stderr, early and late, 10 at a time through the E2B SDK: every line in its stream", async () => {
    const sbx = await connectSdk();
    const results = await inBatches(120, 10, async (i) => {
      const streamed = { stdout: "", stderr: "" };
      const r = await sbx.commands.run(
        `echo out-${i}; echo early-${i} >&2; sleep 0.0${i % 10}; echo late-${i} >&2; echo done-${i}`,
        {
          timeoutMs: 120_000,
          onStdout: (d) => {
            streamed.stdout += d;
          },
          onStderr: (d) => {
            streamed.stderr += d;
          },
        },
      );
      return { i, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, streamed };
    });
    const wrong = results.filter(
      (r) =>
        r.exitCode !== 0 ||
        r.stdout !== `out-${r.i}\ndone-${r.i}\n` ||
        r.stderr !== `early-${r.i}\nlate-${r.i}\n` ||
        r.streamed.stdout !== r.stdout ||
        r.streamed.stderr !== r.stderr,
    );
    expect(wrong).toEqual([]);
    // They came through envd's resident launcher (a fork of a small process, not of Node's),
    // the default path whose output this test is about.
    const parent = await sbx.commands.run("cat /proc/$PPID/comm");
    expect(parent.stdout).toBe("wrenn-launcher\n");
  });

  test("one-shot exec of a fast 60 MB output keeps the documented 16 MiB and says truncated", async () => {
    const r = await exec({ command: "head -c 62914560 /dev/zero | tr '\\0' x; echo err >&2" });
    expect(r.status, r.text.slice(0, 300)).toBe(200);
    const body = r.body as {
      exitCode: number;
      stdout: string;
      stderr: string;
      truncated: boolean;
      stdoutBytes: number;
    };
    expect(body.exitCode).toBe(0);
    expect(body.truncated).toBe(true);
    expect(body.stdoutBytes).toBe(62914560);
    expect(body.stdout.length).toBe(ONE_SHOT_KEPT_BYTES);
    expect(body.stderr).toBe("err\n");
  });

  test("the exec WebSocket carries all of a fast 60 MB output to a fast reader", async () => {
    const socket = await TestSocket.open(
      `${stack.url.replace("http", "ws")}/v1/sandboxes/${id}/exec/stream`,
      user.key,
    );
    socket.send({
      type: "start",
      command: "head -c 62914560 /dev/zero | tr '\\0' x",
      stdin: false,
    });
    const closed = await socket.closed;
    const bytes = socket.received.binary
      .filter((b) => b[0] === 1)
      .reduce((n, b) => n + b.length - 1, 0);
    expect({ code: closed.code, bytes, last: socket.received.json.at(-1) }).toEqual({
      code: 1000,
      bytes: 62914560,
      last: { type: "exit", exitCode: 0, status: "exit status 0", timedOut: false },
    });
  });

  test("the E2B SDK gets all of a fast 60 MB output", async () => {
    const sbx = await connectSdk();
    let bytes = 0;
    const r = await sbx.commands.run("head -c 62914560 /dev/zero | tr '\\0' x", {
      timeoutMs: 300_000,
      onStdout: (data) => {
        bytes += data.length;
      },
    });
    expect(r.exitCode).toBe(0);
    expect(bytes).toBe(62914560);
  });
});
