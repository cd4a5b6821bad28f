#!/usr/bin/env bash
# bench/soak.sh - a soak of udpkit's echo: one million datagrams from many hosts
# at half the measured capacity, every reply checked byte for byte. It passes
# when nothing is lost or altered, the server's memory stays flat and none of
# its queues stalled.
#
# 1. capacity: `udpkit serve` on a TAP, and a sweep of `udpkit bench --sweep
#    --sources` from --hosts addresses: the highest echo rate with loss ≤ 0.1 %.
# 2. soak, on a fresh server: a warm-up at the soak rate (--warm N datagrams),
#    then --count datagrams paced at --fraction of that capacity
#    (`udpkit bench --rate`), the datagrams taking turns among the hosts. The
#    server's RSS (/proc/PID/status VmRSS) is sampled every second; the figures
#    are the one after the warm-up and the one at the end.
# 3. the server is stopped and its counters read: echo received = sent, no
#    stall resets, the TAP's frames against Linux's counts of it. Any loss is
#    located: Linux counts the frames it could not queue to the TAP
#    (tx_dropped: udpkit did not read them in time), and /proc/PID/schedstat
#    tells how long the server waited, runnable, for its CPU.
#
# Network safety: the TAP, its addresses and every datagram live in a network
# namespace this script creates (udpkit-soak-<pid>) and deletes on exit, error,
# Ctrl-C or TERM, after ending the processes inside it; nothing is configured in
# the machine's own namespace. Every load run is bounded in count and time, and
# the whole script runs under `timeout` (--max-total).
#
# Needs root, iproute2 (ip), util-linux (taskset), coreutils (timeout) and the
# udpkit binary (built here in release mode unless --bin is given).
#
# Usage: sudo bench/soak.sh [options]
#   --count N          datagrams in the soak [1000000]
#   --fraction F       the soak rate as a fraction of the capacity [0.5]
#   --rate PPS         soak at this rate instead of measuring the capacity
#   --warm N           datagrams of the warm-up before the soak [100000]
#   --hosts N          source addresses, 192.168.69.101 onwards [100; 2 to 154]
#   --size BYTES       payload size [64]
#   --loss-ms MS       a reply later than this is lost [1000]
#   --window W         datagrams in flight at most [500]. The pace is open loop,
#                      but a generator that fell behind catches up at once: the
#                      window keeps that burst within the TAP's queue, so that
#                      what is measured is udpkit, not the burst
#   --txqueuelen N     frames Linux queues for udpkit to read from the TAP (when
#                      it is full Linux drops them, counted as the TAP's
#                      tx_dropped) [1000, Linux's default]
#   --rss-slack KB     how much the RSS may grow during the soak [1024]
#   --cpus "S C"       server on CPU S, load generator on CPU C ["1 0" with
#                      2+ CPUs; "none"]
#   --bin PATH         the udpkit binary (default: cargo build --release, then
#                      target/release/udpkit)
#   --quiet-pct P      before each phase, wait until the machine is below P %
#                      busy (other tasks on the server's CPU starve it, and the
#                      TAP's queue overflows) ... [25]
#   --quiet-wait S     ... for at most S seconds [120]
#   --max-total S      hard limit for the whole script [900]
#   --workdir DIR      logs and results [mktemp -d]
#
# Output: a summary (markdown) on stdout; progress on stderr; the servers' logs,
# the bench runs' JSON and the samples of each second (time, RSS in kB, Linux's
# tx_dropped of the TAP) in --workdir.
# Exit: 0 passed; 1 setup or server failure; 2 usage; 4 the soak failed (loss,
# altered replies, RSS growth, a stall or counters that do not add up); 124/143
# time limit.
set -uo pipefail

ME="bench/soak.sh"
die() { echo "$ME: $*" >&2; exit 1; }
note() { echo "$ME: $*" >&2; }

# --- the hard time limit -------------------------------------------------------
if [ -z "${UDPKIT_SOAK_INNER:-}" ]; then
    mt=900; prev=""
    for a in "$@"; do
        [ "$prev" = "--max-total" ] && mt="$a"
        prev="$a"
    done
    case "$mt" in ''|*[!0-9]*) echo "$ME: --max-total needs whole seconds" >&2; exit 2;; esac
    export UDPKIT_SOAK_INNER=1 UDPKIT_SOAK_COMMAND="$0 $*"
    exec timeout -s TERM -k 15 "$mt" bash "$0" "$@"
