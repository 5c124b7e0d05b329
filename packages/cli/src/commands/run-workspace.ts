import { mkdir, stat } from "node:fs/promises";
import { join, posix, relative } from "node:path";
import type { Sandbox } from "@wrenn/sdk";
import type { RunProfile } from "../config/run-profile.js";
import { downloadFile, newTally, uploadTree } from "./sandbox-cp-tree.js";

/**
 * How DIR reaches /workspace in `wrenn run`: a host mount (admin keys, directories under the
 * agent's mount roots) or a copy made through the files API (any key), with the files the
 * command changed copied back on request.
 */
export type WorkspaceMode = "mount" | "copy";

/**
 * The sandbox user to run as when nobody chose one: a read-write mount keeps the host's
 * owners, so the command runs as the sandbox user with the directory owner's uid (root for a
 * root-owned directory) and can write where its owner could. Other owners keep `user`.
 */
export async function runUserFor(
  hostPath: string,
  profile: RunProfile,
  mode: WorkspaceMode,
  chosen: string | undefined,
): Promise<string | undefined> {
  if (chosen || mode === "copy" || profile.mount !== "read-write") return chosen;
  const { uid } = await stat(hostPath);
  return uid === 0 ? "root" : undefined;
}

/** Copies DIR in as the run's user owns it; returns the moment after which changes count. */
export async function copyIn(
  box: Sandbox,
  hostPath: string,
  workspace: string,
  user: string | undefined,
): Promise<{ files: number; bytes: number; since: Date }> {
  const tally = newTally();
  // /workspace sits in / (root's): made first and given to `user`, so the files API (which
  // writes as `user`, with that user's rights) can fill it; a run as root then takes it over.
  await box.commands.run(`mkdir -p ${workspace} && chown user:user ${workspace}`, { user: "root" });
  await uploadTree(box, hostPath, workspace, tally);
  if (user === "root") await box.commands.run(`chown -R root:root ${workspace}`, { user: "root" });
  // The sandbox's clock marks the start: files it modifies after this are the changes.
  const mark = `/tmp/.wrenn-run-${Date.now()}`;
  await box.files.write(mark, "");
  const since = (await box.files.getInfo(mark)).modifiedTime ?? new Date(0);
  return { files: tally.files, bytes: tally.bytes, since };
}

/**
 * Copies back every file under /workspace modified after `since` (new ones included), one
 * directory listing and one streamed file at a time. Deletions are not mirrored: a file the
 * command removed stays on the host (said in the summary by the caller's help text).
 */
export async function copyBack(
  box: Sandbox,
  workspace: string,
  hostPath: string,
  since: Date,
): Promise<{ files: string[]; bytes: number }> {
  const tally = newTally();
  const changed: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await box.files.list(dir)) {
      if (entry.symlinkTarget) continue;
      if (entry.type === "dir") await walk(entry.path);
      else if (entry.type === "file" && (entry.modifiedTime?.getTime() ?? 0) >= since.getTime()) {
        const rel = posix.relative(workspace, entry.path);
        const target = join(hostPath, ...rel.split("/"));
        if (relative(hostPath, target).startsWith("..")) continue; // never outside DIR
        await mkdir(join(target, ".."), { recursive: true });
        await downloadFile(box, entry.path, target, entry.size, tally);
        changed.push(rel);
      }
    }
  };
  await walk(workspace);
  return { files: changed, bytes: tally.bytes };
}
