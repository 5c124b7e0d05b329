import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../command/run-command.js";
import {
  BACKSTOP_TABLE,
  backstopStatements,
  hostRuleAddresses,
  parseLocalRoutes,
} from "./backstop.js";
import { deleteTable, type FirewallConfig, readFirewallState } from "./firewall.js";
import { parseCidr } from "./ipv4.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  createFakeInternet,
  type FakeInternet,
  hasBackstop,
  type Listener,
  listenIn,
  otherHostAddress,
  probeTcp,
  randomPort,
  removeBackstop,
  sandboxId,
  sh,
  type TestNetwork,
  testNetwork,
  waitFor,
} from "./network-test-kit.js";
import { ALWAYS_DENIED_OUT, DENY_ALL, type NetworkPolicy, resolvePolicy } from "./policy.js";

const config: FirewallConfig = {
  table: "wrenn",
  ifPrefix: "wrenn-",
  pool: parseCidr("10.200.0.0/16"),
  alwaysDenyOut: ALWAYS_DENIED_OUT.map(parseCidr),
  egressAllow: [parseCidr("192.168.5.0/24")],
  dnsServers: ["172.31.0.2"],
};
const slot = {
  netnsPath: "/run/netns/x",
  guestIp: "10.200.0.6",
  hostIp: "10.200.0.5",
  policy: DENY_ALL,
};
const proxied: FirewallConfig = {
  ...config,
  proxy: { http: 4001, tls: 4002, dns: 4003, tunnel: 4004 },
};
const out = "add rule netdev wrenn_backstop out";
/** The rules after the deny set: what the policy decides. */
function tail(c: FirewallConfig, policy: NetworkPolicy): string[] {
  const rules = backstopStatements(c, { ...slot, policy }, []);
  const last = rules.findIndex((r) => r.endsWith("240.0.0.0/4 } drop"));
  return rules.slice(last + 1);
}