fi

COUNT=1000000; FRACTION=0.5; RATE=""; WARM=100000; HOSTS=100; SIZE=64; LOSS_MS=1000
RSS_SLACK=1024; CPUS=auto; BIN=""; MAX_TOTAL=900; WORKDIR=""; QUIET_PCT=25; QUIET_WAIT=120; TXQUEUELEN=1000; WINDOW=500
while [ $# -gt 0 ]; do
    case "$1" in
        --count) COUNT="$2"; shift 2;;
        --fraction) FRACTION="$2"; shift 2;;
        --rate) RATE="$2"; shift 2;;
        --warm) WARM="$2"; shift 2;;
        --hosts) HOSTS="$2"; shift 2;;
        --size) SIZE="$2"; shift 2;;
        --loss-ms) LOSS_MS="$2"; shift 2;;
        --txqueuelen) TXQUEUELEN="$2"; shift 2;;
        --window) WINDOW="$2"; shift 2;;
        --rss-slack) RSS_SLACK="$2"; shift 2;;
        --cpus) CPUS="$2"; shift 2;;
        --bin) BIN="$2"; shift 2;;
        --quiet-pct) QUIET_PCT="$2"; shift 2;;
        --quiet-wait) QUIET_WAIT="$2"; shift 2;;
        --max-total) MAX_TOTAL="$2"; shift 2;;
        --workdir) WORKDIR="$2"; shift 2;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0;;
        *) echo "$ME: unknown option $1 (see --help)" >&2; exit 2;;
    esac
done
for v in COUNT WARM HOSTS SIZE LOSS_MS RSS_SLACK MAX_TOTAL QUIET_PCT QUIET_WAIT TXQUEUELEN WINDOW; do
    case "${!v}" in ''|*[!0-9]*) echo "$ME: ${v,,} must be a whole number" >&2; exit 2;; esac
done
[ "$COUNT" -ge 1 ] && [ "$COUNT" -le 100000000 ] || { echo "$ME: --count is 1 to 100000000" >&2; exit 2; }
[ "$WARM" -ge 1 ] || { echo "$ME: --warm must be at least 1" >&2; exit 2; }
{ [ "$WINDOW" -ge 1 ] && [ "$WINDOW" -le 65536 ]; } || { echo "$ME: --window is 1 to 65536" >&2; exit 2; }
{ [ "$HOSTS" -ge 2 ] && [ "$HOSTS" -le 154 ]; } || { echo "$ME: --hosts is 2 to 154" >&2; exit 2; }
{ [ "$SIZE" -ge 16 ] && [ "$SIZE" -le 1472 ]; } || { echo "$ME: --size is 16 to 1472 bytes" >&2; exit 2; }
awk -v f="$FRACTION" 'BEGIN { exit !(f + 0 > 0 && f + 0 <= 1) }' \
    || { echo "$ME: --fraction is above 0 and at most 1" >&2; exit 2; }
if [ -n "$RATE" ]; then
    case "$RATE" in ''|*[!0-9]*) echo "$ME: --rate must be whole datagrams per second" >&2; exit 2;; esac
    [ "$RATE" -ge 1 ] || { echo "$ME: --rate must be at least 1" >&2; exit 2; }
fi
[ "$(id -u)" = 0 ] || die "must run as root: it creates a network namespace and a TAP (sudo $0 ...)"
for c in ip taskset timeout awk; do command -v "$c" >/dev/null || die "missing tool: $c"; done

SERVICE_IP=192.168.69.1; HOST_IP=192.168.69.100; PREFIX=24; PORT=7
HOSTS_FIRST=101; HOSTS_LAST=$((HOSTS_FIRST + HOSTS - 1))
HOSTS_RANGE="192.168.69.$HOSTS_FIRST-192.168.69.$HOSTS_LAST"
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
[ -n "$WORKDIR" ] || WORKDIR=$(mktemp -d /tmp/udpkit-soak.XXXXXX)
mkdir -p "$WORKDIR" || die "cannot create $WORKDIR"

