/*
 * wrenn-pty: envd's launcher for every process it runs.
 *
 * Why this exists: Node.js cannot allocate a pseudo-terminal, make it a child's controlling
 * terminal, or give a child supplementary groups (libuv clears them when it switches uid).
 * node-pty would need a native addon built for the sandbox's Node 18, which we cannot ship.
 * So envd spawns this small program instead, in one of two modes:
 *
 *   wrenn-pty [CREDS] --exec -- CMD ARGS...
 *       Starts a new session (setsid), switches credentials, then execs CMD in place, so the
 *       pid envd sees is the command's pid and the exit status is the command's own.
 *
 *   wrenn-pty [CREDS] --pty COLS ROWS -- CMD ARGS...
 *       Opens a pty, forks CMD as a session leader whose controlling terminal is the pty
 *       slave, relays stdin -> master and master -> stdout, applies "COLS ROWS\n" resize lines
 *       read from fd 3, and exits with the child's status (re-raising a fatal signal so the
 *       parent sees the same signal).
 *
 *   CREDS = --uid N --gid N [--groups G1,G2,...]   (applied only when given)
 *
 * Status protocol on fd 3 (a socket pair from envd): in --pty mode the first line is
 * "pid N\n" once CMD has been exec'd; on failure (either mode) a line "error MESSAGE\n" is
 * written and the program exits with 127. In --exec mode fd 3 is close-on-exec, so EOF
 * without a line means the exec succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define STATUS_FD 3
#define MAX_GROUPS 256
#define IO_CHUNK 16384

static int sigchld_pipe[2] = {-1, -1};

static void report(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = write(STATUS_FD, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

static void fail(const char *fmt, const char *arg) {
  report(fmt, arg, strerror(errno));
  _exit(127);
}

static long parse_num(const char *s, long max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) {
    report("error invalid number '%s'", s);
    _exit(127);
  }
  return v;
}

struct creds {
  int set;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  size_t ngroups;
};

static void parse_groups(struct creds *c, char *list) {
  for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
    if (c->ngroups >= MAX_GROUPS) break;
    c->groups[c->ngroups++] = (gid_t)parse_num(tok, 0x7fffffff);
  }
}

/* Order matters: groups and gid must change while we still have the privilege to do so. */
static int apply_creds(const struct creds *c) {
  if (!c->set) return 0;
  if (setgroups(c->ngroups, c->groups) != 0) return -1;
  if (setgid(c->gid) != 0) return -1;
  if (setuid(c->uid) != 0) return -1;
  return 0;
}

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t ignored = write(sigchld_pipe[1], "c", 1);
  (void)ignored;
  errno = saved;
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

/* Exit the way the child did, so envd reports the same exit code or signal. */
static void exit_like(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    _exit(128 + sig);
  }
  _exit(1);
}

static void apply_resize(int master, char *line) {
  unsigned cols = 0, rows = 0;
  if (sscanf(line, "%u %u", &cols, &rows) == 2 && cols > 0 && rows > 0 && cols <= 65535 &&
      rows <= 65535) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);
  }
}

