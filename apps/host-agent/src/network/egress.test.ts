import { readdir, readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { leaseStandIn, standInAddresses } from "./egress-test-kit.js";
import type { SandboxNetwork } from "./network-manager.js";
import {
  createFakeInternet,
  echoServerIn,
  type FakeInternet,
  holdConnection,
  type Listener,
  listenIn,
  otherHostAddress,
  probeTcp,
  randomPort,
  sandboxId,
  sendUdp,
  sh,
  type TestNetwork,
  testNetwork,
  udpListenIn,
  waitFor,
} from "./network-test-kit.js";

const FORWARDING_DIR = "/run/wrenn/ip-forward";
/** Names, pool and stand-in subnet of this run (unique on the machine). */
const STAND = leaseStandIn("e");
const S = STAND.subnet;
/** The stand-in internet's address on its link, and its two addresses behind it. */
const { dns: LINK, first: A, second: B } = standInAddresses(S);
const METADATA = "169.254.169.254";

let t: TestNetwork;
let inet: FakeInternet;
let listener: Listener;
let hostServer: Server;
const port = randomPort();
const hostPort = port + 1;
let forwardingBefore: string;

const reach = async (sb: SandboxNetwork, host: string, p = port) =>
  (await probeTcp(sb.netns, host, p)).outcome;

beforeAll(async () => {
  forwardingBefore = (await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim();
  t = await testNetwork(STAND.tag, STAND.pool);
  inet = await createFakeInternet(STAND.inetName, S);
  // The cloud metadata address, but inside the fake internet, so a broken rule cannot send
  // anything off this machine.
  await sh("ip", "-n", inet.netns, "addr", "add", `${METADATA}/32`, "dev", "lo");
  await sh("ip", "route", "replace", `${METADATA}/32`, "via", LINK);
  listener = await listenIn(inet.netns, "0.0.0.0", port);
  hostServer = createServer((c) => c.end("host\n"));
  await new Promise<void>((r) => hostServer.listen(hostPort, "0.0.0.0", r));
});

afterAll(async () => {
  await listener?.close();
  hostServer?.close();
  await sh("ip", "route", "del", `${METADATA}/32`).catch(() => {});
  await inet?.remove();
  await t?.cleanup();
  STAND.release();
});

describe("egress", () => {
  it("the fake internet answers the host, from the host's address on the link", async () => {
    for (const addr of [...inet.addresses, METADATA]) {
      expect(await probeTcp(null, addr, port)).toEqual({
        outcome: "connected",
        greeting: inet.hostSide,
      });
    }
  });

  it("is closed without internet access, open (masqueraded) with it", async () => {
    const closed = await t.manager.setup(sandboxId(0xe0));
    const open = await t.manager.setup(sandboxId(0xe1), { allowInternet: true });
    for (const addr of inet.addresses) {
      expect(await reach(closed, addr)).not.toBe("connected");
      // The fake internet has no route to the pool: only a masqueraded connection gets an answer.
      expect(await probeTcp(open.netns, addr, port)).toEqual({
        outcome: "connected",
        greeting: inet.hostSide,
      });
    }
  });

  it("with internet, still never the host, other sandboxes, or link-local metadata", async () => {
    const open = (await t.manager.get(sandboxId(0xe1)))!;
    const closed = (await t.manager.get(sandboxId(0xe0)))!;
    const other = await listenIn(closed.netns, "0.0.0.0", port);
    try {
      const results = await Promise.all([
        reach(open, open.gateway, hostPort),
        reach(open, closed.hostIp, hostPort),
        reach(open, otherHostAddress(), hostPort),
        reach(open, closed.guestIp),
        reach(open, METADATA),
      ]);
      for (const r of results) expect(r).not.toBe("connected");
      // Control: the host reaches the other sandbox's listener, so the path exists.
      expect((await probeTcp(null, closed.guestIp, port)).outcome).toBe("connected");
    } finally {
      await other.close();
    }
  });

  it("allow_out wins over deny_out: E2B's recipe (deny everything, allow one address)", async () => {
    const sb = await t.manager.setup(sandboxId(0xe2), {
      allowInternet: true,
      allowOut: [A],
      denyOut: ["0.0.0.0/0"],
    });
    expect(await reach(sb, A)).toBe("connected");
    expect(await reach(sb, LINK)).not.toBe("connected");
    expect(await reach(sb, B)).not.toBe("connected");
  });

  it("with internet, denyOut closes its ranges and allowOut reopens inside them", async () => {
    const sb = await t.manager.setup(sandboxId(0xe3), {
      allowInternet: true,
      allowOut: [`${A}/32`],
      // LINK and A (.4/31 holds .4 and .5), not B (.6).
      denyOut: ["198.18.0.0/16", `198.19.${S}.4/31`],
    });
    expect(await reach(sb, B)).toBe("connected");
    expect(await reach(sb, A)).toBe("connected");
    expect(await reach(sb, LINK)).not.toBe("connected");
  });

  it("without internet access only allowOut is reachable, and denyOut cannot close it", async () => {
    const sb = await t.manager.setup(sandboxId(0xe5), {
      allowInternet: false,
      // B (.6/31 holds .6 and .7), not A (.5).
      allowOut: [`198.19.${S}.6/31`],
      denyOut: [B],
    });
    expect(await reach(sb, B)).toBe("connected");
    expect(await reach(sb, LINK)).not.toBe("connected");
    expect(await reach(sb, A)).not.toBe("connected");
  });

  it("allow_out cannot open the host, the pool or metadata", async () => {
    const sb = await t.manager.setup(sandboxId(0xe4), {
      allowInternet: true,
      allowOut: ["0.0.0.0/0"],
    });
    const closed = (await t.manager.get(sandboxId(0xe0)))!;
    const other = await listenIn(closed.netns, "0.0.0.0", port);
    try {
      expect(await reach(sb, LINK)).toBe("connected");
      expect(await reach(sb, sb.gateway, hostPort)).not.toBe("connected");
      expect(await reach(sb, closed.guestIp)).not.toBe("connected");
      expect(await reach(sb, METADATA)).not.toBe("connected");
    } finally {
      await other.close();
    }
  });

  it("setPolicy switches egress on and off in place", async () => {
    const id = sandboxId(0xe0);
    const sb = (await t.manager.get(id))!;
    await t.manager.setPolicy(id, { allowInternet: true });
    expect(await reach(sb, LINK)).toBe("connected");
    await t.manager.setPolicy(id, { allowInternet: false });
    expect(await reach(sb, LINK)).not.toBe("connected");
  });

  it("a policy update cuts the open connections it forbids and keeps the others", async () => {
    const id = sandboxId(0xe6);
    const sb = await t.manager.setup(id, { allowInternet: true });
    const echoPort = port + 4;
    const echo = await echoServerIn(inet.netns, "0.0.0.0", echoPort);
    const kept = await holdConnection(sb.netns, B, echoPort);
    const doomed = await holdConnection(sb.netns, A, echoPort);
    try {
      await waitFor(() => kept.received.includes("echo") && doomed.received.includes("echo"));
      await t.manager.setPolicy(id, { allowInternet: false, allowOut: [B] });
      // Cut, not left hanging: the sandbox's side ends with a reset.
      await waitFor(() => doomed.received.some((l) => l.startsWith("closed")), 15_000);
      expect(doomed.received.find((l) => l.startsWith("closed"))).toBe("closed ECONNRESET");
      // The allowed connection still carries traffic after the update.
      const before = kept.received.length;
      await waitFor(() => kept.received.length > before + 3, 15_000);
      expect(kept.received.some((l) => l.startsWith("closed"))).toBe(false);
      // And a new connection to the now-forbidden address fails: its SYN is dropped in the
      // sandbox's namespace (the backstop follows the policy; netdev egress cannot reject).
      expect(await reach(sb, A)).not.toBe("connected");
    } finally {
      await kept.close();
      await doomed.close();
      await echo.close();
    }
  });

  it("lets nothing out from a source address that is not the sandbox's own", async () => {
    // UDP, so delivery needs no reply: without the anti-spoofing rule the forged datagram
    // would be forwarded and masqueraded like any other.
    const sb = (await t.manager.get(sandboxId(0xe1)))!;
    const forged = "203.0.113.9";
    const udp = await udpListenIn(inet.netns, "0.0.0.0", port);
    await sh("ip", "-n", sb.netns, "addr", "add", `${forged}/32`, "dev", "eth0");
    try {
      await sendUdp(sb.netns, sb.guestIp, port + 2, LINK, port, "genuine");
      await sendUdp(sb.netns, forged, port + 3, LINK, port, "forged");
      await waitFor(() => udp.received.includes("genuine"));
      // Both were sent back to back; give the forged one ample time anyway.
      await new Promise((r) => setTimeout(r, 500));
      expect(udp.received).not.toContain("forged");
    } finally {
      await sh("ip", "-n", sb.netns, "addr", "del", `${forged}/32`, "dev", "eth0");
      await udp.close();
    }
  });

  it("holds IPv4 forwarding only while a sandbox with internet access exists", async () => {
    const holder = `holder-${t.options.table}`;
    expect((await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim()).toBe("1");
    expect(await readdir(FORWARDING_DIR)).toContain(holder);
    for (const n of await t.manager.list()) await t.manager.teardown(n.sandboxId);
    const left = await readdir(FORWARDING_DIR).catch(() => []);
    expect(left).not.toContain(holder);
    // Other managers (a parallel test file, a real agent) may still hold it on.
    if (forwardingBefore === "0" && !left.some((f) => f.startsWith("holder-"))) {
      expect((await readFile("/proc/sys/net/ipv4/ip_forward", "utf8")).trim()).toBe("0");
    }
  });
});
