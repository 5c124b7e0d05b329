import { Code, ConnectError } from "@connectrpc/connect";

/**
 * A server stream whose Connect-Timeout-Ms deadline passed must end with deadline_exceeded,
 * as E2B's envd (connect-go) ends it, never with a clean end of stream: a client that reads
 * the server's end before its own timer fires would otherwise see a command "exit without a
 * result" (E2B's SDK) instead of a TimeoutError. Call when the stream's wait ended early.
 */
export function throwIfDeadlineExceeded(signal: AbortSignal): void {
  const reason: unknown = signal.reason;
  if (signal.aborted && reason instanceof ConnectError && reason.code === Code.DeadlineExceeded) {
    throw reason;
  }
}
