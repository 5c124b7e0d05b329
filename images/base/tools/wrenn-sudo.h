/*
 * The wire between the `sudo` front end (sudo.c, run by the user) and wrenn-sudod (run by root).
 *
 * gVisor ignores set-user-ID bits, so Debian's sudo cannot gain root by itself. The front end
 * hands everything an execve() of a set-user-ID sudo would have carried (arguments,
 * environment, descriptors, working directory, umask, limits, signal state) to the daemon,
 * which starts the real sudo in that state and reports back how it stops and ends. Both sides
 * are built from this tree at once, so the format is native and versioned only against
 * mismatched leftovers.
 *
 * One connection per sudo run, SOCK_STREAM:
 *   client -> daemon  struct wsudo_request, with who asks (SCM_CREDENTIALS) and the
 *                     descriptors (SCM_RIGHTS) on its first byte, then body_len bytes: argc
 *                     NUL-terminated arguments, then envc NUL-terminated environment entries.
 *   both ways         struct wsudo_event records until the daemon sends WSUDO_EXITED.
 * The client closing its end before WSUDO_EXITED means it was killed: the daemon then kills
 * what it started, as the process group kill that took the client would have.
 */
#ifndef WRENN_SUDO_H
#define WRENN_SUDO_H

#include <stdint.h>

/*
 * In /dev, the sandbox's tmpfs, which a gVisor checkpoint carries whole. A socket file on the
 * root filesystem makes the restore of a template checkpoint into a fresh copy of that root
 * fail (ENOENT). Only root may write /dev, so only root can have bound this name.
 */
#define WSUDO_SOCKET_DIR "/dev/wrenn"
#define WSUDO_SOCKET WSUDO_SOCKET_DIR "/sudo.sock"

/* Debian's sudo, moved aside by dpkg-divert so that /usr/bin/sudo is the front end. */
#define WSUDO_REAL_SUDO "/usr/libexec/sudo/sudo.distrib"
/* Preloaded into that sudo to give it the caller's real uid (see setuid-exec.c). */
#define WSUDO_SETUID_SHIM "/opt/wrenn/lib/libsetuid-exec.so"
#define WSUDO_RUID_ENV "WRENN_SETUID_RUID"

#define WSUDO_MAGIC 0x57535544u /* "WSUD" */
#define WSUDO_VERSION 1u

/* The kernel refuses an execve() beyond about this much too (ARG_MAX with an 8 MiB stack). */
#define WSUDO_MAX_BODY (2u << 20)
#define WSUDO_MAX_STRINGS 65536u
#define WSUDO_NLIMITS 16

/* Indexes into fd_index. */
enum { WSUDO_FD_STDIN, WSUDO_FD_STDOUT, WSUDO_FD_STDERR, WSUDO_FD_CWD, WSUDO_FD_TTY, WSUDO_NFDS };

/* The client is the foreground job of its terminal: sudo starts in the foreground of the pty. */
#define WSUDO_FLAG_FOREGROUND 1u

struct wsudo_request {
  uint32_t magic;
  uint32_t version;
  uint32_t argc;
  uint32_t envc;
  uint32_t body_len;
  uint32_t umask;
  uint32_t flags;
  /* Which passed descriptor (0-based, in SCM_RIGHTS order) serves each role; -1: none. */
  int32_t fd_index[WSUDO_NFDS];
  /* Bit n-1 stands for signal n. */
  uint64_t sig_ignored;
  uint64_t sig_blocked;
  struct {
    uint64_t cur;
    uint64_t max;
  } rlimits[WSUDO_NLIMITS];
};

enum wsudo_event_type {
  WSUDO_SIGNAL = 1,   /* client -> daemon: deliver signal `value` to sudo */
  WSUDO_CONTINUE = 2, /* client -> daemon: resume sudo; value 1: in the pty's foreground */
  WSUDO_STOPPED = 3,  /* daemon -> client: sudo stopped with signal `value` */
  WSUDO_EXITED = 4,   /* daemon -> client: sudo ended, `value` is its wait status */
  /*
   * client -> daemon: send signal `value` to the pty's foreground process group, as a Linux
   * tty does and this gVisor's never does: SIGINT, SIGQUIT or SIGTSTP when the user typed
   * the character the pty's settings make a signal (ISIG; the client consumes it, so it is
   * never signalled twice), SIGWINCH when the client gave the pty a new size.
   */
  WSUDO_TTY_SIGNAL = 5,
};

struct wsudo_event {
  uint32_t type;
  int32_t value;
};

#endif
