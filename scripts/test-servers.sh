#!/usr/bin/env bash
# Test servers for the suite: the S3 server (Ceph RGW, scripts/rgw.sh) and
# PostgreSQL (scripts/postgres.sh). Both commands are idempotent.
#
#   scripts/test-servers.sh up       start both; print the exports on stdout:
#                                    eval "$(scripts/test-servers.sh up)"
#   scripts/test-servers.sh down     stop what the scripts started (always tries both)
#   scripts/test-servers.sh status
#
# Ports and directories: see the two scripts (JITEV_RGW_*, JITEV_PG_*).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PG_PORT=${JITEV_PG_PORT:-5432}

cmd_up() {
    "$HERE/rgw.sh" up || { echo "test-servers: the S3 server (RGW) did not start" >&2; exit 1; }
    "$HERE/postgres.sh" up || { echo "test-servers: PostgreSQL did not start" >&2; exit 1; }
    echo "test-servers: up; the environment for the tests (also printed on stdout):" >&2
    "$HERE/rgw.sh" env
    echo "export JITEV_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/test"
}

cmd_down() {
    local rc=0
    "$HERE/rgw.sh" down || rc=1
    "$HERE/postgres.sh" down || rc=1
    ((rc == 0)) || echo "test-servers: down finished with errors (see above)" >&2
    return "$rc"
}

cmd_status() {
    local rc=0
    "$HERE/rgw.sh" status || rc=3
    "$HERE/postgres.sh" status || rc=3
    return "$rc"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 up|down|status" >&2
        exit 2
        ;;
esac