static int run_pty(const struct creds *c, unsigned cols, unsigned rows, char **argv) {
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  int master = -1, slave = -1;
  if (openpty(&master, &slave, NULL, NULL, &ws) != 0) fail("error openpty: %s%s", "");

  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) fail("error pipe: %s%s", "");
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) fail("error pipe: %s%s", "");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  pid_t pid = fork();
  if (pid < 0) fail("error fork: %s%s", "");
  if (pid == 0) {
    close(master);
    close(errpipe[0]);
    close(STATUS_FD);
    signal(SIGCHLD, SIG_DFL);
    int err = 0;
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) != 0) err = errno;
    if (!err && (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)) err = errno;
    if (slave > 2) close(slave);
    if (!err && apply_creds(c) != 0) err = errno;
    if (!err) {
      execvp(argv[0], argv);
      err = errno;
    }
    ssize_t ignored = write(errpipe[1], &err, sizeof err);
    (void)ignored;
    _exit(127);
  }

  close(slave);
  close(errpipe[1]);
  int child_err = 0;
  ssize_t got;
  do {
    got = read(errpipe[0], &child_err, sizeof child_err);
  } while (got < 0 && errno == EINTR);
  close(errpipe[0]);
  if (got == (ssize_t)sizeof child_err) {
    int status;
    waitpid(pid, &status, 0);
    errno = child_err;
    fail("error cannot run '%s': %s", argv[0]);
  }
  report("pid %d", (int)pid);

  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

  /* Input waiting for the pty: we stop reading stdin while any is pending, so a child that
   * does not read its terminal cannot make us block and stall its own output. */
  char inbuf[IO_CHUNK];
  size_t in_len = 0, in_off = 0;
  char ctl[256];
  size_t ctl_len = 0;
  char outbuf[IO_CHUNK];
  int stdin_open = 1, ctl_open = 1, master_open = 1;
  int exited = 0, status = 0;

  while (!exited || master_open) {
    struct pollfd fds[4];
    int n = 0;
    int i_master = -1, i_stdin = -1, i_ctl = -1, i_chld = -1;
    if (master_open) {
      fds[n] = (struct pollfd){.fd = master, .events = POLLIN | (in_len ? POLLOUT : 0)};
      i_master = n++;
    }
    if (stdin_open && in_len == 0 && !exited) {
      fds[n] = (struct pollfd){.fd = 0, .events = POLLIN};
      i_stdin = n++;
    }
    if (ctl_open && !exited) {
      fds[n] = (struct pollfd){.fd = STATUS_FD, .events = POLLIN};
      i_ctl = n++;
    }
    if (!exited) {
      fds[n] = (struct pollfd){.fd = sigchld_pipe[0], .events = POLLIN};
      i_chld = n++;
    }
    /* After the child is gone, output it wrote may still be on its way through the line
     * discipline; wait briefly for it, then stop (a background job holding the slave open
     * must not keep the terminal alive forever). */
    int timeout = exited ? 50 : -1;
    int r = poll(fds, (nfds_t)n, timeout);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (r == 0 && exited) break;

    if (i_chld >= 0 && (fds[i_chld].revents & POLLIN)) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {
      }
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) exited = 1;
    }
    if (i_master >= 0 && fds[i_master].revents) {
      short re = fds[i_master].revents;
      if (re & POLLIN) {
        ssize_t rd = read(master, outbuf, sizeof outbuf);
        if (rd > 0) {
          if (write_all(1, outbuf, (size_t)rd) != 0) master_open = 0;
        } else if (rd == 0 || (errno != EAGAIN && errno != EINTR)) {
          master_open = 0; /* EIO: every slave fd is closed */
        }
      } else if (re & (POLLHUP | POLLERR)) {
        master_open = 0;
      }
      if (master_open && (re & POLLOUT) && in_len) {
        ssize_t w = write(master, inbuf + in_off, in_len);
        if (w > 0) {
          in_off += (size_t)w;
          in_len -= (size_t)w;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          in_len = 0;
        }
        if (in_len == 0) in_off = 0;
      }
    }
    if (i_stdin >= 0 && fds[i_stdin].revents) {
      ssize_t rd = read(0, inbuf, sizeof inbuf);
      if (rd > 0) {
        in_len = (size_t)rd;
        in_off = 0;
      } else if (rd == 0 || (errno != EAGAIN && errno != EINTR)) {
        stdin_open = 0;
      }
    }
    if (i_ctl >= 0 && fds[i_ctl].revents) {
      ssize_t rd = read(STATUS_FD, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
      if (rd > 0) {
        ctl_len += (size_t)rd;
        char *nl;
        while ((nl = memchr(ctl, '\n', ctl_len)) != NULL) {
          *nl = '\0';
          apply_resize(master, ctl);
          size_t used = (size_t)(nl - ctl) + 1;
          memmove(ctl, nl + 1, ctl_len - used);
          ctl_len -= used;
        }
        if (ctl_len == sizeof ctl - 1) ctl_len = 0; /* garbage without newline */
      } else if (rd == 0 || (errno != EAGAIN && errno != EINTR)) {
        ctl_open = 0;
      }
    }
  }

  if (!exited) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  exit_like(status);
  return 1;
}

int main(int argc, char **argv) {
  struct creds c;
  memset(&c, 0, sizeof c);
  int have_uid = 0, have_gid = 0, pty = 0, exec_mode = 0;
  unsigned cols = 80, rows = 24;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else if (strcmp(argv[i], "--uid") == 0 && i + 1 < argc) {
      c.uid = (uid_t)parse_num(argv[++i], 0x7fffffff);
      have_uid = 1;
    } else if (strcmp(argv[i], "--gid") == 0 && i + 1 < argc) {
      c.gid = (gid_t)parse_num(argv[++i], 0x7fffffff);
      have_gid = 1;
    } else if (strcmp(argv[i], "--groups") == 0 && i + 1 < argc) {
      parse_groups(&c, argv[++i]);
    } else if (strcmp(argv[i], "--pty") == 0 && i + 2 < argc) {
      cols = (unsigned)parse_num(argv[++i], 65535);
      rows = (unsigned)parse_num(argv[++i], 65535);
      pty = 1;
    } else if (strcmp(argv[i], "--exec") == 0) {
      exec_mode = 1;
    } else {
      report("error unknown argument '%s'", argv[i]);
      return 127;
    }
  }
  if (i >= argc || pty == exec_mode) {
    report("error usage: wrenn-pty [--uid N --gid N --groups LIST] (--exec | --pty COLS ROWS) -- CMD ARGS...");
    return 127;
  }
  if (have_uid != have_gid) {
    report("error --uid and --gid go together");
    return 127;
  }
  c.set = have_uid;
  if (cols == 0) cols = 80;
  if (rows == 0) rows = 24;

  if (pty) return run_pty(&c, cols, rows, argv + i);

  fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
  setsid();
  if (apply_creds(&c) != 0) fail("error cannot switch to the user of '%s': %s", argv[i]);
  execvp(argv[i], argv + i);
  fail("error cannot run '%s': %s", argv[i]);
  return 127;
}
