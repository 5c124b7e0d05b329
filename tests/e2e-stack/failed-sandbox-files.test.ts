import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isolatedEnv, wrenn } from "../cli/wrenn-cli.js";
import { waitFor } from "../harness/wait.js";
import { killSandboxRuntime, processesWith } from "./kill-runtime.js";
import { Stack, type UserKey } from "./stack.js";

// A sandbox that died keeps its disk, and its owner gets its files out: /v1 files and archive
// and the CLI read it through a read-only gVisor container on the host (never the agent
// walking the tree as root). Links planted in the sandbox resolve inside it, never on the
// host. Real stack: control plane, host agent, runsc, envd.

describe("files of a failed sandbox (real agent and runsc)", () => {
  let stack: Stack;
  let user: UserKey;
  let other: UserKey;
  let id: string;
  let hostDir: string;
  let marker: string;
  /** What the sandbox held, read by itself while it ran. */
  const before: Record<string, Buffer> = {};

  beforeAll(async () => {
    stack = await Stack.start({ poolSize: 0 });
    user = await stack.key({ name: "rescue" });
    other = await stack.key({ name: "someone else" });
    // A file on the host that a link in the sandbox names: it must never come back.
    hostDir = await mkdtemp(join(tmpdir(), "wrenn-rescue-host-"));
    marker = `HOST-MARKER-${randomBytes(8).toString("hex")}`;
    await writeFile(join(hostDir, "marker"), marker);

    const created = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(created.status, created.text).toBe(201);
    id = (created.body as { id: string }).id;
    const setup = await exec(
      [
        "set -e",
        "mkdir -p ~/out/sub/deeper",
        "echo 'hello from a doomed sandbox' > ~/out/a.txt",
        "head -c 300000 /dev/urandom > ~/out/sub/blob.bin",
        "printf 'x%.0s' $(seq 1 70000) > ~/out/sub/deeper/big.txt",
        "ln -s /etc/shadow ~/out/shadow",
        "ln -s / ~/out/root",
        `ln -s ${hostDir}/marker ~/out/marker`,
        `ln -s ${hostDir} ~/out/hostdir`,
        "echo on-disk-tmp > /tmp/kept.txt",
      ].join("\n"),
    );
    expect(setup.status, setup.text).toBe(200);
    for (const p of [
      "/home/user/out/a.txt",
      "/home/user/out/sub/blob.bin",
      "/home/user/out/sub/deeper/big.txt",
      "/etc/shadow",
      "/tmp/kept.txt",
    ]) {
      const r = await exec(`base64 -w0 ${p}`, "root");
      expect(r.status, r.text).toBe(200);
      before[p] = Buffer.from((r.body as { stdout: string }).stdout, "base64");
    }
    expect(before["/etc/shadow"]!.toString()).not.toContain(marker);
    // The image's own cat and tar are the tenant's: doctored here, the reads below must still
    // return the right bytes, so they prove the host's reader runs, never these.
    const doctor = await exec(
      [
        "set -e",
        "for f in /usr/bin/tar /bin/tar /usr/bin/cat /bin/cat; do",
        "  if [ -e $f ]; then printf '#!/bin/sh\\necho DOCTORED\\nexit 1\\n' > $f; fi",
        "done",
        "cat /etc/hostname || true",
        "tar --version || true",
      ].join("\n"),
      "root",
    );
    expect(doctor.status, doctor.text).toBe(200);
    expect((doctor.body as { stdout: string }).stdout).toBe("DOCTORED\nDOCTORED\n");
    await killSandboxRuntime(stack, id);
    await waitFor(
      async () => (await get(id)).state === "error",
      180_000,
      `sandbox ${id} to read error after its runtime was killed`,
    );
  });
  afterAll(async () => {
    await stack?.close();
    if (hostDir) await rm(hostDir, { recursive: true, force: true });
  });

  const exec = (command: string, as?: string) =>
    stack.call("POST", `/v1/sandboxes/${id}/exec`, {
      key: user.key,
      body: { command, timeoutSeconds: 120, ...(as ? { user: as } : {}) },
    });
  const get = async (sid: string) =>
    (await stack.call("GET", `/v1/sandboxes/${sid}`, { key: user.key })).body as {
      state: string;
    };
  const raw = (path: string, key = user.key) =>
    fetch(`${stack.url}${path}`, { headers: { "x-api-key": key } });
  /**
   * A read once the sandbox is free: files_read_busy is retryable, and a read that just ended
   * frees the sandbox only once its reader container is removed (seconds on a busy host).
   */
  const rawWhenFree = async (path: string) => {
    let r = await raw(path);
    await waitFor(
      async () => {
        if (r.status !== 409) return true;
        const body = (await r.json()) as { error: { code: string } };
        if (body.error.code !== "files_read_busy") return true;
        r = await raw(path);
        return r.status !== 409;
      },
      120_000,
      `the sandbox to be free for a read of ${path}`,
    );
    return r;
  };

  const readerProcesses = () => processesWith([join(stack.dataDir, "agent", "runsc-rescue")]);

  test("a file comes back byte for byte, by absolute or home-relative path, /tmp included", async () => {
    for (const [query, p] of [
      ["/home/user/out/a.txt", "/home/user/out/a.txt"],
      ["out/sub/blob.bin", "/home/user/out/sub/blob.bin"],
      ["/home/user/out/sub/deeper/big.txt", "/home/user/out/sub/deeper/big.txt"],
      ["/tmp/kept.txt", "/tmp/kept.txt"],
    ] as const) {
      const r = await raw(`/v1/sandboxes/${id}/files?path=${encodeURIComponent(query)}`);
      expect(r.status, query).toBe(200);
      expect(Buffer.from(await r.arrayBuffer()).equals(before[p]!), query).toBe(true);
    }
  });

  test("links resolve inside the sandbox: its own /etc/shadow, never the host's files", async () => {
    const shadow = await raw(`/v1/sandboxes/${id}/files?path=/home/user/out/shadow`);
    expect(shadow.status).toBe(200);
    expect(Buffer.from(await shadow.arrayBuffer()).equals(before["/etc/shadow"]!)).toBe(true);

    // The host file exists on the host, not in the sandbox: not found, never the marker.
    for (const p of ["/home/user/out/marker", "/home/user/out/hostdir/marker"]) {
      const r = await raw(`/v1/sandboxes/${id}/files?path=${encodeURIComponent(p)}`);
      const text = await r.text();
      expect(r.status, p).toBe(404);
      expect(JSON.parse(text)).toMatchObject({ error: { code: "file_not_found" } });
      expect(text).not.toContain(marker);
    }
    // Through the link to "/": the sandbox's root, whose /etc/shadow is its own.
    const viaRoot = await raw(`/v1/sandboxes/${id}/files?path=/home/user/out/root/etc/shadow`);
    expect(viaRoot.status).toBe(200);
    expect(Buffer.from(await viaRoot.arrayBuffer()).equals(before["/etc/shadow"]!)).toBe(true);
  });

  test("a directory tree comes back as a tar: files identical, links stored as links", async () => {
    const r = await raw(`/v1/sandboxes/${id}/archive?path=/home/user/out`);
    expect(
      r.status,
      await r
        .clone()
        .text()
        .catch(() => ""),
    ).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/x-tar");
    const tar = Buffer.from(await r.arrayBuffer());
    expect(tar.includes(Buffer.from(marker))).toBe(false);
    const dir = await mkdtemp(join(tmpdir(), "wrenn-rescue-tar-"));
    try {
      await writeFile(join(dir, "out.tar"), tar);
      const listing = execFileSync("tar", ["-tvf", join(dir, "out.tar")], { encoding: "utf8" });
      expect(listing).toMatch(/out\/shadow -> \/etc\/shadow/);
      expect(listing).toMatch(/out\/root -> \/\n/);
      expect(listing).toMatch(new RegExp(`out/hostdir -> ${hostDir}`));
      await mkdir(join(dir, "x"));
      execFileSync("tar", ["-xf", join(dir, "out.tar"), "-C", join(dir, "x")]);
      for (const p of ["a.txt", "sub/blob.bin", "sub/deeper/big.txt"]) {
        const got = await readFile(join(dir, "x", "out", p));
        expect(got.equals(before[`/home/user/out/${p}`]!), p).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the CLI copies a file and a tree out, saying it reads a stopped sandbox's disk", async () => {
    const env = await isolatedEnv({ WRENN_API_URL: stack.url, WRENN_API_KEY: user.key });
    const dir = await mkdtemp(join(tmpdir(), "wrenn-rescue-cli-"));
    try {
      const one = await wrenn(["sandbox", "cp", `${id}:/home/user/out/sub/blob.bin`, dir], {
        env,
      });
      expect(one.code, one.stderr).toBe(0);
      expect(one.stderr).toMatch(/stopped sandbox's disk/);
      expect(
        (await readFile(join(dir, "blob.bin"))).equals(before["/home/user/out/sub/blob.bin"]!),
      ).toBe(true);

      const tree = await wrenn(["sandbox", "cp", "-r", `${id}:/home/user/out`, join(dir, "tree")], {
        env,
      });
      expect(tree.code, tree.stderr).toBe(0);
      expect(tree.stderr).toMatch(/stopped sandbox's disk/);
      for (const p of ["a.txt", "sub/blob.bin", "sub/deeper/big.txt"]) {
        const got = await readFile(join(dir, "tree", p));
        expect(got.equals(before[`/home/user/out/${p}`]!), p).toBe(true);
      }
      // Links are skipped and named, as for a running sandbox; nothing of the host came along.
      expect(tree.stdout).toMatch(/skipped 4 link/);
      expect((await readdir(join(dir, "tree"))).sort()).toEqual(["a.txt", "sub"]);

      // -r of a file: the file itself at the target, no directory made for it.
      const file = await wrenn(
        ["sandbox", "cp", "-r", `${id}:/home/user/out/a.txt`, join(dir, "one.txt")],
        { env },
      );
      expect(file.code, file.stderr).toBe(0);
      expect((await readFile(join(dir, "one.txt"))).equals(before["/home/user/out/a.txt"]!)).toBe(
        true,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("only its owner reads it; bad paths are 400; a directory is not a file", async () => {
    for (const route of ["files", "archive"]) {
      const r = await raw(`/v1/sandboxes/${id}/${route}?path=/home/user/out/a.txt`, other.key);
      expect(r.status, route).toBe(404);
      expect(await r.json()).toMatchObject({ error: { code: "sandbox_not_found" } });
    }
    for (const query of ["", "?path=", "?path=%00", `?path=${"a".repeat(5000)}`]) {
      for (const route of ["files", "archive"]) {
        const r = await raw(`/v1/sandboxes/${id}/${route}${query}`);
        expect(r.status, `${route}${query.slice(0, 20)}`).toBe(400);
        expect(await r.json()).toMatchObject({ error: { code: expect.any(String) } });
      }
    }
    const dir = await rawWhenFree(`/v1/sandboxes/${id}/files?path=/home/user/out`);
    expect(dir.status).toBe(400);
    const missing = await rawWhenFree(`/v1/sandboxes/${id}/archive?path=/home/user/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: "file_not_found" } });
    // The E2B routes through envd stay refused: its SDK cannot use a dead sandbox.
    const e2b = await stack.call("GET", `/sandboxes/${id}`, { key: user.key });
    expect(e2b.status).toBe(404);
  });

  test("one read at a time; a read cut by its caller leaves no reader behind", async () => {
    const first = await rawWhenFree(`/v1/sandboxes/${id}/archive?path=/usr`);
    expect(first.status).toBe(200);
    const reader = first.body!.getReader();
    await reader.read(); // begun, and held: nothing more is read meanwhile
    const second = await raw(`/v1/sandboxes/${id}/archive?path=/home/user/out`);
    expect(second.status).toBe(409);
    const busy = (await second.json()) as { error: { code: string; message: string } };
    expect(busy.error.code).toBe("files_read_busy");
    expect(busy.error.message).toContain(id);
    expect(busy.error.message).not.toMatch(/[{}]/);
    expect(
      (await readerProcesses()).length,
      (await stack.agentLog())
        .split("\n")
        .filter((l) => l.includes("disk"))
        .join("\n"),
    ).toBeGreaterThan(0);
    await reader.cancel();
    await waitFor(
      async () => (await readerProcesses()).length === 0,
      60_000,
      "the cut read's container to be removed",
    );
    // files_read_busy is retryable: the cut read frees the sandbox as its cleanup ends (a
    // reader left behind would keep it busy for good).
    let third = await raw(`/v1/sandboxes/${id}/files?path=/home/user/out/a.txt`);
    await waitFor(
      async () => {
        if (third.status !== 409) return true;
        third = await raw(`/v1/sandboxes/${id}/files?path=/home/user/out/a.txt`);
        return third.status !== 409;
      },
      60_000,
      "the sandbox to be free for a new read",
    );
    expect(third.status).toBe(200);
    expect(Buffer.from(await third.arrayBuffer()).equals(before["/home/user/out/a.txt"]!)).toBe(
      true,
    );
  });

  test("a running sandbox's archive is refused; a destroyed one's files are gone (404)", async () => {
    const created = await stack.call("POST", "/v1/sandboxes", { key: user.key, body: {} });
    expect(created.status, created.text).toBe(201);
    const running = (created.body as { id: string }).id;
    const r = await raw(`/v1/sandboxes/${running}/archive?path=/home/user`);
    expect(r.status).toBe(409);
    expect((await stack.call("DELETE", `/v1/sandboxes/${running}`, { key: user.key })).status).toBe(
      204,
    );

    expect((await stack.call("DELETE", `/v1/sandboxes/${id}`, { key: user.key })).status).toBe(204);
    for (const route of ["files", "archive"]) {
      const gone = await raw(`/v1/sandboxes/${id}/${route}?path=/home/user/out/a.txt`);
      expect(gone.status, route).toBe(404);
    }
    expect(await readerProcesses()).toEqual([]);
  });
});
