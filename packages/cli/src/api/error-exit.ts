import type { ErrorCode } from "@wrenn/contract";
import {
  AuthenticationError,
  ConnectionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  WrennError,
} from "@wrenn/sdk";
import { CliError, EXIT } from "../exit-codes.js";

/** What the CLI adds to two of the contract's codes: how to get past the refusal. */
const ADVICE: Partial<Record<ErrorCode, string>> = {
  // Two codes: this key may not mount at all, or this directory may not be mounted by anyone
  // (outside the host agent's WRENN_MOUNT_ROOTS).
  mounts_not_allowed:
    "Mounting a host directory needs an admin API key (the one `wrenn up` prints, kept in .wrenn/admin-api-key), because the mount exposes the host's files to the sandbox.",
  mount_not_allowed:
    "Only directories under the host agent's WRENN_MOUNT_ROOTS can be mounted; move the directory there or widen WRENN_MOUNT_ROOTS.",
};

/**
 * Maps any failure to the line printed and the exit code that means it. Every API call goes
 * through @wrenn/sdk, whose typed errors carry the server's contract code: the class (chosen
 * by the contract's registry from that code) picks the exit code, and the code is kept.
 */
export function toCliError(
  error: unknown,
  server?: { apiUrl: string; urlSource: string },
): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof WrennError) return fromSdk(error, server);
  const e = (error ?? {}) as { name?: string; code?: unknown; message?: string };
  const message = e.message ?? String(error);
  // Sockets the CLI opens itself (port-forward's WebSocket) fail with Node's own errors.
  if (e.code === "ECONNREFUSED" || (e.name === "TypeError" && message === "fetch failed")) {
    return new CliError(
      `cannot reach the Wrenn API${server ? ` at ${server.apiUrl} (from ${server.urlSource})` : ""} (${message}); start it with \`wrenn up\` or set --api-url / WRENN_API_URL`,
      EXIT.unreachable,
    );
  }
  return new CliError(message, EXIT.error);
}

function fromSdk(e: WrennError, server?: { apiUrl: string; urlSource: string }): CliError {
  const advice = ADVICE[e.code as ErrorCode];
  if (advice) return new CliError(`${e.message}\n${advice}`, EXIT.auth, e.code);
  const exit = (exitCode: number, message = e.message) => new CliError(message, exitCode, e.code);
  // The SDK's own message already names the URL and says what to check.
  if (e instanceof ConnectionError) return exit(EXIT.unreachable);
  // The status too: an answer the SDK could not read still says "not found" or "forbidden".
  if (e instanceof NotFoundError || e.status === 404) return exit(EXIT.notFound);
  if (e instanceof AuthenticationError || e.status === 401) {
    const where = server ? ` (server ${server.apiUrl}, from ${server.urlSource})` : "";
    return exit(EXIT.auth, `${e.message}${where}`);
  }
  if (e instanceof PermissionDeniedError || e.status === 403) return exit(EXIT.auth);
  if (e instanceof InvalidArgumentError || e.status === 400) return exit(EXIT.usage);
  return exit(EXIT.error);
}
