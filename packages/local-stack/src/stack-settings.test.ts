import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import {
  chooseStackSettings,
  freeListen,
  keepStackSettings,
  networkOfSlot,
} from "./stack-settings.js";

const none = async () => ({ tables: [], links: [], routes: "", claims: [] });
const dirs: string[] = [];
const servers: Server[] = [];

async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "wrenn-settings-"));
  dirs.push(d);
  return d;
}

/** Holds a free port on loopback, as another program would. */
async function holdPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen({ host: "127.0.0.1", port: 0 }, r));
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe("chooseStackSettings", () => {
  test("a port in use moves to the next free one and says so; a set one never moves", async () => {
    const port = await holdPort();
    const env = { WRENN_LISTEN: `127.0.0.1:${port}` };
    const kept = await chooseStackSettings(env, await dataDir(), false, none);
    expect(kept.settings.listen).toBe(`127.0.0.1:${port}`);
    expect(kept.changes.some((c) => c.startsWith("API"))).toBe(false);

    const changes: string[] = [];
    const moved = await freeListen(`127.0.0.1:${port}`, "API", new Set(), changes);
    expect(moved).not.toBe(`127.0.0.1:${port}`);
    expect(changes).toEqual([`API port ${port} is in use: using ${moved.split(":")[1]} instead`]);
    // A port already handed to the other program of the same stack is skipped too.
    const next = Number(moved.split(":")[1]);
    const skip = await freeListen(`127.0.0.1:${next}`, "host agent", new Set([next]), []);
    expect(skip).not.toBe(moved);
  });

  test("a network slot in use (table, interfaces or routes) is skipped and kept per data dir", async () => {
    const dir = await dataDir();
    const busy = async () => ({
      tables: ["wrenn"],
      links: ["wrn1-abc"],
      routes: "10.202.0.0/30 dev x\n",
      // A live agent that has no sandbox yet, registered for 10.203/16 and table wrenn_4.
      claims: [
        { pool: "10.203.0.0/16", prefix: "other-", tables: [] },
        { pool: "192.168.0.0/24", prefix: "x-", tables: ["wrenn_4", "wrenn_4_guard"] },
      ],
    });
    const first = await chooseStackSettings({}, dir, false, busy);
    expect(first.settings).toMatchObject(networkOfSlot(5));
    expect(first.changes.join("\n")).toContain("10.205.0.0/16");
    await keepStackSettings(dir, first.settings);
    // The next start keeps the network even when the default is free again.
    const again = await chooseStackSettings({}, dir, false, none);
    expect(again.settings).toMatchObject(networkOfSlot(5));
  });

  test("each network slot has its own WireGuard ports; a kept file without them gets its slot's", async () => {
    expect(networkOfSlot(0).wireguardPorts).toBe("51820-51899");
    expect(networkOfSlot(5).wireguardPorts).toBe("52320-52399");
    const dir = await dataDir();
    const { wireguardPorts: _, ...older } = networkOfSlot(5);
    await writeFile(join(dir, "stack-settings.json"), JSON.stringify(older));
    const kept = await chooseStackSettings({}, dir, false, none);
    expect(kept.settings).toMatchObject(networkOfSlot(5));
    const pinned = await chooseStackSettings({ WRENN_WG_PORTS: "60000-60009" }, dir, false, none);
    expect(pinned.settings.wireguardPorts).toBe("60000-60009");
  });

  test("a data dir from before kept settings stays on the default network", async () => {
    const busy = async () => ({ tables: ["wrenn"], links: ["wrenn-0001"], routes: "", claims: [] });
    const legacy = await chooseStackSettings({}, await dataDir(), true, busy);
    expect(legacy.settings).toMatchObject(networkOfSlot(0));
  });

  test("explicit network settings win", async () => {
    const env = {
      WRENN_NETWORK_POOL: "10.99.0.0/16",
      WRENN_NETWORK_PREFIX: "zz-",
      WRENN_NETWORK_TABLE: "zz",
    };
    const busy = async () => ({ tables: ["zz"], links: [], routes: "", claims: [] });
    const chosen = await chooseStackSettings(env, await dataDir(), false, busy);
    expect(chosen.settings).toMatchObject({
      networkPool: "10.99.0.0/16",
      networkPrefix: "zz-",
      networkTable: "zz",
    });
  });
});
