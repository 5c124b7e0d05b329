import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { summary } from "./sandbox-cp.js";
import { extractTar, LONG_HEADER_MAX_BYTES } from "./sandbox-cp-disk.js";
import { newTally } from "./sandbox-cp-tree.js";

// The tar of a failed sandbox's disk, as the host's reader (busybox tar) or GNU tar writes it,
// read by the CLI: real archives made by the system's tar, hand-made ones for what tar never
// writes on its own (a huge name header, a missing end block).

describe("the CLI's reader of a failed sandbox's tar", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "wrenn-cp-disk-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The tar of `name` under `parent`, as the reader makes it (`-C parent -cf - -- name`). */
  const tarOf = (parent: string, name: string) =>
    execFileSync("tar", ["--numeric-owner", "-C", parent, "-cf", "-", "--", name], {
      maxBuffer: 64 * 1024 * 1024,
    });
  const extract = (tar: Buffer, remote: string, local: string) =>
    extractTar(Readable.from([tar]), "sbx", remote, local, newTally());

  test("a tree's top entry becomes the target directory", async () => {
    await mkdir(join(dir, "src", "out", "sub"), { recursive: true });
    await writeFile(join(dir, "src", "out", "sub", "a.txt"), "hello");
    await extract(tarOf(join(dir, "src"), "out"), "/home/user/out", join(dir, "copy"));
    expect(await readFile(join(dir, "copy", "sub", "a.txt"), "utf8")).toBe("hello");
  });

  test("-r of a file writes the file at the target, with no directory made for it", async () => {
    await mkdir(join(dir, "src"));
    await writeFile(join(dir, "src", "a.txt"), "just a file");
    const target = join(dir, "copy.txt");
    await extract(tarOf(join(dir, "src"), "a.txt"), "/home/user/a.txt", target);
    expect((await stat(target)).isFile()).toBe(true);
    expect(await readFile(target, "utf8")).toBe("just a file");
    expect((await readdir(dir)).sort()).toEqual(["copy.txt", "src"]);
  });

  test("a stream ending at a header boundary without the end block was cut", async () => {
    await mkdir(join(dir, "src", "d"), { recursive: true });
    await writeFile(join(dir, "src", "d", "a.txt"), "x".repeat(700));
    const whole = tarOf(join(dir, "src"), "d");
    // d/'s header, then a.txt's header and two data blocks; the rest is the end block.
    const cut = whole.subarray(0, 512 * 4);
    await expect(extract(cut, "/d", join(dir, "cut"))).rejects.toThrow(/end block/);
    await expect(extract(whole, "/d", join(dir, "whole"))).resolves.toBeUndefined();
    expect(await readFile(join(dir, "whole", "a.txt"), "utf8")).toBe("x".repeat(700));
  });

  test("a long-name header past 1 MiB is refused before it is read", async () => {
    const header = Buffer.alloc(512);
    header.write("././@LongLink", 0);
    header.write(`${(LONG_HEADER_MAX_BYTES + 1).toString(8).padStart(11, "0")}\0`, 124);
    header.write("L", 156);
    // Only the header: were it read, the stream would end early with another message.
    await expect(extract(header, "/x", join(dir, "x"))).rejects.toThrow(/name header/);
    expect(await readdir(dir)).toEqual([]);
  });

  test("skipped names are printed quoted and escaped: no terminal escapes get through", () => {
    const tally = newTally();
    tally.skipped.push("sbx:/home/user/\u001b]0;owned\u0007link");
    const line = summary(tally, "sbx:/home/user", "here");
    expect(line).not.toContain("\u001b");
    expect(line).not.toContain("\u0007");
    expect(line).toContain('"sbx:/home/user/\\u001b]0;owned\\u0007link"');
  });
});
