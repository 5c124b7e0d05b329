import { readFileSync, statSync } from "node:fs";

// Node has no getpwnam(3). envd reads /etc/passwd and /etc/group itself: they are the only
// user database inside a sandbox (no NSS modules, no LDAP).

export interface SystemUser {
  username: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** Primary group first, then supplementary groups from /etc/group. */
  groups: number[];
}

interface Database {
  byName: Map<string, SystemUser>;
  userNames: Map<number, string>;
  groupNames: Map<number, string>;
}

const REVALIDATE_MS = 1000;

let cached: { db: Database; stamp: string; checkedAt: number } | undefined;

function fileStamp(path: string): string {
  try {
    const st = statSync(path);
    return `${st.mtimeMs}:${st.size}:${st.ino}`;
  } catch {
    return "missing";
  }
}

function readLines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n");
  } catch {
    return [];
  }
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xffffffff ? n : undefined;
}

function load(passwdPath: string, groupPath: string): Database {
  const byName = new Map<string, SystemUser>();
  const userNames = new Map<number, string>();
  const groupNames = new Map<number, string>();
  const members = new Map<string, number[]>();

  for (const line of readLines(groupPath)) {
    const [name, , gidText, memberList] = line.split(":");
    const gid = parseId(gidText);
    if (!name || gid === undefined) continue;
    if (!groupNames.has(gid)) groupNames.set(gid, name);
    for (const member of (memberList ?? "").split(",")) {
      if (!member) continue;
      const list = members.get(member) ?? [];
      list.push(gid);
      members.set(member, list);
    }
  }

  for (const line of readLines(passwdPath)) {
    const [username, , uidText, gidText, , home, shell] = line.split(":");
    const uid = parseId(uidText);
    const gid = parseId(gidText);
    if (!username || uid === undefined || gid === undefined || byName.has(username)) continue;
    const groups = [gid, ...(members.get(username) ?? []).filter((g) => g !== gid)];
    byName.set(username, { username, uid, gid, home: home || "/", shell: shell || "", groups });
    if (!userNames.has(uid)) userNames.set(uid, username);
  }
  return { byName, userNames, groupNames };
}

function database(): Database {
  const now = Date.now();
  if (cached && now - cached.checkedAt < REVALIDATE_MS) return cached.db;
  const stamp = `${fileStamp("/etc/passwd")}|${fileStamp("/etc/group")}`;
  if (!cached || cached.stamp !== stamp) {
    cached = { db: load("/etc/passwd", "/etc/group"), stamp, checkedAt: now };
  } else {
    cached.checkedAt = now;
  }
  return cached.db;
}

export function lookupUser(username: string): SystemUser | undefined {
  return database().byName.get(username);
}

/** Name for a uid, or the number as text (as `ls -l` shows unknown owners). */
export function userName(uid: number): string {
  return database().userNames.get(uid) ?? String(uid);
}

export function groupName(gid: number): string {
  return database().groupNames.get(gid) ?? String(gid);
}
