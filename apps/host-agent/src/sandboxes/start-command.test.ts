import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { EnvdClient } from "../envd/envd-client.js";
import { StartCommandFailed, startTemplateCommand, waitTemplateReady } from "./start-command.js";

// What answers a start command is inside the tenant's sandbox: a start command running as root
// can replace envd on its port. Whatever it sends must fail that create, never the agent.

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeEnvd(body: Buffer, calls: string[] = []): Promise<EnvdClient> {
  const server = http.createServer((req, res) => {
    let request = "";
    req.on("data", (d: Buffer) => {
      request += d.subarray(5).toString();
    });
    req.on("end", () => calls.push(request));
    res.writeHead(200, { "content-type": "application/connect+json" });
    res.end(body);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return new EnvdClient("127.0.0.1", (server.address() as AddressInfo).port);
}

function frame(payload: Buffer, claimedLength = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(claimedLength, 1);
  return Buffer.concat([head, payload]);
}

const image = { env: [], workdir: "", user: "user", startCmd: "serve" };

describe("a template's start command against a hostile envd", () => {
  test("a frame that is not JSON fails the create with a reason", async () => {
    const envd = await fakeEnvd(frame(Buffer.from("{not json")));
    await expect(startTemplateCommand(envd, image, "tok")).rejects.toThrow(/not JSON/);
  });

  test("a frame claiming gigabytes is refused before it is buffered", async () => {
    const envd = await fakeEnvd(frame(Buffer.from("x"), 0xfffffff0));
    await expect(startTemplateCommand(envd, image, "tok")).rejects.toThrow(/-byte frame/);
  });

  test("JSON that is not an object is refused", async () => {
    const envd = await fakeEnvd(frame(Buffer.from("null")));
    await expect(startTemplateCommand(envd, image, "tok")).rejects.toThrow(/no object/);
  });

  test("a well-formed start event is accepted", async () => {
    const envd = await fakeEnvd(
      frame(Buffer.from(JSON.stringify({ event: { start: { pid: 7 } } }))),
    );
    await expect(startTemplateCommand(envd, image, "tok")).resolves.toBeUndefined();
  });
});

function event(ev: unknown): Buffer {
  return frame(Buffer.from(JSON.stringify({ event: ev })));
}

/** A process that starts, says something and exits with `code` (Connect JSON omits a 0). */
function exits(code: number, stdout: string): Buffer {
  return Buffer.concat([
    event({ start: { pid: 7 } }),
    event({ data: { stdout: Buffer.from(stdout).toString("base64") } }),
    event({ end: code === 0 ? { exited: true } : { exitCode: code, exited: true } }),
  ]);
}

describe("a template's start and ready commands", () => {
  test("a start command that exits with a failure fails with its exit code and last lines", async () => {
    const envd = await fakeEnvd(exits(3, "line 1\nline 2\nno such file: app.py\n"));
    const err = await startTemplateCommand(
      envd,
      { ...image, startCmd: "python app.py" },
      "tok",
      5_000,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StartCommandFailed);
    expect((err as StartCommandFailed).exitCode).toBe(3);
    expect((err as StartCommandFailed).tail).toBe("line 1\nline 2\nno such file: app.py");
    expect((err as Error).message).toContain("start command (python app.py) failed: exit code 3");
  });

  test("with a ready command, a start command that failed stops the wait", async () => {
    const envd = await fakeEnvd(exits(2, "port in use\n"));
    await expect(
      startTemplateCommand(envd, { ...image, readyCmd: "test -f /tmp/up" }, "tok"),
    ).rejects.toThrow(/exit code 2\nport in use/);
  });

  test("a start command that exits 0 (a daemon that forked) counts as started", async () => {
    const envd = await fakeEnvd(exits(0, "forked\n"));
    await expect(startTemplateCommand(envd, image, "tok", 5_000)).resolves.toBeUndefined();
  });

  test("a service already up (a restored checkpoint) is confirmed by one run of the ready command", async () => {
    const calls: string[] = [];
    const envd = await fakeEnvd(exits(0, ""), calls);
    await waitTemplateReady(envd, { ...image, readyCmd: "test -f /tmp/up" }, "tok");
    expect(calls.map((c) => JSON.parse(c).process.args[1])).toEqual(["test -f /tmp/up"]);
  });
});
