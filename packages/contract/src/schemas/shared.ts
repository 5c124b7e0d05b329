// Pieces every REST schema uses: the error body, nullable values, times, bounded string maps.
import { type Static, Type } from "typebox";

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({
        description: "A code of the error registry: branch on it, not on the status",
      }),
      message: Type.String(),
    }),
  },
  { description: "Every /v1 error" },
);

const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<number, typeof ErrorBody>;

/** Statuses any authenticated route can answer with. */
export const commonErrors = errors(400, 401, 403, 404, 409, 429, 500, 502, 503);

export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);
export const DateTime = Type.String({ format: "date-time" });

/**
 * An object of strings with bounded keys. Written with propertyNames rather than Type.Record:
 * a Record's key pattern only selects which values to check, it does not reject other keys.
 */
export const StringMap = (
  keyLength: number,
  valueLength: number,
  entries: number,
  options: { keyPattern?: string; description?: string } = {},
) =>
  Type.Unsafe<Record<string, string>>({
    type: "object",
    additionalProperties: { type: "string", maxLength: valueLength },
    propertyNames: {
      type: "string",
      minLength: 1,
      maxLength: keyLength,
      ...(options.keyPattern ? { pattern: options.keyPattern } : {}),
    },
    maxProperties: entries,
    ...(options.description ? { description: options.description } : {}),
  });

export type ErrorBody = Static<typeof ErrorBody>;
