import { fileURLToPath } from "node:url";

// The agent ships inside the Wrenn repository (npm workspaces), so the template recipes and
// the envd bundle sit at fixed places relative to this file: dist/config/ → repo root.
const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

export const installLayout = {
  repoRoot,
  /** Template recipes: images/<name>/template.json. */
  imagesDir: process.env.WRENN_IMAGES_DIR ?? `${repoRoot}images`,
  /** envd's build output: envd.mjs and bin/ (its native helpers). */
  envdDistDir: process.env.WRENN_ENVD_DIR ?? `${repoRoot}apps/envd/dist`,
};
