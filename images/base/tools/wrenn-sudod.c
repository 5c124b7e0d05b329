/*
 * wrenn-sudod: starts Debian's real sudo, as a set-user-ID execve() would have, for callers
 * of the `sudo` front end (sudo.c).
 *
 * Why: gVisor (runsc) does not implement set-user-ID executables, and on every execve() it
 * forces the effective uid back to the real uid, so /usr/bin/sudo can never become root by
 * itself. But the sandbox has root processes, and this is one of them, started by
 * wrenn-init before anything else. It listens on WSUDO_SOCKET (a Unix socket: it survives a
 * gVisor checkpoint, unlike TCP) and, for each connection, forks a monitor that
 *   1. reads the request (argv, environment, stdio, cwd, umask, limits, signal state) and the
 *      caller's pid/uid/gid from SCM_CREDENTIALS, which the caller cannot forge;
 *   2. starts the real sudo with the caller's groups and gid, uid 0, and the environment
 *      minus what glibc strips for set-user-ID programs (gVisor never sets AT_SECURE, so
 *      glibc would not strip it itself), and preloads setuid-exec.c, which sets the real uid
 *      to the caller's before sudo's main() runs. sudo then sees exactly what it would see
 *      on Linux, and its own policy (sudoers, PAM), options, environment handling and
 *      messages apply unchanged;
 *   3. makes the pty the front end passes (when the caller has a terminal) sudo's controlling
 *      terminal, in a session of its own, and acts as the job-control shell of that session:
 *      sudo stopping is reported, the front end's "continue" resumes it in the foreground or
 *      the background;
 *   4. relays the signals the front end forwards to sudo, turns the ^C, ^\ and ^Z it reports
 *      into signals for the pty's foreground group (this gVisor's line discipline never
 *      does), reports the exit status, and if the front end disappears without hearing it
 *      (it was SIGKILLed, as envd kills a whole session), kills every process of the session
 *      it started, as that kill would have on Linux.
 * Policy is sudo's: this daemon refuses nobody, just as the kernel lets anyone execute a
 * set-user-ID sudo. The main process only accepts and forks, so a bad client can at worst
 * crash its own monitor.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
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

/* Long enough for any live client under load; a stalled one must not hold a process forever. */
#define REQUEST_TIMEOUT_SECONDS 30
#define MAX_GROUPS 65536

static void logmsg(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  /* Best effort: the log is the sandbox's stdout on the host. */
  if (write(STDERR_FILENO, "wrenn-sudod: ", 13) < 0 || write(STDERR_FILENO, buf, (size_t)n) < 0) {
  }
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(int fd, void *data, size_t len) {
  char *p = data;
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* ---- the monitor: one per connection ---- */

struct monitor {
  int conn;
  int fds[WSUDO_NFDS]; /* received descriptors, by role; -1 when absent */
  struct wsudo_request req;
  char *body;
  char **argv;
  char **envp;
  struct ucred peer;
  pid_t sudo_pid;
};

static int sigchld_pipe[2] = {-1, -1};

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  char b = 0;
  if (write(sigchld_pipe[1], &b, 1) < 0) {
  }
  errno = saved;
}

static int send_event(int conn, uint32_t type, int32_t value) {
  struct wsudo_event ev = {type, value};
  return write_all(conn, &ev, sizeof ev);
}

/* A refusal the caller sees the way it would see one from sudo itself. */
static void refuse(struct monitor *m, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  int err = m->fds[WSUDO_FD_STDERR];
  if (err >= 0 && n > 0) {
    if (write(err, "sudo: ", 6) < 0 || write(err, buf, strnlen(buf, sizeof buf)) < 0 ||
        write(err, "\n", 1) < 0) {
    }
  }
  send_event(m->conn, WSUDO_EXITED, 1 << 8);
}

/*
 * Reads the fixed part of the request, the descriptors that travel with its first byte, and
 * the sender's credentials. Those come from SCM_CREDENTIALS, which the sentry checks against
 * the sending process (a user can only state its own uid, gid and pid). Not SO_PEERCRED: this
 * gVisor answers it with the credentials of the process that asks, not of its peer.
 */
static int receive_header(struct monitor *m, int *received, int *nreceived) {
  size_t got = 0;
  int have_creds = 0;
  *nreceived = 0;
  while (got < sizeof m->req) {
    union {
      char buf[CMSG_SPACE(sizeof(int) * WSUDO_NFDS) + CMSG_SPACE(sizeof(struct ucred))];
      struct cmsghdr align;
    } ctl;
    struct iovec iov = {(char *)&m->req + got, sizeof m->req - got};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof ctl.buf;
    ssize_t n = recvmsg(m->conn, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    int bad = (msg.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_RIGHTS) {
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
          int fd;
          memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          if (*nreceived < WSUDO_NFDS) {
            received[(*nreceived)++] = fd;
          } else {
            close(fd);
            bad = 1;
          }
        }
      } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        /* Every part of the header must come from the same, identified, sender. */
        if (cred.pid <= 0 || (have_creds && memcmp(&cred, &m->peer, sizeof cred) != 0)) bad = 1;
        m->peer = cred;
        have_creds = 1;
      }
    }
    if (bad || !have_creds) return -1;
    got += (size_t)n;
  }
  return 0;
}

