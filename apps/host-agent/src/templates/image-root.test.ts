import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ImageRootError, prepareImageRoot } from "./image-root.js";

// The root filesystem came from a registry and the agent is root: nothing in it may make the
// build write outside it.

let dir: string;
let rootfs: string;
let outside: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "wrenn-image-root-"));
  rootfs = path.join(dir, "rootfs");
  outside = path.join(dir, "host-file");
  await mkdir(rootfs);
  await writeFile(outside, "host: untouched\n");
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("prepareImageRoot", () => {
  it("an empty image gets root, user (uid 1000) with a home, mount points and /tmp", async () => {
    const config = await prepareImageRoot(
      rootfs,
      { Env: ["A=1"], WorkingDir: "/w", User: "" },
      () => {},
    );
    expect(config).toEqual({ env: ["A=1"], workdir: "/w", user: "user" });
    const passwd = await readFile(path.join(rootfs, "etc/passwd"), "utf8");
    expect(passwd).toContain("root:x:0:0:");
    expect(passwd).toContain("user:x:1000:1000::/home/user:/bin/sh");
    expect((await stat(path.join(rootfs, "home/user"))).uid).toBe(1000);
    expect((await stat(path.join(rootfs, "tmp"))).mode & 0o7777).toBe(0o1777);
    expect((await stat(path.join(rootfs, ".wrenn"))).isDirectory()).toBe(true);
  });

  it("keeps an image's own users and resolves a numeric USER to its name", async () => {
    await mkdir(path.join(rootfs, "etc"));
    await writeFile(
      path.join(rootfs, "etc/passwd"),
      "root:x:0:0:root:/root:/bin/sh\napp:x:1234:1234::/app:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n",
    );
    const config = await prepareImageRoot(rootfs, { User: "1234:1234" }, () => {});
    expect(config.user).toBe("app");
    const passwd = await readFile(path.join(rootfs, "etc/passwd"), "utf8");
    expect(passwd.match(/^user:/gm)).toHaveLength(1);
  });

  it("refuses an /etc/passwd that links out of the image, and writes nothing there", async () => {
    await mkdir(path.join(rootfs, "etc"));
    await symlink(outside, path.join(rootfs, "etc/passwd"));
    await expect(prepareImageRoot(rootfs, {}, () => {})).rejects.toBeInstanceOf(ImageRootError);
    expect(await readFile(outside, "utf8")).toBe("host: untouched\n");
  });

  it("refuses an /etc that is a link (to the host's /etc, say)", async () => {
    await symlink(dir, path.join(rootfs, "etc"));
    await expect(prepareImageRoot(rootfs, {}, () => {})).rejects.toBeInstanceOf(ImageRootError);
    expect(await readFile(outside, "utf8")).toBe("host: untouched\n");
  });

  it("replaces a linked /etc/resolv.conf or /etc/hosts by a file, never writing through", async () => {
    await mkdir(path.join(rootfs, "etc"));
    await symlink(outside, path.join(rootfs, "etc/resolv.conf"));
    await symlink(outside, path.join(rootfs, "etc/hosts"));
    await prepareImageRoot(rootfs, {}, () => {});
    expect(await readFile(outside, "utf8")).toBe("host: untouched\n");
    expect((await lstat(path.join(rootfs, "etc/hosts"))).isFile()).toBe(true);
  });

  it("finds bash through the image's own links (merged /usr), resolved inside the image", async () => {
    await mkdir(path.join(rootfs, "usr/bin"), { recursive: true });
    await writeFile(path.join(rootfs, "usr/bin/bash"), "");
    await symlink("usr/bin", path.join(rootfs, "bin"));
    await prepareImageRoot(rootfs, {}, () => {});
    expect(await readFile(path.join(rootfs, "etc/passwd"), "utf8")).toContain(
      "user:x:1000:1000::/home/user:/bin/bash",
    );
  });
});
