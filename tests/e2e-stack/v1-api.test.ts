import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { snapshot } from "@wrenn/control-plane/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "./stack.js";
import { TestSocket } from "./ws-client.js";

// Wrenn's own /v1 exec, files and terminal through the real stack (control plane → host agent
// forwarder → envd in a gVisor sandbox), on a real PostgreSQL.
describe("/v1 exec, files and terminal (PostgreSQL, real agent and envd)", () => {
  let stack: Stack;
  let alice: UserKey;
  let bob: UserKey;
  let id: string;

  beforeAll(async () => {
    stack = await Stack.start({ database: "postgres", poolSize: 1 });
    alice = await stack.key({ name: "alice" });
    bob = await stack.key({ name: "bob" });
    const created = await stack.call("POST", "/v1/sandboxes", { key: alice.key, body: {} });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    id = (created.body as { id: string }).id;
  });
  afterAll(() => stack?.close());

  const exec = (body: unknown, key = alice.key, sandbox = id) =>
    stack.call("POST", `/v1/sandboxes/${sandbox}/exec`, { key, body });
  const wsUrl = (path: string) => `${stack.url.replace("http", "ws")}${path}`;

  test("one-shot exec: shell line, program and args, env, cwd, user, stdin, exit codes", async () => {
    const shell = await exec({
      command: 'echo "$GREETING from $(whoami) in $(pwd)"',
      env: { GREETING: "hi" },
    });
    expect(shell.status).toBe(200);
    expect(shell.body).toMatchObject({
      exitCode: 0,
      status: "exit status 0",
      stdout: "hi from user in /home/user\n",
      stderr: "",
      encoding: "utf8",
      timedOut: false,
      truncated: false,
    });

    const program = await exec({
      cmd: "python3",
      args: ["-c", "import sys; print(sys.argv[1:])", "a b", "c"],
      cwd: "/tmp",
      user: "root",
    });
    expect(program.body).toMatchObject({ exitCode: 0, stdout: "['a b', 'c']\n" });
    const root = await exec({ cmd: "pwd", user: "root", cwd: "/tmp" });
    expect(root.body).toMatchObject({ stdout: "/tmp\n" });

    const failing = await exec({ command: "echo out; echo err >&2; exit 3" });
    expect(failing.body).toMatchObject({
      exitCode: 3,
      status: "exit status 3",
      error: "exit status 3",
      stdout: "out\n",
      stderr: "err\n",
    });

    const stdin = await exec({ command: "tr a-z A-Z", stdin: "hello stdin\n" });
    expect(stdin.body).toMatchObject({ exitCode: 0, stdout: "HELLO STDIN\n" });
    // ls and stat work in the base template (gVisor's statx quirk is handled there).
    const ls = await exec({ command: "ls /etc/hostname && stat -c %s /etc/passwd" });
    expect(ls.body).toMatchObject({ exitCode: 0 });
  });

  test("one-shot exec: binary stdin and output in base64; a timeout kills the process", async () => {
    const bytes = randomBytes(100_000);
    const binary = await exec({
      cmd: "cat",
      stdinBase64: bytes.toString("base64"),
      encoding: "base64",
    });
    const body = binary.body as { stdout: string; stdoutBytes: number; encoding: string };
    expect(body.encoding).toBe("base64");
    expect(Buffer.from(body.stdout, "base64").equals(bytes)).toBe(true);
    expect(body.stdoutBytes).toBe(bytes.length);

    const slow = await exec({ command: "echo started; sleep 30; echo never", timeoutSeconds: 1 });
    expect(slow.status).toBe(200);
    expect(slow.body).toMatchObject({
      timedOut: true,
      exitCode: -1,
      status: "signal: killed",
      stdout: "started\n",
    });
  });

  test("exec over WebSocket: output streams by channel, stdin and EOF, signals", async () => {
    const socket = await TestSocket.open(wsUrl(`/v1/sandboxes/${id}/exec/stream`), alice.key);
    socket.send({ type: "start", command: "cat; echo done >&2" });
    await socket.until((r) => r.json.some((m) => m.type === "started"), "started");
    socket.send({ type: "stdin", data: "hello\n" });
    await socket.until(() => socket.text(1) === "hello\n", "the first echo");
    socket.sendBytes(Buffer.from("world\n"));
    socket.send({ type: "stdin", dataBase64: Buffer.from("!\n").toString("base64") });
    socket.send({ type: "eof" });
    const closed = await socket.closed;
    expect(closed.code).toBe(1000);
    expect(socket.text(1)).toBe("hello\nworld\n!\n");
    expect(socket.text(2)).toBe("done\n");
    expect(socket.received.json.at(-1)).toEqual({
      type: "exit",
      exitCode: 0,
      status: "exit status 0",
      timedOut: false,
    });
    expect(socket.received.json[0]).toMatchObject({ type: "started", pid: expect.any(Number) });

    const sleeper = await TestSocket.open(wsUrl(`/v1/sandboxes/${id}/exec/stream`), alice.key);
    sleeper.send({ type: "start", cmd: "sleep", args: ["60"], stdin: false });
    await sleeper.until((r) => r.json.some((m) => m.type === "started"), "started");
    sleeper.send({ type: "signal", signal: "SIGTERM" });
    expect((await sleeper.closed).code).toBe(1000);
    expect(sleeper.received.json.at(-1)).toMatchObject({
      type: "exit",
      exitCode: -1,
      status: "signal: terminated",
    });

    // A process whose client hangs up is killed, not left behind.
    const orphan = await TestSocket.open(wsUrl(`/v1/sandboxes/${id}/exec/stream`), alice.key);
    orphan.send({ type: "start", command: "echo $$ > /tmp/orphan.pid; exec sleep 300" });
    await orphan.until((r) => r.json.some((m) => m.type === "started"), "started");
    orphan.ws.close();
    await orphan.closed;
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      const check = await exec({
        command: "kill -0 $(cat /tmp/orphan.pid) 2>/dev/null && echo alive || echo gone",
      });
      alive = (check.body as { stdout: string }).stdout === "alive\n";
      if (alive) await new Promise((r) => setTimeout(r, 100));
    }
    expect(alive).toBe(false);
  });

  test("files: upload, download, list, stat, mkdir, move, remove", async () => {
    const put = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=docs/hello.txt`, {
      method: "PUT",
      headers: { "x-api-key": alice.key, "content-type": "text/plain" },
      body: "hello, file\n",
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({
      path: "/home/user/docs/hello.txt",
      name: "hello.txt",
      bytes: 12,
    });

    const get = await fetch(
      `${stack.url}/v1/sandboxes/${id}/files?path=/home/user/docs/hello.txt`,
      {
        headers: { "x-api-key": alice.key },
      },
    );
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe("12");
    expect(await get.text()).toBe("hello, file\n");

    const mkdir = await stack.call("POST", `/v1/sandboxes/${id}/files/mkdir`, {
      key: alice.key,
      body: { path: "docs/sub" },
    });
    expect(mkdir.status).toBe(201);
    expect(mkdir.body).toMatchObject({
      name: "sub",
      type: "directory",
      path: "/home/user/docs/sub",
      owner: "user",
    });
    const again = await stack.call("POST", `/v1/sandboxes/${id}/files/mkdir`, {
      key: alice.key,
      body: { path: "docs/sub" },
    });
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe("already_exists");

    const moved = await stack.call("POST", `/v1/sandboxes/${id}/files/move`, {
      key: alice.key,
      body: { from: "docs/hello.txt", to: "docs/sub/renamed.txt" },
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      path: "/home/user/docs/sub/renamed.txt",
      type: "file",
      size: 12,
    });

    const list = await stack.call("GET", `/v1/sandboxes/${id}/files/list?path=docs&depth=2`, {
      key: alice.key,
    });
    expect(list.status).toBe(200);
    expect(
      (list.body as { entries: { path: string; type: string }[] }).entries.map((e) => [
        e.path,
        e.type,
      ]),
    ).toEqual([
      ["/home/user/docs/sub", "directory"],
      ["/home/user/docs/sub/renamed.txt", "file"],
    ]);
    const stat = await stack.call(
      "GET",
      `/v1/sandboxes/${id}/files/stat?path=docs/sub/renamed.txt`,
      { key: alice.key },
    );
    expect(stat.body).toMatchObject({
      size: 12,
      permissions: expect.stringMatching(/^-/),
      modifiedAt: expect.any(String),
    });

    const removed = await stack.call("DELETE", `/v1/sandboxes/${id}/files?path=docs`, {
      key: alice.key,
    });
    expect(removed.status).toBe(204);
    const gone = await stack.call("GET", `/v1/sandboxes/${id}/files/stat?path=docs`, {
      key: alice.key,
    });
    expect(gone.status).toBe(404);
    // A large upload refused by envd (a directory) still gets its answer, not a reset.
    const refused = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp`, {
      method: "PUT",
      headers: { "x-api-key": alice.key },
      body: Buffer.alloc(20 * 1024 * 1024),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: "invalid_request" } });
    const missing = await stack.call("GET", `/v1/sandboxes/${id}/files?path=docs/sub/renamed.txt`, {
      key: alice.key,
    });
    expect(missing.status).toBe(404);
    expect((missing.body as { error: { code: string } }).error.code).toBe("file_not_found");
  });

  test("a 400 MiB file goes up and down streamed and intact; the control plane holds no copy", async () => {
    const MiB = 1024 * 1024;
    const chunks = 400;
    const block = randomBytes(MiB);
    const sent = createHash("sha256");
    let peak = 0;
    const baseline = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss - baseline);
    }, 50);
    try {
      const source = Readable.from(
        (function* () {
          for (let i = 0; i < chunks; i++) {
            const chunk = Buffer.from(block);
            chunk.writeUInt32BE(i, 0); // every MiB differs, so a lost or repeated one shows
            sent.update(chunk);
            yield chunk;
          }
        })(),
      );
      const uploaded = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = http.request(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/big.bin`, {
          method: "PUT",
          headers: { "x-api-key": alice.key, "content-type": "application/octet-stream" },
        });
        request.on("response", (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        request.on("error", reject);
        pipeline(source, request).catch(reject);
      });
      expect(uploaded.status, uploaded.body).toBe(200);
      expect(JSON.parse(uploaded.body)).toEqual({
        path: "/tmp/big.bin",
        name: "big.bin",
        bytes: chunks * MiB,
      });

      const download = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/big.bin`, {
        headers: { "x-api-key": alice.key },
      });
      expect(download.status).toBe(200);
      expect(download.headers.get("content-length")).toBe(String(chunks * MiB));
      const received = createHash("sha256");
      let bytes = 0;
      for await (const chunk of download.body as unknown as AsyncIterable<Uint8Array>) {
        received.update(chunk);
        bytes += chunk.byteLength;
      }
      expect(bytes).toBe(chunks * MiB);
      expect(received.digest("hex")).toBe(sent.digest("hex"));
    } finally {
      clearInterval(sampler);
    }
    // 800 MiB crossed this process (client and control plane) and envd's disk; buffering the
    // file anywhere here would have raised the peak by at least 400 MiB.
    console.log(`peak rss growth ${(peak / MiB).toFixed(0)} MiB`);
    expect(peak).toBeLessThan(250 * MiB);
    await exec({ command: "rm /tmp/big.bin" });
  });

  test("terminal over WebSocket: a login shell with input, output, resize and exit", async () => {
    const term = await TestSocket.open(
      wsUrl(`/v1/sandboxes/${id}/terminal?cols=80&rows=24`),
      alice.key,
    );
    await term.until((r) => r.json.some((m) => m.type === "started"), "started");
    term.send({ type: "input", data: "echo answer=$((6*7))\r" });
    await term.until(() => term.text().includes("answer=42"), "the answer");
    term.send({ type: "resize", cols: 100, rows: 30 });
    term.sendBytes(Buffer.from("stty size\r"));
    await term.until(() => term.text().includes("30 100"), "the new size");
    term.sendBytes(Buffer.from("tty; echo $TERM\r"));
    await term.until(
      () => /\/dev\/pts\/\d+/.test(term.text()) && term.text().includes("xterm-256color"),
      "a pty",
    );
    term.send({ type: "input", data: "exit\r" });
    expect((await term.closed).code).toBe(1000);
    expect(term.received.json.at(-1)).toMatchObject({ type: "exit", exitCode: 0 });
  });

  test("every exec, terminal and file operation leaves an audit event", async () => {
    const marker = `audit-${randomBytes(4).toString("hex")}`;
    await exec({ command: `echo ${marker}; exit 7` });
    await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/${marker}`, {
      method: "PUT",
      headers: { "x-api-key": alice.key },
      body: "12345",
    });
    const dl = await fetch(`${stack.url}/v1/sandboxes/${id}/files?path=/tmp/${marker}`, {
      headers: { "x-api-key": alice.key },
    });
    await dl.text();
    let rows: {
      actor: string;
      api_key_id: string;
      action: string;
      outcome: string;
      duration_ms: number;
      detail: Record<string, unknown>;
    }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = (
        await stack.cp.db.query<(typeof rows)[number]>(
          "SELECT actor, api_key_id, action, outcome, duration_ms, detail FROM audit_events WHERE sandbox_id = $1 AND (detail->>'command' LIKE $2 OR detail->>'path' LIKE $2) ORDER BY id",
          [id, `%${marker}%`],
        )
      ).rows;
      if (rows.length >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rows.map((r) => [r.actor, r.api_key_id, r.action, r.outcome])).toEqual([
      ["api", alice.id, "sandbox.exec", "ok"],
      ["api", alice.id, "sandbox.file.upload", "ok"],
      ["api", alice.id, "sandbox.file.download", "ok"],
    ]);
    expect(rows[0]!.detail).toMatchObject({
      mode: "oneshot",
      exitCode: 7,
      stdoutBytes: marker.length + 1,
    });
    expect(rows[1]!.detail).toMatchObject({ bytes: 5 });
    expect(rows[2]!.detail).toMatchObject({ bytes: 5 });
    for (const r of rows) expect(r.duration_ms).toEqual(expect.any(Number));
    const terminals = await stack.cp.db.query(
      "SELECT 1 FROM audit_events WHERE sandbox_id = $1 AND action = 'sandbox.terminal'",
      [id],
    );
    expect(terminals.rowCount).toBeGreaterThan(0);
  });

  test("another owner cannot exec, stream, read or write files, open a terminal or reach ports", async () => {
    const before = await snapshot(stack.cp.db);
    const refused = [
      await exec({ command: "touch /tmp/bob-was-here" }, bob.key),
      await stack.call("GET", `/v1/sandboxes/${id}/files?path=/etc/hostname`, { key: bob.key }),
      await stack.call("PUT", `/v1/sandboxes/${id}/files?path=/tmp/bob-was-here`, {
        key: bob.key,
        body: "x",
        headers: { "content-type": "application/octet-stream" },
      }),
      await stack.call("GET", `/v1/sandboxes/${id}/files/list?path=/`, { key: bob.key }),
      await stack.call("GET", `/v1/sandboxes/${id}/files/stat?path=/`, { key: bob.key }),
      await stack.call("DELETE", `/v1/sandboxes/${id}/files?path=/home/user/.bashrc`, {
        key: bob.key,
      }),
      await stack.call("POST", `/v1/sandboxes/${id}/files/mkdir`, {
        key: bob.key,
        body: { path: "/tmp/bob" },
      }),
      await stack.call("POST", `/v1/sandboxes/${id}/files/move`, {
        key: bob.key,
        body: { from: ".bashrc", to: "x" },
      }),
      await stack.call("GET", `/v1/sandboxes/${id}/ports/49983/health`, { key: bob.key }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ error: { code: "sandbox_not_found" } });
    }
    for (const path of [`/v1/sandboxes/${id}/exec/stream`, `/v1/sandboxes/${id}/terminal`]) {
      await expect(TestSocket.open(wsUrl(path), bob.key)).rejects.toMatchObject({ status: 404 });
    }
    // Nothing was recorded or changed for Bob's attempts; Alice reaches the same things.
    expect(await snapshot(stack.cp.db)).toBe(before);
    expect(
      (await stack.call("GET", `/v1/sandboxes/${id}/ports/49983/health`, { key: alice.key }))
        .status,
    ).toBe(204);
    expect(
      (await stack.call("GET", `/v1/sandboxes/${id}/files/stat?path=/`, { key: alice.key })).status,
    ).toBe(200);
    const check = await exec({ command: "ls /tmp/bob-was-here /tmp/bob 2>&1; true" });
    expect((check.body as { stdout: string }).stdout).toMatch(/No such file/);
  });

  test("bad input gets the right 4xx, and nothing stored changes", async () => {
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

  test("a paused sandbox refuses I/O with 409; after resume its files are all there", async () => {
    await exec({ command: "echo kept > ~/before-pause.txt" });
    expect((await stack.call("POST", `/v1/sandboxes/${id}/pause`, { key: alice.key })).status).toBe(
      200,
    );
    const refused = await exec({ command: "true" });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ error: { code: "sandbox_not_running" } });
    const file = await stack.call("GET", `/v1/sandboxes/${id}/files?path=before-pause.txt`, {
      key: alice.key,
    });
    expect(file.status).toBe(409);
    await expect(
      TestSocket.open(wsUrl(`/v1/sandboxes/${id}/terminal`), alice.key),
    ).rejects.toMatchObject({ status: 409 });
    expect(
      (await stack.call("POST", `/v1/sandboxes/${id}/resume`, { key: alice.key })).status,
    ).toBe(200);
    const back = await stack.call("GET", `/v1/sandboxes/${id}/files?path=before-pause.txt`, {
      key: alice.key,
    });
    expect(back.text).toBe("kept\n");
  });
});
