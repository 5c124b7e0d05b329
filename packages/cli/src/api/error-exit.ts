import { CliError, EXIT } from "../exit-codes.js";

/** The SDK's typed errors and our own API errors both carry an HTTP status and a code. */
interface CodedError {
  name?: string;
  code?: unknown;
  status?: unknown;
  message?: string;
}

/** Maps any failure to the line printed and the exit code that means it. */
export function toCliError(
  error: unknown,
  server?: { apiUrl: string; urlSource: string },
): CliError {
  if (error instanceof CliError) return error;
  const e = (error ?? {}) as CodedError;
  const message = e.message ?? String(error);
  const status = typeof e.status === "number" ? e.status : undefined;
  // Two codes (the contract's registry): this key may not mount at all, or this directory may
  // not be mounted by anyone (outside the host agent's WRENN_MOUNT_ROOTS).
  if (e.code === "mounts_not_allowed") {
    return new CliError(
      `${message}\nMounting a host directory needs an admin API key (the one \`wrenn up\` prints, kept in .wrenn/admin-api-key), because the mount exposes the host's files to the sandbox.`,
      EXIT.auth,
    );
  }
  if (e.code === "mount_not_allowed") {
    return new CliError(
      `${message}\nOnly directories under the host agent's WRENN_MOUNT_ROOTS can be mounted; move the directory there or widen WRENN_MOUNT_ROOTS.`,
      EXIT.auth,
    );
  }
  // The SDK's own message already names the URL and says what to check.
  if (e.name === "ConnectionError") return new CliError(message, EXIT.unreachable);
  if (
    e.code === "unreachable" ||
    e.code === "ECONNREFUSED" ||
    (e.name === "TypeError" && message === "fetch failed")
  ) {
    return new CliError(
      `cannot reach the Wrenn API${server ? ` at ${server.apiUrl} (from ${server.urlSource})` : ""} (${message}); start it with \`wrenn up\` or set --api-url / WRENN_API_URL`,
      EXIT.unreachable,
    );
  }
  if (status === 404 || e.name?.endsWith("NotFoundError"))
    return new CliError(message, EXIT.notFound);
  if (status === 401 || e.name === "AuthenticationError")
    return new CliError(
      server ? `${message} (server ${server.apiUrl}, from ${server.urlSource})` : message,
      EXIT.auth,
    );
  if (status === 403 || e.name === "PermissionDeniedError") return new CliError(message, EXIT.auth);
  if (status === 400 || e.name === "InvalidArgumentError") return new CliError(message, EXIT.usage);
  return new CliError(message, EXIT.error);
}
