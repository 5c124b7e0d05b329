import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sandboxId, sh, type TestNetwork, testNetwork } from "./network-test-kit.js";

// A /24 pool: 64 slots of /30; the first one's host address is already on a foreign interface.
let t: TestNetwork;
const FOREIGN = "wtfx-leaked";

beforeAll(async () => {
  t = await testNetwork("f", 249);
  await sh("ip", "link", "del", FOREIGN).catch(() => {});
  // A leaked sandbox's host side (a killed agent's, another prefix): nothing is sent to it.
  await sh("ip", "link", "add", FOREIGN, "type", "veth", "peer", "name", `${FOREIGN}-p`);
  await sh("ip", "addr", "add", "10.249.0.1/30", "dev", FOREIGN);
  await sh("ip", "link", "set", FOREIGN, "up");
  await sh("ip", "link", "set", `${FOREIGN}-p`, "up");
});

afterAll(async () => {
  await sh("ip", "link", "del", FOREIGN).catch(() => {});
  await t?.cleanup();
});

describe("a /30 another interface still holds", () => {
  it("is never handed out: the sandbox gets the next slot, routed through its own veth", async () => {
    try {
      const net = await t.manager.setup(sandboxId(0x700));
      expect(net.guestIp).not.toBe("10.249.0.2");
      expect(net.guestIp).toBe("10.249.0.6");
      const route = await sh("ip", "-4", "route", "get", net.guestIp);
      expect(route).toContain(`dev ${net.hostIf}`);
    } finally {
      await t.manager.teardown(sandboxId(0x700));
    }
  });

  it("is free again once the other interface is gone", async () => {
    await sh("ip", "link", "del", FOREIGN);
    const nets = [];
    // Next-fit: the slots after the last one handed out come first, slot 0 after a wrap.
    for (let i = 0; i < 64; i++) nets.push(await t.manager.allocate(sandboxId(0x800 + i)));
    expect(nets.map((n) => n.guestIp)).toContain("10.249.0.2");
    for (let i = 0; i < 64; i++) await t.manager.teardown(sandboxId(0x800 + i));
  });
});
