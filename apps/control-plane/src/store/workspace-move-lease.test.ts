import { afterAll, describe, expect, test } from "vitest";
import { migrateDatabase } from "../db/migrations.js";
import { openDatabase } from "../db/open-database.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";
import {
  claimWorkspaceMove,
  findWorkspace,
  insertWorkspace,
  releaseWorkspaceMove,
  workspaceMoving,
} from "./workspace-store.js";

// The mark a workspace move holds (workspace-move.ts), on both databases: one move at a time,
// seen by every reader, given up by release or when its lease runs out.
afterAll(() => releaseTestDatabases());

describe.each(DATABASE_KINDS)("the workspace move lease on %s", (kind) => {
  test("one holder at a time; release or an expired lease frees it", async () => {
    const db = await openDatabase(await freshDatabase(kind));
    try {
      await migrateDatabase(db);
      await db.query("INSERT INTO owners (id, name) VALUES ('own-0000000a', 'alice')");
      const row = await insertWorkspace(db, {
        id: "ws-00000001",
        ownerId: "own-0000000a",
        name: "box",
        image: "base",
        vcpus: 1,
        memoryMb: 512,
        diskGb: 2,
      });
      expect(row.movingUntil).toBeNull();
      expect(await workspaceMoving(db, row.id)).toBe(false);

      const held = await claimWorkspaceMove(db, row.id, 600);
      expect(held?.movingUntil?.getTime()).toBeGreaterThan(Date.now() + 500_000);
      expect(await workspaceMoving(db, row.id)).toBe(true);
      // A second move (this control plane or another) does not get it.
      expect(await claimWorkspaceMove(db, row.id, 600)).toBeUndefined();
      expect((await findWorkspace(db, "own-0000000a", "box"))?.movingUntil).toEqual(
        held?.movingUntil,
      );

      await releaseWorkspaceMove(db, row.id);
      expect(await workspaceMoving(db, row.id)).toBe(false);
      // A lease run out (its control plane died mid-move) is nobody's: the next move takes it.
      await db.query(
        "UPDATE workspaces SET moving_until = now() - interval '1 second' WHERE id = $1",
        [row.id],
      );
      expect(await workspaceMoving(db, row.id)).toBe(false);
      expect(await claimWorkspaceMove(db, row.id, 600)).toBeDefined();
    } finally {
      await db.close();
    }
  });
});
