import type http from "node:http";
import type http2 from "node:http2";
import type https from "node:https";
import type net from "node:net";
import tls from "node:tls";
import { trackHttp2Sessions } from "./http2-sessions.js";

/**
 * How an HTTP/2 client with prior knowledge starts (RFC 9113, 3.4: "PRI * HTTP/2.0..."), which
 * is what `grpcurl -plaintext` sends. No HTTP/1.x request starts so (llhttp itself reads it as
 * HTTP/2's preface), and every client sends at least four bytes before it awaits an answer.
 */
const HTTP2_PREFACE_START = Buffer.from("PRI ", "latin1");

export interface BothHttpVersionsOptions {
  /**
   * The server that listens, and serves HTTP/1.1 as if it were alone: its own connection
   * handling (parser, timeouts, upgrades, close) runs unchanged on every HTTP/1.1 connection.
   * An https.Server tells the versions apart by ALPN, so it must offer "h2" in ALPNProtocols;
   * its order is the server's preference.
   */
  h1: http.Server | https.Server;
  /** Takes the HTTP/2 connections (created with http2.createServer, never listening itself). */
  h2: http2.Http2Server;
}

export interface BothHttpVersions {
  /**
   * Ends what h1.close() does not know of and would wait for: HTTP/2 sessions (GOAWAY; calls
   * under way finish) and connections that have not sent their first bytes yet. Call it before
   * (or with) h1.close().
   */
  close(): void;
}

/**
 * One port for both HTTP versions: h1 listens and keeps HTTP/1.1; HTTP/2 connections go to h2.
 * With TLS, ALPN decides; in clear, a connection's first four bytes do.
 *
 * Reading those bytes must leave the socket as h1 would have found it. Node's HTTP/1.1 server
 * parses a socket in C++ ("consumed") and stops reading it only on the stream's 'pause' event,
 * restarting on 'resume'; pause() emits 'pause' only when the stream goes from flowing to
 * paused. A 'readable' listener leaves the socket paused (readableFlowing false). The host
 * agent's sniff handed it over at once (read() all, unshift, emit "connection"): the server's
 * 'data' listener then does not resume it, Node's deferred reset does, and when the bytes put
 * back were at least the socket's highWaterMark (16 KiB: a head with the start of its body)
 * they reached the parser before that 'resume' event did. The handler's backpressure pause came
 * first, the late 'resume' restarted reading, and every later pause() was a no-op on a stream
 * already paused: a body the handler never reads was read whole (64 MiB of 64 MiB in
 * both-http-versions.test.ts, against 64 KiB without the sniff; with under 16 KiB in the first
 * read it kept 64 KiB, which is why measurements of it disagreed). Handed over a tick later,
 * once Node's reset has put the socket back to readableFlowing null (a fresh socket's state),
 * it behaves as one h1 accepted itself, whatever the first read held.
 */
export function acceptBothHttpVersions(o: BothHttpVersionsOptions): BothHttpVersions {
  const { h1, h2 } = o;
  const sessions = trackHttp2Sessions(h2);
  const undecided = new Set<net.Socket>();
  let closing = false;
  const secure = h1 instanceof tls.Server;
  // Node's own listener (http's connectionListener) is what HTTP/1.1 connections get.
  const event = secure ? "secureConnection" : "connection";
  const own = h1.listeners(event) as ((socket: net.Socket) => void)[];
  if (own.length === 0) throw new Error(`acceptBothHttpVersions: h1 has no '${event}' listener`);
  h1.removeAllListeners(event);
  const toHttp1 = (socket: net.Socket) => {
    for (const listener of own) listener.call(h1, socket);
  };
  const toHttp2 = (socket: net.Socket) => h2.emit("connection", socket);

  if (secure) {
    h1.on(event, (socket: tls.TLSSocket) =>
      (socket.alpnProtocol === "h2" ? toHttp2 : toHttp1)(socket),
    );
  } else {
    h1.on(event, (socket: net.Socket) => {
      if (closing) {
        socket.destroy();
        return;
      }
      undecided.add(socket);
      socket.once("close", () => undecided.delete(socket));
      // As long as HTTP/1.1 waits for a request's headers: a silent connection is no request.
      awaitFirstBytes(socket, h1.headersTimeout, (isHttp2) => {
        undecided.delete(socket);
        (isHttp2 ? toHttp2 : toHttp1)(socket);
      });
    });
  }

  return {
    close() {
      closing = true;
      sessions.closeAll();
      for (const socket of undecided) socket.destroy();
    },
  };
}

/**
 * Reads a connection's first four bytes, puts them back and says whether they start HTTP/2's
 * preface. A connection that ends, fails or stays silent for timeoutMs first is destroyed.
 */
function awaitFirstBytes(
  socket: net.Socket,
  timeoutMs: number,
  then: (isHttp2: boolean) => void,
): void {
  const timer = timeoutMs > 0 ? setTimeout(() => socket.destroy(), timeoutMs) : undefined;
  const drop = () => socket.destroy();
  const stop = () => {
    clearTimeout(timer);
    socket.off("readable", onReadable);
    socket.off("end", drop);
    socket.off("close", stop);
  };
  const onReadable = () => {
    // null until four bytes are here; at the end, what there is (h1 answers a stub as usual).
    const head: Buffer | null = socket.read(HTTP2_PREFACE_START.length);
    if (head === null) return;
    stop();
    socket.unshift(head);
    // Removing the 'readable' listener queued Node's reset of the flowing state for the next
    // tick; this runs after it (see acceptBothHttpVersions). Errors until then are still ours.
    process.nextTick(() => {
      socket.off("error", drop);
      if (!socket.destroyed) then(head.equals(HTTP2_PREFACE_START));
    });
  };
  socket.on("readable", onReadable);
  socket.on("end", drop);
  socket.on("error", drop);
  socket.on("close", stop);
}
