import { describe, expect, it } from "vitest";
import { LIMITS } from "../limits.js";
import {
  checkEgressHeaderRules,
  checkResolvedEgressRules,
  egressRuleHeadersFor,
  egressRuleSecretNames,
  egressRulesFromWire,
  egressRulesToWire,
  mapEgressRuleValues,
} from "./egress-rules.js";

const rule = (headers: Record<string, string>) => [{ transform: { headers } }];
const check = (rules: unknown) => checkEgressHeaderRules("network.rules", rules);

describe("network.rules (checkEgressHeaderRules)", () => {
  it("canonicalises domains as allowOut does and keeps values as written", () => {
    expect(
      check({ "API.Example.com.": rule({ Authorization: `Bearer \${e2b.secrets.tok-1}` }) }),
    ).toEqual({ "api.example.com": rule({ Authorization: `Bearer \${e2b.secrets.tok-1}` }) });
    expect(check({})).toBeUndefined();
    expect(check(undefined)).toBeUndefined();
  });

  it("refuses what could split a request or smuggle a header", () => {
    expect(() => check({ "a.test": rule({ A: "x\r\nHost: evil" }) })).toThrow(/CR, LF/);
    expect(() => check({ "a.test": rule({ A: "x\u0000" }) })).toThrow(/printable/);
    expect(() => check({ "a.test": rule({ "A:B": "x" }) })).toThrow(/header name/);
    expect(() => check({ "a.test": rule({ "transfer-encoding": "chunked" }) })).toThrow(/frames/);
    expect(() => check({ "a.test": [...rule({ A: "1" }), ...rule({ a: "2" })] })).toThrow(/twice/);
    expect(() => check({ "a.test": rule({ A: `\${e2b.secrets.}` }) })).toThrow(/placeholder/);
    expect(() => check({ "a.test": rule({ A: `\${env.HOME}` }) })).toThrow(/placeholder/);
    expect(() => check({ "1.2.3.4": rule({ A: "x" }) })).toThrow(/host name/);
    expect(() => check({ "a.test": rule({ A: "x" }), "A.TEST": rule({ B: "y" }) })).toThrow(
      /twice/,
    );
    const many = Object.fromEntries(
      Array.from({ length: LIMITS.egressRuleHeaders + 1 }, (_, i) => [`H${i}`, "v"]),
    );
    expect(() => check({ "a.test": rule(many) })).toThrow(/more than/);
  });

  it("the most specific domain's headers apply: exact over wildcard, longer wildcard first", () => {
    const rules = check({
      "*.example.com": rule({ A: "wild" }),
      "*.api.example.com": rule({ A: "api-wild" }),
      "v1.api.example.com": rule({ A: "exact" }),
    });
    expect(egressRuleHeadersFor(rules, "v1.api.example.com")).toEqual([["A", "exact"]]);
    expect(egressRuleHeadersFor(rules, "V2.API.example.com.")).toEqual([["A", "api-wild"]]);
    expect(egressRuleHeadersFor(rules, "www.example.com")).toEqual([["A", "wild"]]);
    expect(egressRuleHeadersFor(rules, "example.com")).toBeUndefined();
    expect(egressRuleHeadersFor(rules, "10.0.0.1")).toBeUndefined();
  });

  it("placeholders are listed, filled in, and the result checked again without quoting it", async () => {
    const rules = check({ "a.test": rule({ A: `x \${e2b.secrets.one} \${e2b.secrets.two}` }) })!;
    expect(egressRuleSecretNames(rules)).toEqual(["one", "two"]);
    // The secrets store's name rule, the one placeholder pattern (contract secrets.ts).
    for (const bad of [
      `\${e2b.secrets.a b}`,
      `\${e2b.secrets.sec_1}`,
      `\${e2b.identity.tokens.x}`,
    ]) {
      expect(() => check({ "a.test": rule({ A: bad }) })).toThrow(/malformed placeholder/);
    }
    const batches: number[] = [];
    const filled = await mapEgressRuleValues(rules, async (values) => {
      batches.push(values.length);
      return values.map((v) =>
        v.replace(/\$\{e2b\.secrets\.(\w+)\}/g, (_m, n: string) => n.toUpperCase()),
      );
    });
    expect(batches).toEqual([1]);
    expect(checkResolvedEgressRules(filled)).toEqual({ "a.test": rule({ A: "x ONE TWO" }) });
    const evil = { "a.test": rule({ A: "line\r\nX-Evil: 1" }) };
    expect(() => checkResolvedEgressRules(evil)).toThrow(/cannot be sent/);
    expect(() => checkResolvedEgressRules(evil)).not.toThrow(/X-Evil/);
  });

  it("survives the proto's list form both ways", () => {
    const rules = check({ "a.test": rule({ A: "1" }), "*.b.test": rule({ B: "2" }) })!;
    expect(check(egressRulesFromWire(egressRulesToWire(rules)))).toEqual(rules);
    expect(egressRulesFromWire([])).toBeUndefined();
  });
});
