// What the generated OpenAPI document needs beyond the route schemas: names for the success
// responses, the raw upload body of PUT /files, the WebSocket endpoints (the generator leaves
// upgrade routes out) and the tags in reading order. Applied once, as the document is made.

import { secretPlaceholder } from "@wrenn/contract";

type Json = Record<string, unknown>;
type Operation = Json & { summary?: string; responses?: Record<string, Json> };

/** Names of success responses, by "METHOD path status"; anything else gets one from its status. */
const RESPONSE_NAMES: Record<string, string> = {
  "POST /v1/sandboxes 201": "The new sandbox, running, with its envd access token",
  "GET /v1/sandboxes 200": "A page of your sandboxes and the cursor of the next one",
  "GET /v1/sandboxes/{id} 200": "The sandbox, in any state (ended ones stay readable)",
  "DELETE /v1/sandboxes/{id} 204": "Destroyed (or it already was)",
  "POST /v1/sandboxes/{id}/pause 200": "The sandbox, paused",
  "POST /v1/sandboxes/{id}/resume 200": "The sandbox, running",
  "POST /v1/sandboxes/{id}/timeout 200": "The sandbox with its new end time",
  "GET /v1/sandboxes/{id}/stats 200": "Its CPU, memory and disk use now",
  "GET /v1/sandboxes/{id}/events 200": "A page of its audit events, newest first",
  "POST /v1/sandboxes/{id}/exec 200": "The command's exit code and output",
  "PUT /v1/sandboxes/{id}/files 200": "What was written",
  "DELETE /v1/sandboxes/{id}/files 204": "Removed",
  "GET /v1/sandboxes/{id}/files/list 200": "The directory's entries",
  "GET /v1/sandboxes/{id}/files/stat 200": "The file or directory",
  "POST /v1/sandboxes/{id}/files/mkdir 201": "The new directory",
  "POST /v1/sandboxes/{id}/files/move 200": "The entry at its new path",
  "POST /v1/api-keys 201": "The new key (shown only here) and its record",
  "GET /v1/api-keys 200": "Every API key",
  "GET /v1/api-keys/current 200": "The calling key, its pools and their use",
  "DELETE /v1/api-keys/{id} 204": "Revoked (or it already was)",
  "GET /v1/hosts 200": "The hosts and their capacity",
  "GET /healthz 200": "The control plane and its database answer",
};

const STATUS_NAMES: Record<string, string> = {
  "200": "OK",
  "201": "Created",
  "204": "Done; no body",
  "101": "Switching to the WebSocket protocol",
};

const TAGS = [
  { name: "sandboxes", description: "Create, find, pause, resume and destroy sandboxes" },
  {
    name: "snapshots",
    description: "Save a running sandbox (memory, processes, files), fork it, restore it",
  },
  { name: "exec", description: "Run commands: one-shot, streamed over a WebSocket, or a terminal" },
  { name: "files", description: "Read and write files in a running sandbox" },
  { name: "api keys", description: "The calling key and its pools" },
  {
    name: "secrets",
    description: `Write-only values that network rules name as ${secretPlaceholder("NAME")}, filled in at egress`,
  },
  {
    name: "admin",
    description:
      "Admin keys only: API keys of every owner, and the hosts. Not part of the user API",
  },
  { name: "e2b", description: "The subset of E2B's REST API its SDK uses, in E2B's shapes" },
  { name: "service", description: "Health" },
];

const idParam = {
  name: "id",
  in: "path",
  required: true,
  description: "The sandbox's id or name",
  schema: { type: "string" },
};

function webSocket(summary: string, description: string, query: Json[] = []): Operation {
  return {
    tags: ["exec"],
    summary,
    description,
    security: [{ apiKey: [] }],
    parameters: [idParam, ...query],
    responses: {
      "101": { description: STATUS_NAMES["101"] },
      "401": { description: "No or a wrong API key (before the upgrade)" },
      "404": { description: "No such sandbox of yours (before the upgrade)" },
      "409": { description: "The sandbox is not running (before the upgrade)" },
    },
  };
}

const queryParam = (name: string, description: string, type = "string"): Json => ({
  name,
  in: "query",
  required: false,
  description,
  schema: { type },
});

const WEBSOCKETS: Record<string, Operation> = {
  "/v1/sandboxes/{id}/exec/stream": webSocket(
    "WebSocket: run a command and stream its stdin, stdout and stderr",
    'Upgrade with `Connection: Upgrade`, `Upgrade: websocket` and `X-API-Key`. Send `{"type":"start","command":"..."}` first; stdout and stderr arrive as binary frames (first byte 1 or 2, then the bytes), then `{"type":"exit","exitCode":N}`. Closing the socket kills the process. The whole protocol: WebSockets, at the top of this page.',
  ),
  "/v1/sandboxes/{id}/terminal": webSocket(
    "WebSocket: an interactive login shell on a pty",
    'Upgrade with `X-API-Key`. Binary frames carry keystrokes in and terminal output out (feed them to xterm.js as they are); text frames are JSON: `{"type":"resize","cols":N,"rows":N}` and `input`/`signal` in, `started` and `exit` out. Closing the socket ends the shell. The whole protocol: WebSockets, at the top of this page.',
    [
      queryParam("cols", "Columns, default 80", "integer"),
      queryParam("rows", "Rows, default 24", "integer"),
      queryParam("cwd", "Working directory of the shell"),
      queryParam("user", "Linux user of the shell"),
    ],
  ),
};

export function finishDocument<T>(document: T): T {
  const doc = document as Json & { paths?: Record<string, Record<string, Operation>> };
  const paths = doc.paths ?? {};
  for (const [path, operation] of Object.entries(WEBSOCKETS)) {
    paths[path] = { ...paths[path], get: operation };
  }
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const route = `${method.toUpperCase()} ${path}`;
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (!status.startsWith("2") || response.description !== "Default Response") continue;
        response.description =
          RESPONSE_NAMES[`${route} ${status}`] ??
          `${STATUS_NAMES[status] ?? status}: ${operation.summary ?? route}`;
      }
    }
  }
  const upload = paths["/v1/sandboxes/{id}/files"]?.put;
  if (upload) {
    upload.requestBody = {
      required: true,
      description:
        "The file's bytes, as they are (any Content-Type; streamed, so any size the sandbox's disk holds). The path and user are query parameters.",
      content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } },
    };
  }
  doc.tags = TAGS;
  return document;
}
