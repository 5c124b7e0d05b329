import { lstat, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { pinHostKey, sshConfigPath, withKnownHost } from "./known-hosts.js";
import {
  hostKeyOptions,
  proxyCommand,
  shellWord,
  sshBlock,
  withSshBlock,
  writeSshBlock,
} from "./ssh-config.js";

// Every directory a test makes is removed when the file is done.
const made: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}
afterAll(() => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

describe("the managed ~/.ssh/config block", () => {
  const block = (name: string, cmd = "wrenn ssh --stdio x") => sshBlock(name, cmd);

  test("is appended once, then replaced in place; every other byte stays", () => {
    const mine =
      "Host a\n  User me\n# >>> wrenn other.wrenn\nHost other.wrenn\n# <<< wrenn other.wrenn\nHost z\n";
    const once = withSshBlock(mine, "box", block("box", "one"));
    expect(once).toBe(`${mine}\n${block("box", "one")}`);
    const twice = withSshBlock(once, "box", block("box", "two"));
    expect(twice).toBe(`${mine}\n${block("box", "two")}`);
    expect(twice.match(/# >>> wrenn box\.wrenn/g)).toHaveLength(1);
    // Unchanged when nothing changed; a file without a final newline keeps its last line.
    expect(withSshBlock(twice, "box", block("box", "two"))).toBe(twice);
    expect(withSshBlock("Host a", "box", block("box"))).toBe(`Host a\n\n${block("box")}`);
    expect(withSshBlock("", "box", block("box"))).toBe(block("box"));
  });

  test("a block in the middle is rewritten where it is; duplicates collapse into it", () => {
    const text = `top\n${block("box", "old")}middle\n${block("box", "older")}end\n`;
    expect(withSshBlock(text, "box", block("box", "new"))).toBe(
      `top\n${block("box", "new")}middle\nend\n`,
    );
  });

  test("the ProxyCommand quotes for the shell and keeps ssh's % tokens out", () => {
    expect(shellWord("/usr/bin/node")).toBe("/usr/bin/node");
    expect(shellWord("/a b/it's")).toBe(`'/a b/it'\\''s'`);
    expect(shellWord("50%")).toBe("50%%");
    expect(proxyCommand(["/n", "/w.js"], "box", "http://127.0.0.1:3000")).toBe(
      "/n /w.js --api-url http://127.0.0.1:3000 ssh --stdio box",
    );
  });

  test("names the credential its ProxyCommand uses in one comment line, inside the block", () => {
    const named = sshBlock("box", "cmd", {
      credential: "/home/me/.config/wrenn/config.toml",
    });
    expect(named.split("\n").slice(0, 3)).toEqual([
      "# >>> wrenn box.wrenn",
      "# API key: /home/me/.config/wrenn/config.toml",
      "Host box.wrenn",
    ]);
    // A newline in a path cannot start a directive of its own.
    const odd = sshBlock("box", "cmd", { credential: "/tmp/x\nProxyCommand evil" });
    expect(odd).toContain("# API key: /tmp/x?ProxyCommand evil\n");
    expect(withSshBlock(withSshBlock("", "box", named), "box", block("box"))).toBe(block("box"));
  });

  test("the host key is pinned in Wrenn's known_hosts under NAME.wrenn, other lines kept", async () => {
    const key = `ssh-ed25519 ${"A".repeat(68)}`;
    const other = `ssh-ed25519 ${"B".repeat(68)}`;
    const check = { file: sshConfigPath("/home/me/.config/wrenn/known_hosts"), pinned: true };
    expect(sshBlock("box", "cmd", { hostKey: check })).toContain(
      '\n  HostKeyAlias box.wrenn\n  UserKnownHostsFile "/home/me/.config/wrenn/known_hosts"\n  StrictHostKeyChecking yes\n',
    );
    expect(hostKeyOptions("box", { ...check, pinned: false }).at(-1)).toEqual([
      "StrictHostKeyChecking",
      "accept-new",
    ]);
    // ssh's % tokens stay out of the path; a quote or a newline cannot be said in ssh_config.
    expect(sshConfigPath("/a b/50%/kh")).toBe('"/a b/50%%/kh"');
    for (const bad of ['/a"b', "/a\nHost *"]) expect(() => sshConfigPath(bad)).toThrow();

    const dir = await tempDir("wrenn-known-hosts-");
    const file = join(dir, "wrenn", "known_hosts");
    expect(await pinHostKey(file, "box", other)).toEqual({ alias: "box.wrenn", pinned: true });
    await pinHostKey(file, "pal", other);
    await pinHostKey(file, "box", key);
    expect(await readFile(file, "utf8")).toBe(`pal.wrenn ${other}\nbox.wrenn ${key}\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // Unknown (an image without OpenSSH): its line goes, ssh learns the key at first use.
    expect(withKnownHost(`box.wrenn ${key}\nx y\n`, "box.wrenn", null)).toBe("x y\n");
    // Only an ed25519 key in the pinned form reaches the file (never a second line of it).
    for (const bad of [`${key}\nevil.wrenn ${key}`, "ssh-rsa AAAA", `${key} comment`, ""]) {
      expect(() => withKnownHost("", "box.wrenn", bad)).toThrow(/not an ed25519 key/);
    }
    await expect(pinHostKey(file, "a b", key)).rejects.toThrow(/invalid workspace name/);
  });

  test("the file keeps its mode; a new one is 0600", async () => {
    const dir = await tempDir("wrenn-ssh-config-");
    const file = join(dir, "config");
    await writeFile(file, "Host a\n", { mode: 0o644 });
    await writeSshBlock(file, "box", block("box"));
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    expect(await readFile(file, "utf8")).toBe(`Host a\n\n${block("box")}`);
    const fresh = join(dir, "sub", "config");
    await writeSshBlock(fresh, "box", block("box"));
    expect((await stat(fresh)).mode & 0o777).toBe(0o600);
  });
});

describe("the managed block against a hand-edited or hostile setup", () => {
  const block = (name: string) => sshBlock(name, "wrenn ssh --stdio x");

  test("a begin marker with no end marker keeps everything after it", () => {
    const text = "Host a\n# >>> wrenn box.wrenn\nHost box.wrenn\nHost mine\n  User me\n";
    const next = withSshBlock(text, "box", block("box"));
    expect(next).toBe(`Host a\n${block("box")}Host box.wrenn\nHost mine\n  User me\n`);
    // Stable from then on.
    expect(withSshBlock(next, "box", block("box"))).toBe(next);
  });

  test("a symlinked config is written where it points; the link stays", async () => {
    const dir = await tempDir("wrenn-ssh-config-");
    const real = join(dir, "dotfiles-ssh-config");
    await writeFile(real, "Host mine\n", { mode: 0o600 });
    const link = join(dir, "config");
    await symlink(real, link);
    await writeSshBlock(link, "box", block("box"));
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect(await readFile(real, "utf8")).toBe(`Host mine\n\n${block("box")}`);
  });

  test("a name that is no workspace name is refused before anything is written", async () => {
    const dir = await tempDir("wrenn-ssh-config-");
    const file = join(dir, "config");
    for (const bad of ["a\nProxyCommand evil", "a b", "-oProxyCommand=x", "", "A".repeat(200)]) {
      expect(() => sshBlock(bad, "x")).toThrow(/invalid workspace name/);
      expect(() => withSshBlock("", bad, "x")).toThrow(/invalid workspace name/);
      await expect(writeSshBlock(file, bad, "x")).rejects.toThrow(/invalid workspace name/);
    }
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
  });
});
