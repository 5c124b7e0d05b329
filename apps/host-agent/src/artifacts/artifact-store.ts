/**
 * The storage seam: where what must outlive a host goes (hibernated sandboxes now; snapshots
 * and template layers are meant to follow). A host keeps what it uploaded to a shared store in
 * its ArtifactCache (artifact-cache.ts), so bringing it back there downloads nothing. Every artifact has one shape whatever the store:
 *
 *   <prefix><kind>/<id>/data.tar        a directory packed by GNU tar with holes kept (--sparse)
 *   <prefix><kind>/<id>/manifest.json   ArtifactManifest: the tar's SHA-256 and size, and meta
 *
 * The manifest is written last and read first: an artifact exists only once its bytes are
 * complete, so an upload cut half-way leaves nothing anyone would restore. A download is
 * checked against the manifest's SHA-256 before it is moved into place.
 */

export const ARTIFACT_KINDS = ["hibernation", "snapshot", "template-layer"] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export interface ArtifactKey {
  kind: ArtifactKind;
  /** A sandbox, snapshot or layer id: lowercase letters, digits and '-', as the ids are. */
  id: string;
}

export interface ArtifactManifest {
  version: 1;
  kind: ArtifactKind;
  id: string;
  format: "tar-sparse";
  /** Hex SHA-256 of data.tar. */
  sha256: string;
  /** Bytes of data.tar (what travelled, not what the files occupy once unpacked). */
  bytes: number;
  createdAt: string;
  /** What the artifact's user needs beside the files (a hibernated sandbox's record...). */
  meta: Record<string, unknown>;
}

/** Why a store refused: the caller keeps its own copy and may try again (retryable). */
export type ArtifactStoreErrorReason =
  /** Unreachable, too slow, refusing, or out of space: nothing was changed, try again. */
  | "unavailable"
  | "not_found"
  /** The bytes downloaded are not those the manifest names: nothing was unpacked. */
  | "corrupt";

export class ArtifactStoreError extends Error {
  override readonly name = "ArtifactStoreError";
  constructor(
    readonly reason: ArtifactStoreErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ArtifactStore {
  /** "local:/path" or "s3://bucket/prefix at endpoint": for logs and errors, never a secret. */
  readonly description: string;
  /**
   * Packs dir (left as it is) and stores it under key with meta, replacing an artifact there.
   * Throws ArtifactStoreError("unavailable") when the store cannot take it; then no manifest
   * of this upload exists.
   */
  put(key: ArtifactKey, dir: string, meta: Record<string, unknown>): Promise<ArtifactManifest>;
  /** As put, of a directory already packed into one tar file (by packToFile), left as it is. */
  putTar(key: ArtifactKey, tar: string, meta: Record<string, unknown>): Promise<ArtifactManifest>;
  /**
   * Unpacks the artifact into dest, which must not exist; dest appears (in one rename) only
   * when every byte matched the manifest.
   */
  get(key: ArtifactKey, dest: string): Promise<ArtifactManifest>;
  /** The manifest, or undefined when there is no complete artifact under key. */
  head(key: ArtifactKey): Promise<ArtifactManifest | undefined>;
  /** Idempotent. */
  remove(key: ArtifactKey): Promise<void>;
}

const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The key's path below the store's root or prefix; ids come from the control plane: checked. */
export function artifactPath(key: ArtifactKey): string {
  if (!ARTIFACT_KINDS.includes(key.kind)) {
    throw new Error(`unknown artifact kind: ${JSON.stringify(key.kind)}`);
  }
  if (!ID_PATTERN.test(key.id)) throw new Error(`not an artifact id: ${JSON.stringify(key.id)}`);
  return `${key.kind}/${key.id}`;
}

export function describeKey(key: ArtifactKey): string {
  return `${key.kind} ${key.id}`;
}

/** A manifest read back from a store, checked: a store is shared, so it is not trusted blindly. */
export function parseManifest(text: string, key: ArtifactKey): ArtifactManifest {
  let m: Partial<ArtifactManifest>;
  try {
    m = JSON.parse(text) as Partial<ArtifactManifest>;
  } catch (err) {
    throw new ArtifactStoreError("corrupt", `the manifest of ${describeKey(key)} is not JSON`, {
      cause: err,
    });
  }
  if (
    m?.version !== 1 ||
    m.kind !== key.kind ||
    m.id !== key.id ||
    m.format !== "tar-sparse" ||
    typeof m.sha256 !== "string" ||
    !/^[0-9a-f]{64}$/.test(m.sha256) ||
    typeof m.bytes !== "number" ||
    typeof m.meta !== "object" ||
    m.meta === null
  ) {
    throw new ArtifactStoreError(
      "corrupt",
      `the manifest of ${describeKey(key)} is not one this agent wrote; remove the artifact and hibernate again`,
    );
  }
  return m as ArtifactManifest;
}
