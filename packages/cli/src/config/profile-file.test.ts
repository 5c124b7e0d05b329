import { describe, expect, test } from "vitest";
import { profileFromToml } from "./profile-file.js";

describe("profileFromToml", () => {
  test("keys left out come from strict, or from extends", () => {
    expect(profileFromToml("ci", "ci.toml", { vcpus: 2 })).toMatchObject({
      network: "none",
      mount: "read-only",
      vcpus: 2,
      memoryMb: 512,
      timeoutSeconds: 300,
    });
    expect(profileFromToml("web", "web.toml", { extends: "dev" })).toMatchObject({
      network: "egress",
      mount: "read-write",
    });
  });

  test.each([
    [{ netwrk: "none" }, /unknown key "netwrk"/],
    [{ network: true }, /network must be one of/],
    [{ mount: "rw" }, /mount must be one of/],
    [{ vcpus: 0 }, /vcpus must be from 1 to 64/],
    [{ memory_mb: 1.5 }, /memory_mb must be an integer/],
    [{ timeout_seconds: 90_000 }, /timeout_seconds must be from 1 to 86400/],
    [{ template: "../x" }, /template must be a template name/],
    [{ extends: "ci" }, /extends must be one of/],
  ])("%o is refused", (table, error) => {
    expect(() => profileFromToml("p", "p.toml", table)).toThrow(error);
  });
});
