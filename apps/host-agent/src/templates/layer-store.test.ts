import { access, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LayerStore, layerCache, layerKey } from "./layer-store.js";

// The layer store on a real filesystem: scopes keep keys apart, a forced build's replacement
// never takes the tree from under a build that is still using the old one, and unnamed layers
// are kept per the retention (grace period, size budget, least recently used first).

let root: string;
let store: LayerStore;

beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), "wrenn-layers-"));
  // No retention: an unnamed layer goes at the next sweep (the retention has its own tests).
  store = new LayerStore(root, { graceMs: 0, maxBytes: 0 });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const present = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

/** A build directory of template `name` (what TemplateStore.startBuild makes). */
async function buildDir(name: string, id: string): Promise<string> {
  const dir = path.join(root, name, `.build-${id}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** A finished layer tree holding one file, on the layers' filesystem. */
async function tree(dir: string, content: string, pad = 0): Promise<string> {
  const t = path.join(dir, `tree-${content}`);
  await mkdir(t, { recursive: true });
  await writeFile(path.join(t, "f"), content + "x".repeat(pad));
  return t;
}

describe("layer keys", () => {
  it("differ between scopes and are equal within one; no scope is a scope of its own", () => {
    const parts = { parent: "p", step: "RUN x" };
    const a = layerCache("aa", false);
    expect(layerKey(a, parts)).toBe(layerKey(layerCache("aa", false), parts));
    expect(layerKey(a, parts)).not.toBe(layerKey(layerCache("bb", false), parts));
    const none = layerCache(undefined, false);
    expect(none.reuse).toBe(false);
    expect(layerKey(none, parts)).not.toBe(layerKey(layerCache(undefined, false), parts));
    expect(layerCache("aa", true).reuse).toBe(false);
  });
});

describe("a forced build replacing a layer", () => {
  it("keeps the old tree while a running build names the key, then the sweep removes it", async () => {
    const key = layerKey(layerCache("aa", false), { step: "RUN x" });
    const first = await buildDir("t1", "one");
    await store.commit(key, await tree(first, "old"), { source: "RUN x" }, first, false);
    // The first build finished: its version names the layer.
    await rm(first, { recursive: true });
    await mkdir(path.join(root, "t1", "v1"), { recursive: true });
    await writeFile(
      path.join(root, "t1", "v1", "template.json"),
      JSON.stringify({ layers: [key] }),
    );

    // A build finds the layer and is using its tree (an overlay lower dir, `cp -al`)...
    const user = await buildDir("t2", "two");
    expect(await store.acquire(key, user)).toBe(true);
    const inUse = await store.rootOf(key);
    // ... while a forced build replaces it.
    const forced = await buildDir("t3", "three");
    await store.commit(key, await tree(forced, "new"), { source: "RUN x" }, forced, true);

    const now = await store.rootOf(key);
    expect(now).not.toBe(inUse);
    expect(await readFile(path.join(now, "f"), "utf8")).toBe("new");
    expect(await readFile(path.join(inUse, "f"), "utf8")).toBe("old");
    expect(await store.sweep()).toEqual([]);
    expect(await readFile(path.join(inUse, "f"), "utf8")).toBe("old");

    // Both builds end (installed or failed): nothing running names the key any more.
    await rm(user, { recursive: true });
    await rm(forced, { recursive: true });
    expect(await store.sweep()).toEqual([]);
    expect(await present(inUse)).toBe(false);
    expect(await readFile(path.join(await store.rootOf(key), "f"), "utf8")).toBe("new");

    // And the layer goes once nothing names it at all.
    await rm(path.join(root, "t1"), { recursive: true });
    expect(await store.sweep()).toEqual([key]);
    expect(await present(path.join(store.dir, key))).toBe(false);
  });

  it("without replace, a layer already made meanwhile is kept and the new tree dropped", async () => {
    const key = layerKey(layerCache("aa", false), { step: "RUN y" });
    const a = await buildDir("t1", "a");
    await store.commit(key, await tree(a, "first"), { source: "RUN y" }, a, false);
    const b = await buildDir("t2", "b");
    const late = await tree(b, "second");
    await store.commit(key, late, { source: "RUN y" }, b, false);
    expect(await readFile(path.join(await store.rootOf(key), "f"), "utf8")).toBe("first");
    expect(await present(late)).toBe(false);
  });
});

describe("retention of layers nothing names", () => {
  const hour = 3600_000;
  /** A layer a build made and left (failed): nothing names it; last used `ago` ms since. */
  async function unnamed(s: LayerStore, step: string, ago: number): Promise<string> {
    const key = layerKey(layerCache("aa", false), { step });
    const dir = await buildDir("failed", step);
    await s.commit(key, await tree(dir, step, 100_000), { source: step }, dir, false);
    await rm(dir, { recursive: true });
    const at = new Date(Date.now() - ago);
    await utimes(path.join(s.dir, key, "layer.json"), at, at);
    return key;
  }

  it("keeps recent ones within the budget, removing the least recently used first", async () => {
    // Room for two layers of ~100 kB, not three.
    const s = new LayerStore(root, { graceMs: 2 * hour, maxBytes: 250_000 });
    const old = await unnamed(s, "old", 3 * hour);
    const lru = await unnamed(s, "lru", 30 * 60_000);
    const mid = await unnamed(s, "mid", 20 * 60_000);
    const fresh = await unnamed(s, "fresh", 0);
    expect((await s.sweep()).sort()).toEqual([old, lru].sort());
    expect(await present(path.join(s.dir, mid))).toBe(true);
    expect(await present(path.join(s.dir, fresh))).toBe(true);

    // Reusing a layer is a use: it becomes the most recent and outlives one made after it.
    const newer = await unnamed(s, "newer", 60_000);
    const build = await buildDir("next", "n");
    expect(await s.acquire(mid, build)).toBe(true);
    await rm(build, { recursive: true });
    expect(await s.sweep()).toEqual([newer]);
    expect(await present(path.join(s.dir, mid))).toBe(true);
    expect(await present(path.join(s.dir, fresh))).toBe(true);
  });

  it("drops at once the unnamed layers it is told to (a deleted template's)", async () => {
    const s = new LayerStore(root, { graceMs: 2 * hour, maxBytes: 10_000_000 });
    const keep = await unnamed(s, "keep", 0);
    const gone = await unnamed(s, "gone", 0);
    expect(await s.sweep({ drop: [gone] })).toEqual([gone]);
    expect(await s.sweep()).toEqual([]);
    expect(await present(path.join(s.dir, keep))).toBe(true);
  });
});
