#!/usr/bin/env node
// Builds installable npm tarballs of @wrenn/contract, @wrenn/proto, @wrenn/sdk and @wrenn/cli
// into dist-pkg/ (or --out DIR), from the built dist/ of each (run `npm run build` first).
// Inside the workspace the packages name each other with "*"; in a tarball each names the
// exact version packed beside it. The third-party packages they need (as installed here) are
// packed beside them, so `npm i ./dist-pkg/*.tgz` installs a matching set with no registry.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
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
    queue.push(...Object.keys(manifest.dependencies ?? {}));
    for (const [peer, meta] of Object.entries(manifest.peerDependenciesMeta ?? {})) {
      if (meta?.optional) optionalPeers.add(peer);
    }
    queue.push(...Object.keys(manifest.peerDependencies ?? {}));
    // Installed packages are already built: their own prepack scripts (a TypeScript build in
    // @modelcontextprotocol/sdk) must not run, and cannot without their sources.
    const [final] = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", out, dir], root),
    );
    console.log(`${join(out, final.filename)}  (${name}@${manifest.version}, a dependency)`);
  }
} finally {
  await rm(staging, { recursive: true, force: true });
}
