import { access, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFirewallState } from "./firewall.js";
import {
  type Listener,
  listenIn,
  newManager,
  probeTcp,
  randomPort,
  sandboxId,
  sh,
  type TestNetwork,
  testNetwork,
} from "./network-test-kit.js";

let t: TestNetwork;

beforeAll(async () => {
  t = await testNetwork("t", 244);
});

afterAll(async () => {
  await t?.cleanup();
});

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Asserts nothing of the sandbox is left: namespace, links, rules, allocation. */
async function expectGone(id: string): Promise<void> {
  const hex = id.slice(3);
  expect(await exists(`/var/run/netns/${t.options.namePrefix}${id}`)).toBe(false);
  expect(await exists(`/sys/class/net/${t.options.namePrefix}${hex}`)).toBe(false);
  const fw = await readFirewallState(t.options.table);
  expect(fw.egress.filter((i) => i.endsWith(hex))).toEqual([]);
  expect(fw.chains.filter((c) => c.endsWith(hex))).toEqual([]);
  expect(await newManager(t).get(id)).toBeUndefined();
  const slots = await readdir(join(t.options.stateDir, "slots"));
  for (const f of slots) {
    expect(await sh("cat", join(t.options.stateDir, "slots", f))).not.toContain(id);
  }
}

describe("teardown", () => {
  it("leaves nothing behind and is idempotent", async () => {
    const id = sandboxId(0x71);
    const net = await t.manager.setup(id, { allowInternet: true, denyOut: ["198.18.0.0/15"] });
    const fw = await readFirewallState(t.options.table);
    expect(fw.egress).toContain(net.hostIf);
    expect(fw.chains).toContain("egress-00000071");

    await t.manager.teardown(id);
    await expectGone(id);
    await t.manager.teardown(id);
    await expectGone(id);
    // Never allocated at all.
    await t.manager.teardown(sandboxId(0x7f));
  });

  it("cleans up half-created sandboxes", async () => {
    const p = t.options.namePrefix;
    // 1. Allocated, namespace made, crash before the veth.
    const a = sandboxId(0x72);
    await t.manager.allocate(a);
    await sh("ip", "netns", "add", `${p}${a}`);
    // 2. A veth without namespace or record (crash, then the state dir was lost).
    const b = sandboxId(0x73);
    await sh("ip", "link", "add", `${p}00000073`, "type", "veth", "peer", "name", "wttpeer");
    // 3. Rules without anything else (table rebuilt from a stale record, say).
    const c = sandboxId(0x74);
    const cNet = await t.manager.setup(c, { allowInternet: true });
    await sh("ip", "link", "del", cNet.hostIf);
    await sh("ip", "netns", "del", cNet.netns);
    // A fresh manager: no in-memory knowledge, and c's record is what it finds on disk.
    const m = newManager(t);
    await Promise.all([m.teardown(a), m.teardown(b), m.teardown(c)]);
    for (const id of [a, b, c]) await expectGone(id);
    expect(await readdir("/sys/class/net")).not.toContain("wttpeer");
  });

  it("replaces the leftovers of an interrupted setup when setup runs again", async () => {
    const id = sandboxId(0x75);
    await t.manager.allocate(id);
    const p = t.options.namePrefix;
    await sh("ip", "netns", "add", `${p}${id}`);
    const net = await t.manager.setup(id);
    const port = randomPort();
    const l: Listener = await listenIn(net.netns, "0.0.0.0", port);
    try {
      expect((await probeTcp(null, net.guestIp, port)).outcome).toBe("connected");
    } finally {
      await l.close();
    }
    await t.manager.teardown(id);
    await expectGone(id);
  });
});

describe("setup", () => {
  it("is idempotent: a second call keeps the links, and only applies a changed policy", async () => {
    const id = sandboxId(0x77);
    const net = await t.manager.setup(id);
    const ifindex = await sh("cat", `/sys/class/net/${net.hostIf}/ifindex`);
    const port = randomPort();
    const l = await listenIn(net.netns, "0.0.0.0", port);
    try {
      // What a running gVisor sandbox looks like: runsc has taken eth0's address.
      await sh("ip", "-n", net.netns, "addr", "flush", "dev", "eth0");
      expect(await t.manager.setup(id)).toEqual(net);
      expect(await sh("cat", `/sys/class/net/${net.hostIf}/ifindex`)).toBe(ifindex);
      expect(await sh("ip", "-n", net.netns, "-4", "addr", "show", "dev", "eth0")).toBe("");

      expect(await newManager(t).setup(id, { allowInternet: true })).toEqual(net);
      expect(await sh("cat", `/sys/class/net/${net.hostIf}/ifindex`)).toBe(ifindex);
      expect((await readFirewallState(t.options.table)).egress).toContain(net.hostIf);
    } finally {
      await l.close();
      await t.manager.teardown(id);
    }
    await expectGone(id);
  });
});

describe("restoreAddress", () => {
  it("puts back what runsc strips from eth0, idempotently", async () => {
    const id = sandboxId(0x76);
    const net = await t.manager.setup(id);
    const port = randomPort();
    const l = await listenIn(net.netns, "0.0.0.0", port);
    try {
      // What runsc's netstack does when it takes eth0 over.
      await sh("ip", "-n", net.netns, "addr", "flush", "dev", "eth0");
      expect((await probeTcp(null, net.guestIp, port, { timeoutMs: 800 })).outcome).not.toBe(
        "connected",
      );
      await t.manager.restoreAddress(id);
      await t.manager.restoreAddress(id);
      expect(await sh("ip", "-n", net.netns, "route", "show", "default")).toContain(
        `via ${net.gateway}`,
      );
      expect((await probeTcp(null, net.guestIp, port)).outcome).toBe("connected");
    } finally {
      await l.close();
      await t.manager.teardown(id);
    }
    await expect(t.manager.restoreAddress(id)).rejects.toThrow(/has no network/);
  });
});
