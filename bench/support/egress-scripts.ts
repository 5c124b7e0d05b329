import { startServer } from "../../apps/host-agent/src/network/network-test-kit.js";

/**
 * The two ends of bench/egress, each a node script run inside a network namespace: an HTTPS
 * server in the stand-in internet, and a client in the sandbox's namespace that takes one
 * command a line on stdin and answers with one JSON line, so no process is spawned per sample.
 */

/** HTTPS on port 443 of each address given: /small → "ok", /big?mib=N → N MiB of zeros. */
export const BENCH_SERVER = `
const [addrs, , cert, key] = process.argv.slice(1);
const fs = require("fs");
const chunk = Buffer.alloc(1 << 20);
const handler = (q, r) => {
  const u = new URL(q.url, "https://x");
  if (u.pathname !== "/big") return r.end("ok\\n");
  const mib = Number(u.searchParams.get("mib"));
  r.writeHead(200, { "content-length": mib << 20 });
  let left = mib;
  const more = () => {
    while (left > 0) { left--; if (!r.write(chunk)) return r.once("drain", more); }
    r.end();
  };
  more();
};
const opts = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
const list = addrs.split(",");
let up = 0;
for (const a of list) {
  require("https").createServer(opts, handler).listen(443, a, () => {
    if (++up === list.length) process.stdout.write("ready\\n");
  });
}
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

/**
 * Commands: "get IP NAME PATH" (a new connection, TLS with SNI NAME, one GET) answers
 * {ms, bytes} or {error}. The certificate is checked against the bench's CA.
 */
export const BENCH_CLIENT = `
const [ca] = process.argv.slice(1);
const fs = require("fs");
const https = require("https");
const caPem = fs.readFileSync(ca);
const get = (ip, name, path) => new Promise((resolve) => {
  const t0 = performance.now();
  const q = https.get({ host: ip, servername: name, path, ca: caPem, agent: false,
    headers: { host: name }, timeout: 60000 }, (r) => {
    let bytes = 0;
    r.on("data", (d) => { bytes += d.length; });
    r.on("end", () => resolve({ ms: performance.now() - t0, bytes, status: r.statusCode }));
    r.on("error", (e) => resolve({ error: e.code || e.message }));
    // A body cut off by the idle timeout ends in "close" without "end" (resolve is once-only).
    r.on("close", () => resolve({ error: "closed before the end of the body" }));
  });
  q.on("timeout", () => q.destroy(new Error("timeout")));
  q.on("error", (e) => resolve({ error: e.code || e.message }));
});
let chain = Promise.resolve();
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const [cmd, ...args] = line.split(" ");
  chain = chain.then(async () => {
    const r = cmd === "get" ? await get(...args) : { error: "unknown command" };
    process.stdout.write(JSON.stringify(r) + "\\n");
  });
});
process.stdin.on("end", () => chain.then(() => process.exit(0)));
process.stdout.write("ready\\n");
`;

export interface GetResult {
  readonly ms?: number;
  readonly bytes?: number;
  readonly status?: number;
  readonly error?: string;
}

/** The client script running in `netns`: one request at a time, in order. */
export class BenchClient {
  private readonly waiting: Array<(r: GetResult) => void> = [];
  private process: Awaited<ReturnType<typeof startServer>> | undefined;

  static async start(netns: string, caFile: string): Promise<BenchClient> {
    const client = new BenchClient();
    // startServer's argv is (host, port, ...more): the client takes the CA file as "host".
    client.process = await startServer(netns, BENCH_CLIENT, caFile, 0, (line) =>
      client.waiting.shift()?.(JSON.parse(line) as GetResult),
    );
    return client;
  }

  get(ip: string, name: string, path: string): Promise<GetResult> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.process!.send(`get ${ip} ${name} ${path}`);
    });
  }

  async close(): Promise<void> {
    await this.process?.close();
  }
}
