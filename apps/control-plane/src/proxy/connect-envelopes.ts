/**
 * Splits a Connect streaming body ([flags u8][length u32be][payload]...) into envelopes as its
 * chunks pass by, without holding more than one envelope. Used to watch envd's process streams
 * for the audit trail; it never alters what it reads.
 */
export class EnvelopeReader {
  private pending: Buffer = Buffer.alloc(0);
  /** Set once a frame is larger than the limit: the reader stops (the stream is unaffected). */
  gaveUp = false;

  constructor(
    private readonly onEnvelope: (flags: number, payload: Buffer) => void,
    private readonly maxEnvelopeBytes = 16 * 1024 * 1024,
  ) {}

  push(chunk: Buffer): void {
    if (this.gaveUp) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      if (this.pending.length < 5) return;
      const length = this.pending.readUInt32BE(1);
      if (length > this.maxEnvelopeBytes) {
        this.gaveUp = true;
        this.pending = Buffer.alloc(0);
        return;
      }
      if (this.pending.length < 5 + length) return;
      const flags = this.pending[0]!;
      const payload = this.pending.subarray(5, 5 + length);
      this.pending = this.pending.subarray(5 + length);
      this.onEnvelope(flags, payload);
    }
  }
}

/** Flag of Connect's end-of-stream envelope (carries trailers or an error as JSON). */
export const END_STREAM_FLAG = 0x02;
/** Flag of a compressed envelope, which the observer cannot read. */
export const COMPRESSED_FLAG = 0x01;
