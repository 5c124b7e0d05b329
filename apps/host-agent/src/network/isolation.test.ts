import { createSocket } from "node:dgram";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deleteTable, readFirewallState } from "./firewall.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  type Listener,
  listenIn,
  newManager,
  otherHostAddress,
  probeTcp,
  randomPort,
  removeBackstop,
  sandboxId,
  sendUdp,
  sh,
  type TestNetwork,
  testNetwork,
  waitFor,
} from "./network-test-kit.js";

let t: TestNetwork;
let a: SandboxNetwork;
let b: SandboxNetwork;
const hostServers: Server[] = [];
const listeners: Listener[] = [];
const hostPort = randomPort();
const loopbackPort = hostPort + 1;
const sandboxPort = hostPort + 2;

function hostListen(host: string, port: number): Promise<void> {
  const srv = createServer((c) => c.end(`${c.remoteAddress}\n`));
  hostServers.push(srv);
  return new Promise((resolve) => srv.listen(port, host, resolve));
}

beforeAll(async () => {
  t = await testNetwork("i", 242);
  a = await t.manager.setup(sandboxId(0xa1));
  // b has internet access, which switches IPv4 forwarding on: the sandbox ↔ sandbox checks
  // below must hold because of the rules, not because the host refuses to route.
  b = await t.manager.setup(sandboxId(0xb1), { allowInternet: true });
  await hostListen("0.0.0.0", hostPort);
  await hostListen("127.0.0.1", loopbackPort);
  listeners.push(await listenIn(a.netns, "0.0.0.0", sandboxPort));
  listeners.push(await listenIn(b.netns, "0.0.0.0", sandboxPort));
});

afterAll(async () => {
  await Promise.all(listeners.map((l) => l.close()));
  for (const s of hostServers) s.close();
  await t?.cleanup();
});

