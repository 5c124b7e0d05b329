import { spawn } from "node:child_process";
import { once } from "node:events";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFirewallState } from "./firewall.js";
import { newManager, sandboxId, type TestNetwork, testNetwork } from "./network-test-kit.js";

let t: TestNetwork;

beforeAll(async () => {
  t = await testNetwork("c", 245);
});

afterAll(async () => {
  await t?.cleanup();
});

const managerModule = fileURLToPath(new URL("./network-manager.ts", import.meta.url));

/**
 * A stand-in agent: sets up (or only allocates) sandboxes one after another and reports each
 * finished one, until it is killed.
 */
const AGENT = `
import { NetworkManager } from ${JSON.stringify(managerModule)};
import { pino } from "pino";
const [options, mode, first, count] = JSON.parse(process.argv[1]);
const m = new NetworkManager({ ...options, logger: pino({ level: "silent" }) });
for (let i = 0; i < count; i++) {
  const id = "sb-" + (first + i).toString(16).padStart(8, "0");
  if (mode === "allocate") await m.allocate(id);
  else await m.setup(id, { allowInternet: i % 2 === 1 });
  process.stdout.write(id + "\\n");
}
`;

/** Runs the stand-in agent and kill -9s its whole process group (as systemd would). */
async function runAndKill(mode: string, first: number, count: number, afterMs: number) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      AGENT,
      JSON.stringify([t.options, mode, first, count]),
    ],
    { detached: true, stdio: ["ignore", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = once(child, "exit");
  // Kill once the agent is under way (its first sandbox done), then at a random moment.
  const deadline = Date.now() + 20_000;
  while (!out.includes("\n") && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, afterMs));
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // Already finished all it had to do.
  }
  await exited;
  return out.split("\n").filter(Boolean);
}

describe("kill -9 of the agent", () => {
  it("neither leaks nor double-allocates after a restart", async () => {
    const finished: string[] = [];
    let first = 0x100;
    for (let round = 0; round < 6; round++) {
      const mode = round % 2 === 0 ? "setup" : "allocate";
      // Allocation alone takes about a millisecond: kill within a few to land inside one.
      const killAfter = mode === "allocate" ? Math.random() * 4 : 5 + Math.random() * 60;
      finished.push(...(await runAndKill(mode, first, 10, killAfter)));
      first += 0x100;
    }
    expect(finished.length).toBeGreaterThan(0);

    // The restarted agent knows every other finished sandbox (the rest were, say, deleted
    // while it was down) plus none of those it was working on when killed.
    const known = finished.filter((_, i) => i % 2 === 0);
    const m = newManager(t);
    const report = await m.reconcile(known);

    const kept = await m.list();
    expect(kept.map((n) => n.sandboxId).sort()).toEqual([...known].sort());
    expect(new Set(kept.map((n) => n.guestIp)).size).toBe(kept.length);
    expect(report.kept).toEqual([...known].sort());

    // Nothing of an unknown sandbox is left anywhere.
    const p = t.options.namePrefix;
    const ours = (names: string[]) => names.filter((n) => n.startsWith(p));
    const knownHex = new Set(known.map((id) => id.slice(3)));
    for (const ns of ours(await readdir("/var/run/netns"))) {
      expect(known, `leaked netns ${ns}`).toContain(ns.slice(p.length));
    }
    for (const link of ours(await readdir("/sys/class/net"))) {
      expect(knownHex.has(link.slice(p.length)), `leaked link ${link}`).toBe(true);
    }
    const fw = await readFirewallState(t.options.table);
    for (const ifname of fw.egress) expect(knownHex.has(ifname.slice(p.length))).toBe(true);
    const slotDir = join(t.options.stateDir, "slots");
    const slotFiles = await readdir(slotDir);
    expect(slotFiles.filter((f) => f.startsWith(".tmp-"))).toEqual([]);
    const owners = await Promise.all(
      slotFiles.map(async (f) => JSON.parse(await readFile(join(slotDir, f), "utf8")).sandboxId),
    );
    expect(owners.sort()).toEqual([...known].sort());

    // Fresh allocations after the restart never collide with what was kept.
    const fresh = await Promise.all([1, 2, 3].map((i) => m.allocate(sandboxId(0xf00 + i))));
    const taken = new Set(kept.map((n) => n.guestIp));
    for (const n of fresh) expect(taken.has(n.guestIp)).toBe(false);

    // IPv4 forwarding is held under the table's name, by whichever process (a killed agent
    // here); a manager that believes it holds nothing must still let go at reconcile.
    await m.setPolicy(fresh[0]!.sandboxId, { allowInternet: true });
    expect(await readdir("/run/wrenn/ip-forward")).toContain(`holder-${t.options.table}`);
    await t.manager.reconcile([]);
    const holders = await readdir("/run/wrenn/ip-forward").catch(() => []);
    expect(holders).not.toContain(`holder-${t.options.table}`);
  });
});
