import { createHash } from "node:crypto";
import {
  access,
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { runCommand } from "../../command/run-command.js";
import { DEFAULT_PATH, type ImageConfig, imageEnv } from "../../templates/image-config.js";

/** Where every sandbox of an image template sees envd's runtime (read-only). */
export const ENVD_RUNTIME_GUEST_DIR = "/.wrenn";

/**
 * envd's whole runtime for images that bring none of their own (Alpine, busybox-only,
 * distroless, any Debian without Node): the host's node, the exact shared libraries and loader
 * it needs (ldd), envd's bundle and native helpers linked against that loader, a static tini
 * and a static busybox (the shell of last resort). Assembled once per host into
 *   <root>/<hash>/{bin,lib,envd}
 * (hash of every input, so a sandbox restored from a checkpoint finds the same files it was
 * saved with) and bind-mounted read-only at /.wrenn: the image's own files are never touched,
 * and envd's version is the host's.
 */
export interface EnvdRuntime {
  /** Host directory mounted at ENVD_RUNTIME_GUEST_DIR. */
  hostDir: string;
  /** Hash of its inputs (the last path element of hostDir). */
  hash: string;
}

export interface EnvdRuntimeSources {
  /** apps/envd/dist (envd.mjs) and the native sources beside it (apps/envd/native). */
  envdDistDir: string;
  node?: string;
  tini?: string;
  busybox?: string;
}

/** envd's argv inside an image template: tini as PID 1, node through the bundled loader. */
export function envdRuntimeArgs(loaderName: string): string[] {
  const g = ENVD_RUNTIME_GUEST_DIR;
  return [
    `${g}/bin/tini`,
    "-s",
    "--",
    `${g}/lib/${loaderName}`,
    // The loader's own search path, not LD_LIBRARY_PATH: nothing leaks into the image's
    // processes, whose libc (musl, an older glibc, none) is theirs.
    "--library-path",
    `${g}/lib`,
    `${g}/bin/node`,
    `${g}/envd/envd.mjs`,
  ];
}

/** The loader's file name, written by assembly beside the libraries. */
export async function runtimeLoaderName(hostDir: string): Promise<string> {
  return (await readFile(path.join(hostDir, "loader"), "utf8")).trim();
}

export class EnvdRuntimeError extends Error {}

export async function assembleEnvdRuntime(
  root: string,
  src: EnvdRuntimeSources,
): Promise<EnvdRuntime> {
  const node = src.node ?? (await realNode());
  const tini = src.tini ?? "/usr/bin/tini-static";
  const busybox = src.busybox ?? "/bin/busybox";
  const nativeDir = path.join(src.envdDistDir, "..", "native");
  const bundle = path.join(src.envdDistDir, "envd.mjs");
  for (const [what, file, pkg] of [
    ["node", node, "nodejs"],
    ["tini", tini, "tini"],
    ["busybox", busybox, "busybox-static"],
    ["envd", bundle, "(npm run build)"],
  ] as const) {
    if (!(await exists(file))) {
      throw new EnvdRuntimeError(`envd runtime: ${what} is missing (${file}); install ${pkg}`);
    }
  }
  const natives = (await readdir(nativeDir)).filter((f) => f.endsWith(".c")).sort();
  const libs = await sharedLibraries(node);

  const hash = createHash("sha256").update("wrenn-envd-runtime-1\n");
  for (const f of [node, tini, busybox, bundle, ...libs.map((l) => l.path)]) {
    hash.update(`${path.basename(f)}\n`).update(await readFile(f));
  }
  for (const f of natives) hash.update(`${f}\n`).update(await readFile(path.join(nativeDir, f)));
  const digest = hash.digest("hex").slice(0, 16);
  const hostDir = path.join(root, digest);
  if (await exists(path.join(hostDir, "loader"))) return { hostDir, hash: digest };

  await mkdir(root, { recursive: true, mode: 0o755 });
  const tmp = path.join(root, `.tmp-${process.pid}-${Date.now()}`);
  try {
    for (const d of ["bin", "lib", "envd/bin"]) await mkdir(path.join(tmp, d), { recursive: true });
    await copyFile(node, path.join(tmp, "bin", "node"));
    await copyFile(tini, path.join(tmp, "bin", "tini"));
    await copyFile(busybox, path.join(tmp, "bin", "busybox"));
    for (const lib of libs) await copyFile(lib.path, path.join(tmp, "lib", lib.name));
    const loader = libs.find((l) => l.loader);
    if (!loader) throw new EnvdRuntimeError(`envd runtime: ldd ${node} names no loader`);
    await copyFile(bundle, path.join(tmp, "envd", "envd.mjs"));
    // Linked against the bundled loader and libc, so they run in any root filesystem.
    for (const f of natives) {
      await runCommand("gcc", [
        "-O2",
        "-Wall",
        "-std=c11",
        `-Wl,--dynamic-linker=${ENVD_RUNTIME_GUEST_DIR}/lib/${loader.name}`,
        `-Wl,-rpath,${ENVD_RUNTIME_GUEST_DIR}/lib`,
        "-o",
        path.join(tmp, "envd", "bin", f.slice(0, -2)),
        path.join(nativeDir, f),
      ]);
    }
    await writeFile(path.join(tmp, "loader"), `${loader.name}\n`);
    for (const f of ["bin/node", "bin/tini", "bin/busybox", `lib/${loader.name}`]) {
      await chmod(path.join(tmp, f), 0o755);
    }
    await rename(tmp, hostDir).catch(async (err: NodeJS.ErrnoException) => {
      // Another agent on this data dir cannot exist (lock); a leftover of a crash can.
      if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
      await rm(tmp, { recursive: true, force: true });
    });
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
  return { hostDir, hash: digest };
}

async function realNode(): Promise<string> {
  return (await runCommand("readlink", ["-f", process.execPath])).trim();
}

interface SharedLib {
  name: string;
  path: string;
  loader: boolean;
}

/** The libraries ldd resolves for a program, and its loader (the line without "=>"). */
async function sharedLibraries(program: string): Promise<SharedLib[]> {
  const out = await runCommand("ldd", [program]);
  const libs: SharedLib[] = [];
  for (const line of out.split("\n")) {
    const arrow = /^\s*(\S+)\s+=>\s+(\/\S+)\s+\(/.exec(line);
    if (arrow?.[1] && arrow[2]) {
      libs.push({ name: arrow[1], path: arrow[2], loader: false });
      continue;
    }
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    if (bare?.[1]) libs.push({ name: path.basename(bare[1]), path: bare[1], loader: true });
  }
  // libc's helpers the loader may open by name at run time are resolved by ldd already; the
  // loader itself must be the host's exact one for the libc it came with.
  return libs;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * envd's process in an image template: its PATH is the image's (envd hands PATH, and only
 * PATH, of its own environment to the commands it runs); the bundled busybox is the shell of
 * last resort for images without /bin/bash (runtime/gvisor, envd's process/shell.ts).
 */
export function envdRuntimeSpec(
  envd: { hostDir: string; loader: string },
  image: ImageConfig | undefined,
): { hostDir: string; args: string[]; env: string[] } {
  const g = ENVD_RUNTIME_GUEST_DIR;
  return {
    hostDir: envd.hostDir,
    args: envdRuntimeArgs(envd.loader),
    env: [
      `PATH=${imageEnv(image).PATH || DEFAULT_PATH}`,
      "HOME=/root",
      "WRENN_SANDBOX=1",
      `WRENN_ENVD_BIN_DIR=${g}/envd/bin`,
      `WRENN_ENVD_FALLBACK_SHELL=${g}/bin/busybox`,
    ],
  };
}
