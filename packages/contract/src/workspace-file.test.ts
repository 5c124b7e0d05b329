import { describe, expect, test } from "vitest";
import { ContractError } from "./errors/error-codes.js";
import { checkWorkspaceFile, isServiceName, WORKSPACE_FILE_LIMITS } from "./workspace-file.js";
import { WORKSPACE_DEFAULTS } from "./workspaces.js";

const refusal = (parsed: unknown): string => {
  try {
    checkWorkspaceFile(parsed);
  } catch (error) {
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).code).toBe("invalid_request");
    return (error as Error).message;
  }
  throw new Error(`accepted: ${JSON.stringify(parsed).slice(0, 80)}`);
};

describe("the workspace file", () => {
  test("a full file is read as written; a bare one takes the create's defaults", () => {
    expect(
      checkWorkspaceFile({
        name: "mybox",
        image: "base",
        vcpus: 1,
        memory_mb: 512,
        disk_gb: 3,
        editor: { path: "/home/user/app" },
        services: {
          web: {
            command: "python3 -m http.server 8000",
            cwd: "/home/user/app",
            env: { PORT: "8000" },
          },
          "db-2": { command: "sleep infinity" },
        },
      }),
    ).toEqual({
      name: "mybox",
      image: "base",
      vcpus: 1,
      memoryMb: 512,
      diskGb: 3,
      editorPath: "/home/user/app",
      services: {
        web: {
          command: "python3 -m http.server 8000",
          cwd: "/home/user/app",
          env: { PORT: "8000" },
        },
        "db-2": { command: "sleep infinity", env: {} },
      },
    });
    expect(checkWorkspaceFile({ name: "mybox" })).toEqual({
      name: "mybox",
      image: undefined,
      ...WORKSPACE_DEFAULTS,
      editorPath: undefined,
      services: {},
    });
  });

  test("each broken rule is refused with a message naming its key", () => {
    const cases: [unknown, RegExp][] = [
      [[], /the workspace file must be a table/],
      [{}, /name/],
      [{ name: "Not A Name" }, /name/],
      [{ name: "b", vcpus: 1000 }, /vcpus must be an integer from 1 to 64/],
      [{ name: "b", vcpus: 0 }, /vcpus must be at least 1/],
      [{ name: "b", disk_gb: 100000 }, /disk_gb/],
      [{ name: "b", memory_mb: "lots" }, /memory_mb/],
      [{ name: "b", colour: "red" }, /unknown key "colour"/],
      [{ name: "b", editor: "/home/user" }, /editor must be a table/],
      [{ name: "b", editor: { path: "relative/dir" } }, /editor.path must be an absolute path/],
      [{ name: "b", editor: { path: "/a\u0000b" } }, /editor.path/],
      [{ name: "b", editor: { path: "/x", theme: "dark" } }, /editor has an unknown key "theme"/],
      [{ name: "b", services: { Web: { command: "x" } } }, /invalid name "Web"/],
      [{ name: "b", services: { "../etc": { command: "x" } } }, /invalid name "..\/etc"/],
      [{ name: "b", services: { "web-": { command: "x" } } }, /invalid name "web-"/],
      [{ name: "b", services: { web: "npm start" } }, /services.web must be a table/],
      [{ name: "b", services: { web: {} } }, /services.web.command must be a shell line/],
      [{ name: "b", services: { web: { command: "  " } } }, /services.web.command/],
      [
        {
          name: "b",
          services: { web: { command: "x".repeat(WORKSPACE_FILE_LIMITS.commandLength + 1) } },
        },
        /services.web.command is longer than/,
      ],
      [
        { name: "b", services: { web: { command: "x", cwd: "app" } } },
        /services.web.cwd must be an absolute path/,
      ],
      [
        { name: "b", services: { web: { command: "x", env: { "A=B": "v" } } } },
        /services.web.env has an invalid key/,
      ],
      [
        { name: "b", services: { web: { command: "x", env: { A: 1 } } } },
        /services.web.env.A must be a string/,
      ],
      [
        { name: "b", services: { web: { command: "x", restart: "always" } } },
        /services.web has an unknown key "restart"/,
      ],
    ];
    for (const [parsed, message] of cases) {
      expect(refusal(parsed), JSON.stringify(parsed).slice(0, 80)).toMatch(message);
    }
    const many = Object.fromEntries(
      Array.from({ length: WORKSPACE_FILE_LIMITS.services + 1 }, (_, i) => [
        `s${i}`,
        { command: "x" },
      ]),
    );
    expect(refusal({ name: "b", services: many })).toMatch(/at most 32 entries/);
  });

  test("service names as the commands take them", () => {
    for (const ok of ["web", "db-2", "a", "x".repeat(32)]) expect(isServiceName(ok), ok).toBe(true);
    for (const bad of ["", "Web", "-web", "web-", "a/b", "..", "x".repeat(33), 3]) {
      expect(isServiceName(bad), String(bad)).toBe(false);
    }
  });
});