static int validate_request(struct monitor *m, int *received, int nreceived) {
  const struct wsudo_request *r = &m->req;
  if (r->magic != WSUDO_MAGIC || r->version != WSUDO_VERSION) return -1;
  uint64_t strings = (uint64_t)r->argc + r->envc;
  if (r->argc < 1 || strings > WSUDO_MAX_STRINGS) return -1;
  if (r->body_len > WSUDO_MAX_BODY || r->body_len < strings) return -1;
  /* A descriptor may serve several roles (the pty is often stdin, stdout and stderr). */
  int used[WSUDO_NFDS] = {0};
  for (int role = 0; role < WSUDO_NFDS; role++) {
    int32_t i = r->fd_index[role];
    if (i == -1) continue;
    if (i < 0 || i >= nreceived) return -1;
    used[i] = 1;
    m->fds[role] = received[i];
  }
  for (int i = 0; i < nreceived; i++) {
    if (!used[i]) return -1;
  }
  struct stat st;
  if (m->fds[WSUDO_FD_CWD] >= 0 &&
      (fstat(m->fds[WSUDO_FD_CWD], &st) != 0 || !S_ISDIR(st.st_mode))) {
    return -1;
  }
  if (m->fds[WSUDO_FD_TTY] >= 0 && !isatty(m->fds[WSUDO_FD_TTY])) return -1;
  return 0;
}

/* argc arguments then envc entries, each NUL-terminated, filling the body exactly. */
static int split_body(struct monitor *m) {
  const struct wsudo_request *r = &m->req;
  uint32_t total = r->argc + r->envc;
  char **all = calloc((size_t)total + 2, sizeof *all);
  if (!all) return -1;
  char *p = m->body;
  char *end = m->body + r->body_len;
  for (uint32_t i = 0; i < total; i++) {
    char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul) return -1;
    all[i] = p;
    p = nul + 1;
  }
  if (p != end) return -1;
  /* argv and envp share the array: a NULL goes between them. */
  memmove(all + r->argc + 1, all + r->argc, sizeof *all * r->envc);
  all[r->argc] = NULL;
  all[total + 1] = NULL;
  m->argv = all;
  m->envp = all + r->argc + 1;
  return 0;
}

/*
 * What glibc removes from the environment of a set-user-ID program (unsecvars.h), and all of
 * LD_*: sudo runs here with AT_SECURE unset, so glibc would otherwise honour them for a
 * root process on behalf of any user.
 */
static int unsafe_for_setuid(const char *entry) {
  static const char *const names[] = {
      "GCONV_PATH",  "GETCONF_DIR",  "GLIBC_TUNABLES",   "HOSTALIASES", "LOCALDOMAIN",
      "LOCPATH",     "MALLOC_CHECK_", "MALLOC_TRACE",    "NIS_PATH",    "NLSPATH",
      "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR", "TZDIR", WSUDO_RUID_ENV,
  };
  const char *eq = strchr(entry, '=');
  if (!eq) return 1;
  size_t len = (size_t)(eq - entry);
  if (len >= 3 && strncmp(entry, "LD_", 3) == 0) return 1;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i]) == len && strncmp(entry, names[i], len) == 0) return 1;
  }
  return 0;
}

