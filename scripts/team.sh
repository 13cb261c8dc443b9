#!/usr/bin/env bash
# A JIT's team topology on one machine, on loopback, for a test or a small
# pilot: the team's Prefect server, jitev's deployments on a process work pool
# (`jitev deploy`), N `jitev worker` processes and, with --web, `jitev serve`.
#
#   scripts/team.sh up [--workers N] [--web]   start what is not running yet; write $DIR/env
#   scripts/team.sh down [--purge]             stop exactly the processes recorded in $DIR/pids;
#                                              --purge also deletes $DIR (the pilot's catalog,
#                                              evidence and keys when they live there)
#   scripts/team.sh status                     each piece, up or not (exit 0 all up, 3 otherwise)
#   scripts/team.sh env                        print the exports (exit 3 if the server is down)
#
# Then `source $DIR/env` and use jitev as a team member would: `jitev transfer
# approve`, `jitev bundle create`, `jitev audit run` and `jitev ingest
# --on-worker` submit jobs to the workers (`--wait` follows them), and `jitev
# jobs list` shows them.
#
# Every process is started with setsid (its own session and process group) and
# recorded in $DIR/pids/<name> as its pid, its start time (/proc/PID/stat) and
# its command line. `down` signals a recorded process (and its group, and the
# processes it started, such as a worker's flow runs) only while that pid still
# has that start time and that command line: a process this script did not
# start is never signalled. SIGTERM first, SIGKILL after 30 s.
#
# Environment:
#   JITEV_TEAM_DIR            state directory (default: $PWD/.test-servers/team): pids/, logs/,
#                             prefect/ (the server's PREFECT_HOME), home/ (JITEV_HOME), env
#   JITEV_TEAM_PREFECT_PORT   the Prefect server's port on 127.0.0.1 (default: 4210)
#   JITEV_TEAM_WEB_PORT       `jitev serve`'s port on 127.0.0.1 (default: 8010)
#   JITEV_TEAM_POOL           the work pool, and the deployments' name (default: team)
#                             (`up` records these three in $DIR/team.conf; down, status and
#                             env read them from there)
#   JITEV_TEAM_WORKER_LIMIT   flow runs each worker runs at once (default: 4)
#   JITEV_TEAM_PREFECT_DB_URL the Prefect server's database, postgresql+asyncpg://... (the
#                             database must exist); default: SQLite in $DIR/prefect
#   JITEV_TEAM_DB_URL         the catalog, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/jit;
#                             default: SQLite in the home
#   JITEV_TEAM_JIT_FILE       the JIT set up when the catalog has nobody registered yet
#                             (default: config/jit.example.toml)
# Any other JITEV_* variable set when `up` runs (JITEV_STORE_* for S3, JITEV_AUDIT_SCHEDULED_AS,
# JITEV_ENGINE_HEARTBEAT_SECONDS, JITEV_CONFIG...) is passed to every piece and written to
# $DIR/env (mode 0600: it may hold a secret key). The store is the local write-once
# directory under the home unless JITEV_STORE_BACKEND=s3 says otherwise.
# Progress goes to stderr; `env` prints the exports on stdout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$(realpath -m "${JITEV_TEAM_DIR:-$PWD/.test-servers/team}")
PREFECT_PORT=${JITEV_TEAM_PREFECT_PORT:-4210}
WEB_PORT=${JITEV_TEAM_WEB_PORT:-8010}
POOL=${JITEV_TEAM_POOL:-team}
LIMIT=${JITEV_TEAM_WORKER_LIMIT:-4}
PREFECT_DB_URL=${JITEV_TEAM_PREFECT_DB_URL:-}
DB_URL=${JITEV_TEAM_DB_URL:-}
JIT_FILE=$(realpath -m "${JITEV_TEAM_JIT_FILE:-$REPO/config/jit.example.toml}")

SETTINGS=$DIR/team.conf    # the ports and pool `up` used: down, status and env use them
if [[ ${1:-} != up && -f $SETTINGS ]]; then
    # shellcheck source=/dev/null
    source "$SETTINGS"
fi

PY=$REPO/.venv/bin/python
JITEV=$REPO/.venv/bin/jitev
PIDS=$DIR/pids
LOGS=$DIR/logs
HOME_DIR=$DIR/home
ENV_FILE=$DIR/env
MARKER=$DIR/.jitev-team      # proves $DIR is ours before `down --purge` deletes it
API=http://127.0.0.1:$PREFECT_PORT/api
STOP_SECONDS=30

