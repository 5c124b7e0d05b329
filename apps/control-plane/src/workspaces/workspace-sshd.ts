import { errorMessage, isSshHostKey, SSH_PORT, SSH_USER } from "@wrenn/contract";
import type { Logger } from "pino";
import type { ExecService } from "../commands/exec-service.js";
import { ServiceError } from "../service/errors.js";
import type { Principal } from "../service/sandbox-types.js";
import type { SshKeyService } from "./ssh-key-service.js";

/** Exit status of the start script when the image has no sshd (sysexits' EX_CONFIG). */
const NO_SSHD = 78;

/**
 * Run as root. Host keys: the template carries none; `ssh-keygen -A` makes the missing ones
 * at a workspace's first start, on its own disk (/etc/ssh), so each workspace has its own and
 * keeps it. sshd listens on the workspace's loopback only (the host agent's relay reaches it
 * through envd), never takes a password, never lets root in. Started once: a live sshd (its
 * pid file) is left as it is.
 *
 * It runs only while a tunnel is open: gVisor cannot checkpoint a sandbox with a listening
 * socket, so a workspace with sshd up would suspend frozen in memory instead of to disk.
 */
const SSHD_PID = "/run/wrenn-sshd.pid";
/** The host key Wrenn pins (ed25519: every OpenSSH client prefers a type it has a key for). */
const HOST_KEY_FILE = "/etc/ssh/ssh_host_ed25519_key";
/** How long START_SSHD waits for sshd to listen, in 0.1 s ticks (inside the 60 s exec). */
const SSHD_LISTEN_WAIT_TICKS = 450;

const START_SSHD = `
set -e
if [ ! -x /usr/sbin/sshd ]; then
  echo "no /usr/sbin/sshd in this image; install openssh-server in it (the base image has it)" >&2
  exit ${NO_SSHD}
fi
mkdir -p /run/sshd && chmod 0755 /run/sshd
ssh-keygen -A >/dev/null
# The key sshd presents, derived from its private key (a .pub beside it proves nothing).
ssh-keygen -y -f ${HOST_KEY_FILE} 2>/dev/null || true
pid=${SSHD_PID}
log=/run/sshd/wrenn-sshd.log
# A pid file left by a sandbox that booted again may name some other process now.
if [ -s "$pid" ] && [ "$(cat "/proc/$(cat "$pid")/comm" 2>/dev/null)" = sshd ]; then exit 0; fi
rm -f "$pid"
if ! /usr/sbin/sshd -E "$log" -o ListenAddress=127.0.0.1:${SSH_PORT} -o PidFile="$pid" \\
  -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o PermitRootLogin=no \\
  -o PermitEmptyPasswords=no -o AuthorizedKeysFile=.ssh/authorized_keys -o AllowUsers=${SSH_USER}
then
  echo "sshd did not start: $(tail -c 300 "$log" 2>/dev/null)" >&2
  exit 1
fi
# sshd forks into the background before it binds its port, and writes its pid file only once
# it listens: until then a relayed connection would be refused.
i=0
while [ ! -s "$pid" ]; do
  i=$((i + 1))
  if [ "$i" -gt ${SSHD_LISTEN_WAIT_TICKS} ]; then
    echo "sshd did not start listening within ${SSHD_LISTEN_WAIT_TICKS / 10} s: $(tail -c 300 "$log" 2>/dev/null)" >&2
    exit 1
  fi
  sleep 0.1
done
`;

/**
 * Run as root, at a workspace's create (and restore): its ed25519 host key made if it has none
 * yet (what \`ssh-keygen -A\` would make at sshd's first start; the other types follow then),
 * and the public half printed, so the control plane knows it before any SSH connection.
 */
const HOST_KEY = `
command -v ssh-keygen >/dev/null 2>&1 || exit ${NO_SSHD}
set -e
mkdir -p /etc/ssh
[ -s ${HOST_KEY_FILE} ] || ssh-keygen -q -t ed25519 -N "" -f ${HOST_KEY_FILE} </dev/null >/dev/null
ssh-keygen -y -f ${HOST_KEY_FILE}
`;

/** The pinned form of ssh-keygen -y's line (type and key, no comment); null if it is not one. */
export function hostKeyOf(stdout: Uint8Array | string): string | null {
  const [type, key] = Buffer.from(stdout).toString().trim().split("\n").at(-1)?.split(" ") ?? [];
  const pinned = `${type} ${key}`;
  return isSshHostKey(pinned) ? pinned : null;
}

/**
 * Run as root: stops the listening sshd (its pid file, when it still names an sshd) so the
 * workspace can checkpoint again. Sessions still open keep their own sshd processes.
 */
const STOP_SSHD = `
pid=${SSHD_PID}
if [ -s "$pid" ] && [ "$(cat "/proc/$(cat "$pid")/comm" 2>/dev/null)" = sshd ]; then
  kill "$(cat "$pid")"
fi
rm -f "$pid"
`;

/**
 * Wrenn's block in authorized_keys: the owner's registered keys, between these two lines. Every
 * other line is the user's (keys added inside the workspace) and is kept as it is.
 */
export const AUTHORIZED_KEYS_BEGIN =
  "# >>> wrenn: keys registered with Wrenn (rewritten on every ssh connection)";
export const AUTHORIZED_KEYS_END = "# <<< wrenn";

