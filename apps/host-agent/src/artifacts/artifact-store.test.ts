// Both stores against real bytes: a directory with a sparse disk image, nested files and
// modes goes in and comes back the same; the S3 one through s3rver on loopback (multipart,
// a store that is down, one that cuts an upload half-way, one that hangs, a corrupt object).
import { randomBytes } from "node:crypto";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ArtifactKey, type ArtifactStore, ArtifactStoreError } from "./artifact-store.js";
import { artifactStoreSettings } from "./artifact-store-config.js";
import { LocalArtifactStore } from "./local-artifact-store.js";
import { FaultRelay, TestS3 } from "./store-test-kit.js";

let work: string;
let source: string;
const random = randomBytes(12 * 1024 * 1024 + 123);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), "wrenn-artifacts-"));
  source = path.join(work, "source");
  await mkdir(path.join(source, "checkpoint", "deep"), { recursive: true });
  // More than two 5 MiB parts: the S3 upload is multipart.
  await writeFile(path.join(source, "checkpoint", "pages.img"), random);
  await writeFile(path.join(source, "checkpoint", "deep", "secret"), "s3cr3t", { mode: 0o600 });
  await chmod(path.join(source, "checkpoint", "deep", "secret"), 0o600);
  // A 2 GiB disk image with a few bytes written at its end: it must travel as holes.
  await writeFile(path.join(source, "disk.img"), "");
  await truncate(path.join(source, "disk.img"), 2 * 1024 * 1024 * 1024);
  const fd = await import("node:fs/promises").then((m) =>
    m.open(path.join(source, "disk.img"), "r+"),
  );
  await fd.write(Buffer.from("the end"), 0, 7, 2 * 1024 * 1024 * 1024 - 16);
  await fd.close();
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function expectSameAsSource(dest: string): Promise<void> {
  expect((await readFile(path.join(dest, "checkpoint", "pages.img"))).equals(random)).toBe(true);
  expect(await readFile(path.join(dest, "checkpoint", "deep", "secret"), "utf8")).toBe("s3cr3t");
  expect((await stat(path.join(dest, "checkpoint", "deep", "secret"))).mode & 0o777).toBe(0o600);
  const disk = await stat(path.join(dest, "disk.img"));
  expect(disk.size).toBe(2 * 1024 * 1024 * 1024);
  // Holes stayed holes: a few KiB allocated, not 2 GiB.
  expect(disk.blocks * 512).toBeLessThan(1024 * 1024);
  const fd = await import("node:fs/promises").then((m) => m.open(path.join(dest, "disk.img")));
  const tail = Buffer.alloc(7);
  await fd.read(tail, 0, 7, 2 * 1024 * 1024 * 1024 - 16);
  await fd.close();
  expect(tail.toString()).toBe("the end");
}

let n = 0;
const newKey = (): ArtifactKey => ({ kind: "hibernation", id: `sbx-${(n++).toString(16)}` });

