/*
 * sudo: the front end installed as /usr/bin/sudo in Wrenn sandboxes (Debian's binary is
 * diverted to /usr/libexec/sudo/sudo.distrib and stays the one that decides and runs).
 *
 * Why: gVisor ignores set-user-ID bits, so the real sudo cannot become root when a user runs
 * it. Root callers need no privilege and run the real sudo directly. Everyone else hands the
 * invocation to wrenn-sudod (root), which starts the real sudo exactly as a set-user-ID
 * execve() would have: this process's arguments, environment, descriptors, working directory,
 * umask, limits and signal state, and its real uid and gid. Meanwhile this process stands in
 * for that sudo towards the caller:
 *   - with a terminal, sudo gets a pty of its own and this process relays between the two the
 *     way sudo's use_pty mode does (sudoers sets !use_pty so it is not done twice): the user's
 *     terminal goes raw while sudo runs in the foreground, window size follows, and when the
 *     command stops (^Z) so does this process, to be resumed by the shell's fg or bg. ^C, ^\
 *     and ^Z become signals for the pty's foreground group here, because this gVisor's line
 *     discipline never generates them;
 *   - signals sent to this process go to sudo, which forwards them to the command as usual;
 *   - it exits with sudo's status, or dies of the signal sudo died of.
 * If this process is SIGKILLed, the daemon kills what it started, as the kill of this
 * process's group would have on Linux.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "wrenn-sudo.h"

extern char **environ;

static int conn = -1;
static int tty = -1;    /* the caller's controlling terminal, when there is one */
static int master = -1; /* our side of the pty sudo runs on */
static int sigpipe_fds[2] = {-1, -1};

static struct termios saved_termios;
static int tty_is_raw;
static int raw_wanted; /* sudo's rule: raw unless part of a pipeline or started in the background */
static int foreground;

struct buffer {
  char data[16384];
  size_t off;
  size_t len;
};
static struct buffer to_pty, to_tty;

static void restore_tty(void);

static void fatal(const char *what) {
  restore_tty();
  fprintf(stderr, "sudo: %s\n", what);
  exit(1);
}

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  if (write(sigpipe_fds[1], &b, 1) < 0) {
  }
  errno = saved;
}

static int in_foreground(void) {
  return tty >= 0 && tcgetpgrp(tty) == getpgrp();
}

/* Like sudo's sudo_term_raw(fd, 0): no echo, no line editing, no signals, no output mapping. */
static void set_raw(void) {
  if (tty_is_raw || tty < 0 || !raw_wanted || !foreground) return;
  struct termios t;
  if (tcgetattr(tty, &saved_termios) != 0) return;
  t = saved_termios;
  t.c_iflag &= ~(ICRNL | IGNCR | INLCR | IUCLC | IXON);
  t.c_oflag &= ~OPOST;
  t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(tty, TCSADRAIN, &t) == 0) tty_is_raw = 1;
}

static void restore_tty(void) {
  if (!tty_is_raw) return;
  tcsetattr(tty, TCSADRAIN, &saved_termios);
  tty_is_raw = 0;
}

