// What E2B's template listings report beside a template's record: how often sandboxes were
// made from its build and when last (from the sandboxes table, which keeps the host's name
// for the build), the build's envd version (from its host; unknown when the host does not
// answer) and its size.
import type { Database } from "../db/database.js";
import type { HostRegistry } from "../hosts/host-registry.js";
import { sizeMbOf, type TemplateRecord } from "../store/template-store.js";

export interface TemplateUsage {
  spawnCount: number;
  lastSpawnedAt: string | null;
  envdVersion: string | null;
  diskSizeMB: number | null;
}

export async function templateUsage(
  db: Database,
  registry: HostRegistry,
  ownerId: string,
  rows: TemplateRecord[],
): Promise<Map<string, TemplateUsage>> {
  const builds = [...new Set(rows.flatMap((r) => (r.hostTemplate ? [r.hostTemplate] : [])))];
  const spawned = new Map<string, { count: number; last: string | null }>();
  if (builds.length > 0) {
    const r = await db.query<{ template: string; count: string; last: string | Date | null }>(
      `SELECT template, count(*) AS count, max(started_at) AS last FROM sandboxes
       WHERE owner_id = $1 AND template = ANY($2::text[]) GROUP BY template`,
      [ownerId, builds],
    );
    for (const row of r.rows) {
      spawned.set(row.template, {
        count: Number(row.count),
        last: row.last ? new Date(row.last).toISOString() : null,
      });
    }
  }
  const onHost = new Map<string, { envdVersion: string; sizeBytes: number }>();
  for (const hostId of new Set(rows.flatMap((r) => (r.hostId ? [r.hostId] : [])))) {
    const listed = await registry
      .client(hostId)
      .listTemplates()
      .catch(() => []);
    for (const t of listed) onHost.set(t.name, t);
  }
  const usage = new Map<string, TemplateUsage>();
  for (const row of rows) {
    const s = row.hostTemplate ? spawned.get(row.hostTemplate) : undefined;
    const h = row.hostTemplate ? onHost.get(row.hostTemplate) : undefined;
    usage.set(row.id, {
      spawnCount: s?.count ?? 0,
      lastSpawnedAt: s?.last ?? null,
      envdVersion: h?.envdVersion ?? null,
      // The size recorded at the build's end; builds recorded before sizes were, the host's.
      diskSizeMB: sizeMbOf(row.sizeBytes) ?? (h ? sizeMbOf(h.sizeBytes) : null),
    });
  }
  return usage;
}
