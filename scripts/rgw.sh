#!/usr/bin/env bash
# S3 test server: a single-node Ceph RADOS Gateway (RGW) from Debian's packages.
#
#   scripts/rgw.sh up       start it (installs the packages if missing), write $DIR/env
#   scripts/rgw.sh down     stop exactly the daemons recorded in $DIR/pids, delete $DIR
#   scripts/rgw.sh status   say whether it is up (exit 0 up, 3 down)
#   scripts/rgw.sh env      print the exports for the test suite (exit 3 if down)
#
# One mon, one OSD (BlueStore on a sparse file inside $DIR), RGW (beast) on
# 127.0.0.1. Cluster auth is "none"; RGW still enforces S3 SigV4 signatures.
# Every file lives under $DIR; daemons run in the background and are stopped by
# the PIDs recorded at start, never by name. Why RGW and not MinIO, and the
# measured quirks: /work/shared/reference/s3-test-server.md.
#
# Environment:
#   JITEV_RGW_DIR          state directory   (default: <repo>/.test-servers/rgw)
#   JITEV_RGW_PORT         S3 port           (default: 7480)
#   JITEV_RGW_MON_PORT     mon msgr2 port    (default: 3300)
#   JITEV_RGW_MON_V1_PORT  mon msgr1 port    (default: 6789)
# Progress goes to stderr; `env` prints the exports on stdout.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=$(realpath -m "${JITEV_RGW_DIR:-$REPO/.test-servers/rgw}")
PORT=${JITEV_RGW_PORT:-7480}
MON_PORT=${JITEV_RGW_MON_PORT:-3300}
MON_V1_PORT=${JITEV_RGW_MON_V1_PORT:-6789}

ACCESS_KEY=JITEVTESTACCESSKEY01
SECRET_KEY=jitevTestSecretKey0123456789abcdefghij
S3_UID=jitev-test

CONF=$DIR/ceph.conf
PIDS=$DIR/pids
MARKER=$DIR/.jitev-rgw       # proves $DIR is ours before `down` deletes it
BLOCK_BYTES=$((20 * 1024 * 1024 * 1024))   # sparse; the bench writes a 2 GiB object

say() { echo "rgw: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

for p in "$PORT" "$MON_PORT" "$MON_V1_PORT"; do
    if ! [[ $p =~ ^[0-9]+$ ]] || ((p < 1 || p > 65535)); then die "invalid port '$p'"; fi
done
case "$DIR" in
    / | /root | /home | /tmp | /work | "$REPO") die "refusing to use '$DIR' as the RGW data dir" ;;
esac

# ---------------------------------------------------------------- processes

# A recorded PID counts only while it still runs one of our daemons: its
# command line names our ceph.conf. A reused PID, or a zombie, does not count.
is_ours() {
    local pid=$1 cmdline
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmdline=$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null) || return 1
    [[ $cmdline == *"$CONF"* ]]
}

recorded_pids() { if [[ -f $PIDS ]]; then awk '{print $2}' "$PIDS"; fi; }
pid_list() { recorded_pids | paste -sd' ' -; }

# 0: every recorded daemon runs; 1: none recorded or some are gone.
all_alive() {
    local pid n=0
    for pid in $(recorded_pids); do
        is_ours "$pid" || return 1
        n=$((n + 1))
    done
    ((n == 3))
}

any_alive() {
    local pid
    for pid in $(recorded_pids); do is_ours "$pid" && return 0; done
    return 1
}

answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; }