describe("backstop rules", () => {
  it("lets replies reach the gateway but no connection opening, and drops what deny_out drops", () => {
    const rules = backstopStatements(config, slot, ["203.0.113.7", "198.51.100.0/24"]);
    expect(rules).toEqual([
      "add table netdev wrenn_backstop",
      "delete table netdev wrenn_backstop",
      "add table netdev wrenn_backstop",
      "add set netdev wrenn_backstop host { type ipv4_addr; flags interval; }",
      "add element netdev wrenn_backstop host { 198.51.100.0/24, 203.0.113.7/32 }",
      'add chain netdev wrenn_backstop out { type filter hook egress device "eth0" priority filter; policy accept; }',
      `${out} meta protocol arp accept`,
      `${out} meta protocol != ip drop`,
      `${out} ip saddr != 10.200.0.6 drop`,
      `${out} ip daddr 10.200.0.5 ip frag-off & 0x3fff != 0 drop`,
      `${out} ip daddr 10.200.0.5 tcp flags & (syn | ack) == syn drop`,
      `${out} ip daddr 10.200.0.5 meta l4proto tcp accept`,
      `${out} ip daddr 10.200.0.5 icmp type { echo-reply, destination-unreachable, time-exceeded, parameter-problem } accept`,
      `${out} ip daddr 10.200.0.5 drop`,
      `${out} ip daddr @host drop`,
      // The root table's deny_out, the same rules with `accept` for its `return`.
      `${out} ip daddr { 10.200.0.0/16 } drop`,
      `${out} ip daddr { 172.31.0.2 } udp dport 53 accept`,
      `${out} ip daddr { 172.31.0.2 } tcp dport 53 accept`,
      `${out} ip daddr { 192.168.5.0/24 } accept`,
      `${out} ip daddr { 0.0.0.0/8, 10.0.0.0/8, 100.64.0.0/10, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4, 240.0.0.0/4 } drop`,
      // Deny-all: nothing else leaves, root table or not, but an open connection's next
      // segment reaches the root table's reset.
      `${out} tcp flags & (syn | ack) != syn accept`,
      `${out} drop`,
    ]);
  });

  it("ends as the policy says: only what it lets out passes on to the root table", () => {
    // Internet access: everything on to the root table, which applies denyOut and the NAT.
    expect(tail(config, resolvePolicy({ allowInternet: true, denyOut: ["8.8.8.8"] }))).toEqual([]);
    // Addresses only: those, and nothing else.
    expect(
      tail(
        config,
        resolvePolicy({ allowInternet: false, allowOut: ["198.51.100.0/24", "8.8.8.8"] }),
      ),
    ).toEqual([
      `${out} ip daddr { 8.8.8.8/32, 198.51.100.0/24 } accept`,
      `${out} tcp flags & (syn | ack) != syn accept`,
      `${out} drop`,
    ]);
    // Host names: the root table steers DNS and TCP 80/443 (to any address) to the proxy, so
    // they leave the namespace with their original destination.
    const named = resolvePolicy({ allowInternet: false, allowOut: ["example.com", "8.8.8.8"] });
    expect(tail(proxied, named)).toEqual([
      `${out} ip daddr { 8.8.8.8/32 } accept`,
      `${out} udp dport 53 accept`,
      `${out} tcp dport { 53, 80, 443 } accept`,
      `${out} tcp flags & (syn | ack) != syn accept`,
      `${out} drop`,
    ]);
  });

  it("reads every local destination of the host from its local routing table", () => {
    // Recorded from `ip -j -4 route show table local`, plus an AnyIP route (`ip route add
    // local 198.51.100.0/24 dev lo`) and a route of another type.
    const json = JSON.stringify([
      {
        type: "local",
        dst: "10.224.4.13",
        dev: "wt01-81d719a8",
        protocol: "kernel",
        scope: "host",
        prefsrc: "10.224.4.13",
        flags: [],
      },
      {
        type: "broadcast",
        dst: "10.224.4.15",
        dev: "wt01-81d719a8",
        protocol: "kernel",
        scope: "link",
        prefsrc: "10.224.4.13",
        flags: [],
      },
      {
        type: "local",
        dst: "127.0.0.0/8",
        dev: "lo",
        protocol: "kernel",
        scope: "host",
        prefsrc: "127.0.0.1",
        flags: [],
      },
      {
        type: "local",
        dst: "127.0.0.1",
        dev: "lo",
        protocol: "kernel",
        scope: "host",
        prefsrc: "127.0.0.1",
        flags: [],
      },
      {
        type: "broadcast",
        dst: "127.255.255.255",
        dev: "lo",
        protocol: "kernel",
        scope: "link",
        prefsrc: "127.0.0.1",
        flags: [],
      },
      {
        type: "local",
        dst: "203.0.113.2",
        dev: "eth0",
        protocol: "kernel",
        scope: "host",
        prefsrc: "203.0.113.2",
        flags: [],
      },
      {
        type: "broadcast",
        dst: "203.0.113.255",
        dev: "eth0",
        protocol: "kernel",
        scope: "link",
        prefsrc: "203.0.113.2",
        flags: [],
      },
      { type: "local", dst: "198.51.100.0/24", dev: "lo", scope: "host", flags: [] },
      { type: "unicast", dst: "192.0.2.0/24", dev: "eth0", flags: [] },
    ]);
    const local = parseLocalRoutes(json);
    expect(local).toEqual([
      "10.224.4.13",
      "10.224.4.15",
      "127.0.0.0/8",
      "127.0.0.1",
      "127.255.255.255",
      "203.0.113.2",
      "203.0.113.255",
      "198.51.100.0/24",
    ]);
    // The directed broadcast and the AnyIP range are closed, not only the interface address.
    expect(hostRuleAddresses(config, local)).toEqual([
      "198.51.100.0/24",
      "203.0.113.2",
      "203.0.113.255",
    ]);
  });

  it("lists only the host addresses the deny set would let through", () => {
    const addresses = [
      "10.200.0.1", // a sandbox gateway: in the pool
      "10.1.2.3", // always denied
      "127.0.0.1", // always denied
      "192.168.5.9", // inside the admin's opened range: must be listed
      "172.31.0.2", // a name server on port 53: must be listed
      "203.0.113.7", // public
      "203.0.113.7",
    ];
    expect(hostRuleAddresses(config, addresses)).toEqual([
      "172.31.0.2",
      "192.168.5.9",
      "203.0.113.7",
    ]);
  });
});

