#!/usr/bin/env bash
# PostgreSQL for the test suite.
#
#   scripts/postgres.sh up     make sure a server accepts connections at
#                              127.0.0.1:$PORT with a database "test"
#   scripts/postgres.sh down   stop the server only if this script started it
#   scripts/postgres.sh status say whether it is up and who started it
#
# If a server already answers (the usual case on the project's machines), `up`
# only creates database "test" if missing and records nothing, so `down` leaves
# it alone. Otherwise it installs Debian's postgresql if needed, creates a
# throw-away cluster in $DIR/data owned by the postgres OS user (trust auth,
# TCP on 127.0.0.1 only, no fsync), starts it in the background and records the
# postmaster PID in $DIR/started.pid. `down` stops that PID and deletes $DIR.
#
# Environment:
#   JITEV_PG_PORT   port on 127.0.0.1 (default: 5432)
#   JITEV_PG_DIR    state directory   (default: <repo>/.test-servers/pg)
# Progress goes to stderr.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$(realpath -m "${JITEV_PG_DIR:-$REPO/.test-servers/pg}")
PORT=${JITEV_PG_PORT:-5432}
DATA=$DIR/data
PIDFILE=$DIR/started.pid
LOG=$DIR/postgres.log
MARKER=$DIR/.jitev-pg       # proves $DIR is ours before `down` deletes it
DB="test"

say() { echo "postgres: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then die "invalid JITEV_PG_PORT '$PORT'"; fi
case "$DIR" in
    / | /root | /home | /tmp | /work | "$REPO") die "refusing to use '$DIR' as the PostgreSQL state dir" ;;
esac

as_root() {
    if ((EUID == 0)); then "$@"; else
        command -v sudo >/dev/null || die "not root and no sudo: cannot run $*"
        sudo "$@"
    fi
}

apt_install() {
    say "installing Debian packages: $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 \
        || die "apt-get install $* failed"
}