say() { echo "team: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

for p in "$PREFECT_PORT" "$WEB_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "invalid port '$p'"; fi
done
[[ $PREFECT_PORT != "$WEB_PORT" ]] || die "JITEV_TEAM_PREFECT_PORT and JITEV_TEAM_WEB_PORT are both $WEB_PORT"
[[ $POOL =~ ^[a-z0-9][a-z0-9-]{0,62}$ ]] || die "JITEV_TEAM_POOL '$POOL': lower-case letters, digits and '-'"
[[ $LIMIT =~ ^[1-9][0-9]*$ ]] || die "JITEV_TEAM_WORKER_LIMIT '$LIMIT' is not a positive number"
case "$DIR" in
    / | /root | /home | /tmp | /work | "$REPO" | "$HOME") die "refusing to use '$DIR' as the team's state dir" ;;
esac
if [[ -n $PREFECT_DB_URL && $PREFECT_DB_URL != postgresql+asyncpg://* && $PREFECT_DB_URL != sqlite+aiosqlite://* ]]; then
    die "JITEV_TEAM_PREFECT_DB_URL must be postgresql+asyncpg://... (Prefect's async driver)"
fi

# ---------------------------------------------------------------- processes

# The fields of /proc/PID/stat after the command name: 1 state, 3 pgrp, 20 start time.
stat_field() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    read -r -a fields <<<"$stat"
    echo "${fields[$(($2 - 1))]}"
}

command_line() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | sed 's/ $//'; }

alive() {
    local state
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    state=$(stat_field "$1" 1) || return 1
    [[ $state != Z && $state != X ]]
}

field() { [[ -f $PIDS/$1 ]] && sed -n "s/^$2=//p" "$PIDS/$1"; }

# A record is ours while its pid runs, with the start time and command line recorded.
is_ours() {
    local name=$1 pid start cmd
    pid=$(field "$name" pid) || return 1
    start=$(field "$name" start) || return 1
    cmd=$(field "$name" cmd) || return 1
    alive "$pid" || return 1
    [[ $(stat_field "$pid" 20) == "$start" ]] || return 1
    [[ -z $cmd || $(command_line "$pid") == "$cmd" ]]
}

records() {
    local f
    [[ -d $PIDS ]] || return 0
    for f in "$PIDS"/web "$PIDS"/worker-* "$PIDS"/prefect-server; do
        [[ -f $f && $f != *.tmp ]] && basename "$f"
    done
    return 0
}

record() {
    local name=$1 pid=$2 start=$3 cmd=$4
    printf 'pid=%s\nstart=%s\ncmd=%s\n' "$pid" "$start" "$cmd" >"$PIDS/$name.tmp"
    mv "$PIDS/$name.tmp" "$PIDS/$name"
}

STARTED=()   # what this `up` started: stopped again if it fails

# What each piece's command line is, with these settings.
server_glob() { echo "$PY -m prefect server start --host 127.0.0.1 --port $PREFECT_PORT *"; }
worker_glob() { echo "$PY -m prefect worker start --pool $POOL *--name team-worker-$1"; }
web_glob() { echo "$PY $JITEV serve --host 127.0.0.1 --port $WEB_PORT"; }

# running NAME GLOB: whether piece NAME already runs (ours) as GLOB says it
# should; one that runs otherwise (another port or pool) is an error.
running() {
    local name=$1 glob=$2 cmd
    is_ours "$name" || return 1
    cmd=$(field "$name" cmd)
    # shellcheck disable=SC2053
    [[ $cmd == $glob ]] || die "$name already runs as '$cmd' (pid $(field "$name" pid)), not as these settings say: '$0 down' first"
}

