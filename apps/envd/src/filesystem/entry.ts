import { constants } from "node:fs";
import { lstat, realpath, stat } from "node:fs/promises";
import { basename } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type EntryInfo, EntryInfoSchema, FileType } from "@wrenn/proto/filesystem";
import { groupName, userName } from "../users/passwd.js";
import type { FileIdentity, MetadataStore } from "./metadata.js";

function fileTypeOf(mode: number | bigint): FileType {
  const type = Number(mode) & constants.S_IFMT;
  if (type === constants.S_IFREG) return FileType.FILE;
  if (type === constants.S_IFDIR) return FileType.DIRECTORY;
  if (type === constants.S_IFLNK) return FileType.SYMLINK;
  return FileType.UNSPECIFIED;
}

/** Go's os.FileMode.String(), which E2B's envd sends as `permissions` (e.g. "drwxr-xr-x"). */
export function goPermissionString(mode: number): string {
  const type = mode & constants.S_IFMT;
  let prefix = "";
  if (type === constants.S_IFDIR) prefix += "d";
  if (type === constants.S_IFLNK) prefix += "L";
  if (type === constants.S_IFBLK || type === constants.S_IFCHR) prefix += "D";
  if (type === constants.S_IFIFO) prefix += "p";
  if (type === constants.S_IFSOCK) prefix += "S";
  if (mode & 0o4000) prefix += "u";
  if (mode & 0o2000) prefix += "g";
  if (type === constants.S_IFCHR) prefix += "c";
  if (mode & 0o1000) prefix += "t";
  const rwx = "rwxrwxrwx";
  let perms = "";
  for (let i = 0; i < 9; i++) perms += mode & (1 << (8 - i)) ? rwx[i] : "-";
  return (prefix || "-") + perms;
}

function timestampOf(mtimeNs: bigint) {
  const ms = Number(mtimeNs / 1_000_000n);
  const ts = timestampFromMs(ms);
  ts.nanos = Number(mtimeNs % 1_000_000_000n);
  return ts;
}

/** What an entry is made of: Node's lstat in envd, or the same facts from the file helper. */
export interface EntryFacts {
  mode: number;
  size: bigint;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  identity: FileIdentity;
  /** A symlink's fully resolved target (the link itself when dangling) and, unless dangling, the target's mode and identity. */
  link?: { target: string; stat?: { mode: number; identity: FileIdentity } };
}

/**
 * E2B's entryInfo from the facts: a symlink reports its fully resolved target and takes type
 * and permission bits from it (UNSPECIFIED when the link is dangling).
 */
export function entryFromFacts(
  path: string,
  facts: EntryFacts,
  metadata: MetadataStore,
): EntryInfo {
  let type = fileTypeOf(facts.mode);
  let permBits = facts.mode & 0o777;
  let identity = facts.identity;
  if (facts.link) {
    type = facts.link.stat ? fileTypeOf(facts.link.stat.mode) : FileType.UNSPECIFIED;
    permBits = facts.link.stat ? facts.link.stat.mode & 0o777 : 0;
    if (facts.link.stat) identity = facts.link.stat.identity;
  }
  return create(EntryInfoSchema, {
    name: basename(path),
    type,
    path,
    size: facts.size,
    mode: permBits,
    permissions: goPermissionString(facts.mode),
    owner: userName(facts.uid),
    group: groupName(facts.gid),
    modifiedTime: timestampOf(facts.mtimeNs),
    symlinkTarget: facts.link?.target,
    metadata: metadata.get(identity) ?? {},
  });
}

/** entryInfo for envd itself (root, or the user envd runs as): lstat here, in-process. */
export async function entryInfo(path: string, metadata: MetadataStore): Promise<EntryInfo> {
  const st = await lstat(path, { bigint: true });
  const facts: EntryFacts = {
    mode: Number(st.mode),
    size: st.size,
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: st.mtimeNs,
    identity: st,
  };
  if (fileTypeOf(st.mode) === FileType.SYMLINK) {
    const target = await realpath(path).catch(() => path);
    const resolved = await stat(target, { bigint: true }).catch(() => undefined);
    facts.link = {
      target,
      stat: resolved ? { mode: Number(resolved.mode), identity: resolved } : undefined,
    };
  }
  return entryFromFacts(path, facts, metadata);
}
