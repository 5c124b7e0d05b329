import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { EnvdClient } from "../envd/envd-client.js";
import { startTemplateCommand } from "./start-command.js";

// What answers a start command is inside the tenant's sandbox: a start command running as root
// can replace envd on its port. Whatever it sends must fail that create, never the agent.

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fakeEnvd(body: Buffer): Promise<EnvdClient> {
  const server = http.createServer((req, res) => {
    req.resume();
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