# Newest versioned bin dir Debian installed, e.g. /usr/lib/postgresql/15/bin.
newest_bin() {
    local dirs=(/usr/lib/postgresql/*/bin)
    [[ -d ${dirs[0]} ]] || return 1
    printf '%s\n' "${dirs[@]}" | sort -V | tail -n 1
}

server_bin() {
    local d
    d=$(newest_bin) || return 1
    [[ -x $d/initdb ]] && echo "$d"
}

# A client tool from PATH, else from the newest bin dir.
client() {
    local tool=$1 bin
    if command -v "$tool" >/dev/null 2>&1; then echo "$tool"; return 0; fi
    bin=$(newest_bin) || return 1
    [[ -x $bin/$tool ]] && echo "$bin/$tool"
}

ensure_clients() {
    client pg_isready >/dev/null && client psql >/dev/null && return 0
    apt_install postgresql-client
    if ! { client pg_isready && client psql; } >/dev/null; then die "pg_isready/psql still missing after install"; fi
}

ready() { "$(client pg_isready)" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1; }

psql_pg() { PGCONNECT_TIMEOUT=5 "$(client psql)" -w -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"; }

ensure_test_db() {
    local found
    found=$(psql_pg -tAc "select 1 from pg_database where datname = '$DB'" 2>&1) \
        || die "cannot connect as user postgres to 127.0.0.1:$PORT without a password ($found); the test suite expects trust auth"
    if [[ $found == 1 ]]; then
        say "database '$DB' exists"
    else
        psql_pg -c "create database $DB" >/dev/null || die "could not create database '$DB' on 127.0.0.1:$PORT"
        say "created database '$DB'"
    fi
}

# The recorded PID counts only while it still runs a postgres on our data dir.
is_ours() {
    local pid=$1 cmdline
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
    [[ $cmdline == *postgres* && $cmdline == *"$DATA"* ]]
}

recorded_pid() { if [[ -f $PIDFILE ]]; then cat "$PIDFILE"; fi; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tail_log() {
    [[ -s $LOG ]] || return 0
    echo "----- last lines of $LOG -----" >&2
    tail -n 30 "$LOG" >&2
}

# Fast shutdown (INT), then immediate (QUIT), then KILL; bounded waits.
stop_pid() {
    local pid=$1 sig _
    for sig in INT QUIT KILL; do
        is_ours "$pid" || return 0
        say "stopping postgres (pid $pid) with SIG$sig"
        kill -"$sig" "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do is_ours "$pid" || return 0; sleep 0.5; done
    done
    die "could not stop pid $pid"
}

remove_dir() {
    [[ -d $DIR ]] || return 0
    if [[ -f $MARKER ]] || [[ -z $(ls -A "$DIR") ]]; then
        rm -rf "$DIR"
    else
        die "$DIR exists but was not made by this script (no $MARKER); remove it yourself"
    fi
}

lock() {
    mkdir -p "$(dirname "$DIR")"
    exec 9<"$(dirname "$DIR")"
    flock -w 300 9 || die "another script holds the lock on $(dirname "$DIR") for 5 min"
}

UP_DONE=1
on_up_exit() {
    local rc=$?
    if ((UP_DONE == 0)); then
        tail_log
        say "start failed or interrupted; stopping what was started (log kept in $LOG)"
        stop_pid "$(recorded_pid)" || true
        rm -f "$PIDFILE"
        ((rc != 0)) || rc=1
    fi
    exit "$rc"
}

start_own_server() {
    local bin pid _
    bin=$(server_bin) || true
    if [[ -z $bin ]]; then
        apt_install postgresql
        bin=$(server_bin) || die "initdb not found under /usr/lib/postgresql/*/bin after installing postgresql"
        # Debian's package may have just started its own cluster on this port.
        if ready; then
            say "the freshly installed Debian cluster answers at 127.0.0.1:$PORT; using it"
            ensure_test_db
            return 0
        fi
    fi
    id postgres >/dev/null 2>&1 || die "OS user 'postgres' missing (it comes with Debian's postgresql-common)"
    port_in_use "$PORT" && die "127.0.0.1:$PORT is taken by something that is not a ready PostgreSQL; set JITEV_PG_PORT"

    remove_dir
    mkdir -p "$DIR"
    touch "$MARKER"
    install -d -o postgres -g postgres -m 700 "$DATA"
    runuser -u postgres -- test -w "$DATA" \
        || die "user postgres cannot reach $DATA (a parent directory is not world-traversable); set JITEV_PG_DIR"
    : >"$LOG"
    chown postgres:postgres "$LOG"

    say "creating a throw-away cluster in $DATA ($bin)"
    runuser -u postgres -- "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        </dev/null >>"$LOG" 2>&1 9>&- || { tail_log; die "initdb failed"; }
    cat >>"$DATA/postgresql.conf" <<EOF

# jitev test server (scripts/postgres.sh): loopback TCP only, no unix socket,
# durability off because the cluster is deleted by 'down'.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
EOF

    UP_DONE=0
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    runuser -u postgres -- "$bin/postgres" -D "$DATA" </dev/null >>"$LOG" 2>&1 9>&- &
    local launcher=$!
    # runuser may stay as a parent; the PID to record is the postmaster's own.
    for _ in $(seq 1 40); do
        pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)
        is_ours "$pid" && break
        pid=
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.25
    done
    [[ -n $pid ]] || die "postgres did not start"
    echo "$pid" >"$PIDFILE"
    for _ in $(seq 1 60); do
        ready && break
        is_ours "$pid" || die "postgres (pid $pid) exited during start"
        sleep 0.5
    done
    ready || die "postgres not ready after 30 s"
    ensure_test_db
    UP_DONE=1
    trap - EXIT INT TERM
    say "up at 127.0.0.1:$PORT (pid $pid, started by this script; 'scripts/postgres.sh down' stops it)"
}

cmd_up() {
    local pid _ rc
    lock
    ensure_clients
    pid=$(recorded_pid)
    # A server that is still starting answers "rejecting connections" (1): give it a moment.
    for _ in $(seq 1 20); do
        rc=0
        "$(client pg_isready)" -q -h 127.0.0.1 -p "$PORT" -t 2 >/dev/null 2>&1 || rc=$?
        ((rc == 1)) || break
        sleep 0.5
    done
    if ready; then
        if is_ours "$pid"; then
            say "already up at 127.0.0.1:$PORT (pid $pid, started by this script)"
        else
            say "a server already accepts connections at 127.0.0.1:$PORT (not started by this script; 'down' leaves it alone)"
        fi
        ensure_test_db
        return 0
    fi
    if [[ -f $PIDFILE ]]; then
        say "found a previous run that is not answering: cleaning it"
        stop_pid "$pid"
        rm -f "$PIDFILE"
    fi
    start_own_server
}

cmd_down() {
    local pid
    if [[ ! -f $PIDFILE ]]; then
        say "nothing to stop (no server started by this script; any server at 127.0.0.1:$PORT is left alone)"
        [[ -d $DIR ]] && remove_dir
        return 0
    fi
    lock
    pid=$(recorded_pid)
    stop_pid "$pid"
    rm -f "$PIDFILE"
    remove_dir
    say "down (stopped pid $pid, removed $DIR)"
}

cmd_status() {
    local pid
    pid=$(recorded_pid)
    ensure_clients
    if ready; then
        if is_ours "$pid"; then
            echo "postgres: up at 127.0.0.1:$PORT (pid $pid, started by this script)"
        else
            echo "postgres: up at 127.0.0.1:$PORT (not started by this script)"
        fi
        return 0
    fi
    echo "postgres: down at 127.0.0.1:$PORT"
    return 3
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
