// Writing to stdout and stderr when they are pipes: Node writes to a pipe asynchronously (only
// files and terminals are written synchronously on Linux), so a fast producer must wait for
// the reader, and the process must not exit while output is still queued.

/**
 * Writes a chunk as it is. While the stream's buffer is full (a slow pipe or reader) the
 * promise waits for it to drain; a producer that awaits it (the SDK awaits its output
 * callbacks) then reads no further, so large output is not piled up in memory.
 */
export function writeOut(stream: NodeJS.WritableStream, chunk: Uint8Array): Promise<void> | void {
  if (stream.write(chunk)) return;
  return new Promise((resolve) => {
    const done = () => {
      stream.removeListener("drain", done);
      stream.removeListener("close", done);
      stream.removeListener("error", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
    stream.once("error", done);
  });
}

/** Resolves once everything written to the stream so far has been handed to the OS. */
export function flushed(
  stream: NodeJS.WritableStream & { writableLength?: number },
): Promise<void> {
  if (!stream.writableLength) return Promise.resolve();
  // Writes complete in order: the callback of an empty one runs after all before it.
  return new Promise((resolve) => {
    stream.write(new Uint8Array(0), () => resolve());
  });
}
