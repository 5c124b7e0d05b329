import { spawnSync } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";

const DIR = "/run/wrenn-test-slots";

/**
 * A number no other live process on this machine holds, for test agents' address pools and
 * interface names: several test runs (and benchmarks) may run at once, and two agents with
 * overlapping pools would route each other's sandboxes. A slot whose holder died is reused.
 */
export function leaseSlot(): {
  slot: number;
  release: () => void;
  addHolder: (pid: number) => void;
} {
  mkdirSync(DIR, { recursive: true });
  for (let slot = 0; slot < 256; slot++) {
    const file = `${DIR}/${slot}`;
    let claimed = false;
    try {
      const fd = openSync(file, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      claimed = true;
    } catch {
      let holders: number[] = [];
      try {
        holders = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
      } catch {
        continue;
      }
      if (!holders.some((pid) => pid > 0 && alive(pid))) rmSync(file, { force: true });
    }
    if (!claimed) continue;
    let routed = true;
    try {
      routed = poolRouted(slotPool(slot));
    } finally {
      // A holder killed with its test leaves its sandboxes running, their /30s on host
      // interfaces: a new sandbox given the same /30 gets a second route the kernel never
      // picks, and its traffic reaches the old sandbox. The slot stays unusable until they go.
      if (routed) rmSync(file, { force: true });
    }
    if (routed) continue;
    forgetPoolFlows(slotPool(slot));
    return {
      slot,
      release: () => rmSync(file, { force: true }),
      // The agent a test started holds the slot too, for as long as it lives.
      addHolder: (pid: number) => appendFileSync(file, ` ${pid}`),
    };
  }
  throw new Error(`no free test slot in ${DIR}: 256 test agents alive?`);
}

/**
 * The slot's previous holder may have died without tearing its sandboxes down: its conntrack
 * entries would look like this holder's sandboxes' flows (and make pauses fall back to freeze).
 */
function forgetPoolFlows(pool: string): void {
  for (const direction of ["-s", "-d"]) {
    spawnSync("conntrack", ["-D", "-f", "ipv4", direction, pool], { stdio: "ignore" });
  }
}

/** Whether any route of the root namespace lies inside the pool (a live sandbox's /30). */
export function poolRouted(pool: string): boolean {
  const out = spawnSync("ip", ["-j", "-4", "route", "show", "root", pool], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`ip route show root ${pool} failed: ${out.stderr}`);
  return (JSON.parse(out.stdout || "[]") as unknown[]).length > 0;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A slot's address pool: a /22 (256 sandboxes) of 10.224.0.0/12, which holds all 256 slots. */
export function slotPool(slot: number): string {
  return `10.${224 + (slot >> 6)}.${(slot & 63) * 4}.0/22`;
}

/**
 * A slot's WireGuard UDP ports (WRENN_WG_PORTS): 4 of 40000-41023, so two test agents never
 * bind the same port (each tun's routing table is named by its port, too).
 */
export function slotWireguardPorts(slot: number): string {
  const first = 40000 + slot * 4;
  return `${first}-${first + 3}`;
}
