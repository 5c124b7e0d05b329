// An empty PGlite database for a test, copied instead of created: a new PGlite directory costs
// an initdb inside WebAssembly (5-10 s on a loaded 2-core host, and the unit and end-to-end
// suites open well over a hundred), while a copy of one made once costs under a second. The
// copy is exactly what a first start would have made (no schema: migrations still run, as on a
// new machine). `npm start`'s own first start, and the tests that check it, still make theirs.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { access, cp, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { pgliteDir } from "../db/open-database.js";

/** Under the checkout's own .wrenn/ (ignored by git), beside the template cache. */
const cacheDir = fileURLToPath(new URL("../../../../.wrenn/test-cache/", import.meta.url));

let blank: Promise<string> | undefined;

/** PGlite's version names the cached directory, so an upgrade never reuses an old one. */
function pgliteVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve("@electric-sql/pglite")));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (manifest.name === "@electric-sql/pglite") return String(manifest.version);
    } catch {}
    const parent = dirname(dir);
    if (parent === dir) return "unknown";
    dir = parent;
  }
}

async function makeBlank(): Promise<string> {
  const final = join(cacheDir, `pglite-${pgliteVersion()}`);
  try {
    // A finished one is only ever renamed into place, so its presence means it is whole.
    await access(join(final, "PG_VERSION"));
    return final;
  } catch {}
  await mkdir(cacheDir, { recursive: true });
  const building = `${final}.${process.pid}-${randomBytes(4).toString("hex")}`;
  const db = new PGlite(building);
  await db.waitReady;
  await db.close();
  try {
    await rename(building, final);
  } catch {
    // Another test process (the other lane) put its own there first: use that one.
    await rm(building, { recursive: true, force: true });
  }
  return final;
}

/**
 * Gives the control plane data directory `dataDir` an empty embedded database, as the control
 * plane's first start would have made it (its PGlite directory must not exist yet).
 */
export async function seedBlankPglite(dataDir: string): Promise<void> {
  blank ??= makeBlank();
  await cp(await blank, pgliteDir(dataDir), { recursive: true });
}
