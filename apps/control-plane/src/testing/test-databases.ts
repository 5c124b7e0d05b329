// The two databases every DB/API suite runs against: embedded PGlite and a real PostgreSQL.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { seedBlankPglite, seedMigratedPglite } from "./blank-pglite.js";
import { type PostgresCluster, startPostgresCluster } from "./postgres-cluster.js";

export type DatabaseKindUnderTest = "pglite" | "postgres";
export const DATABASE_KINDS: DatabaseKindUnderTest[] = ["pglite", "postgres"];

/** What startControlPlane needs to use a fresh database of the given kind. */
export interface DatabaseTarget {
  dataDir: string;
  databaseUrl?: string;
}

let cluster: Promise<PostgresCluster> | undefined;
const dataDirs: string[] = [];

/** One cluster per test file (process), started on first use. */
export function sharedCluster(): Promise<PostgresCluster> {
  cluster ??= startPostgresCluster();
  return cluster;
}

/** Stops the cluster and deletes every data directory this file created; call in afterAll. */
export async function releaseTestDatabases(): Promise<void> {
  const current = cluster;
  cluster = undefined;
  if (current) await (await current).stop();
  await Promise.all(dataDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/**
 * A new database of the given kind with every migration applied and nothing else: what a
 * control plane that started once finds (copied from one migrated once; see blank-pglite.ts).
 */
export function freshDatabase(kind: DatabaseKindUnderTest): Promise<DatabaseTarget> {
  return newDatabase(kind, "migrated");
}

/** A new, empty database (no schema), as a first start finds it: for the migrations' tests. */
export function emptyDatabase(kind: DatabaseKindUnderTest): Promise<DatabaseTarget> {
  return newDatabase(kind, "empty");
}

async function newDatabase(
  kind: DatabaseKindUnderTest,
  schema: "empty" | "migrated",
): Promise<DatabaseTarget> {
  const dataDir = await mkdtemp(join(tmpdir(), "wrenn-cp-test-"));
  dataDirs.push(dataDir);
  if (kind === "pglite") {
    await (schema === "migrated" ? seedMigratedPglite : seedBlankPglite)(dataDir);
    return { dataDir };
  }
  return { dataDir, databaseUrl: await (await sharedCluster()).createDatabase(schema) };
}
