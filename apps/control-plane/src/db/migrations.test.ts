import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, test } from "vitest";
import { startControlPlane } from "../control-plane.js";
import { TEST_ADMIN_KEY } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, emptyDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import type { Database } from "./database.js";
import {
  DEFAULT_MIGRATIONS_DIR,
  loadMigrations,
  migrateDatabase,
  migrateDown,
  SCHEMA_LOCK_KEY,
} from "./migrations.js";
import { openDatabase } from "./open-database.js";

const temps: string[] = [];
afterAll(() => Promise.all(temps.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-migrations-"));
  temps.push(dir);
  return dir;
}

afterAll(() => releaseTestDatabases());

async function tables(db: Database): Promise<string[]> {
  const result = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
  );
  return result.rows.map((r) => r.table_name);
}

async function copyOfMigrations(): Promise<string> {
  const dir = await tempDir();
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe.each(DATABASE_KINDS)("migrations on %s", (kind) => {
  test("up creates the schema once; down removes it; up again restores it", async () => {
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      const all = (await loadMigrations()).map((m) => m.version);
      const first = await migrateDatabase(db);
      expect(first.applied).toEqual(all);
      expect(await tables(db)).toEqual(
        [
          "api_keys",
          "audit_events",
          "deleted_hosts",
          "host_refresh_tokens",
          "host_registration_tokens",
          "hosts",
          "owners",
          "sandboxes",
          "schema_migrations",
          "snapshots",
          "secrets",
          "ssh_keys",
          "templates",
          "workspaces",
        ].sort(),
      );
      expect((await migrateDatabase(db)).applied).toEqual([]);

      const migrations = await loadMigrations();
      await db.withExclusiveLock(SCHEMA_LOCK_KEY, (s) => migrateDown(s, migrations, 0));
      expect(await tables(db)).toEqual(["schema_migrations"]);
      expect((await migrateDatabase(db)).applied).toEqual(all);
    } finally {
      await db.close();
    }
  });

  test("0002 down keeps the proxy's audit events, as the system's", async () => {
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      await migrateDatabase(db);
      await db.query(
        "INSERT INTO audit_events (actor, action, outcome) VALUES ('proxy', 'sandbox.exec', 'ok')",
      );
      await expect(
        db.query("INSERT INTO audit_events (actor, action, outcome) VALUES ('x', 'y', 'ok')"),
      ).rejects.toThrow();
      const migrations = await loadMigrations();
      await db.withExclusiveLock(SCHEMA_LOCK_KEY, (s) => migrateDown(s, migrations, 1));
      const rows = await db.query<{ actor: string; detail: { actor?: string } }>(
        "SELECT actor, detail FROM audit_events",
      );
      expect(rows.rows).toEqual([{ actor: "system", detail: { actor: "proxy" } }]);
      expect((await migrateDatabase(db)).applied).toEqual(
        (await loadMigrations()).map((m) => m.version).filter((v) => v > 1),
      );
    } finally {
      await db.close();
    }
  });

  test("0015 gives builds made before it the size their host last reported", async () => {
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      await migrateDatabase(db);
      await db.withExclusiveLock(SCHEMA_LOCK_KEY, async (s) =>
        migrateDown(s, await loadMigrations(), 14),
      );
      await db.query("INSERT INTO owners (id, name) VALUES ('own-0000000a', 'builder')");
      await db.query(
        `INSERT INTO hosts (id, url, templates) VALUES ('host-0000000a', 'http://127.0.0.1:1',
           '[{"name": "t-0000000a", "sizeBytes": 5242881}, {"name": "base", "sizeBytes": 9}]')`,
      );
      const row = (id: string, tag: string, hostTemplate: string | null) =>
        db.query(
          `INSERT INTO templates (id, owner_id, name, tag, from_image, status, vcpus, memory_mb,
             host_id, host_template, build_id)
           VALUES ($1, 'own-0000000a', 'app', $2, 'debian:12', 'ready', 1, 512, 'host-0000000a',
             $3, $1)`,
          [id, tag, hostTemplate],
        );
      await row("tpl-0000000a", "1", "t-0000000a");
      await row("tpl-0000000b", "gone", "t-0000000b");
      await row("tpl-0000000c", "failed", null);
      expect((await migrateDatabase(db)).applied).toEqual(
        (await loadMigrations()).map((m) => m.version).filter((v) => v > 14),
      );
      const sizes = await db.query<{ id: string; size_bytes: string | null }>(
        "SELECT id, size_bytes::text FROM templates ORDER BY id",
      );
      expect(sizes.rows).toEqual([
        { id: "tpl-0000000a", size_bytes: "5242881" },
        { id: "tpl-0000000b", size_bytes: null },
        { id: "tpl-0000000c", size_bytes: null },
      ]);
    } finally {
      await db.close();
    }
  });

  test("an applied migration that was edited afterwards stops the start", async () => {
    const dir = await copyOfMigrations();
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      await migrateDatabase(db, dir);
      const file = join(dir, "0001_initial.up.sql");
      await writeFile(file, `${await readFile(file, "utf8")}\n-- edited\n`);
      await expect(migrateDatabase(db, dir)).rejects.toThrow(/changed after it was applied/);
    } finally {
      await db.close();
    }
  });

  test("a database newer than the code stops the start", async () => {
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      await migrateDatabase(db);
      await db.query(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')",
      );
      await expect(migrateDatabase(db)).rejects.toThrow(/does not know/);
    } finally {
      await db.close();
    }
  });

  test("a failing migration leaves nothing half applied", async () => {
    const dir = await copyOfMigrations();
    await writeFile(
      join(dir, "0099_broken.up.sql"),
      "CREATE TABLE half (id int);\nSELECT nonsense FROM nowhere;\n",
    );
    await writeFile(join(dir, "0099_broken.down.sql"), "DROP TABLE half;\n");
    const db = await openDatabase(await emptyDatabase(kind));
    try {
      await expect(migrateDatabase(db, dir)).rejects.toThrow();
      expect(await tables(db)).not.toContain("half");
      const versions = await db.query<{ version: number }>("SELECT version FROM schema_migrations");
      const all = (await loadMigrations()).map((m) => m.version);
      expect(versions.rows.map((r) => r.version)).toEqual(all);
    } finally {
      await db.close();
    }
  });
});

