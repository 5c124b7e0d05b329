import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import {
  AuthenticationError,
  CommandExitError,
  ConnectionError,
  InvalidArgumentError,
  NotFoundError,
  PermissionDeniedError,
  Sandbox,
  SandboxError,
  SandboxNotFoundError,
} from "@wrenn/sdk";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Stack } from "../e2e-stack/stack.js";
import { waitFor } from "../harness/wait.js";

// The Sandbox class of @wrenn/sdk against the real stack: lifecycle, listing, ports, errors.
const DOMAIN = "wrenn.test";

describe("@wrenn/sdk Sandbox (real stack)", () => {
  let stack: Stack;
  let opts: { apiKey: string; apiUrl: string };
  let sbx: Sandbox;
  let mountRoot: string;

  beforeAll(async () => {
    mountRoot = await mkdtemp(path.join(os.tmpdir(), "wrenn-sdk-mount-"));
    await writeFile(path.join(mountRoot, "hello.txt"), "from the host\n");
    stack = await Stack.start({
      poolSize: 1,
      domain: DOMAIN,
      agentEnv: { WRENN_MOUNT_ROOTS: mountRoot },
    });
    opts = { apiKey: (await stack.key({ name: "alice" })).key, apiUrl: stack.url };
    sbx = await Sandbox.create("base", {
      ...opts,
      metadata: { suite: "sdk", role: "main" },
      timeoutMs: 600_000,
    });
  });
  afterAll(async () => {
    await stack?.close();
    await rm(mountRoot, { recursive: true, force: true });
  });

  test("create and getInfo: E2B's field names, Wrenn's settings", async () => {
    expect(sbx.sandboxId).toMatch(/^sb-[0-9a-f]{8}$/);
    const info = await sbx.getInfo();
    expect(info).toMatchObject({
      sandboxId: sbx.sandboxId,
      templateId: "base",
      state: "running",
      metadata: { suite: "sdk", role: "main" },
      allowInternetAccess: false,
      timeoutSeconds: 600,
    });
    expect(info.cpuCount).toBeGreaterThan(0);
    expect(info.endAt.getTime() - Date.now()).toBeGreaterThan(500_000);
    expect(await sbx.isRunning()).toBe(true);
  });

  test("list: metadata filter, paging with limit and nextToken, for await", async () => {
    const other = await Sandbox.create({ ...opts, metadata: { suite: "sdk", role: "other" } });
    try {
      const main = await Sandbox.list({
        ...opts,
        query: { metadata: { role: "main" } },
      }).nextItems();
      expect(main.map((s) => s.sandboxId)).toEqual([sbx.sandboxId]);

      const pages = Sandbox.list({ ...opts, query: { metadata: { suite: "sdk" } }, limit: 1 });
      const first = await pages.nextItems();
      expect(first).toHaveLength(1);
      expect(pages.hasNext).toBe(true);
      const resumed = Sandbox.list({
        ...opts,
        query: { metadata: { suite: "sdk" } },
        limit: 1,
        ...(pages.nextToken ? { nextToken: pages.nextToken } : {}),
      });
      const second = await resumed.nextItems();
      expect(second).toHaveLength(1);
      expect([...first, ...second].map((s) => s.sandboxId).sort()).toEqual(
        [sbx.sandboxId, other.sandboxId].sort(),
      );
      const all: string[] = [];
      for await (const s of Sandbox.list({ ...opts, query: { state: ["running"] }, limit: 1 })) {
        all.push(s.sandboxId);
      }
      expect(all.sort()).toEqual([sbx.sandboxId, other.sandboxId].sort());
    } finally {
      expect(await other.kill()).toBe(true);
    }
  });

  test("setTimeout moves the end time; getMetrics gives a sample", async () => {
    await sbx.setTimeout(900_000);
    expect((await sbx.getInfo()).endAt.getTime() - Date.now()).toBeGreaterThan(800_000);
    await sbx.setTimeout(600_000);
    expect((await sbx.getInfo()).endAt.getTime() - Date.now()).toBeLessThan(700_000);

    const [sample] = await sbx.getMetrics();
    expect(sample?.timestamp).toBeInstanceOf(Date);
    expect(sample?.memTotal).toBeGreaterThan(0);
    expect(sample?.cpuCount).toBeGreaterThan(0);
  });

  // Before the port test: gVisor cannot checkpoint a sandbox holding some TCP states (a
  // connection closed moments ago), so pausing right after it would fail on the host.
  test("pause then connect: files and processes' effects are kept", async () => {
    await sbx.files.write("/home/user/before-pause.txt", "kept");
    expect(await sbx.pause()).toBe(true);
    expect(await sbx.pause()).toBe(false);
    expect(await sbx.isRunning()).toBe(false);
    expect((await sbx.getInfo()).state).toBe("paused");
    expect(await sbx.getMetrics()).toEqual([]);

    const resumed = await Sandbox.connect(sbx.sandboxId, opts);
    expect(await resumed.isRunning()).toBe(true);
    expect(await resumed.files.read("/home/user/before-pause.txt")).toBe("kept");
    // The old instance works again too (the same envd token).
    expect((await sbx.commands.run("cat /home/user/before-pause.txt")).stdout).toBe("kept");

    expect(await sbx.pause()).toBe(true);
    await sbx.resume();
    expect(await sbx.files.read("/home/user/before-pause.txt")).toBe("kept");
  });

  test("getHost / getUrl reach a server on a user port", async () => {
    const server = await sbx.commands.start(
      `node -e 'require("http").createServer((q, r) => r.end("port 8080 says " + q.url)).listen(8080)'`,
    );
    await waitFor(
      async () =>
        (await sbx.commands.run("curl -s localhost:8080/ || true")).stdout.includes("says"),
      20_000,
      "the server",
    );
    // Without a domain: the /v1 ports path, with the API key.
    expect(sbx.getHost(8080)).toBe(
      `${new URL(stack.url).host}/v1/sandboxes/${sbx.sandboxId}/ports/8080`,
    );
    const byPath = await fetch(`${sbx.getUrl(8080)}/hello?x=1`, {
      headers: { "x-api-key": opts.apiKey },
    });
    expect(await byPath.text()).toBe("port 8080 says /hello?x=1");

    // With the control plane's wildcard domain: `<port>-<id>.<domain>`, no key needed.
    const port = new URL(stack.url).port;
    const named = await Sandbox.connect(sbx.sandboxId, { ...opts, domain: `${DOMAIN}:${port}` });
    const host = named.getHost(8080);
    expect(host).toBe(`8080-${sbx.sandboxId}.${DOMAIN}:${port}`);
    const byHost = await new Promise<string>((resolve, reject) => {
      // *.wrenn.test does not resolve: send to the control plane with that Host.
      http
        .get({ host: "127.0.0.1", port, path: "/by-host", headers: { host } }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve(body));
        })
        .on("error", reject);
    });
    expect(byHost).toBe("port 8080 says /by-host");
    await sbx.commands.kill(server.pid);
  });

  test("an admin key mounts a host directory read-only (what `wrenn run` does)", async () => {
    const mounted = await Sandbox.create({
      apiKey: stack.adminKey,
      apiUrl: stack.url,
      mounts: [{ hostPath: mountRoot, path: "/workspace", readOnly: true }],
      vcpus: 1,
      memoryMb: 512,
      allowInternetAccess: false,
    });
    try {
      // The host directory is root's own (mode 0700): files are read with the requesting
      // user's rights, as commands run, so root reads it and `user` may not.
      expect(await mounted.files.read("/workspace/hello.txt", { user: "root" })).toBe(
        "from the host\n",
      );
      await expect(mounted.files.read("/workspace/hello.txt")).rejects.toThrow(/Permission denied/);
      const denied = await mounted.commands
        .run("echo nope > /workspace/out.txt", { user: "root" })
        .catch((e) => e);
      expect(denied).toBeInstanceOf(CommandExitError);
      expect(denied.stderr).toContain("Read-only file system");
      expect(await mounted.getInfo()).toMatchObject({ cpuCount: 1, memoryMB: 512 });
    } finally {
      await mounted.kill();
    }
  });

  test("typed errors carry the server's code and message", async () => {
    const badKey = await Sandbox.list({ apiUrl: stack.url, apiKey: "wrn_nope" })
      .nextItems()
      .catch((e) => e);
    expect(badKey).toBeInstanceOf(AuthenticationError);
    expect(badKey).toBeInstanceOf(SandboxError);
    expect(badKey.status).toBe(401);
    expect(typeof badKey.code).toBe("string");

    const unknown = await Sandbox.connect("sb-00000000", opts).catch((e) => e);
    expect(unknown).toBeInstanceOf(SandboxNotFoundError);
    expect(unknown).toMatchObject({ code: "sandbox_not_found", status: 404 });
    expect(unknown.message).toContain("sb-00000000");

    const bob = { apiKey: (await stack.key({ name: "bob" })).key, apiUrl: stack.url };
    await expect(Sandbox.connect(sbx.sandboxId, bob)).rejects.toBeInstanceOf(NotFoundError);
    await expect(Sandbox.getInfo(sbx.sandboxId, bob)).rejects.toBeInstanceOf(NotFoundError);
    // Bob cannot reach Alice's envd either, even with her sandbox id and token guessed.
    const asBob = new Sandbox({ sandboxId: sbx.sandboxId, envdAccessToken: "guess" }, bob);
    await expect(asBob.commands.run("true")).rejects.toBeInstanceOf(NotFoundError);

    const mounts = await Sandbox.create({
      ...opts,
      mounts: [{ hostPath: "/tmp", path: "/mnt/tmp", readOnly: true }],
    }).catch((e) => e);
    expect(mounts).toBeInstanceOf(PermissionDeniedError);
    expect(mounts.code).toBe("mounts_not_allowed");

    const tooBig = await Sandbox.create({ ...opts, vcpus: 10_000 }).catch((e) => e);
    expect(tooBig).toBeInstanceOf(InvalidArgumentError);
    expect(tooBig.status).toBe(400);

    const noKey = await Sandbox.create({ apiUrl: stack.url, apiKey: "" }).catch((e) => e);
    expect(noKey).toBeInstanceOf(AuthenticationError);
    expect(noKey.code).toBe("missing_api_key");

    const down = await Sandbox.list({ ...opts, apiUrl: "http://127.0.0.1:9" })
      .nextItems()
      .catch((e) => e);
    expect(down).toBeInstanceOf(ConnectionError);
    expect(down.message).toContain("http://127.0.0.1:9");
  });

  test("config from WRENN_API_KEY / WRENN_API_URL when no options are given", async () => {
    const saved = { key: process.env.WRENN_API_KEY, url: process.env.WRENN_API_URL };
    process.env.WRENN_API_KEY = opts.apiKey;
    process.env.WRENN_API_URL = stack.url;
    try {
      const ids = (await Sandbox.list().nextItems()).map((s) => s.sandboxId);
      expect(ids).toContain(sbx.sandboxId);
    } finally {
      restore("WRENN_API_KEY", saved.key);
      restore("WRENN_API_URL", saved.url);
    }
  });

  test("kill: gone for envd and the API", async () => {
    expect(await sbx.kill()).toBe(true);
    expect(await sbx.isRunning()).toBe(false);
    expect((await Sandbox.getInfo(sbx.sandboxId, opts)).state).toBe("stopped");
    await expect(sbx.commands.run("true")).rejects.toBeInstanceOf(SandboxError);
    expect(await Sandbox.kill("sb-00000000", opts)).toBe(false);
  });
});

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
