import { Code, ConnectError } from "@connectrpc/connect";
import { ENVD_ERROR_HEADER, ENVD_UNKNOWN_USER } from "@wrenn/contract";
import type { SandboxState } from "../state/sandbox-state.js";
import { lookupUser, type SystemUser } from "../users/passwd.js";

// Who a request acts as: E2B's SDK sends `Authorization: Basic base64("<user>:")` on RPCs
// when the caller names a user, and `?username=` on /files; otherwise the default user.

export class UnknownUserError extends Error {}

/** The username from a Basic authorization header, or undefined when there is none. */
export function basicAuthUsername(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Basic\s+([A-Za-z0-9+/=_-]*)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] ?? "", "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon < 0 ? decoded : decoded.slice(0, colon);
}

export function resolveUser(username: string | undefined, state: SandboxState): SystemUser {
  const name = username === undefined ? state.defaultUser : username;
  const user = lookupUser(name);
  if (!user) {
    throw new UnknownUserError(
      username === undefined ? `invalid default user: '${name}'` : `invalid username: '${name}'`,
    );
  }
  return user;
}

export function rpcUser(headers: Headers, state: SandboxState): SystemUser {
  try {
    return resolveUser(basicAuthUsername(headers.get("authorization")), state);
  } catch (error) {
    // E2B's code for it; the header tells Wrenn's control plane it is not a token problem.
    throw new ConnectError((error as Error).message, Code.Unauthenticated, {
      [ENVD_ERROR_HEADER]: ENVD_UNKNOWN_USER,
    });
  }
}
