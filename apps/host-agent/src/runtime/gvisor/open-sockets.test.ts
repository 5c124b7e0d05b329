import { describe, expect, test } from "vitest";
import { isListening, openTcpSockets } from "./open-sockets.js";

// What blocks a checkpoint: every TCP socket not closed. A template's service may keep its
// listening socket (SuspendRequest.keepListeners); its connections still block.

const procNetTcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1
   1: 0100007F:1F90 0100007F:9C40 06 00000000:00000000 00:00000000 00000000     0        0 0 1
   2: 0100007F:1F91 0100007F:9C41 07 00000000:00000000 00:00000000 00000000     0        0 0 1
`;

describe("checkpoint blockers", () => {
  test("listening and closing sockets are named, closed ones are not", () => {
    expect(openTcpSockets(procNetTcp)).toEqual(["LISTEN port 8080", "TIME_WAIT port 8080"]);
  });

  test("only the listening socket counts as listening", () => {
    expect(openTcpSockets(procNetTcp).filter((b) => !isListening(b))).toEqual([
      "TIME_WAIT port 8080",
    ]);
  });
});
