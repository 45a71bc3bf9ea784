#!/usr/bin/env bash
# Make sure a PostgreSQL server answers for the tests (CARELINE_TEST_POSTGRES_URL, default
# postgresql://postgres@127.0.0.1:5432/test). Starts the machine's cluster when it is installed but down,
# or installs Debian's package and creates the test database. tests/conftest.py falls back to a
# throwaway server (pytest-postgresql) when this still leaves none running and it may run initdb.
set -euo pipefail
url="${CARELINE_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}"
answers() { pg_isready -q -d "$url" 2>/dev/null || python3 -c "
import sys, socket
try: socket.create_connection(('127.0.0.1', 5432), timeout=1).close()
except OSError: sys.exit(1)"; }
answers && exit 0
sudo_cmd=""; [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "installing postgresql from the system's packages"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
$sudo_cmd pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || \
  $sudo_cmd pg_ctlcluster "$version" main start
for _ in $(seq 50); do answers && break; sleep 0.2; done
# A fresh cluster: let the tests' role in over TCP without a password (local tests only) and add `test`.
hba="/etc/postgresql/$version/main/pg_hba.conf"
if ! grep -q "careline-tests" "$hba"; then
  printf '# careline-tests\nhost all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust\n' | \
    cat - "$hba" | $sudo_cmd tee "$hba.new" >/dev/null && $sudo_cmd mv "$hba.new" "$hba"
  $sudo_cmd pg_ctlcluster "$version" main reload || true
fi
$sudo_cmd su postgres -c "psql -tc \"SELECT 1 FROM pg_database WHERE datname='test'\" | grep -q 1 || createdb test"
answers