# --- lifecycle ---------------------------------------------------------------------
NS="udpkit-soak-$$"; NS_MADE=""; SRV_PID=""; SAMPLER_PID=""
kill_ns_pids() { # $1 signal: every process in the namespace was started here
    local p
    [ -n "$NS_MADE" ] || return 0
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -"$1" "$p" 2>/dev/null; done
}
stop_sampler() {
    [ -n "$SAMPLER_PID" ] || return 0
    kill "$SAMPLER_PID" 2>/dev/null; wait "$SAMPLER_PID" 2>/dev/null; SAMPLER_PID=""
}
stop_server() { # SIGTERM, so that it prints its counters
    local i
    [ -n "$SRV_PID" ] || return 0
    kill -TERM "$SRV_PID" 2>/dev/null
    for i in $(seq 100); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
    kill_ns_pids KILL
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=""
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_sampler
    stop_server
    if [ -n "$NS_MADE" ]; then kill_ns_pids KILL; ip netns del "$NS" 2>/dev/null; fi
    note "logs: $WORKDIR"
    exit "$rc"
}
trap cleanup EXIT
trap 'note "interrupted"; exit 130' INT
trap 'note "terminated (time limit --max-total=${MAX_TOTAL}s?)"; exit 143' TERM

# The namespace: lo, and a TAP whose Linux side has the address of the host
# and the --hosts source addresses. IPv6 off: no chatter from Linux.
setup() {
    ip netns add "$NS" || die "ip netns add $NS failed"
    NS_MADE=1
    ip -n "$NS" link set lo up
    ip netns exec "$NS" sh -c 'for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do [ -w "$f" ] && echo 1 > "$f"; done; true'
    ip -n "$NS" tuntap add name tap0 mode tap || die "cannot create a TAP (is /dev/net/tun there?)"
    ip -n "$NS" link set tap0 txqueuelen "$TXQUEUELEN" || die "cannot set the TAP's queue to $TXQUEUELEN frames"
    ip -n "$NS" addr add "$HOST_IP/$PREFIX" dev tap0 || die "cannot address the TAP"
    local i
    for i in $(seq "$HOSTS_FIRST" "$HOSTS_LAST"); do
        echo "address add 192.168.69.$i/$PREFIX dev tap0"
    done | ip -n "$NS" -batch - || die "cannot add the $HOSTS host addresses"
    ip -n "$NS" link set tap0 up || die "cannot bring the TAP up"
}

start_server() { # $1 what for (the log's name)
    local log="$WORKDIR/$1.server.log" dl
    SRV_LOG=$log
    # `ip netns exec`, `env` and `taskset` exec in turn: $! is the server.
    # shellcheck disable=SC2046
    ip netns exec "$NS" env RUST_LOG=info $(pin "$SRV_CPU") "$BIN" serve --tap tap0 \
        --ip "$SERVICE_IP/$PREFIX" --no-ipv6 --services echo,daytime,time,upper,hello,chat \
        >"$log" 2>&1 </dev/null &
    SRV_PID=$!
    dl=$((SECONDS + 30))
    while :; do
        kill -0 "$SRV_PID" 2>/dev/null || { tail -n 20 "$log" >&2; die "server exited at startup (log $log)"; }
        if ip -n "$NS" link show tap0 2>/dev/null | grep -q LOWER_UP \
            && ip netns exec "$NS" timeout 5 "$BIN" echo "$SERVICE_IP" ready --timeout 200ms \
                --retries 0 >/dev/null 2>&1; then
            return 0
        fi
        [ "$SECONDS" -lt "$dl" ] || { tail -n 20 "$log" >&2; die "server did not echo within 30 s (log $log)"; }
        sleep 0.2
    done
}

