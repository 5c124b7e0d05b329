export { type DataDirLockOptions, lockDataDir } from "./data-dir-lock.js";
export {
  type HeldLock,
  isLockHeld,
  type LockHolder,
  readLockHolder,
  tryLockFile,
  withFileLock,
} from "./file-lock.js";
