#!/usr/bin/env bash
# bench/echo.sh - udpkit's echo against the kernel's, measured the same way in
# one run: `udpkit serve` on a TAP, and `udpkit serve --backend kernel` (the
# very same service code on Linux's UDP sockets) behind a veth pair, each hit
# by `udpkit bench`: ping-pong round trips and a rate sweep, at each payload
# size, and the same sweep twice more with the load from N senders (--hosts
# N), the datagrams taking turns among them: from N hosts (N source addresses
# on the Linux side, one socket sending from all of them, in batches, as
# cheaply as from one) and from N sockets of one host (one address, N ports,
# a socket each); repeated and interleaved; then a table of medians
# [min..max], the ratios udpkit/kernel and, per stack, three ratios:
#
#   hosts/1        N hosts over one host: what a room of N machines costs the
#                  server (its neighbors; and Linux delivering the replies to
#                  N addresses, softirq work that runs inside the server's
#                  writes, so on its CPU): the figure the many-hosts target
#                  (>= 0.9) is about
#   sockets/1      N sockets of one host over one host: what N client sockets
#                  cost, mostly the load generator's (a system call per
#                  datagram) and Linux's
#   hosts/sockets  N hosts over N sockets
#
# Network safety: every TAP, veth, address and datagram lives in network
# namespaces this script creates (udpkit-bench-<pid>-*) and deletes on exit,
# error, Ctrl-C or TERM (after ending the processes inside them); nothing is
# configured in the machine's own namespace. Every load run is bounded in
# count and time, and the whole script runs under `timeout` (--max-total).
#
# Needs root, iproute2 (ip), util-linux (taskset), coreutils (timeout) and
# the udpkit binary (built here in release mode unless --bin is given).
#
# Usage: sudo bench/echo.sh [options]
#   --quick              a functional check, not a measurement (CI): both
#                        backends, both sizes, a few hundred datagrams per run,
#                        1 repetition; overrides the defaults below
#   --reps N             repetitions, interleaved (odd: udpkit first) [3]
#   --sizes "S ..."      payload sizes in bytes [64 1024]
#   --windows W,W,...    windows of the rate sweep [1,2,4,8,16,32,64,128,256]
#   --pp-time DURATION   ping-pong run length [3s]
#   --tp-time DURATION   length of each sweep window's run [2s]
#   --count N            most datagrams in one run [3000000]
#   --loss-ms MS         a reply later than this is lost [50]
#   --loss-ok PCT        the loss a sustainable rate may have [0.1]
#   --warmup N           warm-up exchanges before each run [200]
#   --cpus "S C"         server on CPU S; load generator on S for ping-pong
#                        and on C for the sweep ["1 0" with 2+ CPUs; "none"]
#   --services LIST      the services both servers run [all of them:
#                        echo,daytime,time,upper,hello,chat]
#   --hosts N            the many-hosts sweep sends from N addresses,
#                        192.168.69.101 onwards, added to the Linux side of the
#                        TAP (and of the veth pair), and the many-sockets sweep
#                        from N sockets of 192.168.69.100 [100; at most 154;
#                        0: neither sweep]
#   --port N             echo's port [7]
#   --bin PATH           the udpkit binary (default: cargo build --release,
#                        then target/release/udpkit)
#   --quiet-pct P        before starting each server, wait until the machine
#                        is below P % busy ... [25]
#   --quiet-wait S       ... for at most S seconds [60; 0 with --quick]
#   --max-total S        hard limit for the whole script [2400; 300 with --quick]
#   --workdir DIR        logs, runs.jsonl, summary.md/json [mktemp -d]
#   --no-core            skip the core micro-benchmark (cargo bench --bench
#                        core_echo: udpkit's Stack against bare smoltcp over an
#                        in-memory device, on the server's CPU), which runs at
#                        the end by default, when cargo is there [off with --quick]
#
# Output: the summary (markdown, ready to paste) on stdout, with the date,
# the machine and the command; progress on stderr; everything in --workdir.
# Exit: 0 ok; 1 setup or server failure; 2 usage; 4 a load run failed (no
# reply, or replies that were not byte-for-byte copies); 124/143 time limit.
set -uo pipefail

