import http from "node:http";
import type { Duplex } from "node:stream";
import {
  ENVD_ACCESS_TOKEN_HEADER,
  ENVD_PORT,
  httpStatusOf,
  SSH_LIMITS,
  TCP_RELAY_PATH,
  TCP_RELAY_UPGRADE,
} from "@wrenn/contract";
import type { Logger } from "pino";

export interface TcpRelayOptions {
  /** envd's port on `host` (tests point it at a fake envd). */
  envdPort?: number;
  /** How long envd may take to answer the upgrade. */
  answerMs?: number;
  /** The most of envd's refusal body kept; a longer one is cut and answered 502. */
  refusalBytes?: number;
}

/**
 * The forwarder's raw TCP relay (FORWARD_RELAY_HEADER "tcp"): asks envd to connect to `port`
 * on the sandbox's own loopback, answers the control plane's upgrade with envd's 101, then
 * carries bytes both ways untouched. envd's refusal (its status and JSON) is passed on as is.
 *
 * envd is inside the tenant's sandbox, so its answer is hostile: the refusal body is read up
 * to a cap and the answer must come within a deadline, else the client gets 502
 * port_unreachable (the agent runs as root: an endless body must not grow it until OOM).
 */
export function relayTcp(
  req: http.IncomingMessage,
  client: Duplex,
  head: Buffer,
  host: string,
  port: number,
  log: Logger,
  options: TcpRelayOptions = {},
): void {
  const token = req.headers[ENVD_ACCESS_TOKEN_HEADER];
  const refusalBytes = options.refusalBytes ?? SSH_LIMITS.relayRefusalBytes;
  const upstream = http.request({
    host,
    port: options.envdPort ?? ENVD_PORT,
    method: "GET",
    path: `${TCP_RELAY_PATH}?port=${port}`,
    headers: {
      connection: "Upgrade",
      upgrade: TCP_RELAY_UPGRADE,
      ...(typeof token === "string" ? { [ENVD_ACCESS_TOKEN_HEADER]: token } : {}),
    },
  });
  let answered = false;
  const giveUp = (why: string) => {
    if (answered) return;
    answered = true;
    clearTimeout(deadline);
    upstream.destroy();
    log.debug({ port, why }, "tcp relay: envd did not answer");
    const body = JSON.stringify({
      error: { code: "port_unreachable", message: `the sandbox did not answer: ${why}` },
    });
    if (client.writable) {
      client.end(
        `HTTP/1.1 ${httpStatusOf("port_unreachable")} Bad Gateway\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    } else {
      client.destroy();
    }
  };
  const deadline = setTimeout(
    () => giveUp("no answer in time"),
    options.answerMs ?? SSH_LIMITS.relayAnswerSeconds * 1000,
  );
  deadline.unref();
  const done = () => {
    answered = true;
    clearTimeout(deadline);
  };
  client.on("error", () => upstream.destroy());
  client.once("close", () => {
    done();
    upstream.destroy();
  });
  upstream.once("upgrade", (res, socket, upHead) => {
    if (answered) return socket.destroy();
    done();
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
    let size = 0;
    res.on("data", (c: Buffer) => {
      size += c.length;
      if (size > refusalBytes) return giveUp(`its refusal is over ${refusalBytes} bytes`);
      chunks.push(c);
    });
    res.once("error", () => giveUp("its refusal broke off"));
    res.once("end", () => {
      if (answered) return;
      done();
      const body = Buffer.concat(chunks);
      client.end(
        `HTTP/1.1 ${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 502] ?? ""}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
      );
    });
  });
  upstream.on("error", (err) => giveUp(err.message));
  upstream.end();
}
