// Embedded databases for tests, copied instead of created: a new PGlite directory costs an
// initdb inside WebAssembly (5-10 s on a loaded 2-core host, and the unit and end-to-end suites
// open well over a hundred), and running every migration on it costs 1-4 s more, while a copy
// of one made once costs under a second. Two kinds are kept:
//   blank:    exactly what a first start would have made (no schema: migrations run, as on a
//             new machine) — for the tests of migrations and of a first start;
//   migrated: blank plus every migration in db/migrations, applied by the same migrateDatabase
//             a control plane runs; nothing else (no key, no host). Everything else starts from
//             it: its start finds the schema current, which is what any later start of a
//             control plane finds. The migrations' own hash names it, so a new or edited
//             migration makes a new one.
// `npm start`'s own first start, and the tests that check it, still make theirs.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { access, cp, mkdir, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import { loadMigrations, migrateDatabase } from "../db/migrations.js";
import { pgliteDir } from "../db/open-database.js";
import { openPglite } from "../db/pglite-database.js";

/** Under the checkout's own .wrenn/ (ignored by git), beside the template cache. */
export const testCacheDir = fileURLToPath(
  new URL("../../../../.wrenn/test-cache/", import.meta.url),
);

let blank: Promise<string> | undefined;
let migrated: Promise<string> | undefined;

/** PGlite's version names the cached directories, so an upgrade never reuses an old one. */
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

/** A hash of every migration's name and both its files: what the migrated copy was made from. */
export async function migrationsHash(): Promise<string> {
  const hash = createHash("sha256");
  for (const m of await loadMigrations())
    hash.update(`${m.version}\0${m.name}\0${m.up}\0${m.down}\0`);
  return hash.digest("hex").slice(0, 16);
}

/**
 * The cached directory `name`, made by `make(dir)` the first time. A finished one is only
 * ever renamed into place, so its presence means it is whole; two test processes (the two
 * lanes) making it at once each make their own and the second rename loses harmlessly.
 * `marker` is a file every finished one holds (PostgreSQL's PG_VERSION by default).
 */
export async function cached(
  name: string,
  make: (dir: string) => Promise<void>,
  marker = "PG_VERSION",
): Promise<string> {
  const final = join(testCacheDir, name);
  try {
    await access(join(final, marker));
    return final;
  } catch {}
  await mkdir(testCacheDir, { recursive: true });
  const building = `${final}.${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await make(building);
    await rename(building, final);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    // Another process put its own there first: use that one.
    await access(join(final, marker)).catch(() => {
      throw error;
    });
  }
  return final;
}

function blankDir(): Promise<string> {
  blank ??= cached(`pglite-${pgliteVersion()}`, async (dir) => {
    const db = new PGlite(dir);
    await db.waitReady;
    await db.close();
  });
  return blank;
}

function migratedDir(): Promise<string> {
  migrated ??= (async () => {
    const from = await blankDir();
    return cached(`pglite-${pgliteVersion()}-schema-${await migrationsHash()}`, async (dir) => {
      await cp(from, dir, { recursive: true });
      const db = await openPglite({ dir });
      try {
        await migrateDatabase(db);
      } finally {
        await db.close();
      }
    });
  })();
  return migrated;
}

/**
 * Gives the control plane data directory `dataDir` an empty embedded database, as the control
 * plane's first start would have made it (its PGlite directory must not exist yet).
 */
export async function seedBlankPglite(dataDir: string): Promise<void> {
  await cp(await blankDir(), pgliteDir(dataDir), { recursive: true });
}

/**
 * Gives `dataDir` an embedded database with every migration applied and nothing else, as a
 * control plane that has started once and was given no key would leave it.
 */
export async function seedMigratedPglite(dataDir: string): Promise<void> {
  await cp(await migratedDir(), pgliteDir(dataDir), { recursive: true });
}