ME="bench/echo.sh"
die() { echo "$ME: $*" >&2; exit 1; }
note() { echo "$ME: $*" >&2; }

# --- defaults, and the hard time limit ---------------------------------------
QUICK=0
for a in "$@"; do [ "$a" = --quick ] && QUICK=1; done
if [ -z "${UDPKIT_BENCH_INNER:-}" ]; then
    mt=2400; [ "$QUICK" = 1 ] && mt=300
    prev=""
    for a in "$@"; do
        [ "$prev" = "--max-total" ] && mt="$a"
        prev="$a"
    done
    case "$mt" in ''|*[!0-9]*) echo "$ME: --max-total needs whole seconds" >&2; exit 2;; esac
    export UDPKIT_BENCH_INNER=1 UDPKIT_BENCH_COMMAND="$0 $*"
    exec timeout -s TERM -k 15 "$mt" bash "$0" "$@"
fi

REPS=3; SIZES="64 1024"; WINDOWS="1,2,4,8,16,32,64,128,256"
PP_TIME=3s; TP_TIME=2s; COUNT=3000000; LOSS_MS=50; LOSS_OK=0.1; WARMUP=200
CPUS=auto; SERVICES="echo,daytime,time,upper,hello,chat"; PORT=7; BIN=""; HOSTS=100
QUIET_PCT=25; QUIET_WAIT=60; MAX_TOTAL=2400; WORKDIR=""; CORE=1
if [ "$QUICK" = 1 ]; then
    REPS=1; WINDOWS="1,16"; PP_TIME=2s; TP_TIME=1s; COUNT=300; LOSS_MS=500; LOSS_OK=1
    WARMUP=20; QUIET_WAIT=0; MAX_TOTAL=300; CORE=0
fi
SERVICE_IP=192.168.69.1; HOST_IP=192.168.69.100; PREFIX=24

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) shift;;
        --reps) REPS="$2"; shift 2;;
        --sizes) SIZES="$2"; shift 2;;
        --windows) WINDOWS="$2"; shift 2;;
        --pp-time) PP_TIME="$2"; shift 2;;
        --tp-time) TP_TIME="$2"; shift 2;;
        --count) COUNT="$2"; shift 2;;
        --loss-ms) LOSS_MS="$2"; shift 2;;
        --loss-ok) LOSS_OK="$2"; shift 2;;
        --warmup) WARMUP="$2"; shift 2;;
        --cpus) CPUS="$2"; shift 2;;
        --services) SERVICES="$2"; shift 2;;
        --hosts) HOSTS="$2"; shift 2;;
        --port) PORT="$2"; shift 2;;
        --bin) BIN="$2"; shift 2;;
        --quiet-pct) QUIET_PCT="$2"; shift 2;;
        --quiet-wait) QUIET_WAIT="$2"; shift 2;;
        --max-total) MAX_TOTAL="$2"; shift 2;;
        --workdir) WORKDIR="$2"; shift 2;;
        --no-core) CORE=0; shift;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
        *) echo "$ME: unknown option $1 (see --help)" >&2; exit 2;;
    esac
done
for v in REPS COUNT WARMUP PORT QUIET_PCT QUIET_WAIT MAX_TOTAL HOSTS; do
    case "${!v}" in ''|*[!0-9]*) echo "$ME: ${v,,} must be a whole number" >&2; exit 2;; esac
done
[ "$REPS" -ge 1 ] || { echo "$ME: --reps must be at least 1" >&2; exit 2; }
{ [ "$HOSTS" = 0 ] || { [ "$HOSTS" -ge 2 ] && [ "$HOSTS" -le 154 ]; }; } \
    || { echo "$ME: --hosts is 0 (none) or 2 to 154" >&2; exit 2; }
