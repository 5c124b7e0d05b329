import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ContractError, FILES_RESCUE_LIMITS } from "@wrenn/contract";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import type { Instance } from "../sandboxes/instance.js";
import { DiskReader, type ReadEvent } from "./disk-reader.js";

// The reader's admission and its set-up before runsc runs: every case here ends before a
// container would be spawned (the runsc given does not exist, and is never run), so the
// parts under test are the real ones: the per-sandbox and per-host caps, and what an abort
// before the spawn leaves behind. The reads themselves run in the e2e test
// (tests/e2e-stack/failed-sandbox-files.test.ts), on real runsc.

/** A failed sandbox whose disk mount is held until `release` is called. */
function failedSandbox(runtimeId: string) {
  let release!: () => void;
  const mounted = new Promise<void>((resolve) => {
    release = resolve;
  });
  let mounts = 0;
  const inst = {
    runtimeId,
    record: { phase: "error" },
    // An existing file stands for the disk's image (access() is all that is asked of it).
    disk: {
      image: "/bin/busybox",
      mount: async () => {
        mounts++;
        await mounted;
      },
    },
    spec: () => {
      throw new Error("the reader's spec is built only once the read is still wanted");
    },
  } as unknown as Instance;
  return { inst, release, mounts: () => mounts };
}

describe("DiskReader admission and abort", () => {
  let dir: string;
  let sandboxes: Map<string, ReturnType<typeof failedSandbox>>;
  let reader: DiskReader;
  let reads: Array<Promise<unknown>>;
  const options = () => ({
    runsc: path.join(dir, "no-runsc-here"),
    stateDir: path.join(dir, "state"),
    bundlesDir: path.join(dir, "bundles"),
    build: () => {
      throw new Error("never spawned in these tests");
    },
    memoryOverheadMb: 64,
    pidsLimit: 64,
    instanceOf: (id: string) => {
      const s = sandboxes.get(id);
      if (!s) throw new ContractError("sandbox_not_found");
      return s.inst;
    },
    log: pino({ level: "silent" }),
  });

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "wrenn-disk-reader-"));
    sandboxes = new Map();
    for (const id of ["a", "b", "c"]) sandboxes.set(id, failedSandbox(`wr-${id}`));
    reader = new DiskReader(options());
    reads = [];
  });
  afterEach(async () => {
    for (const s of sandboxes.values()) s.release();
    await Promise.allSettled(reads);
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts a read and lets it run until it waits on the disk's mount. */
  function start(id: string, signal = new AbortController().signal) {
    const gen = reader.read(id, { path: "/etc/hostname", format: "file" }, signal);
    const done: Promise<IteratorResult<ReadEvent>> = gen.next();
    done.catch(() => {});
    reads.push(done);
    return done;
  }
  /** Waits (polling, no fixed sleep: a loaded host is slow) until the reads reached the mount. */
  const settled = (reached: () => boolean) =>
    vi.waitFor(() => expect(reached()).toBe(true), { timeout: 60_000, interval: 10 });
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => "resolved",
      (e: unknown) => (e instanceof ContractError ? e.code : String(e)),
    );

  test("past the host's cap, another sandbox's read is refused as busy (retryable)", async () => {
    expect(FILES_RESCUE_LIMITS.concurrentPerHost).toBe(2);
    const first = start("a");
    const second = start("b");
    await settled(() => sandboxes.get("a")!.mounts() + sandboxes.get("b")!.mounts() === 2);
    const third = start("c");
    expect(await codeOf(third)).toBe("files_read_busy");
    await third.catch((e: Error) => expect(e.message).toMatch(/already runs 2 reads/));
    expect(sandboxes.get("c")!.mounts()).toBe(0);
    void first;
    void second;
  });

  test("a second read of one sandbox is busy, its message naming the sandbox", async () => {
    start("a");
    await settled(() => sandboxes.get("a")!.mounts() === 1);
    const again = start("a");
    const err = (await again.catch((e: unknown) => e)) as ContractError;
    expect(err.code).toBe("files_read_busy");
    expect(err.message).toBe("a read of sandbox a's disk is already running");
  });

  test("an abort before the spawn makes nothing more, and frees the sandbox only then", async () => {
    const caller = new AbortController();
    const read = start("a", caller.signal);
    await settled(() => sandboxes.get("a")!.mounts() === 1);
    caller.abort();
    // The body is still waiting on the mount: the sandbox stays busy until it has unwound.
    expect(await codeOf(start("a"))).toBe("files_read_busy");
    sandboxes.get("a")!.release();
    expect(await codeOf(read)).not.toBe("resolved");
    // No bundle was written after the abort (its directory may exist, empty of bundles).
    expect(await readdir(path.join(dir, "bundles")).catch(() => [])).toEqual([]);
    // Freed: the next read of the sandbox is admitted (it waits on the mount again).
    const next = start("a");
    await settled(() => sandboxes.get("a")!.mounts() === 2);
    void next;
  });

  test("a read whose caller is already gone does nothing at all", async () => {
    const caller = new AbortController();
    caller.abort();
    expect(await codeOf(start("a", caller.signal))).not.toBe("resolved");
    expect(sandboxes.get("a")!.mounts()).toBe(0);
    expect(await readdir(dir)).toEqual([]);
    start("a");
    await settled(() => sandboxes.get("a")!.mounts() === 1);
  });

  test("without the host's busybox, reads are refused as not supported (a 4xx)", async () => {
    reader = new DiskReader({ ...options(), busybox: path.join(dir, "no-busybox") });
    const err = (await start("a").catch((e: unknown) => e)) as ContractError;
    expect(err.code).toBe("not_supported");
    expect(err.message).toMatch(/busybox-static/);
    expect(sandboxes.get("a")!.mounts()).toBe(0);
  });
});
