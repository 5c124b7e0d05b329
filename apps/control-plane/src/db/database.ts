export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<R>>;
}

export interface Transaction extends Queryable {
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
}

/** A connection that can also run transactions: the database itself or a locked session. */
export interface Session extends Transaction {
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
}

export type DatabaseKind = "pglite" | "postgres";

export interface Database extends Session {
  readonly kind: DatabaseKind;
  /**
   * Runs fn on one session while holding a lock shared by every process using this database,
   * so two control planes starting together do not both migrate or bootstrap.
   */
  withExclusiveLock<T>(lockKey: number, fn: (session: Session) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
