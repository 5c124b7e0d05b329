import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { leaseSlot, slotPool } from "./slot-lease.js";

/** Above the kernel's pid_max (2^22): no process ever has it. */
const DEAD_PID = 4_194_305;

describe("slot lease", () => {
  it("skips a slot whose holder died while its sandboxes' addresses are still on the host", () => {
    const first = leaseSlot();
    const [a, b] = [`wtsl${first.slot.toString(16)}a`, `wtsl${first.slot.toString(16)}b`];
    // A leaked sandbox's host side: its /30 of the slot's pool on a root-namespace interface.
    // Nothing is sent to it.
    const hostIp = slotPool(first.slot).replace(/\.0\/22$/, ".5/30");
    execFileSync("ip", ["link", "add", a, "type", "veth", "peer", "name", b]);
    const later: ReturnType<typeof leaseSlot>[] = [];
    try {
      execFileSync("ip", ["addr", "add", hostIp, "dev", a]);
      execFileSync("ip", ["link", "set", a, "up"]);
      execFileSync("ip", ["link", "set", b, "up"]);
      // Its holder is gone (killed with its test), its sandboxes are not.
      writeFileSync(`/run/wrenn-test-slots/${first.slot}`, String(DEAD_PID));
      // The first lease after that finds the dead holder's file and clears it; the next would
      // take the slot, addresses and all.
      later.push(leaseSlot(), leaseSlot());
      expect(later.map((l) => l.slot)).not.toContain(first.slot);
    } finally {
      for (const l of later) l.release();
      execFileSync("ip", ["link", "del", a]);
      first.release();
    }
  });
});
