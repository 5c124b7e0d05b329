import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { probeRunsc } from "@wrenn/host-agent";
import { Process } from "@wrenn/proto/process";

/**
 * The floor for sandbox start: a bare `runsc run` / `runsc restore` of the same template root
 * filesystem into a network namespace set up with plain `ip` commands, timed until envd's
 * first /health. Uses none of Wrenn's code, so the ratio shows what our layers cost.
 */
// The agent's runsc (WRENN_RUNSC) with the agent's global flags (platform, overlay, directfs),
// so the floor runs the same gVisor as the figure beside it.
const RUNSC = process.env.WRENN_RUNSC || "runsc";
const FLAGS = (await probeRunsc(RUNSC)).flags;

const CAPS = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_KILL",
];

export class RawRunsc {
  readonly root: string;
  readonly ip: string;
  readonly netns: string;
  private readonly hostIf: string;
  private readonly hostIp: string;

  constructor(
    readonly n: number,
    readonly base: string,
    readonly templateRootfs: string,
  ) {
    this.root = `${base}/raw-${n}`;
    this.netns = `wbraw${n}`;
    this.hostIf = `wbr${n}`;
    this.hostIp = `10.239.${n >> 6}.${(n & 63) * 4 + 1}`;
    this.ip = `10.239.${n >> 6}.${(n & 63) * 4 + 2}`;
  }

  private sh(cmd: string, ...args: string[]): void {
    execFileSync(cmd, args, { stdio: "pipe" });
  }

