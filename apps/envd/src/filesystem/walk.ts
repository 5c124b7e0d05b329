import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { type EntryInfo, FileType } from "@wrenn/proto/filesystem";
import { entryInfo } from "./entry.js";
import { errnoOf } from "./errno.js";
import type { MetadataStore } from "./metadata.js";

// Like Go's filepath.WalkDir as E2B's ListDir uses it: depth-first, lexical order by name,
// symlinks listed but never descended, the root itself excluded, and paths reported under
// the path the client asked for (not its symlink-resolved form).
export async function walkDir(
  requestedRoot: string,
  resolvedRoot: string,
  maxDepth: number,
  metadata: MetadataStore,
): Promise<EntryInfo[]> {
  const entries: EntryInfo[] = [];
  const visit = async (relative: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      const dirents = await readdir(join(resolvedRoot, relative), { withFileTypes: true });
      // Go sorts by byte order of the name; compare UTF-8 bytes, not UTF-16 code units.
      names = dirents
        .map((d) => d.name)
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    } catch (error) {
      // The root must be readable; a subdirectory that vanished or is unreadable is skipped.
      if (depth === 1) throw error;
      return;
    }
    for (const name of names) {
      const rel = relative === "" ? name : `${relative}/${name}`;
      let info: EntryInfo;
      try {
        info = await entryInfo(join(resolvedRoot, rel), metadata);
      } catch (error) {
        if (errnoOf(error) === "ENOENT") continue;
        throw error;
      }
      info.path = join(requestedRoot, rel);
      entries.push(info);
      // Descend only into real directories: lstat type, so symlinks to directories stay leaves.
      if (
        depth < maxDepth &&
        info.symlinkTarget === undefined &&
        info.type === FileType.DIRECTORY
      ) {
        await visit(rel, depth + 1);
      }
    }
  };
  await visit("", 1);
  return entries;
}
