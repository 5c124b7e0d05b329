import http from "node:http";
import type { Duplex } from "node:stream";
import {
  ENVD_ACCESS_TOKEN_HEADER,
  ENVD_PORT,
  TCP_RELAY_PATH,
  TCP_RELAY_UPGRADE,
} from "@wrenn/contract";
import type { Logger } from "pino";

/**
 * The forwarder's raw TCP relay (FORWARD_RELAY_HEADER "tcp"): asks envd to connect to `port`
 * on the sandbox's own loopback, answers the control plane's upgrade with envd's 101, then
 * carries bytes both ways untouched. envd's refusal (its status and JSON) is passed on as is.
 */
export function relayTcp(
  req: http.IncomingMessage,
  client: Duplex,
  head: Buffer,
  host: string,
  port: number,
  log: Logger,
): void {
  const token = req.headers[ENVD_ACCESS_TOKEN_HEADER];
  const upstream = http.request({
    host,
    port: ENVD_PORT,
    method: "GET",
    path: `${TCP_RELAY_PATH}?port=${port}`,
    headers: {
      connection: "Upgrade",
      upgrade: TCP_RELAY_UPGRADE,
      ...(typeof token === "string" ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {}),
    },
  });
  client.on("error", () => upstream.destroy());
  client.once("close", () => upstream.destroy());
  upstream.once("upgrade", (res, socket, upHead) => {
    client.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${res.headers.upgrade ?? TCP_RELAY_UPGRADE}\r\n\r\n`,
    );
    if (upHead.length > 0) client.write(upHead);
    if (head.length > 0) socket.write(head);
    socket.setNoDelay(true);
    socket.pipe(client);
    client.pipe(socket);
    socket.on("error", () => client.destroy());
    client.on("error", () => socket.destroy());
    socket.once("close", () => client.destroy());
    client.once("close", () => socket.destroy());
  });
  upstream.once("response", (res) => {
    const chunks: Buffer[] = [];
    res.on("data", (c: Buffer) => chunks.push(c));
    res.once("end", () => {
      const body = Buffer.concat(chunks);
      client.end(
        `HTTP/1.1 ${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 502] ?? ""}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  });
  upstream.once("error", (err) => {
    log.debug({ err: err.message }, "tcp relay: envd did not answer");
    const body = JSON.stringify({
      error: { code: "port_unreachable", message: "the sandbox did not answer" },
    });
    if (client.writable) {
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
  });
  upstream.end();
}
