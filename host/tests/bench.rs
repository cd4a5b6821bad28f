//! The benchmark command end to end, so it never rots: `bench/echo.sh
//! --quick` with the binary under test, udpkit on a TAP and the kernel
//! backend behind a veth pair, each in network namespaces the script creates
//! and deletes, a few hundred datagrams per run. It checks that the summary
//! came out with rates and round-trip times for both stacks at both sizes,
//! from one host, from many sockets of one host and from many hosts, with
//! the ratios between them, and that no reply was altered. (Figures are not
//! asserted: this is a functional check on a shared machine, not a
//! measurement.)
//!
//! And `udpkit bench --sources` from many addresses of a test namespace, and
//! `--sockets` from many sockets of one: against `udpkit serve` on a TAP,
//! against the kernel backend behind a veth pair (where every datagram must
//! come back, shared evenly), over IPv6, and their refusals.
//!
//! Needs root (network namespaces, a TAP); as non-root it fails with an
//! explanation, unless `UDPKIT_SKIP_E2E=1`, which skips it and says so.
//! Tools: iproute2, util-linux (taskset), coreutils (timeout), awk, python3.

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Netns, Server};

const BIN: &str = env!("CARGO_BIN_EXE_udpkit");

/// What the `--sources` and `--sockets` tests need (`udpkit serve`'s readiness probe is
/// Python).
const SOURCE_TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("python3", "python3"),
    ("timeout", "coreutils"),
];

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
    // One host, 100 sockets of one host and 100 hosts, each against the
    // kernel with the same load.
    let ratios = summary["ratios"].as_array().expect("ratios");
    assert_eq!(ratios.len(), 6, "{json}");
    for (sources, sockets) in [(1, 1), (1, 100), (100, 1)] {
        assert_eq!(
            ratios
                .iter()
                .filter(|r| r["sources"] == sources && r["sockets"] == sockets)
                .count(),
            2,
            "{sources} hosts, {sockets} sockets each: {json}"
        );
    }

    // The sweeps from 100 sockets of one host and from 100 hosts, for both
    // stacks at both sizes, and the three ratios between them and one host.
    for needle in [
        "| udpkit, 1 host, 100 sockets | 64 B |",
        "| kernel, 1 host, 100 sockets | 1024 B |",
        "| udpkit, 100 hosts | 64 B |",
        "| kernel, 100 hosts | 1024 B |",
        "| udpkit/kernel, 1 host, 100 sockets | 64 B |",
        "| udpkit/kernel, 100 hosts | 64 B |",
        "| many hosts | payload | N | echo/s | 1 host | 1 host, N sockets | N hosts | sockets/1 | hosts/1 (target ≥ 0.9) | hosts/sockets |",
        "| udpkit | 64 B | 100 | max |",
        "| kernel | 1024 B | 100 | peak |",
        "- hosts/1: 100 hosts over one host",
    ] {
        assert!(
            stdout.contains(needle),
            "no `{needle}` in the summary: {describe}"
        );
    }
    let scaling = summary["scaling"].as_array().expect("scaling");
    assert_eq!(scaling.len(), 4, "{json}");
    for label in ["udpkit", "kernel"] {
        for size in [64, 1024] {
            for (sources, sockets, what) in [(1, 100, "100 sockets"), (100, 1, "100 hosts")] {
                let row = rows
                    .iter()
                    .find(|r| {
                        r["label"] == label
                            && r["size"] == size
                            && r["sources"] == sources
                            && r["sockets"] == sockets
                    })
                    .unwrap_or_else(|| panic!("no row for {label} {size} B from {what}: {json}"));
                // Not asserted above 0: udpkit's neighbor cache may be
                // smaller than 100 hosts, which costs most of the rate.
                assert!(
                    row["peak_rate"]["median"].as_f64().unwrap_or(0.0) > 0.0,
                    "{label} {size} B, {what}: no echo rate: {json}"
                );
                assert_eq!(row["bad"], 0, "{label} {size} B, {what}: {json}");
                assert_eq!(row["sweeps"], 1, "{json}");
            }
            let s = scaling
                .iter()
                .find(|s| s["label"] == label && s["size"] == size)
                .unwrap_or_else(|| panic!("no scaling for {label} {size} B: {json}"));
            assert_eq!(s["n"], 100, "{json}");
            // All three loads and the three ratios between them, at the peak.
            let peak = &s["peak_rate"];
            for field in [
                "one",
                "sockets",
                "hosts",
                "hosts_over_one",
                "sockets_over_one",
                "hosts_over_sockets",
            ] {
                assert!(
                    peak[field].as_f64().unwrap_or(0.0) > 0.0,
                    "{label} {size} B: no peak {field}: {json}"
                );
            }
            let ratio = |field: &str| peak[field].as_f64().unwrap_or(0.0);
            let product = ratio("sockets_over_one") * ratio("hosts_over_sockets");
            assert!(
                (product - ratio("hosts_over_one")).abs() < 1e-9 * product.max(1.0),
                "{label} {size} B: sockets/1 x hosts/sockets is hosts/1: {json}"
            );
        }
    }

    // Nothing left behind: the script's namespaces are gone.
    let after = bench_namespaces();
    let left: Vec<&String> = after.iter().filter(|n| !before.contains(n)).collect();
    assert!(left.is_empty(), "namespaces left behind: {left:?}");
    let _ = std::fs::remove_dir_all(&workdir);
}

