// One command in a sandbox with its output streamed here: shared by `sandbox exec` and `run`.
import { constants } from "node:os";
import { CommandExitError, CommandTimeoutError, type Sandbox } from "@wrenn/sdk";
import { EXIT } from "../exit-codes.js";
import { writeOut } from "../output/stdio.js";
import { chunksUpTo, inOrder } from "./in-order.js";

/**
 * The most bytes of stdin (or of a terminal's keys) one call carries: each is a round trip to
 * the sandbox, one at a time, so a piped file goes in few of them (envd takes 32 MiB a call).
 */
export const STDIN_CALL_BYTES = 1024 * 1024;
/** Chunks of stdin (64 KiB at most each) waiting to be sent before reading stops. */
const STDIN_QUEUED_CHUNKS = 16;

/**
 * The remote shell line for argv. One argument is taken as a shell line as it is (so
 * `exec ID -- 'ls | wc -l'` pipes inside the sandbox); several are quoted one by one, so
 * `exec ID -- printf '%s\n' "a b"` means what it would locally.
 */
export function shellLine(argv: string[]): string {
  if (argv.length === 1) return argv[0]!;
  return argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`))
    .join(" ");
}

/** envd reports "signal: killed" for -1: exit as a shell would, 128 + the signal's number. */
export function exitCodeOf(exitCode: number, error: string | undefined): number {
  if (exitCode >= 0) return exitCode;
  const name = /signal: (\w+)/.exec(error ?? "")?.[1]?.toLowerCase();
  const byName: Record<string, number> = {
    killed: constants.signals.SIGKILL,
    terminated: constants.signals.SIGTERM,
    interrupt: constants.signals.SIGINT,
    hangup: constants.signals.SIGHUP,
    aborted: constants.signals.SIGABRT,
    segmentation: constants.signals.SIGSEGV,
  };
  return 128 + (name && byName[name] ? byName[name] : constants.signals.SIGKILL);
}

export interface RemoteCommandOpts {
  cwd?: string;
  envs?: Record<string, string>;
  user?: string;
  /** Kill it after this long (then the result is `timedOut`). */
  timeoutMs?: number;
  /** Forward our stdin to it (closed at our EOF). */
  stdin?: boolean;
  /** Ctrl-C: what to do before returning 130 (the default kills the remote command). */
  onInterrupt?: () => Promise<void>;
}

export interface RemoteCommandResult {
  exitCode: number;
  timedOut: boolean;
  interrupted: boolean;
}

export async function runRemoteCommand(
  sandbox: Sandbox,
  line: string,
  o: RemoteCommandOpts = {},
): Promise<RemoteCommandResult> {
  const handle = await sandbox.commands.run(line, {
    background: true,
    cwd: o.cwd,
    envs: o.envs,
    user: o.user,
    timeoutMs: o.timeoutMs,
    stdin: o.stdin,
    // The raw bytes, never decoded text: `exec ID -- cat file.bin > out.bin` must copy exactly.
    onStdoutBytes: (chunk) => writeOut(process.stdout, chunk),
    onStderrBytes: (chunk) => writeOut(process.stderr, chunk),
    // Rare (a reader far behind through a reconnect), but then the output is not whole: say so.
    onReconnect: ({ lostBytes }) => {
      if (lostBytes > 0)
        process.stderr.write(`\nwrenn: ${lostBytes} bytes of the command's output were lost\n`);
    },
  });
  let interruptedOnce = false;
  let resolveInterrupt: (r: RemoteCommandResult) => void = () => {};
  const interrupted = new Promise<RemoteCommandResult>((resolve) => {
    resolveInterrupt = resolve;
  });
  const onSigint = () => {
    if (interruptedOnce) return;
    interruptedOnce = true;
    const cleanup = o.onInterrupt ? o.onInterrupt() : handle.kill().then(() => {});
    void cleanup
      .catch(() => {})
      .then(() =>
        resolveInterrupt({ exitCode: EXIT.interrupted, timedOut: false, interrupted: true }),
      );
  };
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  let ended = false;
  if (o.stdin) {
    // In order, one call at a time (in-order.ts); stdin is read no faster than it is sent, and
    // its end goes after its last bytes.
    const stdin = inOrder<Uint8Array>(
      (chunks) => handle.sendStdin(Buffer.concat(chunks)),
      chunksUpTo(STDIN_CALL_BYTES),
    );
    process.stdin.on("data", (chunk: Buffer) => {
      stdin.push(chunk);
      if (stdin.queued > STDIN_QUEUED_CHUNKS && !process.stdin.isPaused()) {
        process.stdin.pause();
        void stdin.idle().then(() => {
          if (!ended) process.stdin.resume();
        });
      }
    });
    process.stdin.once(
      "end",
      () =>
        void stdin
          .idle()
          .then(() => handle.closeStdin())
          .catch(() => {}),
    );
  }
  try {
    const finished = handle.wait().then(
      (): RemoteCommandResult => ({ exitCode: 0, timedOut: false, interrupted: false }),
      (error: unknown): RemoteCommandResult | Promise<RemoteCommandResult> => {
        if (error instanceof CommandTimeoutError)
          return { exitCode: EXIT.timeout, timedOut: true, interrupted: false };
        if (error instanceof CommandExitError)
          return {
            exitCode: exitCodeOf(error.exitCode, error.error),
            timedOut: false,
            interrupted: false,
          };
        // After a Ctrl-C the stream may break as the process dies (a sandbox kill cuts it at
        // once): that is the interrupt's result, once its cleanup (the kill) has finished.
        if (interruptedOnce) return interrupted;
        throw error;
      },
    );
    // A Ctrl-C wins as soon as its cleanup is done, whatever the stream still does.
    return await Promise.race([finished, interrupted]);
  } finally {
    process.removeListener("SIGINT", onSigint);
    process.removeListener("SIGTERM", onSigint);
    ended = true;
    if (o.stdin) process.stdin.pause();
  }
}
