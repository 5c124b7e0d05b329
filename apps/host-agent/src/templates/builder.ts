import { access, copyFile, mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../command/run-command.js";
import { withBuildLock } from "./build-lock.js";
import { loadRecipe, type Recipe } from "./recipe.js";
import type { InstalledTemplate, TemplateStore } from "./store.js";
import { templateVersion } from "./version.js";

export interface BuildProgress {
  phase:
    | "prepare"
    | "wait"
    | "cached"
    | "debootstrap"
    | "customize"
    | "verify"
    | "install"
    | "resolve"
    | "pull"
    | "unpack"
    | "configure"
    | `step-${number}`
    /** The start and ready commands run once at the end, and the checkpoint (image builds). */
    | "finalize"
    | "done";
  message: string;
}

/** The steps of a build in order, so progress can say "step 2 of 5". */
const BUILD_STEPS = ["prepare", "debootstrap", "customize", "verify", "install"] as const;

/** "[step 2/5 debootstrap]" for a build step, "[cached]" and the like for the rest. */
export function buildStepLabel(phase: BuildProgress["phase"]): string {
  const n = (BUILD_STEPS as readonly string[]).indexOf(phase);
  return n < 0 ? `[${phase}]` : `[step ${n + 1}/${BUILD_STEPS.length} ${phase}]`;
}

export interface BuildOptions {
  force?: boolean;
  onProgress?: (p: BuildProgress) => void;
}

export class TemplateBuildError extends Error {}

/**
 * Builds template root filesystems from images/<name>/ with mmdebstrap, cached by version
 * (the hash of every input).
 */
export class TemplateBuilder {
  constructor(
    private readonly store: TemplateStore,
    private readonly imagesDir: string,
    private readonly envdDistDir: string,
  ) {}

  async build(name: string, opts: BuildOptions = {}): Promise<InstalledTemplate> {
    const progress = opts.onProgress ?? (() => {});
    const recipe = await loadRecipe(this.imagesDir, name);
    await this.checkEnvdBuilt();
    const version = await templateVersion(recipe.dir, this.envdDistDir);
    return withBuildLock(
      this.store.nameDir(name),
      () => progress({ phase: "wait", message: "another build of this template is running" }),
      async () => {
        const existing = await this.store.current(name);
        if (existing?.version === version && !opts.force) {
          progress({ phase: "cached", message: `${name} ${version} is up to date` });
          return existing;
        }
        await this.store.removeStaleBuilds(name);
        const buildDir = await this.store.startBuild(name);
        try {
          return await this.buildInto(buildDir, recipe, version, progress);
        } catch (err) {
          await rm(buildDir, { recursive: true, force: true });
          throw err;
        }
      },
    );
  }

  private async buildInto(
    buildDir: string,
    recipe: Recipe,
    version: string,
    progress: (p: BuildProgress) => void,
  ): Promise<InstalledTemplate> {
    const started = Date.now();
    progress({ phase: "prepare", message: `building ${recipe.name} ${version}` });
    const artifacts = path.join(buildDir, "artifacts");
    await this.prepareArtifacts(recipe, artifacts);
    const rootfs = path.join(buildDir, "rootfs");
    const debs = this.store.debCacheDir();
    await mkdir(debs, { recursive: true });
    if (/\s/.test(debs)) {
      throw new TemplateBuildError(`the template directory may not contain spaces: ${debs}`);
    }

    progress({ phase: "debootstrap", message: `mmdebstrap ${recipe.suite} (${recipe.variant})` });
    const sources = "/etc/apt/sources.list.d/debian.sources";
    const hasHostSources = await exists(sources);
    await runCommand(
      "mmdebstrap",
      [
        `--variant=${recipe.variant}`,
        `--include=${recipe.packages.join(",")}`,
        // Keep downloaded .debs between builds: a rebuild then needs no network at all.
        "--skip=download/empty",
        "--skip=essential/unlink",
        '--setup-hook=mkdir -p "$1"/var/cache/apt/archives/',
        `--setup-hook=sync-in ${debs} /var/cache/apt/archives/`,
        `--customize-hook=sync-out /var/cache/apt/archives ${debs}`,
        '--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb',
        '--customize-hook="$WRENN_CUSTOMIZE" "$1"',
        recipe.suite,
        rootfs,
        ...(hasHostSources ? [sources] : []),
      ],
      {
        env: {
          WRENN_CUSTOMIZE: path.join(recipe.dir, "customize.sh"),
          WRENN_ARTIFACTS: artifacts,
          WRENN_USER_NAME: recipe.user.name,
          WRENN_USER_UID: String(recipe.user.uid),
        },
        onLine: (line) =>
          progress({
            phase: line.includes("WRENN_CUSTOMIZE") ? "customize" : "debootstrap",
            message: line,
          }),
      },
    );

    progress({ phase: "verify", message: "checking node, envd and the user in the new root" });
    await this.verify(rootfs, recipe);
    await rm(artifacts, { recursive: true, force: true });

    progress({ phase: "install", message: "making it current" });
    const envdVersion = await this.envdVersion();
    const template = await this.store.install(buildDir, {
      name: recipe.name,
      version,
      builtAt: new Date().toISOString(),
      envdVersion,
      sizeBytes: await diskUsage(path.join(buildDir, "rootfs")),
      description: recipe.description,
    });
    progress({
      phase: "done",
      message: `${recipe.name} ${version} built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    });
    return template;
  }

  private async checkEnvdBuilt(): Promise<void> {
    if (!(await exists(path.join(this.envdDistDir, "envd.mjs")))) {
      throw new TemplateBuildError(
        `envd is not built (${this.envdDistDir}/envd.mjs is missing): run \`npm run build\` first`,
      );
    }
  }

  async envdVersion(): Promise<string> {
    const pkg = JSON.parse(
      await readFile(path.join(this.envdDistDir, "..", "package.json"), "utf8"),
    ) as { version?: unknown };
    if (typeof pkg.version !== "string") throw new TemplateBuildError("envd has no version");
    return pkg.version;
  }

  /**
   * envd, its helpers, and the recipe's C sources compiled for the template: native/*.c into
   * shared libraries (lib/lib<name>.so), tools/*.c into programs (tools/<name>). The recipe's
   * customize.sh decides where each goes.
   */
  private async prepareArtifacts(recipe: Recipe, dir: string): Promise<void> {
    await mkdir(path.join(dir, "bin"), { recursive: true });
    await mkdir(path.join(dir, "lib"), { recursive: true });
    await mkdir(path.join(dir, "tools"), { recursive: true });
    await copyFile(path.join(this.envdDistDir, "envd.mjs"), path.join(dir, "envd.mjs"));
    const helpers = path.join(this.envdDistDir, "bin");
    if (await exists(helpers)) {
      for (const f of await readdir(helpers)) {
        await copyFile(path.join(helpers, f), path.join(dir, "bin", f));
      }
    }
    // The host is the same Debian release as the template, so its gcc and glibc fit.
    const native = path.join(recipe.dir, "native");
    if (await exists(native)) {
      for (const f of (await readdir(native)).filter((n) => n.endsWith(".c"))) {
        const out = path.join(dir, "lib", `lib${f.slice(0, -2)}.so`);
        await runCommand("gcc", [
          "-O2",
          "-Wall",
          "-shared",
          "-fPIC",
          "-o",
          out,
          path.join(native, f),
        ]);
      }
    }
    // Headers beside the sources are found through the sources' own directory.
    const tools = path.join(recipe.dir, "tools");
    if (await exists(tools)) {
      for (const f of (await readdir(tools)).filter((n) => n.endsWith(".c"))) {
        const out = path.join(dir, "tools", f.slice(0, -2));
        await runCommand("gcc", [
          "-O2",
          "-Wall",
          "-Wextra",
          "-D_FORTIFY_SOURCE=2",
          "-o",
          out,
          path.join(tools, f),
        ]);
      }
    }
  }

  private async verify(rootfs: string, recipe: Recipe): Promise<void> {
    await runCommand("chroot", [rootfs, "/usr/bin/node", "--version"]);
    await runCommand("chroot", [rootfs, "/usr/bin/id", recipe.user.name]);
    await runCommand("chroot", [rootfs, "/bin/ls", "/opt/wrenn/envd.mjs"]);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function diskUsage(dir: string): Promise<number> {
  const out = await runCommand("du", ["-sb", dir]);
  return Number(out.split(/\s/)[0]) || 0;
}
