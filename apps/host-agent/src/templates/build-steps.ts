import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import {
  canonicalTemplateStep,
  TEMPLATE_CACHED_MARKER,
  TEMPLATE_STEP_LIMITS,
  type TemplateStep,
} from "@wrenn/contract";
import type { BuildProgress } from "./builder.js";
import { type ContextEntry, contextDigest, readContext, unpackContext } from "./context-tar.js";
import { checkNotCancelled, ImageBuildError } from "./image-builder.js";
import { DEFAULT_PATH, type ImageConfig, imageEnv } from "./image-config.js";
import { lookupUser } from "./image-root.js";
import { type LayerCache, type LayerStore, layerKey } from "./layer-store.js";
import { runOnLayer } from "./layer-tree.js";
import { StepExitError, type StepSandbox } from "./step-sandbox.js";

/** A step as the agent receives it: the contract's shape, COPY with its uploaded files. */
export interface BuildStepInput extends TemplateStep {
  files?: Buffer;
}

/** Where COPY's unpacked files appear inside the step's sandbox (read-only). */
const COPY_MOUNT = "/.wrenn-copy";

// Docker's COPY rules: a directory's contents go into dest; a file goes into dest when dest
// ends in '/' or is a directory, else becomes dest. The source may be a glob.
const COPY_SCRIPT = `set -e
src="$1"; dest="$2"
cd ${COPY_MOUNT}
IFS='
'
found=0
for s in $src; do
  [ -e "$s" ] || [ -L "$s" ] || continue
  found=1
  if [ -d "$s" ] && [ ! -L "$s" ]; then
    mkdir -p "$dest"; cp -a "$s/." "$dest/"
  else
    case "$dest" in
      */) mkdir -p "$dest"; cp -a "$s" "$dest" ;;
      *) if [ -d "$dest" ]; then cp -a "$s" "$dest/"; else mkdir -p "$(dirname "$dest")"; cp -a "$s" "$dest"; fi ;;
    esac
  fi
done
[ "$found" = 1 ] || { echo "COPY: $src matched nothing in the uploaded files" >&2; exit 1; }
`;

const WORKDIR_SCRIPT = `[ -d "$1" ] || { mkdir -p "$1" && chown "$2" "$1"; }`;

/** A layer of the chain being built: its cache key and its (read-only) root tree. */
export interface LayerRef {
  key: string;
  root: string;
}

/**
 * Runs a template's steps in order on its base layer and returns the config sandboxes of it
 * get (the variables, working directory and user the steps left), the chain of layer keys and
 * the last layer. Each RUN/COPY/WORKDIR is a cached layer keyed by its parent layer, its
 * canonical form (COPY: a digest of what its files unpack to), the user, workdir and env so far, and the
 * build's cache scope: a cached one of the same scope is reused (logged CACHED), else the step
 * runs in a gVisor sandbox (step-sandbox.ts) on an overlay above its parent and its result
 * becomes the layer. ENV and USER only change the config, which is part of the next layer's
 * key. Without `cache.reuse` every step reruns (their results replace the cached layers). A failing step throws template_step_failed naming the step, its
 * exit code and its last output lines, and caches nothing; the caller removes the build.
 */
