import { invalidInput } from "../errors/error-codes.js";
import {
  LIMITS,
  RUNTIME_PATTERN,
  SANDBOX_ID_PATTERN,
  SANDBOX_NAME_PATTERN,
  SNAPSHOT_ID_PATTERN,
  SNAPSHOT_NAME_PATTERN,
  TEMPLATE_PATTERN,
} from "../limits.js";
import type { Resources } from "../schemas/sandbox-schemas.js";

const templatePattern = new RegExp(TEMPLATE_PATTERN);
const runtimePattern = new RegExp(RUNTIME_PATTERN);
const sandboxIdPattern = new RegExp(SANDBOX_ID_PATTERN);
const sandboxNamePattern = new RegExp(SANDBOX_NAME_PATTERN);
const snapshotIdPattern = new RegExp(SNAPSHOT_ID_PATTERN);
const snapshotNamePattern = new RegExp(SNAPSHOT_NAME_PATTERN);

export function isSnapshotId(id: unknown): id is string {
  return typeof id === "string" && snapshotIdPattern.test(id);
}

export function checkSnapshotId(id: unknown): string {
  if (!isSnapshotId(id)) throw invalidInput("snapshot id must look like snap-1a2b3c4d");
  return id;
}

/** A snapshot's name, as given at snapshot time; undefined when none was. */
export function checkSnapshotName(name: unknown): string | undefined {
  if (name === undefined || name === null || name === "") return undefined;
  if (typeof name !== "string" || !snapshotNamePattern.test(name)) {
    throw invalidInput(
      `name must match ${SNAPSHOT_NAME_PATTERN} (lower-case letters, digits, _ and -, at most ${LIMITS.snapshotNameLength} characters)`,
    );
  }
  return name;
}

/** How many sandboxes one fork creates (E2B: count 1..100, default 1). */
export function checkForkCount(count: unknown): number {
  if (count === undefined || count === null) return LIMITS.forkCount.default;
  return checkIntegerIn("count", count, LIMITS.forkCount);
}

export function checkIntegerIn(
  name: string,
  value: unknown,
  range: { readonly min: number; readonly max: number },
): number {
  if (
    typeof value !== "number" ||
    !Number.isInteger(value) ||
    value < range.min ||
    value > range.max
  ) {
    throw invalidInput(`${name} must be an integer from ${range.min} to ${range.max}`);
  }
  return value;
}

export function checkResources(r: Resources): Resources {
  return {
    vcpus: checkIntegerIn("vcpus", r.vcpus, LIMITS.vcpus),
    memoryMb: checkIntegerIn("memoryMb", r.memoryMb, LIMITS.memoryMb),
    diskMb: checkIntegerIn("diskMb", r.diskMb, LIMITS.diskMb),
  };
}

/**
 * A sandbox's lifetime as asked for. 0 means "no limit of my own": the longest this server
 * allows (LIMITS.timeoutSeconds.max), the same way an exec timeout of 0 means no limit. It never
 * means "end now". Returns the seconds to apply.
 */
export function checkTimeout(seconds: unknown, name = "timeout"): number {
  const value = checkIntegerIn(name, seconds, LIMITS.timeoutSeconds);
  return value === 0 ? LIMITS.timeoutSeconds.max : value;
}

/** A runtime driver's name; whether a host has it is checkRuntimeAvailable's question. */
export function checkRuntimeName(runtime: unknown): string {
  if (typeof runtime !== "string" || !runtimePattern.test(runtime)) {
    throw invalidInput(`runtime must match ${RUNTIME_PATTERN}`);
  }
  return runtime;
}

export function checkTemplateName(template: unknown): string {
  if (
    typeof template !== "string" ||
    template.length > LIMITS.templateLength ||
    !templatePattern.test(template)
  ) {
    throw invalidInput(
      `template must match ${TEMPLATE_PATTERN} and be at most ${LIMITS.templateLength} characters`,
    );
  }
  return template;
}

export function isSandboxId(id: unknown): id is string {
  return typeof id === "string" && sandboxIdPattern.test(id);
}

export function checkSandboxId(id: unknown): string {
  if (!isSandboxId(id)) throw invalidInput("sandbox id must look like sb-1a2b3c4d");
  return id;
}

export function isSandboxName(name: unknown): name is string {
  return (
    typeof name === "string" &&
    name.length <= LIMITS.sandboxNameLength &&
    sandboxNamePattern.test(name) &&
    !sandboxIdPattern.test(name)
  );
}

export function checkSandboxName(name: unknown): string {
  if (!isSandboxName(name)) {
    throw invalidInput(
      `name must be 1-${LIMITS.sandboxNameLength} lowercase letters, digits and hyphens, start and end with a letter or digit, and not look like a sandbox id (sb-1a2b3c4d)`,
    );
  }
  return name;
}
