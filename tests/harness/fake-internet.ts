import { type ChildProcess, execFileSync, spawn } from "node:child_process";

/**
 * A stand-in for the outside world that the test itself creates: a network namespace behind a
 * veth from the host, addressed in 198.18.0.0/15 (reserved for benchmarking, never routed on
 * the internet), with a TCP server that greets with "hi". Nothing leaves this machine.
 */
export class FakeInternet {
  private server?: ChildProcess;
  readonly serverIp = "198.18.7.2";
  readonly port = 8080;

  constructor(private readonly name = "wtest-inet") {}

  async start(): Promise<void> {
    this.stop();
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: "pipe" });
    ip("netns", "add", this.name);
    ip("link", "add", `${this.name}-h`, "type", "veth", "peer", "name", "eth0", "netns", this.name);
    ip("addr", "add", "198.18.7.1/30", "dev", `${this.name}-h`);
    ip("link", "set", `${this.name}-h`, "up");
    ip("-n", this.name, "addr", "add", `${this.serverIp}/30`, "dev", "eth0");
    ip("-n", this.name, "link", "set", "eth0", "up");
    ip("-n", this.name, "link", "set", "lo", "up");
    ip("-n", this.name, "route", "add", "default", "via", "198.18.7.1");
    this.server = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.name,
        process.execPath,
        "-e",
        `require("net").createServer((s) => s.end("hi\\n")).listen(${this.port}, "0.0.0.0", () => console.log("up"))`,
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
