#!/usr/bin/env bash
# The README's test command, and CI's (.ci/run runs it): on a Debian 12
# machine with a Rust toolchain (rustup's stable, as CI has), as root,
#
#   1. installs what the tests need and is missing: the clients the
#      end-to-end tests drive (apt), /dev/net/tun, the firmware's toolchain
#      and QEMU (firmware/ci-setup.sh); what is there is left alone, so a
#      second run installs nothing;
#   2. checks the style: rustfmt, clippy with warnings as errors (the host
#      workspace, and the firmware with Debian's toolchain), and the core's
#      documentation (`#![warn(missing_docs)]`, rustdoc's warnings);
#   3. runs every test: `cargo test --workspace --locked`.
#
# The end-to-end tests create network namespaces and TAPs (inside those
# namespaces only), hence root. As a normal user, keeping your PATH (and so
# rustup's cargo):
#
#   sudo -E env "PATH=$PATH" scripts/test.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "scripts/test.sh: $*"; }
fail() {
    say "$*" >&2
    exit 1
}

if [ "$#" -ne 0 ]; then
    fail "takes no arguments (to run some tests only: cargo test -p udpkit-host --test e2e, ...)"
fi
if [ "$(id -u)" -ne 0 ]; then
    fail "run me as root: the end-to-end tests create network namespaces and TAPs.
  sudo -E env \"PATH=\$PATH\" scripts/test.sh"
fi

# --- 1. Set-up ---------------------------------------------------------------

# Every Debian package the tests use but the firmware's (firmware/ci-setup.sh
# has those), in one place: the tools of host/tests/support/mod.rs (ip, nc,
# socat, rdate, ping, python3, setpriv and nsenter of util-linux), tmux for
# the chat UI's test, procps, tcpdump to read the captures back (serve
# --pcap), and the NTP tests' clients (host/tests/ntp.rs), all run query
# only: ntpdig as `sntp` and behind `ntpdate -q`, and chrony for
# `chronyd -Q`; dnsmasq-base (the program, without the system service of
# the dnsmasq package) as the DHCP server of the DHCP tests, in their
# namespaces only.
packages=(iproute2 netcat-openbsd socat rdate iputils-ping python3 util-linux procps tmux
    tcpdump sntp ntpdate chrony dnsmasq-base)

# A Rust toolchain is the one thing this script does not install (rustup's
# is CI's; Debian's own, which firmware/ci-setup.sh puts in /usr/bin, has no
# rustfmt). Checked before that, so a missing one is not taken for Debian's.
command -v cargo >/dev/null ||
    fail "no cargo on PATH: install Rust with rustup (https://rustup.rs), or run me with your PATH: sudo -E env \"PATH=\$PATH\" scripts/test.sh"
if [ "$(command -v cargo)" = /usr/bin/cargo ]; then
    fail "the cargo on PATH is Debian's (/usr/bin/cargo, the firmware's), which has no rustfmt: put rustup's first (sudo -E env \"PATH=\$PATH\" scripts/test.sh)"
fi
for tool in fmt clippy; do
    if ! cargo "$tool" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null || fail "cargo $tool is missing: install it with rustup (rustup component add rustfmt clippy)"
        component=$([ "$tool" = fmt ] && echo rustfmt || echo clippy)
        say "rustup component add $component"
        rustup component add "$component"
    fi
done

echo "::group::apt"
export DEBIAN_FRONTEND=noninteractive
missing=()
for package in "${packages[@]}"; do
    if [ "$(dpkg-query -W -f '${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    say "already installed: ${packages[*]}"
else
    say "installing ${missing[*]}"
    timeout 10m apt-get update
    for package in "${missing[@]}"; do
        candidate=$(apt-cache policy "$package" | awk '/Candidate:/ { print $2 }')
        if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
            fail "package $package is not available from the configured apt sources"
        fi
    done
    # chrony's package starts its daemon, which would discipline the
    # machine's clock (a network namespace does not isolate it). A
    # policy-rc.d that says 101 keeps apt from starting any daemon during the
    # install; one that is there already is left as it is.
    policy=/usr/sbin/policy-rc.d
    own_policy=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/test.sh: start no daemons while packages install.\nexit 101\n' >"$policy"
        chmod 0755 "$policy"
        own_policy=1
    fi
    chronyd_before=$(pidof chronyd || true)
    chrony_before=$(dpkg-query -W -f '${Status}' chrony 2>/dev/null || true)
    install_status=0
    timeout 15m apt-get install -y --no-install-recommends "${missing[@]}" || install_status=$?
    if [ -n "$own_policy" ]; then
        rm -f "$policy"
    fi
    if [ "$install_status" -ne 0 ]; then
        exit "$install_status"
    fi
    if [ -z "$chronyd_before" ] && pidof chronyd >/dev/null; then
        fail "installing chrony started chronyd, which may set the clock; stop it"
    fi
    # Nor at the next boot: a chrony this script installed stays disabled.
    if [ "$chrony_before" != "install ok installed" ]; then
        systemctl disable chrony.service >/dev/null 2>&1 || update-rc.d chrony disable >/dev/null 2>&1 || true
    fi
fi
echo "::endgroup::"

# TAP devices need /dev/net/tun.
if [ ! -c /dev/net/tun ]; then
    modprobe tun 2>/dev/null || true
    if [ ! -c /dev/net/tun ]; then
        mkdir -p /dev/net
        mknod /dev/net/tun c 10 200
        chmod 0666 /dev/net/tun
    fi
fi

# The firmware's cross toolchain (Debian's rustc with build-std, its clippy)
# and QEMU. The package lists are fresh if anything was installed above, so
# it updates them no second time.
echo "::group::firmware toolchain"
timeout 25m bash firmware/ci-setup.sh
echo "::endgroup::"

echo "--- versions"
uname -sr
rustc --version
cargo --version
cargo fmt --version
cargo clippy --version
ip -V
nc -h 2>&1 | head -n 1 || true
socat -V | grep -m 1 'socat version'
dpkg-query -W -f '${Package} ${Version}\n' "${packages[@]}"
python3 --version
setpriv --version
timeout --version | head -n 1

# --- 2. Style ----------------------------------------------------------------

# Debian's cargo in firmware/ as host/tests/firmware.rs runs it: none of the
# host toolchain's environment, the firmware's own target dir.
debian_cargo() (
    cd "$1"
    shift
    for var in $(compgen -e); do
        case "$var" in
        CARGO_HOME | CARGO_HTTP_* | CARGO_NET_* | CARGO_REGISTR*) ;;
        CARGO* | RUST* | LD_LIBRARY_PATH) unset "$var" ;;
        esac
    done
    export PATH=/usr/bin:/bin:/usr/sbin:/sbin RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$root/firmware/target" CARGO_TERM_COLOR=never
    /usr/bin/cargo "$@"
)

