#!/usr/bin/env bash
# `make test`'s two passes of the suite, SQLite and PostgreSQL, run at once: most of a pass's time is spent
# waiting (real calls' pauses, servers starting, browsers), so together they take about as long as the slower one.
# Each has its own database and its own Redis db (tests/services.py); the SQLite pass prints as it goes, the
# PostgreSQL pass into a log printed whole when it ends. Exits non-zero when either pass fails.
# A CARELINE_TEST_REDIS_URL set by hand would be one db for both: then they run one after the other.
set -uo pipefail
MAKE="${MAKE:-make}"

if [ -n "${CARELINE_TEST_REDIS_URL:-}" ]; then
  echo "CARELINE_TEST_REDIS_URL is set: one Redis db, so the passes run one after the other"
  $MAKE --no-print-directory test-sqlite && $MAKE --no-print-directory test-postgresql
  exit
fi

log="$(mktemp -t careline-test-postgresql.XXXXXX)"
$MAKE --no-print-directory test-postgresql >"$log" 2>&1 &
postgresql=$!
trap 'kill "$postgresql" 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

echo "== the SQLite pass (the PostgreSQL pass runs beside it; its output follows)"
$MAKE --no-print-directory test-sqlite
sqlite_status=$?
wait "$postgresql"
postgresql_status=$?

echo
echo "== the PostgreSQL pass"
cat "$log"
echo
echo "== SQLite pass: $([ "$sqlite_status" = 0 ] && echo passed || echo "FAILED ($sqlite_status)");" \
     "PostgreSQL pass: $([ "$postgresql_status" = 0 ] && echo passed || echo "FAILED ($postgresql_status)")"
[ "$sqlite_status" = 0 ] && [ "$postgresql_status" = 0 ]
