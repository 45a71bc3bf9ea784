#!/usr/bin/env bash
# Install Debian's Node.js and npm when npm is missing: `make install` runs `npm ci` for the console's browser
# packages (package.json, package-lock.json), which it serves from node_modules.
set -euo pipefail
command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && exit 0
command -v apt-get >/dev/null 2>&1 || {
  echo "ensure-node: node and npm are missing and there is no apt-get here; install Node.js (npm 7+) by hand" >&2
  exit 1; }
sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
echo "installing nodejs and npm from the system's packages (for the console's browser packages)"
log="$(mktemp)"
if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
       $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "ensure-node: could not install nodejs and npm (see above)" >&2; exit 1
fi
rm -f "$log"
command -v npm >/dev/null 2>&1 || { echo "ensure-node: npm installed but not on PATH" >&2; exit 1; }
