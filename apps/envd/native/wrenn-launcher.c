/*
 * wrenn-launcher: envd's resident starter of non-PTY commands.
 *
 * Why this exists: under gVisor, Node's child_process.spawn forks the whole Node process,
 * which costs ~100 ms; a fork of this small program costs a fraction of that (bench/README.md,
 * "envd's spawn cost"). envd starts this once and asks it to start each command.
 *
 *   wrenn-launcher SOCKET_PATH
 *
 * SOCKET_PATH is a unix socket envd listens on, in a directory only root can enter. Per command, this program connects
 * to it once per stdio stream (stdout, stderr and, unless stdin is off, stdin), sends a header
 * line "TOKEN FD\n" on each, forks, and the child makes those connections its fd 1, 2 and 0
 * (as Node's spawn gives a child unix sockets) before it execs the command. So the command's
 * output goes straight to envd, as with spawn: nothing is relayed here.
 *
 * Control protocol on fd 3 (a socket pair from envd):
 *   request:  "N\n" then N bytes of NUL-terminated fields:
 *             TOKEN, CREDS ("1" to switch user), UID, GID, GROUPS (comma list), CWD,
 *             STDIN ("1"/"0"), ARGC, ARGV..., ENVC, ENV ("K=V")...
 *   answers:  "pid TOKEN PID\n" once the command was exec'd,
 *             "error TOKEN MESSAGE\n" when it could not be started,
 *             "unavailable TOKEN MESSAGE\n" when envd's socket could not be reached (nothing
 *             was started: envd spawns the command itself),
 *             "exit PID CODE SIGNAL\n" when a command ended (CODE -1 if SIGNAL > 0).
 * The child is a session leader (setsid), as wrenn-pty --exec makes it, so envd's kill of
 * the session works the same. The program exits when fd 3 closes (envd is gone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONTROL_FD 3
#define MAX_REQUEST (8 * 1024 * 1024)
#define MAX_GROUPS 256
#define MAX_FIELDS 65536

extern char **environ;

static struct sockaddr_un envd_addr;
static socklen_t envd_addr_len;

static FILE *control_out; /* fd 3, flushed after every answer */

static void answer(const char *fmt, ...) {
  char line[1200];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (len < 0) return;
  /* A message must stay one line: envd splits answers at newlines, and a command's name (in
   * an error) is the caller's text, which must not forge an answer of its own. */
  for (char *p = line; (p = strchr(p, '\n')) != NULL;) *p = ' ';
  if (fprintf(control_out, "%s\n", line) < 0 || fflush(control_out) != 0) _exit(0); /* envd is gone */
}

/* One stdio connection to envd, announced with "TOKEN FD\n"; -1 on failure. */
static int connect_stream(const char *token, int fd) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  while (connect(s, (struct sockaddr *)&envd_addr, envd_addr_len) != 0) {
    if (errno == EINTR) continue;
    int saved = errno;
    close(s);
    errno = saved;
    return -1;
  }
  char header[160];
  int n = snprintf(header, sizeof header, "%s %d\n", token, fd);
  if (n <= 0 || n >= (int)sizeof header || send(s, header, (size_t)n, MSG_NOSIGNAL) != n) {
    close(s);
    return -1;
  }
  return s;
}

struct request {
  char *token, *cwd;
  int creds, with_stdin;
  uid_t uid;
  gid_t gid;
  gid_t groups[MAX_GROUPS];
  size_t ngroups;
  char **argv, **envp;
};

static int parse_long(const char *s, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max) return -1;
  *out = v;
  return 0;
}

/* Splits the request's fields; every pointer points into `buf`. Returns 0 when well formed. */
static int parse_request(char *buf, size_t len, struct request *r, char ***fields_out) {
  if (len == 0 || buf[len - 1] != '\0') return -1;
  size_t count = 0;
  for (size_t i = 0; i < len; i++)
    if (buf[i] == '\0') count++;
  if (count < 9 || count > MAX_FIELDS) return -1;
  char **f = calloc(count + 2, sizeof *f);
  if (!f) return -1;
  *fields_out = f;
  size_t k = 0;
  for (char *p = buf; p < buf + len; p += strlen(p) + 1) f[k++] = p;
  long v, argc, envc;
  r->token = f[0];
  r->creds = strcmp(f[1], "1") == 0;
  if (parse_long(f[2], 0x7fffffff, &v) != 0) return -1;
  r->uid = (uid_t)v;
  if (parse_long(f[3], 0x7fffffff, &v) != 0) return -1;
  r->gid = (gid_t)v;
  r->ngroups = 0;
  for (char *tok = strtok(f[4], ","); tok != NULL; tok = strtok(NULL, ",")) {
    if (r->ngroups >= MAX_GROUPS || parse_long(tok, 0x7fffffff, &v) != 0) return -1;
    r->groups[r->ngroups++] = (gid_t)v;
  }
  r->cwd = f[5];
  r->with_stdin = strcmp(f[6], "1") == 0;
  if (parse_long(f[7], (long)count, &argc) != 0 || argc < 1 || 8 + (size_t)argc >= count)
    return -1;
  r->argv = &f[8];
  size_t at = 8 + (size_t)argc;
  if (parse_long(f[at], (long)count, &envc) != 0 || at + 1 + (size_t)envc != count) return -1;
  /* argv and envp must end in NULL: move each list into a NULL-terminated array of its own. */
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)envc + 1, sizeof *envp);
  if (!argv || !envp) return -1;
  memcpy(argv, &f[8], (size_t)argc * sizeof *argv);
  memcpy(envp, &f[at + 1], (size_t)envc * sizeof *envp);
  r->argv = argv;
  r->envp = envp;
  return 0;
}

