import { describe, expect, test } from "vitest";
import { exitCodeOf, shellLine } from "./remote-command.js";
import { splitRunOperands } from "./run.js";
import { remoteSpec } from "./sandbox-cp.js";

describe("command lines", () => {
  test("one argument is a shell line; several are quoted one by one", () => {
    expect(shellLine(["ls | wc -l"])).toBe("ls | wc -l");
    expect(shellLine(["printf", "%s", "a b", "it's"])).toBe("printf %s 'a b' 'it'\\''s'");
  });

  test("a signal's exit is 128 + its number", () => {
    expect(exitCodeOf(3, undefined)).toBe(3);
    expect(exitCodeOf(-1, "signal: killed")).toBe(137);
    expect(exitCodeOf(-1, "signal: terminated")).toBe(143);
  });

  test("run: DIR before --, the command after", () => {
    expect(splitRunOperands(["--", "make", "test"], undefined)).toEqual({
      dir: undefined,
      command: ["make", "test"],
    });
    expect(splitRunOperands(["./src", "--", "ls"], undefined)).toEqual({
      dir: "./src",
      command: ["ls"],
    });
    expect(splitRunOperands(["./src", "ls"], ["ls"])).toEqual({ dir: "./src", command: ["ls"] });
    expect(() => splitRunOperands(["ls"], undefined)).toThrow(/after --/);
    expect(() => splitRunOperands(["a", "b", "--", "ls"], undefined)).toThrow(/one DIR/);
  });

  test("cp: ID:PATH is a sandbox path; ./x:y and /x:y are local", () => {
    expect(remoteSpec("sb-1a2b3c4d:/tmp/a")).toEqual({ id: "sb-1a2b3c4d", path: "/tmp/a" });
    expect(remoteSpec("sb-1a2b3c4d:")).toEqual({ id: "sb-1a2b3c4d", path: "." });
    expect(remoteSpec("./a:b")).toBeUndefined();
    expect(remoteSpec("/tmp/a:b")).toBeUndefined();
    expect(remoteSpec("file.txt")).toBeUndefined();
  });
});
