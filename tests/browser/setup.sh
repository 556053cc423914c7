#!/usr/bin/env bash
# Prepares the browser tests: Debian's Chromium (only when it is missing) and the npm packages
# pinned in package-lock.json. The npm cache lives outside the clone, so nothing is left in it
# but node_modules/, which is git-ignored.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  else
    sudo apt-get update
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  fi
fi

cd "$here"
npm ci --no-audit --no-fund --cache "${XDG_CACHE_HOME:-$HOME/.cache}/npm"
