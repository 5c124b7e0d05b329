import { describe, expect, it } from "vitest";
import { parseCidr } from "../ipv4.js";
import { deniedProxyAddress } from "./destination-guard.js";

const ranges = {
  pool: parseCidr("10.250.0.0/24"),
  alwaysDenyOut: [parseCidr("10.0.0.0/8"), parseCidr("127.0.0.0/8")],
  egressAllow: [],
};

describe("deniedProxyAddress: where an egressProxy may not be", () => {
  it("refuses another sandbox and the agent's own ports on the host", async () => {
    expect(await deniedProxyAddress(ranges, "10.250.0.6", 1080, [])).toMatch(/sandbox pool/);
    expect(await deniedProxyAddress(ranges, "127.0.0.1", 7070, [7070])).toMatch(/agent's own/);
    // "localhost" comes from /etc/hosts: no query leaves the machine.
    expect(await deniedProxyAddress(ranges, "localhost", 7070, [7070])).toMatch(/agent's own/);
  });

  it("allows a proxy on a private network or another port of the host", async () => {
    expect(await deniedProxyAddress(ranges, "10.1.2.3", 1080, [7070])).toBeUndefined();
    expect(await deniedProxyAddress(ranges, "127.0.0.1", 1080, [7070])).toBeUndefined();
  });
});
