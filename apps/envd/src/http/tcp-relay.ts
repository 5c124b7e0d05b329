import type { IncomingMessage } from "node:http";
import net, { type Socket } from "node:net";
import { ENVD_ACCESS_TOKEN_HEADER, TCP_RELAY_PATH, TCP_RELAY_UPGRADE } from "@wrenn/contract";
import type { Logger } from "../log/logger.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { parseQuery, pathnameOf, QueryError } from "./query.js";
import { closeWithoutFin } from "./refuse.js";

/**
 * `GET /_wrenn/tcp?port=N` with `Upgrade: wrenn-tcp`: after a 101, the connection carries the
 * bytes of a TCP connection to 127.0.0.1:N inside the sandbox (the host agent's relay for SSH
 * into a workspace, whose sshd listens on loopback only). Token required; loopback only.
 *
 * gVisor cannot checkpoint a connected or TIME_WAIT endpoint, so envd never sends the first FIN
 * on either side: each side is reset when the other one ends, and quiesce resets them all.
 */
export class TcpRelay {
  readonly #open = new Set<Socket>();

  constructor(
    private readonly state: SandboxState,
    private readonly log: Logger,
  ) {}

  handle(req: IncomingMessage, client: Socket, head: Buffer) {
    const deny = (status: number, message: string) => {
      const body = JSON.stringify({ code: status, message });
      client.write(
        `HTTP/1.1 ${status} Refused\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      closeWithoutFin(client);
    };
    const url = req.url ?? "/";
    if (req.method !== "GET" || pathnameOf(url) !== TCP_RELAY_PATH) {
      return deny(404, "no such upgrade route");
    }
    if (String(req.headers.upgrade ?? "").toLowerCase() !== TCP_RELAY_UPGRADE) {
      return deny(400, `upgrade to ${TCP_RELAY_UPGRADE}`);
    }
    if (this.state.token.isSet()) {
      const header = req.headers[ENVD_ACCESS_TOKEN_HEADER];
      if (typeof header !== "string" || !this.state.token.matches(header)) {
        return deny(401, "unauthorized access, please provide a valid access token");
      }
    }
    let portText: string | undefined;
    try {
      portText = parseQuery(url).get("port");
    } catch (error) {
      if (error instanceof QueryError) return deny(400, error.message);
      throw error;
    }
    const port = Number(portText);
    if (!portText || !/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) {
      return deny(400, "port must be 1..65535");
    }
    const upstream = net.connect({ host: "127.0.0.1", port });
    this.#open.add(upstream);
    let connected = false;
    upstream.once("connect", () => {
      connected = true;
      upstream.setNoDelay(true);
      client.write(
        `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${TCP_RELAY_UPGRADE}\r\n\r\n`,
      );
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    // Whichever side ends, both go at once, by reset: nothing inside lingers in TIME_WAIT.
    const finish = () => {
      this.#open.delete(upstream);
      if (!upstream.destroyed) upstream.resetAndDestroy();
      if (!client.destroyed) client.resetAndDestroy();
    };
    upstream.once("error", (error: NodeJS.ErrnoException) => {
      if (!connected) {
        this.#open.delete(upstream);
        this.log.debug({ port, err: error.code }, "tcp relay: nothing answers");
        return deny(502, `nothing listens on 127.0.0.1:${port} in the sandbox`);
      }
      finish();
    });
    upstream.once("end", finish);
    upstream.once("close", finish);
    client.once("end", finish);
    client.once("close", finish);
    client.once("error", finish);
  }

  /** Resets every relayed connection (before a checkpoint). */
  resetAll(): number {
    const n = this.#open.size;
    for (const socket of this.#open) socket.resetAndDestroy();
    this.#open.clear();
    return n;
  }
}