/* The environment sudo starts with: the caller's, filtered, plus the shim and its argument. */
static char **setuid_environment(struct monitor *m) {
  uint32_t envc = m->req.envc;
  char **out = calloc((size_t)envc + 3, sizeof *out);
  static char ruid[64];
  if (!out) return NULL;
  size_t n = 0;
  for (uint32_t i = 0; i < envc; i++) {
    if (!unsafe_for_setuid(m->envp[i])) out[n++] = m->envp[i];
  }
  snprintf(ruid, sizeof ruid, "%s=%u", WSUDO_RUID_ENV, (unsigned)m->peer.uid);
  out[n++] = "LD_PRELOAD=" WSUDO_SETUID_SHIM;
  out[n++] = ruid;
  out[n] = NULL;
  return out;
}

/* Only a root-owned file nobody else can write may run as root; sudo also needs its s-bit. */
static int trusted_file(const char *path, int need_setuid) {
  struct stat st;
  if (lstat(path, &st) != 0) return -1;
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) return -1;
  if (need_setuid && !(st.st_mode & S_ISUID)) return -1;
  return 0;
}

static int caller_groups(const struct ucred *peer, gid_t **out) {
  struct passwd *pw = getpwuid(peer->uid);
  int n = 64;
  gid_t *groups = malloc(sizeof *groups * (size_t)n);
  if (!groups) return -1;
  if (!pw) {
    groups[0] = peer->gid;
    *out = groups;
    return 1;
  }
  for (;;) {
    int want = n;
    if (getgrouplist(pw->pw_name, peer->gid, groups, &want) >= 0) {
      *out = groups;
      return want;
    }
    if (want <= n || want > MAX_GROUPS) {
      free(groups);
      return -1;
    }
    n = want;
    gid_t *bigger = realloc(groups, sizeof *groups * (size_t)n);
    if (!bigger) {
      free(groups);
      return -1;
    }
    groups = bigger;
  }
}

/* In the child: become what execve() of a set-user-ID sudo by the caller would have made. */
static void exec_sudo(struct monitor *m, char **envp, gid_t *groups, int ngroups, int go) {
  char b;
  if (read(go, &b, 1) != 1) _exit(1);
  close(go);
  setpgid(0, 0);

  static const int targets[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
  for (int i = 0; i < 3; i++) {
    int src = m->fds[i];
    if (src < 0) {
      close(targets[i]);
    } else if (dup2(src, targets[i]) < 0) {
      _exit(1);
    }
  }
  int err = m->fds[WSUDO_FD_STDERR] >= 0 ? STDERR_FILENO : -1;

  if (m->fds[WSUDO_FD_CWD] >= 0 ? fchdir(m->fds[WSUDO_FD_CWD]) : chdir("/")) {
    if (chdir("/") != 0) _exit(1);
  }
  umask((mode_t)(m->req.umask & 07777));
  for (int i = 0; i < WSUDO_NLIMITS; i++) {
    struct rlimit own, want;
    if (getrlimit(i, &own) != 0) continue;
    want.rlim_max = m->req.rlimits[i].max < own.rlim_max ? m->req.rlimits[i].max : own.rlim_max;
    want.rlim_cur = m->req.rlimits[i].cur < want.rlim_max ? m->req.rlimits[i].cur : want.rlim_max;
    setrlimit(i, &want);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < 65; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    sa.sa_handler = (m->req.sig_ignored >> (sig - 1)) & 1 ? SIG_IGN : SIG_DFL;
    sigaction(sig, &sa, NULL); /* fails harmlessly for glibc's internal signals */
  }
  sigset_t mask;
  sigemptyset(&mask);
  for (int sig = 1; sig < 65; sig++) {
    if ((m->req.sig_blocked >> (sig - 1)) & 1) sigaddset(&mask, sig);
  }
  sigprocmask(SIG_SETMASK, &mask, NULL);

  if (setgroups((size_t)ngroups, groups) != 0 ||
      setresgid(m->peer.gid, m->peer.gid, m->peer.gid) != 0) {
    if (err >= 0) dprintf(err, "sudo: unable to set the caller's groups: %s\n", strerror(errno));
    _exit(1);
  }
  execve(WSUDO_REAL_SUDO, m->argv, envp);
  if (err >= 0) dprintf(err, "sudo: unable to execute %s: %s\n", WSUDO_REAL_SUDO, strerror(errno));
  _exit(1);
}

/*
 * Signals every process whose session (by_session) or process group is `id`, but for this
 * monitor and `spare`, from /proc/<pid>/stat (fields after the last ')').
 */
static void signal_matching(int by_session, pid_t id, int sig, pid_t spare) {
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    char *endp;
    long pid = strtol(e->d_name, &endp, 10);
    if (*endp || pid <= 0 || pid == getpid() || pid == spare) continue;
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, stat, sizeof stat - 1);
    close(fd);
    if (n <= 0) continue;
    stat[n] = '\0';
    char *paren = strrchr(stat, ')');
    char state;
    long ppid, pgrp, session;
    if (!paren || sscanf(paren + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &session) != 4) {
      continue;
    }
    if ((by_session ? session : pgrp) == id) kill((pid_t)pid, sig);
  }
  closedir(d);
}

