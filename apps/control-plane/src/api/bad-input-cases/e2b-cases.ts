import { LIMITS } from "@wrenn/contract";
import type { Case } from "./case.js";

const headerRule = (headers: Record<string, string>) => [{ transform: { headers } }];

/** Malformed network.rules, each refused with 400 wherever rules are accepted. */
function ruleCases(method: string, path: string, wrap: (rules: unknown) => unknown): Case[] {
  const bad: Array<[string, unknown]> = [
    ["not an object", [{ "a.test": [] }]],
    ["an address as domain", { "10.0.0.1": headerRule({ A: "b" }) }],
    ["a malformed domain", { "exa mple..com": headerRule({ A: "b" }) }],
    ["an empty rule list", { "a.test": [] }],
    ["a rule without transform", { "a.test": [{ headers: { A: "b" } }] }],
    ["a header name with a space", { "a.test": headerRule({ "Bad Name": "b" }) }],
    ["a header value with CR LF", { "a.test": headerRule({ A: "b\r\nX-Injected: 1" }) }],
    ["a framing header", { "a.test": headerRule({ "Content-Length": "0" }) }],
    ["a malformed placeholder", { "a.test": headerRule({ A: `\${e2b.secret.KEY}` }) }],
    [
      "too many domains",
      Object.fromEntries(
        Array.from({ length: LIMITS.egressRuleDomains + 1 }, (_, i) => [
          `d${i}.test`,
          headerRule({ A: "b" }),
        ]),
      ),
    ],
    [
      "a value too long",
      { "a.test": headerRule({ A: "v".repeat(LIMITS.egressRuleHeaderValueLength + 1) }) },
    ],
  ];
  return bad.map(([what, rules]) => ({
    name: `E2B network rules (${method}) with ${what}`,
    method,
    path,
    body: wrap(rules),
    status: 400,
  }));
}

/** E2B's routes (its error shape). `{id}` is alice's running sandbox. */
export const e2bCases: Case[] = [
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
  ...ruleCases("POST", "/v2/sandboxes", (rules) => ({ network: { rules } })),
  ...ruleCases("PUT", "/sandboxes/{id}/network", (rules) => ({ rules })),
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
export const badTextCases: Case[] = [
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
