// The workspace file (issue 15): what `wrenn ws init` writes and the workspace commands read —
// the workspace's name, image and sizes, where the editor opens, and the services a supervisor
// keeps running inside it. The CLI parses the TOML; the rules are here once, so every client
// that reads the file (the SDKs, the CLI) accepts exactly the same files.
import { invalidInput } from "./errors/error-codes.js";
import { checkEnvVars } from "./validators/string-maps.js";
import { checkText } from "./validators/text.js";
import { checkWorkspaceCreate, type WorkspaceSizes } from "./workspaces.js";

/** The file's name, in the directory the commands run in. */
export const WORKSPACE_FILE_NAME = "wrenn-workspace.toml";

export const WORKSPACE_FILE_LIMITS = {
  services: 32,
  /**
   * A service's name: a directory of its own in the workspace (~/.wrenn/services/NAME) and a
   * word on the command line, so lower-case letters, digits and inner dashes only.
   */
  serviceNamePattern: "^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$",
  commandLength: 4096,
  pathLength: 1024,
} as const;

export interface WorkspaceService {
  /** A shell line, run by /bin/sh in the workspace as the user. */
  command: string;
  /** Its working directory (absolute, in the workspace); the user's home when absent. */
  cwd?: string;
  env: Record<string, string>;
}

export interface WorkspaceFile extends WorkspaceSizes {
  name: string;
  image: string | undefined;
  /** Where `wrenn code` opens the editor when no path is given; the home directory if absent. */
  editorPath: string | undefined;
  services: Record<string, WorkspaceService>;
}

const serviceName = new RegExp(WORKSPACE_FILE_LIMITS.serviceNamePattern);

function table(what: string, value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidInput(`${what} must be a table`);
  }
  return value as Record<string, unknown>;
}

/** Unknown keys are typos that would otherwise be ignored: refused. */
function onlyKeys(what: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw invalidInput(
        `${what} has an unknown key ${JSON.stringify(key.slice(0, 40))} (known: ${known.join(", ")})`,
      );
    }
  }
}

/** An absolute path in the workspace: no NUL, not past the limit. */
function absolutePath(what: string, value: unknown): string {
  if (typeof value !== "string" || !value.startsWith("/")) {
    throw invalidInput(`${what} must be an absolute path in the workspace, like /home/user/app`);
  }
  if (value.length > WORKSPACE_FILE_LIMITS.pathLength) {
    throw invalidInput(`${what} is longer than ${WORKSPACE_FILE_LIMITS.pathLength} characters`);
  }
  return checkText(what, value);
}

function checkService(name: string, value: unknown): WorkspaceService {
  const what = `services.${name}`;
  const raw = table(what, value);
  onlyKeys(what, raw, ["command", "cwd", "env"]);
  const command = raw.command;
  if (typeof command !== "string" || command.trim() === "") {
    throw invalidInput(`${what}.command must be a shell line, like "npm run dev"`);
  }
  if (command.length > WORKSPACE_FILE_LIMITS.commandLength) {
    throw invalidInput(
      `${what}.command is longer than ${WORKSPACE_FILE_LIMITS.commandLength} characters`,
    );
  }
  checkText(`${what}.command`, command);
  return {
    command,
    ...(raw.cwd === undefined ? {} : { cwd: absolutePath(`${what}.cwd`, raw.cwd) }),
    env: checkEnvVars(raw.env, `${what}.env`),
  };
}

/**
 * The parsed TOML of a workspace file, checked: sizes by the workspace create's own rules
 * (absent ones take its defaults), services by the rules above. Throws ContractError
 * (invalid_request) with a message naming the key.
 */
export function checkWorkspaceFile(parsed: unknown): WorkspaceFile {
  const raw = table("the workspace file", parsed);
  onlyKeys("the workspace file", raw, [
    "name",
    "image",
    "vcpus",
    "memory_mb",
    "disk_gb",
    "editor",
    "services",
  ]);
  for (const key of ["vcpus", "memory_mb", "disk_gb"]) {
    // 0 means "the default" to a create; in a file it is a mistake.
    if (raw[key] === 0)
      throw invalidInput(`${key} must be at least 1 (leave it out for the default)`);
  }
  const spec = checkWorkspaceCreate({
    name: raw.name,
    image: raw.image,
    vcpus: raw.vcpus,
    memoryMb: raw.memory_mb,
    diskGb: raw.disk_gb,
  });
  let editorPath: string | undefined;
  if (raw.editor !== undefined) {
    const editor = table("editor", raw.editor);
    onlyKeys("editor", editor, ["path"]);
    if (editor.path !== undefined) editorPath = absolutePath("editor.path", editor.path);
  }
  const services: Record<string, WorkspaceService> = {};
  if (raw.services !== undefined) {
    const entries = Object.entries(table("services", raw.services));
    if (entries.length > WORKSPACE_FILE_LIMITS.services) {
      throw invalidInput(`services may have at most ${WORKSPACE_FILE_LIMITS.services} entries`);
    }
    for (const [name, value] of entries) {
      if (!serviceName.test(name)) {
        throw invalidInput(
          `services has an invalid name ${JSON.stringify(name.slice(0, 40))}: lower-case letters, digits and inner dashes, at most 32`,
        );
      }
      services[name] = checkService(name, value);
    }
  }
  return { ...spec, editorPath, services };
}

/** A service name as the commands take it (`wrenn ws services restart NAME SVC`). */
export function isServiceName(name: unknown): name is string {
  return typeof name === "string" && serviceName.test(name);
}
