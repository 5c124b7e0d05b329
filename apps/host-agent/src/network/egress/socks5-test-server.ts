import { type Listener, startServer } from "../network-test-kit.js";

/**
 * Test support, not used by the agent: a minimal SOCKS5 server (RFC 1928 CONNECT, RFC 1929
 * user/password) run in a stand-in internet namespace. It prints one JSON line per thing it
 * was asked ({auth: user, ok} and {connect: host, atyp, port}), and connects out from its own
 * listening address, so a destination sees the proxy's address, never the host's. Names are
 * resolved from its own table (`names`), as a remote proxy would with its own DNS.
 */
const SOCKS5_SERVER = `
const [host, port, json, user, pass] = process.argv.slice(1);
const names = JSON.parse(json);
const net = require("net");
const say = (o) => process.stdout.write(JSON.stringify(o) + "\\n");
net.createServer((c) => {
  c.on("error", () => {});
  let buf = Buffer.alloc(0);
  let stage = "greeting";
  const need = (n) => buf.length >= n;
  const take = (n) => { const b = buf.subarray(0, n); buf = buf.subarray(n); return b; };
  const step = () => {
    if (stage === "greeting") {
      if (!need(2) || !need(2 + buf[1])) return;
      const methods = [...take(2 + buf[1]).subarray(2)];
      const m = user ? 2 : 0;
      if (!methods.includes(m)) { c.end(Buffer.from([5, 0xff])); stage = "done"; return; }
      c.write(Buffer.from([5, m]));
      stage = user ? "auth" : "request";
    } else if (stage === "auth") {
      if (!need(2) || !need(3 + buf[1]) || !need(3 + buf[1] + buf[2 + buf[1]])) return;
      const ulen = buf[1];
      const u = buf.subarray(2, 2 + ulen).toString();
      const p = buf.subarray(3 + ulen, 3 + ulen + buf[2 + ulen]).toString();
      take(3 + ulen + buf[2 + ulen]);
      const ok = u === user && p === pass;
      say({ auth: u, ok });
      if (!ok) { c.end(Buffer.from([1, 1])); stage = "done"; return; }
      c.write(Buffer.from([1, 0]));
      stage = "request";
    } else if (stage === "request") {
      if (!need(5)) return;
      const atyp = buf[3];
      const len = atyp === 1 ? 4 : atyp === 3 ? 1 + buf[4] : -1;
      if (len < 0) { c.destroy(); return; }
      if (!need(4 + len + 2)) return;
      const r = take(4 + len + 2);
      const target = atyp === 1 ? [...r.subarray(4, 8)].join(".") : r.subarray(5, 5 + r[4]).toString();
      const tport = r.readUInt16BE(4 + len);
      say({ connect: target, atyp, port: tport });
      stage = "done";
      const up = net.connect({ host: names[target] ?? target, port: tport, localAddress: host });
      up.on("connect", () => {
        c.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
        if (buf.length) up.write(buf);
        c.pipe(up); up.pipe(c);
      });
      up.on("error", () => { c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])); });
      c.on("close", () => up.destroy());
      return;
    }
    if (stage !== "done") step();
  };
  c.on("data", (d) => { if (stage === "done") return; buf = Buffer.concat([buf, d]); step(); });
}).listen(Number(port), host, () => process.stdout.write("ready\\n"));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
`;

export interface SocksRequest {
  readonly auth?: string;
  readonly ok?: boolean;
  readonly connect?: string;
  readonly atyp?: number;
  readonly port?: number;
}

export interface Socks5TestServer extends Listener {
  /** Everything it was asked, in order. */
  readonly asked: SocksRequest[];
}

/** Starts the server on host:port in `netns`; with `credentials`, only those are accepted. */
export async function socks5ServerIn(
  netns: string,
  host: string,
  port: number,
  names: Record<string, string>,
  credentials?: { username: string; password: string },
): Promise<Socks5TestServer> {
  const asked: SocksRequest[] = [];
  const more = [
    JSON.stringify(names),
    ...(credentials ? [credentials.username, credentials.password] : []),
  ];
  const l = await startServer(
    netns,
    SOCKS5_SERVER,
    host,
    port,
    (line) => asked.push(JSON.parse(line) as SocksRequest),
    more,
  );
  return { ...l, asked };
}
