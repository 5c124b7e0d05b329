import http from "node:http";
import type { AddressInfo } from "node:net";
import { createProxyServer } from "http-proxy-3";
import { afterEach, describe, expect, test } from "vitest";
import { cutOnPurpose, installRelayRules } from "./relay-rules.js";

// A relay like ours (http-proxy-3 with a keep-alive agent) in front of a server that answers a
// POST before reading its body, as envd answers 401 to a caller without a token.

const open: http.Server[] = [];
afterEach(async () => {
  for (const server of open.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: http.Server): Promise<number> {
  open.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function relay(settle: boolean): Promise<number> {
  const upstream = await listen(
    http.createServer((req, res) => {
      if (req.method === "POST") {
        req.resume();
        res.writeHead(401, { "content-type": "application/json" });
        res.end('{"message":"no token"}');
        return;
      }
      res.writeHead(204);
      res.end();
    }),
  );
  return hop(upstream, settle);
}

/** One relay hop as ours are built: http-proxy-3, a keep-alive agent, the relay rules. */
async function hop(next: number, rules: boolean | "rewrite-close" = true): Promise<number> {
  const proxy = createProxyServer({ xfwd: false });
  const agent = new http.Agent({ keepAlive: true });
  if (rules === true) installRelayRules(proxy);
  // What the host agent's forwarder did before: only the caller's `close` made keep-alive.
  if (rules === "rewrite-close") {
    proxy.on("proxyReq", (proxyReq) => proxyReq.setHeader("connection", "keep-alive"));
  }
  proxy.on("error", (_error, req, res) => {
    if (cutOnPurpose(req)) return;
    if (res instanceof http.ServerResponse) res.destroy();
  });
  return listen(
    http.createServer((req, res) =>
      proxy.web(req, res, { target: `http://127.0.0.1:${next}`, agent }),
    ),
  );
}

/**
 * A reset that lands after the answer: Node's client may already have handed the socket back to
 * the keep-alive pool (the request's body was queued in full) when the kernel reports that the
 * relay dropped the connection, and a pooled socket has no error listener. The caller got its
 * answer; the reset is what the test asks for, not a failure.
 */
function ignoreLateReset(): void {}

/** One request on the caller's single keep-alive connection; "timeout" after 3 s. */
function call(
  port: number,
  agent: http.Agent | false,
  method: string,
  body?: Buffer,
): Promise<string> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: "127.0.0.1", port, method, path: "/init", agent, timeout: 3000 },
      (res) => {
        res.resume();
        res.on("end", () => resolve(String(res.statusCode)));
      },
    );
    request.on("timeout", () => {
      request.destroy();
      resolve("timeout");
    });
    request.on("error", (error) => resolve(`error ${error.message}`));
    request.on("socket", (socket) => {
      if (!socket.listeners("error").includes(ignoreLateReset)) socket.on("error", ignoreLateReset);
    });
    request.end(body);
  });
}

describe("a relay whose next hop answers before the body is read", () => {
  const big = Buffer.alloc(2 * 1024 * 1024, "a");

  test("the caller's next request on the same connection is answered", async () => {
    const port = await relay(true);
    const caller = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) {
      expect(await call(port, caller, "POST", big)).toBe("401");
      expect(await call(port, caller, "GET")).toBe("204");
    }
    caller.destroy();
  });

  test("without settling, the relay stalls that connection (the bug this guards)", async () => {
    const port = await relay(false);
    const caller = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await call(port, caller, "POST", big)).toBe("401");
    expect(await call(port, caller, "GET")).toBe("timeout");
    caller.destroy();
  });

  test("a body past the bounds is cut: the connection is dropped, not held", async () => {
    const port = await relay(true);
    const caller = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const huge = Buffer.alloc(12 * 1024 * 1024, "a");
    const answer = await call(port, caller, "POST", huge);
    // The answer may arrive before the reset, or the reset may win: never a hang.
    expect(answer).not.toBe("timeout");
    expect(await call(port, caller, "GET")).toBe("204");
    caller.destroy();
  });
});

describe("Connection is hop-by-hop", () => {
  test("callers that close after each request (`connection: close`) are all answered", async () => {
    const upstream = await listen(
      http.createServer((_req, res) => {
        res.writeHead(204);
        res.end();
      }),
    );
    // Two hops, as the control plane's proxy in front of the host agent's forwarder.
    const front = await hop(await hop(upstream));
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await call(front, false, "GET"));
    expect(answers).toEqual(Array(6).fill("204"));
  });

  test("without the rules, a keep-alive answer to a closing caller breaks the next one", async () => {
    const upstream = await listen(
      http.createServer((_req, res) => {
        res.writeHead(204);
        res.end();
      }),
    );
    const front = await hop(await hop(upstream, "rewrite-close"), false);
    const answers: string[] = [];
    for (let i = 0; i < 6; i++) answers.push(await call(front, false, "GET"));
    expect(answers).not.toEqual(Array(6).fill("204"));
  });
});

describe("ordinary traffic through two hops", () => {
  test("POSTs with bodies and streamed answers, on reused keep-alive sockets", async () => {
    const upstream = await listen(
      http.createServer((req, res) => {
        let n = 0;
        req.on("data", (chunk: Buffer) => {
          n += chunk.length;
        });
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("got ");
          setTimeout(() => res.end(String(n)), 20);
        });
      }),
    );
    const front = await hop(await hop(upstream));
    const caller = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 5; i++) {
      expect(await call(front, caller, "POST", Buffer.alloc(100_000 + i, "b"))).toBe("200");
    }
    caller.destroy();
  });
});
