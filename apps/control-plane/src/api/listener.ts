import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type net from "node:net";
import type tls from "node:tls";

/** What an HTTP/2 client with prior knowledge sends first (RFC 9113, 3.4): grpcurl -plaintext. */
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export type Http2Listener = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

export interface ListenerOptions {
  /** PEM certificate chain and key: the port then speaks TLS only. */
  tls?: { cert: string; key: string } | undefined;
  http1: http.RequestListener;
  http2: Http2Listener;
  /** A cleartext connection silent this long before its first bytes is closed. */
  firstBytesTimeoutMs: number;
  /** An HTTP/2 session with no traffic this long is ended (its open calls finish first). */
  http2IdleMs: number;
}

export interface DualListener {
  /** The HTTP/1.1 server, unchanged for its requests: Fastify listens and closes with it. */
  server: http.Server;
  /**
   * Ends the HTTP/2 sessions (each after its open calls) and the connections still silent:
   * the HTTP/1.1 server knows neither, and its close() would wait for them.
   */
  close(): void;
}

/**
 * One port, both HTTP versions. HTTP/1.1 connections reach the http(s) server exactly as if it
 * had accepted them itself (upgrades, timeouts, idle-connection closing); HTTP/2 ones go to a
 * node:http2 server. In clear the first bytes decide (the HTTP/2 preface or not); with TLS,
 * ALPN does, and it prefers http/1.1: browsers and curl offer both and stay on HTTP/1.1 as
 * before, while gRPC clients (grpcurl, grpc-go, Node's http2) offer only h2 and get it.
 */
export function dualListener(o: ListenerOptions): DualListener {
  const h2 = http2.createServer({}, o.http2);
  const sessions = new Set<http2.ServerHttp2Session>();
  const silent = new Set<net.Socket>();
  let closing = false;
  h2.on("session", (session) => {
    if (closing) {
      session.close();
      return;
    }
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  // Idle gRPC clients keep sessions open forever otherwise; close() sends GOAWAY and lets
  // calls under way finish (a CreateWorkspace may be silent for a minute).
  h2.setTimeout(o.http2IdleMs);
  h2.on("timeout", (session: http2.ServerHttp2Session) => session.close());

  const server = o.tls
    ? https.createServer({ ...o.tls, ALPNProtocols: ["http/1.1", "h2"] }, o.http1)
    : http.createServer(o.http1);
  // The server's own connection listener, called for HTTP/1.1 connections only: its
  // bookkeeping (parser, tracked connections, timeouts) stays as Node wrote it.
  const event = o.tls ? "secureConnection" : "connection";
  const own = server.listeners(event) as ((socket: net.Socket) => void)[];
  server.removeAllListeners(event);
  const toHttp1 = (socket: net.Socket) => {
    for (const listener of own) listener.call(server, socket);
  };
  const toHttp2 = (socket: net.Socket) => h2.emit("connection", socket);

  if (o.tls) {
    server.on(event, (socket: tls.TLSSocket) =>
      (socket.alpnProtocol === "h2" ? toHttp2 : toHttp1)(socket),
    );
  } else {
    server.on(event, (socket: net.Socket) => {
      silent.add(socket);
      awaitFirstBytes(socket, o.firstBytesTimeoutMs, (isHttp2) => {
        silent.delete(socket);
        (isHttp2 ? toHttp2 : toHttp1)(socket);
      });
      socket.once("close", () => silent.delete(socket));
    });
  }

  return {
    server,
    close() {
      closing = true;
      for (const session of sessions) session.close();
      for (const socket of silent) socket.destroy();
    },
  };
}

/**
 * Reads until the bytes so far either stray from the HTTP/2 preface or are all of it, puts
 * them back, and says which it was. A socket that stays silent, ends or fails first is closed.
 */
function awaitFirstBytes(
  socket: net.Socket,
  timeoutMs: number,
  then: (isHttp2: boolean) => void,
): void {
  let seen = Buffer.alloc(0);
  const drop = () => {
    stop();
    socket.destroy();
  };
  const timer = setTimeout(drop, timeoutMs);
  const onReadable = () => {
    for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) {
      seen = Buffer.concat([seen, chunk as Buffer]);
    }
    const n = Math.min(seen.length, HTTP2_PREFACE.length);
    const isHttp2 = seen.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
    if (isHttp2 && n < HTTP2_PREFACE.length) return;
    stop();
    socket.unshift(seen);
    then(isHttp2);
  };
  function stop() {
    clearTimeout(timer);
    socket.off("readable", onReadable);
    socket.off("end", drop);
    socket.off("error", drop);
  }
  socket.on("readable", onReadable);
  socket.on("end", drop);
  socket.on("error", drop);
}
