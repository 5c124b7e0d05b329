// run_command: runs a shell line in a sandbox and returns stdout, stderr and the exit code.
// When the client sent a progress token, output is also streamed as progress notifications
// while the command runs (the message carries the new text, `progress` counts the bytes so
// far), so an agent sees a long build or test run move. A cancelled request kills the command.
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import { CommandExitError, CommandTimeoutError, type ConnectionOpts, Sandbox } from "@wrenn/sdk";
import { failed, ok } from "./tool-results.js";

export interface RunCommandArgs {
  sandboxId: string;
  command: string;
  cwd?: string | undefined;
  envs?: Record<string, string> | undefined;
  timeoutSeconds?: number | undefined;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export async function runCommand(
  args: RunCommandArgs,
  extra: Extra,
  connection: ConnectionOpts,
): Promise<CallToolResult> {
  const progress = progressSender(extra);
  const box = await Sandbox.connect(args.sandboxId, connection);
  const handle = await box.commands.run(args.command, {
    background: true,
    cwd: args.cwd,
    envs: args.envs,
    timeoutMs: args.timeoutSeconds === undefined ? undefined : args.timeoutSeconds * 1000,
    onStdout: (text) => progress.output("stdout", text),
    onStderr: (text) => progress.output("stderr", text),
  });
  const kill = () => void handle.kill().catch(() => undefined);
  extra.signal.addEventListener("abort", kill, { once: true });
  try {
    const result = await handle.wait();
    await progress.flushed();
    return ok({ stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode });
  } catch (error) {
    await progress.flushed();
    // A non-zero exit is an answer, not a failure of the tool: the agent reads the code.
    if (error instanceof CommandExitError) {
      return ok({
        stdout: error.stdout,
        stderr: error.stderr,
        exitCode: error.exitCode,
        ...(error.error === undefined ? {} : { error: error.error }),
      });
    }
    if (error instanceof CommandTimeoutError) {
      return failed(error.code, error.message, { stdout: error.stdout, stderr: error.stderr });
    }
    throw error;
  } finally {
    extra.signal.removeEventListener("abort", kill);
  }
}

/**
 * Progress notifications in order, one at a time; `flushed` waits for the last, so every one
 * reaches the client before the tool's result does.
 */
function progressSender(extra: Extra) {
  const token = extra._meta?.progressToken;
  let bytes = 0;
  let queue: Promise<void> = Promise.resolve();
  return {
    output(stream: "stdout" | "stderr", text: string) {
      if (token === undefined || text === "") return;
      bytes += Buffer.byteLength(text);
      const progress = bytes;
      queue = queue
        .then(() =>
          extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress, message: `[${stream}] ${text}` },
          }),
        )
        // A client that went away must not fail the command's result.
        .catch(() => undefined);
    },
    flushed: () => queue,
  };
}
