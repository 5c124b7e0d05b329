import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { FileNotFoundError, FilesystemEventType, FileType, type Sandbox } from "e2b";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type EnvdWorld,
  initEnvd,
  openEnvd,
  type RunningEnvd,
  sdkSandbox,
} from "./testing/envd-harness.js";

// The official E2B SDK as the client: files. What envd did is checked in its own world (the
// host, or the sandbox through runsc exec), never through envd.

let world: EnvdWorld;
let envd: RunningEnvd;
let sbx: Sandbox;
let dir: string;

beforeAll(async () => {
  ({ world, envd } = await openEnvd());
  sbx = sdkSandbox(envd);
  dir = await world.scratchDir("envd-files-", envd.defaultUser);
});

afterAll(async () => {
  await world?.close();
});

describe("files via the E2B SDK", () => {
  test("write and read text (multipart), creating parent directories", async () => {
    const path = join(dir, "a/b/c.txt");
    const info = await sbx.files.write(path, "héllo wörld");
    expect(info).toMatchObject({ name: "c.txt", path, type: "file" });
    expect(await sbx.files.read(path)).toBe("héllo wörld");
    expect((await world.stat(join(dir, "a/b")))?.isDirectory).toBe(true);
  });

  test("write and read bytes; overwrite replaces content", async () => {
    const path = join(dir, "bytes.bin");
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7) % 256);
    await sbx.files.write(path, bytes.buffer as ArrayBuffer);
    const back = await sbx.files.read(path, { format: "bytes" });
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
    await sbx.files.write(path, "short");
    expect(await sbx.files.read(path)).toBe("short");
  });

  test("octet-stream upload and gzip both ways", async () => {
    const path = join(dir, "octet.txt");
    await sbx.files.write(path, "raw body", { useOctetStream: true });
    expect(await world.readText(path)).toBe("raw body");
    const big = "gzip me ".repeat(50_000);
    await sbx.files.write(path, big, { gzip: true });
    expect(await world.readText(path)).toBe(big);
    expect(await sbx.files.read(path, { gzip: true })).toBe(big);
    // And on the wire: the server really answers gzip when asked.
    const res = await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}`, {
      headers: { "accept-encoding": "gzip" },
    });
    expect(res.headers.get("content-encoding")).toBe("gzip");
    const raw = Buffer.from(await res.arrayBuffer());
    // fetch decodes gzip itself; either way the content must be the same text.
    const text = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString() : raw.toString();
    expect(text).toBe(big);
  });

  test("a gzip-encoded octet-stream upload sent by hand", async () => {
    const path = join(dir, "hand.gz.txt");
    const res = await fetch(`${envd.url}/files?path=${encodeURIComponent(path)}`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "content-encoding": "gzip" },
      body: gzipSync(Buffer.from("compressed upload")),
    });
    expect(res.status).toBe(200);
    expect(await world.readText(path)).toBe("compressed upload");
  });

  test("writeFiles uploads several files in one multipart request", async () => {
    const infos = await sbx.files.write([
      { path: join(dir, "multi/one.txt"), data: "1" },
      { path: join(dir, "multi/two.txt"), data: "2" },
    ]);
    expect(infos.map((i) => i.name).sort()).toEqual(["one.txt", "two.txt"]);
    expect(await world.readText(join(dir, "multi/two.txt"))).toBe("2");
  });

  test("reading a missing file throws FileNotFoundError", async () => {
    await expect(sbx.files.read(join(dir, "missing.txt"))).rejects.toBeInstanceOf(
      FileNotFoundError,
    );
  });

  test("list: absolute paths, root excluded, depth-first lexical order, depth limit", async () => {
    const root = join(dir, "tree");
    for (const p of ["b/inner/deep.txt", "a.txt", "b/x.txt", "c/y.txt"]) {
      await sbx.files.write(join(root, p), p);
    }
    const one = await sbx.files.list(root);
    expect(one.map((e) => e.path)).toEqual([join(root, "a.txt"), join(root, "b"), join(root, "c")]);
    const two = await sbx.files.list(root, { depth: 2 });
    expect(two.map((e) => e.path)).toEqual([
      join(root, "a.txt"),
      join(root, "b"),
      join(root, "b/inner"),
      join(root, "b/x.txt"),
      join(root, "c"),
      join(root, "c/y.txt"),
    ]);
    const three = await sbx.files.list(root, { depth: 3 });
    expect(three.some((e) => e.path === join(root, "b/inner/deep.txt"))).toBe(true);
    expect(one[1]?.type).toBe(FileType.DIR);
  });

  test("relative paths resolve against the user's home", async () => {
    const name = `envd-rel-${process.pid}.txt`;
    try {
      await sbx.files.write(name, "home");
      expect(await world.readText(join(envd.home, name))).toBe("home");
      expect((await sbx.files.getInfo(name)).path).toBe(join(envd.home, name));
    } finally {
      await world.remove(join(envd.home, name));
    }
  });

  test("exists, getInfo (permissions, owner, symlink target)", async () => {
    const file = join(dir, "info.txt");
    await world.writeFile(file, "12345", 0o640);
    expect(await sbx.files.exists(file)).toBe(true);
    expect(await sbx.files.exists(join(dir, "nope"))).toBe(false);
    const info = await sbx.files.getInfo(file);
    expect(info).toMatchObject({
      name: "info.txt",
      type: FileType.FILE,
      size: 5,
      mode: 0o640,
      permissions: "-rw-r-----",
      owner: "root",
      group: "root",
    });
    const link = join(dir, "link-to-info");
    await world.symlink(file, link);
    const linkInfo = await sbx.files.getInfo(link);
    expect(linkInfo.symlinkTarget).toBe(file);
    expect(linkInfo.type).toBe(FileType.FILE);
    expect(linkInfo.permissions).toBe("Lrwxrwxrwx");
    const dirInfo = await sbx.files.getInfo(dir);
    expect(dirInfo.type).toBe(FileType.DIR);
    expect(dirInfo.permissions.startsWith("d")).toBe(true);
  });

  test("makeDir: true when created, false when it already exists", async () => {
    const path = join(dir, "made/deeper");
    expect(await sbx.files.makeDir(path)).toBe(true);
    expect((await world.stat(path))?.isDirectory).toBe(true);
    expect(await sbx.files.makeDir(path)).toBe(false);
  });

  test("rename moves a file; renaming a missing file is FileNotFoundError", async () => {
    const from = join(dir, "from.txt");
    await world.writeFile(from, "moving");
    const info = await sbx.files.rename(from, join(dir, "to/dest.txt"));
    expect(info.path).toBe(join(dir, "to/dest.txt"));
    expect(await world.readText(join(dir, "to/dest.txt"))).toBe("moving");
    await expect(sbx.files.rename(from, join(dir, "x.txt"))).rejects.toBeInstanceOf(
      FileNotFoundError,
    );
  });

  test("remove deletes files and trees; removing a missing path is fine", async () => {
    const tree = join(dir, "gone");
    await sbx.files.write(join(tree, "x/y.txt"), "y");
    await sbx.files.remove(tree);
    expect(await sbx.files.exists(tree)).toBe(false);
    await sbx.files.remove(tree);
  });

  test("files written for another user belong to that user", async () => {
    // A directory anyone may write to (like /tmp): `nobody` has no rights in the others.
    const shared = await world.scratchDir("envd-shared-", "root");
    await world.run(`chmod 1777 ${shared}`);
    const path = join(shared, "owned/by-nobody.txt");
    await sbx.files.write(path, "mine", { user: "nobody" as never });
    const nobody = await world.stat(path);
    expect(nobody?.owner).toBe("nobody");
    expect(nobody?.uid).not.toBe(0);
    expect((await world.stat(join(shared, "owned")))?.uid).toBe(nobody?.uid);
    expect((await sbx.files.getInfo(path)).owner).toBe("nobody");
  });

  test("file operations have the requesting user's Unix rights; root keeps root's", async () => {
    const locked = await world.scratchDir("envd-rights-", "root");
    await world.run(
      `mkdir -p ${locked}/inner && echo secret > ${locked}/secret && chmod 600 ${locked}/secret && chmod 755 ${locked} && echo shared > ${locked}/shared && chown -R root:root ${locked} && chmod 700 ${locked}/inner`,
    );
    const asNobody = { user: "nobody" as never };
    const refusals: [string, () => Promise<unknown>][] = [
      ["read a 0600 root file", () => sbx.files.read(join(locked, "secret"), asNobody)],
      ["overwrite a root file", () => sbx.files.write(join(locked, "shared"), "x", asNobody)],
      ["create in a root dir", () => sbx.files.write(join(locked, "new"), "x", asNobody)],
      ["makeDir in a root dir", () => sbx.files.makeDir(join(locked, "d"), asNobody)],
      ["remove a root file", () => sbx.files.remove(join(locked, "shared"), asNobody)],
      [
        "rename a root file",
        () => sbx.files.rename(join(locked, "shared"), join(locked, "s2"), asNobody),
      ],
      ["list a 0700 dir", () => sbx.files.list(join(locked, "inner"), asNobody)],
      ["stat below a 0700 dir", () => sbx.files.getInfo(join(locked, "inner/x"), asNobody)],
      ["watch a 0700 dir", () => sbx.files.watchDir(join(locked, "inner"), () => {}, asNobody)],
    ];
    for (const [what, call] of refusals) {
      await expect(call(), what).rejects.toThrow(/permission denied|403/i);
    }
    // Nothing changed; what `nobody` may do still works; root may do all of it.
    expect(await world.readText(join(locked, "shared"))).toBe("shared\n");
    expect(await sbx.files.read(join(locked, "shared"), asNobody)).toBe("shared\n");
    const asRoot = { user: "root" as never };
    expect(await sbx.files.read(join(locked, "secret"), asRoot)).toBe("secret\n");
    await sbx.files.write(join(locked, "new"), "by root", asRoot);
    expect((await world.stat(join(locked, "new")))?.owner).toBe("root");
    expect((await sbx.files.list(join(locked, "inner"), asRoot)).length).toBe(0);
    await sbx.files.remove(join(locked, "new"), asRoot);
  });

  test("a directory swapped for a symlink mid-call never shows what the user may not see", async () => {
    const base = await world.scratchDir("envd-swap-", "root");
    await world.run(
      `mkdir ${base}/locked && touch ${base}/locked/root-secret-name && chmod 700 ${base}/locked && chmod 777 ${base}`,
    );
    // What a process in the sandbox can do: flip a path between a directory the caller may
    // list and a symlink into one it may not, as fast as it can.
    const flipper = await sbx.commands.run(
      `cd ${base} && while true; do mkdir flip 2>/dev/null; rmdir flip 2>/dev/null; ln -s locked flip 2>/dev/null; rm -f flip; done`,
      { background: true, user: "root" as never },
    );
    const asNobody = { user: "nobody" as never };
    const outcomes = new Set<string>();
    try {
      // Until both kinds of answer came (at least 15 calls, at most 40): the flipper burns a
      // core of the machine's two while it runs.
      for (let i = 0; i < 40 && (i < 15 || outcomes.size < 2); i++) {
        const answer = await sbx.files.list(join(base, "flip"), asNobody).then(
          (entries) => ({ listed: entries.map((e) => e.name).join(",") }),
          (error: unknown) => ({ refused: String(error) }),
        );
        expect(JSON.stringify(answer)).not.toContain("root-secret-name");
        if ("listed" in answer) outcomes.add("listed");
        else outcomes.add(/permission denied/i.test(answer.refused) ? "refused" : "missing");
        // Its existence is not the caller's to learn either.
        await expect(
          sbx.files.getInfo(join(base, "flip/root-secret-name"), asNobody),
        ).rejects.toThrow();
      }
    } finally {
      await flipper.kill();
    }
    // The flip was really racing the calls (else this test could not fail).
    expect(outcomes.size, [...outcomes].join()).toBeGreaterThan(1);
  });

  test("a watched path swapped for a symlink mid-call never shows names the user may not see", async () => {
    const base = await world.scratchDir("envd-watch-swap-", "root");
    await world.run(
      `mkdir -p ${base}/locked/sub && chmod 700 ${base}/locked && chmod 777 ${base}/locked/sub && chmod 777 ${base}`,
    );
    // Root keeps naming files in a directory only root may reach, while `flip` turns between
    // a directory `nobody` may watch (flip/sub) and a symlink into the root-only one: a check
    // as the user followed by a watch as root would end up watching locked/sub.
    const busy = await sbx.commands.run(
      `cd ${base}/locked/sub && i=0; while true; do i=$((i+1)); touch root-secret-$i; rm -f root-secret-$i; done`,
      { background: true, user: "root" as never },
    );
    const flipper = await sbx.commands.run(
      `cd ${base} && while true; do mkdir -p flip/sub 2>/dev/null; chmod 777 flip/sub; rm -rf flip; ln -s locked flip 2>/dev/null; rm -f flip; done`,
      { background: true, user: "root" as never },
    );
    const asNobody = { user: "nobody" as never };
    const seen: string[] = [];
    const outcomes = new Set<string>();
    try {
      // Until both kinds of answer came (at least 12 watches, at most 30), as above.
      for (let i = 0; i < 30 && (i < 12 || outcomes.size < 2); i++) {
        const handle = await sbx.files
          .watchDir(join(base, "flip/sub"), (event) => void seen.push(event.name), {
            ...asNobody,
            onExit: () => {},
          })
          .catch((error: unknown) => {
            outcomes.add(/permission denied/i.test(String(error)) ? "refused" : "other");
            return undefined;
          });
        if (handle) {
          outcomes.add("watched");
          await new Promise((resolve) => setTimeout(resolve, 200));
          await handle.stop();
        }
      }
    } finally {
      await flipper.kill();
      await busy.kill();
    }
    expect(seen.filter((name) => name.includes("root-secret"))).toEqual([]);
    // The flip was really racing the watches (else this test could not fail).
    expect(outcomes.size, [...outcomes].join()).toBeGreaterThan(1);
  });

  test("metadata: set by upload, returned by getInfo and list, replaced on overwrite", async () => {
    const path = join(dir, "meta/file.txt");
    const written = await sbx.files.write(path, "m", { metadata: { Owner: "alice", tag: "v1" } });
    expect(written.metadata).toEqual({ owner: "alice", tag: "v1" });
    expect((await sbx.files.getInfo(path)).metadata).toEqual({ owner: "alice", tag: "v1" });
    const listed = await sbx.files.list(join(dir, "meta"));
    expect(listed[0]?.metadata).toEqual({ owner: "alice", tag: "v1" });
    await sbx.files.rename(path, join(dir, "meta/renamed.txt"));
    expect((await sbx.files.getInfo(join(dir, "meta/renamed.txt"))).metadata).toEqual({
      owner: "alice",
      tag: "v1",
    });
    await sbx.files.write(join(dir, "meta/renamed.txt"), "again");
    const after = (await sbx.files.getInfo(join(dir, "meta/renamed.txt"))).metadata;
    expect(after === undefined || Object.keys(after).length === 0).toBe(true);
    await expect(sbx.files.write(path, "bad", { metadata: { key: "caf\u00e9" } })).rejects.toThrow(
      /metadata/,
    );
  });

  test("metadata: a removed file's metadata never shows on the next file (inode reuse)", async () => {
    const base = join(dir, "meta-rm");
    for (let i = 0; i < 20; i++) {
      const path = join(base, `f${i}`);
      await sbx.files.write(path, "x", { metadata: { round: String(i) } });
      await sbx.files.remove(i % 2 === 0 ? path : base);
      const fresh = await sbx.files.write(path, "y");
      const info = await sbx.files.getInfo(fresh.path);
      expect(info.metadata === undefined || Object.keys(info.metadata).length === 0).toBe(true);
    }
  });

  test("watchDir reports create, write, chmod, rename and remove", async () => {
    const watched = join(dir, "watched");
    await sbx.files.makeDir(watched);
    const events: { type: FilesystemEventType; name: string }[] = [];
    let notify = () => {};
    const handle = await sbx.files.watchDir(watched, (event) => {
      events.push({ type: event.type, name: event.name });
      notify();
    });
    const waitFor = (type: FilesystemEventType, name: string) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (events.some((e) => e.type === type && e.name === name)) resolve();
        };
        const previous = notify;
        notify = () => {
          previous();
          check();
        };
        check();
      });
    await sbx.files.write(join(watched, "f.txt"), "one");
    await waitFor(FilesystemEventType.CREATE, "f.txt");
    await sbx.files.write(join(watched, "f.txt"), "two");
    await waitFor(FilesystemEventType.WRITE, "f.txt");
    await sbx.commands.run(`chmod 600 ${join(watched, "f.txt")}`);
    await waitFor(FilesystemEventType.CHMOD, "f.txt");
    await sbx.files.rename(join(watched, "f.txt"), join(watched, "g.txt"));
    await waitFor(FilesystemEventType.RENAME, "f.txt");
    await waitFor(FilesystemEventType.CREATE, "g.txt");
    await sbx.files.remove(join(watched, "g.txt"));
    await waitFor(FilesystemEventType.REMOVE, "g.txt");
    await handle.stop();
  });

  test("watchDir recursive sees nested files, including in directories made later", async () => {
    const watched = join(dir, "rwatch");
    await sbx.files.makeDir(join(watched, "existing"));
    const seen: string[] = [];
    let notify = () => {};
    const handle = await sbx.files.watchDir(
      watched,
      (event) => {
        seen.push(`${event.type}:${event.name}`);
        notify();
      },
      { recursive: true },
    );
    const waitFor = (key: string) =>
      new Promise<void>((resolve) => {
        notify = () => {
          if (seen.includes(key)) resolve();
        };
        notify();
      });
    await sbx.files.write(join(watched, "existing/a.txt"), "a");
    await waitFor(`${FilesystemEventType.WRITE}:existing/a.txt`);
    await sbx.files.makeDir(join(watched, "later"));
    await waitFor(`${FilesystemEventType.CREATE}:later`);
    await sbx.files.write(join(watched, "later/b.txt"), "b");
    await waitFor(`${FilesystemEventType.WRITE}:later/b.txt`);
    await handle.stop();
  });

  test("a killed watch helper ends the watch with an error the SDK hands to onExit", async () => {
    // wrenn-inotify runs as the requesting user, so that user's other processes can kill it:
    // the watch must then end with an error, never go quiet for good.
    const watched = join(dir, `killed-watch-${Date.now()}`);
    await sbx.files.makeDir(watched);
    let exited: ((err?: Error) => void) | undefined;
    const ended = new Promise<Error | undefined>((resolve) => {
      exited = resolve;
    });
    const handle = await sbx.files.watchDir(watched, () => {}, { onExit: (err) => exited?.(err) });
    // Its pid by its arguments (this watch's own directory; "[w]" keeps the shell itself out).
    await world.run(
      `for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' ' | grep -q "[w]renn-inotify ${watched}" && kill -9 \${p#/proc/}; done; true`,
    );
    const err = await ended;
    expect(err).toBeInstanceOf(Error);
    expect(String(err?.message)).toMatch(/watcher was killed \(SIGKILL\)/);
    await handle.stop();
  });

  test("watchDir on a missing directory fails clearly", async () => {
    await expect(sbx.files.watchDir(join(dir, "no-such-dir"), () => {})).rejects.toThrow(
      /not found/,
    );
  });
});

