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
    try {
      const fd = openSync(file, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      forgetPoolFlows(slotPool(slot));
      return {
        slot,
        release: () => rmSync(file, { force: true }),
        // The agent a test started holds the slot too, for as long as it lives.
        addHolder: (pid: number) => appendFileSync(file, ` ${pid}`),
      };
    } catch {
      let holders: number[] = [];
      try {
        holders = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
      } catch {
        continue;
      }
      if (!holders.some((pid) => pid > 0 && alive(pid))) rmSync(file, { force: true });
    }
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
