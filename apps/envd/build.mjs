// Bundles envd into one ESM file for the sandbox's Node 18 and compiles its native helpers.
// Output: dist/envd.mjs and dist/bin/{wrenn-pty,wrenn-inotify}. The template builder copies
// both next to each other (/opt/wrenn/envd.mjs, /opt/wrenn/bin/), which is where envd looks.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const version = JSON.parse(readFileSync(join(here, "package.json"), "utf8")).version;

mkdirSync(join(dist, "bin"), { recursive: true });

for (const file of readdirSync(join(here, "native"))) {
  if (!file.endsWith(".c")) continue;
  const out = join(dist, "bin", file.slice(0, -2));
  // Static linking is avoided on purpose: glibc's static openpty/getpwnam are fragile, and the
  // template is the same Debian release as the build host, so the dynamic libc matches.
  execFileSync(
    "gcc",
    ["-O2", "-Wall", "-Wextra", "-Werror", "-std=c11", "-o", out, join(here, "native", file)],
    { stdio: "inherit" },
  );
}

await build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(dist, "envd.mjs"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node18",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  define: { "process.env.WRENN_ENVD_BUILD_VERSION": JSON.stringify(version) },
  // busboy and pino are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __wrennCreateRequire } from 'node:module'; const require = __wrennCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
});

console.log(`envd ${version}: dist/envd.mjs and dist/bin/ built`);
