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
 *   wrenn-files stat PATH        one entry record (below) for PATH itself, its name empty
 *   wrenn-files list PATH DEPTH ENTRIES BYTES
 *                                stderr "ok\n" once PATH resolves (realpath) to a directory
 *                                the caller may read, then an entry record per entry down to
 *                                DEPTH levels, depth first, names in byte order, symlinks
 *                                listed but never descended; an entry that vanishes, or a
 *                                subdirectory that cannot be read, is skipped. More than
 *                                ENTRIES entries, or more than BYTES of paths and symlink
 *                                targets, fails the whole listing ("error E2BIG entries" or
 *                                "error E2BIG names") before anything past the cap is read
 *
 * An entry record on stdout is four NUL-terminated fields: the path relative to PATH; the
 * entry's lstat "MODE SIZE UID GID MTIME_SEC MTIME_NSEC DEV INO BIRTH_NS"; for a symlink its
 * fully resolved target (else empty); the target's stat "MODE DEV INO BIRTH_NS" (else "-":
 * not a symlink, or a dangling one). Numbers are decimal. Listing and stat run here, as the
 * caller, for the same reason as the rest: what envd reports, the caller could see itself.
 *
 * On failure the last stderr line is "error ERRNO_NAME MESSAGE" (ERRNO_NAME as in errno(3),
 * e.g. EACCES; MESSAGE never holds the path) and the exit status is 1; success exits 0 (and "ok" where not said above).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

static unsigned long long birth_ns(const struct statx *sx) {
  if (!(sx->stx_mask & STATX_BTIME)) return 0;
  return (unsigned long long)sx->stx_btime.tv_sec * 1000000000ULL + sx->stx_btime.tv_nsec;
}

static void put_field(const char *text) { fwrite(text, 1, strlen(text) + 1, stdout); }

/* Set when a listing reaches a cap: it stops there and fails as a whole. */
static const char *list_cap_hit;
static long long list_max_bytes;

/*
 * One entry record for `name` in `dirfd`; `full` is its path for resolving a symlink. With
 * `bytes`, the record's path and target are added to it first, and nothing is written when
 * that takes it past list_max_bytes (-1, errno E2BIG, list_cap_hit "names").
 */
static int put_entry(int dirfd, const char *name, const char *rel, const char *full,
                     struct statx *out, long long *bytes) {
  struct statx sx;
  if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0)
    return -1;
  char *target = S_ISLNK(sx.stx_mode) ? realpath(full, NULL) : NULL;
  /* Dangling (or unreachable for the caller): the link itself, and no target stat. */
  const char *shown = S_ISLNK(sx.stx_mode) ? (target ? target : full) : "";
  if (bytes) {
    *bytes += (long long)(strlen(rel) + strlen(shown));
    if (*bytes > list_max_bytes) {
      free(target);
      list_cap_hit = "names";
      errno = E2BIG;
      return -1;
    }
  }
  char line[256];
  snprintf(line, sizeof line, "%u %llu %u %u %lld %u %llu %llu %llu", (unsigned)sx.stx_mode,
           (unsigned long long)sx.stx_size, sx.stx_uid, sx.stx_gid, (long long)sx.stx_mtime.tv_sec,
           sx.stx_mtime.tv_nsec, (unsigned long long)makedev(sx.stx_dev_major, sx.stx_dev_minor),
           (unsigned long long)sx.stx_ino, birth_ns(&sx));
  put_field(rel);
  put_field(line);
  put_field(shown);
  struct statx tx;
  if (target && statx(AT_FDCWD, target, 0, STATX_BASIC_STATS | STATX_BTIME, &tx) == 0) {
    snprintf(line, sizeof line, "%u %llu %llu %llu", (unsigned)tx.stx_mode,
             (unsigned long long)makedev(tx.stx_dev_major, tx.stx_dev_minor),
             (unsigned long long)tx.stx_ino, birth_ns(&tx));
    put_field(line);
  } else {
    put_field("-");
  }
  free(target);
  if (out) *out = sx;
  return 0;
}

static int do_stat(const char *path) {
  if (put_entry(AT_FDCWD, path, "", path, NULL, NULL) != 0) return fail_errno(errno, "cannot stat", path);
  if (fflush(stdout) != 0) return 1;
  say("ok\n");
  return 0;
}

/* Caps of one listing (envd passes @wrenn/contract's IO_LIMITS.listEntries/listNameBytes). */
static long list_max_entries;
static long listed_entries;
/* Names read but not listed yet (in this directory and those above it): counted as listed. */
static long pending_entries;
static long long listed_bytes;

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/*
 * The names in `dirfd` (no . and ..), sorted by bytes. Reading stops as soon as this
 * directory's names would take the listing past its entry cap, so a directory of millions
 * of names costs no more than the cap. NULL with errno on failure (list_cap_hit when capped).
 */
