import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetworkError } from "./errors.js";
import { readFirewallState } from "./firewall.js";
import { newManager, sandboxId, sh, type TestNetwork, testNetwork } from "./network-test-kit.js";

// Allocation against a /24 pool: 64 slots of /30.
let t: TestNetwork;

beforeAll(async () => {
  t = await testNetwork("a", 241);
});

afterAll(async () => {
  await t?.cleanup();
});

async function expectCode(p: Promise<unknown>, code: string, message: RegExp) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(NetworkError);
  expect((err as NetworkError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

function ipToInt(ip: string): number {
  return ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
}

describe("allocation", () => {
  it("hands out distinct, aligned /30s inside the pool, names within IFNAMSIZ", async () => {
    const nets = await Promise.all(
      Array.from({ length: 64 }, (_, i) => t.manager.allocate(sandboxId(0x100 + i))),
    );
    const guests = new Set(nets.map((n) => n.guestIp));
    expect(guests.size).toBe(64);
    for (const n of nets) {
      const host = ipToInt(n.hostIp);
      expect(ipToInt(n.guestIp)).toBe(host + 1);
      expect(host % 4).toBe(1);
      expect(n.hostIp.startsWith("10.241.0.")).toBe(true);
      expect(n.gateway).toBe(n.hostIp);
      expect(n.prefixLen).toBe(30);
      expect(n.guestIf).toBe("eth0");
      expect(n.hostIf.length).toBeLessThanOrEqual(15);
      expect(n.netnsPath).toBe(`/var/run/netns/${n.netns}`);
    }
    // Allocating again is idempotent.
    const again = await t.manager.allocate(sandboxId(0x100));
    expect(again).toEqual(nets[0]);
  });

  it("reports exhaustion clearly, and reuses a slot after teardown", async () => {
    await expectCode(t.manager.allocate(sandboxId(0x999)), "pool_exhausted", /pool exhausted/);
    const freed = await t.manager.get(sandboxId(0x120));
    await t.manager.teardown(sandboxId(0x120));
    expect(await t.manager.get(sandboxId(0x120))).toBeUndefined();
    const reused = await t.manager.allocate(sandboxId(0x999));
    expect(reused.guestIp).toBe(freed?.guestIp);
  });

  it("persists across a new manager instance (simulated restart)", async () => {
    const before = (await t.manager.list()).sort((a, b) => a.sandboxId.localeCompare(b.sandboxId));
    const restarted = newManager(t);
    const after = (await restarted.list()).sort((a, b) => a.sandboxId.localeCompare(b.sandboxId));
    expect(after).toEqual(before);
    await expectCode(restarted.allocate(sandboxId(0x998)), "pool_exhausted", /64 \/30 slots/);
  });

  it("refuses to start on a changed pool while allocations exist", async () => {
    const moved = newManager(t, { pool: "10.241.1.0/24" });
    await expectCode(moved.list(), "invalid_argument", /pool changed from 10.241.0.0\/24/);
  });

  it("validates input", async () => {
    for (const bad of [
      "sb-1234",
      "sb-1234567g",
      "SB-12345678",
      "sb-12345678 ",
      "../etc",
      "",
      "s-12345678",
      "sbxx-12345678",
    ]) {
      await expectCode(t.manager.allocate(bad), "invalid_argument", /invalid sandbox id/);
    }
    expect(() => newManager(t, { pool: "10.0.0.0/31" })).toThrow(/between a \/8 and a \/30/);
    expect(() => newManager(t, { pool: "10.0.0.1/24" })).toThrow(/host bits/);
    expect(() => newManager(t, { namePrefix: "toolong-" })).toThrow(/at most 7/);
    expect(() => newManager(t, { namePrefix: "a b" })).toThrow(/invalid name prefix/);
    expect(() => newManager(t, { table: "x; flush ruleset" })).toThrow(/table name/);
    await expectCode(
      t.manager.setup(sandboxId(0x100), { allowInternet: true, allowOut: ["no pe"] }),
      "invalid_argument",
      /allowOut\[0\]/,
    );
  });

  it("accepts the runtime's own id kinds, one sandbox per 8 hex digits", async () => {
    for (const n of await t.manager.list()) await t.manager.teardown(n.sandboxId);
    const wr = await t.manager.allocate("wr-0000abcd");
    expect(wr.netns).toBe(`${t.options.namePrefix}wr-0000abcd`);
    expect(wr.hostIf).toBe(`${t.options.namePrefix}0000abcd`);
    // Interface names carry only the hex digits: a second id with the same ones is refused,
    // and tearing it down must not touch the first one's network.
    await expectCode(t.manager.allocate("sb-0000abcd"), "invalid_argument", /shares its 8 hex/);
    await expectCode(t.manager.teardown("sb-0000abcd"), "invalid_argument", /shares its 8 hex/);
    expect(await t.manager.get("wr-0000abcd")).toEqual(wr);
    await expectCode(
      t.manager.reconcile(["wr-0000abcd", "sb-0000abcd"]),
      "invalid_argument",
      /share their 8 hex digits/,
    );
    await t.manager.teardown("wr-0000abcd");
  });

  it("reconcile keeps known sandboxes and removes every kind of leak", async () => {
    for (const n of await t.manager.list()) await t.manager.teardown(n.sandboxId);
    const [a, b, c] = [sandboxId(0xa), sandboxId(0xb), sandboxId(0xc)];
    await t.manager.setup(a, { allowInternet: true });
    await t.manager.setup(b);
    await t.manager.setup(c);
    const netB = await t.manager.get(b);

    // Leaks a crashed agent could leave behind.
    const p = t.options.namePrefix;
    await sh("ip", "netns", "add", `${p}sb-deadbeef`); // a namespace with no record
    await sh("ip", "link", "add", `${p}feedf00d`, "type", "veth", "peer", "name", "wtpeer0");
    const slots = join(t.options.stateDir, "slots");
    await writeFile(join(slots, ".tmp-999999-abcdef"), "{}"); // a claim interrupted mid-way
    await sh("ip", "link", "add", "wta-x", "type", "veth", "peer", "name", "wtpeer1"); // prefix only

    const restarted = newManager(t);
    const report = await restarted.reconcile([a, b, sandboxId(0xd)]);
    expect(report.kept).toEqual([a, b]);
    // Ids where known; a leak seen only as an interface is reported by its name.
    expect(report.removed).toEqual([c, "sb-deadbeef", `${p}feedf00d`]);

    const netns = await sh("ip", "netns", "list");
    expect(netns).toContain(`${p}${a}`);
    expect(netns).toContain(`${p}${b}`);
    expect(netns).not.toContain(`${p}${c}`);
    expect(netns).not.toContain("deadbeef");
    const links = await readdir("/sys/class/net");
    expect(links).toContain(`${p}0000000a`);
    expect(links).not.toContain(`${p}0000000c`);
    expect(links).not.toContain(`${p}feedf00d`);
    expect(links).not.toContain("wtpeer0");
    expect(links).toContain("wtpeer1");
    // Not shaped like ours: left alone.
    expect(links).toContain("wta-x");
    await sh("ip", "link", "del", "wta-x");

    expect((await readdir(slots)).sort()).toHaveLength(2);
    const fw = await readFirewallState(t.options.table);
    expect(fw.egress).toEqual([`${p}0000000a`]);
    expect(fw.chains).toEqual(["egress-0000000a"]);
    // Kept sandboxes keep their addresses.
    expect(await restarted.get(b)).toEqual(netB);
  });

  it("reconcile re-adopts a known sandbox whose record was lost, at the same address", async () => {
    const b = sandboxId(0xb);
    const before = await t.manager.get(b);
    const slots = join(t.options.stateDir, "slots");
    for (const f of await readdir(slots)) {
      if ((await sh("cat", join(slots, f))).includes(b)) await sh("rm", join(slots, f));
    }
    const restarted = newManager(t);
    const report = await restarted.reconcile([sandboxId(0xa), b]);
    expect(report.adopted).toEqual([b]);
    expect(await restarted.get(b)).toEqual(before);
  });
});
