// The prose of the OpenAPI document: what the schemas cannot say (the proxy, the WebSockets).
export const API_DESCRIPTION = `Wrenn runs isolated sandboxes on your own machines: create one, run commands in it, move files in and out, pause it and throw it away. This page is the REST API of this Wrenn server; the official \`e2b\` SDK works against it unchanged.

## Quick start

Every /v1 request carries an API key in \`X-API-Key\` (\`npm start\` prints the admin key; \`wrenn keys create\` makes more). In this page: **Authorize**, paste the key, then "Try it out" on POST /v1/sandboxes: its example works as written.

\`\`\`sh
export WRENN_API_URL=http://127.0.0.1:3000 WRENN_API_KEY=wrn_...
curl -s -X POST $WRENN_API_URL/v1/sandboxes -H "X-API-Key: $WRENN_API_KEY" \\
  -H 'content-type: application/json' -d '{"name":"demo","timeoutSeconds":600}'
curl -s -X POST $WRENN_API_URL/v1/sandboxes/demo/exec -H "X-API-Key: $WRENN_API_KEY" \\
  -H 'content-type: application/json' -d '{"command":"echo hello from $(hostname)"}'
curl -s -X DELETE $WRENN_API_URL/v1/sandboxes/demo -H "X-API-Key: $WRENN_API_KEY"
\`\`\`

The same with the CLI: \`wrenn sandbox create --name demo\`, \`wrenn sandbox exec demo -- echo hi\`, \`wrenn logs demo\`, \`wrenn sandbox kill demo\`.

A sandbox's **name** (optional, unique among your live sandboxes) works wherever its id does. **timeoutSeconds** is its lifetime: at the end it is destroyed (or paused, with autoPause); 0 means the longest this server allows (24 h), never "end now". For exec, a timeout of 0 means no limit. An ended sandbox stays readable with its \`stopReason\` (\`destroyed\` or \`expired\`); a create that failed is kept for its audit trail but leaves default lists after WRENN_FAILED_CREATE_VISIBLE_SECONDS (600).

## The API

Wrenn's own API lives under /v1. The paths tagged e2b are the subset of E2B's REST API that its SDK uses, with E2B's shapes and error bodies.

## Sandbox traffic (the proxy)

These requests never reach the routes below; they go to the host agent holding the sandbox, streamed both ways (HTTP/1.1 and WebSocket):

- \`E2b-Sandbox-Id: <id>\` (and \`E2b-Sandbox-Port\`, default 49983) on any request: E2B's envd plane, as the E2B SDK sends it with \`E2B_SANDBOX_URL\` set to this server. No API key: envd checks its own access token. An unknown, paused or stopped sandbox answers 502 \`{"message":"The sandbox was not found","sandboxId":"<id>","code":502}\`.
- Host \`<port>-<sandboxId>.<WRENN_DOMAIN>\`: the same, by host name (needs wildcard DNS).
- \`/v1/sandboxes/{id}/ports/{port}/<path>\`: any port of your sandbox, with your API key (owner checked); the prefix is removed, \`X-API-Key\` is not passed on.
- \`GET|POST /files?...&signature=...\` without a sandbox header: E2B's signed download/upload URLs, routed to the running sandbox whose token signed them.

## WebSockets

\`GET /v1/sandboxes/{id}/exec/stream\` (X-API-Key). Text frames are JSON. Send first \`{"type":"start", cmd|command, args?, env?, cwd?, user?, timeoutSeconds? (0: none), stdin? (default true)}\`. Then \`{"type":"stdin","data":"text"}\` or \`{"type":"stdin","dataBase64":"..."}\` or a binary frame (raw stdin bytes), \`{"type":"eof"}\` and \`{"type":"signal","signal":"SIGTERM"|"SIGKILL"}\`. The server sends \`{"type":"started","pid":N}\`, then binary frames whose first byte is the stream (1 stdout, 2 stderr) followed by the bytes, then \`{"type":"exit","exitCode":N,"status":"exit status N","error"?,"timedOut":bool}\` and closes with 1000. Closing the socket kills the process.

\`GET /v1/sandboxes/{id}/terminal?cols=80&rows=24&cwd=&user=\` (X-API-Key): an interactive login shell on a pty (TERM=xterm-256color). Binary frames carry keystrokes in and terminal output out (feed them to xterm.js as they are). Text frames: \`{"type":"input","data":"text"}\`, \`{"type":"resize","cols":N,"rows":N}\`, \`{"type":"signal","signal":...}\` in; \`{"type":"started","pid":N}\` and \`{"type":"exit",...}\` out. Closing the socket ends the shell.

On both, \`{"type":"error","code","message"}\` reports a failure; a fatal one closes the socket with 4000 + an HTTP status (4400 bad message, 4404 no such sandbox, 4408 no start message within 30 s, 4409 not running, 4502 host unreachable). Refusals before the upgrade (401, 404, 409, 400 for a bad query) are plain HTTP answers. Messages are at most 1 MiB; the server pings every 30 s.`;
