// Schemas of exec, files and terminal: HTTP bodies and queries, and the WebSocket messages.
import { type Static, Type } from "typebox";
import { ENV_VAR_NAME_PATTERN, IO_LIMITS, LIMITS } from "../limits.js";
import { StringMap } from "./shared.js";

const Path = (description: string) =>
  Type.String({ minLength: 1, maxLength: IO_LIMITS.pathLength, description });
const User = Type.String({
  pattern: IO_LIMITS.userPattern,
  description: "Linux user in the sandbox (default: user, home /home/user)",
});
const Env = StringMap(LIMITS.envVarNameLength, LIMITS.envVarValueLength, LIMITS.envVarEntries, {
  keyPattern: ENV_VAR_NAME_PATTERN,
  description: "Added to the sandbox's environment for this command",
});
const BASE64 = "^[A-Za-z0-9+/]*={0,2}$";

/** The command fields shared by one-shot exec and the WebSocket start message. */
const commandFields = {
  cmd: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: IO_LIMITS.pathLength,
      description: "Program (searched on PATH); give args with it. Or use command.",
    }),
  ),
  args: Type.Optional(
    Type.Array(Type.String({ maxLength: IO_LIMITS.argLength }), { maxItems: IO_LIMITS.args }),
  ),
  command: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: IO_LIMITS.commandLength,
      description: "A shell command line, run by /bin/bash -l -c",
    }),
  ),
  env: Type.Optional(Env),
  cwd: Type.Optional(Path("Working directory (default: the user's home)")),
  user: Type.Optional(User),
};

export const ExecBody = Type.Object(
  {
    ...commandFields,
    timeoutSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: IO_LIMITS.execTimeoutSeconds.max,
        default: IO_LIMITS.execTimeoutSeconds.default,
        description: "The process is killed after this many seconds; 0: no limit",
      }),
    ),
    stdin: Type.Optional(
      Type.String({
        maxLength: IO_LIMITS.execStdinBytes,
        description: "Text written to stdin, which is then closed",
      }),
    ),
    stdinBase64: Type.Optional(
      Type.String({
        maxLength: Math.ceil(IO_LIMITS.execStdinBytes / 3) * 4,
        pattern: BASE64,
        description: "Bytes written to stdin (base64), which is then closed",
      }),
    ),
    encoding: Type.Optional(
      Type.Union([Type.Literal("utf8"), Type.Literal("base64")], {
        default: "utf8",
        description: "How stdout and stderr are returned (base64 keeps binary output intact)",
      }),
    ),
  },
  {
    additionalProperties: false,
    // What /docs fills in for "Try it out": each works as written against a running sandbox.
    examples: [
      { command: "echo hello from $(hostname) && ls /", timeoutSeconds: 30 },
      { cmd: "python3", args: ["-c", "print(6 * 7)"], cwd: "/tmp" },
    ],
  },
);

export const ExecResult = Type.Object({
  exitCode: Type.Integer({ description: "-1 when a signal ended the process" }),
  status: Type.String({ description: '"exit status N" or "signal: killed"' }),
  error: Type.Optional(Type.String()),
  stdout: Type.String(),
  stderr: Type.String(),
  encoding: Type.Union([Type.Literal("utf8"), Type.Literal("base64")]),
  timedOut: Type.Boolean(),
  truncated: Type.Boolean({
    description: `Output beyond ${IO_LIMITS.execOutputBytes} bytes per stream was read and counted (stdoutBytes, stderrBytes) but not returned`,
  }),
  stdoutBytes: Type.Integer(),
  stderrBytes: Type.Integer(),
  durationMs: Type.Integer(),
});

export const FileQuery = Type.Object(
  {
    path: Path("Absolute, or relative to the user's home"),
    user: Type.Optional(User),
  },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(
  {
    path: Path("Directory, absolute or relative to the user's home"),
    depth: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: IO_LIMITS.listDepth.max,
        default: IO_LIMITS.listDepth.default,
      }),
    ),
    user: Type.Optional(User),
  },
  { additionalProperties: false },
);