# The many hosts: 192.168.69.101 onwards, clear of the server (.1) and of the
# Linux side's own address (.100).
HOSTS_FIRST=101; HOSTS_LAST=$((HOSTS_FIRST + HOSTS - 1))
HOSTS_RANGE="192.168.69.$HOSTS_FIRST-192.168.69.$HOSTS_LAST"
for s in $SIZES; do
    case "$s" in ''|*[!0-9]*) echo "$ME: bad size $s" >&2; exit 2;; esac
    { [ "$s" -ge 16 ] && [ "$s" -le 1472 ]; } || { echo "$ME: sizes are 16 to 1472 bytes" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || die "must run as root: it creates network namespaces and a TAP (sudo $0 ...)"
for c in ip taskset timeout awk; do command -v "$c" >/dev/null || die "missing tool: $c"; done

NCPU=$(nproc)
case "$CPUS" in
    auto) if [ "$NCPU" -ge 2 ]; then SRV_CPU=1; CLI_CPU=0; else SRV_CPU=""; CLI_CPU=""; fi;;
    none) SRV_CPU=""; CLI_CPU="";;
    *) read -r SRV_CPU CLI_CPU <<<"$CPUS"
       case "$SRV_CPU$CLI_CPU" in ''|*[!0-9]*) echo "$ME: --cpus \"S C\" takes two CPU numbers" >&2; exit 2;; esac;;
esac
pin() { if [ -n "$1" ]; then echo "taskset -c $1"; fi; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="release build"
if [ -n "$BIN" ]; then BUILD="binary $BIN"; fi
if [ -z "$BIN" ]; then
    command -v cargo >/dev/null || die "no cargo to build udpkit: give --bin PATH"
    note "building udpkit (release)"
    (cd "$ROOT" && cargo build --release --locked -p udpkit-host >&2) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/udpkit"
fi
[ -x "$BIN" ] || die "no udpkit binary at $BIN"
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")

[ -n "$WORKDIR" ] || WORKDIR=$(mktemp -d /tmp/udpkit-bench.XXXXXX)
mkdir -p "$WORKDIR" || die "cannot create $WORKDIR"
RUNS="$WORKDIR/runs.jsonl"; : >"$RUNS"
LOG="$WORKDIR/runs.log"; : >"$LOG"
if [ "$CORE" = 1 ]; then
    if command -v cargo >/dev/null; then
        (cd "$ROOT" && cargo bench --locked --bench core_echo --no-run) >"$WORKDIR/core-build.log" 2>&1 \
            || { note "cannot build the core micro-benchmark (see $WORKDIR/core-build.log); skipping it"; CORE=0; }
    else
        note "no cargo: skipping the core micro-benchmark"; CORE=0
    fi
fi

# --- lifecycle ---------------------------------------------------------------
NSBASE="udpkit-bench-$$"
NSES=(); SRV_PID=""; SRV_LOG=""; SRV_NS=""; CLI_NS=""; FAILED=0
kill_ns_pids() { # $1 namespace, $2 signal: every process in it was started here
    local p
    for p in $(ip netns pids "$1" 2>/dev/null); do kill -"$2" "$p" 2>/dev/null; done
}
stop_server() {
    local ns i
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    for i in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    for ns in "${NSES[@]}"; do kill_ns_pids "$ns" KILL; done
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=""
}
del_namespaces() {
    local ns
    for ns in "${NSES[@]}"; do
        kill_ns_pids "$ns" KILL
        ip netns del "$ns" 2>/dev/null
    done
    NSES=()
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_server
    del_namespaces
    note "logs: $WORKDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated (time limit --max-total=${MAX_TOTAL}s?)"; exit 143' TERM

new_ns() { # $1 name: a namespace with lo up and IPv6 off (no RS/MLD chatter)
    ip netns add "$1" || die "ip netns add $1 failed"
    NSES+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sh -c 'for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do [ -w "$f" ] && echo 1 > "$f"; done; true'
}

add_hosts() { # $1 namespace $2 device: the many-hosts sweep's addresses, in one go
    local i
    [ "$HOSTS" -gt 0 ] || return 0
    for i in $(seq "$HOSTS_FIRST" "$HOSTS_LAST"); do
        echo "address add 192.168.69.$i/$PREFIX dev $2"
    done | ip -n "$1" -batch - || die "cannot add the $HOSTS host addresses to $2"
}

# udpkit: the TAP, its Linux side and the load generator in one namespace
# (the TAP's Linux side is there), udpkit attached to the TAP.
setup_tap() {
    SRV_NS="$NSBASE-tap"; CLI_NS="$SRV_NS"
    new_ns "$SRV_NS"
    ip -n "$SRV_NS" tuntap add name tap0 mode tap || die "cannot create a TAP (is /dev/net/tun there?)"
    ip netns exec "$SRV_NS" sh -c 'f=/proc/sys/net/ipv6/conf/tap0/disable_ipv6; [ -w "$f" ] && echo 1 > "$f"; true'
    ip -n "$SRV_NS" addr add "$HOST_IP/$PREFIX" dev tap0 || die "cannot address the TAP"
    add_hosts "$SRV_NS" tap0
    ip -n "$SRV_NS" link set tap0 up || die "cannot bring the TAP up"
}
# kernel: the kernel backend in one namespace, the load generator in another,
# a veth pair between them: both paths cross a device boundary.
setup_veth() {
    SRV_NS="$NSBASE-ksrv"; CLI_NS="$NSBASE-kcli"
    new_ns "$SRV_NS"; new_ns "$CLI_NS"
    ip -n "$CLI_NS" link add veth0 type veth peer name veth1 netns "$SRV_NS" || die "cannot create a veth pair"
    ip -n "$CLI_NS" addr add "$HOST_IP/$PREFIX" dev veth0 || die "cannot address veth0"
    add_hosts "$CLI_NS" veth0
    ip -n "$SRV_NS" addr add "$SERVICE_IP/$PREFIX" dev veth1 || die "cannot address veth1"
    ip -n "$CLI_NS" link set veth0 up; ip -n "$SRV_NS" link set veth1 up
}

# --- noise -----------------------------------------------------------------------
busy_pct() { # CPU use of the whole machine over one second, in % of all CPUs
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat); sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)
    echo "$a $b" | awk '{ t = $4 - $2; printf "%d", (t > 0 ? 100 * ($3 - $1) / t : 0) }'
}
wait_quiet() {
    local t0=$SECONDS b
    [ "$QUIET_WAIT" -gt 0 ] || return 0
    while :; do
        b=$(busy_pct)
        [ "$b" -lt "$QUIET_PCT" ] && return 0
        if [ $((SECONDS - t0)) -ge "$QUIET_WAIT" ]; then
            note "machine still ${b}% busy after ${QUIET_WAIT}s; measuring anyway (see noisy runs)"
            return 0
        fi
    done
}