# start NAME GLOB COMMAND...: run COMMAND in a session of its own with the pieces'
# environment, record it at once by pid and start time, then by its command line
# once it matches GLOB (a worker execs `prefect worker start` in the same pid).
start_piece() {
    local name=$1 glob=$2 pid start cmd _
    shift 2
    (
        for v in ${!PREFECT_@}; do unset "$v"; done
        # shellcheck source=/dev/null
        source "$ENV_FILE"
        cd "$DIR"
        exec setsid "$@"
    ) </dev/null >>"$LOGS/$name.log" 2>&1 9>&- &
    pid=$!
    start=$(stat_field "$pid" 20) || fail "$name exited at once" "$LOGS/$name.log"
    record "$name" "$pid" "$start" ""
    STARTED+=("$name")
    for _ in $(seq 1 100); do
        cmd=$(command_line "$pid")
        # shellcheck disable=SC2053
        if [[ $cmd == $glob ]]; then
            record "$name" "$pid" "$start" "$cmd"
            [[ $(stat_field "$pid" 3) == "$pid" ]] || fail "$name (pid $pid) is not the leader of its process group" "$LOGS/$name.log"
            return 0
        fi
        alive "$pid" || break
        sleep 0.1
    done
    fail "$name (pid $pid) did not become '$glob'" "$LOGS/$name.log"
}

# All processes below PID, as "pid start" lines (a worker's flow runs run in
# sessions of their own: its group does not hold them).
descendants() {
    local pid=$1 child
    for child in $(ps -e -o pid=,ppid= | awk -v p="$pid" '$2 == p {print $1}'); do
        echo "$child $(stat_field "$child" 20 || echo -)"
        descendants "$child"
    done
}

signal_piece() {
    local sig=$1 pid=$2
    if [[ $(stat_field "$pid" 3) == "$pid" ]]; then kill "-$sig" -- "-$pid" 2>/dev/null || true; fi
    kill "-$sig" "$pid" 2>/dev/null || true
}

# Stop one recorded piece: TERM (its group too), KILL after $STOP_SECONDS, then
# whatever it had started that still runs (same pid and start time).
stop_piece() {
    local name=$1 pid kids=() line kpid kstart _
    pid=$(field "$name" pid || true)
    if ! is_ours "$name"; then
        [[ -n $pid ]] && alive "$pid" && say "$name: pid $pid is no longer the process this script started: left alone"
        rm -f "$PIDS/$name"
        return 0
    fi
    while read -r line; do [[ -n $line ]] && kids+=("$line"); done < <(descendants "$pid")
    say "stopping $name (pid $pid${kids:+; it started ${#kids[@]} process(es) still running})"
    signal_piece TERM "$pid"
    for _ in $(seq 1 $((STOP_SECONDS * 5))); do is_ours "$name" || break; sleep 0.2; done
    if is_ours "$name"; then
        say "$name (pid $pid) still runs after $STOP_SECONDS s: SIGKILL"
        signal_piece KILL "$pid"
        for _ in $(seq 1 50); do is_ours "$name" || break; sleep 0.2; done
        is_ours "$name" && die "could not stop $name (pid $pid)"
    fi
    for line in "${kids[@]}"; do
        read -r kpid kstart <<<"$line"
        [[ $kstart != - ]] && alive "$kpid" && [[ $(stat_field "$kpid" 20) == "$kstart" ]] || continue
        say "stopping pid $kpid, started by $name: $(command_line "$kpid" | cut -c1-100)"
        kill -TERM "$kpid" 2>/dev/null || true
        for _ in $(seq 1 50); do alive "$kpid" || break; sleep 0.2; done
        alive "$kpid" && [[ $(stat_field "$kpid" 20) == "$kstart" ]] && kill -KILL "$kpid" 2>/dev/null || true
    done
    rm -f "$PIDS/$name"
}

# The flow runs the workers' processes are running now: the flow-run ids in
# the environments of the processes below each worker (ids, one a line).
running_runs() {
    local name pid kid _
    for name in $(records); do
        [[ $name == worker-* ]] && is_ours "$name" || continue
        pid=$(field "$name" pid)
        while read -r kid _; do
            { tr '\0' '\n' <"/proc/$kid/environ"; } 2>/dev/null | sed -n 's/^PREFECT__FLOW_RUN_ID=//p'
        done < <(descendants "$pid")
    done | sort -u
}

# A flow run's state type (RUNNING, CRASHED...), as the Prefect server says.
run_state() {
    curl -sf --noproxy '*' --max-time 5 "$API/flow_runs/$1" 2>/dev/null \
        | "$PY" -c 'import json, sys; print((json.load(sys.stdin).get("state") or {}).get("type", "?"))'
}

in_progress() { [[ $(run_state "$1" || echo "?") == @(RUNNING|PENDING) ]]; }

heartbeat_seconds() {
    (
        for v in ${!PREFECT_@}; do unset "$v"; done
        # shellcheck source=/dev/null
        [[ -f $ENV_FILE ]] && source "$ENV_FILE"
        "$PY" -c 'from config.settings import engine; print(engine().heartbeat_seconds)'
    ) 2>/dev/null || echo 30
}

