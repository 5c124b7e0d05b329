import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { TCP_RELAY_UPGRADE } from "@wrenn/contract";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { relayTcp, type TcpRelayOptions } from "./tcp-relay.js";

/**
 * The agent's TCP relay against a hostile envd on loopback (a tenant with sudo can replace
 * envd): its answer must be bounded in size and in time.
 */
const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    (s as http.Server).closeAllConnections?.();
    await new Promise((r) => s.close(r));
  }
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as AddressInfo).port;
}

/** An agent forwarder that only relays, to a fake envd on `envdPort`. */
async function agent(envdPort: number, options: TcpRelayOptions): Promise<number> {
  const server = http.createServer((_req, res) => res.end());
  server.on("upgrade", (req, socket, head) =>
    relayTcp(req, socket, head, "127.0.0.1", 22, pino({ level: "silent" }), {
      envdPort,
      ...options,
    }),
  );
  return listen(server);
}

/** The relay's whole raw answer to an upgrade request. */
function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString()));
    socket.write(
      `GET / HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: ${TCP_RELAY_UPGRADE}\r\n\r\n`,
    );
  });
}

describe("agent tcp relay against a hostile envd", () => {
  it("gives up on an endless refusal at the cap: 502 port_unreachable, memory bounded", async () => {
    let sent = 0;
    let stopped!: () => void;
    const upstreamClosed = new Promise<void>((r) => {
      stopped = r;
    });
    const chunk = Buffer.alloc(16 * 1024, 120);
    // envd answers the upgrade by hand on the raw socket, as the real one does.
    const envd = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("close", stopped);
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\r\n");
        const pump = () => {
          while (!socket.destroyed && sent < 512 * 1024 * 1024) {
            sent += chunk.length;
            if (!socket.write(chunk)) return void socket.once("drain", pump);
          }
        };
        pump();
      });
    });
    const agentPort = await agent(await listen(envd), { refusalBytes: 64 * 1024 });
    const answer = await ask(agentPort);
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain('"code":"port_unreachable"');
    // The agent hung up on envd instead of reading on (the fake would send 512 MiB).
    await upstreamClosed;
    expect(sent).toBeLessThan(512 * 1024 * 1024);
    expect(answer.length).toBeLessThan(64 * 1024);
  });

  it("passes a small refusal on as it is", async () => {
    const body = JSON.stringify({ code: 502, message: "nothing listens" });
    const envd = net.createServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () =>
        socket.end(
          `HTTP/1.1 502 Refused\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
        ),
      );
    });
    const answer = await ask(await agent(await listen(envd), {}));
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain("nothing listens");
  });

  it("ends a request envd never answers with the deadline", async () => {
    let closed!: () => void;
    const upstreamClosed = new Promise<void>((r) => {
      closed = r;
    });
    // Accepts, reads the request, never answers.
    const envd = net.createServer((socket) => {
      socket.on("data", () => {});
      socket.on("error", () => {});
      socket.once("close", closed);
    });
    const answer = await ask(await agent(await listen(envd), { answerMs: 300 }));
    expect(answer).toMatch(/^HTTP\/1\.1 502 /);
    expect(answer).toContain('"code":"port_unreachable"');
    expect(answer).toContain("no answer in time");
    await upstreamClosed;
  });
});