/// Adds 192.168.69.`first`..=`last`/24 to `dev` inside `ns`, in one go.
fn add_addresses(ns: &Netns, dev: &str, first: u8, last: u8) {
    let commands: String = (first..=last)
        .map(|i| format!("address add 192.168.69.{i}/24 dev {dev}\n"))
        .collect();
    ns.run(&["ip", "-batch", "-"])
        .stdin(commands.as_bytes())
        .out()
        .ok();
}

/// `udpkit bench ... --json` inside `ns`; its report.
fn bench_json(ns: &Netns, args: &[&str]) -> Value {
    let mut argv = vec!["bench"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--json", "--quiet"]);
    let out = ns.udpkit(&argv).out().ok();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()))
}

/// The accounting of a report's first run, whatever the server did: every
/// datagram settled, no reply altered or misdirected (each one is checked
/// byte for byte, and must come back to the socket it left from), the
/// replies shared among `sources` addresses with `sockets` sockets each.
#[track_caller]
fn assert_accounted(report: &Value, sources: u64, sockets: u64) -> &Value {
    assert_eq!(report["sources"], sources, "{report}");
    assert_eq!(report["sockets"], sockets, "{report}");
    let senders = sources * sockets;
    let run = &report["runs"][0];
    let c = &run["counts"];
    let n = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a count: {v} in {report}"))
    };
    assert!(n(&c["sent"]) > 0, "{report}");
    assert_eq!(n(&c["sent"]), n(&c["received"]) + n(&c["lost"]), "{report}");
    assert_eq!(n(&c["bad"]), 0, "altered or misdirected replies: {report}");
    assert!(n(&c["received"]) > 0, "{report}");
    let share = &run["per_source"];
    assert!(n(&share["answered"]) <= senders, "{report}");
    assert!(n(&share["min"]) <= n(&share["max"]), "{report}");
    assert!(n(&share["max"]) <= n(&c["received"]), "{report}");
    run
}

#[test]
fn many_sources_against_udpkit_on_a_tap() {
    let Some(ns) = Netns::with_tools("many_sources_against_udpkit_on_a_tap", SOURCE_TOOLS) else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--services", "echo"]);
    add_addresses(&ns, "tap0", 10, 29);

    // Ping-pong from 20 hosts in turn: each gets its replies, every one
    // byte-checked. (Loss is not asserted: with more hosts than udpkit's
    // neighbor cache holds, replies may go missing; that is what the
    // benchmark is for.)
    let report = bench_json(
        &ns,
        &[
            "192.168.69.1",
            "--sources",
            "192.168.69.10-29",
            "-n",
            "2000",
            "--loss-ms",
            "1000",
            "--warmup",
            "20",
        ],
    );
    assert_eq!(report["mode"], "ping-pong", "{report}");
    let run = assert_accounted(&report, 20, 1);
    assert_eq!(run["counts"]["sent"], 2000, "{report}");
    assert_eq!(
        run["per_source"]["answered"], 20,
        "every host got replies: {report}"
    );

    // A window in flight: the accounting holds whatever the server drops.
    let report = bench_json(
        &ns,
        &[
            "192.168.69.1",
            "--sources",
            "192.168.69.10-192.168.69.29",
            "--window",
            "8",
            "-n",
            "2000",
            "--loss-ms",
            "200",
            "--warmup",
            "20",
        ],
    );
    assert_eq!(report["mode"], "rate", "{report}");
    let run = assert_accounted(&report, 20, 1);
    eprintln!(
        "20 hosts, window 8, against udpkit on a TAP: {} of {} lost, {} hosts answered",
        run["counts"]["lost"], run["counts"]["sent"], run["per_source"]["answered"]
    );

    // The text report says it too.
    let out = ns
        .udpkit(&[
            "bench",
            "192.168.69.1",
            "--sources",
            "192.168.69.10-29",
            "-n",
            "200",
            "--loss-ms",
            "1000",
            "--warmup",
            "20",
        ])
        .out()
        .ok();
    let text = out.stdout_str();
    assert!(
        text.contains("64-byte payloads from 20 source addresses"),
        "{}",
        out.describe()
    );
    assert!(
        text.contains("sources: 20 of 20 answered"),
        "{}",
        out.describe()
    );

    // IPv6: udpkit answers on fdaa::1, the Linux side adds four more.
    for i in 0x10..=0x13 {
        ns.ip(&[
            "address",
            "add",
            &format!("fdaa::{i:x}/64"),
            "dev",
            "tap0",
            "nodad",
        ])
        .ok();
    }
    let report = bench_json(
        &ns,
        &[
            "[fdaa::1]:7",
            "--sources",
            "fdaa::10-fdaa::13",
            "-n",
            "400",
            "--loss-ms",
            "1000",
            "--warmup",
            "8",
        ],
    );
    let run = assert_accounted(&report, 4, 1);
    assert_eq!(run["per_source"]["answered"], 4, "{report}");
}

