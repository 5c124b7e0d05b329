import { createHash } from "node:crypto";
import { chmod, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  checkImageRef,
  type ErrorCode,
  errorMessage,
  imageRegistry,
  imageRepository,
} from "@wrenn/contract";
import { CommandError, runCommand } from "../command/run-command.js";
import { EnvdError } from "../envd/envd-client.js";
import { withBuildLock } from "./build-lock.js";
import { type BuildStepInput, type LayerRef, runBuildSteps } from "./build-steps.js";
import type { BuildProgress } from "./builder.js";
import type { ImageConfig } from "./image-config.js";
import { prepareImageRoot } from "./image-root.js";
import { type LayerCache, type LayerStore, layerCache, layerKey } from "./layer-store.js";
import { readImageConfig } from "./oci-layout.js";
import type { StepSandbox } from "./step-sandbox.js";
import type { InstalledTemplate, TemplateMeta, TemplateStore } from "./store.js";

export interface ImageBuildRequest {
  /** The agent's name for the template (the control plane picks it). */
  name: string;
  /** The base: an OCI image, or (image empty) this host's template `fromTemplate`. */
  image: string;
  fromTemplate?: string;
  credentials?: { username: string; password: string };
  /** Run in order on the base (build-steps.ts). */
  steps?: BuildStepInput[];
  startCmd?: string;
  readyCmd?: string;
  /** Skip the layer cache: every step reruns (E2B's `force`, the CLI's --no-cache). */
  force?: boolean;
  /**
   * Layers are reused only from builds of the same scope (the control plane's hash of the
   * owner; checked by the contract's checkTemplateCacheScope). Without one nothing is cached.
   */
  cacheScope?: string;
  onProgress?: (p: BuildProgress) => void;
  /**
   * The caller stopped following the build (cancelled, past its time limit, or gone): the
   * running step is killed, nothing more runs, and the build is removed as any failed one.
   */
  signal?: AbortSignal;
}

/** A build that failed for a reason the caller can fix; `code` is the contract's. */
export class ImageBuildError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const PULL_TIMEOUT_MS = 30 * 60_000;

/** Throws template_build_cancelled once the build's caller has stopped it. */
export function checkNotCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new ImageBuildError(
      "template_build_cancelled",
      "the build was stopped before it finished (cancelled, or past its time limit)",
    );
  }
}

/**
 * Templates from OCI images, without a Docker engine: skopeo copies the image from its registry
 * into an OCI layout, umoci unpacks its layers into a root filesystem, and the template keeps
 * the image's Env, WorkingDir and User. envd is not put into the image: sandboxes of it get
 * the host's envd runtime mounted read-only (runtime/gvisor/envd-runtime.ts). The build dir is
 * removed on any failure, so a failed build leaves nothing behind.
 */
export class ImageTemplateBuilder {
  private readonly layers: LayerStore;

  constructor(
    private readonly store: TemplateStore,
    private readonly envdVersion: () => Promise<string>,
    /** Registries that may be plain HTTP besides loopback ones (WRENN_INSECURE_REGISTRIES). */
    private readonly insecureRegistries: readonly string[] = [],
    /** Where build steps run; without it, a request with steps is refused. */
    private readonly stepSandbox?: StepSandbox,
    /**
     * The build's `finalize`: runs the start and ready commands in a sandbox of the template
     * built (not yet current) and saves it with the service up (SandboxManager's
     * finalizeTemplate). Without it a start command is only recorded.
     */
    private readonly finalize?: (
      t: InstalledTemplate,
      say: (message: string) => void,
      signal?: AbortSignal,
    ) => Promise<void>,
  ) {
    this.layers = store.layers;
  }

