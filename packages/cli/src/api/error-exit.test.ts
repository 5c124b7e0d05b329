import { describe, expect, test } from "vitest";
import { EXIT } from "../exit-codes.js";
import { toCliError } from "./error-exit.js";

describe("toCliError on mount refusals", () => {
  // `wrenn run` copies the directory in only when the key may not mount at all; a directory
  // outside the agent's mount roots is not something a copy should paper over silently.
  test("a key that may not mount and a directory that may not be mounted say different things", () => {
    const role = toCliError({ code: "mounts_not_allowed", status: 403, message: "no mounts" });
    const root = toCliError({ code: "mount_not_allowed", status: 403, message: "outside" });
    expect(role.exitCode).toBe(EXIT.auth);
    expect(root.exitCode).toBe(EXIT.auth);
    expect(role.message).toContain("admin API key");
    expect(root.message).toContain("WRENN_MOUNT_ROOTS");
    expect(root.message).not.toContain("admin API key");
  });
});