describe("signed URLs via the E2B SDK", () => {
  test("downloadUrl and uploadUrl work without the header, only with a valid signature", async () => {
    const token = "signing-token-123";
    const secured = await world.spawnEnvd();
    try {
      expect((await initEnvd(secured, { accessToken: token })).status).toBe(204);
      const s = sdkSandbox(secured, token);
      const path = join(dir, "signed.txt");

      const upload = await s.uploadUrl(path);
      const form = new FormData();
      form.append("file", new Blob(["via signed url"]), path);
      const up = await fetch(upload, { method: "POST", body: form });
      expect(up.status).toBe(200);
      expect(await world.readText(path)).toBe("via signed url");

      const download = await s.downloadUrl(path, { useSignatureExpiration: 60 });
      const down = await fetch(download);
      expect(down.status).toBe(200);
      expect(await down.text()).toBe("via signed url");

      // Tampering with the path, the operation or the expiry breaks the signature.
      const tampered = new URL(download);
      tampered.searchParams.set("path", join(dir, "other.txt"));
      expect((await fetch(tampered)).status).toBe(401);
      const asWrite = new URL(download);
      expect((await fetch(asWrite, { method: "POST", body: form })).status).toBe(401);
      const expired = new URL(download);
      expired.searchParams.set("signature_expiration", "1");
      expect((await fetch(expired)).status).toBe(401);
      const bare = new URL(download);
      bare.searchParams.delete("signature");
      expect((await fetch(bare)).status).toBe(401);

      // A part without a file name (a plain form field named "file"), as E2B's envd takes it.
      const noName = await s.uploadUrl(join(dir, "signed-noname.bin"));
      const boundary = "wrenn-boundary";
      const bytes = Buffer.from([0, 255, 128, 10, 13, 0x41]);
      const raw = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="file"\r\n\r\n`,
          "latin1",
        ),
        bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`, "latin1"),
      ]);
      const plain = await fetch(noName, {
        method: "POST",
        headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
        body: raw,
      });
      expect(plain.status).toBe(200);
      expect(await plain.json()).toMatchObject([
        { name: "signed-noname.bin", type: "file", path: join(dir, "signed-noname.bin") },
      ]);
      expect(
        Buffer.from(await s.files.read(join(dir, "signed-noname.bin"), { format: "bytes" })),
      ).toEqual(bytes);

      // The SDK itself, which sends the token as a header, still reads and writes.
      await s.files.write(path, "with header");
      expect(await s.files.read(path)).toBe("with header");
    } finally {
      await secured.stop();
    }
  });
});
