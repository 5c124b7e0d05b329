import { PGlite } from "@electric-sql/pglite";
import { type HeldLock, lockDataDir } from "@wrenn/process-lock";
import type { Database, QueryResult, Transaction } from "./database.js";

function wrap(db: Pick<PGlite, "query" | "exec">): Transaction {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await db.query<R>(sql, params as unknown[] | undefined);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async exec(sql) {
      await db.exec(sql);
    },
  };
}

export interface PgliteOptions {
  /** Directory of the database files; undefined keeps everything in memory. */
  dir?: string;
}

/**
 * PGlite is one PostgreSQL backend inside this process: queries are serialised by PGlite
 * itself, a transaction holds that single connection, and two processes must never open the
 * same directory, which the data-dir lock prevents.
 */
export async function openPglite(options: PgliteOptions): Promise<Database> {
  let lock: HeldLock | undefined;
  if (options.dir !== undefined) {
    lock = await lockDataDir(options.dir, {
      file: "wrenn-cp.lock",
      program: "control plane with the embedded database",
      hint: "set DATABASE_URL to share a PostgreSQL between several",
    });
  }
  let db: PGlite;
  try {
    db = new PGlite(options.dir);
    await db.waitReady;
  } catch (error) {
    lock?.release();
    throw error;
  }
  const queryable = wrap(db);
  const self: Database = {
    kind: "pglite",
    query: queryable.query,
    exec: queryable.exec,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    // The data-dir lock already makes this process the only user of the database.
    withExclusiveLock: (_lockKey, fn) => fn(self),
    async close() {
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
  };
  return self;
}
