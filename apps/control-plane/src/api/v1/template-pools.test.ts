import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { templateStorageMb } from "../../store/template-store.js";
import { createKey, createSandbox, snapshot } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

// Templates count against their owner's storage pool beside sandboxes' disks. A build is
// refused (429 pool_exhausted, as a sandbox create over the pool) when the pool is full, or
// would be with the template it builds on; one that ends over the pool is kept and the next
// build or create is refused. The fake agent "builds" a template of the size a test sets.
const MiB = 1024 * 1024;
type Template = { templateId: string; status: string; usable: boolean; sizeMB: number | null };
type ErrorBody = { error: { code: string; message: string } };

describe.each(DATABASE_KINDS)("templates and the storage pool on %s", (kind) => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
  });
  afterAll(() => stack?.close());

  const build = (key: string, name: string, from: Record<string, string>) =>
    stack.call("POST", "/v1/templates", { key, body: { name, ...from } });
  const ready = async (key: string, name: string): Promise<Template> => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const t = (await stack.call("GET", `/v1/templates/${name}`, { key })).body as Template;
      if (t.status !== "building") return t;
      if (Date.now() > deadline) throw new Error(`${name} still building: ${JSON.stringify(t)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const storageUsed = async (key: string) =>
    (
      (await stack.call("GET", "/v1/api-keys/current", { key })).body as {
        usage: { storageMb: number };
      }
    ).usage.storageMb;
  /** Everything a refused request must leave as it was, templates included. */
  const state = async () =>
    `${await snapshot(stack.cp.db)}\n${JSON.stringify((await stack.cp.db.query("SELECT * FROM templates ORDER BY id")).rows)}`;
  const expectPoolRefusal = (r: { status: number; body: unknown; text: string }, more: number) => {
    expect(r.status, r.text).toBe(429);
    const body = r.body as ErrorBody & { error_code?: string; message?: string };
    // /v1's error shape, or E2B's ({code: status, message, error_code}).
    const error = body.error ?? { code: body.error_code, message: body.message };
    expect(error.code).toBe("pool_exhausted");
    expect(error.message).toContain("storage (MiB)");
    expect(error.message).toContain(`${more} more asked`);
  };

  test("a build's size is kept and shown, and counts once with sandboxes' disks", async () => {
    const user = await createKey(stack, { pools: { storageMb: 4096 } });
    stack.agent.buildSizeBytes = 1000 * MiB + 1;
    const started = await build(user.key, "app:1", { fromImage: "docker.io/library/alpine:3" });
    expect(started.status, started.text).toBe(202);
    const app = await ready(user.key, "app:1");
    expect(app).toMatchObject({ status: "ready", usable: true, sizeMB: 1001 });
    expect(
      (
        (await stack.call("GET", "/v1/templates", { key: user.key })).body as {
          templates: Template[];
        }
      ).templates,
    ).toMatchObject([{ sizeMB: 1001 }]);

    // A tag names the same build: it is counted once.
    const tagged = await stack.call("POST", "/templates/tags", {
      key: user.key,
      body: { target: "app:1", tags: ["stable"] },
    });
    expect(tagged.status, tagged.text).toBe(201);
    const e2b = (await stack.call("GET", "/v2/templates", { key: user.key })).body as Array<{
      names: string[];
      diskSizeMB: number;
    }>;
    expect(e2b.map((t) => [t.names[0], t.diskSizeMB])).toEqual([
      ["app:1", 1001],
      ["app:stable", 1001],
    ]);
    expect(await storageUsed(user.key)).toBe(1001);
    expect(await templateStorageMb(stack.cp.db, user.ownerId)).toBe(1001);

    await createSandbox(stack, user.key, { resources: { diskMb: 2048 } });
    expect(await storageUsed(user.key)).toBe(3049);
    // 3049 + 1100 > 4096: the template's MiB are refused to a sandbox as a sandbox's are.
    const over = await stack.call("POST", "/v1/sandboxes", {
      key: user.key,
      body: { resources: { diskMb: 1100 } },
    });
    expectPoolRefusal(over, 1100);
  });

  test("a build over the pool is refused on every route and creates nothing", async () => {
    const user = await createKey(stack, { pools: { storageMb: 4096 } });
    stack.agent.buildSizeBytes = 1000 * MiB;
    expect((await build(user.key, "base-app", { fromImage: "alpine:3" })).status).toBe(202);
    expect((await ready(user.key, "base-app")).sizeMB).toBe(1000);
    // E2B's two steps: reserved while there is room, started once there is none.
    const reserved = await stack.call("POST", "/v3/templates", {
      key: user.key,
      body: { name: "late:1" },
    });
    expect(reserved.status, reserved.text).toBe(202);
    const { templateID, buildID } = reserved.body as { templateID: string; buildID: string };

    // On the owner's 1000 MiB template a build needs 1000 more: 3100 + 1000 > 4096.
    const sandbox = await createSandbox(stack, user.key, { resources: { diskMb: 2100 } });
    const before = await state();
    expectPoolRefusal(await build(user.key, "child", { fromTemplate: "base-app" }), 1000);
    expectPoolRefusal(
      await stack.call("POST", `/v2/templates/${templateID}/builds/${buildID}`, {
        key: user.key,
        body: { fromTemplate: "base-app", steps: [] },
      }),
      1000,
    );
    expect(await state()).toBe(before);
    // From an image the size is unknown before the build: it starts while the pool has room.
    stack.agent.buildSizeBytes = 2000 * MiB;
    expect((await build(user.key, "big", { fromImage: "alpine:3" })).status).toBe(202);
    // It ended over the pool (5100 of 4096): kept, and usable.
    expect(await ready(user.key, "big")).toMatchObject({ usable: true, sizeMB: 2000 });
    expect(await storageUsed(user.key)).toBe(5100);

    const full = await state();
    expectPoolRefusal(await build(user.key, "more", { fromImage: "alpine:3" }), 0);
    expectPoolRefusal(
      await stack.call("POST", "/v3/templates", { key: user.key, body: { name: "more" } }),
      0,
    );
    expectPoolRefusal(
      await stack.call("POST", "/v1/sandboxes", {
        key: user.key,
        body: { resources: { diskMb: 256 } },
      }),
      256,
    );
    expect(await state()).toBe(full);
    const names = (
      (await stack.call("GET", "/v2/templates", { key: user.key })).body as Array<{
        names: string[];
      }>
    ).map((t) => t.names[0]);
    expect(names).toEqual(["base-app:latest", "big:latest"]);

    // Freeing the sandbox's disk makes room again (3000 of 4096).
    expect(
      (await stack.call("DELETE", `/v1/sandboxes/${sandbox.id}`, { key: user.key })).status,
    ).toBe(204);
    stack.agent.buildSizeBytes = 10 * MiB;
    expect((await build(user.key, "small", { fromImage: "alpine:3" })).status).toBe(202);
    expect((await ready(user.key, "small")).sizeMB).toBe(10);
  });

  test("another owner's templates are not counted", async () => {
    const a = await createKey(stack, { pools: { storageMb: 4096 } });
    const b = await createKey(stack, { pools: { storageMb: 4096 } });
    stack.agent.buildSizeBytes = 300 * MiB;
    expect((await build(a.key, "mine", { fromImage: "alpine:3" })).status).toBe(202);
    await ready(a.key, "mine");
    expect(await storageUsed(a.key)).toBe(300);
    expect(await storageUsed(b.key)).toBe(0);
  });
});
