// The base template's checkpoint, made once per checkout and agent build and hard-linked into
// every test agent's data directory. Each of the suite's ~60 agents would otherwise boot base
// cold and checkpoint it when it starts (seconds of both cores each, beside the test's own
// work); a test that is about the checkpoint itself starts its agent unseeded.
//
// Safe to share by hard link: an agent only ever reads a finished checkpoint (restores read
// it; a new one is written beside it and renamed in), and removing one removes only the
// agent's own links. The cache is keyed by the agent build (every file of its dist), since a
// change to how sandboxes are specified can make an old checkpoint restore wrongly; the
// directory names under it carry the runsc identity and the template version, as the agent
// names them (apps/host-agent/src/sandboxes/template-snapshots.ts).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import { cached, testCacheDir } from "@wrenn/control-plane/testing";

const run = promisify(execFile);

/** Where an agent whose WRENN_AGENT_DATA_DIR is `dataDir` keeps its template checkpoints. */
export const checkpointsOf = (dataDir: string) => join(dataDir, "template-checkpoints");

const builds = new Map<string, Promise<string>>();

/** The cache directory of the agent build whose main.js is `agentMain`. */
function cacheOf(agentMain: string): Promise<string> {
  let dir = builds.get(agentMain);
  if (!dir) {
    dir = (async () => {
      const dist = dirname(agentMain);
      const hash = createHash("sha256");
      const files = (await readdir(dist, { recursive: true }))
        .map(String)
        .filter((f) => f.endsWith(".js"))
        .sort();
      for (const f of files) hash.update(`${f}\0`).update(await readFile(join(dist, f)));
      return join(testCacheDir, `checkpoints-${hash.digest("hex").slice(0, 16)}`);
    })();
    builds.set(agentMain, dir);
  }
  return dir;
}

/** identity/checkpoint directory names under `root` holding a finished base checkpoint. */
async function baseCheckpoints(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const identity of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, identity)).catch(() => [] as string[])) {
      if (!name.startsWith("base-") || name.includes(".")) continue;
      const ok = await access(join(root, identity, name, "checkpoint.img")).then(
        () => true,
        () => false,
      );
      if (ok) found.push(join(identity, name));
    }
  }
  return found;
}

/** Links the cached base checkpoints into an agent's data directory before it starts. */
export async function seedCheckpoints(dataDir: string, agentMain: string): Promise<void> {
  const cache = await cacheOf(agentMain);
  for (const rel of await baseCheckpoints(cache)) {
    const to = join(checkpointsOf(dataDir), rel);
    // A data directory of a restarted agent keeps its own.
    if (
      await access(to).then(
        () => true,
        () => false,
      )
    )
      continue;
    await mkdir(dirname(to), { recursive: true });
    await run("cp", ["-al", join(cache, rel), to]);
  }
}

/** Keeps the base checkpoints an agent made (before its data directory goes) for the next. */
export async function publishCheckpoints(dataDir: string, agentMain: string): Promise<void> {
  const cache = await cacheOf(agentMain);
  const known = new Set(await baseCheckpoints(cache));
  for (const rel of await baseCheckpoints(checkpointsOf(dataDir))) {
    if (known.has(rel)) continue;
    await mkdir(dirname(join(cache, rel)), { recursive: true });
    await cached(
      relative(testCacheDir, join(cache, rel)),
      async (dir) => {
        await run("cp", ["-al", join(checkpointsOf(dataDir), rel), dir]);
      },
      "checkpoint.img",
    );
  }
}

/** Whether an agent's data directory holds a finished base checkpoint (made or shared). */
export async function hasBaseCheckpoint(dataDir: string): Promise<boolean> {
  return (await baseCheckpoints(checkpointsOf(dataDir))).length > 0;
}
