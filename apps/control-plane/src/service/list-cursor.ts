import type { ListPosition } from "../store/sandbox-store.js";
import { ServiceError } from "./errors.js";
import { SANDBOX_ID_PATTERN } from "./ids.js";

/**
 * Opaque to clients: the position (start time in ms, id) of the last row of the previous page.
 * Start times are stored truncated to milliseconds so this round trip is exact.
 */
export function encodeCursor(position: ListPosition): string {
  return Buffer.from(JSON.stringify([position.startedAt.getTime(), position.id])).toString(
    "base64url",
  );
}

/** idPattern: what the rows of this list are (sandboxes unless said otherwise). */
export function decodeCursor(cursor: string, idPattern: RegExp = SANDBOX_ID_PATTERN): ListPosition {
  const invalid = new ServiceError(
    "invalid_cursor",
    "the pagination token is not one this server issued",
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== "string" ||
    !idPattern.test(parsed[1])
  ) {
    throw invalid;
  }
  const startedAt = new Date(parsed[0] as number);
  if (Number.isNaN(startedAt.getTime())) throw invalid;
  return { startedAt, id: parsed[1] };
}
