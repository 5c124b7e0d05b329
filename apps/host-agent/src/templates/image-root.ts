import {
  chmod,
  chown,
  lstat,
  mkdir,
  readFile,
  readlink,
  unlink,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { ENVD_RUNTIME_GUEST_DIR } from "../runtime/gvisor/envd-runtime.js";
import type { ImageConfig } from "./image-config.js";
import type { OciImageConfig } from "./oci-layout.js";

/** E2B's default sandbox user. */
const USER = { name: "user", uid: 1000, gid: 1000, home: "/home/user" };

export class ImageRootError extends Error {}

/**
 * Makes an unpacked image's root filesystem a template root, touching only what a sandbox
 * needs: mount points, /tmp, the default user (uid 1000 `user`, as E2B creates it when the
 * image has none) with its home, and the files Docker would have injected (/etc/hosts,
 * /etc/hostname, /etc/resolv.conf). The root came from a registry and is hostile: every path
 * is checked component by component and no symbolic link is followed out of it (the host
 * agent is root). Returns the image's Env/WorkingDir/User as the template applies them.
 */
export async function prepareImageRoot(
  rootfs: string,
  config: OciImageConfig,
  log: (message: string) => void,
): Promise<ImageConfig> {
  for (const [dir, mode] of [
    ["etc", 0o755],
    ["tmp", 0o1777],
    ["proc", 0o555],
    ["dev", 0o755],
    ["sys", 0o555],
    ["root", 0o700],
    ["home", 0o755],
    [ENVD_RUNTIME_GUEST_DIR.slice(1), 0o755],
  ] as const) {
    await ensureDir(rootfs, dir, mode);
  }

  const passwd = await readText(rootfs, "etc/passwd");
  const group = await readText(rootfs, "etc/group");
  const users = parseColonFile(passwd);
  const groups = parseColonFile(group);
  const shell = (await existsInRoot(rootfs, "/bin/bash")) ? "/bin/bash" : "/bin/sh";
  const addUsers: string[] = [];
  const addGroups: string[] = [];
  if (!users.some((u) => u[2] === "0")) addUsers.push("root:x:0:0:root:/root:/bin/sh");
  if (!groups.some((g) => g[2] === "0")) addGroups.push("root:x:0:");
  if (!users.some((u) => u[0] === USER.name)) {
    addUsers.push(`${USER.name}:x:${USER.uid}:${USER.gid}::${USER.home}:${shell}`);
    log(`adding user ${USER.name} (uid ${USER.uid}), as E2B does`);
  }
  if (!groups.some((g) => g[0] === USER.name || g[2] === String(USER.gid))) {
    addGroups.push(`${USER.name}:x:${USER.gid}:`);
  }
  if (addUsers.length > 0) await writeText(rootfs, "etc/passwd", appendLines(passwd, addUsers));
  if (addGroups.length > 0) await writeText(rootfs, "etc/group", appendLines(group, addGroups));
  const home = USER.home.slice(1);
  if (!(await kind(rootfs, home))) {
    await ensureDir(rootfs, home, 0o755);
    await chown(path.join(rootfs, home), USER.uid, USER.gid);
  }

  // What Docker injects at run time; a sandbox gets a resolv.conf written at start when it
  // may reach the internet.
  await replaceFile(rootfs, "etc/hostname", "sandbox\n");
  await replaceFile(
    rootfs,
    "etc/hosts",
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsandbox\n",
  );
  await replaceFile(rootfs, "etc/resolv.conf", "");

  const all = parseColonFile(await readText(rootfs, "etc/passwd"));
  return {
    env: config.Env ?? [],
    workdir: config.WorkingDir?.startsWith("/") ? config.WorkingDir : "",
    user: resolveUser(config.User ?? "", all, log),
  };
}

/** USER as a name envd knows: `name`, `uid`, `name:group` or `uid:gid`; empty → E2B's user. */
function resolveUser(user: string, passwd: string[][], log: (m: string) => void): string {
  const who = user.split(":")[0] ?? "";
  if (who === "") return USER.name;
  const found = passwd.find((u) => u[0] === who) ?? passwd.find((u) => u[2] === who);
  if (found?.[0]) return found[0];
  log(`the image's USER ${user} is not in its /etc/passwd; commands run as ${USER.name}`);
  return USER.name;
}

function parseColonFile(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function appendLines(text: string, lines: string[]): string {
  const base = text === "" || text.endsWith("\n") ? text : `${text}\n`;
  return `${base}${lines.join("\n")}\n`;
}

/**
 * lstat of a path inside the root whose every parent is a real directory (never a link):
 * "dir", "file", "link", "other", or undefined when it does not exist.
 */
async function kind(rootfs: string, rel: string): Promise<string | undefined> {
  const parts = rel.split("/").filter(Boolean);
  let at = rootfs;
  for (let i = 0; i < parts.length; i++) {
    at = path.join(at, parts[i] as string);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return undefined;
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) {
      throw new ImageRootError(
        `the image's /${parts.slice(0, i + 1).join("/")} is not a directory (a link?): not supported`,
      );
    }
    if (last) {
      return st.isSymbolicLink()
        ? "link"
        : st.isDirectory()
          ? "dir"
          : st.isFile()
            ? "file"
            : "other";
    }
  }
  return "dir";
}

/**
 * Whether a path exists as the sandbox will see it: links are followed, but resolved inside
 * the root (an absolute target from the root, never the host's), at most 40 of them.
 */
async function existsInRoot(rootfs: string, guestPath: string): Promise<boolean> {
  const parts = guestPath.split("/").filter(Boolean);
  const done: string[] = [];
  for (let hops = 0; parts.length > 0; ) {
    const part = parts.shift() as string;
    if (part === ".") continue;
    if (part === "..") {
      done.pop();
      continue;
    }
    const at = path.join(rootfs, ...done, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return false;
    if (st.isSymbolicLink()) {
      if (++hops > 40) return false;
      const target = await readlink(at);
      if (target.startsWith("/")) done.length = 0;
      parts.unshift(...target.split("/").filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return true;
}

async function ensureDir(rootfs: string, rel: string, mode: number): Promise<void> {
  const k = await kind(rootfs, rel);
  if (k === "dir") return;
  if (k !== undefined) {
    throw new ImageRootError(`the image's /${rel} is not a directory: not supported`);
  }
  await mkdir(path.join(rootfs, rel), { mode });
  // mkdir's mode is filtered by the umask; /tmp needs its sticky bit exactly.
  await chmod(path.join(rootfs, rel), mode);
}

async function readText(rootfs: string, rel: string): Promise<string> {
  const k = await kind(rootfs, rel);
  if (k === undefined) return "";
  if (k !== "file") throw new ImageRootError(`the image's /${rel} is not a regular file`);
  return readFile(path.join(rootfs, rel), "utf8");
}

async function writeText(rootfs: string, rel: string, text: string): Promise<void> {
  const k = await kind(rootfs, rel);
  if (k !== undefined && k !== "file") {
    throw new ImageRootError(`the image's /${rel} is not a regular file`);
  }
  await writeFile(path.join(rootfs, rel), text, { flag: "w" });
}

/** Writes a regular file, replacing a link (unlinked, never followed) or a file there. */
async function replaceFile(rootfs: string, rel: string, text: string): Promise<void> {
  const k = await kind(rootfs, rel);
  if (k === "link" || k === "file") await unlink(path.join(rootfs, rel));
  else if (k !== undefined) throw new ImageRootError(`the image's /${rel} is not a regular file`);
  await writeFile(path.join(rootfs, rel), text, { flag: "wx", mode: 0o644 });
}

/**
 * The uid, gid and home of a user of the root's /etc/passwd: `name`, `uid`, `name:group` or
 * `uid:gid` (a numeric uid need not be listed, as with Docker's USER).
 */
export async function lookupUser(
  rootfs: string,
  user: string,
): Promise<{ name: string; uid: number; gid: number; home: string }> {
  const [who = "", group] = user.split(":");
  const passwd = parseColonFile(await readText(rootfs, "etc/passwd"));
  const found = passwd.find((u) => u[0] === who) ?? passwd.find((u) => u[2] === who);
  let uid: number;
  let gid: number;
  let home = "/";
  let name = who;
  if (found) {
    uid = Number(found[2]);
    gid = Number(found[3]);
    home = found[5] || "/";
    name = found[0] as string;
  } else if (/^\d+$/.test(who)) {
    uid = Number(who);
    gid = uid;
  } else {
    throw new ImageRootError(`user ${who} is not in the template's /etc/passwd`);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const g = parseColonFile(await readText(rootfs, "etc/group")).find((e) => e[0] === group);
      if (!g) throw new ImageRootError(`group ${group} is not in the template's /etc/group`);
      gid = Number(g[2]);
    }
  }
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new ImageRootError(`user ${user} has no valid uid/gid in the template's /etc/passwd`);
  }
  return { name, uid, gid, home };
}
