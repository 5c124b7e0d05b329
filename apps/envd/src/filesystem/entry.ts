import { type BigIntStats, constants } from "node:fs";
import { lstat, realpath, stat } from "node:fs/promises";
import { basename } from "node:path";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type EntryInfo, EntryInfoSchema, FileType } from "@wrenn/proto/filesystem";
import { groupName, userName } from "../users/passwd.js";
import type { MetadataStore } from "./metadata.js";

function fileTypeOf(mode: bigint): FileType {
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

function timestampOf(st: BigIntStats) {
  const ms = Number(st.mtimeNs / 1_000_000n);
  const ts = timestampFromMs(ms);
  ts.nanos = Number(st.mtimeNs % 1_000_000_000n);
  return ts;
}

/**
 * E2B's entryInfo: lstat the path; a symlink reports its fully resolved target and takes
 * type and permission bits from it (UNSPECIFIED when the link is dangling).
 */
export async function entryInfo(path: string, metadata: MetadataStore): Promise<EntryInfo> {
  const st = await lstat(path, { bigint: true });
  const mode = Number(st.mode);
  let type = fileTypeOf(st.mode);
  let permBits = mode & 0o777;
  let symlinkTarget: string | undefined;
  let target: BigIntStats = st;
  if (type === FileType.SYMLINK) {
    symlinkTarget = await realpath(path).catch(() => path);
    try {
      target = await stat(symlinkTarget, { bigint: true });
      type = fileTypeOf(target.mode);
      permBits = Number(target.mode) & 0o777;
    } catch {
      type = FileType.UNSPECIFIED;
      permBits = 0;
    }
  }
  return create(EntryInfoSchema, {
    name: basename(path),
    type,
    path,
    size: st.size,
    mode: permBits,
    permissions: goPermissionString(mode),
    owner: userName(Number(st.uid)),
    group: groupName(Number(st.gid)),
    modifiedTime: timestampOf(st),
    symlinkTarget,
    metadata: metadata.get(target) ?? {},
  });
}
