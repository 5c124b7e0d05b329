import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { type Readable, Transform, type TransformCallback, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ArtifactStoreError } from "./artifact-store.js";

/**
 * SHA-256 and length of the bytes passing through. `until` holds the end of the stream back
 * until the producer (tar) has exited, so a tar that fails half-way fails the stream instead
 * of ending it as if the archive were complete.
 */
export class Digesting extends Transform {
  private readonly hash = createHash("sha256");
  bytes = 0;
  private hex?: string;

  constructor(private readonly until?: Promise<void>) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    this.hex = this.hash.digest("hex");
    if (!this.until) {
      cb();
      return;
    }
    this.until.then(
      () => cb(),
      (err: Error) => cb(err),
    );
  }

  /** Only once the stream ended. */
  get sha256(): string {
    if (!this.hex) throw new Error("digest read before the stream ended");
    return this.hex;
  }
}

/** Runs tar; resolves when it exits 0, rejects with what it said otherwise. */
function runTar(args: string[], stdout: "pipe" | "none") {
  const child = spawn("tar", args, {
    stdio: ["ignore", stdout === "pipe" ? "pipe" : "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const exited = new Promise<void>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`tar ${args[0]} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`),
          ),
    );
  });
  return { child, exited };
}

/**
 * A directory as one tar stream. Holes stay holes (a sandbox's disk image is a sparse file
 * of its whole disk size, mostly empty); owners and modes are kept as numbers.
 */
export function packDirectory(dir: string): Digesting {
  const { child, exited } = runTar(
    ["-c", "--sparse", "--numeric-owner", "-C", dir, "-f", "-", "."],
    "pipe",
  );
  const out = new Digesting(exited);
  // A consumer that gives up (the store refused) must not leave tar blocked on a full pipe.
  out.on("close", () => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  child.stdout?.pipe(out);
  exited.catch((err: Error) => out.destroy(err));
  return out;
}

/** Packs dir into one tar file (the cache keeps it; an upload then reads it from there). */
export async function packToFile(dir: string, file: string): Promise<void> {
  await pipeline(packDirectory(dir), createWriteStream(file, { mode: 0o600 }));
}

/** A tar file as a stream whose SHA-256 and length are known once it ended. */
export function digestFile(file: string): Digesting {
  const out = new Digesting();
  createReadStream(file)
    .on("error", (err) => out.destroy(err))
    .pipe(out);
  return out;
}

const NOTHING_RESTORED =
  "nothing was restored (remove the artifact, or restore it from the host that wrote it)";

export interface Expected {
  sha256: string;
  bytes: number;
  what: string;
}

/** The one check of an artifact's bytes against its manifest, wherever the bytes came from. */
function checkDigest(digest: Digesting, expected: Expected, verb: string): void {
  if (digest.sha256 !== expected.sha256 || digest.bytes !== expected.bytes) {
    throw new ArtifactStoreError(
      "corrupt",
      `${expected.what}: ${verb} ${digest.bytes} bytes with SHA-256 ${digest.sha256}, the manifest says ${expected.bytes} bytes with ${expected.sha256}; ${NOTHING_RESTORED}`,
    );
  }
}

/** Unpacks a checked tar file into dest (which must not exist), in one rename. */
async function extractInto(tar: string, dest: string, what: string): Promise<void> {
  const scratch = `${dest}.partial-${process.pid}-${Date.now()}`;
  try {
    await mkdir(scratch, { recursive: true, mode: 0o700 });
    // GNU tar refuses members with "..", and strips a leading "/": nothing lands outside.
    const { exited } = runTar(["-x", "--numeric-owner", "-C", scratch, "-f", tar], "none");
    await exited.catch((err: Error) => {
      throw new ArtifactStoreError(
        "corrupt",
        `${what} does not unpack (${err.message}); ${NOTHING_RESTORED}`,
      );
    });
    await rename(scratch, dest);
  } catch (err) {
    await rm(scratch, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Unpacks a tar stream into dest (which must not exist). The bytes land in a file beside dest
 * first and are checked against the expected SHA-256 and length before tar reads any of them;
 * the files appear at dest in one rename. On any failure nothing is left at dest or beside it.
 * A read error of the source is thrown as it is (the store's to name); bytes that arrived whole
 * but do not match, or do not unpack, are ArtifactStoreError("corrupt").
 */
export async function unpackInto(
  source: Readable,
  dest: string,
  expected: Expected,
): Promise<void> {
  const tar = `${dest}.partial-${process.pid}-${Date.now()}.tar`;
  try {
    const digest = new Digesting();
    await pipeline(source, digest, createWriteStream(tar, { mode: 0o600 }));
    checkDigest(digest, expected, "downloaded");
    await extractInto(tar, dest, expected.what);
  } finally {
    await rm(tar, { force: true });
  }
}

/**
 * Unpacks a tar file this host keeps (a cached artifact) into dest, after the same check a
 * download gets: a file changed, cut or swapped since is ArtifactStoreError("corrupt"); one
 * that cannot be read throws as it is. Either way nothing is left at dest.
 */
export async function unpackTarFile(tar: string, dest: string, expected: Expected): Promise<void> {
  const digest = digestFile(tar);
  await pipeline(
    digest,
    new Writable({
      write: (_chunk, _enc, cb) => cb(),
    }),
  );
  checkDigest(digest, expected, "the cached copy has");
  await extractInto(tar, dest, expected.what);
}
