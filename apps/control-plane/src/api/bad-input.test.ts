import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createKey, createSandbox, snapshot, type UserKey } from "../testing/api-helpers.js";
import { startTestStack, type TestStack } from "../testing/test-control-plane.js";
import { DATABASE_KINDS, freshDatabase, releaseTestDatabases } from "../testing/test-databases.js";

afterAll(() => releaseTestDatabases());

interface Case {
  name: string;
  method: string;
  path: string;
  /** "alice" (default), "bob" (another owner), "none", or a literal header value. */
  key?: string;
  body?: unknown;
  /** A raw string body is sent as is. */
  raw?: string;
  contentType?: string;
  status: number;
  code?: string;
}

const long = (n: number, c = "a") => c.repeat(n);
const manyEntries = (n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));

/** `{id}` is alice's running sandbox. */
const v1Cases: Case[] = [
  {
    name: "no key",
    method: "GET",
    path: "/v1/sandboxes",
    key: "none",
    status: 401,
    code: "missing_api_key",
  },
  {
    name: "empty key",
    method: "GET",
    path: "/v1/sandboxes",
    key: "",
    status: 401,
    code: "missing_api_key",
  },
  {
    name: "wrong key",
    method: "GET",
    path: "/v1/sandboxes",
    key: `wrn_${long(32, "Z")}`,
    status: 401,
    code: "invalid_api_key",
  },
  {
    name: "oversized key",
    method: "GET",
    path: "/v1/sandboxes",
    key: long(300),
    status: 401,
    code: "invalid_api_key",
  },
  {
    name: "no key, bad body",
    method: "POST",
    path: "/v1/sandboxes",
    key: "none",
    raw: "{bad",
    status: 401,
  },
  {
    name: "malformed JSON",
    method: "POST",
    path: "/v1/sandboxes",
    raw: "{bad",
    status: 400,
    code: "invalid_json",
  },
  {
    name: "prototype poisoning",
    method: "POST",
    path: "/v1/sandboxes",
    raw: '{"__proto__":{"x":1}}',
    status: 400,
  },
  {
    name: "array body",
    method: "POST",
    path: "/v1/sandboxes",
    body: [],
    status: 400,
    code: "invalid_request",
  },
  { name: "string body", method: "POST", path: "/v1/sandboxes", body: "base", status: 400 },
  {
    name: "text/plain",
    method: "POST",
    path: "/v1/sandboxes",
    raw: "hello",
    contentType: "text/plain",
    status: 400,
  },
  {
    name: "xml",
    method: "POST",
    path: "/v1/sandboxes",
    raw: "<a/>",
    contentType: "application/xml",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "2 MiB body",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: { a: long(2 * 1024 * 1024) } },
    status: 413,
    code: "payload_too_large",
  },
  { name: "unknown field", method: "POST", path: "/v1/sandboxes", body: { foo: 1 }, status: 400 },
  {
    name: "template number",
    method: "POST",
    path: "/v1/sandboxes",
    body: { template: 5 },
    status: 400,
  },
  {
    name: "template path",
    method: "POST",
    path: "/v1/sandboxes",
    body: { template: "../etc" },
    status: 400,
  },
  {
    name: "template too long",
    method: "POST",
    path: "/v1/sandboxes",
    body: { template: long(200) },
    status: 400,
  },
  {
    name: "vcpus as string",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { vcpus: "2" } },
    status: 400,
  },
  {
    name: "vcpus zero",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { vcpus: 0 } },
    status: 400,
  },
  {
    name: "vcpus huge",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { vcpus: 1000 } },
    status: 400,
  },
  {
    name: "vcpus fraction",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { vcpus: 1.5 } },
    status: 400,
  },
  {
    name: "memory 1e12",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { memoryMb: 1e12 } },
    status: 400,
  },
  {
    name: "disk negative",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { diskMb: -1 } },
    status: 400,
  },
  {
    name: "unknown resource",
    method: "POST",
    path: "/v1/sandboxes",
    body: { resources: { gpus: 1 } },
    status: 400,
  },
  {
    name: "timeout negative",
    method: "POST",
    path: "/v1/sandboxes",
    body: { timeoutSeconds: -1 },
    status: 400,
  },
  {
    name: "timeout > 1 day",
    method: "POST",
    path: "/v1/sandboxes",
    body: { timeoutSeconds: 86_401 },
    status: 400,
  },
  {
    name: "timeout as string",
    method: "POST",
    path: "/v1/sandboxes",
    body: { timeoutSeconds: "30" },
    status: 400,
  },
  {
    name: "timeout 1e308",
    method: "POST",
    path: "/v1/sandboxes",
    body: { timeoutSeconds: 1e308 },
    status: 400,
  },
  {
    name: "metadata number",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: { a: 1 } },
    status: 400,
  },
  {
    name: "metadata array",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: ["a"] },
    status: 400,
  },
  {
    name: "metadata 65 entries",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: manyEntries(65) },
    status: 400,
  },
  {
    name: "metadata long value",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: { a: long(2000) } },
    status: 400,
  },
  {
    name: "metadata long key",
    method: "POST",
    path: "/v1/sandboxes",
    body: { metadata: { [long(200)]: "v" } },
    status: 400,
  },
  {
    name: "env name with =",
    method: "POST",
    path: "/v1/sandboxes",
    body: { envVars: { "A=B": "1" } },
    status: 400,
  },
  {
    name: "env value 40k",
    method: "POST",
    path: "/v1/sandboxes",
    body: { envVars: { A: long(40_000) } },
    status: 400,
  },
  {
    name: "env 300 entries",
    method: "POST",
    path: "/v1/sandboxes",
    body: { envVars: manyEntries(300) },
    status: 400,
  },
  {
    name: "autoPause string",
    method: "POST",
    path: "/v1/sandboxes",
    body: { autoPause: "yes" },
    status: 400,
  },
  {
    name: "egress deny by name",
    method: "POST",
    path: "/v1/sandboxes",
    body: { network: { denyOut: ["example.com"] } },
    status: 400,
  },
  {
    name: "egress malformed name",
    method: "POST",
    path: "/v1/sandboxes",
    body: { network: { allowOut: ["exa mple.com"] } },
    status: 400,
    code: "invalid_request",
  },
  {
    name: "egress bad prefix",
    method: "POST",
    path: "/v1/sandboxes",
    body: { network: { denyOut: ["10.0.0.0/33"] } },
    status: 400,
  },
  {
    name: "network update deny by name",
    method: "PUT",
    path: "/v1/sandboxes/{id}/network",
    body: { network: { denyOut: ["*.example.com"] } },
    status: 400,
    code: "egress_domains_unsupported",
  },
  {
    name: "network update IPv6",
    method: "PUT",
    path: "/v1/sandboxes/{id}/network",
    body: { allowInternet: true, network: { denyOut: ["::/0"] } },
    status: 400,
    code: "egress_ipv6_unsupported",
  },
  {
    name: "network update unknown field",
    method: "PUT",
    path: "/v1/sandboxes/{id}/network",
    body: { allowOut: ["1.1.1.1"] },
    status: 400,
  },
  {
    name: "network update allowInternet string",
    method: "PUT",
    path: "/v1/sandboxes/{id}/network",
    body: { allowInternet: "yes" },
    status: 400,
  },
  {
    name: "network update another owner's",
    method: "PUT",
    path: "/v1/sandboxes/{id}/network",
    key: "bob",
    body: {},
    status: 404,
  },
  { name: "limit 0", method: "GET", path: "/v1/sandboxes?limit=0", status: 400 },
  { name: "limit text", method: "GET", path: "/v1/sandboxes?limit=abc", status: 400 },
  { name: "limit huge", method: "GET", path: "/v1/sandboxes?limit=100000", status: 400 },
  { name: "order sideways", method: "GET", path: "/v1/sandboxes?order=sideways", status: 400 },
  { name: "unknown state", method: "GET", path: "/v1/sandboxes?state=bogus", status: 400 },
  {
    name: "garbage cursor",
    method: "GET",
    path: "/v1/sandboxes?cursor=garbage",
    status: 400,
    code: "invalid_cursor",
  },
  {
    name: "forged cursor",
    method: "GET",
    path: `/v1/sandboxes?cursor=${Buffer.from('[1,"x"]').toString("base64url")}`,
    status: 400,
    code: "invalid_cursor",
  },
  { name: "huge cursor", method: "GET", path: `/v1/sandboxes?cursor=${long(600)}`, status: 400 },
  {
    name: "metadata filter without =",
    method: "GET",
    path: "/v1/sandboxes?metadata=novalue",
    status: 400,
  },
  { name: "bad date", method: "GET", path: "/v1/sandboxes?startedAfter=yesterday", status: 400 },
  { name: "unknown query", method: "GET", path: "/v1/sandboxes?foo=1", status: 400 },
  {
    name: "unknown id",
    method: "GET",
    path: "/v1/sandboxes/sb-00000000",
    status: 404,
    code: "sandbox_not_found",
  },
  {
    name: "malformed id",
    method: "GET",
    path: "/v1/sandboxes/xyz",
    status: 404,
    code: "sandbox_not_found",
  },
  { name: "id too long", method: "GET", path: `/v1/sandboxes/${long(100)}`, status: 400 },
  {
    name: "another owner's get",
    method: "GET",
    path: "/v1/sandboxes/{id}",
    key: "bob",
    status: 404,
    code: "sandbox_not_found",
  },
  {
    name: "another owner's delete",
    method: "DELETE",
    path: "/v1/sandboxes/{id}",
    key: "bob",
    status: 404,
  },
  {
    name: "another owner's pause",
    method: "POST",
    path: "/v1/sandboxes/{id}/pause",
    key: "bob",
    status: 404,
  },
  {
    name: "another owner's timeout",
    method: "POST",
    path: "/v1/sandboxes/{id}/timeout",
    key: "bob",
    body: { timeoutSeconds: 1 },
    status: 404,
  },
  { name: "timeout without body", method: "POST", path: "/v1/sandboxes/{id}/timeout", status: 400 },
  {
    name: "timeout wrong type",
    method: "POST",
    path: "/v1/sandboxes/{id}/timeout",
    body: { timeoutSeconds: "x" },
    status: 400,
  },
  {
    name: "timeout unknown id",
    method: "POST",
    path: "/v1/sandboxes/sb-00000000/timeout",
    body: { timeoutSeconds: 5 },
    status: 404,
  },
  {
    name: "pause with junk body",
    method: "POST",
    path: "/v1/sandboxes/{id}/pause",
    body: { x: 1 },
    status: 400,
  },
  {
    name: "resume with junk body",
    method: "POST",
    path: "/v1/sandboxes/{id}/resume",
    body: { timeoutSeconds: -5 },
    status: 400,
  },
  {
    name: "resume a running one with bad timeout",
    method: "POST",
    path: "/v1/sandboxes/{id}/resume",
    body: { timeoutSeconds: 1e9 },
    status: 400,
  },
  {
    name: "key without name",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: {},
    status: 400,
  },
  {
    name: "key empty name",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "" },
    status: 400,
  },
  {
    name: "key role root",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "x", role: "root" },
    status: 400,
  },
  {
    name: "key negative pool",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "x", pools: { vcpus: -1 } },
    status: 400,
  },
  {
    name: "key huge rate",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "x", createRatePerMinute: 1e9 },
    status: 400,
  },
  {
    name: "key unknown owner",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "x", ownerId: "own-00000000" },
    status: 404,
    code: "owner_not_found",
  },
  {
    name: "key extra field",
    method: "POST",
    path: "/v1/api-keys",
    key: "admin",
    body: { name: "x", hash: "y" },
    status: 400,
  },
  {
    name: "key by a user",
    method: "POST",
    path: "/v1/api-keys",
    body: { name: "x" },
    status: 403,
    code: "forbidden",
  },
  {
    name: "revoke unknown",
    method: "DELETE",
    path: "/v1/api-keys/nonsense",
    key: "admin",
    status: 404,
  },
  { name: "unknown route", method: "GET", path: "/v1/nope", status: 404, code: "route_not_found" },
];