# `udpkit bench` from the hosts; its JSON line goes to $2, its digest to stderr.
bench() { # $1 limit (s) $2 json file, then bench options
    local limit=$1 out=$2 rc
    shift 2
    # shellcheck disable=SC2046
    timeout -k 5 "$limit" ip netns exec "$NS" $(pin "$CLI_CPU") "$BIN" bench \
        "$SERVICE_IP:$PORT" --json --size "$SIZE" --sources "$HOSTS_RANGE" \
        --server-pid "$SRV_PID" "$@" >"$out" 2>>"$WORKDIR/bench.err"
    rc=$?
    tail -n 1 "$WORKDIR/bench.err" >&2
    return "$rc"
}
field() { # $1 file $2 key: the first number after "key": in the JSON
    grep -o "\"$2\":[0-9.eE+-]*" "$1" | head -n 1 | cut -d: -f2
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SRV_PID/status" 2>/dev/null; }
tap_count() { ip netns exec "$NS" cat "/sys/class/net/tap0/statistics/$1"; }
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
            note "machine still ${b}% busy after ${QUIET_WAIT}s; going on (see the CPU use of others)"
            return 0
        fi
    done
}
cpu_field() { # $1 file $2 key: generator_pct, server_pct or others_pct, rounded
    grep -o "\"$2\":[0-9.eE+-]*" "$1" | head -n 1 | cut -d: -f2 | awk '{ printf "%.0f", $1 }'
}

# --- 1. the capacity ---------------------------------------------------------------
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
T0=$SECONDS
setup
note "workdir $WORKDIR; binary $BIN; $HOSTS hosts ($HOSTS_RANGE); server CPU ${SRV_CPU:-any}, load generator CPU ${CLI_CPU:-any}"
if [ -z "$RATE" ]; then
    wait_quiet
    start_server capacity
    note "measuring the capacity: a sweep from $HOSTS hosts"
    bench $((6 * 3 + HOSTS / 5 + 60)) "$WORKDIR/capacity.json" --sweep \
        --windows 4,16,64,128,256 --duration 2s --loss-ms 50 --loss-ok 0.1 \
        || die "the capacity sweep failed (see $WORKDIR/bench.err)"
    CAPACITY=$(grep -o 'max [0-9]* echoes/s' "$WORKDIR/bench.err" | tail -n 1 | awk '{ print $2 }')
    [ -n "$CAPACITY" ] && [ "$CAPACITY" -gt 0 ] || die "no window kept loss <= 0.1 % (see $WORKDIR/bench.err)"
    stop_server
    RATE=$(awk -v c="$CAPACITY" -v f="$FRACTION" 'BEGIN { printf "%d", c * f }')
    [ "$RATE" -ge 1 ] || die "a rate of $RATE/s is too low"
    note "capacity ${CAPACITY} echoes/s; soaking at $RATE/s"
else
    CAPACITY=""
    note "soaking at $RATE/s (given)"
fi

# --- 2. the soak -------------------------------------------------------------------------
# Linux's counts of the TAP before this server: it is attached to it alone.
LINUX_TX0=$(tap_count tx_packets); LINUX_RX0=$(tap_count rx_packets)
LINUX_DROPPED0=$(tap_count tx_dropped)
wait_quiet
start_server soak
RSS_IDLE=$(rss_kb)
# Bounded in count, and in time at twice the expected length plus a minute.
warm_limit=$(( WARM / RATE * 2 + 60 ))
note "warm-up: $WARM datagrams at $RATE/s"
bench "$warm_limit" "$WORKDIR/warm.json" --rate "$RATE" --window "$WINDOW" --count "$WARM" \
    --duration "$(( WARM / RATE * 2 + 30 ))s" --loss-ms "$LOSS_MS" \
    || note "the warm-up reported a problem (see $WORKDIR/bench.err); soaking anyway"
RSS_START=$(rss_kb)
# How long the server ran and waited runnable for a CPU (ns), and how often
# it was preempted: a server kept from its CPU cannot read the TAP.
read -r RUN0 WAIT0 _ <"/proc/$SRV_PID/schedstat"
PREEMPT0=$(awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "/proc/$SRV_PID/status")
RSS_LOG="$WORKDIR/samples.log"; : >"$RSS_LOG"
# Each second: the time, the server's RSS (kB) and Linux's count of frames
# it could not queue to the TAP (when loss comes, and how much at a time).
( while kill -0 "$SRV_PID" 2>/dev/null; do
      echo "$(date +%s.%N | cut -c1-14) $(awk '/^VmRSS:/ { print $2 }' "/proc/$SRV_PID/status" 2>/dev/null) $(tap_count tx_dropped)"
      sleep 1
  done >>"$RSS_LOG" ) &
