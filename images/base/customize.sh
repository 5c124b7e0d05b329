#!/bin/sh
# Turns a fresh mmdebstrap root filesystem into the base template. Run by the template builder
# on the host as root, with the root filesystem as $1 and the build's artifacts in $WRENN_ARTIFACTS
# (envd.mjs, bin/*, lib/*, tools/*). It runs offline and reads nothing from the host but those
# artifacts.
set -eu
root=$1
art=$WRENN_ARTIFACTS

# The sandbox's user, as E2B templates have it: uid 1000, home /home/user, passwordless sudo.
chroot "$root" useradd --create-home --uid "$WRENN_USER_UID" --shell /bin/bash "$WRENN_USER_NAME"
printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$WRENN_USER_NAME" >"$root/etc/sudoers.d/90-wrenn-user"
chmod 0440 "$root/etc/sudoers.d/90-wrenn-user"

# envd and its native helpers.
install -d -m 0755 "$root/opt/wrenn" "$root/opt/wrenn/bin" "$root/opt/wrenn/lib"
install -m 0644 "$art/envd.mjs" "$root/opt/wrenn/envd.mjs"
for f in "$art"/bin/*; do [ -e "$f" ] && install -m 0755 "$f" "$root/opt/wrenn/bin/"; done
install -m 0644 "$art/lib/libstatx-noautomount.so" "$art/lib/libtty-zero-write.so" "$root/opt/wrenn/lib/"
printf '%s\n' /opt/wrenn/lib/libstatx-noautomount.so /opt/wrenn/lib/libtty-zero-write.so \
  >"$root/etc/ld.so.preload"

# sudo. gVisor runs no set-user-ID program, so Debian's sudo cannot become root by itself:
# wrenn-sudod (root, started by wrenn-init in tini's place) starts it as a set-user-ID exec
# would have, for the front end that takes its place at /usr/bin/sudo (see tools/*.c).
# dpkg-divert moves the real programs aside for good: upgrades of sudo and tini install them
# at the new names and leave ours in place.
chroot "$root" dpkg-divert --quiet --local --rename --divert /usr/libexec/sudo/sudo.distrib \
  --add /usr/bin/sudo
chroot "$root" dpkg-divert --quiet --local --rename --divert /usr/bin/tini.distrib \
  --add /usr/bin/tini
install -m 0755 "$art/tools/sudo" "$root/usr/bin/sudo"
install -m 0755 "$art/tools/wrenn-init" "$root/usr/bin/tini"
install -m 0755 "$art/tools/wrenn-sudod" "$root/opt/wrenn/bin/"
install -m 0644 "$art/lib/libsetuid-exec.so" "$root/opt/wrenn/lib/"
# The front end already runs sudo on a pty of its own when there is a terminal, with the
# relay and job control of use_pty; a second pty inside it would only get in the way.
cat >"$root/etc/sudoers.d/00-wrenn-pty" <<'SUDOERS'
# Wrenn's sudo front end (/usr/bin/sudo) gives sudo a pseudo-terminal of its own whenever it
# is run from a terminal, as use_pty would. Keep this, or sudo would nest a second one.
Defaults !use_pty
SUDOERS
chmod 0440 "$root/etc/sudoers.d/00-wrenn-pty"
chroot "$root" visudo --check --quiet
# As root the front end runs the real sudo itself (which warns that the build host's name does
# not resolve here): proof that the diversion went where the front end looks.
chroot "$root" /usr/bin/sudo -V >/dev/null 2>&1 || {
  echo "customize.sh: /usr/bin/sudo cannot run the real sudo" >&2
  exit 1
}

# The sandbox has no DNS server of its own; resolv.conf is written at start when egress is
# allowed. Keep the host's files out of the image.
echo sandbox >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsandbox\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

# OpenSSH's server, for workspaces (`wrenn ssh`): the control plane starts it on the sandbox's
# loopback when a workspace is reached over SSH. Its host keys are never part of the image:
# ssh-keygen -A makes them at a workspace's first start, on the workspace's own disk, so no two
# workspaces share one. The service never starts by itself (there is no init to start it).
rm -f "$root"/etc/ssh/ssh_host_*

# Quiet the login shells the SDK starts (`bash -l -c`): no motd, no mail check.
: >"$root/etc/motd"

# Every command the SDKs run is a login shell (`bash -l -c`): it must start no program before
# the command, each costing tens of ms under gVisor. /etc/profile asks `id -u` where bash
# already knows $EUID (other shells still ask id), and root's .profile runs `mesg n` even
# without a terminal, where it has nothing to do.
sed -i 's/"$(id -u)"/"${EUID:-$(id -u)}"/' "$root/etc/profile"
sed -i 's/^mesg n 2> \/dev\/null || true$/[ -t 0 ] \&\& mesg n 2> \/dev\/null || true/' \
  "$root/root/.profile"
