import { lstat, mkdtemp, readFile, readlink, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { ContextTarError, contextDigest, readContext, unpackContext } from "./context-tar.js";

// Hand-made ustar entries: the archive is hostile input, so the test writes what a real tar
// tool would refuse to produce.
function entry(
  name: string,
  type: string,
  body = "",
  link = "",
  meta: { mode?: number; uid?: number; mtime?: number } = {},
): Buffer {
  const h = Buffer.alloc(512);
  const oct = (n: number, width: number) => `${n.toString(8).padStart(width, "0")}\0`;
  h.write(name, 0, 100);
  h.write(oct(meta.mode ?? 0o644, 7), 100);
  h.write(oct(meta.uid ?? 0, 7), 108);
  h.write("0000000\0", 116);
  h.write(`${Buffer.byteLength(body).toString(8).padStart(11, "0")}\0`, 124);
  h.write(oct(meta.mtime ?? 0, 11), 136);
  h.write("        ", 148);
  h.write(type, 156);
  h.write(link, 157, 100);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const data = Buffer.alloc(Math.ceil(Buffer.byteLength(body) / 512) * 512);
  data.write(body);
  return Buffer.concat([h, data]);
}
const tar = (...entries: Buffer[]) => Buffer.concat([...entries, Buffer.alloc(1024)]);

let dest: string;
beforeEach(async () => {
  dest = await mkdtemp(path.join(tmpdir(), "wrenn-ctx-test-"));
});
afterEach(async () => {
  await rm(dest, { recursive: true, force: true });
});
const me = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
const unpack = async (archive: Buffer, to: string, owner: typeof me, mode?: number) =>
  unpackContext(await readContext(archive), to, owner, mode);

describe("unpackContext", () => {
  test("a gzip bomb stops at the contract's bound, off the event loop", async () => {
    // gzip members concatenate: 17 copies of 64 MiB of zeros unpack past 1 GiB from ~1 MB.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 1 });
    const bomb = Buffer.concat(Array.from({ length: 17 }, () => member));
    await expect(unpack(bomb, dest, me)).rejects.toThrow(/unpacks to more than/);
  });

  test("a gzip header on something that is not gzip is a ContextTarError", async () => {
    const bad = Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]);
    await expect(unpack(bad, dest, me)).rejects.toBeInstanceOf(ContextTarError);
  });

  test("files, directories and links, gzip or not, with the given mode", async () => {
    const archive = tar(
      entry("app/", "5"),
      entry("app/main.sh", "0", "echo hi\n"),
      entry("app/link", "2", "", "/etc/passwd"),
    );
    await unpack(gzipSync(archive), dest, me, 0o750);
    expect(await readFile(path.join(dest, "app/main.sh"), "utf8")).toBe("echo hi\n");
    expect((await lstat(path.join(dest, "app/main.sh"))).mode & 0o777).toBe(0o750);
    // A link is kept as a link (it resolves inside the sandbox, never on the host).
    expect(await readlink(path.join(dest, "app/link"))).toBe("/etc/passwd");
  });

  test.each([
    ["a name climbing out", tar(entry("../escape", "0", "x"))],
    ["an absolute name", tar(entry("/etc/evil", "0", "x"))],
    [
      "a file under a link of the archive",
      tar(entry("l", "2", "", "/etc"), entry("l/evil", "0", "x")),
    ],
    ["a hard link", tar(entry("h", "1", "", "/etc/shadow"))],
    ["a device", tar(entry("d", "3"))],
    ["a truncated archive", entry("big", "0", "x".repeat(2000)).subarray(0, 600)],
  ])("refuses %s and writes nothing outside", async (_what, archive) => {
    await expect(unpack(archive, dest, me)).rejects.toBeInstanceOf(ContextTarError);
    await expect(lstat(path.join(dest, "..", "escape"))).rejects.toThrow();
  });
});

describe("contextDigest", () => {
  const digest = async (archive: Buffer) => contextDigest(await readContext(archive));
  const files = (meta: { mtime?: number; uid?: number } = {}, mode = 0o644, body = "echo hi\n") => [
    entry("app/", "5", "", "", { ...meta, mode: 0o755 }),
    entry("app/main.sh", "0", body, "", { ...meta, mode }),
    entry("app/link", "2", "", "main.sh", meta),
  ];

  test("a tar made again with other mtimes, owners, order, ./ names or gzip keys the same", async () => {
    const first = await digest(tar(...files({ mtime: 1_700_000_000 })));
    const [dir, file, link] = files({ mtime: 1_800_000_000, uid: 1000 });
    const again = tar(link as Buffer, file as Buffer, dir as Buffer);
    expect(await digest(gzipSync(again))).toBe(first);
    const dotted = tar(
      entry("./app/", "5", "", "", { mode: 0o755 }),
      entry("./app/main.sh", "0", "echo hi\n"),
      entry("./app/link", "2", "", "main.sh"),
    );
    expect(await digest(dotted)).toBe(first);
  });

  test("content, mode, path and link target each change it", async () => {
    const first = await digest(tar(...files()));
    expect(await digest(tar(...files({}, 0o644, "echo bye\n")))).not.toBe(first);
    expect(await digest(tar(...files({}, 0o755)))).not.toBe(first);
    const [dir, file] = files();
    expect(
      await digest(tar(dir as Buffer, file as Buffer, entry("app/link", "2", "", "other"))),
    ).not.toBe(first);
    expect(
      await digest(
        tar(
          dir as Buffer,
          entry("app/main2.sh", "0", "echo hi\n"),
          entry("app/link", "2", "", "main.sh"),
        ),
      ),
    ).not.toBe(first);
  });
});