describe("isolation", () => {
  it("lays the network out as the runtime expects", async () => {
    const inside = await sh("ip", "-n", a.netns, "-4", "-o", "addr", "show", "dev", "eth0");
    expect(inside).toContain(`${a.guestIp}/30`);
    const route = await sh("ip", "-n", a.netns, "route", "show", "default");
    expect(route).toContain(`default via ${a.gateway} dev eth0`);
    expect(await sh("ip", "-n", a.netns, "-o", "link", "show", "lo")).toContain("UP");
    expect(await sh("ip", "-4", "-o", "addr", "show", "dev", a.hostIf)).toContain(`${a.hostIp}/30`);
    // No IPv6 address on the host side for a sandbox to talk to.
    expect((await sh("ip", "-6", "-o", "addr", "show", "dev", a.hostIf)).trim()).toBe("");
  });

  it("lets the host reach a listener inside the sandbox (the agent → envd path)", async () => {
    const r = await probeTcp(null, a.guestIp, sandboxPort);
    expect(r).toEqual({ outcome: "connected", greeting: a.hostIp });
  });

  it("keeps a sandbox from the host: 0.0.0.0 listeners on any host address, 127.0.0.1", async () => {
    const cases = [a, b].flatMap((sb) =>
      (
        [
          [sb.gateway, hostPort],
          [otherHostAddress(), hostPort],
          [sb === a ? b.hostIp : a.hostIp, hostPort],
          ["127.0.0.1", loopbackPort],
        ] as const
      ).map(([host, port]) => ({ sb, host, port })),
    );
    const results = await Promise.all(cases.map((c) => probeTcp(c.sb.netns, c.host, c.port)));
    results.forEach((r, i) => {
      const c = cases[i]!;
      expect(r.outcome, `${c.sb.sandboxId} → ${c.host}:${c.port}`).not.toBe("connected");
    });
  });

  it("drops IPv6 from a sandbox, even to a host address on its own link", async () => {
    // The host side gets no IPv6 address from us; a daemon adding one must not open a path.
    const port = sandboxPort + 11;
    await sh("ip", "addr", "add", "fe80::1/64", "dev", a.hostIf, "nodad");
    await hostListen("::", port);
    try {
      const r = await probeTcp(a.netns, "fe80::1%eth0", port);
      expect(r.outcome).not.toBe("connected");
      // Without the root tables the backstop in a's namespace still drops it.
      await deleteTable(t.options.table);
      expect((await probeTcp(a.netns, "fe80::1%eth0", port)).outcome).not.toBe("connected");
      // Control: without our tables and the backstop the same probe connects.
      await removeBackstop(a.netns);
      const open = await probeTcp(a.netns, "fe80::1%eth0", port);
      expect(await t.manager.verifyFirewall()).toBe(false);
      await t.manager.reconcile([a.sandboxId, b.sandboxId]);
      expect(open.outcome).toBe("connected");
    } finally {
      await sh("ip", "addr", "del", "fe80::1/64", "dev", a.hostIf);
    }
  });

  it("honours the MTU option on both ends", async () => {
    const m = newManager(t, { mtu: 1400 });
    const net = await m.setup(sandboxId(0xc1));
    try {
      expect(await sh("ip", "-o", "link", "show", net.hostIf)).toContain("mtu 1400");
      expect(await sh("ip", "-n", net.netns, "-o", "link", "show", "eth0")).toContain("mtu 1400");
    } finally {
      await m.teardown(net.sandboxId);
    }
  });

  it("keeps sandboxes from each other", async () => {
    const [ab, ba] = await Promise.all([
      probeTcp(a.netns, b.guestIp, sandboxPort),
      probeTcp(b.netns, a.guestIp, sandboxPort),
    ]);
    expect(ab.outcome).not.toBe("connected");
    expect(ba.outcome).not.toBe("connected");
  });

  it("drops traffic a sandbox sends from another sandbox's address", async () => {
    // The host talks UDP with b, so conntrack holds b's flow; replies to it count as
    // "established" and pass the input chain. a forging b's address must not get in that way.
    const sock = createSocket("udp4");
    const received: string[] = [];
    sock.on("message", (m) => received.push(m.toString()));
    await new Promise<void>((resolve) => sock.bind(0, b.hostIp, resolve));
    const hostUdpPort = sock.address().port;
    const flowPort = sandboxPort + 7;
    // The root table's own check: the backstops (which drop both the forged source and UDP to
    // the gateway on their own, see backstop.test.ts) are out of the way until reconcile.
    await removeBackstop(a.netns, b.netns);
    try {
      await new Promise<void>((resolve, reject) =>
        sock.send("hello", flowPort, b.guestIp, (err) => (err ? reject(err) : resolve())),
      );
      // Control: b's genuine reply on the flow reaches the host.
      await sendUdp(b.netns, b.guestIp, flowPort, b.hostIp, hostUdpPort, "genuine");
      await waitFor(() => received.includes("genuine"));
      await sh("ip", "-n", a.netns, "addr", "add", `${b.guestIp}/32`, "dev", "eth0");
      try {
        await sendUdp(a.netns, b.guestIp, flowPort, b.hostIp, hostUdpPort, "forged");
        // Give a forged datagram more than ample time to arrive before concluding it did not.
        await new Promise((r) => setTimeout(r, 500));
        expect(received).not.toContain("forged");
      } finally {
        await sh("ip", "-n", a.netns, "addr", "del", `${b.guestIp}/32`, "dev", "eth0");
      }
    } finally {
      sock.close();
      await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    }
  });

  it("blocks because of the rules (control: without the tables and backstops the same probes connect)", async () => {
    await deleteTable(t.options.table);
    await removeBackstop(a.netns, b.netns);
    try {
      const toHost = await probeTcp(a.netns, a.gateway, hostPort);
      expect(toHost).toEqual({ outcome: "connected", greeting: a.guestIp });
      const toOther = await probeTcp(a.netns, b.guestIp, sandboxPort);
      expect(toOther.outcome).toBe("connected");
    } finally {
      // Noticed and repaired by the periodic check; the backstops come back with reconcile.
      expect(await t.manager.verifyFirewall()).toBe(false);
      await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    }
    expect((await probeTcp(a.netns, a.gateway, hostPort)).outcome).not.toBe("connected");
    expect((await probeTcp(a.netns, b.guestIp, sandboxPort)).outcome).not.toBe("connected");
    expect((await probeTcp(null, a.guestIp, sandboxPort)).outcome).toBe("connected");
  });

  it("fails closed: with either table deleted, the other alone keeps every sandbox in", async () => {
    for (const table of [t.options.table, `${t.options.table}_guard`]) {
      await sh("nft", "delete", "table", "inet", table);
      try {
        const probes = await Promise.all([
          probeTcp(a.netns, a.gateway, hostPort),
          probeTcp(b.netns, b.gateway, hostPort),
          probeTcp(b.netns, otherHostAddress(), hostPort),
          probeTcp(a.netns, b.guestIp, sandboxPort),
          probeTcp(b.netns, a.guestIp, sandboxPort),
        ]);
        for (const r of probes) expect(r.outcome, table).not.toBe("connected");
        // The host's own path into the sandbox still works.
        expect((await probeTcp(null, a.guestIp, sandboxPort)).outcome).toBe("connected");
      } finally {
        expect(await t.manager.verifyFirewall()).toBe(false);
      }
    }
  });

  it("keeps both tables at a clean stop while a sandbox still has a network", async () => {
    expect(await t.manager.closeIfUnused()).toBe(false);
    expect((await readFirewallState(t.options.table)).exists).toBe(true);
    expect((await readFirewallState(`${t.options.table}_guard`)).exists).toBe(true);
  });

  it("verifyFirewall repairs hand edits and leaves an intact table alone", async () => {
    const table = `inet ${t.options.table}`;
    expect(await t.manager.verifyFirewall()).toBe(true);
    const intact = await readFirewallState(t.options.table);
    expect(intact.egress).toEqual([b.hostIf]);

    await sh("nft", "flush", "chain", ...table.split(" "), "input");
    expect(await t.manager.verifyFirewall()).toBe(false);
    expect(await readFirewallState(t.options.table)).toEqual(intact);

    await sh("nft", "delete", "element", ...table.split(" "), "egress", `{ "${b.hostIf}" }`);
    expect(await t.manager.verifyFirewall()).toBe(false);
    expect(await readFirewallState(t.options.table)).toEqual(intact);

    // Reconcile rebuilds too, from the allocations it keeps.
    const report = await t.manager.reconcile([a.sandboxId, b.sandboxId]);
    expect(report.kept).toEqual([a.sandboxId, b.sandboxId]);
    expect(await readFirewallState(t.options.table)).toEqual(intact);
    expect(await t.manager.verifyFirewall()).toBe(true);
  });
});