# TERM every recorded daemon still ours, wait up to 30 s, then KILL, wait 10 s.
stop_daemons() {
    local pid live _
    [[ -f $PIDS ]] || return 0
    for pid in $(recorded_pids); do
        is_ours "$pid" && { say "stopping $(awk -v p="$pid" '$2 == p {print $1}' "$PIDS") (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true; }
    done
    for _ in $(seq 1 60); do any_alive || return 0; sleep 0.5; done
    live=()
    for pid in $(recorded_pids); do is_ours "$pid" && live+=("$pid"); done
    say "still running after 30 s, sending KILL to: ${live[*]}"
    kill -KILL "${live[@]}" 2>/dev/null || true
    for _ in $(seq 1 20); do any_alive || return 0; sleep 0.5; done
    die "could not stop pids: $(pid_list)"
}

remove_dir() {
    [[ -d $DIR ]] || return 0
    if [[ -f $MARKER ]] || [[ -z $(ls -A "$DIR") ]]; then
        rm -rf "$DIR"
    else
        die "$DIR exists but was not made by this script (no $MARKER); remove it yourself"
    fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Start a daemon in the background, record "name pid". stdin/stdout closed,
# fd 9 (the lock) not inherited, so the daemon neither holds the lock nor a pipe.
start_daemon() {
    local name=$1; shift
    "$@" </dev/null >"$DIR/log/$name.stdout" 2>&1 9>&- &
    echo "$name $!" >>"$PIDS"
}

# Print the last lines of a log and fail (the EXIT trap stops what we started).
fail_with_log() {
    local msg=$1 f
    say "ERROR: $msg"
    shift
    for f in "$@"; do
        [[ -s $f ]] || continue
        echo "----- last lines of $f -----" >&2
        tail -n 30 "$f" >&2
    done
    exit 1
}

# Fail showing a daemon's stdout capture and Ceph's own log
# ("log file = $DIR/log/$name.log"; rgw's Ceph name is client.rgw.a).
fail_daemon() {
    local name=$1 msg=$2 ceph_name=$1
    [[ $name == rgw.* ]] && ceph_name=client.$name
    fail_with_log "$msg" "$DIR/log/$name.stdout" "$DIR/log/$ceph_name.log"
}

# Wait (bounded) for a check to pass while a daemon stays alive.
wait_for() {
    local what=$1 seconds=$2 name=$3 check=$4 pid _
    pid=$(awk -v n="$name" '$1 == n {print $2}' "$PIDS")
    for _ in $(seq 1 $((seconds * 2))); do
        if eval "$check" >/dev/null 2>&1; then return 0; fi
        is_ours "$pid" || fail_daemon "$name" "$name exited while waiting for $what"
        sleep 0.5
    done
    fail_daemon "$name" "$what not ready after ${seconds} s"
}

# ---------------------------------------------------------------- install

ensure_packages() {
    local missing=() b
    for b in radosgw radosgw-admin ceph-mon ceph-osd ceph ceph-authtool monmaptool uuidgen curl; do
        command -v "$b" >/dev/null 2>&1 || missing+=("$b")
    done
    ((${#missing[@]} == 0)) && return 0
    say "missing ${missing[*]}: installing Debian packages (about 270 MB)"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "not root and no sudo: install radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl"
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
        || die "apt-get update failed"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        radosgw ceph-mon ceph-osd ceph-common uuid-runtime curl >&2 \
        || die "apt-get install failed"
}

# ---------------------------------------------------------------- config

write_conf() {
    local fsid=$1
    cat >"$CONF" <<EOF
# jitev S3 test server: single-node Ceph, written by scripts/rgw.sh
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
keyring = $DIR/keyring
run dir = $DIR/run
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1

[mon]
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid

[mon.a]
mon data = $DIR/mon.a

[osd]
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
osd data = $DIR/osd.\$id
osd objectstore = bluestore
# no "bluestore block path": inside osd data it fails with ELOOP (40)
bluestore block create = true
bluestore block size = $BLOCK_BYTES
bluestore fsck on mount = false
osd memory target = 1073741824

[client.rgw.a]
admin socket = $DIR/run/\$name.asok
pid file = $DIR/run/\$name.pid
# with auth "none" radosgw otherwise hangs on "get_initial_auth_request returned -13"
ms mon client mode = crc secure
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw thread pool size = 64
EOF
}

write_env() {
    cat >"$DIR/env.tmp" <<EOF
export JITEV_TEST_S3_ENDPOINT=127.0.0.1:$PORT
export JITEV_TEST_S3_ACCESS_KEY=$ACCESS_KEY
export JITEV_TEST_S3_SECRET_KEY=$SECRET_KEY
EOF
    mv "$DIR/env.tmp" "$DIR/env"
}

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 5 "$@"; }

# ---------------------------------------------------------------- commands

UP_DONE=0
on_up_exit() {
    local rc=$?
    if ((UP_DONE == 0)); then
        say "start failed or interrupted; stopping what was started (logs kept in $DIR/log)"
        stop_daemons || true
        ((rc != 0)) || rc=1
    fi
    exit "$rc"
}

cmd_up() {
    local t0 fsid osd_uuid osd_id p
    t0=$(date +%s%N)
    mkdir -p "$(dirname "$DIR")"

    # One `up`/`down` at a time per data dir parent.
    exec 9<"$(dirname "$DIR")"
    flock -w 300 9 || die "another rgw.sh holds the lock on $(dirname "$DIR") for 5 min"

    if all_alive && answers && [[ -f $DIR/env ]]; then
        say "already up at 127.0.0.1:$PORT (pids: $(pid_list))"
        return 0
    fi
    if [[ -f $PIDS ]]; then
        say "found a previous run that is not fully up: cleaning it"
        stop_daemons
    fi
    remove_dir

    ensure_packages
    for p in "$PORT" "$MON_PORT" "$MON_V1_PORT"; do
        port_in_use "$p" && die "port 127.0.0.1:$p is taken by another process; set JITEV_RGW_PORT / JITEV_RGW_MON_PORT / JITEV_RGW_MON_V1_PORT"
    done

    trap on_up_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    mkdir -p "$DIR"/{run,log,crash,mon.a,osd.0,rgw}
    touch "$MARKER"
    : >"$PIDS"

    say "creating a single-node cluster in $DIR (mon 127.0.0.1:$MON_PORT/$MON_V1_PORT, S3 127.0.0.1:$PORT)"
    fsid=$(uuidgen)
    write_conf "$fsid"
    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
        --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
    monmaptool --create --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
        --fsid "$fsid" "$DIR/monmap" >/dev/null
    ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring" \
        >"$DIR/log/mon-mkfs.out" 2>&1 || fail_with_log "ceph-mon --mkfs failed" "$DIR/log/mon-mkfs.out"

    start_daemon mon.a ceph-mon -c "$CONF" -i a -f
    wait_for "the monitor" 60 mon.a 'ceph_cli mon stat'

    osd_uuid=$(uuidgen)
    osd_id=$(ceph_cli osd new "$osd_uuid" 2>"$DIR/log/osd-new.err") \
        || fail_with_log "ceph osd new failed" "$DIR/log/osd-new.err"
    [[ $osd_id == 0 ]] || fail_with_log "expected OSD id 0, got '$osd_id'" "$DIR/log/osd-new.err"
    say "formatting the OSD (BlueStore on a sparse $((BLOCK_BYTES >> 30)) GiB file)"
    timeout 300 ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" \
        >"$DIR/log/osd-mkfs.out" 2>&1 || fail_with_log "ceph-osd --mkfs failed" "$DIR/log/osd-mkfs.out"
    start_daemon osd.0 ceph-osd -c "$CONF" -i 0 -f
    wait_for "the OSD" 120 osd.0 'ceph_cli osd stat -f json | grep -q "\"num_up_osds\":1"'

    say "starting RGW (creates its pools on first start)"
    start_daemon rgw.a radosgw -c "$CONF" -n client.rgw.a -f
    wait_for "RGW on 127.0.0.1:$PORT" 180 rgw.a answers

    if ! timeout 60 radosgw-admin -c "$CONF" user info --uid="$S3_UID" >/dev/null 2>&1; then
        timeout 60 radosgw-admin -c "$CONF" user create --uid="$S3_UID" \
            --display-name="jitev test suite" \
            --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" \
            >/dev/null 2>"$DIR/log/user-create.err" \
            || fail_with_log "creating the S3 user failed" "$DIR/log/user-create.err"
    fi
    write_env
    UP_DONE=1
    trap - EXIT INT TERM
    local ms=$((($(date +%s%N) - t0) / 1000000))
    say "up at http://127.0.0.1:$PORT in $((ms / 1000)).$(printf %03d $((ms % 1000))) s (pids: $(pid_list))"
    say "env: source $DIR/env"
}

cmd_down() {
    if [[ ! -e $DIR ]]; then
        say "down (nothing at $DIR)"
        return 0
    fi
    exec 9<"$(dirname "$DIR")"
    flock -w 300 9 || die "another rgw.sh holds the lock on $(dirname "$DIR") for 5 min"
    stop_daemons
    remove_dir
    say "down ($DIR removed)"
}

cmd_status() {
    if all_alive && answers; then
        echo "rgw: up at http://127.0.0.1:$PORT (pids: $(pid_list); dir $DIR)"
        return 0
    fi
    if any_alive; then
        echo "rgw: partly up (some daemons gone or RGW not answering on $PORT); '$0 up' restarts it, '$0 down' cleans up"
    else
        echo "rgw: down"
    fi
    return 3
}

cmd_env() {
    if all_alive && [[ -f $DIR/env ]]; then
        cat "$DIR/env"
    else
        die "not up: run scripts/rgw.sh up"
    fi
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *)
        echo "usage: $0 up|down|status|env" >&2
        exit 2
        ;;
esac
