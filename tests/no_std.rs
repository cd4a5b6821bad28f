//! The core needs neither `std` nor an allocator: `tests/no_std_check` is a
//! `#![no_std]`, `#![no_main]` binary with its own panic handler and no
//! global allocator that runs a `Stack` with every service. It only builds
//! if nothing in udpkit links `std` (a second `panic_impl` lang item) or
//! `alloc` (no global allocator). Built here for the host target, with a
//! target directory of its own under `target/`, and then run.

// The check links the C library's start-up code by hand (see its build.rs),
// which is a Linux (glibc or musl) matter.
#![cfg(target_os = "linux")]

use std::path::Path;
use std::process::Command;

#[test]
fn the_core_builds_and_runs_in_a_no_std_binary_without_an_allocator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("no_std_check");
    let output = Command::new(env!("CARGO"))
        .current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .arg("--manifest-path")
        .arg(root.join("tests/no_std_check/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the crates under test (coverage instrumentation,
        // sanitizers) need `std` themselves.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "the no_std check does not build ({}): does udpkit use std or alloc?\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let binary = target_dir.join("release").join("udpkit-no-std-check");
    let status = Command::new(&binary)
        .status()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    // The status names the check that failed; see tests/no_std_check/src/main.rs.
    assert!(status.success(), "the no_std check failed: {status}");
}
