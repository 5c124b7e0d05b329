import path from "node:path";
import type { ArtifactStore } from "./artifact-store.js";
import { LocalArtifactStore } from "./local-artifact-store.js";
import type { S3StoreConfig } from "./s3-artifact-store.js";

export type ArtifactStoreSettings =
  | { kind: "local"; dir: string }
  | ({ kind: "s3" } & S3StoreConfig);

const MIB = 1024 * 1024;

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(
      `${name} must be a whole number of at least ${min} (got ${JSON.stringify(raw)})`,
    );
  }
  return n;
}

/**
 * The object store from the environment (docs/hosts.md, "Object storage"). WRENN_STORE=local
 * (default) keeps artifacts in WRENN_STORE_DIR; WRENN_STORE=s3 in WRENN_S3_BUCKET.
 */
export function artifactStoreSettings(
  env: NodeJS.ProcessEnv,
  dataDir: string,
): ArtifactStoreSettings {
  const kind = env.WRENN_STORE || "local";
  if (kind === "local") {
    const dir = env.WRENN_STORE_DIR || path.join(dataDir, "artifacts");
    if (!path.isAbsolute(dir)) {
      throw new Error(`WRENN_STORE_DIR must be an absolute path (got ${JSON.stringify(dir)})`);
    }
    return { kind, dir };
  }
  if (kind !== "s3") {
    throw new Error(`WRENN_STORE must be "local" or "s3" (got ${JSON.stringify(kind)})`);
  }
  const bucket = env.WRENN_S3_BUCKET;
  if (!bucket) throw new Error("WRENN_STORE=s3 needs WRENN_S3_BUCKET (the bucket artifacts go to)");
  const endpoint = env.WRENN_S3_ENDPOINT || undefined;
  if (endpoint && !/^https?:\/\//.test(endpoint)) {
    throw new Error(`WRENN_S3_ENDPOINT must be an http(s) URL (got ${JSON.stringify(endpoint)})`);
  }
  const accessKeyId = env.WRENN_S3_ACCESS_KEY_ID;
  const secretAccessKey = env.WRENN_S3_SECRET_ACCESS_KEY;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new Error("set both WRENN_S3_ACCESS_KEY_ID and WRENN_S3_SECRET_ACCESS_KEY, or neither");
  }
  let prefix = env.WRENN_S3_PREFIX ?? "";
  if (prefix && !prefix.endsWith("/")) prefix += "/";
  return {
    kind,
    bucket,
    prefix,
    region: env.WRENN_S3_REGION || "us-east-1",
    ...(endpoint ? { endpoint } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
    // Self-hosted stores (MinIO, Ceph) want the bucket in the path; AWS takes either.
    forcePathStyle: (env.WRENN_S3_FORCE_PATH_STYLE ?? (endpoint ? "true" : "false")) === "true",
    partSizeBytes: positiveInt(env, "WRENN_S3_PART_SIZE_MB", 16, 5) * MIB,
    maxAttempts: positiveInt(env, "WRENN_S3_MAX_ATTEMPTS", 4),
    requestTimeoutMs: positiveInt(env, "WRENN_S3_REQUEST_TIMEOUT_MS", 30_000, 100),
  };
}

/**
 * The byte budget of the host's ArtifactCache (WRENN_ARTIFACT_CACHE_MB, default 4096; 0 turns
 * it off). A local-directory store is this machine's disk already: nothing to cache (0).
 */
export function artifactCacheBytes(
  env: NodeJS.ProcessEnv,
  settings: ArtifactStoreSettings,
): number {
  if (settings.kind === "local") return 0;
  return positiveInt(env, "WRENN_ARTIFACT_CACHE_MB", 4096, 0) * MIB;
}

/** How often an upload the store refused (a snapshot's) is tried again: WRENN_STORE_RETRY_S. */
export function storeRetrySeconds(env: NodeJS.ProcessEnv): number {
  return positiveInt(env, "WRENN_STORE_RETRY_S", 30);
}

export async function openArtifactStore(settings: ArtifactStoreSettings): Promise<ArtifactStore> {
  if (settings.kind === "local") return new LocalArtifactStore(settings.dir);
  const { kind: _kind, ...s3 } = settings;
  // The AWS SDK is hundreds of modules: an agent that keeps artifacts in a directory (the
  // default) does not pay for loading it at every start.
  const { S3ArtifactStore } = await import("./s3-artifact-store.js");
  return new S3ArtifactStore(s3);
}
