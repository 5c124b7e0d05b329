/*
 * wrenn-inotify: prints inotify events for one directory (optionally its whole tree).
 *
 * Why this exists: E2B's WatchDir reports create / write / remove / rename / chmod events
 * separately, with names relative to the watched directory, including recursively. Node's
 * fs.watch folds everything into "rename"/"change", and on Linux Node 18 cannot watch
 * recursively. inotify has exactly the events E2B's envd (via fsnotify) reports.
 *
 * envd starts it through wrenn-pty with the requesting user's uid, gid and groups, as
 * wrenn-files: the kernel checks that user's rights on every directory watched, in the same
 * act as the watch, so a directory swapped for a symlink meanwhile lends nobody root's view.
 *
 *   wrenn-inotify [-r] DIR
 *
 * Output on stdout, one record per event, each terminated by a NUL byte (paths may contain
 * newlines): "<mask in hex> <absolute path>". DIR itself may be a symlink to a directory (as
 * E2B's stat of it follows); nothing below it is followed. The first record is
 * "ready <statfs f_type in hex>" once every watch is in place; a record
 * "error ERRNO_NAME MESSAGE" (ERRNO_NAME as in errno(3)) is printed before exiting on failure
 * (for example EACCES, or EOVERFLOW when the kernel's event queue overflowed). Exits when
 * stdin reaches EOF (envd went away) or when the watched directory itself is deleted.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define WATCH_MASK                                                                       \
  (IN_CREATE | IN_MODIFY | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |        \
   IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static char **paths = NULL; /* indexed by watch descriptor */
static int paths_cap = 0;
static int recursive = 0;
static int inotify_fd = -1;
static int root_wd = -1;

static void emit(const char *record) {
  size_t len = strlen(record) + 1; /* include the NUL terminator */
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(1, record + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0); /* envd closed the pipe */
    off += (size_t)w;
  }
}

/* The path is not repeated: envd knows it, and it may hold a newline. */
static void die(const char *what) {
  char buf[256];
  const char *name = strerrorname_np(errno);
  snprintf(buf, sizeof buf, "error %s %s: %s", name ? name : "EIO", what, strerror(errno));
  emit(buf);
  exit(1);
}

/*
 * Opens `path` as a directory to read (`follow`: only for DIR itself; every directory found
 * below it is opened with O_NOFOLLOW) and watches exactly what was opened, through its
 * /proc/self/fd link. Opening is what checks the caller's right to read the directory:
 * gVisor's inotify_add_watch does not (Linux's does), and a path watched by name could be
 * swapped between a check and the watch. Returns the open fd (the caller closes it), or -1.
 */
static int add_watch(const char *path, int follow) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
  if (fd < 0) return -1;
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  int wd = inotify_add_watch(inotify_fd, link, WATCH_MASK);
  if (wd < 0) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  if (wd >= paths_cap) {
    int cap = paths_cap ? paths_cap : 64;
    while (cap <= wd) cap *= 2;
    char **grown = realloc(paths, (size_t)cap * sizeof *paths);
    if (grown == NULL) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    memset(grown + paths_cap, 0, (size_t)(cap - paths_cap) * sizeof *paths);
    paths = grown;
    paths_cap = cap;
  }
  free(paths[wd]);
  paths[wd] = strdup(path);
  if (root_wd < 0) root_wd = wd;
  return fd;
}

/* Adds watches on dir and every directory below it, without following symlinks. A directory
 * that vanishes while we walk is not an error. */
static void add_tree(const char *dir, int follow) {
  int fd = add_watch(dir, follow);
  if (fd < 0) {
    /* DIR itself must be watchable; what vanished or may not be read below it is skipped
     * (ELOOP: it was a symlink by the time it was opened). */
    if (!follow && (errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == ELOOP))
      return;
    die("cannot watch");
  }
  /* The names come from the directory just watched, not from its path again. */
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    char child[PATH_MAX];
    int n = snprintf(child, sizeof child, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, e->d_name);
    if (n < 0 || n >= (int)sizeof child) continue;
    int is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) add_tree(child, 0);
  }
  closedir(d);
}

int main(int argc, char **argv) {
  const char *root = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-r") == 0) {
      recursive = 1;
    } else if (root == NULL) {
      root = argv[i];
    } else {
      root = NULL;
      break;
    }
  }
  if (root == NULL) {
    emit("error EINVAL usage: wrenn-inotify [-r] DIR");
    return 2;
  }

  inotify_fd = inotify_init1(IN_CLOEXEC);
  if (inotify_fd < 0) die("cannot initialise inotify");
  if (recursive) {
    add_tree(root, 1);
  } else {
    int fd = add_watch(root, 1);
    if (fd < 0) die("cannot watch");
    close(fd);
  }
  /* Which filesystem, for envd's refusal of network mounts (E2B's allow_network_mounts). */
  struct statfs fs;
  if (statfs(root, &fs) != 0) die("cannot stat the filesystem of the watched directory");
  char ready[64];
  snprintf(ready, sizeof ready, "ready %lx", (unsigned long)fs.f_type);
  emit(ready);

  char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
  char record[PATH_MAX * 2 + 32];
  for (;;) {
    struct pollfd fds[2] = {{.fd = inotify_fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll failed");
    }
    if (fds[1].revents) {
      char tmp[256];
      ssize_t r = read(0, tmp, sizeof tmp);
      if (r <= 0) return 0;
    }
    if (!(fds[0].revents & POLLIN)) continue;
    ssize_t len = read(inotify_fd, buf, sizeof buf);
    if (len < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      die("cannot read events");
    }
    for (char *p = buf; p < buf + len;) {
      struct inotify_event *ev = (struct inotify_event *)p;
      p += sizeof *ev + ev->len;
      if (ev->mask & IN_Q_OVERFLOW) {
        emit("error EOVERFLOW too many filesystem events: the kernel's event queue overflowed");
        return 1;
      }
      if (ev->wd < 0 || ev->wd >= paths_cap || paths[ev->wd] == NULL) continue;
      const char *dir = paths[ev->wd];
      if (ev->mask & IN_IGNORED) {
        free(paths[ev->wd]);
        paths[ev->wd] = NULL;
        if (ev->wd == root_wd) return 0;
        continue;
      }
      /* A subdirectory's own removal is already reported by its parent's watch. */
      if ((ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) && ev->wd != root_wd) continue;
      char full[PATH_MAX];
      if (ev->len > 0) {
        snprintf(full, sizeof full, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, ev->name);
      } else {
        snprintf(full, sizeof full, "%s", dir);
      }
      if (recursive && (ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
        add_tree(full, 0);
      }
      snprintf(record, sizeof record, "%x %s", ev->mask, full);
      emit(record);
    }
  }
}
