// The admin UI's static files: its own stylesheet and scripts (beside this file's source, in
// static/), and htmx and xterm.js as their npm packages ship them. No build step: each file is
// read once, kept in memory and served with a validator; none is generated.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyPluginAsync } from "fastify";

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
/** The control plane's own folder: the same from src/ (tsx) and from dist/ (compiled). */
const appDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const ownStatic = join(appDir, "src", "admin", "assets", "static");

const TYPES: Record<string, string> = {
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
};

/** URL name under /admin/assets/ → file on disk. */
function assetFiles(): Record<string, string> {
  const xterm = packageDir("@xterm/xterm");
  return {
    "admin.css": join(ownStatic, "admin.css"),
    "admin.js": join(ownStatic, "admin.js"),
    "terminal.js": join(ownStatic, "terminal.js"),
    "htmx.min.js": join(packageDir("htmx.org"), "dist", "htmx.min.js"),
    "xterm.mjs": join(xterm, "lib", "xterm.mjs"),
    "xterm.css": join(xterm, "css", "xterm.css"),
    "addon-fit.mjs": join(packageDir("@xterm/addon-fit"), "lib", "addon-fit.mjs"),
  };
}

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

async function load(path: string): Promise<Asset> {
  let body = await readFile(path);
  // The packages' source map comments point at files not served here; without them the
  // browser's developer tools do not ask for maps that 404.
  const ext = path.slice(path.lastIndexOf("."));
  if (ext === ".js" || ext === ".mjs") {
    body = Buffer.from(body.toString("utf8").replace(/\n\/\/# sourceMappingURL=\S+\s*$/, "\n"));
  }
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return { body, type: TYPES[ext] ?? "application/octet-stream", etag };
}

export const assetRoutes: FastifyPluginAsync = async (app) => {
  const files = assetFiles();
  const assets = new Map<string, Asset>();
  await Promise.all(
    Object.entries(files).map(async ([name, path]) => assets.set(name, await load(path))),
  );
  for (const [name, asset] of assets) {
    app.get(`/assets/${name}`, { schema: { hide: true } }, async (request, reply) => {
      reply
        .header("content-type", asset.type)
        .header("etag", asset.etag)
        .header("cache-control", "no-cache")
        .header("x-content-type-options", "nosniff");
      if (request.headers["if-none-match"] === asset.etag) return reply.status(304).send();
      return reply.send(asset.body);
    });
  }
};