static void send_event(uint32_t type, int32_t value) {
  struct wsudo_event ev = {type, value};
  const char *p = (const char *)&ev;
  size_t left = sizeof ev;
  while (left > 0) {
    ssize_t n = send(conn, p, left, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return; /* the daemon is gone; the read side reports it */
    p += n;
    left -= (size_t)n;
  }
}

static struct winsize last_size;
static int have_size;

/*
 * Gives the pty the terminal's size when it changed. On Linux that also signals SIGWINCH to
 * the pty's foreground group; this gVisor signals nobody (not even us, so the relay loop also
 * checks now and then), so the daemon is asked to, as it is for ^C.
 */
static void sync_window_size(int notify) {
  struct winsize ws;
  if (tty < 0 || master < 0 || ioctl(tty, TIOCGWINSZ, &ws) != 0) return;
  if (have_size && memcmp(&ws, &last_size, sizeof ws) == 0) return;
  last_size = ws;
  have_size = 1;
  ioctl(master, TIOCSWINSZ, &ws);
  if (notify) send_event(WSUDO_TTY_SIGNAL, SIGWINCH);
}

/* Whether sudo itself would run in the background: sudo -b returns at once, leaving no pty. */
static int wants_background(int argc, char **argv) {
  static const struct option longopts[] = {
      {"background", no_argument, NULL, 'b'},
      {"preserve-env", optional_argument, NULL, 'E'},
      {"edit", no_argument, NULL, 'e'},
      {"set-home", no_argument, NULL, 'H'},
      {"login", no_argument, NULL, 'i'},
      {"remove-timestamp", no_argument, NULL, 'K'},
      {"list", no_argument, NULL, 'l'},
      {"preserve-groups", no_argument, NULL, 'P'},
      {"shell", no_argument, NULL, 's'},
      {"other-user", required_argument, NULL, 'U'},
      {"validate", no_argument, NULL, 'v'},
      {"askpass", no_argument, NULL, 'A'},
      {"auth-type", required_argument, NULL, 'a'},
      {"bell", no_argument, NULL, 'B'},
      {"close-from", required_argument, NULL, 'C'},
      {"login-class", required_argument, NULL, 'c'},
      {"chdir", required_argument, NULL, 'D'},
      {"group", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {"host", required_argument, NULL, 256},
      {"reset-timestamp", no_argument, NULL, 'k'},
      {"no-update", no_argument, NULL, 'N'},
      {"non-interactive", no_argument, NULL, 'n'},
      {"prompt", required_argument, NULL, 'p'},
      {"chroot", required_argument, NULL, 'R'},
      {"role", required_argument, NULL, 'r'},
      {"stdin", no_argument, NULL, 'S'},
      {"command-timeout", required_argument, NULL, 'T'},
      {"type", required_argument, NULL, 't'},
      {"user", required_argument, NULL, 'u'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  const char *name = strrchr(argv[0], '/');
  name = name ? name + 1 : argv[0];
  if (strcmp(name, "sudoedit") == 0) return 0;
  /* getopt may reorder what it is given; give it a copy. */
  char **copy = calloc((size_t)argc + 1, sizeof *copy);
  if (!copy) return 0;
  memcpy(copy, argv, sizeof *copy * (size_t)argc);
  int background = 0, ch;
  opterr = 0;
  while ((ch = getopt_long(argc, copy, "+Aa:BbC:c:D:Eeg:Hh::iKklNnPp:R:r:SsT:t:U:u:Vv", longopts,
                           NULL)) != -1) {
    if (ch == 'b') background = 1;
  }
  free(copy);
  return background;
}

static int same_tty(int fd, const struct stat *tty_st) {
  struct stat st;
  return isatty(fd) && fstat(fd, &st) == 0 && st.st_rdev == tty_st->st_rdev;
}

static int is_fifo(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* The caller's controlling terminal, if it has one. */
static int find_terminal(const int std_open[3]) {
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd >= 0) return fd;
  /*
   * This gVisor fails every open of /dev/tty with EIO: the terminal is then the standard
   * descriptor that tcgetpgrp() accepts, which it does only for the controlling terminal.
   */
  for (int i = 0; i < 3; i++) {
    if (std_open[i] && isatty(i) && tcgetpgrp(i) >= 0) return fcntl(i, F_DUPFD_CLOEXEC, 3);
  }
  return -1;
}

static int open_pty(int *slave_out) {
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  char name[128];
  if (m < 0 || grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, name, sizeof name) != 0) {
    if (m >= 0) close(m);
    return -1;
  }
  int s = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) {
    close(m);
    return -1;
  }
  struct termios t;
  if (tcgetattr(tty, &t) == 0) tcsetattr(s, TCSANOW, &t);
  *slave_out = s;
  return m;
}

/* Sends the request: header and descriptors in one message, then the strings. */
static void send_request(struct wsudo_request *req, int *fds, int nfds, int argc, char **argv) {
  size_t envc = 0, body = 0;
  for (int i = 0; i < argc; i++) body += strlen(argv[i]) + 1;
  for (char **e = environ; *e; e++, envc++) body += strlen(*e) + 1;
  if (body > WSUDO_MAX_BODY || (size_t)argc + envc > WSUDO_MAX_STRINGS) {
    fatal("unable to execute: Argument list too long");
  }
  req->argc = (uint32_t)argc;
  req->envc = (uint32_t)envc;
  req->body_len = (uint32_t)body;

  /* Who is asking travels as SCM_CREDENTIALS, which the sentry checks against this process. */
  union {
    char buf[CMSG_SPACE(sizeof(int) * WSUDO_NFDS) + CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {req, sizeof *req};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = CMSG_SPACE(sizeof(struct ucred)) +
                       (nfds > 0 ? CMSG_SPACE(sizeof(int) * (size_t)nfds) : 0);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  struct ucred me = {getpid(), getuid(), getgid()};
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_CREDENTIALS;
  c->cmsg_len = CMSG_LEN(sizeof me);
  memcpy(CMSG_DATA(c), &me, sizeof me);
  if (nfds > 0) {
    c = CMSG_NXTHDR(&msg, c);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
  }
  ssize_t n;
  do {
    n = sendmsg(conn, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) fatal("unable to reach wrenn-sudod");
  /* A stream socket may take the header in parts; the descriptors went with the first byte. */
  for (size_t sent = (size_t)n; sent < sizeof *req;) {
    n = send(conn, (char *)req + sent, sizeof *req - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fatal("unable to reach wrenn-sudod");
    sent += (size_t)n;
  }
  char *data = malloc(body ? body : 1);
  if (!data) fatal("unable to allocate memory");
  char *p = data;
  for (int i = 0; i < argc; i++) p = stpcpy(p, argv[i]) + 1;
  for (char **e = environ; *e; e++) p = stpcpy(p, *e) + 1;
  for (size_t sent = 0; sent < body;) {
    n = send(conn, data + sent, body - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fatal("unable to reach wrenn-sudod");
    sent += (size_t)n;
  }
  free(data);
}

static void connect_daemon(void) {
  /*
   * Only root can have bound a socket in a root-owned directory nobody else may write (this
   * gVisor cannot tell who is at the other end: SO_PEERCRED names the asker).
   */
  struct stat dir;
  if (lstat(WSUDO_SOCKET_DIR, &dir) == 0 &&
      (!S_ISDIR(dir.st_mode) || dir.st_uid != 0 || (dir.st_mode & (S_IWGRP | S_IWOTH)))) {
    fatal(WSUDO_SOCKET_DIR " is not a directory only root may change; refusing to use it");
  }
  conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, WSUDO_SOCKET, sizeof addr.sun_path - 1);
  if (conn < 0 || connect(conn, (struct sockaddr *)&addr, sizeof addr) != 0) {
    fprintf(stderr,
            "sudo: unable to reach wrenn-sudod at %s: %s\n"
            "sudo: gVisor cannot run set-user-ID programs; this sandbox's sudo needs that "
            "service, started by its init\n",
            WSUDO_SOCKET, strerror(errno));
    exit(1);
  }
}

static void flush_to_tty_blocking(void) {
  if (tty < 0) return;
  while (to_tty.len > to_tty.off) {
    ssize_t n = write(tty, to_tty.data + to_tty.off, to_tty.len - to_tty.off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    to_tty.off += (size_t)n;
  }
  to_tty.off = to_tty.len = 0;
}

/* sudo has ended: its last output may still be on the way through the pty. */
static void drain_pty(void) {
  if (master < 0) return;
  for (;;) {
    flush_to_tty_blocking();
    struct pollfd p = {master, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) break;
    ssize_t n = read(master, to_tty.data, sizeof to_tty.data);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break; /* EIO: nobody holds the pty any more */
    to_tty.off = 0;
    to_tty.len = (size_t)n;
  }
  flush_to_tty_blocking();
}

static void finish(int status) {
  drain_pty();
  restore_tty();
  if (WIFEXITED(status)) exit(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    /* As sudo does: die of the same signal, so the shell reports it, without a core file. */
    int sig = WTERMSIG(status);
    struct rlimit none = {0, 0};
    setrlimit(RLIMIT_CORE, &none);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    exit(128 + sig);
  }
  exit(1);
}

static void resume(void) {
  foreground = in_foreground();
  set_raw();
  sync_window_size(1);
  send_event(WSUDO_CONTINUE, foreground);
}

/* The command stopped, so sudo did: stop this process's job too, as sudo's pty code does. */
static void suspend_like_sudo(int sig) {
  if ((sig == SIGTTIN || sig == SIGTTOU) && tty >= 0 && in_foreground()) {
    /* It only wanted the terminal, which it may have. */
    resume();
    return;
  }
  flush_to_tty_blocking();
  restore_tty();
  struct sigaction dfl, old;
  memset(&dfl, 0, sizeof dfl);
  sigemptyset(&dfl.sa_mask);
  dfl.sa_handler = SIG_DFL;
  if (sig != SIGSTOP) sigaction(sig, &dfl, &old);
  killpg(getpgrp(), sig);
  /* Here again after SIGCONT (or at once, if the kernel discarded the stop: orphaned group). */
  if (sig != SIGSTOP) sigaction(sig, &old, NULL);
  unsigned char pending[64];
  ssize_t n;
  while ((n = read(sigpipe_fds[0], pending, sizeof pending)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      if (pending[i] != SIGCONT && pending[i] != SIGWINCH) send_event(WSUDO_SIGNAL, pending[i]);
    }
  }
  resume();
}

/*
 * The interrupt, quit and suspend characters become signals for the pty's foreground group
 * when its settings say so (ISIG), and are echoed as ^C; the rest is kept, in order. A Linux
 * line discipline does this itself; this gVisor's passes the characters on as data.
 */
static size_t line_discipline_signals(char *data, size_t len) {
  struct termios t;
  if (tcgetattr(master, &t) != 0 || !(t.c_lflag & ISIG)) return len;
  size_t kept = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)data[i];
    int sig = 0;
    if (c != _POSIX_VDISABLE) {
      if (c == t.c_cc[VINTR]) {
        sig = SIGINT;
      } else if (c == t.c_cc[VQUIT]) {
        sig = SIGQUIT;
      } else if (c == t.c_cc[VSUSP]) {
        sig = SIGTSTP;
      }
    }
    if (!sig) {
      data[kept++] = (char)c;
      continue;
    }
    if ((t.c_lflag & ECHO) && (t.c_lflag & ECHOCTL) && c < 0x20) {
      char echo[2] = {'^', (char)(c + 0x40)};
      if (write(tty, echo, sizeof echo) < 0) {
      }
    }
    send_event(WSUDO_TTY_SIGNAL, sig);
  }
  return kept;
}

static void handle_signal(int sig) {
  switch (sig) {
    case SIGCONT:
      resume();
      break;
    case SIGWINCH:
      if (master >= 0) {
        sync_window_size(1);
      } else {
        send_event(WSUDO_SIGNAL, sig);
      }
      break;
    default:
      send_event(WSUDO_SIGNAL, sig);
  }
}

static void handle_event(const struct wsudo_event *ev) {
  if (ev->type == WSUDO_STOPPED && ev->value > 0 && ev->value < 65) {
    suspend_like_sudo(ev->value);
  } else if (ev->type == WSUDO_EXITED) {
    finish(ev->value);
  }
}

/* How often the relay looks for a new terminal size that nobody signalled. */
#define SIZE_CHECK_MS 500

static void relay(void) {
  int tty_hung_up = 0;
  long long size_checked_ms = 0;
  struct wsudo_event ev;
  size_t have = 0;
  int master_open = master >= 0;
  for (;;) {
    int reading_tty = master_open && tty >= 0 && foreground;
    struct pollfd p[4];
    int n = 0;
    p[n++] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
    p[n++] = (struct pollfd){conn, POLLIN, 0};
    int im = -1, it = -1;
    if (master_open) {
      short events = 0;
      if (to_tty.len == 0) events |= POLLIN;
      if (to_pty.len > to_pty.off) events |= POLLOUT;
      im = n;
      p[n++] = (struct pollfd){master, events, 0};
    }
    if (tty >= 0 && !tty_hung_up) {
      short events = 0;
      if (reading_tty && to_pty.len == 0) events |= POLLIN;
      if (to_tty.len > to_tty.off) events |= POLLOUT;
      it = n;
      p[n++] = (struct pollfd){tty, events, 0};
    }
    if (poll(p, (nfds_t)n, master_open && tty >= 0 ? SIZE_CHECK_MS : -1) < 0) {
      if (errno == EINTR) continue;
      fatal("poll failed");
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (now_ms - size_checked_ms >= SIZE_CHECK_MS) {
      size_checked_ms = now_ms;
      sync_window_size(1);
    }
    if (p[0].revents & POLLIN) {
      unsigned char sigs[64];
      ssize_t got = read(sigpipe_fds[0], sigs, sizeof sigs);
      for (ssize_t i = 0; i < got; i++) handle_signal(sigs[i]);
    }
    if (p[1].revents) {
      ssize_t got = read(conn, (char *)&ev + have, sizeof ev - have);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        drain_pty();
        fatal("lost the connection to wrenn-sudod");
      }
      have += (size_t)got;
      if (have == sizeof ev) {
        have = 0;
        handle_event(&ev);
      }
    }
    if (im >= 0 && (p[im].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(master, to_tty.data, sizeof to_tty.data);
      if (got > 0 && !tty_hung_up) {
        to_tty.off = 0;
        to_tty.len = (size_t)got;
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        master_open = 0; /* EIO: every holder of the pty closed it */
      }
    }
    if (im >= 0 && (p[im].revents & POLLOUT) && master_open) {
      ssize_t got = write(master, to_pty.data + to_pty.off, to_pty.len - to_pty.off);
      if (got > 0) to_pty.off += (size_t)got;
      if (to_pty.off == to_pty.len) to_pty.off = to_pty.len = 0;
    }
    if (it >= 0 && !reading_tty && (p[it].revents & (POLLHUP | POLLERR))) {
      tty_hung_up = 1;
      to_tty.off = to_tty.len = 0;
    }
    if (it >= 0 && (p[it].revents & POLLOUT)) {
      ssize_t got = write(tty, to_tty.data + to_tty.off, to_tty.len - to_tty.off);
      if (got > 0) to_tty.off += (size_t)got;
      if (got < 0 && errno != EINTR && errno != EAGAIN) to_tty.off = to_tty.len; /* hung up */
      if (to_tty.off == to_tty.len) to_tty.off = to_tty.len = 0;
    }
    if (it >= 0 && reading_tty && (p[it].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(tty, to_pty.data, sizeof to_pty.data);
      if (got > 0) {
        to_pty.off = 0;
        to_pty.len = line_discipline_signals(to_pty.data, (size_t)got);
      } else if (got == 0 && (p[it].revents & POLLHUP)) {
        tty_hung_up = 1; /* its output goes nowhere; sudo hears of it by SIGHUP, if at all */
        to_tty.off = to_tty.len = 0;
      } else if (got == 0) {
        /* ^D on a terminal in cooked mode: the same end of file for whoever reads the pty. */
        struct termios t;
        if (tcgetattr(master, &t) == 0) {
          to_pty.off = 0;
          to_pty.data[0] = (char)t.c_cc[VEOF];
          to_pty.len = 1;
        }
      } else if (errno == EIO) {
        foreground = 0; /* in the background after all, or the terminal hung up */
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 1) fatal("no program name");
  if (geteuid() == 0) {
    /* Root needs no set-user-ID bit: the real sudo works as it is. */
    execv(WSUDO_REAL_SUDO, argv);
    fprintf(stderr, "sudo: unable to execute %s: %s\n", WSUDO_REAL_SUDO, strerror(errno));
    return 1;
  }

  /* What execve() would have carried, recorded before this process changes any of it. */
  struct wsudo_request req;
  memset(&req, 0, sizeof req);
  req.magic = WSUDO_MAGIC;
  req.version = WSUDO_VERSION;
  for (int sig = 1; sig < 65; sig++) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
      req.sig_ignored |= 1ull << (sig - 1);
    }
  }
  sigset_t blocked;
  sigprocmask(SIG_BLOCK, NULL, &blocked);
  for (int sig = 1; sig < 65; sig++) {
    if (sigismember(&blocked, sig) == 1) req.sig_blocked |= 1ull << (sig - 1);
  }
  mode_t mask = umask(0);
  umask(mask);
  req.umask = mask;
  for (int i = 0; i < WSUDO_NLIMITS; i++) {
    struct rlimit rl;
    if (getrlimit(i, &rl) != 0) rl.rlim_cur = rl.rlim_max = RLIM_INFINITY;
    req.rlimits[i].cur = rl.rlim_cur;
    req.rlimits[i].max = rl.rlim_max;
  }
  int std_open[3];
  for (int fd = 0; fd < 3; fd++) std_open[fd] = fcntl(fd, F_GETFD) >= 0;
  /* Keep this process's own descriptors out of 0-2, which may have been closed. */
  for (int fd = 0; fd < 3; fd++) {
    if (!std_open[fd] && open("/dev/null", O_RDWR) != fd) fatal("unable to open /dev/null");
  }

  int fds[WSUDO_NFDS];
  int nfds = 0;
  for (int i = 0; i < WSUDO_NFDS; i++) req.fd_index[i] = -1;

  struct stat tty_st;
  int slave = -1;
  if (!wants_background(argc, argv)) tty = find_terminal(std_open);
  if (tty >= 0 && fstat(tty, &tty_st) == 0) {
    master = open_pty(&slave);
  }
  if (master < 0 && tty >= 0) {
    close(tty);
    tty = -1;
  }
  int pipeline = 0;
  for (int fd = 0; fd < 3; fd++) {
    if (!std_open[fd]) continue;
    if (master >= 0 && same_tty(fd, &tty_st)) {
      if (req.fd_index[WSUDO_FD_TTY] < 0) {
        req.fd_index[WSUDO_FD_TTY] = nfds;
        fds[nfds++] = slave;
      }
      req.fd_index[fd] = req.fd_index[WSUDO_FD_TTY];
    } else {
      if (is_fifo(fd)) pipeline = 1;
      req.fd_index[fd] = nfds;
      fds[nfds++] = fd;
    }
  }
  if (master >= 0 && req.fd_index[WSUDO_FD_TTY] < 0) {
    req.fd_index[WSUDO_FD_TTY] = nfds;
    fds[nfds++] = slave;
  }
  int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cwd >= 0) {
    req.fd_index[WSUDO_FD_CWD] = nfds;
    fds[nfds++] = cwd;
  }

  if (master >= 0) {
    foreground = in_foreground();
    /* sudo starts a command in the background when it was itself started from a script. */
    int exec_bg = foreground && !same_tty(STDIN_FILENO, &tty_st) && getpgrp() != getpid();
    raw_wanted = !pipeline && !exec_bg;
    if (foreground && !exec_bg) req.flags |= WSUDO_FLAG_FOREGROUND;
    sync_window_size(0);
  }

  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) fatal("unable to create pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  /* Touching the terminal from the background must fail, not stop this process. */
  sigaction(SIGTTIN, &sa, NULL);
  sigaction(SIGTTOU, &sa, NULL);
  static const int relayed[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                                SIGUSR2, SIGALRM, SIGTSTP, SIGCONT, SIGWINCH};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  for (size_t i = 0; i < sizeof relayed / sizeof relayed[0]; i++) {
    int sig = relayed[i];
    /* What the caller ignored (nohup, a shell's background job) stays ignored, for sudo too. */
    if (!((req.sig_ignored >> (sig - 1)) & 1)) sigaction(sig, &sa, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);

  connect_daemon();
  send_request(&req, fds, nfds, argc, argv);
  if (slave >= 0) close(slave); /* the pty must hang up when sudo's side is done with it */
  if (cwd >= 0) close(cwd);

  if (master >= 0) {
    /* Not the terminal: its open file may be the shell's own, which must stay blocking. */
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    set_raw();
  }
  relay();
  return 1;
}