  /** Network namespace, veth, overlay root and bundle: everything but the sandbox itself. */
  prepare(): void {
    this.cleanup();
    this.sh("ip", "netns", "add", this.netns);
    this.sh(
      "ip",
      "link",
      "add",
      this.hostIf,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      this.netns,
    );
    this.sh("ip", "addr", "add", `${this.hostIp}/30`, "dev", this.hostIf);
    this.sh("ip", "link", "set", this.hostIf, "up");
    this.readdress();
    for (const d of ["upper", "work", "rootfs", "bundle", "state"])
      mkdirSync(`${this.root}/${d}`, { recursive: true });
    this.sh(
      "mount",
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${this.templateRootfs},upperdir=${this.root}/upper,workdir=${this.root}/work`,
      `${this.root}/rootfs`,
    );
    writeFileSync(
      `${this.root}/bundle/config.json`,
      JSON.stringify({
        ociVersion: "1.0.0",
        process: {
          user: { uid: 0, gid: 0 },
          args: ["/usr/bin/tini", "--", "/usr/bin/node", "/opt/wrenn/envd.mjs"],
          env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"],
          cwd: "/",
          // envd switches users for the processes it starts.
          capabilities: Object.fromEntries(
            ["bounding", "effective", "permitted", "inheritable"].map((k) => [k, CAPS]),
          ),
        },
        root: { path: `${this.root}/rootfs`, readonly: false },
        hostname: "sandbox",
        mounts: [
          { destination: "/proc", type: "proc", source: "proc" },
          { destination: "/dev", type: "tmpfs", source: "tmpfs" },
        ],
        linux: {
          namespaces: [
            { type: "pid" },
            { type: "ipc" },
            { type: "uts" },
            { type: "mount" },
            { type: "network", path: `/var/run/netns/${this.netns}` },
          ],
        },
      }),
    );
  }

  /** runsc drops eth0's address when it takes the interface; a restore needs it back. */
  readdress(): void {
    this.sh("ip", "-n", this.netns, "addr", "replace", `${this.ip}/30`, "dev", "eth0");
    this.sh("ip", "-n", this.netns, "link", "set", "eth0", "up");
    this.sh("ip", "-n", this.netns, "link", "set", "lo", "up");
    this.sh("ip", "-n", this.netns, "route", "replace", "default", "via", this.hostIp);
  }

  private runsc(args: string[]): Promise<void> {
    // The work-around for runsc on kernels >= 6 (see the runtime notes).
    const script = `nsenter --net=/var/run/netns/${this.netns} mount -t tmpfs -o size=4k,mode=555 fix /proc/sys/net/core && exec "$@"`;
    const log = openSync(`${this.root}/runsc.log`, "a");
    const child = spawn(
      "unshare",
      [
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "runsc",
        RUNSC,
        "--root",
        `${this.root}/state`,
        ...FLAGS,
        ...args,
      ],
      { stdio: ["ignore", log, log] },
    );
    return new Promise((resolve, reject) =>
      child.on("exit", (code) =>
        code === 0 ? resolve() : reject(new Error(`runsc ${args[0]} exited ${code}`)),
      ),
    );
  }

  /** ms from `runsc run` to envd's first 204 on /health. */
  async run(): Promise<number> {
    const t0 = performance.now();
    await this.runsc(["run", "--detach", "--bundle", `${this.root}/bundle`, this.id]);
    await waitHealth(this.ip);
    return performance.now() - t0;
  }

  /** ms from `runsc restore` (plus the SIGUSR2 that makes envd listen) to /health. */
  async restore(image: string): Promise<number> {
    const t0 = performance.now();
    await this.runsc([
      "restore",
      "--image-path",
      image,
      "--bundle",
      `${this.root}/bundle`,
      "--detach",
      this.id,
    ]);
    execFileSync(RUNSC, ["--root", `${this.root}/state`, "kill", this.id, "USR2"]);
    await waitHealth(this.ip);
    return performance.now() - t0;
  }

  async checkpoint(image: string): Promise<void> {
    await post(this.ip, "/_wrenn/quiesce");
    mkdirSync(image, { recursive: true });
    execFileSync(
      RUNSC,
      ["--root", `${this.root}/state`, "checkpoint", "--image-path", image, this.id],
      { stdio: "pipe" },
    );
    execFileSync(RUNSC, ["--root", `${this.root}/state`, "delete", "--force", this.id], {
      stdio: "pipe",
    });
    this.readdress();
  }

  get id(): string {
    // Fixed width (runsc resolves ids by prefix) and per process (leftovers of another run).
    return `raw${String(process.pid).padStart(7, "0")}${String(this.n).padStart(5, "0")}`;
  }

  stop(): void {
    try {
      execFileSync(RUNSC, ["--root", `${this.root}/state`, "kill", this.id, "KILL"], {
        stdio: "pipe",
      });
    } catch {}
    try {
      execFileSync(RUNSC, ["--root", `${this.root}/state`, "delete", "--force", this.id], {
        stdio: "pipe",
      });
    } catch {}
  }

  cleanup(): void {
    this.stop();
    try {
      this.sh("umount", `${this.root}/rootfs`);
    } catch {
      // A gofer still exiting holds it: detach it now, the kernel frees it when released.
      try {
        this.sh("umount", "-l", `${this.root}/rootfs`);
      } catch {}
    }
    try {
      this.sh("ip", "netns", "del", this.netns);
    } catch {}
    try {
      this.sh("ip", "link", "del", this.hostIf);
    } catch {}
    rmSync(this.root, { recursive: true, force: true });
  }
}

/**
 * Runs a benchmark with a scratch directory for raw sandboxes and the template's root
 * filesystem, and removes the directory afterwards (saying so if something still holds it).
 */
export async function withRawScratch(
  templatesDir: string,
  main: (scratch: string, rootfs: string) => Promise<void>,
): Promise<void> {
  const scratch = mkdtempSync(`${os.tmpdir()}/wrenn-bench-`);
  try {
    await main(scratch, realpathSync(`${templatesDir}/base/current/rootfs`));
  } finally {
    try {
      rmSync(scratch, { recursive: true, force: true });
    } catch (err) {
      console.error(`could not remove ${scratch}: ${(err as Error).message}`);
    }
  }
}

export async function waitHealth(ip: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const agent = new http.Agent({ keepAlive: true });
  try {
    while (Date.now() < deadline) {
      const status = await new Promise<number>((resolve) => {
        const req = http.get(
          { host: ip, port: 49983, path: "/health", agent, timeout: 1000 },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on("error", () => resolve(0));
        req.on("timeout", () => req.destroy());
      });
      if (status === 204) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`envd at ${ip} never answered /health`);
  } finally {
    agent.destroy();
  }
}

function post(ip: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let socket: import("node:net").Socket | undefined;
    const req = http.request(
      {
        host: ip,
        port: 49983,
        path,
        method: "POST",
        agent: new http.Agent({ keepAlive: true }),
        headers: { "content-length": 0 },
      },
      (res) => {
        res.resume();
        res.on("end", () => {
          socket?.destroy();
          resolve();
        });
      },
    );
    req.on("socket", (s) => {
      socket = s;
    });
    req.on("error", reject);
    req.end();
  });
}

/** Runs a bash command through the bare sandbox's envd and waits for it to end. */
export async function runInRaw(ip: string, command: string): Promise<void> {
  const proc = createClient(
    Process,
    createConnectTransport({ baseUrl: `http://${ip}:49983`, httpVersion: "1.1" }),
  );
  for await (const _ of proc.start({
    process: { cmd: "/bin/bash", args: ["-c", command] },
    stdin: false,
  })) {
    // Drain until the command ends.
  }
}