# Web first, then the workers, then the Prefect server. A worker that stops
# ends the flow runs it is running without a final state: while the server
# still runs, the automation `jitev deploy` made marks them CRASHED two
# heartbeats later, so `down` waits for that before it stops the server.
stop_all() {
    local name runs="" left="" wait id _
    if is_ours prefect-server; then
        for id in $(running_runs); do   # a run's process outlives its end by a moment
            in_progress "$id" && runs+="$id"$'\n'
        done
        runs=${runs%$'\n'}
    fi
    for name in $(records); do [[ $name == prefect-server ]] || stop_piece "$name"; done
    if [[ -n $runs ]] && is_ours prefect-server; then
        wait=$((2 * $(heartbeat_seconds) + 30))
        say "the workers were running flow run(s) $(paste -sd' ' <<<"$runs"): waiting up to $wait s for Prefect to mark them CRASHED"
        for _ in $(seq 1 "$wait"); do
            left=""
            for id in $runs; do
                in_progress "$id" && left+="$id "
            done
            [[ -z $left ]] && break
            sleep 1
        done
        if [[ -n $left ]]; then
            say "still in progress in Prefect: $left(mark them Crashed in the Prefect UI)"
        fi
        say "after the next up, run them again: jitev jobs retry ID"
    fi
    if [[ -f $PIDS/prefect-server ]]; then stop_piece prefect-server; fi
    return 0
}

# ---------------------------------------------------------------- checks

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() { curl -sf -o /dev/null --noproxy '*' --max-time 3 "$1"; }

server_healthy() { http_ok "$API/health"; }

web_answers() { http_ok "http://127.0.0.1:$WEB_PORT/api/v1/openapi.json"; }

# The work pool's workers as Prefect sees them: "name status" lines.
pool_workers() {
    curl -sf --noproxy '*' --max-time 5 -X POST -H 'content-type: application/json' -d '{}' \
        "$API/work_pools/$POOL/workers/filter" 2>/dev/null \
        | "$PY" -c 'import json, sys; [print(w["name"], w.get("status") or "?") for w in json.load(sys.stdin)]'
}

fail() {
    local msg=$1 f
    shift
    say "ERROR: $msg"
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

# wait_for WHAT SECONDS NAME CHECK: until CHECK passes, while piece NAME still runs.
wait_for() {
    local what=$1 seconds=$2 name=$3 check=$4 _
    for _ in $(seq 1 $((seconds * 2))); do
        if $check >/dev/null 2>&1; then return 0; fi
        is_ours "$name" || fail "$name exited while waiting for $what" "$LOGS/$name.log"
        sleep 0.5
    done
    fail "$what not ready after $seconds s" "$LOGS/$name.log"
}

# ---------------------------------------------------------------- the pieces

write_env() {
    local v
    {
        echo "# written by scripts/team.sh up; source it to use this team's jitev"
        for v in $(compgen -e | grep '^JITEV_' | sort); do
            case $v in
                JITEV_TEAM_* | JITEV_TEST_* | JITEV_RGW_* | JITEV_PG_* | JITEV_HOME | JITEV_DB_URL | JITEV_ENGINE_WORK_POOL) ;;
                *) printf 'export %s=%q\n' "$v" "${!v}" ;;
            esac
        done
        printf 'export JITEV_HOME=%q\n' "$HOME_DIR"
        printf 'export PREFECT_API_URL=%q\n' "$API"
        printf 'export PREFECT_HOME=%q\n' "$HOME_DIR/prefect"   # the clients' (jitev's default)
        printf 'export JITEV_ENGINE_WORK_POOL=%q\n' "$POOL"
        if [[ -n $DB_URL ]]; then printf 'export JITEV_DB_URL=%q\n' "$DB_URL"; else echo "unset JITEV_DB_URL"; fi
        echo "export PATH=$(printf %q "$REPO/.venv/bin"):\$PATH"
    } >"$ENV_FILE.tmp"
    chmod 600 "$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# `jitev ...` in the pieces' environment, its output in logs/NAME.log.
run_jitev() {
    local name=$1
    shift
    (
        for v in ${!PREFECT_@}; do unset "$v"; done
        # shellcheck source=/dev/null
        source "$ENV_FILE"
        "$JITEV" "$@"
    ) </dev/null >"$LOGS/$name.log" 2>&1 9>&- || fail "jitev $1 failed" "$LOGS/$name.log"
}