/* Everything this monitor started that did not leave its session. */
static void kill_session(void) {
  signal_matching(1, getpid(), SIGKILL, 0);
}

/*
 * sudo does not forward a signal whose sender's process group is sudo's or the command's.
 * This gVisor's tcsetpgrp() renames the process group that was in the foreground instead of
 * replacing it, so this monitor's own group takes the id of whichever group it put or bash
 * puts in the foreground, and sudo would ignore everything it sends. A child in a group of
 * its own has an id nobody renames.
 */
static void signal_as_outsider(pid_t pid, int sig) {
  pid_t helper = fork();
  if (helper == 0) {
    setpgid(0, 0);
    kill(pid, sig);
    _exit(0);
  }
  while (helper > 0 && waitpid(helper, NULL, 0) < 0 && errno == EINTR) {
  }
}

/*
 * What a Linux tty does on ^C, ^\, ^Z and a change of window size. sudo itself only sees
 * the command stop (or redraw).
 */
static void signal_foreground(struct monitor *m, int sig) {
  int tty = m->fds[WSUDO_FD_TTY];
  if (tty < 0 || (sig != SIGINT && sig != SIGQUIT && sig != SIGTSTP && sig != SIGWINCH)) return;
  pid_t fg = tcgetpgrp(tty);
  if (fg <= 0) return;
  /*
   * The kernel's own signal would reach sudo too, and sudo would ignore it as sent by the
   * kernel; ours would look sent by a user, and be forwarded a second time.
   */
  if (fg == m->sudo_pid) {
    signal_matching(0, fg, sig, m->sudo_pid);
  } else {
    killpg(fg, sig);
  }
}

/*
 * sudo is done and this monitor, the pty's controlling process, is about to exit: Linux then
 * sends SIGHUP and SIGCONT to the pty's foreground group (what the command left running there
 * without nohup ends, as under sudo's own use_pty). This gVisor sends nothing.
 */
static void hang_up(struct monitor *m) {
  int tty = m->fds[WSUDO_FD_TTY];
  if (tty < 0) return;
  pid_t fg = tcgetpgrp(tty);
  if (fg <= 0 || fg == getpid()) return;
  killpg(fg, SIGHUP);
  killpg(fg, SIGCONT);
}

static int is_relayable(int sig) {
  switch (sig) {
    case SIGHUP:
    case SIGINT:
    case SIGQUIT:
    case SIGUSR1:
    case SIGUSR2:
    case SIGALRM:
    case SIGTERM:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGCONT:
    case SIGWINCH:
    case SIGPIPE:
      return 1;
    default:
      return 0;
  }
}

