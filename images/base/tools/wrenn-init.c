/*
 * wrenn-init: installed as /usr/bin/tini (Debian's tini is diverted to /usr/bin/tini.distrib).
 *
 * Why: sudo in the sandbox needs wrenn-sudod, a root daemon that must be listening before
 * the first user command, and must not belong to envd (whose commands run as the user) or
 * to any session envd may kill. The sandbox's first process is `tini -- node envd.mjs`, run as
 * root by the host agent; sitting in tini's place lets the template start the daemon without
 * the agent knowing about it. As PID 1 and root, this program starts wrenn-sudod, waits
 * until it listens (at most a few seconds: a sandbox without sudo beats no sandbox), then
 * becomes the real tini with the same arguments, which adopts and reaps the daemon like any
 * orphan. Run any other way (not PID 1, or not root) it only becomes tini.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REAL_INIT "/usr/bin/tini.distrib"
#define SUDOD "/opt/wrenn/bin/wrenn-sudod"
#define READY_TIMEOUT_MS 5000

static void start_sudod(void) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) {
    fprintf(stderr, "wrenn-init: pipe: %s; sudo will not work\n", strerror(errno));
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "wrenn-init: fork: %s; sudo will not work\n", strerror(errno));
    close(ready[0]);
    close(ready[1]);
    return;
  }
  if (pid == 0) {
    /* fd 3 carries the readiness byte; every other descriptor of ours is close-on-exec. */
    if (dup2(ready[1], 3) < 0) _exit(127);
    execl(SUDOD, "wrenn-sudod", "--ready-fd", "3", (char *)NULL);
    fprintf(stderr, "wrenn-init: cannot run %s: %s\n", SUDOD, strerror(errno));
    _exit(127);
  }
  close(ready[1]);
  struct pollfd p = {ready[0], POLLIN, 0};
  char b;
  int n;
  do {
    n = poll(&p, 1, READY_TIMEOUT_MS);
  } while (n < 0 && errno == EINTR);
  if (n <= 0 || read(ready[0], &b, 1) != 1) {
    fprintf(stderr, "wrenn-init: wrenn-sudod did not start; sudo will not work\n");
  }
  close(ready[0]);
}

int main(int argc, char **argv) {
  (void)argc;
  if (getpid() == 1 && getuid() == 0) start_sudod();
  execv(REAL_INIT, argv);
  fprintf(stderr, "wrenn-init: cannot run %s: %s\n", REAL_INIT, strerror(errno));
  return 127;
}
