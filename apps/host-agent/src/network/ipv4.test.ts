import { describe, expect, it } from "vitest";
import { formatCidr, normalizeCidrs, parseCidr, parseIpv4 } from "./ipv4.js";

describe("ipv4", () => {
  it("parses addresses and CIDRs", () => {
    expect(parseIpv4("10.200.0.1")).toBe(0x0ac80001);
    expect(formatCidr(parseCidr("10.200.0.0/16"))).toBe("10.200.0.0/16");
    expect(formatCidr(parseCidr("8.8.8.8"))).toBe("8.8.8.8/32");
    expect(formatCidr(parseCidr("0.0.0.0/0"))).toBe("0.0.0.0/0");
    expect(formatCidr(parseCidr("255.255.255.255/32"))).toBe("255.255.255.255/32");
  });

  it.each([
    "",
    "10.0.0",
    "10.0.0.256",
    "10.0.0.01",
    "1.2.3.4/33",
    "1.2.3.4/-1",
    "1.2.3.4/",
    "1.2.3.4/08",
    "1.2.3.4/8/8",
    "a.b.c.d",
    "10.0.0.0/8; drop",
    " 1.2.3.4",
    "::1",
    "2001:db8::/32",
  ])("rejects %j", (text) => {
    expect(() => parseCidr(text)).toThrow(/IPv4|prefix|IPv6/);
  });

  it("rejects host bits instead of guessing", () => {
    expect(() => parseCidr("10.0.0.1/8")).toThrow(/host bits set; did you mean 10.0.0.0\/8/);
  });

  it("normalizes: sorted, covered entries dropped", () => {
    const out = normalizeCidrs(
      ["10.1.0.0/16", "10.0.0.0/8", "1.2.3.4", "10.2.3.0/24", "1.2.3.4", "11.0.0.0/8"].map(
        parseCidr,
      ),
    ).map(formatCidr);
    expect(out).toEqual(["1.2.3.4/32", "10.0.0.0/8", "11.0.0.0/8"]);
  });
});
