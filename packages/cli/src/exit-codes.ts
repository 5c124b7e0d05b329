// What `wrenn` exits with, so scripts can tell failures apart (documented in `wrenn --help`).
export const EXIT = {
  ok: 0,
  /** Anything else that went wrong. */
  error: 1,
  /** Bad flags or arguments, or a bad config or profile file. */
  usage: 2,
  /** The sandbox (key, file, profile, ...) does not exist. */
  notFound: 3,
  /** No API key, a wrong or revoked one, or one without the right (admin, mounts). */
  auth: 4,
  /** The API could not be reached (is the stack up? `wrenn up`). */
  unreachable: 5,
  /** `wrenn run`: the profile's timeout ended the command (as timeout(1) does). */
  timeout: 124,
  /** Interrupted by Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    error
  2    usage error (bad flags, arguments, config or profile file)
  3    not found (sandbox, key, file, profile)
  4    authentication or permission (missing, wrong or non-admin API key)
  5    the API could not be reached
  124  wrenn run: the profile's timeout ended the command
  130  interrupted (Ctrl-C)
  exec and run exit with the command's own exit code (128+N when signal N ended it).`;

/**
 * An error the CLI reports as one line, with the exit code it means, and the server's contract
 * code (sandbox_not_found, mounts_not_allowed, ...) when the failure was the server's answer.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
    readonly code?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export const usageError = (message: string) => new CliError(message, EXIT.usage);
