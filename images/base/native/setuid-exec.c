/*
 * Preloaded by wrenn-sudod (LD_PRELOAD, never /etc/ld.so.preload) into the real sudo it starts
 * for a user; see tools/wrenn-sudod.c.
 *
 * A set-user-ID sudo starts with the caller's real uid and an effective uid of 0, and reads
 * who called it from the real uid. gVisor cannot produce that state across execve(): it
 * honours no set-user-ID bit and resets the effective uid to the real uid whenever the two
 * differ. So the daemon starts sudo entirely as root, and this constructor, which runs in
 * the new program before its main(), sets the real uid to the caller's. From then on the
 * process is what the kernel would have made of a set-user-ID exec (the kernel also lets the
 * caller signal it, and not trace it). It removes its own traces from the environment so
 * that sudo never passes them on.
 *
 * Root processes only: for anyone else setresuid() fails, and a root process that lowers its
 * own real uid gains nothing. A malformed value makes it exit rather than run sudo with the
 * wrong caller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RUID_ENV "WRENN_SETUID_RUID"

static void fail(const char *why) {
  static const char prefix[] = "sudo: cannot take the caller's identity: ";
  if (write(STDERR_FILENO, prefix, sizeof prefix - 1) < 0 ||
      write(STDERR_FILENO, why, strlen(why)) < 0 || write(STDERR_FILENO, "\n", 1) < 0) {
  }
  _exit(1);
}

__attribute__((constructor)) static void become_setuid_exec(void) {
  const char *value = getenv(RUID_ENV);
  if (!value) return;
  char *end;
  errno = 0;
  unsigned long uid = strtoul(value, &end, 10);
  int valid = value[0] >= '0' && value[0] <= '9' && *end == '\0' && errno == 0 &&
              uid < (unsigned long)(uid_t)-1;
  unsetenv(RUID_ENV);
  unsetenv("LD_PRELOAD");
  if (getuid() != 0 || geteuid() != 0) return;
  if (!valid) fail("malformed " RUID_ENV);
  if (setresuid((uid_t)uid, 0, 0) != 0) fail(strerror(errno));
}