/* The monitor leads the session, so its group id is its pid (getpgrp() may lie, see above). */
static void set_foreground(struct monitor *m, int foreground) {
  int tty = m->fds[WSUDO_FD_TTY];
  if (tty >= 0) tcsetpgrp(tty, foreground ? m->sudo_pid : getpid());
}

/* Relays until sudo ends; returns once the client has its exit status or is gone. */
static void supervise(struct monitor *m) {
  struct wsudo_event ev;
  size_t have = 0;
  int client_gone = 0;
  for (;;) {
    struct pollfd p[2] = {{sigchld_pipe[0], POLLIN, 0}, {m->conn, POLLIN, 0}};
    int n = poll(p, client_gone ? 1 : 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      logmsg("poll: %s", strerror(errno));
      kill_session();
      return;
    }
    if (p[0].revents) {
      char drain[64];
      while (read(sigchld_pipe[0], drain, sizeof drain) > 0) {
      }
      int status;
      pid_t r;
      while ((r = waitpid(m->sudo_pid, &status, WNOHANG | WUNTRACED)) > 0) {
        if (WIFSTOPPED(status)) {
          if (!client_gone && send_event(m->conn, WSUDO_STOPPED, WSTOPSIG(status)) != 0) {
            client_gone = 1;
            kill_session();
          }
          continue;
        }
        if (!client_gone) send_event(m->conn, WSUDO_EXITED, status);
        if (client_gone) kill_session();
        hang_up(m);
        return;
      }
    }
    if (!client_gone && p[1].revents) {
      ssize_t got = read(m->conn, (char *)&ev + have, sizeof ev - have);
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        /* The client died before hearing how sudo ended. */
        client_gone = 1;
        kill_session();
        continue;
      }
      have += (size_t)got;
      if (have < sizeof ev) continue;
      have = 0;
      if (ev.type == WSUDO_SIGNAL && is_relayable(ev.value)) {
        signal_as_outsider(m->sudo_pid, ev.value);
      } else if (ev.type == WSUDO_TTY_SIGNAL) {
        signal_foreground(m, ev.value);
      } else if (ev.type == WSUDO_CONTINUE) {
        set_foreground(m, ev.value == 1);
        killpg(m->sudo_pid, SIGCONT);
      } else {
        logmsg("ignored a malformed event (type %u) from uid %u", ev.type, (unsigned)m->peer.uid);
      }
    }
  }
}

static void serve(int conn) {
  struct monitor m;
  memset(&m, 0, sizeof m);
  m.conn = conn;
  for (int i = 0; i < WSUDO_NFDS; i++) m.fds[i] = -1;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = SIG_IGN;
  /* Hang-ups of the pty come to this session leader; the monitor must outlive them. */
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGTTOU, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) != 0) _exit(1);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART; /* and no SA_NOCLDSTOP: sudo stopping must wake us */
  sigaction(SIGCHLD, &sa, NULL);

  if (setsid() < 0) _exit(1);

  int on = 1;
  if (setsockopt(conn, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) _exit(1);
  struct timeval timeout = {REQUEST_TIMEOUT_SECONDS, 0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  int received[WSUDO_NFDS];
  int nreceived = 0;
  if (receive_header(&m, received, &nreceived) != 0 ||
      validate_request(&m, received, nreceived) != 0) {
    logmsg("refused a malformed or unidentified request");
    _exit(1);
  }
  m.body = malloc((size_t)m.req.body_len + 1);
  if (!m.body || read_all(conn, m.body, m.req.body_len) != 0 || split_body(&m) != 0) {
    logmsg("refused a malformed request from uid %u", (unsigned)m.peer.uid);
    _exit(1);
  }
  struct timeval none = {0, 0};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);

  if (trusted_file(WSUDO_REAL_SUDO, 1) != 0) {
    refuse(&m, "%s must be owned by uid 0 and have the setuid bit set", WSUDO_REAL_SUDO);
    _exit(1);
  }
  if (trusted_file(WSUDO_SETUID_SHIM, 0) != 0) {
    refuse(&m, "%s is missing or not owned by root", WSUDO_SETUID_SHIM);
    _exit(1);
  }
  char **envp = setuid_environment(&m);
  gid_t *groups = NULL;
  int ngroups = caller_groups(&m.peer, &groups);
  if (!envp || ngroups < 0) {
    refuse(&m, "unable to allocate memory");
    _exit(1);
  }
  int tty = m.fds[WSUDO_FD_TTY];
  if (tty >= 0 && ioctl(tty, TIOCSCTTY, 0) != 0) {
    refuse(&m, "unable to set the controlling terminal: %s", strerror(errno));
    _exit(1);
  }

  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    refuse(&m, "unable to create pipe: %s", strerror(errno));
    _exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    refuse(&m, "unable to fork: %s", strerror(errno));
    _exit(1);
  }
  if (pid == 0) {
    close(go[1]);
    close(conn);
    exec_sudo(&m, envp, groups, ngroups, go[0]);
  }
  close(go[0]);
  m.sudo_pid = pid;
  setpgid(pid, pid);
  set_foreground(&m, (m.req.flags & WSUDO_FLAG_FOREGROUND) != 0);
  if (write(go[1], "", 1) != 1) {
    kill(pid, SIGKILL);
  }
  close(go[1]);
  /* The command must see EOF on pipes once it and its children close them, not wait on us. */
  for (int i = 0; i < nreceived; i++) {
    if (received[i] != tty) close(received[i]);
  }
  supervise(&m);
  _exit(0);
}

