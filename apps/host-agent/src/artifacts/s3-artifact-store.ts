import type { Readable } from "node:stream";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { type ArtifactKey, artifactPath } from "./artifact-store.js";
import { ObjectArtifactStore, type ObjectBackend } from "./object-artifact-store.js";

export interface S3StoreConfig {
  /** Unset: AWS's own endpoint for the region. MinIO, Ceph RGW, R2...: their URL. */
  endpoint?: string;
  region: string;
  bucket: string;
  /** Prepended to every object name ("wrenn/"); may be empty. */
  prefix: string;
  /** Unset: the SDK's default chain (environment, instance role...). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Bucket in the path, not the host name: what MinIO and most self-hosted stores need. */
  forcePathStyle: boolean;
  /** Multipart part size; S3's minimum is 5 MiB. */
  partSizeBytes: number;
  /** Tries of each request (a part, a manifest) before the store counts as down. */
  maxAttempts: number;
  /** A request whose socket moves no byte for this long has failed (a store that hangs). */
  requestTimeoutMs: number;
}

/**
 * Objects in an S3-compatible bucket. A stream goes up in multipart parts (never whole in
 * memory or on disk), retried part by part; a failed upload aborts its multipart upload, so no
 * orphan parts stay billed. Our SHA-256 checks artifacts end to end, so the SDK's own checksums
 * are asked only where S3 requires them: many compatible stores do not speak the newer ones.
 */
class BucketBackend implements ObjectBackend {
  readonly description: string;
  readonly client: S3Client;

  constructor(private readonly config: S3StoreConfig) {
    this.description = `s3://${config.bucket}/${config.prefix}${config.endpoint ? ` at ${config.endpoint}` : ""}`;
    this.client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      ...(config.credentials ? { credentials: config.credentials } : {}),
      maxAttempts: config.maxAttempts,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: {
        connectionTimeout: Math.min(config.requestTimeoutMs, 10_000),
        // Idle time on the socket, not the whole request: a 16 MiB part on a slow link is
        // fine as long as bytes move; a store that stops answering fails in this time.
        socketTimeout: config.requestTimeoutMs,
      },
    });
  }

  async write(name: string, body: Readable | string): Promise<void> {
    if (typeof body === "string") {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.config.bucket, Key: name, Body: body }),
      );
      return;
    }
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.config.bucket, Key: name, Body: body },
      partSize: this.config.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async read(name: string): Promise<Readable | undefined> {
    try {
      const got = await this.client.send(
        new GetObjectCommand({ Bucket: this.config.bucket, Key: name }),
      );
      return got.Body as Readable;
    } catch (err) {
      if (err instanceof S3ServiceException && err.name === "NoSuchKey") return undefined;
      throw err;
    }
  }

  // One object per call: DeleteObjects needs a Content-MD5 that not every compatible store
  // accepts in the SDK's newer checksum forms.
  async delete(name: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: name }));
  }
}

/** Artifacts in an S3-compatible bucket (docs/hosts.md, "Object storage"). */
export class S3ArtifactStore extends ObjectArtifactStore {
  private readonly bucket: BucketBackend;

  constructor(private readonly config: S3StoreConfig) {
    const bucket = new BucketBackend(config);
    super(bucket, config.prefix);
    this.bucket = bucket;
  }

  /** Object names under the key (tests: what an interrupted upload left behind). */
  async list(key: ArtifactKey): Promise<string[]> {
    const out = await this.bucket.client.send(
      new ListObjectsV2Command({
        Bucket: this.config.bucket,
        Prefix: `${this.config.prefix}${artifactPath(key)}/`,
      }),
    );
    return (out.Contents ?? []).map((o) => o.Key ?? "");
  }

  close(): void {
    this.bucket.client.destroy();
  }
}
