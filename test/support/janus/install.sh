#!/usr/bin/env bash
# What test/e2e/publish-janus.test.ts needs on Debian (root), run by .ci/run:
# - Janus (Debian's `janus`, 1.1.2) and iproute2 (its network namespace);
# - Meetecho's simple-whip-server, from Debian too, but downloaded and unpacked rather than installed:
#   `apt-get install simple-whip-server` wants Debian's nodejs through its node-* dependencies, which
#   conflicts with a Node that did not come from Debian. Its few npm dependencies come from the npm registry
#   (whip-server/package.json, locked).
# Idempotent: what is there already is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deb_dir="$here/whip-server/deb"
export DEBIAN_FRONTEND=noninteractive

updated=
apt_update() {
  if [ -z "$updated" ]; then apt-get update -q; updated=1; fi
}

if [ ! -x /usr/bin/janus ] || ! command -v ip >/dev/null; then
  apt_update
  apt-get install -y -q janus iproute2
fi

if [ ! -f "$deb_dir/usr/share/simple-whip-server/src/server.js" ]; then
  apt_update
  download=$(mktemp -d)
  trap 'rm -rf "$download"' EXIT
  # apt's sandbox user cannot write a root-owned mktemp folder: let it be (the download is checked by apt).
  (cd "$download" && apt-get download -q simple-whip-server 2>&1 | grep -v 'unsandboxed' || true)
  package=$(ls "$download"/simple-whip-server_*.deb)
  rm -rf "$deb_dir"
  mkdir -p "$deb_dir"
  dpkg-deb -x "$package" "$deb_dir"
  # Its config.js is a symlink into /etc (the package's conffile): the unpacked copy instead. The defaults
  # serve: Janus at ws://127.0.0.1:8188, the WHIP API on port 7080 under /whip, trickle allowed.
  rm -f "$deb_dir/usr/share/simple-whip-server/src/config.js"
  cp "$deb_dir/etc/simple-whip-server/config.js" "$deb_dir/usr/share/simple-whip-server/src/config.js"
fi
echo "simple-whip-server unpacked at $deb_dir"

# express, websocket & co. (no install scripts: websocket's optional native helpers fall back to JavaScript)
npm ci --prefix "$here/whip-server" --no-audit --no-fund --ignore-scripts