describe("migration files", () => {
  test("every migration has an up and a down", async () => {
    const migrations = await loadMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    for (const m of migrations) {
      expect(m.up.length).toBeGreaterThan(0);
      expect(m.down.length).toBeGreaterThan(0);
    }
  });

  test("a lone up file is refused", async () => {
    const dir = await copyOfMigrations();
    await writeFile(join(dir, "0099_lonely.up.sql"), "SELECT 1;");
    await expect(loadMigrations(dir)).rejects.toThrow(/needs both/);
  });
});

describe("control planes starting together on one PostgreSQL", () => {
  test("migrate once and create one admin key", async () => {
    const target = await emptyDatabase("postgres");
    const config = {
      host: "127.0.0.1",
      port: 0,
      dataDir: target.dataDir,
      databaseUrl: target.databaseUrl,
      agentUrl: "http://127.0.0.1:9",
      logLevel: "silent",
      lifecycleIntervalMs: 1000,
      hostMonitorIntervalMs: 1000,
      backgroundLoops: false,
      secretKey: "a".repeat(64),
    };
    const logger = pino({ level: "silent" });
    const started = await Promise.all(
      Array.from({ length: 4 }, () => startControlPlane({ ...config }, { logger })),
    );
    try {
      const generated = started.map((c) => c.bootstrapApiKey).filter(Boolean);
      expect(generated).toHaveLength(1);
      const keys = await started[0]!.db.query("SELECT id FROM api_keys");
      expect(keys.rows).toHaveLength(1);
      const versions = await started[0]!.db.query("SELECT version FROM schema_migrations");
      expect(versions.rows).toHaveLength((await loadMigrations()).length);
    } finally {
      await Promise.all(started.map((c) => c.close()));
    }
  });

  test("one data directory cannot be opened by two embedded databases at once", async () => {
    const target = await emptyDatabase("pglite");
    const config = {
      host: "127.0.0.1",
      port: 0,
      dataDir: target.dataDir,
      apiKey: TEST_ADMIN_KEY,
      agentUrl: "http://127.0.0.1:9",
      logLevel: "silent",
      lifecycleIntervalMs: 1000,
      hostMonitorIntervalMs: 1000,
      backgroundLoops: false,
    };
    const logger = pino({ level: "silent" });
    const first = await startControlPlane(config, { logger });
    try {
      await expect(startControlPlane(config, { logger })).rejects.toThrow(/in use by process/);
    } finally {
      await first.close();
    }
    // Released on close: the directory opens again.
    const again = await startControlPlane(config, { logger });
    await again.close();
  });
});
