// Wrenn's extension for reconnecting clients: a Connect request carrying REPLAY_FROM_HEADER
// (a byte offset into the process's combined output) first receives the buffered output from
// that offset. The response's REPLAY_START_HEADER says where the replay really began, which is
// later than asked when older output has already left the ring buffer.
export const REPLAY_FROM_HEADER = "wrenn-replay-from";
export const REPLAY_START_HEADER = "wrenn-replay-start";
