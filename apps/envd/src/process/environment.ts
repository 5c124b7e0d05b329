import type { SystemUser } from "../users/passwd.js";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export class EnvironmentError extends Error {}

// E2B: only PATH comes from envd's own environment; then the user's identity, the sandbox's
// variables from /init, and the request's own, later ones winning.
export function processEnvironment(
  user: SystemUser,
  sandboxVars: Record<string, string>,
  requestVars: Record<string, string>,
): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH || DEFAULT_PATH,
    HOME: user.home,
    USER: user.username,
    LOGNAME: user.username,
  };
  if (user.shell) env.SHELL = user.shell;
  for (const vars of [sandboxVars, requestVars]) {
    for (const [key, value] of Object.entries(vars)) {
      if (key === "" || key.includes("=") || key.includes("\0")) {
        throw new EnvironmentError(`invalid environment variable name '${key}'`);
      }
      if (value.includes("\0")) {
        throw new EnvironmentError(`environment variable '${key}' contains a NUL byte`);
      }
      env[key] = value;
    }
  }
  return env;
}
