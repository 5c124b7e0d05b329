import { join } from "node:path";
import type { Database } from "./database.js";
import { openPglite } from "./pglite-database.js";
import { openPostgres } from "./postgres-database.js";

export interface DatabaseConfig {
  databaseUrl?: string;
  dataDir: string;
}

/** PostgreSQL when DATABASE_URL is given; otherwise PGlite files under the data directory. */
export function openDatabase(config: DatabaseConfig): Promise<Database> {
  if (config.databaseUrl) return openPostgres({ connectionString: config.databaseUrl });
  return openPglite({ dir: join(config.dataDir, "pglite") });
}