export async function runBuildSteps(o: {
  base: LayerRef;
  /** The build's directory (its layers.json pins the layers it uses). */
  buildDir: string;
  /** A scratch directory of this build, outside the root, on the layers' filesystem. */
  scratch: string;
  layers: LayerStore;
  cache: LayerCache;
  steps: BuildStepInput[];
  config: ImageConfig;
  sandbox: StepSandbox;
  progress: (p: BuildProgress) => void;
  /** Aborted: the running step is killed and no further step runs (template_build_cancelled). */
  signal?: AbortSignal;
}): Promise<{ config: ImageConfig; layers: string[]; last: LayerRef }> {
  let env = [...o.config.env];
  let workdir = o.config.workdir;
  let user = o.config.user || "user";
  let current = o.base;
  const chain = [o.base.key];
  let reran = !o.cache.reuse;
  const n = o.steps.length;
  const envOf = async (who: { home: string }) => {
    const vars = imageEnv({ env, workdir, user });
    return Object.entries({
      PATH: DEFAULT_PATH,
      HOME: who.home,
      ...vars,
    }).map(([k, v]) => `${k}=${v}`);
  };
  await mkdir(o.scratch, { recursive: true });
  for (const [i, step] of o.steps.entries()) {
    checkNotCancelled(o.signal);
    const phase = `step-${i + 1}` as const;
    const say = (message: string) => o.progress({ phase, message });
    const title = `[${i + 1}/${n}] ${step.type} ${describe(step)}`;
    const fail = (what: string): never => {
      throw new ImageBuildError(
        "template_step_failed",
        `step ${i + 1} (${step.type} ${describe(step)}) failed: ${what}`,
      );
    };
    const who = async (name: string) => {
      try {
        return await lookupUser(current.root, name);
      } catch (err) {
        return fail((err as Error).message);
      }
    };
    if (step.type === "ENV" || step.type === "USER") {
      // No layer of their own: they change the config, which keys the next layer.
      say(reran ? title : `${TEMPLATE_CACHED_MARKER} ${title}`);
      if (step.type === "USER") user = (await who(step.args[0] as string)).name;
      else {
        for (let k = 0; k < step.args.length; k += 2) {
          const name = step.args[k] as string;
          env = [...env.filter((e) => !e.startsWith(`${name}=`)), `${name}=${step.args[k + 1]}`];
        }
      }
      continue;
    }
    if (step.type === "COPY" && !step.files) {
      throw new ImageBuildError(
        "template_files_missing",
        `step ${i + 1} (COPY ${step.args[0]}): its files were not uploaded`,
      );
    }
    // COPY is keyed by what its files unpack to, not the archive's bytes (contextDigest).
    let files: ContextEntry[] | undefined;
    if (step.files) {
      try {
        files = await readContext(step.files);
      } catch (err) {
        fail((err as Error).message);
      }
    }
    const key = layerKey(o.cache, {
      parent: current.key,
      step: canonicalTemplateStep(step, files ? contextDigest(files) : undefined),
      env,
      workdir,
      user,
    });
    const nextWorkdir =
      step.type === "WORKDIR"
        ? path.posix.resolve(workdir || "/", step.args[0] as string)
        : workdir;
    if (o.cache.reuse && (await o.layers.acquire(key, o.buildDir))) {
      say(`${TEMPLATE_CACHED_MARKER} ${title}`);
      current = { key, root: await o.layers.rootOf(key) };
      chain.push(key);
      workdir = nextWorkdir;
      continue;
    }
    reran = true;
    say(title);
    const run = async (
      rootfs: string,
      argv: string[],
      as: string,
      cwd: string,
      mounts: Array<{ hostPath: string; sandboxPath: string }> = [],
    ) => {
      const u = await who(as);
      try {
        await o.sandbox.run({
          rootfs,
          argv,
          uid: u.uid,
          gid: u.gid,
          env: await envOf(u),
          cwd,
          readOnlyMounts: mounts,
          timeoutMs: TEMPLATE_STEP_LIMITS.runStepMs,
          onLine: say,
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        checkNotCancelled(o.signal);
        if (err instanceof StepExitError) {
          const tail = err.output.split("\n").slice(-8).join("\n");
          fail(`exit code ${err.exitCode ?? "none (killed)"}${tail ? `\n${tail}` : ""}`);
        }
        throw err;
      }
    };
    const out = path.join(o.scratch, `layer-${i + 1}`);
    await runOnLayer(current.root, path.join(o.scratch, `step-${i + 1}`), out, async (rootfs) => {
      switch (step.type) {
        case "RUN":
          await run(
            rootfs,
            ["/bin/sh", "-c", step.args[0] as string],
            step.args[1] || user,
            workdir || "/",
          );
          break;
        case "WORKDIR": {
          const u = await who(user);
          await run(
            rootfs,
            ["/bin/sh", "-c", WORKDIR_SCRIPT, "sh", nextWorkdir, `${u.uid}:${u.gid}`],
            "root",
            "/",
          );
          break;
        }
        case "COPY": {
          const [src, rawDest, owner, mode] = step.args as [string, string, string?, string?];
          const dest =
            path.posix.resolve(workdir || "/", rawDest) + (rawDest.endsWith("/") ? "/" : "");
          const u = await who(owner || user);
          const staging = path.join(o.scratch, `copy-${i + 1}`);
          await mkdir(staging, { recursive: true, mode: 0o755 });
          try {
            await unpackContext(
              files ?? [],
              staging,
              u,
              mode ? Number.parseInt(mode, 8) : undefined,
            );
            await run(rootfs, ["/bin/sh", "-c", COPY_SCRIPT, "sh", src, dest], "root", "/", [
              { hostPath: staging, sandboxPath: COPY_MOUNT },
            ]);
          } catch (err) {
            if (err instanceof ImageBuildError) throw err;
            fail((err as Error).message);
          } finally {
            await rm(staging, { recursive: true, force: true });
          }
          break;
        }
      }
    });
    await o.layers.commit(
      key,
      out,
      { source: `${step.type} ${describe(step)}` },
      o.buildDir,
      !o.cache.reuse,
    );
    current = { key, root: await o.layers.rootOf(key) };
    chain.push(key);
    workdir = nextWorkdir;
  }
  return { config: { env, workdir, user }, layers: chain, last: current };
}

function describe(step: TemplateStep): string {
  const text =
    step.type === "ENV"
      ? step.args.filter((_, k) => k % 2 === 0).join(" ")
      : step.args.filter(Boolean).join(" ");
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
