// Flag values checked where they are parsed, so a bad one is a usage error (exit 2).
import { usageError } from "../exit-codes.js";

/** `--metadata k=v` and `--env K=V`, repeatable. */
export function collectPairs(value: string, previous: Record<string, string> = {}) {
  const at = value.indexOf("=");
  if (at <= 0) throw usageError(`expected KEY=VALUE, got ${JSON.stringify(value)}`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

export function positiveInt(name: string) {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1)
      throw usageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

/** Like positiveInt, but 0 is allowed (a timeout of 0: the longest the server allows). */
export function nonNegativeInt(name: string) {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value))
      throw usageError(`${name} must be a whole number of 0 or more, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}
