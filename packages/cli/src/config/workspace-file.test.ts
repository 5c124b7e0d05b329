import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WORKSPACE_DEFAULTS } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CliError } from "../exit-codes.js";
import { readWorkspaceFile, workspaceFileFor, writeNewWorkspaceFile } from "./workspace-file.js";

// The workspace file as the CLI reads and writes it: real TOML files in a temp directory.
describe("the workspace file on disk", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wrenn-wsfile-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  test("what init writes is read back as it was, with its services", async () => {
    const path = join(dir, "full.toml");
    const file = {
      name: "devbox-7",
      image: "python-dev",
      vcpus: 4,
      memoryMb: 4096,
      diskGb: 20,
      editorPath: "/srv/src",
      services: {
        api: {
          command: `python3 -c 'print("it\\'s \\"quoted\\"")'`,
          cwd: "/home/user/app",
          env: { PORT: "8000", "X.Y": "a b" },
        },
        worker: { command: "sleep infinity", env: {} },
      },
    };
    await writeNewWorkspaceFile(path, file);
    expect(await readWorkspaceFile(path)).toEqual(file);
    // Never over a file that is there.
    await expect(writeNewWorkspaceFile(path, { ...file, name: "other" })).rejects.toThrow(
      /exists already/,
    );
    expect((await readWorkspaceFile(path))?.name).toBe("devbox-7");
  });

  test("a bare init (no services, no editor) parses, and its commented example stays a comment", async () => {
    const path = join(dir, "bare.toml");
    await writeNewWorkspaceFile(path, {
      name: "bare",
      image: undefined,
      ...WORKSPACE_DEFAULTS,
      editorPath: undefined,
      services: {},
    });
    expect(await readFile(path, "utf8")).toMatch(/^# \[services\.web\]$/m);
    expect(await readWorkspaceFile(path)).toEqual({
      name: "bare",
      image: undefined,
      ...WORKSPACE_DEFAULTS,
      editorPath: undefined,
      services: {},
    });
    // Its example, uncommented, is a valid service.
    const text = (await readFile(path, "utf8")).replace(
      /^# (\[services|command =|cwd =|env =)/gm,
      "$1",
    );
    await writeFile(path, text);
    expect((await readWorkspaceFile(path))?.services.web).toEqual({
      command: "python3 -m http.server 8000",
      cwd: "/home/user/app",
      env: { PORT: "8000" },
    });
  });

  test("a broken file is a usage error naming the file and the key; a missing one is undefined", async () => {
    const cases: [string, RegExp][] = [
      ['name = "x"\nvcpus = "two"\n', /vcpus/],
      ['name = "x"\n[services.web]\ncmd = "x"\n', /services\.web has an unknown key "cmd"/],
      ['name = "x"\n[editor]\npath = "app"\n', /editor\.path must be an absolute path/],
      ['name = "x"\nname = "y"\n', /invalid TOML/],
    ];
    for (const [text, message] of cases) {
      const path = join(dir, "broken.toml");
      await writeFile(path, text);
      const error = await readWorkspaceFile(path).catch((e: unknown) => e);
      expect(error, text).toBeInstanceOf(CliError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toMatch(message);
    }
    expect(await readWorkspaceFile(join(dir, "none.toml"))).toBeUndefined();
  });

  test("a command finds the file of its workspace: --file must be it, this directory's may be another's", async () => {
    const path = join(dir, "mine.toml");
    await writeFile(path, 'name = "mine"\n');
    expect((await workspaceFileFor("mine", path))?.name).toBe("mine");
    await expect(workspaceFileFor("yours", path)).rejects.toThrow(
      /is for workspace mine, not yours/,
    );
    await expect(workspaceFileFor("mine", join(dir, "none.toml"))).rejects.toThrow(
      /no workspace file/,
    );
  });
});
