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
 *
 * Terminal signals where the kernel does not generate them (gVisor): a Linux line discipline
 * turns the slave's VINTR, VQUIT and VSUSP characters (^C, ^\, ^Z) into SIGINT, SIGQUIT and
 * SIGTSTP for the terminal's foreground process group when ISIG is set, and a window-size
 * change into SIGWINCH. gVisor's (runsc 20221219) does neither. Before CMD runs, --pty mode
 * asks the kernel itself (probe_child/probe_parent: one ^C and one resize on the new pty,
 * watched by the child with those signals blocked) and emulates only what it saw missing:
 * see "Line-discipline signals" below. On a Linux host the probe finds both and nothing
 * else changes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
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

/* ---------------------------------------------------------------------------------------
 * Line-discipline signals, for kernels whose pty does not generate them (gVisor).
 *
 * Finding the foreground process group is the hard part there: gVisor answers tcgetpgrp()
 * only for the caller's own controlling terminal (not on the master, as Linux does), its
 * /proc/<pid>/stat reports tty 0 and tpgid 0, and /dev/tty fails with EIO. Only a process of
 * the command's session can ask. So the child, before it becomes CMD, leaves behind a tiny
 * agent in that session ("wrenn-pty --tty-agent", with CMD's user and groups, in a process
 * group of its own so no job-control signal reaches it, adopted by init so CMD never sees it
 * as a child). For each signal number this process sends on its socket it signals the
 * foreground group and answers one byte; it exits when the socket closes. It signals, not
 * this process (root): gVisor keeps the foreground group as a bare id (its tcsetpgrp()
 * renames groups), which may name someone else's group once that group is gone; the agent
 * can only signal what CMD's user could anyway.
 * ------------------------------------------------------------------------------------- */

#define EMULATE_ISIG 1  /* ^C ^\ ^Z must become signals here */
#define EMULATE_WINCH 2 /* a resize must send SIGWINCH here */
#define PROBE_TIMEOUT_MS 2000
#define AGENT_TIMEOUT_MS 1000
#define AGENT_FD 3 /* the agent's socket, in the agent */
#define PROBE_INTR 0x03
#define PROBE_END 'x'

static int emulate;          /* EMULATE_* bits, from the probe */
static int agent_fd = -1;    /* socket to the agent, while it answers */
static pid_t session_pid;    /* CMD: leader of the session, its first process group */
static int lnext_pending;    /* the last input byte was VLNEXT in canonical mode */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads `len` bytes within `timeout_ms`; returns how many it got (EOF or a timeout stop it). */
static size_t read_timed(int fd, void *buf, size_t len, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  size_t got = 0;
  while (got < len) {
    long long left = deadline - now_ms();
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, left > 0 ? (int)left : 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n > 0) {
      got += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      break;
    }
  }
  return got;
}

