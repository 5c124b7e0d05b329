import { type ChildProcess, execFileSync, spawn } from "node:child_process";

// A minimal DNS server for the fake internet: every A question is answered with the server's
// own address, anything else with an empty NOERROR. Enough for glibc's resolver. One socket
// per address (ADDRS), so a reply leaves from the address that was asked: from a socket on
// 0.0.0.0 it would leave from the route's address, which a resolver (and NAT) rejects.
const DNS_SERVER = `
const dgram = require("dgram");
for (const addr of ADDRS) {
  const s = dgram.createSocket("udp4");
  s.on("message", (q, from) => {
    if (q.length < 17) return;
    let i = 12;
    while (i < q.length && q[i] !== 0) i += q[i] + 1;
    const qtype = q.readUInt16BE(i + 1);
    const question = q.subarray(12, i + 5);
    const header = Buffer.from(q.subarray(0, 12));
    header.writeUInt16BE(0x8180, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
    header.writeUInt32BE(0, 8);
    const answer = qtype === 1 ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...IP.split(".").map(Number)]) : Buffer.alloc(0);
    s.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  s.on("error", () => {});
  s.bind(53, addr);
}
`;

/**
 * A stand-in for the outside world that the test itself creates: a network namespace behind a
 * veth from the host, addressed in 198.18.0.0/15 (reserved for benchmarking, never routed on
 * the internet), with a TCP server that greets with "hi" and a DNS server on port 53 that
 * resolves every name to itself. Nothing leaves this machine.
 *
 * `neighbours`: more addresses the namespace answers on (the same servers), each routed from
 * the host through the fake internet's link by a /32 route, so a test can stand up "a private
 * network around the host" (172.31.x, 100.64.x, 169.254.x) whose traffic can only ever reach
 * this namespace.
 */
export class FakeInternet {
  private server?: ChildProcess;
  readonly serverIp: string;
  private readonly hostIp: string;
  readonly port = 8080;

  /**
   * `subnet`: the third octet of the link's 198.18.<subnet>.0/30, so test files that run at the
   * same time (other worktrees' included) each get their own link.
   */
  constructor(
    private readonly name = "wtest-inet",
    readonly neighbours: readonly string[] = [],
    subnet = 7,
  ) {
    this.serverIp = `198.18.${subnet}.2`;
    this.hostIp = `198.18.${subnet}.1`;
  }

  async start(): Promise<void> {
    this.stop();
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    ip("netns", "add", this.name);
    ip("link", "add", `${this.name}-h`, "type", "veth", "peer", "name", "eth0", "netns", this.name);
    ip("addr", "add", `${this.hostIp}/30`, "dev", `${this.name}-h`);
    ip("link", "set", `${this.name}-h`, "up");
    ip("-n", this.name, "addr", "add", `${this.serverIp}/30`, "dev", "eth0");
    ip("-n", this.name, "link", "set", "eth0", "up");
    ip("-n", this.name, "link", "set", "lo", "up");
    ip("-n", this.name, "route", "add", "default", "via", this.hostIp);
    for (const addr of this.neighbours) {
      ip("-n", this.name, "addr", "add", `${addr}/32`, "dev", "lo");
      ip("route", "replace", `${addr}/32`, "via", this.serverIp, "dev", `${this.name}-h`);
    }
    this.server = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.name,
        process.execPath,
        "-e",
        `const IP = ${JSON.stringify(this.serverIp)};const ADDRS = ${JSON.stringify([this.serverIp, ...this.neighbours])};${DNS_SERVER};require("net").createServer((s) => { s.on("error", () => {}); s.end("hi\\n"); }).listen(${this.port}, "0.0.0.0", () => console.log("up"))`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      this.server?.stdout?.once("data", () => resolve());
      this.server?.once("exit", (code) => reject(new Error(`fake internet server exited ${code}`)));
    });
  }

  stop(): void {
    this.server?.kill("SIGKILL");
    for (const addr of this.neighbours) {
      try {
        execFileSync("ip", ["route", "del", `${addr}/32`, "dev", `${this.name}-h`], {
          stdio: "ignore",
        });
      } catch {
        // Gone with the link.
      }
    }
    try {
      execFileSync("ip", ["netns", "del", this.name], { stdio: "ignore" });
    } catch {
      // Not there.
    }
    try {
      execFileSync("ip", ["link", "del", `${this.name}-h`], { stdio: "ignore" });
    } catch {
      // Gone with the namespace.
    }
  }
}
