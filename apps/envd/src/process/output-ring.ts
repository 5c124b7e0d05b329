// Recent output of one process, for Wrenn's reconnect-with-replay. Offsets count bytes of
// all streams together (stdout, stderr and pty in arrival order), from the process start.

export type OutputStream = "stdout" | "stderr" | "pty";

export interface OutputChunk {
  stream: OutputStream;
  offset: number;
  data: Uint8Array;
}

export class OutputRing {
  #chunks: OutputChunk[] = [];
  #head = 0; // index of the oldest kept chunk in #chunks
  #bytes = 0;
  #total = 0;

  constructor(private readonly capacity: number) {}

  /** Bytes produced since the start, kept or not. */
  get total(): number {
    return this.#total;
  }

  /** Offset of the oldest byte still kept. */
  get start(): number {
    const first = this.#chunks[this.#head];
    return first ? first.offset : this.#total;
  }

  append(stream: OutputStream, data: Uint8Array): OutputChunk {
    const chunk = { stream, offset: this.#total, data };
    this.#total += data.length;
    this.#chunks.push(chunk);
    this.#bytes += data.length;
    while (this.#bytes > this.capacity && this.#head < this.#chunks.length - 1) {
      const dropped = this.#chunks[this.#head++] as OutputChunk;
      this.#bytes -= dropped.data.length;
    }
    // Compact now and then so the array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    return chunk;
  }

  /** Kept chunks covering bytes from `offset` on (the first one trimmed to start there). */
  since(offset: number): OutputChunk[] {
    const out: OutputChunk[] = [];
    for (let i = this.#head; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i] as OutputChunk;
      const end = chunk.offset + chunk.data.length;
      if (end <= offset) continue;
      if (chunk.offset < offset) {
        const skip = offset - chunk.offset;
        out.push({ stream: chunk.stream, offset, data: chunk.data.subarray(skip) });
      } else {
        out.push(chunk);
      }
    }
    return out;
  }
}
