import { Code, ConnectError } from "@connectrpc/connect";
import { PathError } from "../paths/resolve.js";

// One mapping from filesystem failures to Connect codes and HTTP statuses, so every endpoint
// answers the same failure the same way.
export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

export function connectCodeFor(error: unknown): Code {
  if (error instanceof PathError) return Code.InvalidArgument;
  switch (errnoOf(error)) {
    case "ENOENT":
      return Code.NotFound;
    case "EEXIST":
    case "ENOTEMPTY":
      return Code.AlreadyExists;
    case "ENOTDIR":
    case "EISDIR":
    case "EINVAL":
    case "ENAMETOOLONG":
    case "EXDEV":
    case "ERR_INVALID_ARG_VALUE":
    case "ERR_INVALID_ARG_TYPE":
      return Code.InvalidArgument;
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return Code.PermissionDenied;
    case "ELOOP":
      return Code.FailedPrecondition;
    case "ENOSPC":
    case "EDQUOT":
      return Code.ResourceExhausted;
    default:
      return Code.Internal;
  }
}

export function httpStatusFor(error: unknown): number {
  if (error instanceof PathError) return 400;
  // zlib: a request body that claims gzip but is not.
  if (errnoOf(error)?.startsWith("Z_")) return 400;
  switch (errnoOf(error)) {
    case "ENOENT":
      return 404;
    case "ENOSPC":
    case "EDQUOT":
      return 507;
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return 403;
    case "ENOTDIR":
    case "EISDIR":
    case "EINVAL":
    case "ENAMETOOLONG":
    case "ELOOP":
    case "EEXIST":
    case "ERR_INVALID_ARG_VALUE":
      return 400;
    default:
      return 500;
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function toConnectError(error: unknown, context: string): ConnectError {
  if (error instanceof ConnectError) return error;
  return new ConnectError(`${context}: ${describe(error)}`, connectCodeFor(error));
}
