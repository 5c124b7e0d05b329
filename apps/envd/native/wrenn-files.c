/*
 * wrenn-files: envd's file operations, done with the rights of whoever runs it.
 *
 * Why this exists: envd runs as root, and a file operation a client asks for as `user` must
 * get the answer the kernel gives `user` (E2B's files API acts as the requesting user, as
 * commands do). Checking permissions in envd and then acting as root can be raced by any
 * process in the sandbox (swap a path for a symlink between the check and the use). So envd
 * starts this program through wrenn-pty, which switches to the user's uid, gid and groups
 * exactly as for a command, and the kernel checks every path component itself.
 *
 *   wrenn-files read PATH        stderr "ok SIZE KIND MTIME\n" (KIND f: regular file, o: other;
 *                                MTIME in ms), then the file's bytes on stdout
 *   wrenn-files write PATH       creates missing parent directories (0755), opens PATH for
 *                                writing (created 0666 & umask, else truncated), stderr "ok\n",
 *                                then copies stdin into it
 *   wrenn-files mkdir PATH       mkdir -p; EEXIST when PATH is already a directory
 *   wrenn-files rename FROM TO   creates TO's missing parents, then rename(2)
 *   wrenn-files remove PATH      rm -rf (a missing PATH is not an error)
 *   wrenn-files check PATH dir   PATH opens as a directory the caller may read
 *   wrenn-files check PATH any   every directory on the way to PATH may be searched
 *
 * On failure the last stderr line is "error ERRNO_NAME MESSAGE" (ERRNO_NAME as in errno(3),
 * e.g. EACCES; MESSAGE never holds the path) and the exit status is 1; success exits 0 (and "ok" where not said above).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define IO_CHUNK (256 * 1024)

static void say(const char *line) {
  fputs(line, stderr);
  fflush(stderr);
}

/* The path is not repeated: it may hold any byte but NUL, a newline included (envd knows it). */
static int fail_errno(int err, const char *what, const char *path) {
  (void)path;
  const char *name = strerrorname_np(err);
  fprintf(stderr, "error %s %s: %s\n", name ? name : "EIO", what, strerror(err));
  fflush(stderr);
  return 1;
}

static int write_all(int fd, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, buf + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    off += (size_t)w;
  }
  return 0;
}

/*
 * mkdir -p of `path` itself (0755), from the deepest existing directory down: existing
 * directories above it are never touched (a user may not write to, or even mkdir in, them).
 * errno ENOTDIR when a component is not a directory.
 */
static int make_dirs(const char *path) {
  struct stat st;
  if (mkdir(path, 0755) == 0) return 0;
  if (errno == EEXIST) {
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    errno = ENOTDIR;
    return -1;
  }
  if (errno != ENOENT) return -1;
  char *copy = strdup(path);
  if (copy == NULL) return -1;
  char *parent = dirname(copy);
  int rc = (strcmp(parent, path) == 0) ? -1 : make_dirs(parent);
  free(copy);
  if (rc != 0) return -1;
  if (mkdir(path, 0755) == 0) return 0;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
  return -1;
}

static int make_parents(const char *path) {
  char *copy = strdup(path);
  if (copy == NULL) return -1;
  int rc = make_dirs(dirname(copy));
  int err = errno;
  free(copy);
  errno = err;
  return rc;
}

static int do_read(const char *path) {
  int fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) return fail_errno(errno, "cannot stat", path);
  if (S_ISDIR(st.st_mode)) return fail_errno(EISDIR, "cannot read", path);
  long long mtime_ms = (long long)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
  fprintf(stderr, "ok %lld %c %lld\n", (long long)st.st_size, S_ISREG(st.st_mode) ? 'f' : 'o',
          mtime_ms);
  fflush(stderr);
  static char buf[IO_CHUNK];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, "cannot read", path);
    if (n == 0) return 0;
    /* The reader went away (EPIPE): nothing more to say. */
    if (write_all(STDOUT_FILENO, buf, (size_t)n) != 0) return 1;
  }
}

static int do_write(const char *path) {
  if (make_parents(path) != 0) return fail_errno(errno, "cannot create the directories of", path);
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return fail_errno(EISDIR, "cannot write", path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_CLOEXEC, 0666);
  if (fd < 0) return fail_errno(errno, "cannot open", path);
  say("ok\n");
  static char buf[IO_CHUNK];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno(errno, "cannot read the upload for", path);
    if (n == 0) break;
    if (write_all(fd, buf, (size_t)n) != 0) return fail_errno(errno, "cannot write", path);
  }
  if (close(fd) != 0) return fail_errno(errno, "cannot write", path);
  return 0;
}

static int do_mkdir(const char *path) {
  struct stat st;
  if (lstat(path, &st) == 0) return fail_errno(S_ISDIR(st.st_mode) ? EEXIST : ENOTDIR, "exists", path);
  if (make_dirs(path) != 0) return fail_errno(errno, "cannot create directory", path);
  say("ok\n");
  return 0;
}

static int do_rename(const char *from, const char *to) {
  if (make_parents(to) != 0) return fail_errno(errno, "cannot create the directories of", to);
  if (rename(from, to) != 0) return fail_errno(errno, "cannot rename", from);
  say("ok\n");
  return 0;
}

static int remove_reported;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  /* FTW_DNR: a directory the caller may not read; rmdir then says why (or it was empty). */
  int rc = (flag == FTW_DP || flag == FTW_DNR) ? rmdir(path) : unlink(path);
  if (rc != 0 && errno != ENOENT) {
    fail_errno(errno, "cannot remove", path);
    remove_reported = 1;
    return -1;
  }
  return 0;
}

static int do_remove(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) {
      say("ok\n");
      return 0;
    }
    return fail_errno(errno, "cannot remove", path);
  }
  /* FTW_PHYS: symlinks are removed, never followed; FTW_DEPTH: contents before their dir. */
  if (nftw(path, remove_one, 32, FTW_DEPTH | FTW_PHYS) != 0) {
    if (remove_reported) return 1;
    return fail_errno(errno ? errno : EIO, "cannot remove", path);
  }
  say("ok\n");
  return 0;
}

static int do_check(const char *path, const char *kind) {
  int dir = strcmp(kind, "dir") == 0;
  /* O_PATH without O_NOFOLLOW would also need the link's target; lstat semantics need not. */
  int fd = dir ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
               : open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot access", path);
  close(fd);
  say("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "read") == 0) return do_read(argv[2]);
  if (argc == 3 && strcmp(argv[1], "write") == 0) return do_write(argv[2]);
  if (argc == 3 && strcmp(argv[1], "mkdir") == 0) return do_mkdir(argv[2]);
  if (argc == 4 && strcmp(argv[1], "rename") == 0) return do_rename(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "remove") == 0) return do_remove(argv[2]);
  if (argc == 4 && strcmp(argv[1], "check") == 0) return do_check(argv[2], argv[3]);
  say("error EINVAL usage: wrenn-files (read|write|mkdir|remove) PATH | rename FROM TO | check PATH dir|any\n");
  return 2;
}
