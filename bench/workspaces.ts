/**
 * SSH into a workspace: connect time (`ssh … true`) and bulk throughput (64 MiB from the
 * workspace to the laptop) through the ProxyCommand (`wrenn ssh --stdio`, the control plane's
 * port) and through WireGuard (a laptop namespace running wireguard-go), beside the floor: ssh
 * straight into the workspace's address from the host. The same OpenSSH client, key and
 * workspace for all three; a second sshd in the workspace (0.0.0.0:2222) answers the tunnel and
 * the floor (Wrenn's own sshd listens on its loopback only, for the ProxyCommand). When the
 * host cannot reach the workspace's address (the isolation rules), the floor is ssh run inside
 * the workspace to its own loopback, timed there.
 *
 *   npx tsx bench/workspaces.ts   (as root, after npm run build; ROUNDS=10 BIG=3 MIB=64;
 *                                  writes bench/results/workspaces.json)
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { WORKSPACE_TUNNEL } from "@wrenn/contract";
import type { ClientConfig } from "@wrenn/proto/hostd";
import { SshKeys, Workspaces } from "@wrenn/sdk";
import { isolatedEnv, WRENN_MAIN } from "../tests/cli/wrenn-cli.js";
import { Stack } from "../tests/e2e-stack/stack.js";
import { Laptop, run, SMALL, udpRange } from "../tests/workspaces/wg-laptop.js";
import { cleanUp } from "./support/clean-up.js";
import { summary, table, writeResults } from "./support/stats.js";

const ROUNDS = Number(process.env.ROUNDS ?? 10);
const BIG = Number(process.env.BIG ?? 3);
const MIB = Number(process.env.MIB ?? 64);
const FLOOR_PORT = 2222;

/** Runs a program; its wall time (ms), stdout byte count and exit status. */
function timed(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; bytes: number; code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      bytes += d.length;
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
    });
    child.once("error", reject);
    child.once("exit", (code) =>
      resolve({ ms: performance.now() - began, bytes, code: code ?? -1, stderr }),
    );
  });
}

