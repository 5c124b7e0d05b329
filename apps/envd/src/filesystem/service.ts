import { rename, rm, stat } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { IO_LIMITS } from "@wrenn/contract";
import {
  EventType,
  type Filesystem,
  type FilesystemEventSchema,
  type WatchDirResponseSchema,
} from "@wrenn/proto/filesystem";
import { rpcUser } from "../auth/identity.js";
import { freshRandomBytes } from "../fresh-random.js";
import type { Logger } from "../log/logger.js";
import { ensureDirs, PathError, resolveUserPath } from "../paths/resolve.js";
import type { SandboxState } from "../state/sandbox-state.js";
import { throwIfDeadlineExceeded } from "../streaming/deadline.js";
import { EventQueue, QueueOverflowError } from "../streaming/event-queue.js";
import { keepaliveIntervalMs } from "../streaming/keepalive.js";
import type { SystemUser } from "../users/passwd.js";
import { actsAsItself, fileOp, listAsUser, statAsUser, type UserEntry } from "./as-user.js";
import { entryFromFacts, entryInfo } from "./entry.js";
import { errnoOf, toConnectError } from "./errno.js";
import { InotifyWatcher, type RawFsEvent, type WatcherHandlers } from "./inotify-watcher.js";
import type { MetadataStore } from "./metadata.js";

export interface FilesystemServiceDeps {
  state: SandboxState;
  metadata: MetadataStore;
  binDir: string;
  log: Logger;
}

type EventInit = MessageInitShape<typeof FilesystemEventSchema>;

// NFS, CIFS, SMB, SMB2 and FUSE (E2B refuses to watch these unless asked).
const NETWORK_FS_MAGIC = new Set([0x6969, 0xff534d42, 0x517b, 0xfe534d42, 0x65735546]);
const MAX_BUFFERED_WATCH_EVENTS = 100_000;
const MAX_PENDING_WATCH_BYTES = 16 * 1024 * 1024;

function resolvePath(path: string, user: SystemUser, state: SandboxState): string {
  try {
    return resolveUserPath(path, user, state.defaultWorkdir);
  } catch (error) {
    if (error instanceof PathError) throw new ConnectError(error.message, Code.InvalidArgument);
    throw error;
  }
}

async function statEntry(path: string, metadata: MetadataStore) {
  try {
    return await entryInfo(path, metadata);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") {
      throw new ConnectError(`file not found: ${path}`, Code.NotFound);
    }
    throw toConnectError(error, `error getting file info of ${path}`);
  }
}

/**
 * A listing past IO_LIMITS' caps, refused whole: E2B's ListDir cannot say "cut short", and a
 * partial listing read as complete would be a lie. InvalidArgument, because the request asked
 * for too much (E2B's SDK shows it as InvalidArgumentError with this message; /v1 as 400).
 */
function listTooBig(path: string, cap: string): ConnectError {
  const what =
    cap === "names"
      ? `more than ${IO_LIMITS.listNameBytes} bytes of paths and link targets`
      : `more than ${IO_LIMITS.listEntries} entries`;
  return new ConnectError(
    `listing ${path} would return ${what}, the most one listing returns: list a subdirectory, or ask for a smaller depth`,
    Code.InvalidArgument,
  );
}

interface WatchRequest {
  path: string;
  recursive: boolean;
  includeEntry: boolean;
  allowNetworkMounts: boolean;
}

interface ServerWatcher {
  watcher: InotifyWatcher;
  events: EventInit[];
  error?: ConnectError;
}

