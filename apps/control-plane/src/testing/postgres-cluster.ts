// Throwaway PostgreSQL for tests: a fresh cluster in a temporary directory, a free loopback
// port, stopped and deleted afterwards. Uses Debian's server binaries; as root it runs them as
// the postgres user, since initdb refuses to run as root. The cluster is a copy of one initdb
// made once per checkout (`cp -a` keeps its owner and modes): initdb costs ~3 s on a loaded
// 2-core host, a copy ~0.2 s, and some thirty test files each start a cluster.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { migrateDatabase } from "../db/migrations.js";
import { openPostgres } from "../db/postgres-database.js";
import { cached, migrationsHash } from "./blank-pglite.js";

const run = promisify(execFile);
const BIN_DIRS = [
  "/usr/lib/postgresql/15/bin",
  "/usr/lib/postgresql/16/bin",
  "/usr/lib/postgresql/17/bin",
];

function binDir(): string {
  const dir = process.env.WRENN_TEST_PG_BIN ?? BIN_DIRS.find((d) => existsSync(join(d, "initdb")));
  if (!dir) throw new Error("no PostgreSQL server binaries found (apt-get install postgresql)");
  return dir;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function postgresUid(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const { stdout } = await run("id", ["-u", "postgres"]);
  const { stdout: gid } = await run("id", ["-g", "postgres"]);
  return { uid: Number(stdout.trim()), gid: Number(gid.trim()) };
}

export interface PostgresCluster {
  /**
   * A connection string for a fresh database in this cluster: empty, or (schema "migrated")
   * with every migration applied and nothing else, copied from a template database migrated
   * once per cluster by the control plane's own migrateDatabase.
   */
  createDatabase(schema?: "empty" | "migrated"): Promise<string>;
  stop(): Promise<void>;
}

type Exec = (file: string, args: string[]) => Promise<unknown>;

/**
 * The cached initdb for this server version (made on first use; renamed into place whole).
 * initdb runs in /tmp, which the postgres user can reach whatever the checkout's own modes;
 * root copies the result into the cache.
 */
function cachedInitdb(bin: string, exec: Exec, owner: { uid: number; gid: number } | null) {
  return cached(`postgres-${bin.split("/").at(-2)}-initdb`, async (dir) => {
    const scratch = await mkdtemp(join(tmpdir(), "wrenn-pg-initdb-"));
    try {
      if (owner) await chown(scratch, owner.uid, owner.gid);
      const data = join(scratch, "data");
      await exec("initdb", [
        "-D",
        data,
        "--auth=trust",
        "--username=postgres",
        "-E",
        "UTF8",
        "--no-sync",
      ]);
      await run("cp", ["-a", data, dir]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), "wrenn-pg-"));
  const data = join(dir, "data");
  const user = await postgresUid();
  if (user) await chown(dir, user.uid, user.gid);
  const exec: Exec = (file, args) =>
    user
      ? run("runuser", ["-u", "postgres", "--", join(bin, file), ...args])
      : run(join(bin, file), args);

  await run("cp", ["-a", await cachedInitdb(bin, exec, user), data]);
  const port = await freePort();
  await exec("pg_ctl", [
    "-D",
    data,
    "-o",
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
    "-l",
    join(dir, "log"),
    "-w",
    "start",
  ]);
  const admin = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  let counter = 0;
  const create = async (name: string, template?: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ""}`);
    } finally {
      await client.end();
    }
    return `postgresql://postgres@127.0.0.1:${port}/${name}`;
  };
  let schema: Promise<string> | undefined;
  const migratedTemplate = () => {
    schema ??= (async () => {
      const name = `wrenn_schema_${await migrationsHash()}`;
      const db = await openPostgres({ connectionString: await create(name) });
      try {
        await migrateDatabase(db);
      } finally {
        // A template database must have no session open while it is copied.
        await db.close();
      }
      return name;
    })();
    return schema;
  };
  return {
    async createDatabase(kind = "empty") {
      const name = `wrenn_test_${process.pid}_${++counter}`;
      return create(name, kind === "migrated" ? await migratedTemplate() : undefined);
    },
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
