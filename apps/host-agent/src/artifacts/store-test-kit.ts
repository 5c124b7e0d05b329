import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import S3rver from "s3rver";
import { S3ArtifactStore, type S3StoreConfig } from "./s3-artifact-store.js";

/**
 * For tests: an S3 protocol server (s3rver) on loopback with its own directory and bucket,
 * and a relay in front of it that a test can make fail the way a store does (refuse, cut a
 * transfer half-way, hang), so the real client meets real faults.
 */
export class TestS3 {
  private constructor(
    private readonly server: S3rver,
    readonly dir: string,
    readonly bucket: string,
    readonly port: number,
  ) {}

  static async start(): Promise<TestS3> {
    const dir = await mkdtemp(path.join(tmpdir(), "wrenn-s3-"));
    const bucket = "wrenn-test";
    const server = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: dir,
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const { port } = (await server.run()) as net.AddressInfo;
    return new TestS3(server, dir, bucket, port);
  }

  /** The settings an agent takes (WRENN_STORE=s3 ...) for a store reached at host:port. */
  env(port = this.port, host = "127.0.0.1"): Record<string, string> {
    return {
      WRENN_STORE: "s3",
      WRENN_S3_ENDPOINT: `http://${host}:${port}`,
      WRENN_S3_BUCKET: this.bucket,
      WRENN_S3_ACCESS_KEY_ID: "S3RVER",
      WRENN_S3_SECRET_ACCESS_KEY: "S3RVER",
      WRENN_S3_MAX_ATTEMPTS: "2",
      WRENN_S3_REQUEST_TIMEOUT_MS: "3000",
    };
  }

  store(port = this.port, overrides: Partial<S3StoreConfig> = {}): S3ArtifactStore {
    return new S3ArtifactStore({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      bucket: this.bucket,
      prefix: "t/",
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      forcePathStyle: true,
      partSizeBytes: 5 * 1024 * 1024,
      maxAttempts: 2,
      requestTimeoutMs: 3000,
      ...overrides,
    });
  }

  async close(): Promise<void> {
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export type RelayMode =
  /** Forward everything. */
  | { kind: "pass" }
  /** Forward until a connection has sent this many request bytes, then cut it. */
  | { kind: "cut-after"; bytes: number }
  /** Accept and read, answer nothing (a store that hangs). */
  | { kind: "hang" };

const REQUEST_LINE = /(?:^|\r\n)(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP\/1\.1\r\n/g;

/**
 * A TCP relay (on loopback, or on `host`: an address agents in other network namespaces reach)
 * whose behaviour a test switches while clients use it.
 */
export class FaultRelay {
  mode: RelayMode = { kind: "pass" };
  /** Request lines ("GET /bucket/name HTTP/1.1") seen, so a test can count what was fetched. */
  readonly requests: string[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(upstreamPort: number, host = "127.0.0.1"): Promise<FaultRelay> {
    let relay: FaultRelay | undefined;
    const server = net.createServer((client) => relay?.accept(client, upstreamPort));
    await new Promise<void>((resolve) => server.listen(0, host, resolve));
    relay = new FaultRelay(server, (server.address() as net.AddressInfo).port);
    return relay;
  }

  private accept(client: net.Socket, upstreamPort: number): void {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => {});
    const mode = this.mode;
    if (mode.kind === "hang") {
      client.resume();
      return;
    }
    const upstream = net.connect(upstreamPort, "127.0.0.1");
    this.sockets.add(upstream);
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    let sent = 0;
    client.on("data", (chunk: Buffer) => {
      sent += chunk.length;
      // A request line starts a chunk or follows a CRLF; bodies are tar bytes, not HTTP.
      for (const m of chunk.toString("latin1").matchAll(REQUEST_LINE)) {
        this.requests.push(`${m[1]} ${m[2]}`);
      }
      // The mode is read per chunk: a test can cut transfers already under way.
      const now = this.mode;
      if (now.kind === "cut-after" && sent > now.bytes) {
        client.destroy();
        upstream.destroy();
        return;
      }
      if (now.kind === "hang") return;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (this.mode.kind !== "hang") client.write(chunk);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