static int send_byte(int fd, unsigned char b) {
  ssize_t n;
  do {
    n = send(fd, &b, 1, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

/*
 * The probe, child side: CMD's process-to-be, session leader with the pty as controlling
 * terminal, so the kernel's signals (if any) come here; they stay blocked, are looked at, and
 * are discarded before CMD runs. The parent types ^C and a sentinel on the master: a line
 * discipline that generates signals consumes the ^C before the sentinel becomes readable
 * (NOFLSH keeps the sentinel), so there is no race and no guessing by timeout. Then the parent
 * changes the window size and back, which on Linux signals SIGWINCH inside the ioctl, before
 * it tells us. Returns the EMULATE_* bits, also sent to the parent.
 */
static int probe_child(int slave, int sock) {
  sigset_t probe_sigs, old_mask;
  sigemptyset(&probe_sigs);
  sigaddset(&probe_sigs, SIGINT);
  sigaddset(&probe_sigs, SIGWINCH);
  sigprocmask(SIG_BLOCK, &probe_sigs, &old_mask);
  int result = 0;
  struct termios saved;
  if (tcgetattr(slave, &saved) == 0) {
    struct termios t = saved;
    t.c_lflag = (t.c_lflag | ISIG | NOFLSH) & ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
    t.c_iflag &= ~(tcflag_t)(IXON | ISTRIP | INLCR | IGNCR | ICRNL);
    t.c_cc[VINTR] = PROBE_INTR;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(slave, TCSANOW, &t) == 0 && send_byte(sock, 'r')) {
      int saw_intr = 0, saw_end = 0;
      unsigned char b;
      long long deadline = now_ms() + PROBE_TIMEOUT_MS;
      while (!saw_end && read_timed(slave, &b, 1, (int)(deadline - now_ms())) == 1) {
        if (b == PROBE_INTR) saw_intr = 1;
        if (b == PROBE_END) saw_end = 1;
      }
      int resized = read_timed(sock, &b, 1, PROBE_TIMEOUT_MS) == 1;
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      /* ^C came through as data and raised nothing: nobody but us will make it a signal. */
      if (saw_end && saw_intr && !sigismember(&pending, SIGINT)) result |= EMULATE_ISIG;
      if (resized && !sigismember(&pending, SIGWINCH)) result |= EMULATE_WINCH;
    }
    tcsetattr(slave, TCSANOW, &saved);
  }
  /* Take the probe's own signals while they are still blocked: CMD must never see them. */
  struct timespec zero = {0, 0};
  while (sigtimedwait(&probe_sigs, NULL, &zero) > 0) {
  }
  sigprocmask(SIG_SETMASK, &old_mask, NULL);
  send_byte(sock, (unsigned char)result);
  return result;
}

/* The probe, parent side (see probe_child). Returns the child's verdict, or 0 without one. */
static int probe_parent(int master, int sock, const struct winsize *ws) {
  unsigned char b = 0;
  if (read_timed(sock, &b, 1, PROBE_TIMEOUT_MS) != 1 || b != 'r') return 0;
  static const char keys[2] = {PROBE_INTR, PROBE_END};
  if (write_all(master, keys, sizeof keys) != 0) return 0;
  struct winsize other = *ws;
  other.ws_col = ws->ws_col < 65535 ? (unsigned short)(ws->ws_col + 1) : 65534;
  ioctl(master, TIOCSWINSZ, &other);
  ioctl(master, TIOCSWINSZ, ws);
  if (!send_byte(sock, 'w')) return 0;
  if (read_timed(sock, &b, 1, 2 * PROBE_TIMEOUT_MS + 500) != 1) return 0;
  return b & (EMULATE_ISIG | EMULATE_WINCH);
}

/*
 * The agent's loop: fd 0 is the pty (its controlling terminal), AGENT_FD the socket. Each
 * byte read is a signal for the foreground process group; the answer is one byte, 1 when it
 * was sent (0: not one of ours, or no foreground group, as when a tty has none). Signals a
 * terminal sends are ignored; SIGKILL and SIGTERM (a kill of the whole session) end it as they
 * end everything else there.
 */
static int run_agent(void) {
  static const int ignored[] = {SIGHUP, SIGINT,  SIGQUIT,  SIGTSTP,
                                SIGTTIN, SIGTTOU, SIGWINCH, SIGPIPE};
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) signal(ignored[i], SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (close_range(AGENT_FD + 1, ~0U, 0) != 0) {
    for (int fd = AGENT_FD + 1; fd < 1024; fd++) close(fd);
  }
  prctl(PR_SET_NAME, "wrenn-pty-agent", 0, 0, 0);
  for (;;) {
    unsigned char sig;
    ssize_t n = read(AGENT_FD, &sig, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    char sent = 0;
    if (sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP || sig == SIGWINCH) {
      pid_t pg = tcgetpgrp(0);
      sent = pg > 0 && kill(-pg, sig) == 0;
    }
    if (write_all(AGENT_FD, &sent, 1) != 0) return 0;
  }
}

/*
 * In the child, before CMD: starts the agent with the pty as fd 0 (already dup'd there) and
 * `sock` as AGENT_FD. A double fork, so CMD never has an extra child to see or wait for (this
 * gVisor ignores CLONE_PARENT). The agent re-executes this program, so `ps` shows what it is
 * and every close-on-exec descriptor of ours (the error pipe above all) is closed; without
 * /proc it runs the loop in place.
 */
static void spawn_agent(int sock) {
  pid_t mid = fork();
  if (mid < 0) return;
  if (mid == 0) {
    if (fork() == 0) {
      setpgid(0, 0);
      if (sock != AGENT_FD && dup2(sock, AGENT_FD) < 0) _exit(1);
      int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (devnull >= 0) {
        dup2(devnull, 1);
        dup2(devnull, 2);
      }
      if (chdir("/") != 0) {
      }
      char *args[] = {"wrenn-pty", "--tty-agent", NULL};
      char *env[] = {NULL};
      execve("/proc/self/exe", args, env);
      _exit(run_agent());
    }
    _exit(0);
  }
  while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {
  }
}

/*
 * Sends `sig` to the pty's foreground process group, as the line discipline would.
 * tcgetpgrp() on the master answers on Linux-like kernels; in this gVisor the agent does the
 * sending. Without either (the agent could not start, or stopped answering) CMD's own group
 * gets it: the best guess, and safe, as CMD's pid cannot be reused before we reap it.
 */
static void signal_foreground(int master, int sig) {
  pid_t pg = tcgetpgrp(master);
  if (pg > 0) {
    kill(-pg, sig);
    return;
  }
  if (agent_fd >= 0) {
    unsigned char sent;
    if (send_byte(agent_fd, (unsigned char)sig) &&
        read_timed(agent_fd, &sent, 1, AGENT_TIMEOUT_MS) == 1) {
      return;
    }
    /* A late answer would be taken for the next request's: never ask this agent again. */
    close(agent_fd);
    agent_fd = -1;
  }
  kill(-session_pid, sig);
}

/* What n_tty's echo_char() shows for a signal character: ^C for controls under ECHOCTL. */
static void echo_signal_char(unsigned char c, const struct termios *t) {
  char echo[2];
  size_t len = 0;
  if ((t->c_lflag & ECHOCTL) && (c < 0x20 || c == 0x7f) && c != '\t') {
    echo[len++] = '^';
    echo[len++] = (char)(c ^ 0x40);
  } else {
    echo[len++] = (char)c;
  }
  if (write_all(1, echo, len) != 0) {
  }
}

/*
 * Input for the master, as the line discipline would take it (EMULATE_ISIG only): with ISIG
 * set in the slave's termios (tcgetattr on the master reads the slave's, on Linux and in
 * gVisor), each VINTR, VQUIT or VSUSP byte is removed and signals the foreground group; unless
 * NOFLSH is set, the input before it in this chunk goes too, as the kernel flushes input not
 * yet read (what earlier chunks left in the pty cannot be taken back). The character is echoed
 * under ECHO. In canonical mode with IEXTEN a byte after VLNEXT (^V) is literal. Returns the
 * number of bytes left in buf, in order.
 */
static size_t line_discipline_signals(int master, char *buf, size_t len) {
  struct termios t;
  if (tcgetattr(master, &t) != 0 || !(t.c_lflag & ISIG)) {
    lnext_pending = 0;
    return len;
  }
  int canon_lnext = (t.c_lflag & ICANON) && (t.c_lflag & IEXTEN);
  size_t kept = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)buf[i];
    int sig = 0;
    if (lnext_pending) {
      lnext_pending = 0;
    } else if (c != _POSIX_VDISABLE) {
      if (c == t.c_cc[VINTR]) {
        sig = SIGINT;
      } else if (c == t.c_cc[VQUIT]) {
        sig = SIGQUIT;
      } else if (c == t.c_cc[VSUSP]) {
        sig = SIGTSTP;
      } else if (canon_lnext && c == t.c_cc[VLNEXT]) {
        lnext_pending = 1;
      }
    }
    if (!sig) {
      buf[kept++] = (char)c;
      continue;
    }
    if (!(t.c_lflag & NOFLSH)) kept = 0;
    if (t.c_lflag & ECHO) echo_signal_char(c, &t);
    signal_foreground(master, sig);
  }
  return kept;
}

/*
 * write() of terminal input to the master, keeping ^C ^\ ^Z plain input while ISIG is off.
 * gVisor's line discipline (runsc 0.0~20240729 at least) signals the foreground group for the
 * VINTR, VQUIT and VSUSP characters without looking at ISIG, so with `stty -isig` a ^C meant
 * as data (a program reading raw keys) also interrupts it. When ISIG is off and such a byte
 * is in this write, those three characters are moved, for the write alone, to a byte value
 * that is not in it, so the line discipline sees none of them; everything else (and the bytes
 * themselves) is unchanged. On Linux the detour changes nothing: without ISIG they are data.
 * gVisor applies the line discipline as the bytes enter the input queue, which is while the
 * write runs whenever the reader has room (a program waiting for keys); input queued behind a
 * full canonical line is taken later, under the restored characters.
 */
static ssize_t write_input(int master, const char *buf, size_t len) {
  static const int sig_cc[] = {VINTR, VQUIT, VSUSP};
  struct termios t;
  if (tcgetattr(master, &t) != 0 || (t.c_lflag & ISIG)) return write(master, buf, len);
  unsigned char seen[256] = {0};
  for (size_t i = 0; i < len; i++) seen[(unsigned char)buf[i]] = 1;
  int special = 0;
  for (size_t k = 0; k < sizeof sig_cc / sizeof sig_cc[0]; k++) {
    cc_t c = t.c_cc[sig_cc[k]];
    if (c != _POSIX_VDISABLE && seen[c]) special = 1;
  }
  if (!special) return write(master, buf, len);
  /* A stand-in no input byte and no other control character equals; from the top down, as
   * high bytes are the rarest in terminal input. */
  for (int i = 0; i < NCCS; i++) seen[t.c_cc[i]] = 1;
  seen['\r'] = seen['\n'] = seen[_POSIX_VDISABLE] = 1;
  int stand_in = 255;
  while (stand_in > 0 && seen[stand_in]) stand_in--;
  if (stand_in == 0) return write(master, buf, len); /* every value is in use: cannot help */
  struct termios moved = t;
  for (size_t k = 0; k < sizeof sig_cc / sizeof sig_cc[0]; k++) {
    if (moved.c_cc[sig_cc[k]] != _POSIX_VDISABLE) moved.c_cc[sig_cc[k]] = (cc_t)stand_in;
  }
  if (tcsetattr(master, TCSANOW, &moved) != 0) return write(master, buf, len);
  ssize_t w = write(master, buf, len);
  int saved_errno = errno;
  /* Back to what the program set, unless it changed the termios meanwhile (then its own). */
  struct termios now;
  if (tcgetattr(master, &now) == 0 && memcmp(&now, &moved, sizeof now) == 0) {
    tcsetattr(master, TCSANOW, &t);
  }
  errno = saved_errno;
  return w;
}

static void apply_resize(int master, char *line) {
  unsigned cols = 0, rows = 0;
  if (sscanf(line, "%u %u", &cols, &rows) == 2 && cols > 0 && rows > 0 && cols <= 65535 &&
      rows <= 65535) {
    struct winsize old, ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    int changed = ioctl(master, TIOCGWINSZ, &old) != 0 || old.ws_row != ws.ws_row ||
                  old.ws_col != ws.ws_col;
    /* As Linux: SIGWINCH only when the size really changed. */
    if (ioctl(master, TIOCSWINSZ, &ws) == 0 && changed && (emulate & EMULATE_WINCH)) {
      signal_foreground(master, SIGWINCH);
    }
  }
}

static int run_pty(const struct creds *c, unsigned cols, unsigned rows, char **argv) {
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  int master = -1, slave = -1;
  if (openpty(&master, &slave, NULL, NULL, &ws) != 0) fail("error openpty: %s%s", "");

  int errpipe[2], probe[2], agent[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) fail("error pipe: %s%s", "");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, probe) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, agent) != 0) {
    fail("error socketpair: %s%s", "");
  }
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
    close(probe[0]);
    close(agent[0]);
    close(STATUS_FD);
    signal(SIGCHLD, SIG_DFL);
    int err = 0, needs = 0;
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) != 0) err = errno;
    if (!err) needs = probe_child(slave, probe[1]);
    close(probe[1]);
    if (!err && (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)) err = errno;
    if (slave > 2) close(slave);
    if (!err && apply_creds(c) != 0) err = errno;
    /* After the switch of user: the agent can signal only what CMD's user could. */
    if (!err && needs) spawn_agent(agent[1]);
    close(agent[1]);
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
  close(probe[1]);
  close(agent[1]);
  session_pid = pid;
  emulate = probe_parent(master, probe[0], &ws);
  close(probe[0]);
  if (emulate) {
    agent_fd = agent[0];
    fcntl(agent_fd, F_SETFL, fcntl(agent_fd, F_GETFL) | O_NONBLOCK);
  } else {
    close(agent[0]);
  }
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
      if (w == pid) {
        exited = 1;
        /* The agent exits, and lets go of the pty, when its socket closes. */
        if (agent_fd >= 0) close(agent_fd);
        agent_fd = -1;
      }
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
        ssize_t w = write_input(master, inbuf + in_off, in_len);
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
        in_len = (emulate & EMULATE_ISIG) ? line_discipline_signals(master, inbuf, (size_t)rd)
                                          : (size_t)rd;
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
  if (argc == 2 && strcmp(argv[1], "--tty-agent") == 0) return run_agent();
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
