import { join } from "node:path";
import type { Database } from "./database.js";
import { openPglite } from "./pglite-database.js";
import { openPostgres } from "./postgres-database.js";

export interface DatabaseConfig {
  databaseUrl?: string;
  dataDir: string;
}

/** Where the embedded database's files live under a control plane's data directory. */
export function pgliteDir(dataDir: string): string {
  return join(dataDir, "pglite");
}

/** PostgreSQL when DATABASE_URL is given; otherwise PGlite files under the data directory. */
export function openDatabase(config: DatabaseConfig): Promise<Database> {
  if (config.databaseUrl) return openPostgres({ connectionString: config.databaseUrl });
  return openPglite({ dir: pgliteDir(config.dataDir) });
}
