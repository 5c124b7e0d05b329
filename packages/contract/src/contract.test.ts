import { describe, expect, test } from "vitest";
import {
  ContractError,
  canTransition,
  checkEgressList,
  checkEgressPolicy,
  checkEnvVars,
  checkMetadata,
  checkMounts,
  ERROR_CODES,
  e2bStateOf,
  egressAllows,
  egressAllowsHost,
  egressOpen,
  errorMessage,
  GRPC_CODES,
  grpcCodeName,
  httpStatusOf,
  LIMITS,
  SANDBOX_STATES,
  SANDBOX_TRANSITIONS,
  textProblem,
} from "./index.js";

describe("the error registry", () => {
  test("every code has a 4xx/5xx status, a known gRPC code and a message", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(spec.status, code).toBeGreaterThanOrEqual(400);
      expect(spec.status, code).toBeLessThan(600);
      expect(GRPC_CODES[spec.grpc], code).toBeGreaterThan(0);
      expect(spec.message.length, code).toBeGreaterThan(0);
    }
    expect(httpStatusOf("mount_not_allowed")).toBe(403);
    expect(errorMessage("sandbox_not_found", { id: "sb-1" })).toBe("sandbox sb-1 not found");
    expect(grpcCodeName(3)).toBe("invalid_argument");
  });

  test("codes that clients branch on keep their statuses", () => {
    // A key that may not mount at all (clients fall back to copying) is not a directory that
    // may not be mounted (no key changes that): two codes, both 403.
    expect(httpStatusOf("mounts_not_allowed")).toBe(403);
    expect(httpStatusOf("mount_not_allowed")).toBe(403);
    // E2B's SDK reads a 404 as "sandbox not found": missing features are 501.
    expect(httpStatusOf("not_implemented")).toBe(501);
    expect(httpStatusOf("sandbox_failed")).toBe(409);
    expect(httpStatusOf("sandbox_running")).toBe(409);
  });
});

describe("the sandbox state table", () => {
  test("names only known states, ends at stopped, and keeps in-flight states leavable", () => {
    for (const [from, tos] of Object.entries(SANDBOX_TRANSITIONS)) {
      expect(SANDBOX_STATES).toContain(from);
      for (const to of tos) expect(SANDBOX_STATES).toContain(to);
    }
    expect(SANDBOX_TRANSITIONS.stopped).toEqual([]);
    expect(canTransition("running", "pausing")).toBe(true);
    expect(canTransition("stopped", "running")).toBe(false);
    expect(canTransition("error", "running")).toBe(false);
    expect(e2bStateOf("hibernated")).toBe("paused");
    expect(e2bStateOf("resuming")).toBe("running");
  });
});