const e2bCases: Case[] = [
  { name: "E2B no key", method: "GET", path: "/v2/sandboxes", key: "none", status: 401 },
  {
    name: "E2B template number",
    method: "POST",
    path: "/v2/sandboxes",
    body: { templateID: 5 },
    status: 400,
  },
  {
    name: "E2B negative timeout",
    method: "POST",
    path: "/v2/sandboxes",
    body: { timeout: -1 },
    status: 400,
  },
  {
    name: "E2B metadata number",
    method: "POST",
    path: "/v2/sandboxes",
    body: { metadata: { a: 1 } },
    status: 400,
  },
  {
    name: "E2B mcp",
    method: "POST",
    path: "/v2/sandboxes",
    body: { mcp: { x: {} } },
    status: 501,
    code: "not_implemented",
  },
  {
    name: "E2B network rules",
    method: "POST",
    path: "/v2/sandboxes",
    body: { network: { rules: {} } },
    status: 501,
    code: "not_implemented",
  },
  {
    name: "E2B egress deny by name",
    method: "POST",
    path: "/v2/sandboxes",
    body: { network: { denyOut: ["example.com"] } },
    status: 400,
  },
  {
    name: "E2B network update with a malformed name",
    method: "PUT",
    path: "/sandboxes/{id}/network",
    body: { allowOut: ["*.exa_mple..com"] },
    status: 400,
  },
  {
    name: "E2B network update with header rules",
    method: "PUT",
    path: "/sandboxes/{id}/network",
    body: { rules: { "example.com": [{ transform: { headers: { A: "b" } } }] } },
    status: 501,
  },
  {
    name: "E2B network update with an egress proxy",
    method: "PUT",
    path: "/sandboxes/{id}/network",
    body: { egressProxy: { address: "proxy:1080" } },
    status: 501,
  },
  {
    name: "E2B network update, not an array",
    method: "PUT",
    path: "/sandboxes/{id}/network",
    body: { denyOut: "0.0.0.0/0" },
    status: 400,
  },
  {
    name: "E2B volumes",
    method: "POST",
    path: "/v2/sandboxes",
    body: { volumeMounts: [{ name: "v", path: "/v" }] },
    status: 501,
  },
  { name: "E2B malformed JSON", method: "POST", path: "/v2/sandboxes", raw: "{", status: 400 },
  { name: "E2B unknown state", method: "GET", path: "/v2/sandboxes?state=dead", status: 400 },
  { name: "E2B limit 0", method: "GET", path: "/v2/sandboxes?limit=0", status: 400 },
  { name: "E2B bad token", method: "GET", path: "/v2/sandboxes?nextToken=garbage", status: 400 },
  {
    name: "E2B bad metadata encoding",
    method: "GET",
    path: "/v2/sandboxes?metadata=%25ZZ",
    status: 400,
  },
  {
    name: "E2B timeout unknown id",
    method: "POST",
    path: "/sandboxes/sb-00000000/timeout",
    body: { timeout: 5 },
    status: 404,
  },
  {
    name: "E2B timeout wrong type",
    method: "POST",
    path: "/sandboxes/{id}/timeout",
    body: { timeout: "5" },
    status: 400,
  },
  {
    name: "E2B pause bad memory",
    method: "POST",
    path: "/sandboxes/{id}/pause",
    body: { memory: "no" },
    status: 400,
  },
  {
    name: "E2B connect bad timeout",
    method: "POST",
    path: "/v2/sandboxes/{id}/connect",
    body: { timeout: -3 },
    status: 400,
  },
  {
    name: "E2B another owner's kill",
    method: "DELETE",
    path: "/sandboxes/{id}",
    key: "bob",
    status: 404,
  },
  {
    name: "E2B another owner's connect",
    method: "POST",
    path: "/v2/sandboxes/{id}/connect",
    key: "bob",
    body: {},
    status: 404,
  },
  {
    name: "E2B another owner's metrics",
    method: "GET",
    path: "/sandboxes/{id}/metrics",
    key: "bob",
    status: 404,
  },
  {
    name: "E2B fork of more sandboxes than allowed",
    method: "POST",
    path: "/sandboxes/{id}/fork",
    body: { count: 101 },
    status: 400,
  },
  {
    name: "E2B fork with a count that is not a number",
    method: "POST",
    path: "/sandboxes/{id}/fork",
    body: { count: "3" },
    status: 400,
  },
  {
    name: "E2B unknown sub-route (not implemented)",
    method: "GET",
    path: "/sandboxes/{id}/nothing-here",
    status: 501,
  },
  {
    name: "E2B snapshots of an unknown sandbox",
    method: "POST",
    path: "/sandboxes/sb-00000000/snapshots",
    body: {},
    status: 404,
  },
  {
    name: "E2B another owner's fork",
    method: "POST",
    path: "/sandboxes/{id}/fork",
    key: "bob",
    body: {},
    status: 404,
  },
  { name: "E2B volumes list", method: "GET", path: "/volumes", status: 501 },
  {
    name: "E2B template build without a name",
    method: "POST",
    path: "/v3/templates",
    body: {},
    status: 400,
  },
  {
    name: "E2B template build of an unknown template id",
    method: "POST",
    path: "/v2/templates/tpl-00000000/builds/b",
    body: { fromImage: "alpine:3", steps: [] },
    status: 404,
  },
  { name: "E2B template tags", method: "POST", path: "/templates/tags", body: {}, status: 501 },
  { name: "E2B secrets no key", method: "GET", path: "/secrets", key: "none", status: 401 },
  {
    name: "E2B v1 create mcp",
    method: "POST",
    path: "/sandboxes",
    body: { templateID: "base", mcp: { x: {} } },
    status: 501,
  },
  {
    name: "E2B resume a running sandbox",
    method: "POST",
    path: "/sandboxes/{id}/resume",
    body: { timeout: 30 },
    status: 409,
  },
  {
    name: "E2B refresh too long",
    method: "POST",
    path: "/sandboxes/{id}/refreshes",
    body: { duration: 3601 },
    status: 400,
  },
];

