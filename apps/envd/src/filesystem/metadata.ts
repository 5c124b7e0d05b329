import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

// User metadata attached to files by `X-Metadata-*` upload headers. E2B's envd keeps it in
// `user.e2b.*` extended attributes; Node has no xattr API and a native addon cannot be built
// for the sandbox's Node, so envd keeps it in memory, keyed by the file's identity
// (device, inode and, where the filesystem reports it, birth time). It therefore follows a
// file across renames but is lost when envd restarts (a sandbox pause/resume keeps it).

const MAX_KEY_LEN = 255 - "user.e2b.".length;
const MAX_TOTAL_LEN = 4096;
const MAX_FILES = 100_000;

export class MetadataError extends Error {}

/** E2B's ValidateMetadata: printable ASCII keys and values, bounded sizes. */
export function validateMetadata(metadata: Record<string, string>): void {
  let total = 0;
  for (const [key, value] of Object.entries(metadata)) {
    if (key === "") throw new MetadataError("metadata key must not be empty");
    if (key.length > MAX_KEY_LEN) {
      throw new MetadataError(`metadata key '${key}' exceeds ${MAX_KEY_LEN} bytes`);
    }
    for (const [label, text] of [
      ["key", key],
      [`value for key '${key}'`, value],
    ] as const) {
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c < 0x20 || c > 0x7e) {
          throw new MetadataError(
            `metadata ${label} contains non-printable-ASCII byte 0x${c.toString(16).padStart(2, "0")} at offset ${i}`,
          );
        }
      }
    }
    total += "user.e2b.".length + key.length + value.length;
  }
  if (total > MAX_TOTAL_LEN) {
    throw new MetadataError(`total metadata size ${total} exceeds ${MAX_TOTAL_LEN} bytes`);
  }
}

/** What keys a file here: Node's BigIntStats has it, and so do the file helper's records. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  birthtimeNs: bigint;
}

interface Stored {
  birth: bigint;
  metadata: Record<string, string>;
}

export class MetadataStore {
  readonly #files = new Map<string, Stored>();

  #key(st: FileIdentity): string {
    return `${st.dev}:${st.ino}`;
  }

  /** Replaces the file's metadata; an empty set clears it (as an overwrite does in E2B). */
  set(st: FileIdentity, metadata: Record<string, string>): void {
    const key = this.#key(st);
    this.#files.delete(key);
    if (Object.keys(metadata).length === 0) return;
    if (this.#files.size >= MAX_FILES) {
      const oldest = this.#files.keys().next().value;
      if (oldest !== undefined) this.#files.delete(oldest);
    }
    this.#files.set(key, { birth: st.birthtimeNs, metadata: { ...metadata } });
  }

  /**
   * Drops the metadata of a file, or of every file under a directory, about to be removed: its
   * inode may be reused by the next file, and where the filesystem reports no birth time
   * (gVisor's) nothing else would tell the two apart.
   */
  async forgetTree(path: string): Promise<void> {
    if (this.#files.size === 0) return;
    const st = await lstat(path, { bigint: true }).catch(() => undefined);
    if (!st) return;
    this.#files.delete(this.#key(st));
    if (!st.isDirectory()) return;
    const names = await readdir(path).catch(() => [] as string[]);
    for (const name of names) await this.forgetTree(join(path, name));
  }

  get(st: FileIdentity): Record<string, string> | undefined {
    const key = this.#key(st);
    const stored = this.#files.get(key);
    if (!stored) return undefined;
    // A different birth time means the inode was freed and reused by another file.
    if (stored.birth !== 0n && st.birthtimeNs !== 0n && stored.birth !== st.birthtimeNs) {
      this.#files.delete(key);
      return undefined;
    }
    return stored.metadata;
  }
}
