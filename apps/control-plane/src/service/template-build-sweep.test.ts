import { ERROR_CODES } from "@wrenn/contract";
import { pino } from "pino";
import { afterAll, expect, test } from "vitest";
import { migrateDatabase } from "../db/migrations.js";
import { openDatabase } from "../db/open-database.js";
import { findTemplateById } from "../store/template-store.js";
import { freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import { BuildSweep } from "./template-build-sweep.js";

afterAll(() => releaseTestDatabases());

// Records a control plane left "building" when it died are closed by the next one; builds a
// live control plane follows (this one, or another beside it that still beats) are not.
test("a starting control plane closes the builds a dead one left, and only those", async () => {
  const db = await openDatabase(await freshDatabase("pglite"));
  try {
    await migrateDatabase(db);
    await db.query("INSERT INTO owners (id, name) VALUES ('own-0000000a', 'builder')");
    const row = (id: string, tag: string, status: string, heartbeatAgo: string | null) =>
      db.query(
        `INSERT INTO templates (id, owner_id, name, tag, from_image, status, step, vcpus,
           memory_mb, build_id, build_started_at, build_follower, build_heartbeat_at,
           building_host_template)
         VALUES ($1, 'own-0000000a', 'app', $2, 'debian:12', $3, 'step-2', 2, 1024, $1 || '-b',
           now(), 'cp-dead', now() - $4::interval, 't-0000000' || right($1, 1))`,
        [id, tag, status, heartbeatAgo],
      );
    await row("tpl-dead0001", "dead", "building", "5 minutes");
    await row("tpl-nobeat02", "nobeat", "building", null);
    await row("tpl-sibling3", "sibling", "building", "2 seconds");
    await row("tpl-mine0004", "mine", "building", "10 minutes");
    await row("tpl-ready005", "ready", "ready", "1 hour");

    const sweep = new BuildSweep({
      db,
      logger: pino({ level: "silent" }),
      followed: () => ["tpl-mine0004"],
      staleSeconds: 60,
    });
    const lost = await sweep.sweep();
    expect(lost.map((l) => l.id).sort()).toEqual(["tpl-dead0001", "tpl-nobeat02"]);

    const dead = await findTemplateById(db, "own-0000000a", "tpl-dead0001");
    expect(dead).toMatchObject({
      status: "error",
      errorCode: "template_build_lost",
      errorStep: "step-2",
      buildingHostTemplate: null,
    });
    expect(dead?.errorMessage).toMatch(/app:dead was lost.*build it again/);
    expect(dead?.buildFinishedAt).toBeInstanceOf(Date);
    expect(ERROR_CODES.template_build_lost.status).toBe(409);
    // A sibling that still beats keeps its build; this process's own build is followed (and
    // its heartbeat is renewed); a finished build is left alone.
    expect((await findTemplateById(db, "own-0000000a", "tpl-sibling3"))?.status).toBe("building");
    expect((await findTemplateById(db, "own-0000000a", "tpl-mine0004"))?.status).toBe("building");
    const beat = await db.query<{ fresh: boolean }>(
      "SELECT build_heartbeat_at > now() - interval '10 seconds' AS fresh FROM templates WHERE id = 'tpl-mine0004'",
    );
    expect(beat.rows[0]?.fresh).toBe(true);
    expect((await findTemplateById(db, "own-0000000a", "tpl-ready005"))?.status).toBe("ready");

    // The sibling dies: once its heartbeat is stale, the next sweep closes its build too.
    await db.query(
      "UPDATE templates SET build_heartbeat_at = now() - interval '61 seconds' WHERE id = 'tpl-sibling3'",
    );
    expect((await sweep.sweep()).map((l) => l.id)).toEqual(["tpl-sibling3"]);
    expect(await sweep.sweep()).toEqual([]);
  } finally {
    await db.close();
  }
});