describe("egress lists", () => {
  const refused = (list: unknown, code = "invalid_request", domains = false) => {
    try {
      checkEgressList(domains ? "allowOut" : "denyOut", list, domains);
    } catch (error) {
      expect(error).toBeInstanceOf(ContractError);
      expect((error as ContractError).code).toBe(code);
      return (error as Error).message;
    }
    throw new Error(`accepted ${JSON.stringify(list)}`);
  };

  test("IPv4 addresses and CIDRs, blanks trimmed", () => {
    expect(checkEgressList("allowOut", ["10.0.0.0/8", " 1.2.3.4 ", "0.0.0.0/0"])).toEqual([
      "10.0.0.0/8",
      "1.2.3.4",
      "0.0.0.0/0",
    ]);
    expect(checkEgressList("allowOut", undefined)).toEqual([]);
  });

  test("refuses IPv6 anywhere and domains in denyOut with their own codes, never ignoring them", () => {
    expect(refused(["fd00::/8"], "egress_ipv6_unsupported")).toMatch(/IPv4 only/);
    expect(refused(["::1"], "egress_ipv6_unsupported", true)).toMatch(/IPv6 egress rules/);
    expect(refused(["example.com"], "egress_domains_unsupported")).toMatch(
      /denyOut\[0\]: "example.com": domain names are allowed in allowOut only/,
    );
    expect(refused(["1.1.1.1", "*.example.com"], "egress_domains_unsupported")).toMatch(
      /denyOut\[1\]/,
    );
  });

  test("allowOut takes host names and *. wildcards, in canonical form; malformed ones are refused", () => {
    expect(
      checkEgressList("allowOut", ["Example.COM.", " *.api.example.com ", "1.1.1.1"], true),
    ).toEqual(["example.com", "*.api.example.com", "1.1.1.1"]);
    expect(refused(["exa mple.com"], "invalid_request", true)).toMatch(/host name/);
    expect(refused(["foo.*.com"], "invalid_request", true)).toMatch(/host name/);
    expect(refused(["*"], "invalid_request", true)).toMatch(/host name/);
    expect(refused(["-bad.com"], "invalid_request", true)).toMatch(/host name/);
    expect(refused(["example.com/24"], "invalid_request", true)).toMatch(/host name/);
    expect(refused([`${"a".repeat(64)}.com`], "invalid_request", true)).toMatch(/host name/);
    expect(checkEgressPolicy({ allowOut: ["example.com"] }).allowOut).toEqual(["example.com"]);
  });

  test("egressAllowsHost: exact names and *. suffixes, any case, trailing dot", () => {
    const p = { allowOut: ["allowed.test", "*.wild.test", "9.9.9.9"] };
    expect(egressAllowsHost(p, "allowed.test")).toBe(true);
    expect(egressAllowsHost(p, "ALLOWED.test.")).toBe(true);
    expect(egressAllowsHost(p, "www.allowed.test")).toBe(false);
    expect(egressAllowsHost(p, "a.wild.test")).toBe(true);
    expect(egressAllowsHost(p, "a.b.wild.test")).toBe(true);
    expect(egressAllowsHost(p, "wild.test")).toBe(false);
    expect(egressAllowsHost(p, "evilwild.test")).toBe(false);
    expect(egressAllowsHost(p, "allowed.test.evil")).toBe(false);
    expect(egressAllowsHost(p, "9.9.9.9")).toBe(false);
    expect(egressAllowsHost(p, "")).toBe(false);
  });

  test("a policy defaults to no internet; egressOpen says whether anything gets out", () => {
    expect(checkEgressPolicy({})).toEqual({ allowInternet: false, allowOut: [], denyOut: [] });
    expect(egressOpen(checkEgressPolicy({ allowOut: ["1.1.1.1"] }))).toBe(true);
    expect(egressOpen(checkEgressPolicy({ denyOut: ["1.1.1.1"] }))).toBe(false);
    expect(egressOpen(checkEgressPolicy({ allowInternet: true }))).toBe(true);
    expect(() => checkEgressPolicy({ allowInternet: "yes" })).toThrow(/must be a boolean/);
  });

  test("egressAllows: allowOut wins over denyOut; without internet only allowOut", () => {
    const e2bRecipe = { allowInternet: true, allowOut: ["1.1.1.1"], denyOut: ["0.0.0.0/0"] };
    expect(egressAllows(e2bRecipe, "1.1.1.1")).toBe(true);
    expect(egressAllows(e2bRecipe, "1.1.1.2")).toBe(false);
    const noInternet = { allowInternet: false, allowOut: ["8.8.8.0/24"], denyOut: [] };
    expect(egressAllows(noInternet, "8.8.8.8")).toBe(true);
    expect(egressAllows(noInternet, "8.8.9.8")).toBe(false);
    const open = { allowInternet: true, allowOut: [], denyOut: ["9.9.0.0/16"] };
    expect(egressAllows(open, "9.9.9.9")).toBe(false);
    expect(egressAllows(open, "9.10.9.9")).toBe(true);
    expect(egressAllows({ ...open, allowOut: ["9.9.9.9"] }, "9.9.9.9")).toBe(true);
    expect(egressAllows(open, "::1")).toBe(false);
  });

  test("refuses bad addresses, bad prefixes, host bits and too many entries", () => {
    expect(refused(["1.2.3"])).toMatch(/not an IPv4 address/);
    expect(refused(["10.0.0.0/33"])).toMatch(/prefix/);
    expect(refused(["10.0.0.1/8"])).toMatch(/host bits set; did you mean 10.0.0.0\/8/);
    expect(refused(["256.0.0.1"])).toMatch(/not an IPv4/);
    expect(refused([7])).toMatch(/must be a string/);
    expect(refused("10.0.0.0/8")).toMatch(/must be an array/);
    expect(refused(Array(LIMITS.egressEntries + 1).fill("1.1.1.1"))).toMatch(/at most 256/);
  });
});

describe("mounts", () => {
  test("normalizes the sandbox path and refuses the sandbox's machinery and duplicates", () => {
    expect(
      checkMounts([{ hostPath: "/srv/x", sandboxPath: "/data/./a/../b", readOnly: true }]),
    ).toEqual([{ hostPath: "/srv/x", sandboxPath: "/data/b", readOnly: true }]);
    const bad = [
      [{ hostPath: "/srv", sandboxPath: "/usr/local" }],
      [{ hostPath: "/srv", sandboxPath: "/x/../etc" }],
      [{ hostPath: "/srv", sandboxPath: "/" }],
      [{ hostPath: "srv", sandboxPath: "/data" }],
      [{ hostPath: "/srv\0", sandboxPath: "/data" }],
      [
        { hostPath: "/a", sandboxPath: "/data" },
        { hostPath: "/b", sandboxPath: "/data/" },
      ],
      [null],
    ];
    for (const mounts of bad)
      expect(() => checkMounts(mounts), JSON.stringify(mounts)).toThrow(ContractError);
  });
});

describe("text rules", () => {
  // PostgreSQL cannot store NUL or a lone surrogate, and an environment cannot hold NUL: the
  // shared validators refuse them, so the control plane and the host agent agree.
  test("metadata and env vars with NUL or a lone surrogate are refused, good text is kept", () => {
    for (const bad of ["a\0b", "\uD800", "x\uDC00"]) {
      expect(() => checkMetadata({ k: bad }), JSON.stringify(bad)).toThrow(ContractError);
      expect(() => checkMetadata({ [bad]: "v" }), JSON.stringify(bad)).toThrow(ContractError);
      expect(() => checkEnvVars({ A: bad }), JSON.stringify(bad)).toThrow(ContractError);
    }
    expect(checkMetadata({ k: "ok \uD83D\uDE00" })).toEqual({ k: "ok \uD83D\uDE00" });
    expect(textProblem("fine")).toBeUndefined();
  });
});
