#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser) when /usr/bin/chromium is missing.
# Playwright drives this browser; it never downloads one of its own (`playwright install` is not used).
set -euo pipefail
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
command -v apt-get >/dev/null 2>&1 || {
  echo "ensure-chromium: $CHROMIUM is missing and there is no apt-get here; install Chromium by hand" >&2; exit 1; }
sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
echo "installing chromium from the system's packages (for tests/browser)"
log="$(mktemp)"
if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
       $sudo_cmd apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "ensure-chromium: could not install chromium (see above)" >&2; exit 1
fi
rm -f "$log"
[ -x "$CHROMIUM" ] || { echo "ensure-chromium: chromium installed but $CHROMIUM is missing" >&2; exit 1; }