  async build(req: ImageBuildRequest): Promise<InstalledTemplate> {
    const progress = req.onProgress ?? (() => {});
    const image = req.fromTemplate ? "" : checkImageRef(req.image);
    if ((req.steps?.length ?? 0) > 0 && !this.stepSandbox) {
      throw new ImageBuildError("not_supported", "this agent cannot run build steps");
    }
    const built = withBuildLock(
      this.store.nameDir(req.name),
      () => progress({ phase: "wait", message: "another build of this template is running" }),
      async () => {
        checkNotCancelled(req.signal);
        await this.store.removeStaleBuilds(req.name);
        const buildDir = await this.store.startBuild(req.name);
        const cache = layerCache(req.cacheScope, req.force === true);
        try {
          return req.fromTemplate
            ? await this.buildFromTemplate(buildDir, req.fromTemplate, req, cache, progress)
            : await this.buildInto(buildDir, image, req, cache, progress);
        } catch (err) {
          await rm(buildDir, { recursive: true, force: true });
          // Whatever the kill made the running program say, the reason is the cancellation.
          checkNotCancelled(req.signal);
          throw err;
        }
      },
    );
    // A first build that failed leaves no trace of the name either. Then layers no template
    // or build names any more (a failed build's) are swept, past the retention that keeps
    // them for the fixed rebuild (LayerRetention).
    const sweep = () =>
      this.layers.sweep().catch((err: unknown) => {
        progress({ phase: "install", message: `sweeping unused layers: ${String(err)}` });
      });
    return built.then(
      async (t) => {
        await sweep();
        return t;
      },
      async (err: unknown) => {
        if (!(await this.store.current(req.name))) await this.store.remove(req.name);
        await sweep();
        throw err;
      },
    );
  }

  private async buildInto(
    buildDir: string,
    image: string,
    req: ImageBuildRequest,
    cache: LayerCache,
    progress: (p: BuildProgress) => void,
  ): Promise<InstalledTemplate> {
    const started = Date.now();
    const registry = imageRegistry(image);
    const plain = this.mayUsePlainHttp(registry);
    // Credentials go through an auth file only this process can read, never the command line.
    const authDir = await mkdtemp(path.join(tmpdir(), "wrenn-auth-"));
    try {
      const auth = req.credentials ? await writeAuthFile(authDir, registry, req.credentials) : [];
      progress({ phase: "resolve", message: `looking up ${image} in ${registry}` });
      // inspect first (manifest only): a wrong name, credentials or registry fail in a second.
      const inspectTls = plain ? ["--tls-verify=false"] : [];
      const manifest = await this.skopeo(image, [
        "inspect",
        ...inspectTls,
        ...auth,
        "--raw",
        `docker://${image}`,
      ]);
      // The image's resolved digest keys its layer (the same digest is the same bytes), with
      // the repository it came from: knowing a private image's digest is no proof of access,
      // reading it from this repository (with these credentials, just now) is.
      const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
      const key = layerKey(cache, { image: digest, repository: imageRepository(image) });
      if (cache.reuse && (await this.layers.acquire(key, buildDir))) {
        progress({ phase: "pull", message: `CACHED ${image} (${digest})` });
        const base = { key, root: await this.layers.rootOf(key) };
        const config = (await this.layers.meta(key)).config ?? {
          env: [],
          workdir: "",
          user: "user",
        };
        return await this.finish(buildDir, base, config, req, cache, progress, {
          description: `from ${image}`,
          fromImage: image,
          started,
        });
      }
      progress({ phase: "pull", message: `skopeo copy docker://${image}` });
      const layout = path.join(buildDir, "oci");
      await this.skopeo(
        image,
        [
          "copy",
          ...(plain ? ["--src-tls-verify=false"] : []),
          ...auth,
          `docker://${image}`,
          `oci:${layout}:image`,
        ],
        (line) => progress({ phase: "pull", message: line }),
        req.signal,
      );
      const config = await readImageConfig(layout, "image");
      progress({ phase: "unpack", message: "umoci unpack" });
      const bundle = path.join(buildDir, "bundle");
      checkNotCancelled(req.signal);
      await runCommand("umoci", ["unpack", "--image", `${layout}:image`, bundle], {
        timeoutMs: PULL_TIMEOUT_MS,
        ...(req.signal ? { signal: req.signal } : {}),
        onLine: (line) => progress({ phase: "unpack", message: line }),
      });
      const rootfs = path.join(buildDir, "base-root");
      await rename(path.join(bundle, "rootfs"), rootfs);
      await rm(bundle, { recursive: true, force: true });
      await rm(layout, { recursive: true, force: true });

      progress({ phase: "configure", message: "user, mount points and the envd runtime's place" });
      const imageConfig = await prepareImageRoot(rootfs, config, (m) =>
        progress({ phase: "configure", message: m }),
      );
      await this.layers.commit(
        key,
        rootfs,
        { source: `image ${image} ${digest}`, config: imageConfig },
        buildDir,
        !cache.reuse,
      );
      const base = { key, root: await this.layers.rootOf(key) };
      return await this.finish(buildDir, base, imageConfig, req, cache, progress, {
        description: `from ${image}`,
        fromImage: image,
        started,
      });
    } finally {
      await rm(authDir, { recursive: true, force: true });
    }
  }

