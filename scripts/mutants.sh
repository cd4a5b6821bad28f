#!/usr/bin/env bash
# Mutation testing of the core (issue 15): cargo-mutants changes the code of
# udpkit (src/) one small edit at a time and runs the core's tests against
# each change; a change no test notices is a "missed" mutant, a behaviour
# the tests do not pin down. Prints the score overall and per file, and
# fails below 95 %, overall or for the chat (src/services/chat.rs) alone.
#
#   scripts/mutants.sh                                 every file of src/ (hours)
#   scripts/mutants.sh --file src/services/chat.rs     one file (or several)
#
# Arguments are passed on to cargo-mutants (`cargo install cargo-mutants`,
# version 27). Not part of CI or scripts/test.sh: a full run is ~1700
# mutants, each a build and a test run.
#
# What runs for each mutant: `cargo test -p udpkit` of the unit tests and
# the stack tests (tests/*.rs), which need no root, no network namespace
# and no device. Left out: the no_std check (tests/no_std.rs), which
# builds a release binary for every mutant and checks linking, not
# behaviour; the host's and the firmware's tests (root, QEMU).
#
# Equivalent mutants, which no test can notice because they change nothing
# observable, are excluded in .cargo/mutants.toml, each with its reason.
#
# Score = (caught + timeouts) / (caught + timeouts + missed): a mutant that
# makes the tests hang is noticed; a mutant that does not build
# (unviable) is no test of the tests and is not counted.
#
# The machine may be shared: cargo-mutants runs niced, one job at a time.
# MUTANTS_OUT (default target/mutants) is where mutants.out is written.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "scripts/mutants.sh: $*"; }

if ! cargo mutants --version >/dev/null 2>&1; then
    say "cargo-mutants is missing: cargo install --locked cargo-mutants" >&2
    exit 1
fi

# Every exclusion must still name a mutant: code that moved changes the
# line an entry names, and a stale entry would exclude nothing (or, worse,
# later, another mutant).
all_mutants=$(cargo mutants --package udpkit --list --no-config)
stale=0
while IFS= read -r pattern; do
    if ! grep -Pq -- "$pattern" <<<"$all_mutants"; then
        say "stale entry in .cargo/mutants.toml (no such mutant now): $pattern" >&2
        stale=1
    fi
done < <(python3 -c 'import tomllib
for pattern in tomllib.load(open(".cargo/mutants.toml", "rb"))["exclude_re"]:
    print(pattern)')
if [ "$stale" -ne 0 ]; then
    say "update the line numbers (cargo mutants --list --no-config) and the reasons" >&2
    exit 1
fi

out_dir=${MUTANTS_OUT:-$root/target/mutants}
mkdir -p "$out_dir"
threshold=95

# Debug info is not needed to run tests, and linking without it is faster.
status=0
CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0 \
    nice -n 10 cargo mutants \
    --package udpkit \
    --jobs 1 \
    --output "$out_dir" \
    "$@" \
    -- --lib --tests \
    -- --skip the_core_builds_and_runs_in_a_no_std_binary_without_an_allocator ||
    status=$?
# 0: every mutant caught; 2: some missed; 3: some timed out. Anything
# else (1: bad arguments, 4: the tests fail without any mutant) is no run.
case $status in
0 | 2 | 3) ;;
*)
    say "cargo mutants failed (exit status $status); see $out_dir/mutants.out" >&2
    exit "$status"
    ;;
esac

results=$out_dir/mutants.out
# One line per tested mutant: FILE OUTCOME.
tally() {
    local outcome=$1 file=$2
    [ -f "$file" ] || return 0
    sed -E 's/^([^:]+):.*/\1/' "$file" | sed "s/\$/ $outcome/"
}
{
    tally caught "$results/caught.txt"
    tally timeout "$results/timeout.txt"
    tally missed "$results/missed.txt"
} | sort | awk -v threshold="$threshold" '
    function score(t, m) { return t ? 100 * (t - m) / t : 100 }
    function row(name, t, m) {
        printf "%-32s %8d %8d %7.1f%%\n", name, t - m, m, score(t, m)
    }
    NR == 1 { printf "%-32s %8s %8s %8s\n", "file", "noticed", "missed", "score" }
    $1 != file && file != "" { row(file, total[file], missed[file]) }
    {
        file = $1; total[file]++; all++
        if ($2 == "missed") { missed[file]++; all_missed++ }
    }
    END {
        if (!all) { print "scripts/mutants.sh: no mutant was tested"; exit 1 }
        row(file, total[file], missed[file])
        overall = score(all, all_missed)
        row("overall", all, all_missed)
        failed = 0
        if (overall < threshold) {
            printf "scripts/mutants.sh: overall score %.1f%% is below %d%%\n", overall, threshold
            failed = 1
        }
        chat = "src/services/chat.rs"
        if ((chat in total) && score(total[chat], missed[chat]) < threshold) {
            printf "scripts/mutants.sh: the chat'"'"'s score %.1f%% is below %d%%\n",
                score(total[chat], missed[chat]), threshold
            failed = 1
        }
        exit failed
    }'
