import { createHash, randomBytes } from "node:crypto";
import {
  access,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command/run-command.js";
import { withBuildLock } from "./build-lock.js";
import type { ImageConfig } from "./image-config.js";

// Bump when the builder changes what a layer holds for the same inputs (prepareImageRoot,
// the step runner): old layers then stop matching instead of being reused wrongly.
// 2: every key has a cache scope (no layer is shared across owners).
const LAYER_FORMAT = "2";

/** What a layer records about itself (<key>/layer.json beside root/). */
export interface LayerMeta {
  key: string;
  createdAt: string;
  /** What made it: "image <digest>", "template <name> <version>" or the step. */
  source: string;
  /** A base layer's Env/WorkingDir/User (steps' layers derive theirs from the steps). */
  config?: ImageConfig;
  /** Its current tree in <key>/ ("root" when absent): a forced build puts a new one beside. */
  root?: string;
}

/**
 * How long layers nothing names any more are kept (operator settings, agent-config.ts): a
 * failed build's layers, a deleted scope's, a replaced version's. Without them, the fixed
 * rebuild after a failure would pull the image and rerun every step before the failure again.
 * An unnamed layer stays while it was last used less than `graceMs` ago and the unnamed
 * layers kept, newest first, fit in `maxBytes`; the sweep removes the least recently used
 * first. `graceMs` 0 keeps none.
 */
export interface LayerRetention {
  graceMs: number;
  maxBytes: number;
}

export const DEFAULT_LAYER_RETENTION: LayerRetention = {
  graceMs: 24 * 3600_000,
  maxBytes: 10 * 1024 ** 3,
};

/**
 * Which layers a build may reuse. Layers are shared only within one scope (one owner: the
 * control plane's BuildTemplateRequest.cache_scope), so nobody reuses, or learns through a
 * CACHED line, a layer another owner's build made. `reuse` false (a forced build) reruns
 * every step and its layers replace the cached ones of the same keys.
 */
export interface LayerCache {
  scope: string;
  reuse: boolean;
}

/**
 * The cache of a build: its scope, or, without one, a scope of its own, so the build neither
 * finds a layer nor leaves one anybody can find.
 */
export function layerCache(scope: string | undefined, force: boolean): LayerCache {
  return scope
    ? { scope, reuse: !force }
    : { scope: `once-${randomBytes(16).toString("hex")}`, reuse: false };
}

/** A layer's cache key: the hash of its scope and everything that decides its bytes. */
export function layerKey(cache: LayerCache, parts: Record<string, unknown>): string {
  return createHash("sha256")
    .update(JSON.stringify({ format: LAYER_FORMAT, scope: cache.scope, ...parts }))
    .digest("hex");
}

/**
 * Cached build layers, once per host, shared by every template whose inputs and cache scope
 * give the same key: <templates>/.layers/<key>/{root/,layer.json}. A layer's root is the
 * complete root filesystem after its step, as a tree of hard links: a file no step touched is
 * one inode in every layer and every template built from them, so a layer costs only the
 * files its step wrote plus directory entries. Nothing in a layer is ever written after it is
 * in place: steps run on an overlay above it and a template's root is a hard-link copy that
 * sandboxes only use as a read-only overlay lower layer.
 *
 * Unused layers are found by mark-and-sweep (sweep()): a layer lives while a template version's
 * template.json or a running build's layers.json names it, and an unnamed one while the
 * retention keeps it (its last use is layer.json's mtime). A build pins a layer (records it in
 * its layers.json) under the same lock as the sweep, so a sweep never takes a layer a build has
 * just found in the cache.
 *
 * A forced build replaces a layer without moving or deleting the tree in use: its tree goes
 * beside the old one (<key>/root-<random>/) and layer.json, renamed over atomically, names it.
 * A build that found the old tree may still be copying it (`cp -al`) or have it as an overlay
 * lower dir, so the sweep removes a replaced tree only once no running build names the key.
 */
export class LayerStore {
  readonly dir: string;

  constructor(
    private readonly templatesRoot: string,
    private readonly retention: LayerRetention = DEFAULT_LAYER_RETENTION,
  ) {
    this.dir = path.join(templatesRoot, ".layers");
  }

  /** The layer's current tree (call it after acquire/commit: the build's pin keeps it). */
  async rootOf(key: string): Promise<string> {
    return path.join(this.dir, checkKey(key), checkTree((await this.meta(key)).root ?? "root"));
  }

  async meta(key: string): Promise<LayerMeta> {
    return JSON.parse(
      await readFile(path.join(this.dir, checkKey(key), "layer.json"), "utf8"),
    ) as LayerMeta;
  }

  /** Whether the layer is cached; if it is, it is pinned for the build in `buildDir`. */
  async acquire(key: string, buildDir: string): Promise<boolean> {
    return this.locked(async () => {
      const meta = path.join(this.dir, checkKey(key), "layer.json");
      if (!(await exists(meta))) return false;
      await pin(buildDir, key);
      // Its last use: the retention keeps recently used unnamed layers longest.
      const now = new Date();
      await utimes(meta, now, now).catch(() => {});
      return true;
    });
  }

  /**
   * Puts a finished layer (its root tree `root`, on the same filesystem) in place under `key`
   * and pins it. With `replace` (a forced build) a cached layer of that key is replaced: its
   * old tree stays until the sweep finds no running build naming the key, and templates built
   * from it keep their own links to its files.
   */
  async commit(
    key: string,
    root: string,
    meta: Omit<LayerMeta, "key" | "createdAt">,
    buildDir: string,
    replace: boolean,
  ): Promise<void> {
    const staging = path.join(path.dirname(root), `layer-${randomBytes(4).toString("hex")}`);
    const tree = `root-${randomBytes(4).toString("hex")}`;
    await mkdir(staging);
    await rename(root, path.join(staging, tree));
    const full: LayerMeta = { key, createdAt: new Date().toISOString(), ...meta, root: tree };
    await writeFile(path.join(staging, "layer.json"), `${JSON.stringify(full, null, 2)}\n`);
    await mkdir(this.dir, { recursive: true });
    await this.locked(async () => {
      await pin(buildDir, key);
      const final = path.join(this.dir, checkKey(key));
      if (await exists(path.join(final, "layer.json"))) {
        // Another build made the same layer meanwhile: same inputs, same bytes; keep that one.
        if (!replace) return;
        // Beside the old tree, which a build may be using; then the meta names the new one.
        await rename(path.join(staging, tree), path.join(final, tree));
        await rename(path.join(staging, "layer.json"), path.join(final, "layer.json"));
      } else {
        await rm(final, { recursive: true, force: true });
        await rename(staging, final);
      }
    });
    await rm(staging, { recursive: true, force: true });
  }

  /**
   * Removes the layers that no template version and no running build names and the retention
   * does not keep, and the trees forced builds replaced of layers no running build names.
   * Unnamed layers in `drop` (a deleted template's: its owner wants the space back) go at
   * once. Returns the keys removed.
   */
  async sweep(opts: { drop?: readonly string[] } = {}): Promise<string[]> {
    if (!(await exists(this.dir))) return [];
    return this.locked(async () => {
      const { live, building } = await this.liveKeys();
      const gone: string[] = [];
      const trash = async (p: string) => {
        const to = path.join(this.dir, `.trash-${randomBytes(4).toString("hex")}`);
        await rename(p, to);
        await rm(to, { recursive: true, force: true });
      };
      const keys = (await readdir(this.dir)).filter((k) => !k.startsWith("."));
      const drop = new Set(opts.drop ?? []);
      const unnamed = keys.filter((k) => !live.has(k));
      const kept = await this.retained(unnamed.filter((k) => !drop.has(k)));
      for (const key of keys) {
        if (!live.has(key)) {
          if (kept.has(key)) continue;
          await trash(path.join(this.dir, key));
          gone.push(key);
          continue;
        }
        if (building.has(key)) continue;
        const meta = await this.meta(key).catch(() => undefined);
        if (!meta) continue;
        const current = meta.root ?? "root";
        for (const entry of await readdir(path.join(this.dir, key))) {
          if (/^root(-[0-9a-f]+)?$/.test(entry) && entry !== current) {
            await trash(path.join(this.dir, key, entry));
          }
        }
      }
      return gone;
    });
  }

  /**
   * Of unnamed layers, those the retention keeps: used within the grace period, most recent
   * first while they fit in the size budget. A layer's size is what it adds to the newer
   * kept ones (du counts a hard-linked file once), so a shared base is not counted twice.
   */
  private async retained(keys: string[]): Promise<Set<string>> {
    const kept = new Set<string>();
    if (this.retention.graceMs <= 0 || keys.length === 0) return kept;
    const now = Date.now();
    const used = await Promise.all(
      keys.map(async (key) => ({
        key,
        at: await stat(path.join(this.dir, key, "layer.json")).then(
          (s) => s.mtimeMs,
          () => 0,
        ),
      })),
    );
    const recent = used
      .filter((u) => u.at > 0 && now - u.at < this.retention.graceMs)
      .sort((a, b) => b.at - a.at);
    if (recent.length === 0) return kept;
    const sizes = await runCommand(
      "du",
      ["-sb", "--", ...recent.map((u) => path.join(this.dir, u.key))],
      { timeoutMs: 10 * 60_000 },
    );
    const bytes = new Map<string, number>();
    for (const line of sizes.split("\n")) {
      const m = /^(\d+)\s+(.*)$/.exec(line);
      if (m?.[1] && m[2]) bytes.set(path.basename(m[2]), Number(m[1]));
    }
    let total = 0;
    for (const u of recent) {
      total += bytes.get(u.key) ?? 0;
      if (total > this.retention.maxBytes) break;
      kept.add(u.key);
    }
    return kept;
  }

  /** The keys some template version or running build names, and those a running build does. */
  private async liveKeys(): Promise<{ live: Set<string>; building: Set<string> }> {
    const live = new Set<string>();
    const building = new Set<string>();
    for (const name of await readdir(this.templatesRoot).catch(() => [] as string[])) {
      if (name.startsWith(".")) continue;
      const nameDir = path.join(this.templatesRoot, name);
      for (const entry of await readdir(nameDir).catch(() => [] as string[])) {
        const file = entry.startsWith(".build-")
          ? path.join(nameDir, entry, "layers.json")
          : path.join(nameDir, entry, "template.json");
        const keys = await readFile(file, "utf8").then(
          (t) => {
            const j = JSON.parse(t) as { layers?: unknown } | unknown[];
            return Array.isArray(j) ? j : Array.isArray(j.layers) ? j.layers : [];
          },
          () => [],
        );
        for (const k of keys) {
          if (typeof k !== "string") continue;
          live.add(k);
          if (entry.startsWith(".build-")) building.add(k);
        }
      }
    }
    return { live, building };
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    return withBuildLock(this.dir, () => {}, fn);
  }
}

/** The layers a build uses, in order (its layers.json): kept by a sweep while it runs. */
export async function pinnedLayers(buildDir: string): Promise<string[]> {
  return readFile(path.join(buildDir, "layers.json"), "utf8").then(
    (t) => JSON.parse(t) as string[],
    () => [],
  );
}

async function pin(buildDir: string, key: string): Promise<void> {
  const keys = await pinnedLayers(buildDir);
  if (!keys.includes(key)) keys.push(key);
  await writeFile(path.join(buildDir, "layers.json"), JSON.stringify(keys));
}

function checkKey(key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`invalid layer key ${JSON.stringify(key)}`);
  return key;
}

function checkTree(name: string): string {
  if (!/^root(-[0-9a-f]{8})?$/.test(name)) throw new Error(`invalid layer tree ${name}`);
  return name;
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}
