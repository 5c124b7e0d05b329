import { snapshot } from "@wrenn/control-plane/testing";
import { expect, test } from "vitest";
import type { V1Suite } from "./v1-suite.js";
import { TestSocket } from "./ws-client.js";

export function v1BadInputCases(c: V1Suite): void {
  test("bad input gets the right 4xx, and nothing stored changes", async () => {
    const { stack, alice, id, exec, wsUrl } = c;
    const listing = async () =>
      (
        (await exec({ command: "find /home/user /tmp -newer /etc/hostname | sort" })).body as {
          stdout: string;
        }
      ).stdout;
    const filesBefore = await listing();
    const before = await snapshot(stack.cp.db);
    const base = `/v1/sandboxes/${id}`;
    const cases: [string, string, unknown, number, string][] = [
      ["POST", `${base}/exec`, {}, 400, "invalid_request"],
      ["POST", `${base}/exec`, { cmd: "ls", command: "ls" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", args: ["-l"] }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { cmd: "ls", args: "-l" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", timeoutSeconds: -1 }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", timeoutSeconds: 86_401 }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", timeoutSeconds: 1.5 }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", user: "Root!" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", env: { "A=B": "c" } }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", env: { A: 1 } }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", cwd: "" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", cwd: "/tmp\u0000x" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, { command: "ls", surprise: true }, 400, "invalid_request"],
      [
        "POST",
        `${base}/exec`,
        { command: "cat", stdin: "a", stdinBase64: "YQ==" },
        400,
        "invalid_request",
      ],
      [
        "POST",
        `${base}/exec`,
        { command: "cat", stdinBase64: "not base64!" },
        400,
        "invalid_request",
      ],
      ["POST", `${base}/exec`, { command: "ls", encoding: "hex" }, 400, "invalid_request"],
      ["POST", `${base}/exec`, "{not json", 400, "invalid_json"],
      [
        "POST",
        `${base}/exec`,
        { command: "cat", stdin: "x".repeat(13 * 1024 * 1024) },
        413,
        "payload_too_large",
      ],
      ["POST", "/v1/sandboxes/sb-00000000/exec", { command: "ls" }, 404, "sandbox_not_found"],
      ["POST", "/v1/sandboxes/not-an-id/exec", { command: "ls" }, 404, "sandbox_not_found"],
      ["PUT", `${base}/files`, "x", 400, "invalid_request"],
      ["PUT", `${base}/files?path=`, "x", 400, "invalid_request"],
      ["PUT", `${base}/files?path=${"a".repeat(4097)}`, "x", 400, "invalid_request"],
      ["PUT", `${base}/files?path=/tmp/a%00b`, "x", 400, "invalid_request"],
      ["PUT", `${base}/files?path=/tmp/x&user=BAD`, "x", 400, "invalid_request"],
      ["PUT", `${base}/files?path=/tmp/x&extra=1`, "x", 400, "invalid_request"],
      ["GET", `${base}/files`, undefined, 400, "invalid_request"],
      ["GET", `${base}/files/list?path=/tmp&depth=0`, undefined, 400, "invalid_request"],
      ["GET", `${base}/files/list?path=/tmp&depth=17`, undefined, 400, "invalid_request"],
      ["GET", `${base}/files/list?path=/tmp&depth=x`, undefined, 400, "invalid_request"],
      ["GET", `${base}/files/stat`, undefined, 400, "invalid_request"],
      ["POST", `${base}/files/mkdir`, {}, 400, "invalid_request"],
      ["POST", `${base}/files/move`, { from: "a" }, 400, "invalid_request"],
      ["DELETE", `${base}/files`, undefined, 400, "invalid_request"],
      ["GET", `${base}/ports/0/`, undefined, 400, "invalid_request"],
      ["GET", `${base}/ports/70000/`, undefined, 400, "invalid_request"],
      ["GET", `${base}/ports/http/`, undefined, 400, "invalid_request"],
    ];
    // Refused by envd itself: well-formed requests for something impossible. These reach the
    // sandbox, so each leaves an audit event (outcome error) and nothing else.
    const refusedByEnvd: typeof cases = [
      ["PUT", `${base}/files?path=/tmp`, "x", 400, "invalid_request"],
      ["GET", `${base}/files?path=/tmp`, undefined, 400, "invalid_request"],
      ["GET", `${base}/files?path=/nope/nothing`, undefined, 404, "file_not_found"],
      ["GET", `${base}/files/list?path=/nope`, undefined, 404, "not_found"],
      ["POST", `${base}/files/mkdir`, { path: "/proc/nope" }, 403, "permission_denied"],
      ["POST", `${base}/files/move`, { from: "/nope/a", to: "/tmp/b" }, 404, "not_found"],
    ];
    const wrong: string[] = [];
    const run = async (table: typeof cases) => {
      for (const [method, path, body, status, code] of table) {
        const r = await stack.call(method, path, { key: alice.key, body });
        const got = (r.body as { error?: { code?: string } } | undefined)?.error?.code;
        if (r.status !== status || got !== code)
          wrong.push(
            `${method} ${path.slice(0, 80)}: ${r.status} ${got} (${r.text.slice(0, 160)})`,
          );
      }
    };
    await run(cases);
    expect(wrong).toEqual([]);
    const unauthenticated = await stack.call("POST", `${base}/exec`, {
      key: null,
      body: { command: "ls" },
    });
    expect(unauthenticated.status).toBe(401);
    for (const query of ["cols=0", "rows=5000", "cols=abc", "shell=zsh", "user=Root!"]) {
      await expect(
        TestSocket.open(wsUrl(`${base}/terminal?${query}`), alice.key),
      ).rejects.toMatchObject({ status: 400 });
    }
    for (const first of [
      "not json",
      JSON.stringify({ type: "stdin", data: "x" }),
      JSON.stringify({ type: "start", cmd: "ls", command: "ls" }),
      JSON.stringify({ type: "start", command: "ls", nope: 1 }),
    ]) {
      const socket = await TestSocket.open(wsUrl(`${base}/exec/stream`), alice.key);
      socket.ws.send(first);
      expect((await socket.closed).code).toBe(4400);
      expect(socket.received.json.at(-1)).toMatchObject({ type: "error" });
    }
    // No audit events either: refused requests never reached a sandbox.
    expect(await snapshot(stack.cp.db)).toBe(before);

    const lastEvent = async () =>
      Number(
        (await stack.cp.db.query<{ id: string }>("SELECT max(id) AS id FROM audit_events")).rows[0]!
          .id,
      );
    const mark = await lastEvent();
    await run(refusedByEnvd);
    expect(wrong).toEqual([]);
    const events = await stack.cp.db.query<{ outcome: string }>(
      "SELECT outcome FROM audit_events WHERE id > $1 ORDER BY id",
      [mark],
    );
    expect(events.rows.map((e) => e.outcome)).toEqual(refusedByEnvd.map(() => "error"));
    const withoutAudit = (text: string) => text.replace(/\naudit_events: .*$/s, "");
    expect(withoutAudit(await snapshot(stack.cp.db))).toBe(withoutAudit(before));
    const socket = await TestSocket.open(wsUrl(`${base}/exec/stream`), alice.key);
    socket.send({ type: "start", command: "cat" });
    await socket.until((r) => r.json.some((m) => m.type === "started"), "started");
    socket.send({ type: "stdin", data: "a", dataBase64: "YQ==" });
    expect((await socket.closed).code).toBe(4400);

    expect(await listing()).toBe(filesBefore);
  });
}
