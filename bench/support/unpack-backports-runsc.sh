#!/usr/bin/env bash
# Unpacks bookworm-backports' runsc into DEST (default .runsc-backports) without changing the
# machine: the suite is enabled in a private apt directory (bin/apt-backports with
# WRENN_APT_DIR, from this machine's own Debian source), the package is downloaded there and
# unpacked with dpkg -x. Then: WRENN_RUNSC=DEST/usr/bin/runsc for the agent, tests and benches.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(realpath -m "${1:-.runsc-backports}")
work=$(mktemp -d /tmp/wrenn-runsc-apt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial"
# The machine's own sources, so bin/apt-backports can derive the backports suite from them.
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
  cp "$f" "$work/etc/sources.list.d/"
done
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$work/etc/sources.list"
shopt -u nullglob
WRENN_APT_DIR="$work/etc" bash bin/apt-backports >/dev/null
apt=(-o "Dir::Etc::sourcelist=$work/etc/sources.list" -o "Dir::Etc::sourceparts=$work/etc/sources.list.d"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
apt-get "${apt[@]}" update -q >/dev/null
(cd "$work" && apt-get "${apt[@]}" download -q -t "$codename-backports" runsc)
mkdir -p "$dest"
dpkg -x "$work"/runsc_*.deb "$dest"
"$dest/usr/bin/runsc" --version | head -n1
echo "WRENN_RUNSC=$dest/usr/bin/runsc"
