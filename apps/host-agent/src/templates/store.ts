import { randomBytes } from "node:crypto";
import {
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import type { ImageConfig } from "./image-config.js";
import { DEFAULT_LAYER_RETENTION, type LayerRetention, LayerStore } from "./layer-store.js";
import { unmountUnder } from "./layer-tree.js";
import { TEMPLATE_NAME } from "./recipe.js";

/** What a built template records about itself (template.json next to rootfs/). */
export interface TemplateMeta {
  name: string;
  version: string;
  builtAt: string;
  envdVersion: string;
  sizeBytes: number;
  description: string;
  /** Built from this OCI image: envd comes from the host's envd runtime, not the image. */
  fromImage?: string;
  /** Built on top of this host template (its root copied, then steps run). */
  fromTemplate?: string;
  /** The image's Env/WorkingDir/User (templates from images). */
  image?: ImageConfig;
  /** The cached layers it was built from, base first (layer-store.ts): kept while it exists. */
  layers?: string[];
}

export interface InstalledTemplate extends TemplateMeta {
  /** Read-only root filesystem shared by every sandbox of this template version. */
  rootfs: string;
  /** Directory of this version: rootfs/, template.json and later a boot checkpoint. */
  dir: string;
}

/**
 * On-disk home of built templates:
 *   <root>/<name>/<version>/{rootfs/,template.json}   immutable once in place
 *   <root>/<name>/current -> <version>                switched atomically by rename(2)
 *   <root>/<name>/.build-*                            unfinished builds, removed on failure
 * A build only becomes `current` after it finished and was verified, so a broken or partial
 * build never replaces a good one.
 */
export class TemplateStore {
  /** The cached build layers under <root>/.layers, kept per the operator's retention. */
  readonly layers: LayerStore;

  constructor(
    readonly root: string,
    retention: LayerRetention = DEFAULT_LAYER_RETENTION,
  ) {
    this.layers = new LayerStore(root, retention);
  }

  nameDir(name: string): string {
    if (!TEMPLATE_NAME.test(name)) throw new Error(`invalid template name ${JSON.stringify(name)}`);
    return path.join(this.root, name);
  }

  debCacheDir(): string {
    return path.join(this.root, ".cache", "debs");
  }

  async current(name: string): Promise<InstalledTemplate | undefined> {
    const dir = this.nameDir(name);
    let version: string;
    try {
      version = await readlink(path.join(dir, "current"));
    } catch {
      return undefined;
    }
    return this.read(path.join(dir, version));
  }

  async list(): Promise<InstalledTemplate[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch {
      return [];
    }
    const found = await Promise.all(
      names.filter((n) => TEMPLATE_NAME.test(n)).map((n) => this.current(n)),
    );
    return found.filter((t): t is InstalledTemplate => t !== undefined);
  }

  /** A fresh directory for a build, on the same filesystem as its final place. */
  async startBuild(name: string): Promise<string> {
    const dir = path.join(this.nameDir(name), `.build-${randomBytes(4).toString("hex")}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Moves a finished build into place and makes it current. */
  async install(buildDir: string, meta: TemplateMeta): Promise<InstalledTemplate> {
    const dir = this.nameDir(meta.name);
    const final = path.join(dir, meta.version);
    await writeFile(path.join(buildDir, "template.json"), `${JSON.stringify(meta, null, 2)}\n`);
    await rm(final, { recursive: true, force: true });
    await rename(buildDir, final);
    const link = path.join(dir, `.current-${randomBytes(4).toString("hex")}`);
    await symlink(meta.version, link);
    await rename(link, path.join(dir, "current"));
    return this.read(final);
  }

  /** Removes a template and every version of it (the caller checks that nothing uses it). */
  async remove(name: string): Promise<void> {
    const dir = this.nameDir(name);
    const layers = await this.layersOf(dir);
    // Out of the listing first (atomic), then the bytes.
    const gone = path.join(this.root, `.removed-${name}-${randomBytes(4).toString("hex")}`);
    try {
      await rename(dir, gone);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    await rm(gone, { recursive: true, force: true });
    // Its layers go too, at once (not kept for a rebuild: it was deleted), unless another
    // template or a running build uses them.
    await this.layers.sweep({ drop: layers }).catch(() => {});
  }

  /** The layers every version of the template in `dir` was built from. */
  private async layersOf(dir: string): Promise<string[]> {
    const keys: string[] = [];
    for (const entry of await readdir(dir).catch(() => [] as string[])) {
      if (entry.startsWith(".") || entry === "current") continue;
      const meta = await this.read(path.join(dir, entry)).catch(() => undefined);
      keys.push(...(meta?.layers ?? []));
    }
    return keys;
  }

  /** Removes unfinished builds left by a crash. */
  async removeStaleBuilds(name: string): Promise<void> {
    const dir = this.nameDir(name);
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    await Promise.all(
      entries
        .filter((e) => e.startsWith(".build-") || e.startsWith(".current-"))
        .map(async (e) => {
          // A crashed build may have left a step's overlay mounted.
          await unmountUnder(path.join(dir, e));
          await rm(path.join(dir, e), { recursive: true, force: true });
        }),
    );
  }

  private async read(dir: string): Promise<InstalledTemplate> {
    const meta = JSON.parse(
      await readFile(path.join(dir, "template.json"), "utf8"),
    ) as TemplateMeta;
    return { ...meta, dir, rootfs: path.join(dir, "rootfs") };
  }
}
