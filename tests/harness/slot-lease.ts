import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const DIR = "/run/wrenn-test-slots";

/**
 * A number no other live process on this machine holds, for test agents' address pools and
 * interface names: several test runs (and benchmarks) may run at once, and two agents with
 * overlapping pools would route each other's sandboxes. A slot whose holder died is reused.
 */
export function leaseSlot(): { slot: number; release: () => void } {
  mkdirSync(DIR, { recursive: true });
  for (let slot = 0; slot < 256; slot++) {
    const file = `${DIR}/${slot}`;
    try {
      const fd = openSync(file, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return { slot, release: () => rmSync(file, { force: true }) };
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(file, "utf8"));
      } catch {
        continue;
      }
      if (holder > 0 && !alive(holder)) rmSync(file, { force: true });
    }
  }
  throw new Error(`no free test slot in ${DIR}: 256 test agents alive?`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
