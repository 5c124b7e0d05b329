// The host's cache of uploaded artifacts on real files: least recently used evicted past the
// byte budget, the order kept across a restart, and a cached tar unpacked only when it is the
// very artifact a manifest names (a changed byte, a cut file: refused, nothing unpacked).
import * as fs from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ArtifactCache } from "./artifact-cache.js";
import { digestFile, packToFile, unpackTarFile } from "./artifact-pack.js";
import { type ArtifactKey, ArtifactStoreError } from "./artifact-store.js";

const log = pino({ level: "silent" });
let work: string;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(tmpdir(), "wrenn-artifact-cache-"));
});
afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const key = (id: string): ArtifactKey => ({ kind: "hibernation", id });

/** A tar of `bytes` bytes written where the cache wants it, then adopted. */
async function put(cache: ArtifactCache, id: string, bytes: number): Promise<void> {
  const tar = await cache.scratchFile(key(id));
  await fs.writeFile(tar, Buffer.alloc(bytes, id));
  await cache.adopt(key(id), tar);
}

test("past its budget the least recently used copy goes; the order survives a restart", async () => {
  const dir = path.join(work, "lru");
  const cache = await ArtifactCache.open(dir, 3000, log);
  await put(cache, "sb-00000001", 1000);
  await put(cache, "sb-00000002", 1000);
  await put(cache, "sb-00000003", 1000);
  expect(cache.usedBytes).toBe(3000);
  // Used: now 2, 3, 1 from least to most recent; a fourth pushes out 2.
  expect(await cache.lookup(key("sb-00000001"))).toBe(
    path.join(dir, "hibernation", "sb-00000001.tar"),
  );
  await put(cache, "sb-00000004", 1000);
  expect(await cache.lookup(key("sb-00000002"))).toBeUndefined();
  expect((await fs.readdir(path.join(dir, "hibernation"))).sort()).toEqual([
    "sb-00000001.tar",
    "sb-00000003.tar",
    "sb-00000004.tar",
  ]);
  expect(cache.usedBytes).toBe(3000);

  // A copy bigger than the whole budget is not kept at all.
  await put(cache, "sb-00000005", 4000);
  expect(await cache.lookup(key("sb-00000005"))).toBeUndefined();
  expect(cache.usedBytes).toBeLessThanOrEqual(3000);

  // Removing is idempotent and frees its bytes.
  await cache.remove(key("sb-00000004"));
  await cache.remove(key("sb-00000004"));
  expect(await cache.lookup(key("sb-00000004"))).toBeUndefined();

  // A restart reads the use order from the files: 3 was used longest ago, so a smaller budget
  // drops it first; a crash's partial file is removed.
  const old = new Date(Date.now() - 60_000);
  await fs.utimes(path.join(dir, "hibernation", "sb-00000003.tar"), old, old);
  await fs.writeFile(path.join(dir, "hibernation", "sb-00000009.tar.partial-1-2"), "half");
  const again = await ArtifactCache.open(dir, 1500, log);
  expect(await again.lookup(key("sb-00000003"))).toBeUndefined();
  expect(await again.lookup(key("sb-00000001"))).toBeDefined();
  expect(await fs.readdir(path.join(dir, "hibernation"))).toEqual(["sb-00000001.tar"]);

  // A copy deleted behind its back reads as none.
  await fs.rm(path.join(dir, "hibernation", "sb-00000001.tar"));
  expect(await again.lookup(key("sb-00000001"))).toBeUndefined();
  expect(again.usedBytes).toBe(0);
});

test("a cached tar unpacks only when it is the artifact the manifest names", async () => {
  const source = path.join(work, "source");
  await fs.mkdir(path.join(source, "checkpoint"), { recursive: true });
  await fs.writeFile(path.join(source, "checkpoint", "pages.img"), Buffer.alloc(300_000, 7));
  await fs.writeFile(path.join(source, "disk.img"), "");
  await fs.truncate(path.join(source, "disk.img"), 64 * 1024 * 1024);
  const tar = path.join(work, "copy.tar");
  await packToFile(source, tar);
  const digest = digestFile(tar);
  for await (const _ of digest) {
    // drained: the digest is known once the stream ended
  }
  const expected = { sha256: digest.sha256, bytes: digest.bytes, what: "the test copy" };

  const dest = path.join(work, "dest");
  await unpackTarFile(tar, dest, expected);
  expect(
    (await fs.readFile(path.join(dest, "checkpoint", "pages.img"))).equals(
      Buffer.alloc(300_000, 7),
    ),
  ).toBe(true);
  expect((await fs.stat(path.join(dest, "disk.img"))).size).toBe(64 * 1024 * 1024);

  // One byte changed, same length: refused before tar reads it, nothing at dest.
  const bytes = await fs.readFile(tar);
  bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
  const changed = path.join(work, "changed.tar");
  await fs.writeFile(changed, bytes);
  const refused = path.join(work, "refused");
  const err = await unpackTarFile(changed, refused, expected).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ArtifactStoreError);
  expect((err as ArtifactStoreError).reason).toBe("corrupt");
  expect((err as Error).message).toMatch(/the cached copy has .* the manifest says/);
  // Cut short: refused the same way.
  await fs.truncate(changed, 1000);
  await expect(unpackTarFile(changed, refused, expected)).rejects.toThrow(/manifest says/);
  // Gone: the read error as it is.
  await expect(unpackTarFile(path.join(work, "none.tar"), refused, expected)).rejects.toThrow(
    /ENOENT/,
  );
  expect((await fs.readdir(work)).filter((n) => n.startsWith("refused"))).toEqual([]);
});
