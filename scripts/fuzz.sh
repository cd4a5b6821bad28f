#!/usr/bin/env bash
# A fuzzing campaign over udpkit's targets (fuzz/, cargo-fuzz + libFuzzer):
# each target in turn, one fuzzer at a time (-jobs 1: the machine is
# shared), for N runs or T seconds, then a table of executions, rate,
# coverage and findings per target.
#
#   scripts/fuzz.sh [--runs N | --seconds T] [--fast] [--minimize] [TARGET...]
#
#   --runs N      stop each target after N inputs (default 10000000)
#   --seconds T   stop each target after T seconds instead
#   --fast        build without comparison tracing (cargo fuzz
#                 --no-trace-compares): about 3x the inputs a second for
#                 `chat` and `stack`, whose checks parse every line and
#                 frame sent; libFuzzer then no longer learns the operands
#                 of comparisons, so use it on a corpus grown without it
#   --minimize    afterwards, replace fuzz/corpus/TARGET (but its seeds)
#                 with the `cargo fuzz cmin` of what the campaign covered,
#                 by edge coverage only, to keep the checked-in corpus small
#   TARGET...     the targets to run (default: all seven)
#
# Builds: release with debug assertions and overflow checks (-O -a), no
# sanitizer (the core forbids unsafe; ASan would only slow it), and
# --no-cfg-fuzzing: under cfg(fuzzing) smoltcp skips every checksum check,
# which would hide what the targets check (udpkit_testing::fuzz::frames::
# assert_checksums_verified fails the stack target if it ever is set).
#
# cargo-fuzz needs nightly's -Z flags. On a stable toolchain it works with
# RUSTC_BOOTSTRAP=1, which this script sets (install cargo-fuzz with
# `cargo install cargo-fuzz`). CI needs neither: `cargo test` replays the
# checked-in corpora (tests/fuzz_corpus.rs).
#
# Each campaign works in fuzz/work/TARGET (seeded from fuzz/corpus/TARGET,
# ignored by git); a crash lands in fuzz/artifacts/TARGET/ and is listed.
# Nothing here touches a network: every target runs in memory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"

all=(wire_ntp wire_discovery wire_chat_command wire_chat_server_line chat sntp stack)
runs=10000000
seconds=
minimize=
fast=
targets=()
while [ "$#" -gt 0 ]; do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --minimize) minimize=1; shift ;;
    --fast) fast=1; shift ;;
    -h | --help) sed -n '2,34p' "$root/scripts/fuzz.sh"; exit 0 ;;
    -*) echo "scripts/fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
    esac
done
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")

command -v cargo-fuzz >/dev/null || {
    echo "scripts/fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 1
}
export RUSTC_BOOTSTRAP=1
build_flags=(-O -a -s none --no-cfg-fuzzing)
[ -z "$fast" ] || build_flags+=(--no-trace-compares)

echo "scripts/fuzz.sh: building ${targets[*]}"
for target in "${targets[@]}"; do
    cargo fuzz build "${build_flags[@]}" "$target"
done

if [ -n "$seconds" ]; then
    limit=(-max_total_time="$seconds")
else
    limit=(-runs="$runs")
fi

results=()
failed=0
for target in "${targets[@]}"; do
    work="work/$target"
    mkdir -p "$work" "artifacts/$target"
    cp -n corpus/"$target"/* "$work"/ 2>/dev/null || true
    log="work/$target.log"
    echo "scripts/fuzz.sh: $target (${limit[*]})"
    start=$(date +%s)
    status=0
    cargo fuzz run "${build_flags[@]}" "$target" "$work" -- \
        -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "${limit[@]}" >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    execs=$(awk '/stat::number_of_executed_units:/ { print $2 }' "$log" | tail -n 1)
    rate=$(awk '/stat::average_exec_per_sec:/ { print $2 }' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | awk '{ print $2 }')
    crashes=$(find "artifacts/$target" -type f | wc -l)
    if [ "$status" -ne 0 ]; then
        failed=1
        echo "scripts/fuzz.sh: $target FAILED (exit $status), see fuzz/$log and fuzz/artifacts/$target/"
        grep -m 5 -E 'panicked|ERROR|SUMMARY' "$log" || true
    fi
    results+=("$(printf '%-22s %12s %8s %7s %7s %6ss %s' "$target" "${execs:-?}" "${rate:-?}" \
        "${cov:-?}" "${ft:-?}" "$elapsed" "$([ "$status" -eq 0 ] && echo "0 findings" || echo "FINDING ($crashes artifact(s))")")")
    if [ -n "$minimize" ] && [ "$status" -eq 0 ]; then
        echo "scripts/fuzz.sh: minimizing $target into fuzz/corpus/$target"
        cargo fuzz cmin "${build_flags[@]}" "$target" "$work" -- -max_len=4096 \
            -use_counters=0 -use_value_profile=0 >"work/$target.cmin.log" 2>&1
        # The seeds stay as they are (tests/fuzz_corpus.rs checks them);
        # the rest of corpus/ is the minimized work corpus.
        find "corpus/$target" -type f ! -name 'seed-*' -delete
        for file in "$work"/*; do
            name=$(basename "$file")
            [ -e "corpus/$target/$name" ] || cp "$file" "corpus/$target/$name"
        done
    fi
done

echo
echo "scripts/fuzz.sh: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, one fuzzer at a time$([ -z "$fast" ] || echo ", --fast")"
printf '%-22s %12s %8s %7s %7s %7s %s\n' target executions exec/s cov ft time result
printf '%s\n' "${results[@]}"
exit "$failed"
