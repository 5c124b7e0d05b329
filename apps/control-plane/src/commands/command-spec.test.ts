import { describe, expect, test } from "vitest";
import { ServiceError } from "../service/errors.js";
import { normalizeCommand, terminalCommand } from "./command-spec.js";

describe("commands as envd is asked to start them", () => {
  test("a shell line runs under bash -l -c; a program keeps its arguments apart", () => {
    expect(normalizeCommand({ command: "echo $HOME | wc -c" }, 60)).toMatchObject({
      cmd: "/bin/bash",
      args: ["-l", "-c", "echo $HOME | wc -c"],
      timeoutSeconds: 60,
      display: "echo $HOME | wc -c",
    });
    expect(
      normalizeCommand(
        {
          cmd: "python3",
          args: ["-c", "print(1)"],
          env: { A: "1" },
          cwd: "/tmp",
          user: "root",
          timeoutSeconds: 0,
        },
        60,
      ),
    ).toEqual({
      cmd: "python3",
      args: ["-c", "print(1)"],
      envs: { A: "1" },
      cwd: "/tmp",
      user: "root",
      timeoutSeconds: 0,
      display: "python3 -c print(1)",
    });
  });

  test.each([
    ["neither", {}],
    ["both", { cmd: "ls", command: "ls" }],
    ["args with a shell line", { command: "ls", args: ["-l"] }],
    ["an empty program", { cmd: "" }],
    ["a NUL in an argument", { cmd: "ls", args: ["a\0b"] }],
    ["a bad user", { cmd: "ls", user: "../root" }],
    ["an env name with =", { cmd: "ls", env: { "A=B": "x" } }],
    ["a negative timeout", { cmd: "ls", timeoutSeconds: -1 }],
    ["a fractional timeout", { cmd: "ls", timeoutSeconds: 0.5 }],
    ["an empty cwd", { cmd: "ls", cwd: "" }],
  ])("refuses %s", (_name, input) => {
    expect(() => normalizeCommand(input, 60)).toThrow(ServiceError);
  });

  test("a terminal is an interactive login shell with a terminal type", () => {
    expect(terminalCommand({ env: { LANG: "de_DE.UTF-8" } })).toMatchObject({
      cmd: "/bin/bash",
      args: ["-i", "-l"],
      envs: { TERM: "xterm-256color", LANG: "de_DE.UTF-8", LC_ALL: "C.UTF-8" },
    });
  });
});
