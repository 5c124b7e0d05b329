import { access, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import {
  ContractError,
  checkWorkspaceFile,
  WORKSPACE_FILE_NAME,
  type WorkspaceFile,
} from "@wrenn/contract";
import { stringify } from "smol-toml";
import { CliError, EXIT, usageError } from "../exit-codes.js";
import { readTomlFile } from "./toml-file.js";

/** The file a command reads: --file, else wrenn-workspace.toml in the current directory. */
export const workspaceFilePath = (flag: string | undefined) => resolve(flag ?? WORKSPACE_FILE_NAME);

/**
 * The workspace file at `path`, checked by the contract's rules; undefined when there is none.
 * A broken one is a usage error naming the file and the key.
 */
export async function readWorkspaceFile(path: string): Promise<WorkspaceFile | undefined> {
  const parsed = await readTomlFile(path);
  if (parsed === undefined) return undefined;
  try {
    return checkWorkspaceFile(parsed);
  } catch (error) {
    if (error instanceof ContractError) throw usageError(`${path}: ${error.message}`);
    throw error;
  }
}

/**
 * The workspace file for workspace `name`: the one at --file (or in this directory) when it
 * names that workspace. A file for another workspace is refused when it was asked for by
 * --file, and ignored otherwise (this directory may belong to another workspace).
 */
export async function workspaceFileFor(
  name: string,
  flag: string | undefined,
): Promise<WorkspaceFile | undefined> {
  const path = workspaceFilePath(flag);
  const file = await readWorkspaceFile(path);
  if (!file) {
    if (flag !== undefined) throw usageError(`no workspace file at ${path}`);
    return undefined;
  }
  if (file.name === name) return file;
  if (flag !== undefined) {
    throw usageError(`${path} is for workspace ${file.name}, not ${name}`);
  }
  return undefined;
}

/** The TOML `wrenn ws init` writes: every key, with a comment saying what it does. */
export function renderWorkspaceFile(file: WorkspaceFile): string {
  const head = stringify({
    name: file.name,
    ...(file.image === undefined ? {} : { image: file.image }),
    vcpus: file.vcpus,
    memory_mb: file.memoryMb,
    disk_gb: file.diskGb,
  });
  const editor = file.editorPath === undefined ? {} : { editor: { path: file.editorPath } };
  const services = Object.fromEntries(
    Object.entries(file.services).map(([name, s]) => [
      name,
      {
        command: s.command,
        ...(s.cwd === undefined ? {} : { cwd: s.cwd }),
        ...(Object.keys(s.env).length ? { env: s.env } : {}),
      },
    ]),
  );
  return [
    "# A Wrenn workspace (wrenn ws --help). `wrenn ws create NAME` takes its image and sizes",
    "# from here; `wrenn code NAME` opens editor.path; `wrenn ws services restart NAME` starts",
    "# the services below in the workspace, kept running (restarted on exit) by its supervisor.",
    head.trimEnd(),
    "",
    stringify(editor).trimEnd(),
    "",
    "# [services.web]",
    '# command = "python3 -m http.server 8000"   # a shell line, run as the user',
    '# cwd = "/home/user/app"                     # default: the home directory',
    '# env = { PORT = "8000" }',
    ...(Object.keys(services).length ? [stringify({ services }).trimEnd()] : []),
    "",
  ].join("\n");
}

/** Writes a new workspace file; an existing one is never overwritten. */
export async function writeNewWorkspaceFile(path: string, file: WorkspaceFile): Promise<void> {
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new CliError(`${path} exists already; edit it, or remove it first`, EXIT.usage);
  }
  await writeFile(path, renderWorkspaceFile(file), { flag: "wx" });
}
