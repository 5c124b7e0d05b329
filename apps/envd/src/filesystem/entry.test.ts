import { constants } from "node:fs";
import { describe, expect, test } from "vitest";
import { goPermissionString } from "./entry.js";

// Go's os.FileMode.String(), as E2B's envd sends it.
describe("goPermissionString", () => {
  test.each([
    [constants.S_IFREG | 0o644, "-rw-r--r--"],
    [constants.S_IFDIR | 0o755, "drwxr-xr-x"],
    [constants.S_IFDIR | 0o1777, "dtrwxrwxrwx"],
    [constants.S_IFLNK | 0o777, "Lrwxrwxrwx"],
    [constants.S_IFREG | 0o4755, "urwxr-xr-x"],
    [constants.S_IFREG | 0o2755, "grwxr-xr-x"],
    [constants.S_IFCHR | 0o666, "Dcrw-rw-rw-"],
    [constants.S_IFIFO | 0o600, "prw-------"],
    [constants.S_IFSOCK | 0o755, "Srwxr-xr-x"],
  ])("mode %o → %s", (mode, expected) => {
    expect(goPermissionString(mode)).toBe(expected);
  });
});