/* ---- the listener ---- */

static int listen_socket(void) {
  struct stat st;
  if (mkdir(WSUDO_SOCKET_DIR, 0755) != 0 && errno != EEXIST) return -1;
  if (lstat(WSUDO_SOCKET_DIR, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0) {
    errno = EPERM;
    return -1;
  }
  chmod(WSUDO_SOCKET_DIR, 0755);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  int on = 1;
  setsockopt(s, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, WSUDO_SOCKET, sizeof addr.sun_path - 1);
  unlink(WSUDO_SOCKET);
  mode_t old = umask(0111);
  int r = bind(s, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  /* Everyone may ask; sudo decides. */
  if (r != 0 || chmod(WSUDO_SOCKET, 0666) != 0 || listen(s, 128) != 0) {
    int saved = errno;
    close(s);
    errno = saved;
    return -1;
  }
  return s;
}

int main(int argc, char **argv) {
  int ready_fd = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--ready-fd") == 0 && i + 1 < argc) {
      ready_fd = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: wrenn-sudod [--ready-fd FD]\n");
      return 2;
    }
  }
  if (getuid() != 0 || geteuid() != 0) {
    logmsg("must run as root");
    return 1;
  }
  setsid();
  if (chdir("/") != 0) return 1;
  umask(022);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    /* A monitor writes its rare complaints to stderr: it must be open. */
    if (fcntl(STDOUT_FILENO, F_GETFD) < 0) dup2(null, STDOUT_FILENO);
    if (fcntl(STDERR_FILENO, F_GETFD) < 0) dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) close(null);
  }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  /* Monitors are reaped by the kernel: nothing here waits for them. */
  sa.sa_flags = SA_NOCLDWAIT;
  sigaction(SIGCHLD, &sa, NULL);

  int s = listen_socket();
  if (s < 0) {
    logmsg("cannot listen on %s: %s", WSUDO_SOCKET, strerror(errno));
    return 1;
  }
  if (ready_fd >= 0) {
    if (write(ready_fd, "1", 1) != 1) {
    }
    close(ready_fd);
  }

  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      /* Out of descriptors or memory: wait for some to come back rather than spin or die. */
      logmsg("accept: %s", strerror(errno));
      struct timespec pause = {0, 200 * 1000 * 1000};
      nanosleep(&pause, NULL);
      continue;
    }
    pid_t pid = fork();
    if (pid == 0) {
      close(s);
      sa.sa_handler = SIG_DFL;
      sa.sa_flags = 0;
      sigaction(SIGCHLD, &sa, NULL);
      serve(c);
    }
    if (pid < 0) logmsg("fork: %s", strerror(errno));
    close(c);
  }
}
