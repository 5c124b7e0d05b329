import { connect, isIPv4, type Socket } from "node:net";

/**
 * A SOCKS5 client for the egress proxy's tunnel (RFC 1928 CONNECT, with no authentication or
 * RFC 1929 user name/password): the one command the agent needs, about a hundred lines, so no
 * dependency whose other features (BIND, UDP ASSOCIATE, SOCKS4, chaining) would be attack
 * surface in a root process.
 */

export interface Socks5Proxy {
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

/** Where the proxy is asked to connect: an IPv4 address (ATYP 1) or a host name (ATYP 3). */
export interface Socks5Target {
  readonly host: string;
  readonly port: number;
}

/** Why a tunnel was not opened; `stage` says which step failed. */
export class Socks5Error extends Error {
  constructor(
    readonly stage: "connect" | "greeting" | "auth" | "request",
    message: string,
  ) {
    super(message);
  }
}

const REPLIES: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** Reads exactly n bytes at a time from a socket that is not yet piped anywhere. */
class Reader {
  private buf = Buffer.alloc(0);
  private want: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | null =
    null;
  private failed: Error | null = null;
  private readonly onData = (d: Buffer) => {
    this.buf = Buffer.concat([this.buf, d]);
    this.pump();
  };
  private readonly onEnd = () => this.fail(new Error("the proxy closed the connection"));
  private readonly onError = (e: Error) => this.fail(e);

  constructor(private readonly socket: Socket) {
    socket.on("data", this.onData);
    socket.on("end", this.onEnd);
    socket.on("error", this.onError);
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.want = { n, resolve, reject };
      this.pump();
    });
  }

  /** Stops reading; bytes that came after the reply go back to the socket's stream. */
  release(): void {
    this.socket.off("data", this.onData);
    this.socket.off("end", this.onEnd);
    this.socket.off("error", this.onError);
    this.socket.pause();
    if (this.buf.length > 0) this.socket.unshift(this.buf);
  }

  private pump() {
    if (!this.want || this.buf.length < this.want.n) return;
    const { n, resolve } = this.want;
    this.want = null;
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    resolve(out);
  }

  private fail(e: Error) {
    this.failed = e;
    this.want?.reject(e);
    this.want = null;
  }
}

function addressPart(host: string): Buffer {
  if (isIPv4(host)) return Buffer.from([1, ...host.split(".").map(Number)]);
  const name = Buffer.from(host, "ascii");
  if (name.length < 1 || name.length > 255) throw new Socks5Error("request", "bad host name");
  return Buffer.concat([Buffer.from([3, name.length]), name]);
}

/**
 * Opens a tunnel through `proxy` to `target` and returns the socket, paused, with any bytes
 * the server sent after its reply still readable. Rejects (and destroys the socket) on any
 * failure: the caller must then refuse the sandbox's connection, never go direct.
 */
export async function socks5Connect(
  proxy: Socks5Proxy,
  target: Socks5Target,
  timeoutMs = 10_000,
): Promise<Socket> {
  const socket = connect({ host: proxy.host, port: proxy.port });
  socket.setNoDelay(true);
  const timer = setTimeout(
    () => socket.destroy(new Error(`no answer from the proxy in ${timeoutMs} ms`)),
    timeoutMs,
  );
  const reader = new Reader(socket);
  let stage: Socks5Error["stage"] = "connect";
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    stage = "greeting";
    const auth = proxy.username !== undefined && proxy.password !== undefined;
    socket.write(Buffer.from(auth ? [5, 2, 0, 2] : [5, 1, 0]));
    const [version, method] = await reader.read(2);
    if (version !== 5) throw new Error(`not a SOCKS5 server (version ${version})`);
    if (method === 2 && auth) {
      stage = "auth";
      const user = Buffer.from(proxy.username!, "utf8");
      const pass = Buffer.from(proxy.password!, "utf8");
      socket.write(
        Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]),
      );
      const [, status] = await reader.read(2);
      if (status !== 0) throw new Error("the proxy refused the user name and password");
    } else if (method !== 0) {
      throw new Error(
        method === 0xff
          ? `the proxy accepts none of our methods (${auth ? "none, user/password" : "none"})`
          : `the proxy chose a method we did not offer (${method})`,
      );
    }
    stage = "request";
    const port = Buffer.alloc(2);
    port.writeUInt16BE(target.port);
    socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addressPart(target.host), port]));
    const [, rep, , atyp] = await reader.read(4);
    if (rep !== 0) throw new Error(REPLIES[rep!] ?? `SOCKS reply ${rep}`);
    // The bound address and port, which nothing here needs.
    const rest =
      atyp === 1 ? 6 : atyp === 4 ? 18 : atyp === 3 ? (await reader.read(1))[0]! + 2 : -1;
    if (rest < 0) throw new Error(`bad address type in the reply (${atyp})`);
    await reader.read(rest);
    reader.release();
    return socket;
  } catch (err) {
    socket.destroy();
    throw err instanceof Socks5Error ? err : new Socks5Error(stage, (err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}
