import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database, Session } from "./database.js";

/** Key of the PostgreSQL advisory lock held while migrating and bootstrapping ("wrenn-cp"). */
export const SCHEMA_LOCK_KEY = 0x77726e6e;

// src/db and dist/db are at the same depth, so this resolves to <repo>/db/migrations from both.
export const DEFAULT_MIGRATIONS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../../../db/migrations",
);

export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string;
  checksum: string;
}

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/;

export async function loadMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = await readdir(dir);
  const byVersion = new Map<number, Partial<Migration>>();
  for (const file of files) {
    const match = FILE_PATTERN.exec(file);
    if (!match) continue;
    const version = Number(match[1]);
    const entry = byVersion.get(version) ?? { version, name: match[2] };
    if (entry.name !== match[2]) {
      throw new Error(`migration ${version} has two names: ${entry.name} and ${match[2]}`);
    }
    entry[match[3] as "up" | "down"] = await readFile(join(dir, file), "utf8");
    byVersion.set(version, entry);
  }
  const migrations: Migration[] = [];
  for (const entry of [...byVersion.values()].sort((a, b) => a.version! - b.version!)) {
    if (entry.up === undefined || entry.down === undefined) {
      throw new Error(
        `migration ${entry.version} (${entry.name}) needs both an up and a down file`,
      );
    }
    migrations.push({
      version: entry.version!,
      name: entry.name!,
      up: entry.up,
      down: entry.down,
      checksum: createHash("sha256").update(entry.up).digest("hex"),
    });
  }
  return migrations;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

async function applied(session: Session): Promise<AppliedRow[]> {
  await session.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const result = await session.query<AppliedRow>(
    "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
  );
  return result.rows;
}

export interface MigrationReport {
  applied: number[];
  current: number;
}

/**
 * Brings the schema up to the newest migration. Must run inside withExclusiveLock so that
 * concurrent starts see each other's work. An edited, already applied migration is an error:
 * the database would silently differ from what the files say.
 */
export async function migrateUp(
  session: Session,
  migrations: Migration[],
): Promise<MigrationReport> {
  const done = new Map((await applied(session)).map((row) => [row.version, row]));
  for (const migration of migrations) {
    const row = done.get(migration.version);
    if (row && row.checksum !== migration.checksum) {
      throw new Error(
        `migration ${migration.version}_${migration.name} was changed after it was applied; add a new migration instead`,
      );
    }
  }
  const known = new Set(migrations.map((m) => m.version));
  for (const version of done.keys()) {
    if (!known.has(version)) {
      throw new Error(
        `database is at migration ${version}, which this control plane does not know; it is older than the database`,
      );
    }
  }
  const appliedNow: number[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    await session.transaction(async (tx) => {
      await tx.exec(migration.up);
      await tx.query(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        [migration.version, migration.name, migration.checksum],
      );
    });
    appliedNow.push(migration.version);
  }
  const current = migrations.at(-1)?.version ?? 0;
  return { applied: appliedNow, current };
}

/** Reverts migrations newer than target, newest first. */
export async function migrateDown(
  session: Session,
  migrations: Migration[],
  target: number,
): Promise<number[]> {
  const done = await applied(session);
  const reverted: number[] = [];
  for (const row of [...done].reverse()) {
    if (row.version <= target) break;
    const migration = migrations.find((m) => m.version === row.version);
    if (!migration) throw new Error(`no down migration for version ${row.version}`);
    await session.transaction(async (tx) => {
      await tx.exec(migration.down);
      await tx.query("DELETE FROM schema_migrations WHERE version = $1", [row.version]);
    });
    reverted.push(row.version);
  }
  return reverted;
}

export async function migrateDatabase(db: Database, dir?: string): Promise<MigrationReport> {
  const migrations = await loadMigrations(dir);
  return db.withExclusiveLock(SCHEMA_LOCK_KEY, (session) => migrateUp(session, migrations));
}