start_server() {
    local glob
    glob=$(server_glob)
    if running prefect-server "$glob"; then
        say "Prefect server already running (pid $(field prefect-server pid))"
    else
        rm -f "$PIDS/prefect-server"
        port_in_use "$PREFECT_PORT" && die "127.0.0.1:$PREFECT_PORT is taken by another process; set JITEV_TEAM_PREFECT_PORT"
        local db="SQLite in $DIR/prefect"
        [[ -n $PREFECT_DB_URL ]] && db="PostgreSQL (JITEV_TEAM_PREFECT_DB_URL)"
        say "starting the Prefect server on 127.0.0.1:$PREFECT_PORT, its database $db"
        local env=(
            PREFECT_HOME="$DIR/prefect" PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
            PREFECT_SERVER_API_HOST=127.0.0.1 PREFECT_SERVER_API_PORT="$PREFECT_PORT"
        )
        [[ -n $PREFECT_DB_URL ]] && env+=(PREFECT_SERVER_DATABASE_CONNECTION_URL="$PREFECT_DB_URL")
        # Its scheduler stays on: it makes the fixity audit's scheduled runs.
        start_piece prefect-server "$glob" \
            env -u PREFECT_API_URL "${env[@]}" \
            "$PY" -m prefect server start --host 127.0.0.1 --port "$PREFECT_PORT" --analytics-off
    fi
    wait_for "the Prefect server's $API/health" 180 prefect-server server_healthy
}

set_up_jit() {
    run_jitev people people list --json
    if [[ $(tr -d '[:space:]' <"$LOGS/people.log") != "[]" ]]; then
        say "the catalog has people registered already: no jitev setup"
        return 0
    fi
    [[ -f $JIT_FILE ]] || die "no JIT file $JIT_FILE (JITEV_TEAM_JIT_FILE)"
    say "jitev setup $JIT_FILE (case, teams, people, receipt keys in $HOME_DIR/keys)"
    run_jitev setup setup "$JIT_FILE"
}

start_workers() {
    local n=$1 i name found glob
    for i in $(seq 1 "$n"); do
        name=worker-$i
        glob=$(worker_glob "$i")
        if running "$name" "$glob"; then
            say "team-worker-$i already running (pid $(field "$name" pid))"
            continue
        fi
        rm -f "$PIDS/$name"
        start_piece "$name" "$glob" \
            "$JITEV" worker --name "team-worker-$i" --limit "$LIMIT"
    done
    for i in $(seq 1 "$n"); do
        name=worker-$i
        for _ in $(seq 1 120); do
            found=$(pool_workers | awk -v w="team-worker-$i" '$1 == w && $2 == "ONLINE"' || true)
            [[ -n $found ]] && break
            is_ours "$name" || fail "$name exited while starting" "$LOGS/$name.log"
            sleep 0.5
        done
        [[ -n $found ]] || fail "team-worker-$i is not ONLINE on pool $POOL after 60 s" "$LOGS/$name.log"
        say "team-worker-$i online (pid $(field "$name" pid))"
    done
    for name in $(records); do
        [[ $name == worker-* ]] && ((${name#worker-} > n)) && is_ours "$name" \
            && say "team-$name also runs (from an earlier up): '$0 down' stops it"
    done
    return 0
}

start_web() {
    local glob
    glob=$(web_glob)
    if running web "$glob"; then
        say "jitev serve already running (pid $(field web pid))"
        return 0
    fi
    rm -f "$PIDS/web"
    port_in_use "$WEB_PORT" && die "127.0.0.1:$WEB_PORT is taken by another process; set JITEV_TEAM_WEB_PORT"
    start_piece web "$glob" \
        "$JITEV" serve --host 127.0.0.1 --port "$WEB_PORT"
    wait_for "jitev serve on 127.0.0.1:$WEB_PORT" 120 web web_answers
}

# ---------------------------------------------------------------- commands

lock() {
    mkdir -p "$DIR"
    exec 9>"$DIR/.lock"
    flock -w 300 9 || die "another team.sh holds the lock on $DIR for 5 min"
}

UP_DONE=0
on_up_exit() {
    local rc=$? name
    if ((UP_DONE == 0)); then
        say "start failed or interrupted; stopping what this run started (logs kept in $LOGS)"
        for name in "${STARTED[@]}"; do stop_piece "$name" || true; done
        ((rc != 0)) || rc=1
    fi
    exit "$rc"
}

cmd_up() {
    local workers=2 web=0
    while (($#)); do
        case $1 in
            --workers)
                [[ ${2:-} =~ ^[0-9]+$ ]] && ((${2} <= 32)) || die "--workers takes a number from 0 to 32"
                workers=$2
                shift 2
                ;;
            --web) web=1; shift ;;
            *) die "up: unknown argument '$1' (up [--workers N] [--web])" ;;
        esac
    done
    [[ -x $JITEV && -x $PY ]] || die "no $JITEV: run 'make demo' or 'python3 -m venv .venv && .venv/bin/pip install -e .' first"
    command -v curl >/dev/null && command -v setsid >/dev/null || die "curl and setsid are needed"
    lock
    # What already runs must run as these settings say, before anything changes.
    local name
    for name in $(records); do
        case $name in
            prefect-server) running "$name" "$(server_glob)" || true ;;
            worker-*) running "$name" "$(worker_glob "${name#worker-}")" || true ;;
            web) running "$name" "$(web_glob)" || true ;;
        esac
    done
    mkdir -p "$PIDS" "$LOGS" "$DIR/prefect" "$HOME_DIR"
    touch "$MARKER"
    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    printf 'PREFECT_PORT=%q\nWEB_PORT=%q\nPOOL=%q\n' "$PREFECT_PORT" "$WEB_PORT" "$POOL" >"$SETTINGS"
    write_env
    start_server
    set_up_jit
    say "jitev deploy (work pool $POOL)"
    run_jitev deploy deploy
    sed 's/^/  /' "$LOGS/deploy.log" >&2
    start_workers "$workers"
    ((web == 0)) || start_web
    UP_DONE=1
    trap - EXIT INT TERM
    say "up: Prefect UI http://127.0.0.1:$PREFECT_PORT (API $API), work pool $POOL, $workers worker(s)"
    is_ours web && say "web: http://127.0.0.1:$WEB_PORT/ (set passwords with: jitev people passwd NAME)"
    say "env: source $ENV_FILE"
}