# --- a server, and the load runs against it ----------------------------------------
start_server() { # $1 label (udpkit|kernel) $2 rep $3 what it is for (in its log's name)
    local label=$1 log="$WORKDIR/$1.rep$2$3.server.log" dl args
    SRV_LOG=$log
    if [ "$label" = kernel ]; then
        args=(serve --backend kernel --bind "$SERVICE_IP" --services "$SERVICES" --port "echo=$PORT")
    else
        args=(serve --tap tap0 --ip "$SERVICE_IP/$PREFIX" --services "$SERVICES" --port "echo=$PORT")
    fi
    # `ip netns exec`, `env` and `taskset` exec in turn: $! is the server.
    # shellcheck disable=SC2046
    ip netns exec "$SRV_NS" env RUST_LOG=off $(pin "$SRV_CPU") "$BIN" "${args[@]}" \
        >"$log" 2>&1 </dev/null &
    SRV_PID=$!
    dl=$((SECONDS + 30))
    while :; do
        kill -0 "$SRV_PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "$label server exited at startup (log $log)"; }
        if [ "$label" = kernel ] || ip -n "$SRV_NS" link show tap0 2>/dev/null | grep -q LOWER_UP; then
            if ip netns exec "$CLI_NS" timeout 5 "$BIN" echo "$SERVICE_IP" ready --port "$PORT" \
                --timeout 200ms --retries 0 >/dev/null 2>&1; then
                return 0
            fi
        fi
        [ "$SECONDS" -lt "$dl" ] || { tail -n 20 "$log" >&2; die "$label server did not echo within 30 s (log $log)"; }
        sleep 0.2
    done
}
secs() { # a duration like 3s, 500ms or 2 -> whole seconds, rounded up
    awk -v d="$1" 'BEGIN { v = d + 0; if (d ~ /ms$/) v /= 1000; else if (d ~ /m$/) v *= 60; printf "%d", (v == int(v) ? v : int(v) + 1) }'
}
run_bench() { # $1 label $2 rep $3 size $4 kind (ping-pong|sweep|sockets-sweep|hosts-sweep)
    local label=$1 rep=$2 size=$3 kind=$4 cpu args runs limit line rc
    args=(bench "$SERVICE_IP:$PORT" --json --label "$label" --size "$size"
        --loss-ms "$LOSS_MS" --loss-ok "$LOSS_OK" --warmup "$WARMUP" --count "$COUNT"
        --server-pid "$SRV_PID")
    if [ "$kind" = ping-pong ]; then
        cpu="$SRV_CPU"; runs=1; args+=(--duration "$PP_TIME")
        limit=$(secs "$PP_TIME")
    else
        cpu="$CLI_CPU"; runs=$(echo "$WINDOWS" | tr ',' '\n' | grep -c .)
        args+=(--sweep --windows "$WINDOWS" --duration "$TP_TIME")
        limit=$(( runs * ($(secs "$TP_TIME") + 1) ))
        case "$kind" in
            # One host, N sockets: the address the one-host sweep sends from.
            sockets-sweep) args+=(--sources "$HOST_IP" --sockets "$HOSTS");;
            hosts-sweep) args+=(--sources "$HOSTS_RANGE");;
        esac
        # Every host or socket warms up at least once, 200 ms each if unanswered.
        [ "$kind" = sweep ] || limit=$((limit + HOSTS / 5))
    fi
    limit=$(( limit + runs * (LOSS_MS / 1000 + 1) + WARMUP / 5 + 20 ))
    echo "== $label rep $rep: $(pin "$cpu") udpkit ${args[*]}" >>"$LOG"
    # shellcheck disable=SC2046
    line=$(timeout -k 5 "$limit" ip netns exec "$CLI_NS" $(pin "$cpu") "$BIN" "${args[@]}" \
        2>"$WORKDIR/bench.err")
    rc=$?
    cat "$WORKDIR/bench.err" >>"$LOG"
    [ -z "$line" ] || echo "$line" >>"$RUNS"
    if [ "$rc" != 0 ]; then
        FAILED=1
        note "rep $rep: $label $size B $kind FAILED (rc $rc): $(tail -n 1 "$WORKDIR/bench.err")"
    else
        note "rep $rep: $(tail -n 1 "$WORKDIR/bench.err")"
    fi
    kill -0 "$SRV_PID" 2>/dev/null || die "$label server died during $kind (log $SRV_LOG)"
}
fresh_server() { # $1 label $2 rep $3 what it is for: new namespaces, a new server
    stop_server
    del_namespaces
    wait_quiet
    if [ "$1" = kernel ]; then setup_veth; else setup_tap; fi
    start_server "$1" "$2" "$3"
}
measure() { # $1 label $2 rep
    local label=$1 rep=$2 size kind many
    fresh_server "$label" "$rep" ""
    for size in $SIZES; do
        run_bench "$label" "$rep" "$size" ping-pong
        run_bench "$label" "$rep" "$size" sweep
    done
    # The many-senders sweeps come last, each on a server of its own: one
    # that struggles with many hosts may stay stuck for a while afterwards
    # (udpkit with a neighbor cache smaller than the number of hosts does, for
    # seconds), which must not spill into another measurement; the
    # many-sockets sweep gets the same conditions. Which of the two goes first
    # alternates with the repetitions.
    if [ "$HOSTS" -gt 0 ]; then
        if [ $((rep % 2)) = 1 ]; then many="sockets hosts"; else many="hosts sockets"; fi
        for size in $SIZES; do
            for kind in $many; do
                fresh_server "$label" "$rep" ".$kind$size"
                run_bench "$label" "$rep" "$size" "$kind-sweep"
            done
        done
    fi
    stop_server
    del_namespaces
}