export function filesystemService(deps: FilesystemServiceDeps): ServiceImpl<typeof Filesystem> {
  const { state, metadata, log } = deps;
  const watchers = new Map<string, ServerWatcher>();

  /**
   * Does a change as the requesting user (as-user.ts), or answers false when envd already is
   * that user and acts in-process.
   */
  const changeAsUser = async (user: SystemUser, args: string[]): Promise<boolean> => {
    if (actsAsItself(user)) return false;
    await fileOp(deps.binDir, user, args);
    return true;
  };
  /** E2B's ListDir answers, with the listing made by the helper as `user`. */
  const listDirAsUser = async (user: SystemUser, requested: string, depth: number) => {
    let listed: UserEntry[];
    try {
      listed = await listAsUser(deps.binDir, user, requested, depth);
    } catch (error) {
      const code = errnoOf(error);
      if (code === "E2BIG") throw listTooBig(requested, (error as Error).message);
      if (code === "ENOENT") throw new ConnectError(`path not found: ${requested}`, Code.NotFound);
      if (code === "ELOOP") {
        throw new ConnectError(
          `cyclic symlink or chain >255 links at '${requested}'`,
          Code.FailedPrecondition,
        );
      }
      if (code === "ENOTDIR") {
        throw new ConnectError(`path is not a directory: ${requested}`, Code.InvalidArgument);
      }
      throw toConnectError(error, `cannot list ${requested} as ${user.username}`);
    }
    return listed.map(({ relative: rel, facts }) =>
      entryFromFacts(join(requested, rel), facts, metadata),
    );
  };

  /**
   * Starts watching `req.path` as the requesting user, with E2B's answers for a path that is
   * missing, not a directory or on a network mount. The helper's watch is the access check:
   * it runs with the user's rights (inotify-watcher.ts).
   */
  const startWatch = async (
    user: SystemUser,
    dir: string,
    req: WatchRequest,
    handlers: WatcherHandlers,
  ): Promise<InotifyWatcher> => {
    const watcher = new InotifyWatcher(deps.binDir, user, dir, req.recursive, handlers);
    let fsType: number;
    try {
      fsType = await watcher.ready;
    } catch (error) {
      watcher.stop();
      const code = errnoOf(error);
      if (code === "ENOENT") throw new ConnectError(`path ${dir} not found`, Code.NotFound);
      if (code === "ENOTDIR")
        throw new ConnectError(`path ${dir} not a directory`, Code.InvalidArgument);
      if (code === "EACCES" || code === "EPERM")
        throw toConnectError(error, `cannot watch ${dir} as ${user.username}`);
      throw new ConnectError(
        `error adding path ${dir} to watcher: ${(error as Error).message}`,
        Code.Internal,
      );
    }
    if (!req.allowNetworkMounts && NETWORK_FS_MAGIC.has(fsType)) {
      watcher.stop();
      throw new ConnectError(
        `cannot watch path on network filesystem: ${dir}`,
        Code.InvalidArgument,
      );
    }
    return watcher;
  };

  const watchTarget = (req: WatchRequest, ctx: HandlerContext) => {
    const user = rpcUser(ctx.requestHeader, state);
    return { user, dir: resolvePath(req.path, user, state) };
  };

  /**
   * `path`'s entry as `user` sees it (Stat, and the entries MakeDir, Move and the watchers
   * answer with): looked up by the helper as that user, since the path may have been swapped
   * for a symlink to somewhere only root may look.
   */
  const entryAsUser = async (user: SystemUser, path: string) => {
    if (actsAsItself(user)) return statEntry(path, metadata);
    try {
      return entryFromFacts(path, await statAsUser(deps.binDir, user, path), metadata);
    } catch (error) {
      if (errnoOf(error) === "ENOENT") {
        throw new ConnectError(`file not found: ${path}`, Code.NotFound);
      }
      throw toConnectError(error, `error getting file info of ${path} as ${user.username}`);
    }
  };

  const toEvents = async (
    dir: string,
    user: SystemUser,
    raw: RawFsEvent,
    includeEntry: boolean,
  ) => {
    const name = relative(dir, raw.path) || ".";
    const out: EventInit[] = [];
    for (const type of raw.types) {
      const event: EventInit = { name, type };
      // Remove and rename name a path whose entry is gone: never attach a stat of whatever
      // replaced it since.
      if (
        includeEntry &&
        (type === EventType.CREATE || type === EventType.WRITE || type === EventType.CHMOD)
      ) {
        event.entry = await entryAsUser(user, raw.path).catch(() => undefined);
      }
      out.push(event);
    }
    return out;
  };

  return {
    async stat(req, ctx) {
      const user = rpcUser(ctx.requestHeader, state);
      return { entry: await entryAsUser(user, resolvePath(req.path, user, state)) };
    },

    async makeDir(req, ctx) {
      const user = rpcUser(ctx.requestHeader, state);
      const dir = resolvePath(req.path, user, state);
      try {
        if (await changeAsUser(user, ["mkdir", dir]))
          return { entry: await entryAsUser(user, dir) };
      } catch (error) {
        if (errnoOf(error) === "EEXIST")
          throw new ConnectError(`directory already exists: ${dir}`, Code.AlreadyExists);
        if (errnoOf(error) === "ENOTDIR")
          throw new ConnectError(
            `path already exists but it is not a directory, or is below a file: ${dir}`,
            Code.InvalidArgument,
          );
        throw toConnectError(error, "error creating directory");
      }
      const existing = await stat(dir).catch((error: unknown) => {
        if (errnoOf(error) === "ENOENT" || errnoOf(error) === "ENOTDIR") return undefined;
        throw toConnectError(error, "error getting file info");
      });
      if (existing?.isDirectory()) {
        throw new ConnectError(`directory already exists: ${dir}`, Code.AlreadyExists);
      }
      if (existing) {
        throw new ConnectError(
          `path already exists but it is not a directory: ${dir}`,
          Code.InvalidArgument,
        );
      }
      try {
        await ensureDirs(dir, user.uid, user.gid);
      } catch (error) {
        if (error instanceof PathError) throw new ConnectError(error.message, Code.InvalidArgument);
        throw toConnectError(error, "error creating directory");
      }
      return { entry: await statEntry(dir, metadata) };
    },

    async move(req, ctx) {
      const user = rpcUser(ctx.requestHeader, state);
      const source = resolvePath(req.source, user, state);
      const destination = resolvePath(req.destination, user, state);
      try {
        if (!(await changeAsUser(user, ["rename", source, destination]))) {
          await ensureDirs(dirname(destination), user.uid, user.gid);
          await rename(source, destination);
        }
      } catch (error) {
        if (errnoOf(error) === "ENOENT") {
          throw new ConnectError(`source file not found: ${source}`, Code.NotFound);
        }
        if (error instanceof PathError) throw new ConnectError(error.message, Code.InvalidArgument);
        throw toConnectError(error, "error renaming");
      }
      return { entry: await entryAsUser(user, destination) };
    },

    async listDir(req, ctx) {
      const user = rpcUser(ctx.requestHeader, state);
      const depth = req.depth === 0 ? IO_LIMITS.listDepth.default : req.depth;
      const requested = resolvePath(req.path, user, state);
      if (depth > IO_LIMITS.listDepth.max) {
        throw new ConnectError(
          `depth ${depth} is more than ${IO_LIMITS.listDepth.max}, the deepest one listing goes: list a subdirectory, or ask for a smaller depth`,
          Code.InvalidArgument,
        );
      }
      // Root's listings too go through the helper: one walk, with one set of caps.
      return { entries: await listDirAsUser(user, requested, depth) };
    },

    async remove(req, ctx) {
      const user = rpcUser(ctx.requestHeader, state);
      const path = resolvePath(req.path, user, state);
      // E2B uses os.RemoveAll: a missing path is not an error.
      try {
        await metadata.forgetTree(path);
        if (await changeAsUser(user, ["remove", path])) return {};
        await rm(path, { recursive: true, force: true });
      } catch (error) {
        throw toConnectError(error, "error removing file or directory");
      }
      return {};
    },

    async *watchDir(req, ctx): AsyncGenerator<MessageInitShape<typeof WatchDirResponseSchema>> {
      const queue = new EventQueue<RawFsEvent>(MAX_PENDING_WATCH_BYTES, (e) => e.path.length + 16);
      let failure: Error | undefined;
      const { dir, user } = watchTarget(req, ctx);
      const watcher = await startWatch(user, dir, req, {
        event: (event) => queue.push(event),
        closed: (error) => {
          failure = error;
          if (error) queue.fail(error);
          else queue.close();
        },
      });
      try {
        yield { event: { case: "start", value: {} } };
        const idleMs = keepaliveIntervalMs(ctx.requestHeader);
        for (;;) {
          const item = await queue.next(ctx.signal, idleMs);
          if (item === undefined) {
            throwIfDeadlineExceeded(ctx.signal);
            break;
          }
          if (item === "idle") {
            yield { event: { case: "keepalive", value: {} } };
            continue;
          }
          for (const event of await toEvents(dir, user, item, req.includeEntry)) {
            yield { event: { case: "filesystem", value: event } };
          }
        }
      } catch (error) {
        if (error instanceof ConnectError) throw error;
        if (error instanceof QueueOverflowError)
          throw new ConnectError(error.message, Code.ResourceExhausted);
        throw new ConnectError(`watcher error: ${(error as Error).message}`, Code.Internal);
      } finally {
        watcher.stop();
      }
      if (failure && !ctx.signal.aborted) {
        throw new ConnectError(`watcher error: ${failure.message}`, Code.Internal);
      }
    },

    async createWatcher(req, ctx) {
      const id = `w${freshRandomBytes(8).toString("hex")}`;
      // Entry lookups are async: chain them so events stay in the order they happened.
      let chain = Promise.resolve();
      const { dir, user } = watchTarget(req, ctx);
      // Filled in below: the handlers need the entry before the watcher exists.
      const entry: Partial<ServerWatcher> & Omit<ServerWatcher, "watcher"> = { events: [] };
      entry.watcher = await startWatch(user, dir, req, {
        event: (raw) => {
          chain = chain
            .then(() => toEvents(dir, user, raw, req.includeEntry))
            .then((events) => {
              if (entry.error) return;
              if (entry.events.length + events.length > MAX_BUFFERED_WATCH_EVENTS) {
                entry.error = new ConnectError(
                  "too many unread watcher events; poll more often",
                  Code.ResourceExhausted,
                );
                entry.events = [];
                return;
              }
              entry.events.push(...events);
            });
        },
        closed: (error) => {
          if (error)
            entry.error = new ConnectError(`watcher error: ${error.message}`, Code.Internal);
        },
      });
      watchers.set(id, entry as ServerWatcher);
      log.info({ watcherId: id, dir, recursive: req.recursive }, "watcher created");
      return { watcherId: id };
    },

    async getWatcherEvents(req) {
      const entry = watchers.get(req.watcherId);
      if (!entry)
        throw new ConnectError(`watcher with id ${req.watcherId} not found`, Code.NotFound);
      if (entry.error) throw entry.error;
      const events = entry.events;
      entry.events = [];
      return { events };
    },

    async removeWatcher(req) {
      const entry = watchers.get(req.watcherId);
      if (!entry)
        throw new ConnectError(`watcher with id ${req.watcherId} not found`, Code.NotFound);
      entry.watcher.stop();
      watchers.delete(req.watcherId);
      return {};
    },
  };
}
