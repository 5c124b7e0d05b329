/**
 * What the CLI streams to a running command as separate calls (a terminal's keys and sizes, a
 * command's stdin): sent one call at a time, in the order pushed. Fired at once, two calls in
 * flight may arrive swapped (a Ctrl-C before the command it was meant to stop, stdin's end
 * before its last bytes) or fail unseen.
 *
 * `take` removes from the queue what the next call carries (several keys together, the latest
 * size only); what it leaves waits for the call after. A failed call is said on stderr once and
 * the sending goes on (the command's own end says whether the sandbox is gone).
 */
export interface InOrder<T> {
  push(item: T): void;
  /** Resolves when everything pushed so far has been sent (or failed). */
  idle(): Promise<void>;
  /** Items waiting for a call. */
  readonly queued: number;
}

export function inOrder<T>(
  send: (items: T[]) => Promise<unknown>,
  take: (queue: T[]) => T[],
): InOrder<T> {
  const queue: T[] = [];
  let running: Promise<void> | undefined;
  let warned = false;
  const run = async () => {
    while (queue.length > 0) {
      try {
        await send(take(queue));
      } catch (error) {
        if (!warned) {
          warned = true;
          process.stderr.write(`\r\nwrenn: input not delivered: ${(error as Error).message}\r\n`);
        }
      }
    }
    running = undefined;
  };
  return {
    push(item) {
      queue.push(item);
      running ??= run();
    },
    idle: () => running ?? Promise.resolve(),
    get queued() {
      return queue.length;
    },
  };
}

/** Takes byte chunks from the front of the queue up to `max` bytes together (at least one). */
export const chunksUpTo =
  (max: number) =>
  (queue: Uint8Array[]): Uint8Array[] => {
    let n = 1;
    let bytes = queue[0]?.length ?? 0;
    while (n < queue.length && bytes + (queue[n]?.length ?? 0) <= max)
      bytes += queue[n++]?.length ?? 0;
    return queue.splice(0, n);
  };

/** Takes the whole queue and keeps its last item only (a terminal's size: the latest counts). */
export const latestOnly = <T>(queue: T[]): T[] => queue.splice(0).slice(-1);
