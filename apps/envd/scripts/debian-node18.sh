#!/usr/bin/env bash
# Prepares Debian bookworm's Node 18 (the node inside sandbox templates) without installing it,
# and prints the path of a wrapper that runs it. Use it to run envd's tests with envd on the
# sandbox's Node instead of the host's:
#
#   WRENN_ENVD_NODE=$(apps/envd/scripts/debian-node18.sh) npx vitest run --project unit apps/envd
#
# Needs root (apt-get download, unshare, mount): Debian's node loads some builtins from
# /usr/share/nodejs, which the wrapper overlays in a private mount namespace.
set -euo pipefail
dir=${WRENN_NODE18_DIR:-/tmp/wrenn-node18}
if [ ! -x "$dir/root/usr/bin/node" ]; then
  mkdir -p "$dir/debs"
  # The host may have a newer nodejs from elsewhere: ask for Debian's 18.x explicitly.
  version=$(apt-cache madison nodejs | awk '$3 ~ /^18\./ { print $3; exit }')
  if [ -z "$version" ]; then
    echo "no Debian nodejs 18.x known to apt (run apt-get update?)" >&2
    exit 1
  fi
  (
    cd "$dir/debs"
    apt-get download -q "nodejs=$version" "libnode108=$version" libc-ares2 node-acorn \
      node-cjs-module-lexer node-undici >&2
  )
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
fi
cat >"$dir/node" <<WRAPPER
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount -t overlay overlay -o lowerdir=$dir/root/usr/share:/usr/share /usr/share && LD_LIBRARY_PATH=$dir/root/usr/lib/x86_64-linux-gnu exec $dir/root/usr/bin/node "\$@"' node18 "\$@"
WRAPPER
chmod +x "$dir/node"
"$dir/node" --version >&2
echo "$dir/node"
