import { invalidInput } from "../errors/error-codes.js";
import { ENV_VAR_NAME_PATTERN, LIMITS } from "../limits.js";
import { checkText } from "./text.js";

interface MapLimits {
  entries: number;
  key: number;
  value: number;
  keyPattern?: RegExp;
}

function checkStringMap(name: string, value: unknown, limits: MapLimits): Record<string, string> {
  if (value === undefined) return {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw invalidInput(`${name} must be an object of strings`);
  }
  const entries = Object.entries(value);
  if (entries.length > limits.entries)
    throw invalidInput(`${name} may have at most ${limits.entries} entries`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (
      k.length === 0 ||
      k.length > limits.key ||
      (limits.keyPattern && !limits.keyPattern.test(k))
    ) {
      throw invalidInput(`${name} has an invalid key ${JSON.stringify(k.slice(0, 40))}`);
    }
    if (typeof v !== "string" || v.length > limits.value) {
      throw invalidInput(
        `${name}.${k.slice(0, 40)} must be a string of at most ${limits.value} characters`,
      );
    }
    checkText(`${name} key ${JSON.stringify(k.slice(0, 40))}`, k);
    checkText(`${name}.${k.slice(0, 40)}`, v);
    out[k] = v;
  }
  return out;
}

export function checkMetadata(value: unknown): Record<string, string> {
  return checkStringMap("metadata", value, {
    entries: LIMITS.metadataEntries,
    key: LIMITS.metadataKeyLength,
    value: LIMITS.metadataValueLength,
  });
}

const envNamePattern = new RegExp(ENV_VAR_NAME_PATTERN);

export function checkEnvVars(value: unknown, name = "envVars"): Record<string, string> {
  return checkStringMap(name, value, {
    entries: LIMITS.envVarEntries,
    key: LIMITS.envVarNameLength,
    value: LIMITS.envVarValueLength,
    keyPattern: envNamePattern,
  });
}