export const PathBody = Type.Object(
  { path: Path("Absolute, or relative to the user's home"), user: Type.Optional(User) },
  { additionalProperties: false, examples: [{ path: "/tmp/work/data" }] },
);

export const MoveBody = Type.Object(
  { from: Path("Current path"), to: Path("New path"), user: Type.Optional(User) },
  { additionalProperties: false, examples: [{ from: "/tmp/work/data", to: "/tmp/work/archive" }] },
);

export const FileEntry = Type.Object({
  name: Type.String(),
  type: Type.Union([Type.Literal("file"), Type.Literal("directory"), Type.Literal("symlink")]),
  path: Type.String(),
  size: Type.Integer(),
  mode: Type.Integer(),
  permissions: Type.String(),
  owner: Type.String(),
  group: Type.String(),
  modifiedAt: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  symlinkTarget: Type.Optional(Type.String()),
});

export const FileList = Type.Object({ entries: Type.Array(FileEntry) });

export const Uploaded = Type.Object({
  path: Type.String(),
  name: Type.String(),
  bytes: Type.Integer(),
});

const Size = (fallback?: number) =>
  Type.Integer({
    minimum: IO_LIMITS.terminalSize.min,
    maximum: IO_LIMITS.terminalSize.max,
    ...(fallback === undefined ? {} : { default: fallback }),
  });
const TerminalSize = Size();

export const TerminalQuery = Type.Object(
  {
    cols: Type.Optional(Size(80)),
    rows: Type.Optional(Size(24)),
    cwd: Type.Optional(Path("Working directory of the shell")),
    user: Type.Optional(User),
  },
  { additionalProperties: false },
);

// ---- WebSocket messages (client → server, text frames) ----------------------------------

const Signal = Type.Union([Type.Literal("SIGTERM"), Type.Literal("SIGKILL")]);

export const WsExecStart = Type.Object(
  {
    type: Type.Literal("start"),
    ...commandFields,
    timeoutSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: IO_LIMITS.execTimeoutSeconds.max }),
    ),
    stdin: Type.Optional(
      Type.Boolean({ description: "Keep stdin open for stdin messages (default true)" }),
    ),
  },
  { additionalProperties: false },
);

const WsStdin = Type.Object(
  {
    type: Type.Literal("stdin"),
    data: Type.Optional(Type.String({ maxLength: IO_LIMITS.wsMessageBytes })),
    dataBase64: Type.Optional(
      Type.String({ maxLength: IO_LIMITS.wsMessageBytes, pattern: BASE64 }),
    ),
  },
  { additionalProperties: false },
);
const WsEof = Type.Object({ type: Type.Literal("eof") }, { additionalProperties: false });
const WsSignal = Type.Object(
  { type: Type.Literal("signal"), signal: Signal },
  { additionalProperties: false },
);
const WsResize = Type.Object(
  { type: Type.Literal("resize"), cols: TerminalSize, rows: TerminalSize },
  { additionalProperties: false },
);
const WsInput = Type.Object(
  { type: Type.Literal("input"), data: Type.String({ maxLength: IO_LIMITS.wsMessageBytes }) },
  { additionalProperties: false },
);

/** After start, an exec stream takes stdin, eof and signal. */
export const WsExecMessage = Type.Union([WsStdin, WsEof, WsSignal]);
/** A terminal takes input (or binary frames), resize and signal. */
export const WsTerminalMessage = Type.Union([WsInput, WsResize, WsSignal]);

export type ExecBody = Static<typeof ExecBody>;
export type ExecResult = Static<typeof ExecResult>;
export type FileEntry = Static<typeof FileEntry>;
export type FileList = Static<typeof FileList>;
export type Uploaded = Static<typeof Uploaded>;
