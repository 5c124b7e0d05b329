#!/bin/sh
# Turns a fresh mmdebstrap root filesystem into the base template. Run by the template builder
# on the host as root, with the root filesystem as $1 and the build's artifacts in $WRENN_ARTIFACTS
# (envd.mjs, bin/*, lib/*). It runs offline and reads nothing from the host but those artifacts.
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
install -m 0644 "$art/lib/libstatx-noautomount.so" "$root/opt/wrenn/lib/"
echo /opt/wrenn/lib/libstatx-noautomount.so >"$root/etc/ld.so.preload"

# The sandbox has no DNS server of its own; resolv.conf is written at start when egress is
# allowed. Keep the host's files out of the image.
echo sandbox >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsandbox\n' >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

# Quiet the login shells the SDK starts (`bash -l -c`): no motd, no mail check.
: >"$root/etc/motd"
