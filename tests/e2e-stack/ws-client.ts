// A WebSocket client for the exec and terminal sockets that records everything it receives.
import WebSocket from "ws";

export interface Received {
  json: Record<string, unknown>[];
  /** Binary frames in order. */
  binary: Buffer[];
}

export class TestSocket {
  readonly received: Received = { json: [], binary: [] };
  closed: Promise<{ code: number; reason: string }>;
  private listeners: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) this.received.binary.push(buffer);
      else this.received.json.push(JSON.parse(buffer.toString("utf8")));
      for (const l of this.listeners.splice(0)) l();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const l of this.listeners.splice(0)) l();
      }),
    );
  }

  /** Opens a socket, or rejects with the HTTP status the server answered the upgrade with. */
  static open(url: string, key: string): Promise<TestSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { "x-api-key": key } });
      const socket = new TestSocket(ws);
      ws.once("open", () => resolve(socket));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () =>
          reject(
            Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body }),
          ),
        );
      });
      ws.once("error", reject);
    });
  }

  send(message: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  sendBytes(data: Uint8Array): void {
    this.ws.send(data, { binary: true });
  }

  /** Waits until the condition holds over what was received (or the socket closed). */
  async until(
    condition: (r: Received) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition(this.received)) {
      if (this.ws.readyState === WebSocket.CLOSED)
        throw new Error(
          `socket closed while waiting for ${what}: ${JSON.stringify(this.received.json)}`,
        );
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Bytes of binary frames, without a channel byte (terminal) or of one channel (exec). */
  text(channel?: number): string {
    const frames =
      channel === undefined
        ? this.received.binary
        : this.received.binary.filter((b) => b[0] === channel).map((b) => b.subarray(1));
    return Buffer.concat(frames).toString("utf8");
  }
}
