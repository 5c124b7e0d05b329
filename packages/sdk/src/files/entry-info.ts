// Files and directories as the SDK describes them (E2B's shapes: type "file" | "dir" | "symlink").
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  EventType,
  type EntryInfo as ProtoEntryInfo,
  FileType as ProtoFileType,
} from "@wrenn/proto/filesystem";

export const FileType = { FILE: "file", DIR: "dir", SYMLINK: "symlink" } as const;
export type FileType = (typeof FileType)[keyof typeof FileType];

export interface WriteInfo {
  name: string;
  type?: FileType;
  path: string;
}

export interface EntryInfo extends WriteInfo {
  type: FileType;
  size: number;
  /** Mode and permission bits. */
  mode: number;
  /** e.g. "-rw-r--r--". */
  permissions: string;
  owner: string;
  group: string;
  modifiedTime?: Date;
  symlinkTarget?: string;
  metadata?: Record<string, string>;
}

export const FilesystemEventType = {
  CREATE: "create",
  WRITE: "write",
  REMOVE: "remove",
  RENAME: "rename",
  CHMOD: "chmod",
} as const;
export type FilesystemEventType = (typeof FilesystemEventType)[keyof typeof FilesystemEventType];

export interface FilesystemEvent {
  /** Path relative to the watched directory. */
  name: string;
  type: FilesystemEventType;
  /** The entry, when the watch asked for it (`includeEntry`) and it still exists. */
  entry?: EntryInfo;
}

export function fileTypeOf(type: ProtoFileType): FileType | undefined {
  switch (type) {
    case ProtoFileType.FILE:
      return FileType.FILE;
    case ProtoFileType.DIRECTORY:
      return FileType.DIR;
    case ProtoFileType.SYMLINK:
      return FileType.SYMLINK;
    default:
      return undefined;
  }
}

export function eventTypeOf(type: EventType): FilesystemEventType | undefined {
  switch (type) {
    case EventType.CREATE:
      return FilesystemEventType.CREATE;
    case EventType.WRITE:
      return FilesystemEventType.WRITE;
    case EventType.REMOVE:
      return FilesystemEventType.REMOVE;
    case EventType.RENAME:
      return FilesystemEventType.RENAME;
    case EventType.CHMOD:
      return FilesystemEventType.CHMOD;
    default:
      return undefined;
  }
}

/** An entry from envd, or undefined for a type the SDK does not know (E2B drops those too). */
export function entryOf(e: ProtoEntryInfo): EntryInfo | undefined {
  const type = fileTypeOf(e.type);
  if (type === undefined) return undefined;
  return {
    name: e.name,
    type,
    path: e.path,
    size: Number(e.size),
    mode: e.mode,
    permissions: e.permissions,
    owner: e.owner,
    group: e.group,
    ...(e.modifiedTime ? { modifiedTime: timestampDate(e.modifiedTime) } : {}),
    ...(e.symlinkTarget === undefined ? {} : { symlinkTarget: e.symlinkTarget }),
    ...(Object.keys(e.metadata).length ? { metadata: { ...e.metadata } } : {}),
  };
}
