#!/usr/bin/env bash
# Installs what the firmware needs on a fresh Debian 12 machine, as root:
# Debian's own Rust toolchain (rustc/cargo 1.96 in /usr/bin, with the library
# sources for `-Zbuild-std=core`, and its clippy, which scripts/test.sh runs
# on the firmware), a linker for Arm and RISC-V (ld.lld-22) and QEMU for the
# boards: qemu-system-arm for mps2-an385 and lm3s6965evb, qemu-system-misc's
# qemu-system-riscv32 for riscv-virt. Debian ships no prebuilt `core` for
# any bare-metal target (its libstd-rust-* packages are for the host, wasm32,
# windows and bpf), so every board builds `core` from rust-web-src.
#
# Idempotent: what is installed is left alone, and `apt-get update` runs at
# most once, only when the package lists do not know a needed package yet
# (so right after another script's update it does not run again).
#
# rustup's toolchain (~/.cargo/bin, first on PATH) stays the default: only
# inside firmware/ does rust-toolchain.toml (`path = "/usr"`) pick Debian's.
#
#   sudo bash firmware/ci-setup.sh
set -euo pipefail

# Names checked with `apt-cache policy` on Debian 12 (bookworm): rustc-web,
# cargo-web, rust-web-src and rust-web-clippy 1.96 (bookworm-security),
# lld-22 22.1 (bookworm-updates), qemu-system-arm and qemu-system-misc 7.2.
PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy lld-22 qemu-system-arm qemu-system-misc)
# What the firmware build, its test and its lint use from them.
NEEDED=(/usr/bin/cargo /usr/bin/rustc /usr/lib/rustlib/src/rust/library/core
    /usr/bin/cargo-clippy /usr/bin/clippy-driver /usr/bin/ld.lld-22 /usr/bin/qemu-system-arm
    /usr/bin/qemu-system-riscv32)

say() { echo "firmware/ci-setup.sh: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    say "run me as root (sudo bash firmware/ci-setup.sh)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$package")
    fi
done

# Packages apt has no installable version of (read into a variable first:
# `grep -q` closing the pipe early would fail the pipeline under pipefail).
unknown() {
    local package policy
    for package in "$@"; do
        policy=$(apt-cache policy "$package" 2>/dev/null || true)
        if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
            echo "$package"
        fi
    done
}

if [ "${#missing[@]}" -eq 0 ]; then
    say "already installed: ${PACKAGES[*]}"
else
    if [ -n "$(unknown "${missing[@]}")" ]; then
        say "apt-get update"
        timeout 10m apt-get update
    fi
    not_found=$(unknown "${missing[@]}")
    if [ -n "$not_found" ]; then
        say "no installable version of:" $not_found "(is this Debian 12 with bookworm-updates and bookworm-security?)" >&2
        exit 1
    fi
    say "installing ${missing[*]}"
    timeout 20m apt-get install -y --no-install-recommends "${missing[@]}"
fi

for path in "${NEEDED[@]}"; do
    if [ ! -e "$path" ]; then
        say "$path is still missing after installing ${PACKAGES[*]}" >&2
        exit 1
    fi
done
say "$(/usr/bin/cargo --version); $(/usr/bin/ld.lld-22 --version | head -n 1); qemu-system-arm and qemu-system-riscv32: $(/usr/bin/qemu-system-riscv32 --version | head -n 1)"