SAMPLER_PID=$!
soak_secs=$(( COUNT / RATE + 1 ))
note "soak: $COUNT datagrams at $RATE/s (about ${soak_secs} s)"
S0=$SECONDS
bench $(( soak_secs * 2 + 90 )) "$WORKDIR/soak.json" --rate "$RATE" --window "$WINDOW" --count "$COUNT" \
    --duration "$(( soak_secs * 2 + 30 ))s" --loss-ms "$LOSS_MS"
SOAK_RC=$?
SOAK_SECS=$((SECONDS - S0))
RSS_END=$(rss_kb)
read -r RUN1 WAIT1 _ <"/proc/$SRV_PID/schedstat"
PREEMPT1=$(awk '/^nonvoluntary_ctxt_switches:/ { print $2 }' "/proc/$SRV_PID/status")
stop_sampler
RSS_MAX=$(awk 'NF >= 2 && $2 > m { m = $2 } END { print m + 0 }' "$RSS_LOG")
sleep 0.5
stop_server
# The TAP outlives the server: Linux's counts of it, on its side.
LINUX_TX=$(( $(tap_count tx_packets) - LINUX_TX0 ))
LINUX_RX=$(( $(tap_count rx_packets) - LINUX_RX0 ))
# Frames Linux could not queue to the TAP: udpkit did not read fast enough.
LINUX_DROPPED=$(( $(tap_count tx_dropped) - LINUX_DROPPED0 ))

