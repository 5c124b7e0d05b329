import { once } from "node:events";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import { afterEach, describe, expect, test } from "vitest";
import { acceptBothHttpVersions, type BothHttpVersions } from "./both-http-versions.js";
import { loopbackCertificate, uploadUnread } from "./test-kit.js";

// One port for HTTP/1.1 and HTTP/2, and the property that sank a first try at it: an HTTP/1.1
// body the handler does not read must stay in the network (TCP's window), not in our memory.

const BODY_BYTES = 64 * 1024 * 1024;
/** What the server may hold of an unread body: its socket's and request's buffers are KiBs. */
const MAY_READ_BYTES = 8 * 1024 * 1024;

const pair = loopbackCertificate();

interface Served {
  port: number;
  /** The server side of every TCP connection, as h1 accepted it. */
  sockets: net.Socket[];
  /** Requests h1's handler saw (uploads are held unread). */
  requests: number;
  both?: BothHttpVersions;
  h1: http.Server;
}

const opened: Served[] = [];
afterEach(async () => {
  for (const s of opened.splice(0)) {
    s.both?.close();
    s.h1.closeAllConnections();
    await new Promise((resolve) => s.h1.close(resolve));
  }
});

/** h1 alone, or h1 and h2 on its port; POSTs are held and never read, anything else answered. */
async function serve(o: { both: boolean; tls?: boolean }): Promise<Served> {
  const handler: http.RequestListener = (req, res) => {
    served.requests += 1;
    if (req.method === "POST") {
      req.pause();
      return;
    }
    res.end(`h1 ${req.url}`);
  };
  const h1 = o.tls
    ? https.createServer({ ...pair, ALPNProtocols: ["http/1.1", "h2"] }, handler)
    : http.createServer(handler);
  const served: Served = { port: 0, sockets: [], requests: 0, h1 };
  if (o.both) {
    const h2 = http2.createServer({}, (req, res) => res.end(`h2 ${req.url}`));
    served.both = acceptBothHttpVersions({ h1, h2 });
  }
  h1.on("connection", (socket: net.Socket) => served.sockets.push(socket));
  opened.push(served);
  await new Promise<void>((resolve) => h1.listen(0, "127.0.0.1", resolve));
  served.port = (h1.address() as AddressInfo).port;
  return served;
}

async function connect(s: Served, secure: boolean): Promise<net.Socket> {
  const socket = secure
    ? tls.connect({ host: "127.0.0.1", port: s.port, ca: pair.cert, ALPNProtocols: ["http/1.1"] })
    : net.connect(s.port, "127.0.0.1");
  socket.on("error", () => {});
  await once(socket, secure ? "secureConnect" : "connect");
  return socket;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("an unread HTTP/1.1 body stays in the network", () => {
  test.each([
    ["h1 alone, in clear (the baseline)", false, false],
    ["h1 alone, TLS (the baseline)", false, true],
    ["both versions, in clear (the first bytes decide)", true, false],
    ["both versions, TLS (ALPN decides)", true, true],
  ])("%s", async (_name, both, secure) => {
    const s = await serve({ both, tls: secure });
    const socket = await connect(s, secure);
    const { written, read } = await uploadUnread(socket, {
      path: "/upload",
      bodyBytes: BODY_BYTES,
      serverBytesRead: () => s.sockets.reduce((sum, socket) => sum + socket.bytesRead, 0),
    });
    socket.destroy();
    expect(s.requests, "the handler got the request").toBe(1);
    expect(read, `read ${read} bytes of the ${written} written`).toBeLessThan(MAY_READ_BYTES);
    expect(written).toBeLessThan(BODY_BYTES);
  });
});

/** One request over HTTP/2: prior knowledge in clear, ALPN "h2" with TLS. */
async function h2Get(s: Served, secure: boolean, path: string): Promise<string> {
  const session = secure
    ? http2.connect(`https://127.0.0.1:${s.port}`, { ca: pair.cert })
    : http2.connect(`http://127.0.0.1:${s.port}`);
  session.on("error", () => {});
  try {
    const stream = session.request({ ":path": path });
    stream.end();
    stream.setEncoding("utf8");
    let text = "";
    for await (const piece of stream) text += piece;
    return text;
  } finally {
    session.close();
  }
}

async function h1Get(s: Served, secure: boolean, alpn?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port: s.port, path: "/one", agent: false };
    const req = secure
      ? https.get({ ...options, ca: pair.cert, ...(alpn ? { ALPNProtocols: alpn } : {}) })
      : http.get(options);
    req.on("error", reject);
    req.on("response", (res) => {
      res.setEncoding("utf8");
      let text = "";
      res.on("data", (piece: string) => {
        text += piece;
      });
      res.on("end", () => resolve(text));
    });
  });
}

test.each([
  ["in clear", false],
  ["TLS", true],
])("%s: HTTP/2 reaches h2, HTTP/1.1 reaches h1", async (_name, secure) => {
  const s = await serve({ both: true, tls: secure });
  expect(await h2Get(s, secure, "/rpc")).toBe("h2 /rpc");
  expect(await h1Get(s, secure)).toBe("h1 /one");
  if (secure) {
    // A client offering both (browsers, curl) gets the server's preference: HTTP/1.1 here.
    expect(await h1Get(s, secure, ["h2", "http/1.1"])).toBe("h1 /one");
  }
});

test("close() ends idle HTTP/2 sessions and silent connections: h1.close() then returns", async () => {
  const s = await serve({ both: true });
  const session = http2.connect(`http://127.0.0.1:${s.port}`);
  session.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({ ":path": "/x" });
    stream.on("error", reject);
    stream.on("end", resolve);
    stream.resume();
    stream.end();
  });
  const silent = await connect(s, false);
  while (s.sockets.length < 2) await sleep(10); // the server has accepted it too
  // h1's close() alone would wait for both: it knows neither.
  s.both?.close();
  const closed = new Promise((resolve) => s.h1.close(resolve));
  const waited = await Promise.race([
    closed.then(() => "closed"),
    sleep(10_000).then(() => "open"),
  ]);
  expect(waited).toBe("closed");
  expect(session.closed || session.destroyed).toBe(true);
  expect(silent.destroyed || silent.readableEnded).toBe(true);
});

test("a connection silent for headersTimeout is closed, as h1 closes one without headers", async () => {
  const s = await serve({ both: true });
  s.h1.headersTimeout = 300;
  const silent = await connect(s, false);
  const ended = await Promise.race([
    once(silent, "close").then(() => "closed"),
    sleep(10_000).then(() => "open"),
  ]);
  expect(ended).toBe("closed");
});

/** A TCP hop to s that passes the client's first bytes on one at a time, then the rest. */
async function dribbling(s: Served): Promise<{ port: number; server: net.Server }> {
  const server = net.createServer(async (client) => {
    const upstream = await connect(s, false);
    upstream.setNoDelay(true);
    client.on("error", () => upstream.destroy());
    upstream.pipe(client);
    const [first] = (await once(client, "data")) as [Buffer];
    client.pause();
    for (const byte of first.subarray(0, 8)) {
      upstream.write(Buffer.of(byte));
      await sleep(5);
    }
    upstream.write(first.subarray(8));
    client.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

test("first bytes that come apart are awaited: both versions still told apart", async () => {
  const s = await serve({ both: true });
  const hop = await dribbling(s);
  try {
    const via = { ...s, port: hop.port };
    expect(await h2Get(via, false, "/rpc")).toBe("h2 /rpc");
    expect(await h1Get(via, false)).toBe("h1 /one");
  } finally {
    hop.server.close();
  }
});
