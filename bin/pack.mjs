#!/usr/bin/env node
// Builds installable npm tarballs of @wrenn/contract, @wrenn/proto, @wrenn/sdk and @wrenn/cli
// into dist-pkg/ (or --out DIR), from the built dist/ of each (run `npm run build` first).
// Inside the workspace the packages name each other with "*"; in a tarball each names the
// exact version packed beside it. The third-party packages they need (as installed here) are
// packed beside them, so `npm i ./dist-pkg/*.tgz` installs a matching set with no registry.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
/** In dependency order. */
const PACKAGES = ["packages/contract", "packages/proto", "packages/sdk", "packages/cli"];

const outFlag = process.argv.indexOf("--out");
const out = resolve(outFlag >= 0 ? (process.argv[outFlag + 1] ?? "") : join(root, "dist-pkg"));

const manifests = await Promise.all(
  PACKAGES.map(async (dir) => JSON.parse(await readFile(join(root, dir, "package.json"), "utf8"))),
);
const versions = new Map(manifests.map((m) => [m.name, m.version]));

for (const [i, dir] of PACKAGES.entries()) {
  if (!existsSync(join(root, dir, "dist"))) {
    console.error(`${dir}/dist is missing: run \`npm run build\` first`);
    process.exit(1);
  }
  if (manifests[i].private) {
    console.error(`${dir}/package.json is private: it cannot be published`);
    process.exit(1);
  }
}

await mkdir(out, { recursive: true });
const staging = await mkdtemp(join(tmpdir(), "wrenn-pack-"));
const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8" });
try {
  for (const dir of PACKAGES) {
    // 1. npm's own selection of files (the manifest's "files"), into a staging tarball.
    const [packed] = JSON.parse(
      npm(["pack", "--json", "--pack-destination", staging], join(root, dir)),
    );
    const unpacked = join(staging, packed.name.replace("/", "+"));
    await mkdir(unpacked, { recursive: true });
    execFileSync("tar", ["-xzf", join(staging, packed.filename), "-C", unpacked]);
    // 2. Pin the sibling packages to the versions packed with it.
    const manifestPath = join(unpacked, "package", "package.json");
    const manifest = JSON.parse(await readFile(manifestPath, "utf8"));
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const name of Object.keys(manifest[field] ?? {})) {
        const version = versions.get(name);
        if (version) manifest[field][name] = version;
      }
    }
    delete manifest.devDependencies;
    delete manifest.scripts;
    await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
    // 3. The tarball users install.
    const [final] = JSON.parse(
      npm(["pack", "--json", "--pack-destination", out], join(unpacked, "package")),
    );
    console.log(`${join(out, final.filename)}  (${final.entryCount} files, ${final.size} bytes)`);
  }
  // The third-party dependencies, transitively, from the workspace's node_modules.
  const seen = new Set();
  /** Each dependency's staged copy, packed together at the end. */
  const staged = [];
  const optionalPeers = new Set();
  const queue = manifests.flatMap((m) => Object.keys(m.dependencies ?? {}));
  while (queue.length > 0) {
    const name = queue.shift();
    if (seen.has(name) || versions.has(name)) continue;
    seen.add(name);
    // Where Node would find it from the packages: a package's own node_modules first.
    const dir =
      PACKAGES.map((p) => join(root, p, "node_modules", name)).find((d) => existsSync(d)) ??
      join(root, "node_modules", name);
    // A peer that nothing installed is an optional one (npm installs required peers).
    if (!existsSync(join(dir, "package.json")) && optionalPeers.has(name)) continue;
    const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    // Versions installed under the package itself (body-parser's own content-type 2, beside the
    // hoisted 1): they go inside its tarball as bundled dependencies, since an install with no
    // registry cannot resolve a second version of a name from loose tarballs.
    const nested = Object.keys(manifest.dependencies ?? {}).filter((d) =>
      existsSync(join(dir, "node_modules", d, "package.json")),
    );
    // The bundled ones' own dependencies that are not in the bundle resolve to the hoisted ones.
    const bundledNeeds = nested.flatMap((d) =>
      Object.keys(readManifest(join(dir, "node_modules", d)).dependencies ?? {}).filter(
        (x) =>
          !existsSync(join(dir, "node_modules", x, "package.json")) &&
          !existsSync(join(dir, "node_modules", d, "node_modules", x, "package.json")),
      ),
    );
    for (const d of [...Object.keys(manifest.dependencies ?? {}), ...bundledNeeds]) {
      if (!nested.includes(d)) queue.push(d);
    }
    for (const [peer, meta] of Object.entries(manifest.peerDependenciesMeta ?? {})) {
      if (meta?.optional) optionalPeers.add(peer);
    }
    queue.push(...Object.keys(manifest.peerDependencies ?? {}));
    // Each dependency pinned to the exact version installed here (the root's overrides, such as
    // cookie 1.1.1 for express's ^0.7.1, included), so the install finds it among the tarballs
    // and never asks a registry for another.
    const pinned = Object.fromEntries(
      Object.keys(manifest.dependencies ?? {}).map((d) => {
        const found = [join(dir, "node_modules", d), join(root, "node_modules", d)].find((x) =>
          existsSync(join(x, "package.json")),
        );
        return [d, found ? readManifest(found).version : manifest.dependencies[d]];
      }),
    );
    const from = join(staging, `dep-${name.replace("/", "+")}`);
    execFileSync("cp", ["-a", dir, from]);
    await writeFile(
      join(from, "package.json"),
      `${JSON.stringify(
        {
          ...manifest,
          dependencies: pinned,
          ...(nested.length > 0 ? { bundleDependencies: nested } : {}),
        },
        null,
        2,
      )}\n`,
    );
    staged.push(from);
  }
  // One npm for every dependency: an npm process per package was most of this script's time
  // (about 100 of them, 1-2 s each). Installed packages are already built: their own prepack
  // scripts (a TypeScript build in @modelcontextprotocol/sdk) must not run, and cannot without
  // their sources.
  if (staged.length > 0) {
    const packed = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", out, ...staged], root),
    );
    for (const p of packed) {
      console.log(`${join(out, p.filename)}  (${p.name}@${p.version}, a dependency)`);
    }
  }
} finally {
  await rm(staging, { recursive: true, force: true });
}

function readManifest(dir) {
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
}