/* In the child: becomes the command, or writes errno to `errfd` and exits 127. */
static void become_command(const struct request *r, const int streams[3], int errfd) {
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  int err = 0;
  int devnull = -1;
  if (!r->with_stdin) devnull = open("/dev/null", O_RDONLY);
  int in = r->with_stdin ? streams[0] : devnull;
  if (in < 0 || dup2(in, 0) < 0 || dup2(streams[1], 1) < 0 || dup2(streams[2], 2) < 0) err = errno;
  if (!err && setsid() < 0) err = errno;
  if (!err && chdir(r->cwd) != 0) err = errno;
  /* Order matters: groups and gid must change while we still have the privilege to do so. */
  if (!err && r->creds &&
      (setgroups(r->ngroups, r->groups) != 0 || setgid(r->gid) != 0 || setuid(r->uid) != 0)) {
    err = errno;
  }
  if (!err) {
    /* execvp looks up PATH in environ: the command's own environment, as Node's spawn does. */
    environ = r->envp;
    execvp(r->argv[0], r->argv);
    err = errno;
  }
  ssize_t ignored = write(errfd, &err, sizeof err);
  (void)ignored;
  _exit(127);
}

static void start(const struct request *r) {
  int streams[3] = {-1, -1, -1};
  int errpipe[2] = {-1, -1};
  for (int fd = r->with_stdin ? 0 : 1; fd < 3; fd++) {
    streams[fd] = connect_stream(r->token, fd);
    if (streams[fd] < 0) {
      answer("unavailable %s cannot connect the process's stdio to envd: %s", r->token,
             strerror(errno));
      goto out;
    }
  }
  if (pipe2(errpipe, O_CLOEXEC) != 0) {
    answer("error %s pipe: %s", r->token, strerror(errno));
    goto out;
  }
  pid_t pid = fork();
  if (pid < 0) {
    answer("error %s fork: %s", r->token, strerror(errno));
    goto out;
  }
  if (pid == 0) become_command(r, streams, errpipe[1]);
  close(errpipe[1]);
  errpipe[1] = -1;
  int child_err = 0;
  ssize_t got;
  do {
    got = read(errpipe[0], &child_err, sizeof child_err);
  } while (got < 0 && errno == EINTR);
  if (got == (ssize_t)sizeof child_err) {
    /* Reaped by the SIGCHLD loop, which reports an exit nobody waits for: envd ignores it. */
    answer("error %s cannot run '%s': %s", r->token, r->argv[0], strerror(child_err));
  } else {
    answer("pid %s %d", r->token, (int)pid);
  }
out:
  for (int i = 0; i < 3; i++)
    if (streams[i] >= 0) close(streams[i]);
  for (int i = 0; i < 2; i++)
    if (errpipe[i] >= 0) close(errpipe[i]);
}

static void reap(int sigfd) {
  struct signalfd_siginfo info;
  while (read(sigfd, &info, sizeof info) > 0) {
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    if (WIFEXITED(status)) answer("exit %d %d 0", (int)pid, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) answer("exit %d -1 %d", (int)pid, WTERMSIG(status));
  }
}

int main(int argc, char **argv) {
  if (argc != 2 || strlen(argv[1]) == 0 || strlen(argv[1]) >= sizeof envd_addr.sun_path) {
    fprintf(stderr, "usage: wrenn-launcher SOCKET_PATH (a unix socket, under 108 bytes)\n");
    return 2;
  }
  envd_addr.sun_family = AF_UNIX;
  memcpy(envd_addr.sun_path, argv[1], strlen(argv[1]));
  envd_addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(argv[1]) + 1);
  fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC);
  control_out = fdopen(CONTROL_FD, "w");
  if (!control_out) return 1;
  signal(SIGPIPE, SIG_IGN);
  /* SIGCHLD is read from a signalfd; each command unblocks it again before its exec. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sigfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd < 0) return 1;
  answer("ready");

  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    struct pollfd fds[2] = {{.fd = CONTROL_FD, .events = POLLIN},
                            {.fd = sigfd, .events = POLLIN}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[1].revents & POLLIN) reap(sigfd);
    if (!fds[0].revents) continue;
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 131072;
      if (cap > 2 * MAX_REQUEST) return 1;
      buf = realloc(buf, cap);
      if (!buf) return 1;
    }
    ssize_t n = read(CONTROL_FD, buf + len, cap - len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return 0; /* envd is gone; the commands live on, adopted by init */
    len += (size_t)n;
    for (;;) {
      char *nl = memchr(buf, '\n', len < 16 ? len : 16);
      if (!nl) break;
      long size;
      *nl = '\0';
      if (parse_long(buf, MAX_REQUEST, &size) != 0) return 1; /* envd speaks only this */
      size_t head = (size_t)(nl - buf) + 1;
      if (len < head + (size_t)size) {
        *nl = '\n';
        break;
      }
      struct request r;
      char **fields = NULL;
      memset(&r, 0, sizeof r);
      if (parse_request(buf + head, (size_t)size, &r, &fields) == 0) {
        start(&r);
      } else {
        answer("error %s malformed request", fields && fields[0] ? fields[0] : "-");
      }
      if (r.argv != NULL && fields != NULL && r.argv != &fields[8]) free(r.argv);
      free(r.envp);
      free(fields);
      memmove(buf, buf + head + (size_t)size, len - head - (size_t)size);
      len -= head + (size_t)size;
    }
  }
}
