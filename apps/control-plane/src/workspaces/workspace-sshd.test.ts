import { execFile } from "node:child_process";
import { lstat, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  AUTHORIZED_KEYS_BEGIN,
  AUTHORIZED_KEYS_END,
  hostKeyOf,
  WRITE_KEYS,
} from "./workspace-sshd.js";

/**
 * The script that writes a workspace's authorized_keys, run by this machine's /bin/sh and awk
 * against a HOME of its own (in a workspace envd runs it as the user, the same way).
 */
const homes: string[] = [];
afterEach(async () => {
  for (const h of homes.splice(0)) await rm(h, { recursive: true, force: true });
});

async function home(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "wrenn-keys-"));
  homes.push(dir);
  return dir;
}

function writeKeys(dir: string, keys: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      "/bin/sh",
      ["-c", WRITE_KEYS],
      { env: { HOME: dir, PATH: "/usr/bin:/bin" } },
      (error) => (error ? reject(error) : resolve()),
    );
    child.stdin?.end(keys);
  });
}

const mine = "ssh-ed25519 AAAAmine me@inside\n";
const block = (keys: string) => `${AUTHORIZED_KEYS_BEGIN}\n${keys}${AUTHORIZED_KEYS_END}\n`;

describe("authorized_keys: Wrenn's block, the user's lines kept", () => {
  it("creates ~/.ssh (0700) and the file (0600) with only the block", async () => {
    const dir = await home();
    await writeKeys(dir, "ssh-ed25519 AAAAone a@laptop\n");
    const file = join(dir, ".ssh", "authorized_keys");
    expect(await readFile(file, "utf8")).toBe(block("ssh-ed25519 AAAAone a@laptop\n"));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, ".ssh"))).mode & 0o777).toBe(0o700);
  });

  it("replaces only its block: the user's lines before and after it stay, in place", async () => {
    const dir = await home();
    await mkdir(join(dir, ".ssh"), { mode: 0o700 });
    const file = join(dir, ".ssh", "authorized_keys");
    await writeFile(file, `${mine}${block("ssh-ed25519 AAAAold gone@laptop\n")}# after\n`);
    await writeKeys(dir, "ssh-ed25519 AAAAnew b@laptop\n");
    expect(await readFile(file, "utf8")).toBe(
      `${mine}# after\n${block("ssh-ed25519 AAAAnew b@laptop\n")}`,
    );
    // Again: unchanged, one block.
    await writeKeys(dir, "ssh-ed25519 AAAAnew b@laptop\n");
    expect(await readFile(file, "utf8")).toBe(
      `${mine}# after\n${block("ssh-ed25519 AAAAnew b@laptop\n")}`,
    );
  });

  it("keeps a last line without its newline, and what follows a begin line left without its end", async () => {
    const dir = await home();
    await mkdir(join(dir, ".ssh"), { mode: 0o700 });
    const file = join(dir, ".ssh", "authorized_keys");
    await writeFile(file, `${AUTHORIZED_KEYS_BEGIN}\nssh-ed25519 AAAAhand edited\n${mine.trim()}`);
    await writeKeys(dir, "");
    expect(await readFile(file, "utf8")).toBe(`ssh-ed25519 AAAAhand edited\n${mine}${block("")}`);
    // Swapped in by rename: a regular file, no temp left beside it.
    expect((await lstat(file)).isFile()).toBe(true);
    await expect(stat(`${file}.wrenn-new`)).rejects.toThrow(/ENOENT/);
  });
});

describe("the host key read from a workspace (its output is the workspace's to choose)", () => {
  it("is ssh-keygen -y's last line as type and key, or nothing", async () => {
    const dir = await home();
    const file = join(dir, "key");
    await new Promise<void>((resolve, reject) =>
      execFile(
        "ssh-keygen",
        ["-q", "-t", "ed25519", "-N", "", "-C", "root@box", "-f", file],
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    const derived = await new Promise<string>((resolve, reject) =>
      execFile("ssh-keygen", ["-y", "-f", file], (e, out) => (e ? reject(e) : resolve(out))),
    );
    const [type, key] = (await readFile(`${file}.pub`, "utf8")).split(" ");
    expect(hostKeyOf(Buffer.from(`noise\n${derived}`))).toBe(`${type} ${key}`);
    for (const bad of [
      "",
      "ssh-rsa AAAAB3Nza",
      `${type} ${key?.slice(0, -1)}!`,
      `${type}\t${key}`,
    ]) {
      expect(hostKeyOf(bad)).toBeNull();
    }
  });
});