function roundTrips(name: string, open: () => ArtifactStore) {
  test(`${name}: a directory goes in and comes back byte for byte, holes and modes kept`, async () => {
    const store = open();
    const key = newKey();
    expect(await store.head(key)).toBeUndefined();
    const put = await store.put(key, source, { sandboxId: key.id, note: "x" });
    expect(put.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Sparse in transit too: far less than the 2 GiB the image claims.
    expect(put.bytes).toBeLessThan(64 * 1024 * 1024);
    expect(await store.head(key)).toEqual(put);
    const dest = path.join(work, `restored-${key.id}`);
    const got = await store.get(key, dest);
    expect(got.meta).toEqual({ sandboxId: key.id, note: "x" });
    await expectSameAsSource(dest);
    // The source is left as it was.
    await expectSameAsSource(source);
    await store.remove(key);
    expect(await store.head(key)).toBeUndefined();
    await store.remove(key);
    await expect(store.get(key, path.join(work, `gone-${key.id}`))).rejects.toMatchObject({
      reason: "not_found",
    });
  }, 120_000);

  test(`${name}: hostile keys are refused before any path is made`, async () => {
    const store = open();
    for (const id of ["../x", "a/b", "", "A", "x".repeat(70)]) {
      await expect(store.head({ kind: "hibernation", id })).rejects.toThrow(/not an artifact id/);
    }
    await expect(store.head({ kind: "../etc" as ArtifactKey["kind"], id: "x" })).rejects.toThrow(
      /unknown artifact kind/,
    );
  });
}

describe("LocalArtifactStore", () => {
  roundTrips("local", () => new LocalArtifactStore(path.join(work, "local-store")));

  test("a corrupted data.tar is refused and nothing is unpacked", async () => {
    const store = new LocalArtifactStore(path.join(work, "local-store"));
    const key = newKey();
    await store.put(key, source, {});
    const tar = path.join(store.root, "hibernation", key.id, "data.tar");
    const fd = await import("node:fs/promises").then((m) => m.open(tar, "r+"));
    await fd.write(Buffer.from("XXXX"), 0, 4, 5 * 1024 * 1024);
    await fd.close();
    const dest = path.join(work, `corrupt-${key.id}`);
    await expect(store.get(key, dest)).rejects.toMatchObject({ reason: "corrupt" });
    const left = (await readdir(work)).filter((f) => f.startsWith(`corrupt-${key.id}`));
    expect(left).toEqual([]);
  }, 60_000);

  test("a store that cannot be written says so, and leaves no manifest", async () => {
    const blocker = path.join(work, "not-a-dir");
    await writeFile(blocker, "");
    const store = new LocalArtifactStore(path.join(blocker, "store"));
    const key = newKey();
    const err = await store.put(key, source, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreError);
    expect((err as ArtifactStoreError).reason).toBe("unavailable");
    expect((err as Error).message).toMatch(/try again/);
  });
});

describe("S3ArtifactStore (s3rver on loopback)", () => {
  let s3: TestS3;
  let relay: FaultRelay;

  beforeAll(async () => {
    s3 = await TestS3.start();
    relay = await FaultRelay.start(s3.port);
  });

  afterAll(async () => {
    await relay?.close();
    await s3?.close();
  });

  roundTrips("s3", () => s3.store());

  test("a store that is down: a clear error, nothing stored; once it is back the same put works", async () => {
    await relay.close();
    const deadPort = relay.port;
    const store = s3.store(deadPort);
    const key = newKey();
    const err = await store.put(key, source, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreError);
    expect((err as ArtifactStoreError).reason).toBe("unavailable");
    expect((err as Error).message).toContain(`127.0.0.1:${deadPort}`);
    expect((err as Error).message).toMatch(/try again/);
    relay = await FaultRelay.start(s3.port);
    const healthy = s3.store(relay.port);
    expect(await healthy.head(key)).toBeUndefined();
    await healthy.put(key, source, {});
    expect(await healthy.head(key)).toBeDefined();
  }, 120_000);

  test("an upload cut half-way fails, leaves no artifact (no manifest), and a retry succeeds", async () => {
    const store = s3.store(relay.port);
    const key = newKey();
    relay.mode = { kind: "cut-after", bytes: 3 * 1024 * 1024 };
    const err = await store.put(key, source, {}).catch((e: unknown) => e);
    relay.mode = { kind: "pass" };
    expect(err).toBeInstanceOf(ArtifactStoreError);
    expect((err as ArtifactStoreError).reason).toBe("unavailable");
    expect(await store.head(key)).toBeUndefined();
    expect(await store.list(key)).not.toContain(`t/hibernation/${key.id}/manifest.json`);
    const put = await store.put(key, source, {});
    const dest = path.join(work, `retried-${key.id}`);
    expect(await store.get(key, dest)).toEqual(put);
    await expectSameAsSource(dest);
  }, 120_000);

  test("a store that hangs times out with a clear error instead of blocking the caller", async () => {
    const store = s3.store(relay.port, { requestTimeoutMs: 500, maxAttempts: 1 });
    relay.mode = { kind: "hang" };
    try {
      const err = await store.put(newKey(), source, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ArtifactStoreError);
      expect((err as ArtifactStoreError).reason).toBe("unavailable");
    } finally {
      relay.mode = { kind: "pass" };
    }
  }, 120_000);

  test("an object changed in the bucket is refused on download and nothing is unpacked", async () => {
    const store = s3.store();
    const key = newKey();
    const put = await store.put(key, path.join(source, "checkpoint"), {});
    const { S3Client, CopyObjectCommand } = await import("@aws-sdk/client-s3");
    const raw = new S3Client({
      region: "us-east-1",
      endpoint: `http://127.0.0.1:${s3.port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    // Other bytes under data.tar's name, the manifest unchanged: only the checksum can tell.
    await raw.send(
      new CopyObjectCommand({
        Bucket: s3.bucket,
        Key: `t/hibernation/${key.id}/data.tar`,
        CopySource: `${s3.bucket}/t/hibernation/${key.id}/manifest.json`,
      }),
    );
    raw.destroy();
    const dest = path.join(work, `tampered-${key.id}`);
    const err = await store.get(key, dest).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArtifactStoreError);
    expect((err as ArtifactStoreError).reason).toBe("corrupt");
    expect(put.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((await readdir(work)).filter((f) => f.startsWith(`tampered-${key.id}`))).toEqual([]);
  }, 120_000);
});

describe("store settings", () => {
  test("local by default; s3 needs a bucket and both keys; bad values are named", () => {
    expect(artifactStoreSettings({}, "/var/lib/wrenn")).toEqual({
      kind: "local",
      dir: "/var/lib/wrenn/artifacts",
    });
    const refused: [Record<string, string>, RegExp][] = [
      [{ WRENN_STORE: "s3" }, /WRENN_S3_BUCKET/],
      [{ WRENN_STORE: "s3", WRENN_S3_BUCKET: "b", WRENN_S3_ACCESS_KEY_ID: "k" }, /both/],
      [{ WRENN_STORE: "ftp" }, /WRENN_STORE/],
      [{ WRENN_STORE: "s3", WRENN_S3_BUCKET: "b", WRENN_S3_PART_SIZE_MB: "1" }, /PART_SIZE/],
      [{ WRENN_STORE: "s3", WRENN_S3_BUCKET: "b", WRENN_S3_ENDPOINT: "ftp://x" }, /ENDPOINT/],
      [{ WRENN_STORE_DIR: "relative" }, /absolute/],
    ];
    for (const [env, message] of refused) {
      expect(() => artifactStoreSettings(env, "/d")).toThrow(message);
    }
    const s3 = artifactStoreSettings(
      {
        WRENN_STORE: "s3",
        WRENN_S3_BUCKET: "b",
        WRENN_S3_ENDPOINT: "http://127.0.0.1:9000",
        WRENN_S3_PREFIX: "w",
      },
      "/d",
    );
    expect(s3).toMatchObject({ kind: "s3", bucket: "b", prefix: "w/", forcePathStyle: true });
  });
});
