import { checkEgressHeaderRules } from "@wrenn/contract";
import { describe, expect, test } from "vitest";
import { headerRules } from "./sandbox-network.js";

describe("--header flags", () => {
  test("group by domain into network.rules the contract accepts", () => {
    const rules = headerRules([
      `api.example.com:Authorization=Bearer \${e2b.secrets.api-token}`,
      "api.example.com:X-Team=ml=ops",
      "*.example.org:X-A=",
    ]);
    expect(rules).toEqual({
      "api.example.com": [
        {
          transform: {
            headers: { Authorization: `Bearer \${e2b.secrets.api-token}`, "X-Team": "ml=ops" },
          },
        },
      ],
      "*.example.org": [{ transform: { headers: { "X-A": "" } } }],
    });
    expect(checkEgressHeaderRules("network.rules", rules)).toEqual(rules);
    expect(headerRules(undefined)).toBeUndefined();
  });

  test("a flag without domain:Name=value says how to write it", () => {
    expect(() => headerRules(["Authorization=x"])).toThrow(/domain:Name=value/);
    expect(() => headerRules(["api.example.com:Authorization"])).toThrow(/domain:Name=value/);
  });
});
