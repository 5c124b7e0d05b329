import { randomBytes } from "node:crypto";
import { snapshot } from "@wrenn/control-plane/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "./stack.js";
import { v1BadInputCases } from "./v1-bad-input-cases.js";
import { v1FilesCases } from "./v1-files-cases.js";
import type { V1Suite } from "./v1-suite.js";
import { TestSocket } from "./ws-client.js";

// Wrenn's own /v1 exec, files and terminal through the real stack (control plane → host agent
// forwarder → envd in a gVisor sandbox), on a real PostgreSQL.
describe("/v1 exec, files and terminal (PostgreSQL, real agent over TLS, envd)", () => {
  let stack: Stack;
  let alice: UserKey;
  let bob: UserKey;
  let id: string;

  beforeAll(async () => {
    // The agent serves TLS here: every call, stream and forward below crosses it.
    stack = await Stack.start({ database: "postgres", poolSize: 1, agentTls: true });
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
  const suite: V1Suite = {
    get stack() {
      return stack;
    },
    get alice() {
      return alice;
    },
    get bob() {
      return bob;
    },
    get id() {
      return id;
    },
    exec,
    wsUrl,
  };

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

  v1FilesCases(suite);

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

  v1BadInputCases(suite);

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
