import { SECRET_LIMITS, secretPlaceholder } from "@wrenn/contract";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, type UserKey } from "../../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../../testing/test-control-plane.js";
import {
  DATABASE_KINDS,
  freshDatabase,
  releaseTestDatabases,
} from "../../testing/test-databases.js";

// /secrets (E2B's shapes) and /v1/secrets (Wrenn's) against a real control plane and database.
afterAll(() => releaseTestDatabases());

interface E2bSecret {
  secretID: string;
  name: string;
  currentVersion: number;
  metadata: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** A value no other text in a response, a log or a table could contain by chance. */
const uniqueValue = (label: string) => `val-${label}-${Math.random().toString(36).slice(2)}-end`;

describe.each(DATABASE_KINDS)("secrets API on %s", (kind) => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;
  /** Every value stored through the API in this file: none may appear anywhere readable. */
  const values: string[] = [];
  const remember = (label: string) => {
    const v = uniqueValue(label);
    values.push(v);
    return v;
  };

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
  });
  afterAll(() => stack?.close());

  const countOf = async (ownerId: string) =>
    Number(
      (
        await stack.cp.db.query<{ n: unknown }>(
          "SELECT count(*) AS n FROM secrets WHERE owner_id = $1",
          [ownerId],
        )
      ).rows[0]?.n,
    );

  test("create answers 201 with the record, no-store, and never the value", async () => {
    const value = remember("create");
    const r = await stack.call("POST", "/secrets", {
      key: alice.key,
      body: { name: "OpenAI-Key", value, metadata: { team: "ml" } },
    });
    expect(r.status, r.text).toBe(201);
    expect(r.headers.get("cache-control")).toBe("no-store");
    const s = r.body as E2bSecret;
    expect(s).toEqual({
      secretID: expect.stringMatching(/^sec_[0-9a-f]{16}$/),
      name: "openai-key",
      currentVersion: 1,
      metadata: { team: "ml" },
      createdAt: expect.any(String),
      updatedAt: s.createdAt,
    });
    expect(r.text).not.toContain(value);

    // Any case of the name is the same secret: 409 in both APIs' shapes.
    const again = await stack.call("POST", "/secrets", {
      key: alice.key,
      body: { name: "OPENAI-KEY", value: "x" },
    });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 409, error_code: "secret_name_taken" });
    const v1 = await stack.call("POST", "/v1/secrets", {
      key: alice.key,
      body: { name: "openai-key", value: "x" },
    });
    expect(v1.status).toBe(409);
    expect(v1.body).toMatchObject({ error: { code: "secret_name_taken" } });
    expect(v1.headers.get("cache-control")).toBe("no-store");
  });

  test("get by id or by name in any case; update appends versions; delete", async () => {
    const created = await stack.call("POST", "/v1/secrets", {
      key: alice.key,
      body: { name: "db-password", value: remember("v1"), metadata: { env: "prod" } },
    });
    expect(created.status, created.text).toBe(201);
    const id = (created.body as { id: string }).id;

    for (const ref of [id, "db-password", "DB-Password"]) {
      const r = await stack.call("GET", `/secrets/${ref}`, { key: alice.key });
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("no-store");
      expect(r.body).toMatchObject({ secretID: id, name: "db-password", currentVersion: 1 });
    }

    // Without metadata the stored metadata stays; with it, it is replaced.
    const u2 = await stack.call("POST", "/secrets/db-password", {
      key: alice.key,
      body: { value: remember("v2") },
    });
    expect(u2.status, u2.text).toBe(200);
    expect(u2.body).toMatchObject({ currentVersion: 2, metadata: { env: "prod" } });
    const u3 = await stack.call("POST", `/v1/secrets/${id}`, {
      key: alice.key,
      body: { value: remember("v3"), metadata: { env: "staging" } },
    });
    expect(u3.status, u3.text).toBe(200);
    const third = u3.body as { currentVersion: number; metadata: unknown; updatedAt: string };
    expect(third).toMatchObject({ currentVersion: 3, metadata: { env: "staging" } });
    expect(Date.parse(third.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse((created.body as { createdAt: string }).createdAt),
    );
    // The current version is what a placeholder resolves to.
    expect(
      await stack.cp.secrets.resolvePlaceholders(alice.ownerId, secretPlaceholder("db-password")),
    ).toBe(values[values.length - 1]);

    const del = await stack.call("DELETE", "/secrets/DB-PASSWORD", { key: alice.key });
    expect(del.status).toBe(204);
    expect(del.headers.get("cache-control")).toBe("no-store");
    for (const [method, path] of [
      ["GET", `/secrets/${id}`],
      ["DELETE", `/secrets/${id}`],
      ["GET", "/v1/secrets/db-password"],
    ] as const) {
      const r = await stack.call(method, path, { key: alice.key });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    const gone = await stack.call("POST", `/secrets/${id}`, {
      key: alice.key,
      body: { value: "x" },
    });
    expect(gone.body).toMatchObject({ code: 404, error_code: "secret_not_found" });

    const audit = await stack.cp.db.query<{ action: string; detail: unknown }>(
      "SELECT action, detail FROM audit_events WHERE action LIKE 'secret.%' AND owner_id = $1 ORDER BY id",
      [alice.ownerId],
    );
    const ours = audit.rows.filter((r) => JSON.stringify(r.detail).includes(id));
    expect(ours.map((r) => r.action)).toEqual([
      "secret.create",
      "secret.update",
      "secret.update",
      "secret.delete",
    ]);
    expect(ours[0]?.detail).toMatchObject({ secretId: id, name: "db-password" });
  });

  test("owners are isolated", async () => {
    const mine = await stack.call("POST", "/secrets", {
      key: alice.key,
      body: { name: "shared-name", value: remember("alice") },
    });
    expect(mine.status).toBe(201);
    const id = (mine.body as E2bSecret).secretID;
    // Bob sees none of Alice's, by id or name, and may use the same name for his own.
    for (const [method, path, body] of [
      ["GET", `/secrets/${id}`, undefined],
      ["GET", "/secrets/shared-name", undefined],
      ["POST", `/secrets/${id}`, { value: "stolen" }],
      ["DELETE", `/v1/secrets/${id}`, undefined],
    ] as const) {
      const r = await stack.call(method, path, { key: bob.key, body });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
    const listed = await stack.call("GET", "/secrets", { key: bob.key });
    expect(listed.body).toEqual([]);
    const his = await stack.call("POST", "/secrets", {
      key: bob.key,
      body: { name: "shared-name", value: remember("bob") },
    });
    expect(his.status).toBe(201);
    const check = await stack.call("GET", `/secrets/${id}`, { key: alice.key });
    expect(check.body).toMatchObject({ currentVersion: 1 });
    expect(
      await stack.cp.secrets.resolvePlaceholders(bob.ownerId, secretPlaceholder("shared-name")),
    ).toBe(values[values.length - 1]);
  });

  test("every limit at its edge: at it is stored, one over is 400 and stores nothing", async () => {
    const L = SECRET_LIMITS;
    const meta = (n: number, keyBytes = 2, valueBytes = 1) =>
      Object.fromEntries(
        Array.from({ length: n }, (_, i) => [
          `${i}`.padStart(keyBytes, "k"),
          "v".repeat(valueBytes),
        ]),
      );
    // Eight entries of a 4-byte key and a 1020-byte value: 8192 bytes together.
    const total = (extra: number) =>
      Object.fromEntries(
        Array.from({ length: 8 }, (_, i) => [`key${i}`, "v".repeat(1020 + (i === 0 ? extra : 0))]),
      );
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ["name length", { name: L.nameLength }, { name: L.nameLength + 1 }],
      ["value bytes", { value: "v".repeat(L.valueBytes) }, { value: "v".repeat(L.valueBytes + 1) }],
      // é is 2 bytes in UTF-8: a value can be short in characters and still too long.
      [
        "value bytes (multi-byte)",
        { value: "é".repeat(L.valueBytes / 2) },
        { value: `${"é".repeat(L.valueBytes / 2)}x` },
      ],
      [
        "metadata entries",
        { metadata: meta(L.metadataEntries) },
        { metadata: meta(L.metadataEntries + 1) },
      ],
      [
        "metadata key bytes",
        { metadata: meta(1, L.metadataKeyBytes) },
        { metadata: meta(1, L.metadataKeyBytes + 1) },
      ],
      [
        "metadata value bytes",
        { metadata: meta(1, 2, L.metadataValueBytes) },
        { metadata: meta(1, 2, L.metadataValueBytes + 1) },
      ],
      ["metadata total bytes", { metadata: total(0) }, { metadata: total(1) }],
    ];
    let n = 0;
    for (const [what, atEdge, over] of cases) {
      for (const api of ["/secrets", "/v1/secrets"]) {
        n++;
        // A name case gives the length; the name itself is made unique per case.
        const named = (c: Record<string, unknown>) =>
          typeof c.name === "number" ? { ...c, name: `edge-${n}-`.padEnd(c.name, "n") } : c;
        const stored = typeof atEdge.name === "number" ? named(atEdge).name : `edge-${n}`;
        const ok = await stack.call("POST", api, {
          key: bob.key,
          body: { name: `edge-${n}`, value: "v", ...named(atEdge) },
        });
        expect(ok.status, `${what} at the limit on ${api}: ${ok.text.slice(0, 200)}`).toBe(201);
        const before = await countOf(bob.ownerId);
        const bad = await stack.call("POST", api, {
          key: bob.key,
          body: { name: `over-${n}`, value: "v", ...named(over) },
        });
        expect(bad.status, `${what} over the limit on ${api}`).toBe(400);
        expect(await countOf(bob.ownerId)).toBe(before);
        // An update over the limit changes nothing either (updates carry no name).
        if (!("name" in over)) {
          const upd = await stack.call("POST", `${api}/edge-${n}`, {
            key: bob.key,
            body: { value: "v", ...over },
          });
          expect(upd.status, `${what} update over the limit on ${api}`).toBe(400);
        }
        const still = await stack.call("GET", `/secrets/${stored}`, { key: bob.key });
        expect((still.body as E2bSecret).currentVersion).toBe(1);
      }
    }
    expect(n).toBe(cases.length * 2);
  });

  test("malformed names and values are 400 and never echo the value", async () => {
    const value = `${remember("bad")}\n`;
    const before = await countOf(alice.ownerId);
    for (const body of [
      { name: "has space", value: "v" },
      { name: "", value: "v" },
      { name: "dots.not.allowed", value: "v" },
      { name: "sec_0123456789abcdef", value: "v" },
      { name: "SEC_lookalike", value: "v" },
      { name: "ok-name", value: "" },
      { name: "ok-name", value },
      { name: "ok-name", value: `a\r\nX-Injected: ${value}` },
      { name: "ok-name", value: 5 },
      { name: "ok-name", value: "v", metadata: { k: 1 } },
      { name: "ok-name", value: "v", metadata: [] },
      { name: "ok-name" },
      { value: "v" },
      { name: "ok-name", value: "v", unknown: true },
    ]) {
      for (const api of ["/secrets", "/v1/secrets"]) {
        const r = await stack.call("POST", api, { key: alice.key, body });
        expect(r.status, `${api} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
        expect(r.headers.get("cache-control")).toBe("no-store");
        expect(r.text).not.toContain(value.trim());
      }
    }
    expect(await countOf(alice.ownerId)).toBe(before);
  });

  test("a body over 512 KiB is refused before it is read as a secret", async () => {
    const r = await stack.call("POST", "/v1/secrets", {
      key: alice.key,
      body: { name: "huge", value: "v", metadata: { k: "x".repeat(SECRET_LIMITS.bodyBytes) } },
    });
    expect(r.status).toBe(413);
    expect((await stack.call("GET", "/v1/secrets/huge", { key: alice.key })).status).toBe(404);
  });

  test("lists page with X-Next-Token and nextCursor, oldest first, each once", async () => {
    const carol = await createKey(stack, { name: "carol" });
    const names = Array.from({ length: 5 }, (_, i) => `page-${i}`);
    for (const name of names) {
      const r = await stack.call("POST", "/secrets", {
        key: carol.key,
        body: { name, value: remember(name) },
      });
      expect(r.status).toBe(201);
    }
    const e2bSeen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const q: string = token ? `&nextToken=${encodeURIComponent(token)}` : "";
      const r = await stack.call("GET", `/secrets?limit=2${q}`, { key: carol.key });
      expect(r.status).toBe(200);
      expect(r.headers.get("cache-control")).toBe("no-store");
      e2bSeen.push(...(r.body as E2bSecret[]).map((s) => s.name));
      token = r.headers.get("x-next-token");
      pages++;
    } while (token && pages < 10);
    expect(e2bSeen).toEqual(names);
    expect(pages).toBe(3);

    const v1Seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const r = await stack.call("GET", `/v1/secrets?limit=3${q}`, { key: carol.key });
      const page = r.body as { secrets: { name: string }[]; nextCursor: string | null };
      v1Seen.push(...page.secrets.map((s) => s.name));
      cursor = page.nextCursor;
    } while (cursor && v1Seen.length < 10);
    expect(v1Seen).toEqual(names);

    for (const q of ["limit=0", "limit=101", "nextToken=not-ours"]) {
      const r = await stack.call("GET", `/secrets?${q}`, { key: carol.key });
      expect(r.status, q).toBe(400);
    }
  });

  test("an owner may hold 1000 secrets; the next is 429 and stores nothing", async () => {
    const dave = await createKey(stack, { name: "dave" });
    // The first 999 straight into the table (the API would take minutes for them); the limit
    // is counted from the table either way.
    await stack.cp.db.query(
      `INSERT INTO secrets (id, owner_id, name, sealed_value, created_at, updated_at)
       SELECT 'sec_' || lpad(to_hex(g), 16, '0'), $1, 'bulk-' || g, 'v1.x.y.z.w', now(), now()
       FROM generate_series(1, $2::int) AS g`,
      [dave.ownerId, SECRET_LIMITS.secretsPerOwner - 1],
    );
    const last = await stack.call("POST", "/secrets", {
      key: dave.key,
      body: { name: "the-last", value: "v" },
    });
    expect(last.status, last.text).toBe(201);
    const over = await stack.call("POST", "/secrets", {
      key: dave.key,
      body: { name: "one-too-many", value: "v" },
    });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ code: 429, error_code: "too_many_secrets" });
    expect(await countOf(dave.ownerId)).toBe(SECRET_LIMITS.secretsPerOwner);
  });

  test("no value is stored or shown in plaintext anywhere", async () => {
    expect(values.length).toBeGreaterThan(5);
    const tables = ["secrets", "audit_events"];
    for (const table of tables) {
      const dump = JSON.stringify((await stack.cp.db.query(`SELECT * FROM ${table}`)).rows);
      for (const v of values) expect(dump, table).not.toContain(v.trim());
    }
    const sealed = await stack.cp.db.query<{ sealed_value: string }>(
      "SELECT sealed_value FROM secrets WHERE owner_id = $1",
      [alice.ownerId],
    );
    for (const row of sealed.rows) expect(row.sealed_value).toMatch(/^v1\./);
    for (const path of ["/secrets", "/v1/secrets", "/secrets/openai-key"]) {
      const r = await stack.call("GET", path, { key: alice.key });
      for (const v of values) expect(r.text).not.toContain(v.trim());
    }
  });
});

describe("secrets turned off (WRENN_SECRETS=off)", () => {
  let stack: TestStack;
  afterAll(() => stack?.close());

  test("every secrets route answers 403 secrets_disabled and stores nothing", async () => {
    stack = await startTestStack(await freshDatabase("pglite"), { config: { secrets: false } });
    const user = await createKey(stack, { name: "off" });
    for (const [method, path, body] of [
      ["GET", "/secrets", undefined],
      ["POST", "/secrets", { name: "a", value: "v" }],
      ["GET", "/secrets/a", undefined],
      ["POST", "/secrets/a", { value: "v" }],
      ["DELETE", "/secrets/a", undefined],
      ["GET", "/v1/secrets", undefined],
      ["POST", "/v1/secrets", { name: "a", value: "v" }],
    ] as const) {
      const r = await stack.call(method, path, { key: user.key, body });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.headers.get("cache-control")).toBe("no-store");
      const code = path.startsWith("/v1")
        ? (r.body as { error: { code: string } }).error.code
        : (r.body as { error_code: string }).error_code;
      expect(code).toBe("secrets_disabled");
    }
    const rows = await stack.cp.db.query("SELECT * FROM secrets");
    expect(rows.rows).toEqual([]);
    await expect(
      stack.cp.secrets.resolvePlaceholders(user.ownerId, secretPlaceholder("a")),
    ).rejects.toMatchObject({ code: "secrets_disabled" });
  });
});
