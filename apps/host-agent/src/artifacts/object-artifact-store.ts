import type { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { type Digesting, digestFile, packDirectory, unpackInto } from "./artifact-pack.js";
import {
  type ArtifactKey,
  type ArtifactManifest,
  type ArtifactStore,
  ArtifactStoreError,
  artifactPath,
  describeKey,
  parseManifest,
} from "./artifact-store.js";

/** What a store must do with named objects; the artifact rules are ObjectArtifactStore's. */
export interface ObjectBackend {
  readonly description: string;
  /** Stores body under name, replacing it; the object appears only once complete. */
  write(name: string, body: Readable | string): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  read(name: string): Promise<Readable | undefined>;
  /** Idempotent. */
  delete(name: string): Promise<void>;
}

/**
 * The artifact shape (artifact-store.ts) over any object backend: data.tar first, the manifest
 * last; reads check the manifest, then the bytes against it. Every failure of the backend is
 * an ArtifactStoreError("unavailable") naming the store and what to do.
 */
export class ObjectArtifactStore implements ArtifactStore {
  readonly description: string;

  constructor(
    private readonly backend: ObjectBackend,
    private readonly prefix = "",
  ) {
    this.description = backend.description;
  }

  private name(key: ArtifactKey, file: "data.tar" | "manifest.json"): string {
    return `${this.prefix}${artifactPath(key)}/${file}`;
  }

  private failed(doing: string, key: ArtifactKey, err: unknown): ArtifactStoreError {
    if (err instanceof ArtifactStoreError) return err;
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : "";
    return new ArtifactStoreError(
      "unavailable",
      `could not ${doing} ${describeKey(key)} in ${this.description}: ${e.name}: ${e.message}${status}; nothing was changed and the sandbox's own copy is kept: try again once the store answers and has room (check its WRENN_STORE* / WRENN_S3_* settings)`,
      { cause: err },
    );
  }

  put(key: ArtifactKey, dir: string, meta: Record<string, unknown>): Promise<ArtifactManifest> {
    return this.upload(key, packDirectory(dir), meta);
  }

  putTar(key: ArtifactKey, tar: string, meta: Record<string, unknown>): Promise<ArtifactManifest> {
    return this.upload(key, digestFile(tar), meta);
  }

  private async upload(
    key: ArtifactKey,
    packed: Digesting,
    meta: Record<string, unknown>,
  ): Promise<ArtifactManifest> {
    const manifestName = this.name(key, "manifest.json");
    try {
      // The old manifest goes first: until the new one is written, nothing under this key
      // reads as complete (a data.tar half-replaced never pairs with an old manifest).
      await this.backend.delete(manifestName);
      await this.backend.write(this.name(key, "data.tar"), packed);
      const manifest: ArtifactManifest = {
        version: 1,
        kind: key.kind,
        id: key.id,
        format: "tar-sparse",
        sha256: packed.sha256,
        bytes: packed.bytes,
        createdAt: new Date().toISOString(),
        meta,
      };
      await this.backend.write(manifestName, JSON.stringify(manifest));
      return manifest;
    } catch (err) {
      packed.destroy();
      throw this.failed("store", key, err);
    }
  }

  async head(key: ArtifactKey): Promise<ArtifactManifest | undefined> {
    let body: string;
    try {
      const stream = await this.backend.read(this.name(key, "manifest.json"));
      if (!stream) return undefined;
      body = await text(stream);
    } catch (err) {
      throw this.failed("read", key, err);
    }
    return parseManifest(body, key);
  }

  async get(key: ArtifactKey, dest: string): Promise<ArtifactManifest> {
    const manifest = await this.head(key);
    const data =
      manifest &&
      (await this.backend.read(this.name(key, "data.tar")).catch((err) => {
        throw this.failed("download", key, err);
      }));
    if (!manifest || !data) {
      throw new ArtifactStoreError(
        "not_found",
        `${describeKey(key)} is not in ${this.description}`,
      );
    }
    try {
      await unpackInto(data, dest, {
        ...manifest,
        what: `${describeKey(key)} from ${this.description}`,
      });
    } catch (err) {
      throw this.failed("download", key, err);
    }
    return manifest;
  }

  async remove(key: ArtifactKey): Promise<void> {
    try {
      // Manifest first, so a removal cut half-way leaves no half artifact that reads as whole.
      await this.backend.delete(this.name(key, "manifest.json"));
      await this.backend.delete(this.name(key, "data.tar"));
    } catch (err) {
      throw this.failed("remove", key, err);
    }
  }
}