async function main(): Promise<void> {
  const load = [loadavg()[0]!];
  const firstPort = await udpRange();
  const stack = await Stack.start({
    poolSize: 0,
    agentEnv: { WRENN_WG_PORTS: `${firstPort}-${firstPort + 1}` },
  });
  const laptop = new Laptop();
  const dir = await mkdtemp(join(tmpdir(), "wrenn-bench-ws-"));
  try {
    const user = await stack.key({ name: "bench-ws" });
    const opts = { apiKey: user.key, apiUrl: stack.url };
    const env = {
      ...(await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key })),
    } as NodeJS.ProcessEnv;
    const key = join(dir, "id_ed25519");
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    await SshKeys.add(await readFile(`${key}.pub`, "utf8"), opts);
    const created = await Workspaces.create("benchbox", { ...opts, ...SMALL });
    const exec = async (command: string, asRoot = false) => {
      const r = await stack.call("POST", `/v1/sandboxes/${created.sandboxId}/exec`, {
        key: user.key,
        body: { command, ...(asRoot ? { user: "root" } : {}), timeoutSeconds: 300 },
      });
      return r.body as { stdout: string; stderr: string; exitCode: number };
    };
    const common = [
      "-F",
      "/dev/null",
      "-i",
      key,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "LogLevel=ERROR",
    ];
    const viaProxy = [
      ...common,
      "-o",
      `ProxyCommand=${process.execPath} ${WRENN_MAIN} ssh --stdio benchbox`,
      "user@benchbox.wrenn",
    ];
    // The first ProxyCommand connection writes authorized_keys and the host keys.
    const first = await timed("ssh", [...viaProxy, "true"], env);
    if (first.code !== 0) throw new Error(`ssh through the ProxyCommand: ${first.stderr}`);
    const started = await exec(
      `/usr/sbin/sshd -o ListenAddress=0.0.0.0:${FLOOR_PORT} -o PidFile=/run/bench-sshd.pid -o PasswordAuthentication=no -o PermitRootLogin=no -o AllowUsers=user`,
      true,
    );
    if (started.exitCode !== 0) throw new Error(`the bench sshd: ${started.stderr}`);

    // WireGuard: the laptop namespace with the workspace's client config.
    await laptop.start(firstPort);
    await laptop.configure(created.clientConfig as unknown as ClientConfig);
    const viaWg = [...common, "-p", String(FLOOR_PORT), `user@${WORKSPACE_TUNNEL.agentIp}`];
    const inLaptop = (args: string[]) => ["netns", "exec", laptop.netns, "ssh", ...args];
    // The tunnel's first handshake: until then a connection waits or fails.
    for (let i = 0; i < 30; i++) {
      if ((await timed("ip", inLaptop([...viaWg, "true"]), env)).code === 0) break;
    }

    // The floor: the host straight to the workspace's address, when the host may reach it.
    const vmIp = (await Workspaces.get("benchbox", opts)).vmIp;
    const direct = [...common, "-o", "ConnectTimeout=5", "-p", String(FLOOR_PORT), `user@${vmIp}`];
    const probe = await timed("ssh", [...direct, "true"], env);
    const floorKind = probe.code === 0 ? `host → ${vmIp}:${FLOOR_PORT}` : "inside → its loopback";
    if (probe.code !== 0) {
      // The workspace's own client and key, into its own sshd on its loopback.
      await exec(
        `test -f ~/.ssh/bench || ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/bench && cat ~/.ssh/bench.pub >> ~/.ssh/authorized_keys`,
      );
    }
    const insideSsh = `ssh -i ~/.ssh/bench -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p ${FLOOR_PORT} user@127.0.0.1`;
    /** The floor's time (ms) and bytes for one remote command. */
    const floor = async (remote: string) => {
      if (probe.code === 0) return timed("ssh", [...direct, remote], env);
      const r = await exec(
        `a=$(date +%s%N); n=$(${insideSsh} '${remote}' | wc -c); b=$(date +%s%N); echo $(( (b - a) / 1000 )) $n`,
      );
      const [us = "0", n = "0"] = r.stdout.trim().split(" ");
      return { ms: Number(us) / 1000, bytes: Number(n), code: r.exitCode, stderr: r.stderr };
    };

    const routes: [string, (remote: string) => ReturnType<typeof timed>][] = [
      ["ProxyCommand (wrenn ssh --stdio)", (r) => timed("ssh", [...viaProxy, r], env)],
      ["WireGuard (laptop namespace)", (r) => timed("ip", inLaptop([...viaWg, r]), env)],
      [`floor: ${floorKind}`, floor],
    ];
    const connect = new Map<string, number[]>();
    const mibs = new Map<string, number[]>();
    // Interleaved round by round, so load changes fall on all three alike.
    for (let i = 0; i < ROUNDS; i++) {
      for (const [name, go] of routes) {
        const r = await go("true");
        if (r.code !== 0) throw new Error(`${name}: ssh failed: ${r.stderr}`);
        connect.set(name, [...(connect.get(name) ?? []), r.ms]);
      }
    }
    const bulk = `head -c ${MIB * 1024 * 1024} /dev/zero`;
    for (let i = 0; i < BIG; i++) {
      for (const [name, go] of routes) {
        const r = await go(bulk);
        if (r.bytes !== MIB * 1024 * 1024) throw new Error(`${name}: got ${r.bytes} bytes`);
        mibs.set(name, [...(mibs.get(name) ?? []), MIB / (r.ms / 1000)]);
      }
    }
    load.push(loadavg()[0]!);
    const floorName = routes[2]![0];
    const floorConnect = summary(connect.get(floorName)!).p50;
    const floorMib = summary(mibs.get(floorName)!).p50;
    const rows = routes.map(([name]) => {
      const c = summary(connect.get(name)!);
      const m = summary(mibs.get(name)!);
      return {
        route: name,
        "connect p50/p95 ms": `${c.p50.toFixed(0)} / ${c.p95.toFixed(0)}`,
        "connect ÷ floor": (c.p50 / floorConnect).toFixed(2),
        [`${MIB} MiB p50 MiB/s`]: m.p50.toFixed(1),
        "MiB/s ÷ floor": (m.p50 / floorMib).toFixed(2),
      };
    });
    table(rows);
    console.log(`load average ${load.map((l) => l.toFixed(1)).join(" → ")}`);
    writeResults("workspaces", {
      rounds: ROUNDS,
      big: BIG,
      mib: MIB,
      floor: floorKind,
      load,
      connectMs: Object.fromEntries(connect),
      mibPerSecond: Object.fromEntries(mibs),
      rows,
    });
  } finally {
    await cleanUp({
      laptop: () => laptop.remove(),
      // Its close destroys every sandbox, the workspace's too.
      stack: () => stack.close(),
      dir: () => rm(dir, { recursive: true, force: true }),
    });
  }
}

await main();