cmd_down() {
    local purge=0
    case "${1:-}" in
        "") ;;
        --purge) purge=1 ;;
        *) die "down: unknown argument '$1' (down [--purge])" ;;
    esac
    if [[ ! -d $DIR ]]; then
        say "down (nothing at $DIR)"
        return 0
    fi
    lock
    stop_all
    rm -f "$ENV_FILE"
    if ((purge)); then
        [[ -f $MARKER ]] || die "$DIR was not made by this script (no $MARKER): remove it yourself"
        chmod -R u+w "$DIR" 2>/dev/null || true   # the local store's objects are read-only
        rm -rf "$DIR"
        say "down ($DIR removed)"
    else
        say "down (data and logs kept in $DIR; '$0 down --purge' deletes them)"
    fi
}

cmd_status() {
    local name pid rc=0 live
    if [[ -z $(records) ]]; then
        echo "team: down (nothing recorded in $PIDS)"
        return 3
    fi
    for name in $(records); do
        pid=$(field "$name" pid || true)
        if is_ours "$name"; then
            echo "team: $name up (pid $pid): $(field "$name" cmd | cut -c1-120)"
        else
            echo "team: $name gone (pid $pid recorded)"
            rc=3
        fi
    done
    if server_healthy; then
        echo "team: Prefect server answers at $API (UI http://127.0.0.1:$PREFECT_PORT)"
        live=$(pool_workers || true)
        echo "team: work pool $POOL workers: ${live:-none}" | paste -sd' ' -
    else
        echo "team: Prefect server does not answer at $API"
        rc=3
    fi
    if [[ -f $PIDS/web ]]; then
        if web_answers; then echo "team: web answers at http://127.0.0.1:$WEB_PORT/"; else
            echo "team: web does not answer at http://127.0.0.1:$WEB_PORT/"
            rc=3
        fi
    fi
    return "$rc"
}

cmd_env() {
    if is_ours prefect-server && [[ -f $ENV_FILE ]]; then
        cat "$ENV_FILE"
    else
        say "not up: run scripts/team.sh up"
        exit 3
    fi
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down "$@" ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 up [--workers N] [--web] | down [--purge] | status | env" >&2
        exit 2
        ;;
esac
