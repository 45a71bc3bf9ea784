#!/usr/bin/env bash
# Start Redis when none answers at REDIS_URL (default redis://localhost:6379/0); install it if missing.
set -euo pipefail
url="${REDIS_URL:-redis://localhost:6379/0}"
hostport="${url#redis://}"; hostport="${hostport%%/*}"; hostport="${hostport##*@}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=6379
answers() { python3 - "$host" "$port" <<'PY'
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
    s.sendall(b"PING\r\n"); ok = s.recv(16).startswith(b"+PONG"); s.close()
except OSError:
    ok = False
sys.exit(0 if ok else 1)
PY
}
answers && exit 0
case "$host" in localhost|127.0.0.1|::1) ;; *) echo "Redis at $host:$port does not answer" >&2; exit 1;; esac
if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server from the system's packages"
  sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
# Durable, as Careline checks at start (core/redis_durability.py, docs/operations.md): every write appended to a
# file fsynced each second, and no key evicted when memory is full. Its data stays in instance/redis-PORT
# (git-ignored), so a Redis started again here finds the messages it held.
data="$(pwd)/instance/redis-$port"
mkdir -p "$data"
redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly yes --appendfsync everysec \
  --maxmemory-policy noeviction --dir "$data" --logfile "$(pwd)/instance/redis.log"
for _ in $(seq 50); do answers && { echo "started Redis on $port"; exit 0; }; sleep 0.1; done
echo "Redis did not start; see instance/redis.log" >&2; exit 1
