// The admin and template answers are handed back in the contract's own shape (the CLI prints
// them as JSON unchanged). Only their frame is checked here, so a server of another kind fails
// with a clear UnexpectedResponseError rather than an undefined deep in the caller's code.
import { Shape } from "../json-shape.js";

/** `value` as the contract type T, once it is an object whose `arrays` fields are arrays. */
export function wireObject<T>(value: unknown, where: string, arrays: (keyof T & string)[] = []): T {
  const shape = Shape.of(value, where);
  for (const name of arrays) shape.array(name);
  return value as T;
}

export const enc = encodeURIComponent;