  /**
   * On top of a template of this host: its root is copied (reflinked where the filesystem
   * can), its config carried on. A template whose envd lives in its own root (base) stays so.
   */
  private async buildFromTemplate(
    buildDir: string,
    parentName: string,
    req: ImageBuildRequest,
    cache: LayerCache,
    progress: (p: BuildProgress) => void,
  ): Promise<InstalledTemplate> {
    const started = Date.now();
    const parent = await this.store.current(parentName);
    if (!parent) {
      throw new ImageBuildError(
        "template_not_found",
        `template ${parentName} is not built on this host`,
      );
    }
    progress({ phase: "resolve", message: `on top of template ${parentName} ${parent.version}` });
    // Keyed by the parent's name and version (a version is never rebuilt with other bytes).
    const key = layerKey(cache, { template: parentName, version: parent.version });
    if (!cache.reuse || !(await this.layers.acquire(key, buildDir))) {
      const rootfs = path.join(buildDir, "base-root");
      // Hard links: the parent's root is never written (sandboxes use it as overlay lower).
      await runCommand("cp", ["-al", parent.rootfs, rootfs], { timeoutMs: PULL_TIMEOUT_MS });
      await this.layers.commit(
        key,
        rootfs,
        { source: `template ${parentName} ${parent.version}` },
        buildDir,
        !cache.reuse,
      );
    } else {
      progress({ phase: "resolve", message: `CACHED template ${parentName} ${parent.version}` });
    }
    return this.finish(
      buildDir,
      { key, root: await this.layers.rootOf(key) },
      parent.image ?? { env: [], workdir: "", user: "user" },
      req,
      cache,
      progress,
      {
        description: `from template ${parentName}`,
        fromImage: parent.fromImage,
        fromTemplate: parentName,
        started,
      },
    );
  }

  /** Runs the steps, records the start and ready commands, and makes the build current. */
  private async finish(
    buildDir: string,
    base: LayerRef,
    baseConfig: ImageConfig,
    req: ImageBuildRequest,
    cache: LayerCache,
    progress: (p: BuildProgress) => void,
    from: { description: string; fromImage?: string; fromTemplate?: string; started: number },
  ): Promise<InstalledTemplate> {
    let config = baseConfig;
    let last = base;
    let layers = [base.key];
    if (req.steps && req.steps.length > 0 && this.stepSandbox) {
      ({ config, layers, last } = await runBuildSteps({
        base,
        buildDir,
        scratch: path.join(buildDir, "scratch"),
        layers: this.layers,
        cache,
        steps: req.steps,
        config: baseConfig,
        sandbox: this.stepSandbox,
        progress,
        ...(req.signal ? { signal: req.signal } : {}),
      }));
      await rm(path.join(buildDir, "scratch"), { recursive: true, force: true });
    }
    // The template's own root: hard links to its last layer, so it lives on when the layer
    // is swept, and costs directory entries, not bytes.
    const rootfs = path.join(buildDir, "rootfs");
    checkNotCancelled(req.signal);
    await runCommand("cp", ["-al", last.root, rootfs], { timeoutMs: PULL_TIMEOUT_MS });
    config = {
      ...config,
      ...(req.startCmd ? { startCmd: req.startCmd } : {}),
      ...(req.readyCmd ? { readyCmd: req.readyCmd } : {}),
    };
    const meta: TemplateMeta = {
      name: req.name,
      version: `img-${Date.now().toString(36)}`,
      builtAt: new Date().toISOString(),
      envdVersion: await this.envdVersion(),
      sizeBytes: await diskUsage(rootfs),
      description: from.description,
      ...(from.fromImage !== undefined ? { fromImage: from.fromImage } : {}),
      ...(from.fromTemplate !== undefined ? { fromTemplate: from.fromTemplate } : {}),
      image: config,
      layers,
    };
    if (config.startCmd && this.finalize) {
      await this.runFinalize({ ...meta, dir: buildDir, rootfs }, req, progress);
    }
    progress({ phase: "install", message: "making it current" });
    const template = await this.store.install(buildDir, meta);
    progress({
      phase: "done",
      message: `${req.name} ${from.description} built in ${((Date.now() - from.started) / 1000).toFixed(1)} s`,
    });
    return template;
  }

