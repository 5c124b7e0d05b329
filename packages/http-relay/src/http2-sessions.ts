import type http2 from "node:http2";

export interface Http2Sessions {
  /**
   * Sends GOAWAY on every session (calls under way finish; idle ones end at once) and ends
   * any session that starts afterwards.
   */
  closeAll(): void;
}

/**
 * The sessions of an HTTP/2 server, to end at shutdown: gRPC clients keep theirs open, and the
 * server's (or, for connections it was handed, the listening server's) close() waits for them.
 */
export function trackHttp2Sessions(
  server: http2.Http2Server | http2.Http2SecureServer,
): Http2Sessions {
  const sessions = new Set<http2.ServerHttp2Session>();
  let closing = false;
  server.on("session", (session: http2.ServerHttp2Session) => {
    if (closing) {
      session.close();
      return;
    }
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  return {
    closeAll() {
      closing = true;
      for (const session of sessions) session.close();
    },
  };
}
