// Throwaway PostgreSQL for tests: initdb into a temporary directory, a free loopback port,
// stopped and deleted afterwards. Uses Debian's server binaries; as root it runs them as the
// postgres user, since initdb refuses to run as root.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";

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
  /** A connection string for a fresh, empty database in this cluster. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = binDir();
  const dir = await mkdtemp(join(tmpdir(), "wrenn-pg-"));
  const data = join(dir, "data");
  const user = await postgresUid();
  if (user) await chown(dir, user.uid, user.gid);
  const exec = (file: string, args: string[]) =>
    user
      ? run("runuser", ["-u", "postgres", "--", join(bin, file), ...args])
      : run(join(bin, file), args);

  await exec("initdb", [
    "-D",
    data,
    "--auth=trust",
    "--username=postgres",
    "-E",
    "UTF8",
    "--no-sync",
  ]);
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
  return {
    async createDatabase() {
      const name = `wrenn_test_${process.pid}_${++counter}`;
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgresql://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
