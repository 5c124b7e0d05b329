import { describe, expect, it } from "vitest";
import { missingProgram, resolveShell } from "./shell.js";

const has =
  (...paths: string[]) =>
  (p: string) =>
    paths.includes(p);
const FALLBACK = "/.wrenn/bin/busybox";

describe("the shell the SDK asks for (/bin/bash) in images without it", () => {
  it("runs bash when the image has it", () => {
    expect(
      resolveShell("/bin/bash", ["-l", "-c", "x"], FALLBACK, has("/bin/bash", "/bin/sh")),
    ).toEqual({ cmd: "/bin/bash", args: ["-l", "-c", "x"] });
  });
  it("uses the image's /bin/sh when there is no bash (Alpine, busybox)", () => {
    expect(resolveShell("/bin/bash", ["-i", "-l"], FALLBACK, has("/bin/sh", FALLBACK))).toEqual({
      cmd: "/bin/sh",
      args: ["-i", "-l"],
    });
  });
  it("uses the bundled busybox when the image has no shell at all (distroless)", () => {
    expect(resolveShell("/bin/bash", ["-l", "-c", "x"], FALLBACK, has(FALLBACK))).toEqual({
      cmd: FALLBACK,
      args: ["sh", "-l", "-c", "x"],
    });
  });
  it("leaves other programs, and templates without the runtime, alone", () => {
    expect(resolveShell("/usr/bin/python3", ["-c", "1"], FALLBACK, has())).toEqual({
      cmd: "/usr/bin/python3",
      args: ["-c", "1"],
    });
    expect(resolveShell("/bin/bash", [], undefined, has())).toEqual({ cmd: "/bin/bash", args: [] });
  });
  it("names a program the image does not have", () => {
    expect(missingProgram("/usr/bin/python3", has())).toContain("/usr/bin/python3 does not exist");
    expect(missingProgram("/bin/sh", has("/bin/sh"))).toBeUndefined();
    // Relative names are looked up on PATH by the launcher, which reports its own error.
    expect(missingProgram("python3", has())).toBeUndefined();
  });
});