# --- 3. the verdict ------------------------------------------------------------------------
FAIL=()
J="$WORKDIR/soak.json"
[ "$SOAK_RC" = 0 ] || FAIL+=("udpkit bench exited with $SOAK_RC")
SENT=$(field "$J" sent); RECEIVED=$(field "$J" received); LOST=$(field "$J" lost)
LATE=$(field "$J" late); BAD=$(field "$J" bad); ECHOES=$(field "$J" echoes_per_s)
SENT_PER_S=$(field "$J" sent_per_s)
P50=$(field "$J" p50_us); P99=$(field "$J" p99_us); MAXRTT=$(field "$J" max_us)
DURATION=$(field "$J" duration_s)
[ "${SENT:-0}" = "$COUNT" ] || FAIL+=("sent ${SENT:-?} of $COUNT")
[ "${LOST:-x}" = 0 ] || FAIL+=("lost ${LOST:-?}")
[ "${BAD:-x}" = 0 ] || FAIL+=("bad ${BAD:-?}")
[ "${RECEIVED:-0}" = "$COUNT" ] || FAIL+=("received ${RECEIVED:-?} of $COUNT")
GROWTH=$(( ${RSS_END:-0} - ${RSS_START:-0} ))
[ "$GROWTH" -le "$RSS_SLACK" ] || FAIL+=("RSS grew by $GROWTH kB during the soak")
ECHO_ROW=$(awk '$1 == "echo" && $2 == "'$PORT'"' "$SRV_LOG")
read -r _ _ SRV_RECEIVED SRV_SENT _ _ _ _ SRV_SEND_FAILED STALLS <<<"$ECHO_ROW"
[ -n "${STALLS:-}" ] || FAIL+=("no echo counters in the server's log")
[ "${STALLS:-x}" = 0 ] || FAIL+=("stall resets: ${STALLS:-?}")
[ "${SRV_RECEIVED:-x}" = "${SRV_SENT:-y}" ] || FAIL+=("echo received ${SRV_RECEIVED:-?} but sent ${SRV_SENT:-?}")
[ "${SRV_SEND_FAILED:-x}" = 0 ] || FAIL+=("echo send failures: ${SRV_SEND_FAILED:-?}")
TAP_LINE=$(grep -m 1 '^tap0: ' "$SRV_LOG")
TAP_READ=$(awk '{ print $2 }' <<<"$TAP_LINE"); TAP_WRITTEN=$(awk '{ print $5 }' <<<"$TAP_LINE")
[ "${TAP_READ:-x}" = "$LINUX_TX" ] || FAIL+=("udpkit read ${TAP_READ:-?} frames, Linux sent $LINUX_TX into the TAP")
[ "${TAP_WRITTEN:-x}" = "$LINUX_RX" ] || FAIL+=("udpkit wrote ${TAP_WRITTEN:-?} frames, Linux received $LINUX_RX")
NEIGHBOR_LINES=$(sed -n '/^neighbors:/,/^tap0:/p' "$SRV_LOG" | grep -v '^tap0:')
grep -qE 'panicked|^\[[^]]* ERROR' "$SRV_LOG" && FAIL+=("the server logged an error (see $SRV_LOG)")

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
git_rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
{
    echo "### udpkit echo soak, $STARTED"
    echo
    echo "- machine: $NCPU CPUs (${cpu_model:-unknown}), Linux $(uname -r); udpkit $("$BIN" --version | awk '{print $2}') (git $git_rev), $BUILD"
    echo "- command: \`${UDPKIT_SOAK_COMMAND:-$0}\`"
    echo "- $HOSTS hosts ($HOSTS_RANGE) on the Linux side of the TAP, datagrams taking turns among them; $SIZE-byte payloads; server on CPU ${SRV_CPU:-any}, load generator on CPU ${CLI_CPU:-any}"
    if [ -n "$CAPACITY" ]; then
        echo "- capacity (sweep, loss ≤ 0.1 %, replies within 50 ms): $CAPACITY echoes/s; soak rate $RATE/s ($FRACTION of it)"
    else
        echo "- soak rate $RATE/s (given)"
    fi
    echo "- soak: $COUNT datagrams after a warm-up of $WARM, at most $WINDOW in flight; a reply later than $LOSS_MS ms counts as lost; the TAP's queue holds $TXQUEUELEN frames"
    echo
    echo "| sent | received | lost | late | bad | echo/s | duration | RTT p50 / p99 / max µs | RSS idle → after warm-up → end (max) | stall resets |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '| %s | %s | %s | %s | %s | %.0f | %.1f s | %.1f / %.1f / %.1f | %s → %s → %s kB (%s) | %s |\n' \
        "${SENT:-?}" "${RECEIVED:-?}" "${LOST:-?}" "${LATE:-?}" "${BAD:-?}" "${ECHOES:-0}" "${DURATION:-0}" \
        "${P50:-0}" "${P99:-0}" "${MAXRTT:-0}" "${RSS_IDLE:-?}" "${RSS_START:-?}" "${RSS_END:-?}" "$RSS_MAX" "${STALLS:-?}"
    echo
    echo "Server counters: echo received ${SRV_RECEIVED:-?}, sent ${SRV_SENT:-?}; tap0 frames read ${TAP_READ:-?} (Linux sent $LINUX_TX, and dropped $LINUX_DROPPED for a full TAP queue during the warm-up and the soak), written ${TAP_WRITTEN:-?} (Linux received $LINUX_RX)."
    echo "CPU during the soak, in % of one CPU: server $(cpu_field "$J" server_pct), load generator $(cpu_field "$J" generator_pct), other tasks $(cpu_field "$J" others_pct). The server ran $(( (RUN1 - RUN0) / 1000000 )) ms, waited $(( (WAIT1 - WAIT0) / 1000000 )) ms for its CPU while runnable, and was preempted $(( PREEMPT1 - PREEMPT0 )) times."
    echo
    echo '```'
    echo "$NEIGHBOR_LINES"
    echo '```'
    echo
    if awk -v s="${SENT_PER_S:-0}" -v r="$RATE" 'BEGIN { exit !(s < 0.9 * r) }'; then
        echo "NOTE: the pace fell to $(printf '%.0f' "${SENT_PER_S:-0}")/s, short of $RATE/s: the window was full (the server slowed down, or the machine was busy)."
        echo
    fi
    if [ "${#FAIL[@]}" = 0 ]; then
        echo "PASSED in $((SECONDS - T0)) s (soak $SOAK_SECS s): nothing lost or altered, RSS grew $GROWTH kB (≤ $RSS_SLACK), no stall."
    else
        echo "FAILED in $((SECONDS - T0)) s: $(IFS=';'; echo "${FAIL[*]}")"
    fi
} | tee "$WORKDIR/summary.md"
[ "${#FAIL[@]}" = 0 ] || exit 4
exit 0