// Real namespaces: the "operator's flush" is the deletion of both of this manager's root
// tables (exactly what `nft flush ruleset` does to them; a real flush would also remove every
// other stack's rules on this shared machine). The sandbox side is a plain namespace: its
// processes send through the kernel's stack, and a packet socket (as runsc's netstack does,
// qdisc bypass included) is checked separately. tests/host-agent/isolation.test.ts does the
// same against real runsc sandboxes.
let t: TestNetwork;
let inet: FakeInternet;
let a: SandboxNetwork;
let b: SandboxNetwork;
const servers: (Server | Socket)[] = [];
const listeners: Listener[] = [];
const hostPort = randomPort();
const udpPort = hostPort + 1;
const sandboxPort = hostPort + 2;
const received: string[] = [];
/** Opened by the admin (WRENN_EGRESS_ALLOW_CIDRS), inside the fake internet's namespace. */
const OPENED = "192.168.247.2";

/** Builds one Ethernet/IPv4/UDP frame and sends it on eth0 through an AF_PACKET socket. */
const RAW_SEND = `
import socket, struct, sys
dst, dport, src, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].encode()
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.setsockopt(263, 20, 1)  # SOL_PACKET, PACKET_QDISC_BYPASS: straight to the driver
s.bind(("eth0", 0))
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
udp = struct.pack("!HHHH", 40000, dport, 8 + len(msg), 0) + msg
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
try:
    s.send(b"\\xff" * 6 + mac + b"\\x08\\x00" + ip + udp)
    print("sent")
except OSError as e:
    print("refused", e.errno)  # a drop in the egress hook answers ENOBUFS
`;

async function rawSend(sb: SandboxNetwork, dst: string, port: number, msg: string, src?: string) {
  const args = ["netns", "exec", sb.netns, "/usr/bin/python3", "-c", RAW_SEND];
  const from = src ?? sb.guestIp;
  return (await runCommand("ip", [...args, dst, String(port), from, msg])).trim();
}

const backstopExists = (sb: SandboxNetwork) => hasBackstop(sb.netns);
const deleteBackstop = (sb: SandboxNetwork) => removeBackstop(sb.netns);

beforeAll(async () => {
  t = await testNetwork("b", 247, { egressAllow: ["192.168.247.0/24"] });
  inet = await createFakeInternet("wxb", 47);
  await sh("ip", "route", "replace", `${OPENED}/32`, "via", `198.18.47.2`);
  await sh("ip", "-n", inet.netns, "addr", "add", `${OPENED}/32`, "dev", "lo");
  a = await t.manager.setup(sandboxId(0xba1), { allowInternet: true });
  b = await t.manager.setup(sandboxId(0xbb1));
  const tcp = createServer((c) => c.end(`${c.remoteAddress}\n`));
  servers.push(tcp);
  await new Promise<void>((r) => tcp.listen(hostPort, "0.0.0.0", r));
  const udp = createSocket("udp4");
  servers.push(udp);
  udp.on("message", (m) => received.push(m.toString()));
  await new Promise<void>((r) => udp.bind(udpPort, "0.0.0.0", r));
  listeners.push(await listenIn(a.netns, "0.0.0.0", sandboxPort));
  listeners.push(await listenIn(b.netns, "0.0.0.0", sandboxPort));
  listeners.push(await listenIn(inet.netns, "0.0.0.0", sandboxPort));
});

afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
  for (const s of servers) s.close();
  await sh("ip", "route", "del", `${OPENED}/32`).catch(() => "");
  await inet?.remove();
  await t?.cleanup();
});

describe("backstop in each sandbox's namespace", () => {
  it("is written at setup, and egress still works through it", async () => {
    expect(await backstopExists(a)).toBe(true);
    expect(await backstopExists(b)).toBe(true);
    expect((await probeTcp(a.netns, inet.addresses[0]!, sandboxPort)).outcome).toBe("connected");
    expect((await probeTcp(a.netns, OPENED, sandboxPort)).outcome).toBe("connected");
    expect((await probeTcp(null, a.guestIp, sandboxPort)).outcome).toBe("connected");
  });

  it("keeps sandboxes from the host and each other with both root tables gone", async () => {
    await deleteTable(t.options.table);
    try {
      expect((await readFirewallState(t.options.table)).exists).toBe(false);
      const targets = [
        [a.gateway, hostPort],
        [otherHostAddress(), hostPort],
        [b.hostIp, hostPort],
        [b.guestIp, sandboxPort],
      ] as const;
      const cases = targets.flatMap(([host, port]) =>
        [a, b].filter((sb) => sb.guestIp !== host).map((sb) => ({ sb, host, port })),
      );
      const results = await Promise.all(cases.map((c) => probeTcp(c.sb.netns, c.host, c.port)));
      results.forEach((r, i) => {
        const c = cases[i]!;
        expect(r.outcome, `${c.sb.sandboxId} → ${c.host}:${c.port}`).not.toBe("connected");
      });
      // Nothing a stateless filter could mistake for a reply gets through either: a datagram
      // from a packet socket, the way runsc's netstack sends.
      expect(await rawSend(a, a.gateway, udpPort, "raw-backstop")).toMatch(/^refused/);
      // Nor anything from another address than its own (the root table's reverse-path check
      // is gone with it): a forged source, to a public address.
      expect(await rawSend(a, inet.addresses[0]!, udpPort, "forged", b.guestIp)).toMatch(
        /^refused/,
      );
      // The host's own path into a sandbox (the agent → envd) keeps working: replies pass.
      expect((await probeTcp(null, a.guestIp, sandboxPort)).outcome).toBe("connected");
      expect((await probeTcp(null, b.guestIp, sandboxPort)).outcome).toBe("connected");

      // Control: without the backstop the very same probes get through. This is what a
      // `nft flush ruleset` exposed until the periodic check rebuilt the tables.
      // (b's backstop goes too: it drops b's replies to another sandbox on its own.)
      await Promise.all([deleteBackstop(a), deleteBackstop(b)]);
      expect(await probeTcp(a.netns, a.gateway, hostPort)).toEqual({
        outcome: "connected",
        greeting: a.guestIp,
      });
      expect((await probeTcp(a.netns, b.guestIp, sandboxPort)).outcome).toBe("connected");
      expect(await rawSend(a, a.gateway, udpPort, "raw-open")).toBe("sent");
      await waitFor(() => received.includes("raw-open"));
      expect(received).not.toContain("raw-backstop");
    } finally {
      expect(await t.manager.verifyFirewall()).toBe(false);
    }
  });

  it("comes back for every kept sandbox when the agent starts again (reconcile)", async () => {
    // An agent that died before writing them, or a sandbox adopted without a record.
    await Promise.all([deleteBackstop(a), deleteBackstop(b)]);
    expect(await backstopExists(a)).toBe(false);
    expect(await backstopExists(b)).toBe(false);
    const report = await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    expect(report.kept).toEqual([a.sandboxId, b.sandboxId]);
    expect(await backstopExists(a)).toBe(true);
    expect(await backstopExists(b)).toBe(true);
    await deleteTable(t.options.table);
    try {
      expect((await probeTcp(a.netns, a.gateway, hostPort)).outcome).not.toBe("connected");
    } finally {
      expect(await t.manager.verifyFirewall()).toBe(false);
    }
  });

  it("a namespace that cannot take it does not stop the agent from starting", async () => {
    const broken = await t.manager.setup(sandboxId(0xbc1));
    // What an interrupted `ip netns add` can leave: the name's file, without a namespace.
    await sh("umount", broken.netnsPath);
    await Promise.all([deleteBackstop(a), deleteBackstop(b)]);
    try {
      const report = await t.manager.reconcile([a.sandboxId, b.sandboxId, broken.sandboxId]);
      expect(report.kept).toEqual([a.sandboxId, b.sandboxId, broken.sandboxId]);
      // The others got theirs all the same.
      expect(await backstopExists(a)).toBe(true);
      expect(await backstopExists(b)).toBe(true);
      // The periodic check retries the one that failed (only it: a's, removed by hand
      // meanwhile, is not written again, as nothing changed for it), and that failing again
      // does not replace the check's own answer with an error.
      await deleteBackstop(a);
      expect(await t.manager.verifyFirewall()).toBe(true);
      expect(await backstopExists(a)).toBe(false);
    } finally {
      await t.manager.teardown(broken.sandboxId);
      await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    }
  });

  it("follows the host's addresses: a new one is closed within one verification", async () => {
    // A public-looking address appearing on the host (a new lease, an interface coming up),
    // put on this test's own veth so its traffic stays here.
    const added = "198.19.47.99";
    await sh("ip", "addr", "add", `${added}/32`, "dev", b.hostIf);
    try {
      await t.manager.verifyFirewall();
      await deleteTable(t.options.table);
      try {
        expect((await probeTcp(a.netns, added, hostPort)).outcome).not.toBe("connected");
        // Control: with the root tables gone, only the backstop's host set stands in the way.
        await deleteBackstop(a);
        expect((await probeTcp(a.netns, added, hostPort)).outcome).toBe("connected");
      } finally {
        expect(await t.manager.verifyFirewall()).toBe(false);
        await t.manager.reconcile([a.sandboxId, b.sandboxId]);
      }
    } finally {
      await sh("ip", "addr", "del", `${added}/32`, "dev", b.hostIf);
    }
  });

  it("follows the policy: with the root tables gone only what it lets out leaves", async () => {
    // A way back from the fake internet without the root table's masquerade: as on a network
    // that routes the pool back to the host (and for one-way traffic, such as UDP, any network).
    await sh("ip", "-n", inet.netns, "route", "replace", "default", "via", inet.hostSide);
    const [denied, allowed] = [inet.addresses[0]!, inet.addresses[1]!];
    try {
      // A narrowing update (a keeps some egress, so forwarding stays on).
      await t.manager.setPolicy(a.sandboxId, { allowInternet: false, allowOut: [allowed] });
      await deleteTable(t.options.table);
      try {
        expect((await probeTcp(a.netns, denied, sandboxPort)).outcome).not.toBe("connected");
        expect((await probeTcp(a.netns, allowed, sandboxPort)).outcome).toBe("connected");
        // Deny-all since its setup.
        expect((await probeTcp(b.netns, denied, sandboxPort)).outcome).not.toBe("connected");
        // Control: without its backstop the deny-all sandbox gets out.
        await deleteBackstop(b);
        expect((await probeTcp(b.netns, denied, sandboxPort)).outcome).toBe("connected");
      } finally {
        expect(await t.manager.verifyFirewall()).toBe(false);
      }
      // Widening again reaches the backstop too.
      await t.manager.setPolicy(a.sandboxId, { allowInternet: true });
      expect((await probeTcp(a.netns, denied, sandboxPort)).outcome).toBe("connected");
    } finally {
      await sh("ip", "-n", inet.netns, "route", "del", "default").catch(() => "");
      await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    }
  });

  it("puts nothing in the root namespace (the kernel support probe only checks)", async () => {
    expect(await sh("nft", "list", "tables")).not.toContain(BACKSTOP_TABLE);
  });
});