/** Text no database or process can hold (see service/text-rules.ts), wherever it enters. */
const badTextCases: Case[] = [
  ...(
    [
      ["NUL in a metadata value", '{"metadata":{"a":"x\\u0000y"}}'],
      ["NUL in a metadata key", '{"metadata":{"a\\u0000":"x"}}'],
      ["lone surrogate in a metadata value", '{"metadata":{"a":"x\\ud800"}}'],
      ["lone surrogate in a metadata key", '{"metadata":{"\\udc00":"x"}}'],
      ["NUL in an env var value", '{"envVars":{"A":"x\\u0000y"}}'],
      ["lone surrogate in an env var value", '{"envVars":{"A":"\\ud83d"}}'],
    ] as const
  ).flatMap(([what, body]): Case[] => [
    { name: `${what} (create)`, method: "POST", path: "/v1/sandboxes", raw: body, status: 400 },
    { name: `E2B ${what} (create)`, method: "POST", path: "/v2/sandboxes", raw: body, status: 400 },
  ]),
  {
    name: "NUL in a list filter",
    method: "GET",
    path: "/v1/sandboxes?metadata=a%3Dx%00y",
    status: 400,
  },
  {
    name: "NUL in a list filter key",
    method: "GET",
    path: "/v1/sandboxes?metadata=a%00%3Dx",
    status: 400,
  },
  {
    name: "E2B NUL in a list filter",
    method: "GET",
    path: `/v2/sandboxes?metadata=${encodeURIComponent("a=x%00y")}`,
    status: 400,
  },
  {
    name: "NUL in an exec env var",
    method: "POST",
    path: "/v1/sandboxes/{id}/exec",
    raw: '{"command":"true","env":{"A":"x\\u0000"}}',
    status: 400,
  },
  {
    name: "lone surrogate in an exec env var",
    method: "POST",
    path: "/v1/sandboxes/{id}/exec",
    raw: '{"command":"true","env":{"A":"\\ud800"}}',
    status: 400,
  },
  {
    name: "UTF-16 JSON",
    method: "POST",
    path: "/v1/sandboxes",
    raw: "{}",
    contentType: "application/json; charset=utf-16",
    status: 415,
    code: "unsupported_media_type",
  },
  {
    name: "E2B UTF-16 JSON",
    method: "POST",
    path: "/v2/sandboxes",
    raw: "{}",
    contentType: "application/json; charset=UTF-16LE",
    status: 415,
    code: "unsupported_media_type",
  },
];