/**
 * Run as the user, with the keys on stdin: authorized_keys (0600 in a 0700 ~/.ssh) with the
 * user's own lines kept and Wrenn's block replaced (a begin line without its end line, edited by
 * hand, loses only that line). Written beside it and renamed over it, so sshd never reads half a
 * file. As the user, so nothing it owns (a symlink in ~/.ssh) can make root write elsewhere.
 */
export const WRITE_KEYS = `
set -e
umask 077
mkdir -p "$HOME/.ssh" && chmod 0700 "$HOME/.ssh"
file="$HOME/.ssh/authorized_keys"
next="$file.wrenn-new"
{
  if [ -e "$file" ]; then
    awk -v b='${AUTHORIZED_KEYS_BEGIN}' -v e='${AUTHORIZED_KEYS_END}' '
      !inside && $0 == b { inside = 1; n = 0; next }
      inside && $0 == e { inside = 0; next }
      inside { kept[++n] = $0; next }
      { print }
      END { if (inside) for (i = 1; i <= n; i++) print kept[i] }
    ' "$file"
  fi
  echo '${AUTHORIZED_KEYS_BEGIN}'
  cat
  echo '${AUTHORIZED_KEYS_END}'
} > "$next"
chmod 0600 "$next"
mv -f "$next" "$file"
`;

/**
 * Gets a workspace ready for SSH: the owner's registered keys in ~user/.ssh/authorized_keys,
 * sshd running on its loopback. Idempotent, through envd (no host path is touched), one at a
 * time per sandbox.
 */
export class WorkspaceSshd {
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly exec: ExecService,
    private readonly keys: SshKeyService,
    private readonly logger: Logger,
  ) {}

  /**
   * Prepares it; `workspace_no_sshd` when its image has no sshd. Resolves with the host key its
   * sshd presents (null if it could not be read).
   */
  prepare(principal: Principal, sandboxId: string): Promise<string | null> {
    let key: string | null = null;
    return this.serially(sandboxId, async () => {
      key = await this.run(principal, sandboxId);
    }).then(() => key);
  }

  /**
   * The workspace's host public key, made on its own disk if it has none: null when its image
   * has no OpenSSH or the sandbox cannot run it now (the key is learnt at the first SSH then).
   */
  async hostKey(principal: Principal, sandboxId: string): Promise<string | null> {
    try {
      const made = await this.exec.run(principal, sandboxId, {
        cmd: "/bin/sh",
        args: ["-c", HOST_KEY],
        user: "root",
        timeoutSeconds: 60,
      });
      if (made.exitCode === 0) return hostKeyOf(made.stdout);
      if (made.exitCode !== NO_SSHD) {
        const stderr = Buffer.from(made.stderr).toString().trim().slice(0, 300);
        this.logger.info({ sandboxId, stderr }, "host key not read");
      }
    } catch (error) {
      this.logger.info({ sandboxId, err: (error as Error).message }, "host key not read");
    }
    return null;
  }

  /**
   * When the workspace's last tunnel has closed: sshd stopped, so it checkpoints to disk again.
   * Queued behind a prepare under way (and a later prepare behind it); failures only logged.
   */
  stopSoon(principal: Principal, sandboxId: string): void {
    this.serially(sandboxId, async () => {
      const stopped = await this.exec.run(principal, sandboxId, {
        cmd: "/bin/sh",
        args: ["-c", STOP_SSHD],
        user: "root",
        timeoutSeconds: 60,
      });
      if (stopped.exitCode !== 0) {
        throw new Error(Buffer.from(stopped.stderr).toString().trim().slice(0, 300));
      }
    }).catch((error: unknown) =>
      this.logger.info({ sandboxId, err: (error as Error).message }, "sshd not stopped"),
    );
  }

  /** One at a time per sandbox, in the order asked. */
  private serially(sandboxId: string, job: () => Promise<void>): Promise<void> {
    const before = this.running.get(sandboxId) ?? Promise.resolve();
    const next = before.catch(() => {}).then(job);
    this.running.set(sandboxId, next);
    const forget = () => {
      if (this.running.get(sandboxId) === next) this.running.delete(sandboxId);
    };
    next.then(forget, forget);
    return next;
  }

  private async run(principal: Principal, sandboxId: string): Promise<string | null> {
    const keys = await this.keys.authorizedKeys(principal.ownerId);
    const written = await this.exec.run(principal, sandboxId, {
      cmd: "/bin/sh",
      args: ["-c", WRITE_KEYS],
      user: SSH_USER,
      stdin: Buffer.from(keys),
      timeoutSeconds: 60,
    });
    if (written.exitCode !== 0) {
      throw new ServiceError(
        "workspace_sshd_failed",
        `could not write ~${SSH_USER}/.ssh/authorized_keys: ${Buffer.from(written.stderr).toString().trim().slice(0, 300)}`,
      );
    }
    const started = await this.exec.run(principal, sandboxId, {
      cmd: "/bin/sh",
      args: ["-c", START_SSHD],
      user: "root",
      timeoutSeconds: 60,
    });
    const stderr = Buffer.from(started.stderr).toString().trim().slice(0, 300);
    if (started.exitCode === NO_SSHD) {
      throw new ServiceError(
        "workspace_no_sshd",
        errorMessage("workspace_no_sshd", { detail: stderr }),
      );
    }
    if (started.exitCode !== 0) {
      throw new ServiceError(
        "workspace_sshd_failed",
        `could not start sshd in the workspace: ${stderr}`,
      );
    }
    return hostKeyOf(started.stdout);
  }
}
