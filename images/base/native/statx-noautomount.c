/*
 * Preloaded into every process of the sandbox (/etc/ld.so.preload).
 *
 * The gVisor (runsc) in Debian bookworm rejects statx() with AT_NO_AUTOMOUNT as EINVAL, and
 * bookworm's coreutils 9.1 passes that flag on every `ls PATH` and `stat PATH`, so both fail
 * with "Invalid argument". Automounts do not exist inside the sandbox, so retrying without the
 * flag gives exactly the answer the caller asked for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf) {
  long r = syscall(SYS_statx, dirfd, path, flags, mask, buf);
  if (r == -1 && errno == EINVAL && (flags & AT_NO_AUTOMOUNT)) {
    r = syscall(SYS_statx, dirfd, path, flags & ~AT_NO_AUTOMOUNT, mask, buf);
  }
  return (int)r;
}