describe.each(DATABASE_KINDS)("bad input on %s", (kind) => {
  let stack: TestStack;
  let alice: UserKey;
  let bob: UserKey;
  let sandboxId: string;
  let before: string;
  let hostCalls: number;

  beforeAll(async () => {
    stack = await startTestStack(await freshDatabase(kind));
    alice = await createKey(stack, { name: "alice" });
    bob = await createKey(stack, { name: "bob" });
    // Longer than the whole file can take on a loaded machine: its default 300 s ran out
    // once mid-file, and the expiry (a legitimate change) failed "nothing stored changed".
    sandboxId = (await createSandbox(stack, alice.key, { timeoutSeconds: 3600 })).id;
    before = await snapshot(stack.cp.db);
    hostCalls = stack.agent.calls.filter(
      (c) => c.method !== "heartbeat" && c.method !== "hostStatus" && c.method !== "listTemplates",
    ).length;
  });
  afterAll(() => stack?.close());

  test.each([...v1Cases, ...e2bCases, ...badTextCases])("$name → $status", async (c) => {
    const keys: Record<string, string | null> = {
      alice: alice.key,
      bob: bob.key,
      admin: undefined as unknown as string,
      none: null,
    };
    const key = c.key === undefined ? alice.key : c.key in keys ? keys[c.key] : c.key;
    const path = c.path.replace("{id}", sandboxId);
    const response = await stack.call(c.method, path, {
      key: key === undefined ? undefined : key,
      body: c.raw ?? c.body,
      headers: c.contentType
        ? { "content-type": c.contentType }
        : c.raw !== undefined
          ? { "content-type": "application/json" }
          : {},
    });
    expect(response.status, response.text.slice(0, 300)).toBe(c.status);
    const e2b = c.name.startsWith("E2B");
    if (e2b) {
      expect(response.body).toMatchObject({ code: c.status, message: expect.any(String) });
      if (c.code) expect((response.body as { error_code: string }).error_code).toBe(c.code);
    } else {
      expect(response.body).toMatchObject({
        error: { code: expect.any(String), message: expect.any(String) },
      });
      if (c.code) expect((response.body as { error: { code: string } }).error.code).toBe(c.code);
    }
  });

  test("nothing stored changed and the host was asked nothing", async () => {
    expect(await snapshot(stack.cp.db)).toBe(before);
    const calls = stack.agent.calls.filter(
      (c) => c.method !== "heartbeat" && c.method !== "hostStatus" && c.method !== "listTemplates",
    );
    expect(calls.length, JSON.stringify(calls.slice(hostCalls))).toBe(hostCalls);
    expect(stack.agent.sandboxes.size).toBe(1);
  });
});