echo "--- style: rustfmt"
cargo fmt --all --check
# rustup's rustfmt for the firmware too (Debian's toolchain has none).
cargo fmt --all --check --manifest-path firmware/Cargo.toml

echo "--- style: clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The boards (and the runtime under them) for their own target
# (firmware/BOARD/.cargo/config.toml), the drivers and the runtime with
# their unit tests for the host.
debian_cargo firmware/mps2-an385 clippy --locked -- -D warnings
debian_cargo firmware/mps2-an385 clippy --locked --features udpkit-runtime/dhcp -- -D warnings
# The smallest image (echo, time, SNTP: the runtime's and the core's cargo
# features, firmware/README.md), without the runtime's `console` (the lines
# above have it).
debian_cargo firmware/mps2-an385 clippy --locked --no-default-features \
    --features semihosting,small-mem,udpkit-runtime/ram-16k,udpkit-runtime/echo,udpkit-runtime/time,udpkit-runtime/sntp -- -D warnings
# It with the board's check of its small 64-bit division at boot (a test's).
debian_cargo firmware/mps2-an385 clippy --locked --no-default-features \
    --features semihosting,small-mem,division-check,udpkit-runtime/ram-16k,udpkit-runtime/echo,udpkit-runtime/time,udpkit-runtime/sntp -- -D warnings
# The other size class with every service it can carry (not discovery), and
# the smallest image's services in the default class (runtime/src/sizes.rs).
debian_cargo firmware/mps2-an385 clippy --locked --no-default-features \
    --features semihosting,udpkit-runtime/ram-16k,udpkit-runtime/console,udpkit-runtime/echo,udpkit-runtime/discard,udpkit-runtime/daytime,udpkit-runtime/time,udpkit-runtime/ntp,udpkit-runtime/upper,udpkit-runtime/hello,udpkit-runtime/chat,udpkit-runtime/sntp,udpkit-runtime/ipv6 -- -D warnings
debian_cargo firmware/mps2-an385 clippy --locked --no-default-features \
    --features semihosting,udpkit-runtime/ram-64k,udpkit-runtime/echo,udpkit-runtime/time,udpkit-runtime/sntp -- -D warnings
# The lean image: every service, SNTP, IPv6 and discovery in the class
# `ram-32k`, without the console, with the small mem functions (host/tests/firmware.rs, LEAN).
debian_cargo firmware/mps2-an385 clippy --locked --no-default-features \
    --features semihosting,small-mem,udpkit-runtime/ram-32k,udpkit-runtime/echo,udpkit-runtime/discard,udpkit-runtime/daytime,udpkit-runtime/time,udpkit-runtime/ntp,udpkit-runtime/upper,udpkit-runtime/hello,udpkit-runtime/chat,udpkit-runtime/discovery,udpkit-runtime/sntp,udpkit-runtime/ipv6 -- -D warnings
debian_cargo firmware/lm3s6965evb clippy --locked -- -D warnings
debian_cargo firmware/riscv-virt clippy --locked -- -D warnings
debian_cargo firmware clippy --locked -p lan9118 -p stellaris-enet -p udpkit-runtime --all-targets -- -D warnings

# The core with each of its cargo features alone, and none: what a board
# that picks its services builds. Then a service with IPv6, and the two
# services that list addresses (chat, discovery) with IPv4 alone.
for feature in "" echo discard daytime time ntp upper hello chat discovery sntp dhcp ipv6 log \
    echo,ipv6 chat,discovery; do
    cargo clippy -p udpkit --lib --locked --no-default-features --features "$feature" -- -D warnings
done

echo "--- style: the core's documentation"
# Every public item documented (missing_docs, above as a clippy error) and
# no broken link in it.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked -p udpkit

# --- 3. Tests ----------------------------------------------------------------

echo "--- tests"
cargo test --workspace --locked
