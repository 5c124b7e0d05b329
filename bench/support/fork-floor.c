/* The floor for starting a command inside a sandbox: a small C process's fork + exec + wait of
 * the same program, N times; prints the milliseconds of each, one a line. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  int n = atoi(argv[1]);
  for (int i = 0; i < n; i++) {
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      execv(argv[2], argv + 2);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("%.2f\n", now_ms() - t0);
  }
  return 0;
}