# --- main ---------------------------------------------------------------------------
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
note "workdir $WORKDIR; binary $BIN; server CPU ${SRV_CPU:-any}, load generator CPU ${SRV_CPU:-any} (ping-pong) / ${CLI_CPU:-any} (sweep)"
for rep in $(seq 1 "$REPS"); do
    if [ $((rep % 2)) = 1 ]; then order="udpkit kernel"; else order="kernel udpkit"; fi
    for label in $order; do measure "$label" "$rep"; done
done

if [ "$CORE" = 1 ]; then
    note "core micro-benchmark (about 10 s)"
    wait_quiet
    # shellcheck disable=SC2046
    (cd "$ROOT" && $(pin "$SRV_CPU") cargo bench --locked --bench core_echo 2>/dev/null) \
        | grep -v '^$' >"$WORKDIR/core.txt" || { note "the core micro-benchmark failed"; FAILED=1; }
fi

"$BIN" bench --summarize "$RUNS" --baseline kernel --json >"$WORKDIR/summary.json" \
    || die "cannot summarize $RUNS"
"$BIN" bench --summarize "$RUNS" --baseline kernel >"$WORKDIR/summary.table" \
    || die "cannot summarize $RUNS"
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
git_rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
{
    echo "### udpkit echo vs the kernel's, $STARTED"
    echo
    echo "- machine: $NCPU CPUs (${cpu_model:-unknown}), Linux $(uname -r)"
    echo "- udpkit $("$BIN" --version | awk '{print $2}') (git $git_rev), $BUILD, RUST_LOG=off"
    echo "- command: \`${UDPKIT_BENCH_COMMAND:-$0}\`$([ "$QUICK" = 1 ] && echo " (quick: a functional check, not a measurement)")"
    echo "- udpkit: \`udpkit serve\` on a TAP; kernel: \`udpkit serve --backend kernel\` behind a veth pair; services $SERVICES"
    echo "- server on CPU ${SRV_CPU:-any}; load generator on CPU ${SRV_CPU:-any} for ping-pong, CPU ${CLI_CPU:-any} for the sweep over windows $WINDOWS"
    if [ "$HOSTS" -gt 0 ]; then
        echo "- \"$HOSTS hosts\": the same sweep with the load from $HOSTS source addresses ($HOSTS_RANGE, on the Linux side of the TAP or veth), one socket sending from all of them in batches; \"1 host, $HOSTS sockets\": from $HOSTS sockets of $HOST_IP (the one-host sweep's address), one datagram per system call; in both the datagrams take turns among the sources, each sweep on a fresh server"
        echo "- hosts/1: $HOSTS hosts over one host (what a room of $HOSTS machines costs the server); sockets/1: $HOSTS sockets over one host (what many client sockets cost, mostly the load generator's); hosts/sockets: $HOSTS hosts over $HOSTS sockets"
    fi
    echo "- a reply later than $LOSS_MS ms is lost; max echo/s = highest rate with loss ≤ $LOSS_OK %; ping-pong $PP_TIME, each window $TP_TIME, at most $COUNT datagrams per run"
    echo "- medians [min..max] of $REPS repetition(s), udpkit and kernel interleaved"
    echo
    cat "$WORKDIR/summary.table"
    if [ "$CORE" = 1 ] && [ -s "$WORKDIR/core.txt" ]; then
        echo
        echo "The core alone (\`cargo bench --bench core_echo\`, on CPU ${SRV_CPU:-any}):"
        echo
        echo '```'
        grep -v '^ *Running ' "$WORKDIR/core.txt"
        echo '```'
    fi
} | tee "$WORKDIR/summary.md"
[ "$FAILED" = 0 ] || { note "some load runs failed: see $LOG"; exit 4; }
exit 0
