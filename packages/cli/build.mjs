// Bundles the `wrenn` command into dist/bin/ (the package's bin). Loading the CLI from tsc's
// output means resolving and compiling several hundred small modules (typebox, commander, the
// SDK) on every run; one bundle starts in a fraction of that. Commands that need a heavy
// library (`wrenn mcp`) import it lazily, and `splitting` keeps it in a chunk of its own.
// dist/bin/ sits at the same depth as dist/config/, so paths computed from import.meta.url
// (config-paths.ts: the repository root) are the same in both builds.
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "dist", "bin");
// Chunk names carry a content hash: without this, old chunks would pile up beside new ones.
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { wrenn: join(here, "src", "main.ts") },
  outdir,
  bundle: true,
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: false,
  legalComments: "none",
  // commander and ws are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __wrennCreateRequire } from 'node:module'; const require = __wrennCreateRequire(import.meta.url);",
  },
  logLevel: "warning",
});
