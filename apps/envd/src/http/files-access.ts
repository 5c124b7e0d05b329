import type { IncomingMessage } from "node:http";
import { ENVD_ACCESS_TOKEN_HEADER, ENVD_ERROR_HEADER, ENVD_UNKNOWN_USER } from "@wrenn/contract";
import { resolveUser } from "../auth/identity.js";
import { checkFilesAccess, type FileOperation } from "../auth/signature.js";
import type { SandboxState } from "../state/sandbox-state.js";
import type { SystemUser } from "../users/passwd.js";
import { parseQuery, type QueryError } from "./query.js";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Extra response headers (ENVD_ERROR_HEADER). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface FilesRequest {
  /** The `path` query parameter as sent (signatures cover it verbatim). */
  path: string | undefined;
  user: SystemUser;
}

// /files accepts the access token as a header or a signature made with it (E2B §3e), and acts
// as `?username=` or the default user.
export function authorizeFiles(
  req: IncomingMessage,
  state: SandboxState,
  operation: FileOperation,
): FilesRequest {
  let query: Map<string, string>;
  try {
    query = parseQuery(req.url ?? "");
  } catch (error) {
    throw new HttpError(400, (error as QueryError).message);
  }
  const path = query.get("path");
  const username = query.get("username");
  const header = req.headers[ENVD_ACCESS_TOKEN_HEADER];
  const denied = checkFilesAccess(state.token, {
    headerToken: typeof header === "string" ? header : undefined,
    signature: query.get("signature"),
    expiration: query.get("signature_expiration"),
    path: path ?? "",
    username,
    operation,
  });
  if (denied) throw new HttpError(401, denied);
  try {
    return { path, user: resolveUser(username, state) };
  } catch (error) {
    throw new HttpError(401, (error as Error).message, {
      [ENVD_ERROR_HEADER]: ENVD_UNKNOWN_USER,
    });
  }
}