#[test]
fn many_sources_against_the_kernel_backend_share_evenly() {
    let test = "many_sources_against_the_kernel_backend_share_evenly";
    let Some(server_ns) = Netns::with_tools(test, SOURCE_TOOLS) else {
        return;
    };
    let Some(client_ns) = Netns::with_tools(test, SOURCE_TOOLS) else {
        return;
    };
    client_ns
        .ip(&[
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth1",
            "netns",
            server_ns.name(),
        ])
        .ok();
    client_ns
        .ip(&["address", "add", "192.168.69.100/24", "dev", "veth0"])
        .ok();
    server_ns
        .ip(&["address", "add", "192.168.69.1/24", "dev", "veth1"])
        .ok();
    client_ns.ip(&["link", "set", "veth0", "up"]).ok();
    server_ns.ip(&["link", "set", "veth1", "up"]).ok();
    add_addresses(&client_ns, "veth0", 10, 29);

    // The same services on Linux's sockets: no neighbor cache of its own.
    let log = server_ns.dir().join("kernel.log");
    let mut server = server_ns
        .command(&[
            "timeout",
            "-k",
            "2",
            "60",
            BIN,
            "serve",
            "--backend",
            "kernel",
            "--bind",
            "192.168.69.1",
            "--services",
            "echo",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("server log"))
        .spawn()
        .expect("start the kernel backend");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let probe = client_ns
            .udpkit(&[
                "echo",
                "192.168.69.1",
                "ready",
                "--timeout",
                "200ms",
                "--retries",
                "0",
            ])
            .out();
        if probe.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kernel backend never answered: {}\n{}",
            probe.describe(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(200));
    }

    // 16 in flight from 20 hosts in turn: every datagram back, 200 each.
    let report = bench_json(
        &client_ns,
        &[
            "192.168.69.1",
            "--sources",
            "192.168.69.10-29",
            "--window",
            "16",
            "-n",
            "4000",
            "--loss-ms",
            "2000",
            "--warmup",
            "20",
        ],
    );
    let run = assert_accounted(&report, 20, 1);
    assert_eq!(run["counts"]["received"], 4000, "{report}");
    assert_eq!(run["counts"]["lost"], 0, "{report}");
    assert_eq!(
        run["per_source"],
        serde_json::json!({"answered": 20, "min": 200, "max": 200}),
        "{report}"
    );

    // The same from 20 sockets of one host (the address the kernel picks),
    // and from 5 sockets on each of 4 hosts: 200 each again.
    for (args, sources, sockets) in [
        (&["--sockets", "20"][..], 1, 20),
        (
            &["--sources", "192.168.69.10-13", "--sockets", "5"][..],
            4,
            5,
        ),
    ] {
        let mut argv = vec![
            "192.168.69.1",
            "--window",
            "16",
            "-n",
            "4000",
            "--loss-ms",
            "2000",
            "--warmup",
            "20",
        ];
        argv.extend_from_slice(args);
        let report = bench_json(&client_ns, &argv);
        let run = assert_accounted(&report, sources, sockets);
        assert_eq!(run["counts"]["received"], 4000, "{args:?}: {report}");
        assert_eq!(
            run["per_source"],
            serde_json::json!({"answered": 20, "min": 200, "max": 200}),
            "{args:?}: {report}"
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn many_sockets_of_one_host_against_udpkit_on_a_tap() {
    let Some(ns) = Netns::with_tools(
        "many_sockets_of_one_host_against_udpkit_on_a_tap",
        SOURCE_TOOLS,
    ) else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--services", "echo"]);

    // Ping-pong from 20 sockets of the TAP's Linux side in turn: one host,
    // so one neighbor; each socket gets its replies.
    let report = bench_json(
        &ns,
        &[
            "192.168.69.1",
            "--sources",
            "192.168.69.100",
            "--sockets",
            "20",
            "-n",
            "2000",
            "--loss-ms",
            "1000",
            "--warmup",
            "20",
        ],
    );
    let run = assert_accounted(&report, 1, 20);
    assert_eq!(run["counts"]["sent"], 2000, "{report}");
    assert_eq!(run["counts"]["received"], 2000, "{report}");
    assert_eq!(
        run["per_source"],
        serde_json::json!({"answered": 20, "min": 100, "max": 100}),
        "every socket got its replies: {report}"
    );

    // A window in flight, from the address the kernel picks.
    let report = bench_json(
        &ns,
        &[
            "192.168.69.1",
            "--sockets",
            "20",
            "--window",
            "8",
            "-n",
            "2000",
            "--loss-ms",
            "1000",
            "--warmup",
            "20",
        ],
    );
    assert_eq!(report["mode"], "rate", "{report}");
    let run = assert_accounted(&report, 1, 20);
    eprintln!(
        "20 sockets, window 8, against udpkit on a TAP: {} of {} lost, {} sockets answered",
        run["counts"]["lost"], run["counts"]["sent"], run["per_source"]["answered"]
    );

    // The text report says it too.
    let out = ns
        .udpkit(&[
            "bench",
            "192.168.69.1",
            "--sockets",
            "20",
            "-n",
            "200",
            "--loss-ms",
            "1000",
            "--warmup",
            "20",
        ])
        .out()
        .ok();
    let text = out.stdout_str();
    for needle in [
        "64-byte payloads from 1 source address (20 sockets)",
        "sockets: 20 of 20 answered; on-time replies per socket: 10..10",
    ] {
        assert!(text.contains(needle), "no `{needle}`: {}", out.describe());
    }
}

#[test]
fn sources_that_cannot_be_used_are_refused_with_a_reason() {
    let Some(ns) = Netns::with_tools(
        "sources_that_cannot_be_used_are_refused_with_a_reason",
        SOURCE_TOOLS,
    ) else {
        return;
    };
    // The TAP is there, with its Linux side; 192.168.69.50 is not on it.
    let _server = Server::start(&ns, &["--create", "--services", "echo"]);
    for (sources, code, needles) in [
        (
            "192.168.69.50",
            1,
            &[
                "cannot send from 192.168.69.50",
                "add it to an interface first",
                "ip addr add 192.168.69.50/24 dev",
            ][..],
        ),
        ("192.168.69.29-192.168.69.10", 2, &["runs backwards"][..]),
        ("192.168.69.10-192.168.69.x", 2, &["not an IP address"][..]),
        ("192.168.0.0-192.168.16.0", 2, &["more than 4096"][..]),
        ("fdaa::10-fdaa::13", 1, &["different families"][..]),
    ] {
        let out = ns
            .udpkit(&["bench", "192.168.69.1", "--sources", sources, "-n", "10"])
            .out();
        assert_eq!(
            out.code(),
            Some(code),
            "--sources {sources}: {}",
            out.describe()
        );
        let stderr = out.stderr_str();
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "--sources {sources}: no `{needle}`: {}",
                out.describe()
            );
        }
    }
    // --sockets: at least one, at most 4096 sources in all.
    for (args, code, needle) in [
        (&["--sockets", "0"][..], 2, "0 is not in 1..=4096"),
        (&["--sockets", "4097"][..], 2, "4097 is not in 1..=4096"),
        (
            &["--sources", "192.168.69.10-29", "--sockets", "205"][..],
            1,
            "--sockets 205 on each of 20 source addresses makes 4100 sources",
        ),
    ] {
        let mut argv = vec!["bench", "192.168.69.1", "-n", "10"];
        argv.extend_from_slice(args);
        let out = ns.udpkit(&argv).out();
        assert_eq!(out.code(), Some(code), "{args:?}: {}", out.describe());
        assert!(
            out.stderr_str().contains(needle),
            "{args:?}: no `{needle}`: {}",
            out.describe()
        );
    }
}
