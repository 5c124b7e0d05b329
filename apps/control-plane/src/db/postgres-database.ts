import pg from "pg";
import type { Database, QueryResult, Session, Transaction } from "./database.js";

function wrap(client: pg.Pool | pg.PoolClient): Transaction {
  return {
    async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await client.query(sql, params as unknown[] | undefined);
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
    async exec(sql) {
      await client.query(sql);
    },
  };
}

async function inTransaction<T>(client: pg.PoolClient, fn: (tx: Transaction) => Promise<T>) {
  await client.query("BEGIN");
  try {
    const value = await fn(wrap(client));
    await client.query("COMMIT");
    return value;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

function sessionOf(client: pg.PoolClient): Session {
  return { ...wrap(client), transaction: (fn) => inTransaction(client, fn) };
}

export interface PostgresOptions {
  connectionString: string;
  maxConnections?: number;
}

export async function openPostgres(options: PostgresOptions): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    // A stuck connect must surface as an error at start, not hang the process.
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its server emits 'error' on the pool; without a listener Node exits.
  pool.on("error", () => {});
  const probe = await pool.connect();
  probe.release();
  const queryable = wrap(pool);
  return {
    kind: "postgres",
    query: queryable.query,
    exec: queryable.exec,
    async transaction(fn) {
      const client = await pool.connect();
      try {
        return await inTransaction(client, fn);
      } finally {
        client.release();
      }
    },
    async withExclusiveLock(lockKey, fn) {
      const client = await pool.connect();
      try {
        await client.query("SELECT pg_advisory_lock($1)", [lockKey]);
        try {
          return await fn(sessionOf(client));
        } finally {
          await client.query("SELECT pg_advisory_unlock($1)", [lockKey]);
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
