import { checkSandboxPath, ENV_VAR_NAME_PATTERN, IO_LIMITS, LIMITS } from "@wrenn/contract";
import { invalidRequest, validated } from "../service/errors.js";
import { checkText } from "../service/text-rules.js";

/** A command as an API client asks for it: a program with arguments, or a shell command line. */
export interface CommandInput {
  /** Program to run (looked up on PATH by envd); with `args`. */
  cmd?: string;
  args?: string[];
  /** A command line run by `/bin/bash -l -c`, like E2B's commands.run. */
  command?: string;
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
  /** 0 means no limit (the sandbox's own end time still applies). */
  timeoutSeconds?: number;
}

/** What envd is asked to start. */
export interface CommandSpec {
  cmd: string;
  args: string[];
  envs: Record<string, string>;
  cwd?: string;
  user?: string;
  timeoutSeconds: number;
  /** For the audit trail and logs: the command as one line, cut to a readable length. */
  display: string;
}

const userPattern = new RegExp(IO_LIMITS.userPattern);
const envNamePattern = new RegExp(ENV_VAR_NAME_PATTERN);

export function checkUser(user: string | undefined): string | undefined {
  if (user === undefined) return undefined;
  if (!userPattern.test(user))
    throw invalidRequest(
      `user must match ${IO_LIMITS.userPattern}, got ${JSON.stringify(user.slice(0, 40))}`,
    );
  return user;
}

/** Absolute, or relative to the user's home (envd resolves it); no NUL bytes. */
export function checkPath(path: unknown, name = "path"): string {
  return validated(() => checkSandboxPath(path, name));
}

function checkEnv(env: Record<string, string> | undefined): Record<string, string> {
  if (env === undefined) return {};
  const entries = Object.entries(env);
  if (entries.length > LIMITS.envVarEntries)
    throw invalidRequest(`env has more than ${LIMITS.envVarEntries} entries`);
  for (const [name, value] of entries) {
    if (name.length > LIMITS.envVarNameLength || !envNamePattern.test(name))
      throw invalidRequest(`env name ${JSON.stringify(name.slice(0, 40))} is not valid`);
    if (typeof value !== "string" || value.length > LIMITS.envVarValueLength)
      throw invalidRequest(
        `env ${name} must be a string of at most ${LIMITS.envVarValueLength} characters`,
      );
    checkText(`env ${name}`, value);
  }
  return { ...env };
}

const oneLine = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}…` : text);

/**
 * Validates a command (the HTTP and WebSocket schemas check shapes; this checks meaning, so
 * every entry point gets the same rules).
 */
export function normalizeCommand(input: CommandInput, defaultTimeout: number): CommandSpec {
  const hasCmd = input.cmd !== undefined;
  const hasShell = input.command !== undefined;
  if (hasCmd === hasShell) throw invalidRequest("give exactly one of cmd (with args) or command");
  if (hasShell && input.args !== undefined)
    throw invalidRequest("args go with cmd; command is one shell command line");
  const timeoutSeconds = input.timeoutSeconds ?? defaultTimeout;
  if (
    !Number.isInteger(timeoutSeconds) ||
    timeoutSeconds < 0 ||
    timeoutSeconds > IO_LIMITS.execTimeoutSeconds.max
  )
    throw invalidRequest(
      `timeoutSeconds must be an integer from 0 to ${IO_LIMITS.execTimeoutSeconds.max}`,
    );
  const envs = checkEnv(input.env);
  const cwd = input.cwd === undefined ? undefined : checkPath(input.cwd, "cwd");
  const user = checkUser(input.user);
  if (hasShell) {
    const command = input.command as string;
    if (command.length === 0 || command.length > IO_LIMITS.commandLength || command.includes("\0"))
      throw invalidRequest(
        `command must be 1 to ${IO_LIMITS.commandLength} characters without NUL`,
      );
    return {
      cmd: "/bin/bash",
      args: ["-l", "-c", command],
      envs,
      cwd,
      user,
      timeoutSeconds,
      display: oneLine(command),
    };
  }
  const cmd = input.cmd as string;
  if (cmd.length === 0 || cmd.length > IO_LIMITS.pathLength || cmd.includes("\0"))
    throw invalidRequest(`cmd must be 1 to ${IO_LIMITS.pathLength} characters without NUL`);
  const args = input.args ?? [];
  if (args.length > IO_LIMITS.args) throw invalidRequest(`at most ${IO_LIMITS.args} args`);
  for (const arg of args) {
    if (typeof arg !== "string" || arg.length > IO_LIMITS.argLength || arg.includes("\0"))
      throw invalidRequest(
        `every arg must be a string of at most ${IO_LIMITS.argLength} characters without NUL`,
      );
  }
  return { cmd, args, envs, cwd, user, timeoutSeconds, display: oneLine([cmd, ...args].join(" ")) };
}

/** The interactive login shell of a terminal, set up as E2B's pty.create does. */
export function terminalCommand(input: {
  env?: Record<string, string>;
  cwd?: string;
  user?: string;
}): CommandSpec {
  return {
    cmd: "/bin/bash",
    args: ["-i", "-l"],
    envs: { TERM: "xterm-256color", LANG: "C.UTF-8", LC_ALL: "C.UTF-8", ...checkEnv(input.env) },
    cwd: input.cwd === undefined ? undefined : checkPath(input.cwd, "cwd"),
    user: checkUser(input.user),
    timeoutSeconds: 0,
    display: "/bin/bash -i -l (terminal)",
  };
}