  /**
   * E2B's `finalize`: the start command runs once, at the build's end, and the build fails
   * when it (or its ready command) does, with its exit code and last lines; nothing of the
   * build stays (the caller removes its directory).
   */
  private async runFinalize(
    candidate: InstalledTemplate,
    req: ImageBuildRequest,
    progress: (p: BuildProgress) => void,
  ): Promise<void> {
    const say = (message: string) => progress({ phase: "finalize", message });
    checkNotCancelled(req.signal);
    // The step a failure is reported under (the control plane's log step).
    say(`start command, run once in a sandbox of the template: ${candidate.image?.startCmd}`);
    try {
      await this.finalize?.(candidate, say, req.signal);
    } catch (err) {
      checkNotCancelled(req.signal);
      // What ran in the sandbox failed (start command, ready command, envd's /init of the
      // image's user): the template's fault, said as a failed step. Anything else is ours.
      if (err instanceof EnvdError) {
        throw new ImageBuildError("template_step_failed", `step finalize failed: ${err.message}`);
      }
      throw err;
    }
    checkNotCancelled(req.signal);
  }

  /** As Docker's insecure registries: loopback, or one the operator listed. */
  private mayUsePlainHttp(registry: string): boolean {
    const host = registry.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return (
      host === "localhost" ||
      host === "::1" ||
      /^127\.\d+\.\d+\.\d+$/.test(host) ||
      this.insecureRegistries.includes(registry)
    );
  }

  private async skopeo(
    image: string,
    args: string[],
    onLine?: (l: string) => void,
    signal?: AbortSignal,
  ) {
    try {
      return await runCommand("skopeo", args, {
        timeoutMs: PULL_TIMEOUT_MS,
        onLine,
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw classifySkopeoError(image, err as Error);
    }
  }
}

/** skopeo's fatal message → the contract's refusal, with skopeo's own words kept. */
export function classifySkopeoError(image: string, err: Error): Error {
  const output = err instanceof CommandError ? err.output : err.message;
  const reason = /msg="((?:[^"\\]|\\.)*)"/.exec(output)?.[1]?.replace(/\\"/g, '"') ?? output;
  const say = (code: ErrorCode) =>
    new ImageBuildError(code, `${errorMessage(code, { image })}: ${reason}`);
  if (/manifest unknown|name unknown|not found|repository name not known/i.test(output)) {
    return say("image_not_found");
  }
  if (/unauthorized|authentication required|denied|401|403/i.test(output)) {
    return say("registry_auth_failed");
  }
  if (
    /connection refused|no such host|i\/o timeout|network is unreachable|server gave HTTP response|x509|tls:|timeout/i.test(
      output,
    )
  ) {
    return say("registry_unreachable");
  }
  if (/invalid reference format|invalid source name/i.test(output)) {
    return new ImageBuildError("invalid_request", `invalid image reference ${image}: ${reason}`);
  }
  return err;
}

async function writeAuthFile(
  dir: string,
  registry: string,
  creds: { username: string; password: string },
): Promise<string[]> {
  const file = path.join(dir, "auth.json");
  const auth = Buffer.from(`${creds.username}:${creds.password}`).toString("base64");
  await writeFile(file, JSON.stringify({ auths: { [registry]: { auth } } }), { mode: 0o600 });
  await chmod(dir, 0o700);
  return ["--authfile", file];
}

async function diskUsage(dir: string): Promise<number> {
  const out = await runCommand("du", ["-sb", dir]);
  return Number(out.split(/\s/)[0]) || 0;
}
