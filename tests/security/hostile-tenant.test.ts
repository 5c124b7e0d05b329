import http from "node:http";
import { FileType, NotFoundError, Sandbox, SandboxError } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack, type UserKey } from "../e2e-stack/stack.js";
import { TestSocket } from "../e2e-stack/ws-client.js";
import { waitFor } from "../harness/wait.js";

// The security boundaries of tests/security/README.md, attacked through the real stack (control
// plane proxy → host agent forwarder → envd in gVisor). One stack for the whole file.

// Keep-alive, as SDKs and browsers are; one socket, so the next request reuses the last one's.
const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** What a caller on the internet sends: a raw request to the control plane, no SDK. */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const request = http.request(
      { host: url.hostname, port: url.port, method, path, headers, agent: keepAlive },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      },
    );
    // The server may answer and hang up before the whole body went out: the answer counts.
    request.on("error", reject);
    request.end(body);
  });
}

describe("security boundaries, attacked through the real stack", () => {
  let stack: Stack;
  let owner: UserKey;
  let sbx: Sandbox;
  let neighbour: Sandbox;

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 2 });
    owner = await stack.key({ name: "owner" });
    const opts = {
      apiKey: owner.key,
      apiUrl: stack.url,
      sandboxUrl: stack.url,
      requestTimeoutMs: 60_000,
    };
    sbx = await Sandbox.create("base", opts);
    neighbour = await Sandbox.create("base", opts);
  });
  afterAll(async () => {
    keepAlive.destroy();
    await stack?.close();
  });

  const anonymous = (path: string, headers: Record<string, string> = {}, method = "GET") =>
    raw(stack.url, method, path, { "e2b-sandbox-id": sbx.sandboxId, ...headers });

  describe("an unauthenticated caller who knows a sandbox id", () => {
    test("every envd route refuses a caller without the token, whatever the method and body", async () => {
      for (const [method, path] of [
        ["POST", "/init"],
        ["GET", "/envs"],
        ["GET", "/metrics"],
        ["GET", "/version"],
        ["POST", "/process.Process/List"],
        ["POST", "/filesystem.Filesystem/Stat"],
      ] as const) {
        const r = await anonymous(path, { "content-type": "application/json" }, method).catch(
          (error: Error) => ({ status: -1, text: error.message }),
        );
        expect(r.status, `${method} ${path}: ${r.text}`).toBe(401);
      }
      // /files without token or signature: refused too.
      expect((await anonymous("/files?path=/etc/hostname")).status).toBe(401);
      expect((await anonymous("/health")).status).toBe(204);
    });

    test("/metrics and /healthz with a sandbox id reach the sandbox, never the host agent", async () => {
      // On envd's port: envd's own answer (401 without the token), not the agent's metrics.
      const metrics = await anonymous("/metrics");
      expect(metrics.text).not.toMatch(/wrenn_|process_cpu|# HELP/);
      expect(metrics.text).not.toContain(neighbour.sandboxId);
      expect(metrics.status).toBe(401);
      const healthz = await anonymous("/healthz");
      expect(healthz.status).not.toBe(204);

      // A user's app on its own port gets its own /metrics and /healthz.
      await sbx.commands.run(
        `node -e "require('http').createServer((q,s)=>s.end('app saw '+q.url)).listen(8080)"`,
        { background: true },
      );
      const onPort = (path: string) => anonymous(path, { "e2b-sandbox-port": "8080" });
      await waitFor(async () => (await onPort("/")).status === 200, 60_000, "the app on 8080");
      for (const path of ["/metrics", "/healthz"]) {
        const r = await onPort(path);
        expect(r, path).toEqual({ status: 200, text: `app saw ${path}` });
      }
    });

    test("a 502 for a port nobody listens on does not reveal the sandbox's internal address", async () => {
      const r = await anonymous("/", { "e2b-sandbox-port": "8099" });
      expect(r.status).toBe(502);
      // E2B's documented body (it names the port the caller asked for, nothing internal).
      expect(JSON.parse(r.text)).toMatchObject({ code: 502, port: 8099 });
      expect(r.text).not.toMatch(/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/);
      expect(r.text).not.toMatch(/ECONNREFUSED|EHOST|ENET/);
    });
  });

  describe("bad input from a tenant with a key", () => {
    test("an unknown user is a 400, over HTTP and the exec WebSocket, never a 502", async () => {
      const id = sbx.sandboxId;
      const exec = await stack.call("POST", `/v1/sandboxes/${id}/exec`, {
        key: owner.key,
        body: { command: "true", user: "nosuchuser" },
      });
      expect(exec.status, exec.text).toBe(400);
      expect(exec.body).toMatchObject({ error: { code: "unknown_user" } });
      const read = await stack.call(
        "GET",
        `/v1/sandboxes/${id}/files?path=/etc/hostname&user=nosuchuser`,
        { key: owner.key },
      );
      expect(read.status, read.text).toBe(400);
      expect(read.body).toMatchObject({ error: { code: "unknown_user" } });

      const socket = await TestSocket.open(
        `${stack.url.replace("http", "ws")}/v1/sandboxes/${id}/exec/stream`,
        owner.key,
      );
      socket.send({ type: "start", command: "true", user: "nosuchuser" });
      const closed = await socket.closed;
      expect(closed.code).toBe(4400);
      // The sandbox is fine, and its state is what it was.
      expect((await sbx.commands.run("echo fine")).stdout).toBe("fine\n");
      const state = await stack.call("GET", `/v1/sandboxes/${id}`, { key: owner.key });
      expect(state.body).toMatchObject({ state: "running" });
    });

    test("NUL in an env var at create is a 400 and leaves no record", async () => {
      const count = async () =>
        (await stack.cp.db.query<{ n: number }>("SELECT count(*)::int AS n FROM sandboxes")).rows[0]
          ?.n;
      const before = await count();
      const v1 = await stack.call("POST", "/v1/sandboxes", {
        key: owner.key,
        body: { envVars: { A: "x\u0000y" } },
      });
      expect(v1.status, v1.text).toBe(400);
      const e2b = await stack.call("POST", "/v2/sandboxes", {
        key: owner.key,
        body: { templateID: "base", envVars: { A: "x\u0000y" } },
      });
      expect(e2b.status, e2b.text).toBe(400);
      expect(await count()).toBe(before);
    });
  });

  describe("the files API acts with the requesting user's rights", () => {
    test("as `user`, writing /etc/passwd and reading /etc/shadow are refused; root keeps root's rights", async () => {
      const before = await sbx.files.read("/etc/passwd", { user: "root" });
      await expect(sbx.files.write("/etc/passwd", "owned\n")).rejects.toBeInstanceOf(SandboxError);
      await expect(sbx.files.read("/etc/shadow")).rejects.toBeInstanceOf(SandboxError);
      // Through a symlink the user made: the link is followed with the user's rights too.
      await sbx.commands.run("ln -sf /etc/shadow /home/user/shadow-link");
      await expect(sbx.files.read("/home/user/shadow-link")).rejects.toBeInstanceOf(SandboxError);
      // Directories the user cannot write to or list.
      await expect(sbx.files.makeDir("/etc/wrenn-owned")).rejects.toBeInstanceOf(SandboxError);
      await expect(sbx.files.remove("/etc/hostname")).rejects.toBeInstanceOf(SandboxError);
      await expect(sbx.files.list("/root")).rejects.toBeInstanceOf(SandboxError);
      await expect(sbx.files.rename("/etc/hostname", "/home/user/h")).rejects.toBeInstanceOf(
        SandboxError,
      );
      expect(await sbx.files.read("/etc/passwd", { user: "root" })).toBe(before);

      // The sandbox keeps working, and the user keeps the rights it has.
      await sbx.files.write("/home/user/mine.txt", "mine\n");
      expect(await sbx.files.read("/home/user/mine.txt")).toBe("mine\n");
      expect((await sbx.files.getInfo("/home/user/mine.txt")).type).toBe(FileType.FILE);
      expect((await sbx.commands.run("stat -c %U /home/user/mine.txt")).stdout).toBe("user\n");
      await expect(sbx.files.read("/home/user/nope")).rejects.toBeInstanceOf(NotFoundError);
      expect((await sbx.commands.run("echo ok")).stdout).toBe("ok\n");

      // Root stays root.
      await sbx.files.write("/root/root-only.txt", "r\n", { user: "root" });
      expect(await sbx.files.read("/etc/shadow", { user: "root" })).toContain("root:");
      expect((await sbx.files.list("/root", { user: "root" })).map((e) => e.name)).toContain(
        "root-only.txt",
      );
    });
  });
  // Last: a large body from an unauthenticated caller, then the owner's next command.
  describe("a large body from an unauthenticated caller", () => {
    test("a 2 MB POST /init without a token is refused before its body is read", async () => {
      const big = Buffer.alloc(2 * 1024 * 1024, "a");
      const answer = await raw(
        stack.url,
        "POST",
        "/init",
        {
          "e2b-sandbox-id": sbx.sandboxId,
          "content-type": "application/json",
          "content-length": String(big.length),
        },
        big,
      ).catch((error: Error) => ({ status: 0, text: error.message }));
      // 401 from envd (no token), never a 413 that means envd read the body first.
      expect(answer.status, answer.text).toBe(401);
    });

    // Each hop (control plane proxy, agent forwarder) stops relaying a body the next hop
    // answered early and drains it itself (packages/http-relay): Node's client would stall.
    test("after it, the owner's next exec runs (not stalled)", async () => {
      const big = Buffer.alloc(2 * 1024 * 1024, "a");
      await raw(
        stack.url,
        "POST",
        "/init",
        { "e2b-sandbox-id": sbx.sandboxId, "content-type": "application/json" },
        big,
      ).catch(() => undefined);
      // The same caller's next request on its kept-alive connection is answered too.
      const next = await raw(stack.url, "GET", "/health", { "e2b-sandbox-id": sbx.sandboxId });
      expect(next.status, next.text).toBe(204);
      const run = await sbx.commands.run("echo still-mine", { timeoutMs: 60_000 });
      expect(run.stdout).toBe("still-mine\n");
      expect((await sbx.commands.run("whoami")).stdout).toBe("user\n");
    });

    test("callers that close their connection after each request are all answered", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const answer = await new Promise<number>((resolve, reject) => {
          const url = new URL(stack.url);
          const request = http.request(
            {
              host: url.hostname,
              port: url.port,
              path: "/health",
              headers: { "e2b-sandbox-id": sbx.sandboxId },
              agent: false, // `connection: close`
            },
            (res) => {
              res.resume();
              res.on("end", () => resolve(res.statusCode ?? 0));
            },
          );
          request.on("error", reject);
          request.end();
        });
        statuses.push(answer);
      }
      expect(statuses).toEqual(Array(6).fill(204));
    });
  });
});
