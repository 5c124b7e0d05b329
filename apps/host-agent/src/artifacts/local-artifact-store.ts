import { createWriteStream } from "node:fs";
import { mkdir, open, rename, rm, rmdir } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ObjectArtifactStore, type ObjectBackend } from "./object-artifact-store.js";

/**
 * Objects as files under one directory. Names come from ObjectArtifactStore, which checked
 * the key they are made of; each file appears in one rename once written.
 */
class DirectoryBackend implements ObjectBackend {
  readonly description: string;

  constructor(readonly root: string) {
    this.description = `local:${root}`;
  }

  async write(name: string, body: Readable | string): Promise<void> {
    const file = path.join(this.root, name);
    const tmp = `${file}.partial-${process.pid}-${Date.now()}`;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    try {
      const source = typeof body === "string" ? Readable.from([body]) : body;
      await pipeline(source, createWriteStream(tmp, { mode: 0o600 }));
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async read(name: string): Promise<Readable | undefined> {
    // Opened here, so a missing object reads as none and any other failure as the store's.
    const handle = await open(path.join(this.root, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    return handle?.createReadStream();
  }

  async delete(name: string): Promise<void> {
    const file = path.join(this.root, name);
    await rm(file, { force: true });
    // The artifact's directory goes with its last object.
    await rmdir(path.dirname(file)).catch(() => {});
  }
}

/**
 * Artifacts under one directory: the default, and for one machine the whole story (every agent
 * on it can share the directory, so a sandbox hibernated by one resumes on another). The
 * layout is the S3 store's, object for object, so a directory can be copied into a bucket.
 */
export class LocalArtifactStore extends ObjectArtifactStore {
  constructor(readonly root: string) {
    super(new DirectoryBackend(root));
  }
}