static char **read_names(int dirfd, size_t *count) {
  /* fdopendir takes the fd: give it its own, so the caller's stays open for the *at calls. */
  int own = dup(dirfd);
  if (own < 0) return NULL;
  DIR *d = fdopendir(own);
  if (d == NULL) {
    close(own);
    return NULL;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  for (;;) {
    errno = 0;
    e = readdir(d);
    if (e == NULL) break;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (listed_entries + pending_entries + (long)n >= list_max_entries) {
      list_cap_hit = "entries";
      errno = E2BIG;
      break;
    }
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(names, cap * sizeof *names);
      if (grown == NULL) break;
      names = grown;
    }
    names[n] = strdup(e->d_name);
    if (names[n] == NULL) break;
    n++;
  }
  int err = errno;
  closedir(d);
  if (err != 0) {
    free_names(names, n);
    errno = err;
    return NULL;
  }
  qsort(names, n, sizeof *names, by_name);
  *count = n;
  return names;
}

/*
 * Lists `dirfd` (at `rel` under the root `base`), descending through opened fds only.
 * A subdirectory that cannot be read, or an entry that vanished, is skipped; reaching a cap
 * stops everything (-1, list_cap_hit set).
 */
static int list_dir(int dirfd, const char *base, const char *rel, int depth, int max_depth) {
  size_t n = 0;
  /* Reads the directory this fd holds, whatever its path has become since. */
  char **names = read_names(dirfd, &n);
  /* The root must be readable; a subdirectory that cannot be read is skipped. */
  if (names == NULL) return (list_cap_hit || depth == 1 || errno == ENOMEM) ? -1 : 0;
  pending_entries += (long)n;
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const char *name = names[i];
    pending_entries--;
    char *child_rel = NULL;
    char *full = NULL;
    if (asprintf(&child_rel, "%s%s%s", rel, *rel ? "/" : "", name) < 0 ||
        asprintf(&full, "%s/%s", base, child_rel) < 0) {
      free(child_rel);
      errno = ENOMEM;
      rc = -1;
      break;
    }
    struct statx sx;
    long long bytes = listed_bytes;
    if (put_entry(dirfd, name, child_rel, full, &sx, &bytes) == 0) {
      listed_entries++;
      listed_bytes = bytes;
      if (depth < max_depth && S_ISDIR(sx.stx_mode)) {
        int sub = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
          rc = list_dir(sub, base, child_rel, depth + 1, max_depth);
          close(sub);
        }
      }
    } else if (list_cap_hit) {
      rc = -1;
    }
    free(child_rel);
    free(full);
  }
  free_names(names, n);
  return rc;
}

static int parse_count(const char *text, long long max, long long *out) {
  char *end = NULL;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < 1 || value > max) return -1;
  *out = value;
  return 0;
}

static int do_list(const char *path, const char *depth_text, const char *entries_text,
                   const char *bytes_text) {
  long long max_depth, max_entries, max_bytes;
  if (parse_count(depth_text, 1000000, &max_depth) != 0 ||
      parse_count(entries_text, 100000000, &max_entries) != 0 ||
      parse_count(bytes_text, 1LL << 40, &max_bytes) != 0)
    return fail_errno(EINVAL, "bad depth or caps", path);
  list_max_entries = (long)max_entries;
  list_max_bytes = max_bytes;
  char *root = realpath(path, NULL);
  if (root == NULL) return fail_errno(errno, "cannot resolve", path);
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail_errno(errno, "cannot open directory", path);
  say("ok\n");
  if (list_dir(fd, root, "", 1, (int)max_depth) != 0) {
    if (list_cap_hit) {
      fprintf(stderr, "error E2BIG %s\n", list_cap_hit);
      fflush(stderr);
      return 1;
    }
    return fail_errno(errno, "cannot read directory", path);
  }
  if (fflush(stdout) != 0) return 1;
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "read") == 0) return do_read(argv[2]);
  if (argc == 3 && strcmp(argv[1], "write") == 0) return do_write(argv[2]);
  if (argc == 3 && strcmp(argv[1], "mkdir") == 0) return do_mkdir(argv[2]);
  if (argc == 4 && strcmp(argv[1], "rename") == 0) return do_rename(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "remove") == 0) return do_remove(argv[2]);
  if (argc == 3 && strcmp(argv[1], "stat") == 0) return do_stat(argv[2]);
  if (argc == 6 && strcmp(argv[1], "list") == 0)
    return do_list(argv[2], argv[3], argv[4], argv[5]);
  say("error EINVAL usage: wrenn-files (read|write|mkdir|remove|stat) PATH | rename FROM TO | list PATH DEPTH ENTRIES BYTES\n");
  return 2;
}
