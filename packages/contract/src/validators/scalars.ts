import { invalidInput } from "../errors/error-codes.js";
import { LIMITS, SANDBOX_ID_PATTERN, SANDBOX_NAME_PATTERN, TEMPLATE_PATTERN } from "../limits.js";
import type { Resources } from "../schemas/sandbox-schemas.js";

const templatePattern = new RegExp(TEMPLATE_PATTERN);
const sandboxIdPattern = new RegExp(SANDBOX_ID_PATTERN);
const sandboxNamePattern = new RegExp(SANDBOX_NAME_PATTERN);

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
