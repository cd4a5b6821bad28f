//! The benchmark command end to end, so it never rots: `bench/echo.sh
//! --quick` with the binary under test, udpkit on a TAP and the kernel
//! backend behind a veth pair, each in network namespaces the script creates
//! and deletes, a few hundred datagrams per run. It checks that the summary
//! came out with rates and round-trip times for both stacks at both sizes,
//! and that no reply was altered. (Figures are not asserted: this is a
//! functional check on a shared machine, not a measurement.)
//!
//! Needs root (network namespaces, a TAP); as non-root it fails with an
//! explanation, unless `UDPKIT_SKIP_E2E=1`, which skips it and says so.
//! Tools: iproute2, util-linux (taskset), coreutils (timeout), awk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_udpkit");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("bench")
        .join("echo.sh")
}

/// False when skipped on request; panics when the test cannot run.
fn preflight(test: &str) -> bool {
    if std::env::var_os("UDPKIT_SKIP_E2E").is_some_and(|v| v == "1") {
        eprintln!("{test}: SKIPPED end-to-end test (UDPKIT_SKIP_E2E=1)");
        return false;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert!(
        euid == 0,
        "{test}: the benchmark check needs root (running as uid {euid}): bench/echo.sh creates \
         network namespaces and a TAP. Run the tests as root, or set UDPKIT_SKIP_E2E=1 to skip it"
    );
    for (tool, package) in [
        ("ip", "iproute2"),
        ("taskset", "util-linux"),
        ("timeout", "coreutils"),
        ("awk", "mawk or gawk"),
    ] {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()));
        assert!(
            found,
            "{test}: `{tool}` is missing (Debian package {package})"
        );
    }
    assert!(
        Path::new("/dev/net/tun").exists(),
        "{test}: /dev/net/tun is missing (TUN/TAP support: modprobe tun)"
    );
    true
}

/// The namespaces `bench/echo.sh` runs create.
fn bench_namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("cannot run ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("udpkit-bench-"))
        .map(str::to_string)
        .collect()
}

#[test]
fn quick_benchmark_of_both_backends() {
    if !preflight("quick_benchmark_of_both_backends") {
        return;
    }
    let workdir = std::env::temp_dir().join(format!("udpkit-bench-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&workdir);
    let before = bench_namespaces();
    let started = Instant::now();
    let output = Command::new("timeout")
        .args(["-k", "10", "300", "bash"])
        .arg(script())
        .args(["--quick", "--max-total", "240", "--bin", BIN, "--workdir"])
        .arg(&workdir)
        .env("RUST_LOG", "off")
        .output()
        .expect("cannot run bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = std::fs::read_to_string(workdir.join("runs.log")).unwrap_or_default();
    let describe = format!(
        "exit {:?} after {:.1} s\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- runs.log\n{log}",
        output.status.code(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        output.status.success(),
        "bench/echo.sh --quick failed: {describe}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "quick mode is meant to take seconds: {describe}"
    );

    // The human table, on stdout.
    for needle in [
        "| udpkit | 64 B |",
        "| kernel | 64 B |",
        "| udpkit | 1024 B |",
        "| kernel | 1024 B |",
        "| udpkit/kernel | 64 B |",
        "| udpkit/kernel | 1024 B |",
        "- machine: ",
        "- command: ",
    ] {
        assert!(
            stdout.contains(needle),
            "no `{needle}` in the summary: {describe}"
        );
    }

    // The same summary as JSON: rates and round-trip times for each.
    let json = std::fs::read_to_string(workdir.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}): {describe}"));
    let summary: serde_json::Value = serde_json::from_str(&json).expect("summary.json is JSON");
    let rows = summary["rows"].as_array().expect("rows");
    for label in ["udpkit", "kernel"] {
        for size in [64, 1024] {
            let row = rows
                .iter()
                .find(|r| r["label"] == label && r["size"] == size)
                .unwrap_or_else(|| panic!("no row for {label} {size} B: {json}"));
            let median = |field: &str| row[field]["median"].as_f64().unwrap_or(0.0);
            assert!(
                median("peak_rate") > 0.0,
                "{label} {size} B: no echo rate: {json}"
            );
            assert!(
                median("pp_p50_us") > 0.0,
                "{label} {size} B: no round-trip time: {json}"
            );
            assert!(
                median("pp_p99_us") >= median("pp_p50_us"),
                "{label} {size} B: p99 below p50: {json}"
            );
            assert_eq!(row["bad"], 0, "{label} {size} B: altered replies: {json}");
            assert_eq!(row["sweeps"], 1, "{json}");
            assert_eq!(row["ping_pongs"], 1, "{json}");
        }
    }
    assert_eq!(
        summary["ratios"].as_array().map(Vec::len),
        Some(2),
        "{json}"
    );

    // Nothing left behind: the script's namespaces are gone.
    let after = bench_namespaces();
    let left: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&workdir);
}
