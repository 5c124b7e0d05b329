// User profiles: ~/.config/wrenn/profiles/NAME.toml. Checked strictly, because a profile is a
// security policy: an unknown key, a wrong type or an out-of-range value is an error, and a
// broken file is never replaced by anything looser (keys left out come from `extends`,
// default `strict`, the tightest profile).
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { CliError, EXIT } from "../exit-codes.js";
import { profilesDir } from "./config-paths.js";
import { BUILTIN_PROFILES, type RunProfile } from "./run-profile.js";
import { readTomlFile, rejectUnknownKeys } from "./toml-file.js";

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const KEYS = [
  "description",
  "extends",
  "network",
  "mount",
  "vcpus",
  "memory_mb",
  "timeout_seconds",
  "template",
];
// The control plane's own limits, checked here so the error names the file.
const RANGES = {
  vcpus: [1, 64],
  memory_mb: [128, 262_144],
  timeout_seconds: [1, 86_400],
} as const;

export const PROFILE_FILE_HELP = `Profile files: $XDG_CONFIG_HOME/wrenn/profiles/NAME.toml (default ~/.config/wrenn/profiles)
  description = "CI jobs"          # shown by wrenn profile ls
  extends = "default"              # built-in to start from (default: strict)
  network = "none"                 # none | egress
  mount = "read-only"              # read-only | read-write (DIR at /workspace)
  vcpus = 2                        # 1-64
  memory_mb = 2048                 # 128-262144
  timeout_seconds = 900            # 1-86400
  template = "base"
Keys left out come from the profile named by extends (strict when not given). Unknown keys,
wrong types, out-of-range values and bad TOML are errors; built-in names cannot be redefined.`;

function fail(path: string, message: string): never {
  throw new CliError(`${path}: ${message}`, EXIT.usage);
}

function oneOf<T extends string>(path: string, key: string, value: unknown, allowed: T[]): T {
  if (typeof value !== "string" || !allowed.includes(value as T)) {
    fail(path, `${key} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}`);
  }
  return value as T;
}

function integer(path: string, key: keyof typeof RANGES, value: unknown): number {
  const [min, max] = RANGES[key];
  // smol-toml gives integers as numbers (bigint only beyond 2^53, which is out of range anyway).
  const n = typeof value === "bigint" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n)) fail(path, `${key} must be an integer`);
  if (n < min || n > max) fail(path, `${key} must be from ${min} to ${max}, got ${n}`);
  return n;
}

/** Checks a parsed profile file and lays it over its base. */
export function profileFromToml(
  name: string,
  path: string,
  table: Record<string, unknown>,
): RunProfile {
  rejectUnknownKeys(path, table, KEYS);
  const baseName =
    table.extends === undefined
      ? "strict"
      : oneOf(path, "extends", table.extends, Object.keys(BUILTIN_PROFILES));
  const base = BUILTIN_PROFILES[baseName]!;
  const profile: RunProfile = { ...base, name, source: path, description: `${baseName}, changed` };
  if (table.description !== undefined) {
    if (typeof table.description !== "string" || table.description.length > 200)
      fail(path, "description must be a string of at most 200 characters");
    profile.description = table.description;
  }
  if (table.network !== undefined)
    profile.network = oneOf(path, "network", table.network, ["none", "egress"]);
  if (table.mount !== undefined)
    profile.mount = oneOf(path, "mount", table.mount, ["read-only", "read-write"]);
  if (table.vcpus !== undefined) profile.vcpus = integer(path, "vcpus", table.vcpus);
  if (table.memory_mb !== undefined) profile.memoryMb = integer(path, "memory_mb", table.memory_mb);
  if (table.timeout_seconds !== undefined)
    profile.timeoutSeconds = integer(path, "timeout_seconds", table.timeout_seconds);
  if (table.template !== undefined) {
    if (typeof table.template !== "string" || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(table.template))
      fail(path, 'template must be a template name such as "base"');
    profile.template = table.template;
  }
  return profile;
}

/** A built-in, or the user's file of that name; a missing profile is a not-found error. */
export async function loadProfile(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunProfile> {
  if (!NAME.test(name)) {
    throw new CliError(
      `profile names are lower-case letters, digits, - and _; got ${JSON.stringify(name)}`,
      EXIT.usage,
    );
  }
  const path = join(profilesDir(env), `${name}.toml`);
  const table = await readTomlFile(path);
  const builtin = BUILTIN_PROFILES[name];
  if (builtin) {
    // A file that redefined a built-in could quietly loosen `strict` for every script that
    // names it: refuse it rather than pick one of the two.
    if (table !== undefined)
      fail(
        path,
        `"${name}" is a built-in profile and cannot be redefined; use another name with extends = "${name}"`,
      );
    return builtin;
  }
  if (table === undefined) {
    throw new CliError(
      `no profile ${JSON.stringify(name)}: built-ins are ${Object.keys(BUILTIN_PROFILES).join(", ")}; user profiles live in ${profilesDir(env)}`,
      EXIT.notFound,
    );
  }
  return profileFromToml(name, path, table);
}

/** Every profile; a broken file shows up as an error entry rather than hiding the others. */
export async function listProfiles(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ profiles: RunProfile[]; errors: { file: string; error: string }[] }> {
  const profiles = Object.values(BUILTIN_PROFILES);
  const errors: { file: string; error: string }[] = [];
  const dir = profilesDir(env);
  const files = await readdir(dir).catch(() => [] as string[]);
  for (const file of files.filter((f) => f.endsWith(".toml")).sort()) {
    try {
      profiles.push(await loadProfile(file.slice(0, -".toml".length), env));
    } catch (error) {
      errors.push({ file: join(dir, file), error: (error as Error).message });
    }
  }
  return { profiles, errors };
}
