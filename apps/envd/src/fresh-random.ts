import { closeSync, openSync, readSync } from "node:fs";

/**
 * Random bytes that are fresh in every clone. envd is checkpointed once per template and
 * restored into many sandboxes, so anything kept in its memory, OpenSSL's generator state
 * behind crypto.randomBytes and V8's Math.random included, is the same in every clone. A read
 * of /dev/urandom is served by the sandbox kernel from the host at the time of the read.
 */
export function freshRandomBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = openSync("/dev/urandom", "r");
  try {
    let got = 0;
    while (got < n) got += readSync(fd, out, got, n - got, null);
  } finally {
    closeSync(fd);
  }
  return out;
}
