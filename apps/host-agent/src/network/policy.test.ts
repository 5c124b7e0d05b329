import { describe, expect, it } from "vitest";
import { NetworkError } from "./errors.js";
import { allowedCidrs, hasDomainRules, policyWidens, resolvePolicy } from "./policy.js";

describe("resolvePolicy", () => {
  it("defaults to no network at all", () => {
    expect(resolvePolicy(undefined)).toEqual({ allowInternet: false, allowOut: [], denyOut: [] });
  });

  it("canonicalises CIDR lists", () => {
    expect(
      resolvePolicy({
        allowInternet: true,
        allowOut: ["8.8.8.8", "8.0.0.0/8", " 1.1.1.1/32 "],
        denyOut: ["192.168.0.0/16"],
      }),
    ).toEqual({
      allowInternet: true,
      allowOut: ["1.1.1.1/32", "8.0.0.0/8"],
      denyOut: ["192.168.0.0/16"],
    });
  });

  it("keeps host names in allowOut, canonical, after the CIDRs", () => {
    const p = resolvePolicy({
      allowInternet: false,
      allowOut: ["B.example.com.", "8.8.8.8", "*.a.example.com", "b.example.com"],
    });
    expect(p.allowOut).toEqual(["8.8.8.8/32", "*.a.example.com", "b.example.com"]);
    expect(allowedCidrs(p)).toEqual(["8.8.8.8/32"]);
    expect(hasDomainRules(p)).toBe(true);
    expect(hasDomainRules(resolvePolicy({ allowInternet: true, allowOut: ["1.1.1.1"] }))).toBe(
      false,
    );
  });

  it.each([
    [null, /must be an object/],
    [[], /must be an object/],
    [{}, /allowInternet must be a boolean/],
    [{ allowInternet: "yes" }, /allowInternet must be a boolean/],
    [{ allowInternet: true, allowOut: "8.8.8.8" }, /allowOut must be an array/],
    [{ allowInternet: true, allowOut: [8] }, /allowOut\[0\]: must be a string/],
    [
      { allowInternet: true, denyOut: ["8.8.8.8", "1.2.3"] },
      /denyOut\[1\]: "1.2.3" is not an IPv4/,
    ],
    [{ allowInternet: true, denyOut: ["fd00::/8"] }, /IPv6 egress rules are not supported/],
    [{ allowInternet: true, denyOut: ["*.example.com"] }, /allowed in allowOut only/],
    [{ allowInternet: false, allowOut: ["exa_mple com"] }, /not an IPv4 address, CIDR or host/],
    [{ allowInternet: true, deny_out: [] }, /unknown policy field "deny_out"/],
    [{ allowInternet: true, allowOut: Array(257).fill("1.1.1.1") }, /at most 256/],
    [{ allowInternet: true, allowOut: ["10.0.0.1/8"] }, /host bits set/],
  ])("rejects %j", (policy, message) => {
    try {
      resolvePolicy(policy);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).code).toBe("invalid_argument");
      expect((err as Error).message).toMatch(message);
    }
  });
});

describe("policyWidens (whether a policy update has connections to cut)", () => {
  const p = (allowInternet: boolean, allowOut: string[] = [], denyOut: string[] = []) =>
    resolvePolicy({ allowInternet, allowOut, denyOut });
  it("is true only when the new policy lets out all the old one did", () => {
    expect(policyWidens(p(false), p(true))).toBe(true);
    expect(policyWidens(p(false, ["8.8.8.8"]), p(false, ["8.8.8.8", "example.com"]))).toBe(true);
    expect(policyWidens(p(true, [], ["8.8.8.8"]), p(true))).toBe(true);
    expect(policyWidens(p(true), p(false))).toBe(false);
    expect(policyWidens(p(true), p(true, [], ["8.8.8.8"]))).toBe(false);
    expect(policyWidens(p(false, ["8.8.8.8"]), p(false, ["1.1.1.1"]))).toBe(false);
    expect(policyWidens(p(false, ["example.com"]), p(true))).toBe(false);
  });
});
