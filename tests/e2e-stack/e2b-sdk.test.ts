import http from "node:http";
import { CommandExitError, type EntryInfo, type FilesystemEvent, Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { waitFor } from "../harness/wait.js";
import { Stack, type UserKey } from "./stack.js";

// The official E2B SDK (e2b@2.51.0), unchanged, against the real stack: every envd call goes
// through the control plane's proxy to the host agent's forwarder and envd in gVisor.
const DOMAIN = "wrenn.test";

describe("the official E2B SDK through the control plane's proxy (PGlite, real agent)", () => {
  let stack: Stack;
  let user: UserKey;
  let opts: { apiKey: string; apiUrl: string; sandboxUrl: string; requestTimeoutMs: number };
  let sbx: Sandbox;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 2, domain: DOMAIN });
    user = await stack.key({ name: "e2b user" });
    opts = { apiKey: user.key, apiUrl: stack.url, sandboxUrl: stack.url, requestTimeoutMs: 30_000 };
    sbx = await Sandbox.create("base", {
      ...opts,
      metadata: { suite: "e2e", role: "main" },
      envs: { FROM_CREATE: "yes" },
    });
  });
  afterAll(() => stack?.close());

  /** A raw request to the control plane, as the SDK would send it, with any Host. */
  const raw = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(stack.url);
      const request = http.request({ host: url.hostname, port: url.port, path, headers }, (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      });
      request.on("error", reject);
      request.end();
    });

  test("commands: run, env, exit codes, background with streamed output, stdin, kill", async () => {
    const run = await sbx.commands.run('echo "$FROM_CREATE $FROM_RUN"; whoami; pwd', {
      envs: { FROM_RUN: "too" },
    });
    expect(run).toMatchObject({ exitCode: 0, stdout: "yes too\nuser\n/home/user\n", stderr: "" });
    expect((await sbx.commands.run("id -u", { user: "root" })).stdout).toBe("0\n");

    const failed = await sbx.commands.run("echo nope >&2; exit 3").catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(CommandExitError);
    expect(failed).toMatchObject({ exitCode: 3, stderr: "nope\n" });

    const chunks: string[] = [];
    const background = await sbx.commands.run("for i in 1 2 3; do echo line$i; sleep 0.2; done", {
      background: true,
      onStdout: (data) => {
        chunks.push(data);
      },
    });
    await waitFor(() => chunks.join("").includes("line1"), 10_000, "the first line while it runs");
    expect(chunks.join("")).not.toContain("line3");
    const done = await background.wait();
    expect(done.exitCode).toBe(0);
    expect(chunks.join("")).toBe("line1\nline2\nline3\n");

    const cat = await sbx.commands.run("cat", { background: true, stdin: true });
    await sbx.commands.sendStdin(cat.pid, "through stdin\n");
    await sbx.commands.closeStdin(cat.pid);
    expect((await cat.wait()).stdout).toBe("through stdin\n");

    const sleeper = await sbx.commands.run("sleep 300", { background: true });
    expect((await sbx.commands.list()).some((p) => p.pid === sleeper.pid)).toBe(true);
    expect(await sbx.commands.kill(sleeper.pid)).toBe(true);
    await expect(sleeper.wait()).rejects.toBeInstanceOf(CommandExitError);
    expect(await sbx.commands.kill(sleeper.pid)).toBe(false);
  });

  test("pty: output, input, resize, kill", async () => {
    let output = "";
    const decoder = new TextDecoder();
    const pty = await sbx.pty.create({
      cols: 80,
      rows: 24,
      onData: (data) => {
        output += decoder.decode(data, { stream: true });
      },
    });
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode("echo pty-$((6*7))\n"));
    await waitFor(() => output.includes("pty-42"), 15_000, "the pty's answer");
    await sbx.pty.resize(pty.pid, { cols: 120, rows: 40 });
    await sbx.pty.sendInput(pty.pid, new TextEncoder().encode("stty size\n"));
    await waitFor(() => output.includes("40 120"), 15_000, "the new size");
    expect(await sbx.pty.kill(pty.pid)).toBe(true);
    await expect(pty.wait()).rejects.toBeInstanceOf(CommandExitError);
  });

  test("files: write, read, list, exists, info, rename, remove, watch; signed URLs", async () => {
    await sbx.files.makeDir("/home/user/watched");
    const events: FilesystemEvent[] = [];
    const watcher = await sbx.files.watchDir("/home/user/watched", (e) => {
      events.push(e);
    });
    const info = await sbx.files.write("/home/user/watched/note.txt", "first words");
    expect(info).toMatchObject({ name: "note.txt", path: "/home/user/watched/note.txt" });
    await waitFor(() => events.some((e) => e.name === "note.txt"), 15_000, "a watch event");
    await watcher.stop();

    expect(await sbx.files.read("/home/user/watched/note.txt")).toBe("first words");
    const bytes = new Uint8Array(256).map((_, i) => i);
    await sbx.files.write("data/bytes.bin", bytes.buffer);
    expect(await sbx.files.read("data/bytes.bin", { format: "bytes" })).toEqual(bytes);
    await sbx.files.write([
      { path: "/home/user/multi/a.txt", data: "A" },
      { path: "/home/user/multi/b.txt", data: "B" },
    ]);
    const listed: EntryInfo[] = await sbx.files.list("/home/user/multi");
    expect(listed.map((e) => [e.name, e.type])).toEqual([
      ["a.txt", "file"],
      ["b.txt", "file"],
    ]);
    expect(await sbx.files.exists("/home/user/multi/a.txt")).toBe(true);
    expect((await sbx.files.getInfo("/home/user/multi/a.txt")).size).toBe(1);
    await sbx.files.rename("/home/user/multi/a.txt", "/home/user/multi/c.txt");
    await sbx.files.remove("/home/user/multi/b.txt");
    expect((await sbx.files.list("/home/user/multi")).map((e) => e.name)).toEqual(["c.txt"]);
    expect(await sbx.files.exists("/home/user/multi/b.txt")).toBe(false);

    // The SDK's signed URLs carry no sandbox id: the proxy finds the sandbox by signature.
    const download = await fetch(await sbx.downloadUrl("/home/user/watched/note.txt"));
    expect(download.status).toBe(200);
    expect(await download.text()).toBe("first words");
    const form = new FormData();
    form.append("file", new Blob(["uploaded via a signed URL"]), "signed.txt");
    const upload = await fetch(await sbx.uploadUrl("/home/user/signed.txt"), {
      method: "POST",
      body: form,
    });
    expect(upload.status).toBe(200);
    expect(await sbx.files.read("/home/user/signed.txt")).toBe("uploaded via a signed URL");
    const forged = await fetch(`${stack.url}/files?path=%2Fetc%2Fshadow&signature=v1_forged`);
    expect(forged.status).toBe(404);
  });

  test("list filters by metadata; timeouts extend", async () => {
    const other = await Sandbox.create("base", {
      ...opts,
      metadata: { suite: "e2e", role: "other" },
    });
    try {
      const page = await Sandbox.list({
        ...opts,
        query: { metadata: { role: "main" } },
      }).nextItems();
      expect(page.map((s) => s.sandboxId)).toEqual([sbx.sandboxId]);
      const both = await Sandbox.list({
        ...opts,
        query: { metadata: { suite: "e2e" } },
      }).nextItems();
      expect(both.map((s) => s.sandboxId).sort()).toEqual([sbx.sandboxId, other.sandboxId].sort());

      await sbx.setTimeout(900_000);
      const extended = (await sbx.getInfo()).endAt.getTime() - Date.now();
      expect(extended).toBeGreaterThan(800_000);
      await Sandbox.connect(sbx.sandboxId, { ...opts, timeoutMs: 60_000 });
      // connect only extends.
      expect((await sbx.getInfo()).endAt.getTime() - Date.now()).toBeGreaterThan(800_000);
    } finally {
      await other.kill();
    }
  });

  test("pause then connect, three times: every file written before a pause is there after", async () => {
    for (let cycle = 1; cycle <= 3; cycle++) {
      await sbx.files.write(`/home/user/cycle-${cycle}.txt`, `cycle ${cycle}`);
      await sbx.commands.run(`echo ${cycle} >> /tmp/cycles`);
      expect(await sbx.pause()).toBe(true);
      expect(await sbx.isRunning()).toBe(false);
      expect((await sbx.getInfo()).state).toBe("paused");
      const resumed = await Sandbox.connect(sbx.sandboxId, opts);
      expect(await resumed.isRunning()).toBe(true);
      for (let seen = 1; seen <= cycle; seen++) {
        expect(await resumed.files.read(`/home/user/cycle-${seen}.txt`)).toBe(`cycle ${seen}`);
      }
      expect((await resumed.commands.run("cat /tmp/cycles")).stdout).toBe(
        Array.from({ length: cycle }, (_, i) => `${i + 1}\n`).join(""),
      );
    }
  });

  test("lifecycle.autoResume: a command to the paused sandbox resumes it; without it, it stays paused", async () => {
    const waking = await Sandbox.create("base", {
      ...opts,
      lifecycle: { onTimeout: "pause", autoResume: true },
    });
    const plain = await Sandbox.create("base", { ...opts, lifecycle: { onTimeout: "pause" } });
    try {
      expect((await waking.getInfo()).lifecycle).toEqual({ onTimeout: "pause", autoResume: true });
      expect((await plain.getInfo()).lifecycle).toEqual({ onTimeout: "pause", autoResume: false });
      await waking.files.write("/home/user/kept.txt", "kept across the pause\n");
      await waking.commands.run("nohup sleep 600 >/dev/null 2>&1 &");
      expect(await waking.pause()).toBe(true);
      expect(await plain.pause()).toBe(true);
      expect((await waking.getInfo()).state).toBe("paused");
      // Through the proxy to envd, with no connect(): the request itself wakes it.
      const run = await waking.commands.run("cat /home/user/kept.txt; pgrep -c -x sleep");
      expect(run.stdout).toBe("kept across the pause\n1\n");
      expect((await waking.getInfo()).state).toBe("running");
      // Without autoResume the same request is refused and the sandbox stays paused.
      await expect(plain.commands.run("true")).rejects.toThrow();
      expect((await plain.getInfo()).state).toBe("paused");
    } finally {
      await waking.kill();
      await plain.kill();
    }
    // autoResume needs onTimeout: pause, as E2B's API says; the server refuses it alone too.
    const refused = await stack.call("POST", "/sandboxes", {
      key: user.key,
      body: { templateID: "base", autoResume: { enabled: true } },
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/autoResume needs autoPause/);
  });

  test("envd traffic through the proxy is audited: commands with exit codes, file bytes", async () => {
    const marker = `proxy-audit-${Date.now()}`;
    await sbx.commands.run(`echo ${marker}; exit 5`).catch(() => {});
    await sbx.files.write(`/tmp/${marker}`, "0123456789");
    expect(await sbx.files.read(`/tmp/${marker}`)).toBe("0123456789");
    type Row = {
      actor: string;
      owner_id: string;
      action: string;
      outcome: string;
      detail: Record<string, unknown>;
    };
    let rows: Row[] = [];
    await waitFor(
      async () => {
        rows = (
          await stack.cp.db.query<Row>(
            "SELECT actor, owner_id, action, outcome, detail FROM audit_events WHERE sandbox_id = $1 AND (detail->>'command' LIKE $2 OR detail->>'path' LIKE $2) ORDER BY id",
            [sbx.sandboxId, `%${marker}%`],
          )
        ).rows;
        return rows.length >= 3;
      },
      10_000,
      "three audit events",
    );
    expect(rows.map((r) => [r.actor, r.owner_id, r.action, r.outcome])).toEqual([
      ["proxy", user.ownerId, "sandbox.exec", "ok"],
      ["proxy", user.ownerId, "sandbox.file.upload", "ok"],
      ["proxy", user.ownerId, "sandbox.file.download", "ok"],
    ]);
    expect(rows[0]!.detail).toMatchObject({
      via: "e2b",
      exitCode: 5,
      status: "exit status 5",
      pid: expect.any(Number),
    });
    // Node's fetch asks for gzip, which envd honours: the bytes are those on the wire.
    const download = rows[2]!.detail as { bytes: number; encoding: string };
    expect(download.encoding === "gzip" ? download.bytes > 0 : download.bytes === 10).toBe(true);
    // Multipart: the file and its part headers.
    expect(rows[1]!.detail.bytes).toBeGreaterThan(10);
  });

  test("user ports: by <port>-<id>.<domain> and /v1/.../ports/, HTTP and WebSocket", async () => {
    const web = await Sandbox.create("base", opts);
    try {
      // A small HTTP server that also echoes WebSocket text frames (no libraries in the template).
      await web.files.write(
        "/tmp/server.js",
        `const http = require("http"), crypto = require("crypto");
const s = http.createServer((q, r) => r.end("port 8080 says " + q.url));
s.on("upgrade", (req, sock) => {
  const accept = crypto.createHash("sha1").update(req.headers["sec-websocket-key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
  sock.write("HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: " + accept + "\\r\\n\\r\\n");
  sock.on("data", (d) => {
    const len = d[1] & 0x7f, mask = d.subarray(2, 6), text = Buffer.from(d.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4])).toString();
    const out = Buffer.from("echo:" + text);
    sock.write(Buffer.concat([Buffer.from([0x81, out.length]), out]));
  });
});
s.listen(8080, () => console.log("listening"));`,
      );
      const server = await web.commands.run("node /tmp/server.js", { background: true });
      let up = false;
      await waitFor(
        async () => {
          up = (await web.commands.run("curl -s localhost:8080/ready || true")).stdout.includes(
            "says",
          );
          return up;
        },
        20_000,
        "the server",
      );

      const host = `8080-${web.sandboxId}.${DOMAIN}:${new URL(stack.url).port}`;
      const byHost = await raw("/hello?x=1", { host });
      expect(byHost).toEqual({ status: 200, body: "port 8080 says /hello?x=1" });
      const envdByHost = await raw("/health", { host: `49983-${web.sandboxId}.${DOMAIN}` });
      expect(envdByHost.status).toBe(204);
      const byPath = await stack.call("GET", `/v1/sandboxes/${web.sandboxId}/ports/8080/a/b?c=d`, {
        key: user.key,
      });
      expect(byPath).toMatchObject({ status: 200, text: "port 8080 says /a/b?c=d" });
      const noKey = await stack.call("GET", `/v1/sandboxes/${web.sandboxId}/ports/8080/`, {
        key: null,
      });
      expect(noKey.status).toBe(401);

      const echo = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(
          `${stack.url.replace("http", "ws")}/v1/sandboxes/${web.sandboxId}/ports/8080/ws`,
          {
            headers: { "x-api-key": user.key },
          },
        );
        ws.on("open", () => ws.send("ping"));
        ws.on("message", (data) => {
          resolve(String(data));
          ws.terminate();
        });
        ws.on("error", reject);
      });
      expect(echo).toBe("echo:ping");
      await web.commands.kill(server.pid);
    } finally {
      await web.kill();
    }
  });

  test("kill: isRunning() turns false on E2B's 502 body; unknown sandboxes get the same", async () => {
    expect(await sbx.isRunning()).toBe(true);
    expect(await sbx.kill()).toBe(true);
    expect(await sbx.isRunning()).toBe(false);
    for (const id of [sbx.sandboxId, "sb-00000000", "definitely-not-a-sandbox"]) {
      const r = await raw("/health", { "e2b-sandbox-id": id, "e2b-sandbox-port": "49983" });
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body)).toEqual({
        message: "The sandbox was not found",
        sandboxId: id,
        code: 502,
      });
    }
    await expect(sbx.commands.run("true")).rejects.toThrow();
    expect(await Sandbox.kill(sbx.sandboxId, opts)).toBe(false);
  });
});
