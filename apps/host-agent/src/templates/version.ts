import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

// Bump when the builder itself changes what it produces from the same inputs.
const BUILDER_FORMAT = "1";

/**
 * A template's version: the hash of everything that goes into it (recipe, customize script,
 * native sources, envd bundle and helpers). Same inputs, same version, so a rebuild is skipped.
 */
export async function templateVersion(recipeDir: string, envdDistDir: string): Promise<string> {
  const hash = createHash("sha256").update(`wrenn-template-${BUILDER_FORMAT}\n`);
  const files = [
    ...(await filesIn(recipeDir, recipeDir)),
    ...(await filesIn(envdDistDir, envdDistDir, ["envd.mjs", "bin"])),
  ];
  for (const [label, file] of files) {
    hash.update(`${label}\n`);
    hash.update(await readFile(file));
  }
  return hash.digest("hex").slice(0, 16);
}

async function filesIn(
  base: string,
  dir: string,
  only?: string[],
): Promise<Array<[label: string, file: string]>> {
  const entries = (await readdir(dir, { withFileTypes: true }))
    .filter((e) => !only || only.includes(e.name))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: Array<[string, string]> = [];
  for (const e of entries) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesIn(base, full)));
    else if (e.isFile()) out.push([`${path.basename(base)}/${path.relative(base, full)}`, full]);
  }
  return out;
}
