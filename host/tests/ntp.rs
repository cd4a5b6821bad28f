//! End to end: udpkit's NTP server and SNTP client, the real binary on a
//! real TAP, against real NTP clients: `sntp` and `ntpdate -q` (Debian 12:
//! NTPsec's `ntpdig` behind both), `chronyd -Q`, `rdate -n` and udpkit's
//! own `udpkit ntp`.
//!
//! Network safety, as for every end-to-end test (see `support`): each test
//! has a network namespace of its own, every TAP and address lives in it,
//! every command runs in it under a hard time limit, and the namespace is
//! deleted (its processes killed) when the test ends.
//!
//! Clock safety: a namespace does not isolate the clock, so every time
//! client runs strictly query only (`sntp` without `-S`/`-s`, `ntpdate -q`,
//! `chronyd -Q`, `rdate -p`, `udpkit ntp` which cannot set anything) and,
//! on top of that, without CAP_SYS_TIME (`setpriv` drops it from the
//! bounding set): even a client that tried could not set or slew the
//! machine's clock.
//!
//! Needs root, and the Debian packages sntp, ntpdate, chrony and rdate
//! (`scripts/test.sh` installs them without starting chrony's daemon). As non-root
//! the tests fail, unless `UDPKIT_SKIP_E2E=1` says to skip them.

mod support;

use std::fs;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    assert_near_now, now_unix, ntpdig_offset_and_stratum, parse_ctime, parse_date_loosely,
    time_client, Netns, Out, Server,
};

const SERVER: &str = "192.168.69.1";
/// The Linux side of the TAP, where the tests run their own NTP server.
const HOST_SIDE: &str = "192.168.69.100";

/// How far from the host clock a client may find our time: the issue's
/// bound for chronyd, and ours for every client (they see tens of µs).
const TOLERANCE: f64 = 0.050;

/// The time clients, with the Debian package of each.
const TIME_TOOLS: &[(&str, &str)] = &[
    ("sntp", "sntp"),
    ("ntpdate", "ntpdate"),
    ("chronyd", "chrony"),
    ("rdate", "rdate"),
    ("setpriv", "util-linux"),
];

/// The namespace for `test`, once the time clients are known to be there.
fn namespace(test: &str) -> Option<Netns> {
    let ns = Netns::new(test)?;
    let missing: Vec<String> = TIME_TOOLS
        .iter()
        .filter(|(tool, _)| {
            !["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
                .iter()
                .any(|dir| fs::metadata(format!("{dir}/{tool}")).is_ok())
        })
        .map(|(tool, package)| format!("`{tool}` (Debian package {package})"))
        .collect();
    assert!(
        missing.is_empty(),
        "{test}: the NTP end-to-end tests need {}: install them (as scripts/test.sh does, \
         keeping chrony's daemon from starting), or set UDPKIT_SKIP_E2E=1 to skip them",
        missing.join(", ")
    );
    Some(ns)
}

/// `udpkit ntp`'s report, checked for success.
#[track_caller]
fn udpkit_ntp(ns: &Netns, args: &[&str]) -> Out {
    let mut argv = vec!["ntp"];
    argv.extend_from_slice(args);
    ns.udpkit(&argv).out()
}

/// The offset in `udpkit ntp`'s `offset -0.000069 s, delay ...` line.
#[track_caller]
fn udpkit_offset(out: &Out) -> f64 {
    out.stdout_str()
        .lines()
        .find_map(|l| l.strip_prefix("offset "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset: {}", out.describe()))
}

#[track_caller]
fn assert_within_tolerance(offset: f64, what: &str) {
    assert!(
        offset.abs() < TOLERANCE,
        "{what}: offset {offset} s from the host clock, more than {TOLERANCE} s"
    );
}

/// Polls `udpkit ntp` at `ip` until its report has `needle`, for at most
/// `limit`; returns the report.
fn wait_for_report(ns: &Netns, ip: &str, port: u16, needle: &str, limit: Duration) -> Out {
    let deadline = Instant::now() + limit;
    let port = port.to_string();
    loop {
        let out = udpkit_ntp(
            ns,
            &[ip, "--port", &port, "--timeout", "500ms", "--retries", "0"],
        );
        if out.stdout_str().contains(needle) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "no report with {needle:?} from {ip}:{port} after {limit:?}; last: {}",
            out.describe()
        );
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sntp_and_ntpdate_q_read_the_host_clock() {
    let Some(ns) = namespace("sntp_and_ntpdate_q_read_the_host_clock") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    // ntpdig without -S/-s (step/slew) only prints.
    let out = time_client(&ns, 10, &["sntp", "-t", "2", SERVER]).ok();
    let (offset, stratum) = ntpdig_offset_and_stratum(&out);
    assert_within_tolerance(offset, "sntp");
    assert_eq!(stratum, 10, "the host clock, as chrony's `local` serves it");
    // -q: query only (the shim turns it into ntpdig without -S/-s).
    let out = time_client(&ns, 10, &["ntpdate", "-q", SERVER]).ok();
    let (offset, stratum) = ntpdig_offset_and_stratum(&out);
    assert_within_tolerance(offset, "ntpdate -q");
    assert_eq!(stratum, 10);
}

#[test]
fn chronyd_q_finds_our_time_within_50_ms_of_the_host_clock() {
    let Some(ns) = namespace("chronyd_q_finds_our_time_within_50_ms_of_the_host_clock") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    // chronyd -Q: measure the offset, print it, never touch the clock; no
    // command socket, no pid file outside the test's own directory.
    let config = ns.dir().join("chrony.conf");
    fs::write(
        &config,
        format!(
            "server {SERVER} iburst\ncmdport 0\npidfile {}\n",
            ns.dir().join("chronyd.pid").display()
        ),
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = time_client(&ns, 40, &["chronyd", "-Q", "-f", &config, "-t", "30"]);
    // chronyd logs to stderr in this mode: `System clock wrong by
    // -0.000024 seconds (ignored)`.
    let log = format!("{}{}", out.stdout_str(), out.stderr_str());
    let offset: f64 = log
        .lines()
        .find_map(|l| l.split("System clock wrong by ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("chronyd found no offset: {}", out.describe()));
    assert!(out.success(), "{}", out.describe());
    assert!(log.contains("(ignored)"), "{}", out.describe());
    assert_within_tolerance(offset, "chronyd -Q");
}

#[test]
fn rdate_n_prints_the_host_time() {
    let Some(ns) = namespace("rdate_n_prints_the_host_time") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let before = now_unix();
    // -n: SNTP; -p: print only, never set.
    let out = time_client(&ns, 10, &["rdate", "-n", "-p", SERVER]).ok();
    let after = now_unix();
    let text = out.stdout_str();
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let when = line.rsplit('\t').next().unwrap_or(line);
    let secs = parse_date_loosely(when)
        .unwrap_or_else(|| panic!("cannot read rdate's date {when:?}: {}", out.describe()));
    assert_near_now(secs, before, after, "rdate -n");
}

#[test]
fn udpkit_ntp_reports_stratum_reference_offset_and_delay() {
    let Some(ns) = namespace("udpkit_ntp_reports_stratum_reference_offset_and_delay") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let out = udpkit_ntp(&ns, &[SERVER]).ok();
    let text = out.stdout_str();
    assert!(
        text.starts_with(
            "server 192.168.69.1:123: stratum 10, reference LOCL, version 4, leap none\n"
        ),
        "{}",
        out.describe()
    );
    assert_within_tolerance(udpkit_offset(&out), "udpkit ntp");
    assert!(text.contains(", delay 0.0"), "{text}");
    // A port that does not speak NTP: a clear failure, not a hang.
    let out = udpkit_ntp(&ns, &[SERVER, "--port", "7", "--timeout", "300ms"]);
    assert!(!out.success());
    assert!(
        out.stderr_str().contains("not a server reply"),
        "{}",
        out.describe()
    );
}

/// Python: one datagram to port 123, printing `REPLY <hex>` or `SILENT`.
const NTP_SHOT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.sendto(bytes.fromhex(sys.argv[2]), (sys.argv[1], 123))
try:
    print("REPLY", s.recv(4096).hex())
except socket.timeout:
    print("SILENT")
"#;

fn ntp_shot(ns: &Netns, payload: &[u8]) -> Option<Vec<u8>> {
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let out = ns.python(NTP_SHOT, &[SERVER, &hex]).ok();
    let text = out.stdout_str();
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        ["SILENT"] => None,
        ["REPLY", hex] => Some(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect(),
        ),
        _ => panic!("unexpected output: {}", out.describe()),
    }
}

#[test]
fn other_modes_and_malformed_packets_get_no_reply_and_are_counted() {
    let Some(ns) = namespace("other_modes_and_malformed_packets_get_no_reply_and_are_counted")
    else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    let mut packet = [0u8; 48];
    packet[40..48].copy_from_slice(b"origin!!");
    // Symmetric active (mode 1), version 3: symmetric passive, version 3.
    packet[0] = (3 << 3) | 1;
    let reply = ntp_shot(&ns, &packet).expect("a reply to mode 1");
    assert_eq!(reply.len(), 48);
    assert_eq!(reply[0] & 0x3f, (3 << 3) | 2, "version 3, mode 2");
    assert_eq!(reply[1], 10, "stratum");
    assert_eq!(&reply[24..32], b"origin!!", "origin = our transmit");
    // A server reply (mode 4), version 5, 47 bytes: nothing.
    packet[0] = (4 << 3) | 4;
    assert_eq!(ntp_shot(&ns, &packet), None);
    packet[0] = (5 << 3) | 3;
    assert_eq!(ntp_shot(&ns, &packet), None);
    packet[0] = (4 << 3) | 3;
    assert_eq!(ntp_shot(&ns, &packet[..47]), None);
    server.stop(libc::SIGTERM);
    let log = server.log();
    for counter in [
        "symmetric requests answered: 1",
        "bad mode: 1",
        "bad version: 1",
        "too short: 1",
    ] {
        assert!(log.contains(counter), "no {counter:?} in the log:\n{log}");
    }
}

/// `udpkit serve --backend kernel --services ntp` on the Linux side of the
/// TAP: a plain NTP server in the namespace for the SNTP client to use.
struct KernelNtpServer {
    child: Child,
}

impl KernelNtpServer {
    fn start(ns: &Netns) -> KernelNtpServer {
        let log = fs::File::create(ns.dir().join("kernel-ntp.log")).unwrap();
        let child = ns
            .command(&[
                "timeout",
                "120",
                support::BIN,
                "serve",
                "--backend",
                "kernel",
                "--bind",
                "0.0.0.0",
                "--services",
                "ntp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the kernel backend");
        let server = KernelNtpServer { child };
        wait_for_report(ns, "127.0.0.1", 123, "stratum 10", Duration::from_secs(20));
        server
    }
}

impl Drop for KernelNtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sntp_server_flag_takes_the_time_from_an_ntp_server() {
    let Some(ns) = namespace("sntp_server_flag_takes_the_time_from_an_ntp_server") else {
        return;
    };
    // Upstream: the kernel backend's NTP server (the host clock, stratum
    // 10), on every address of the namespace.
    let _upstream = KernelNtpServer::start(&ns);
    // udpkit on the TAP with no clock but what its SNTP client gets.
    let server = Server::start(
        &ns,
        &[
            "--create",
            "--sntp-server",
            HOST_SIDE,
            "--sntp-interval",
            "15s",
        ],
    );
    let out = wait_for_report(&ns, SERVER, 123, "stratum 11", Duration::from_secs(45));
    let text = out.stdout_str();
    assert!(
        text.contains("stratum 11, reference 192.168.69.100,"),
        "the upstream's stratum + 1, its address as reference: {text}"
    );
    assert_within_tolerance(udpkit_offset(&out), "udpkit ntp, via the SNTP client");
    assert!(
        server
            .log()
            .contains("sntp: synced to 192.168.69.100:123 (stratum 10)"),
        "{}",
        server.log()
    );
    // Real clients accept the synced time too.
    let out = time_client(&ns, 10, &["sntp", "-t", "2", SERVER]).ok();
    let (offset, stratum) = ntpdig_offset_and_stratum(&out);
    assert_within_tolerance(offset, "sntp, via the SNTP client");
    assert_eq!(stratum, 11);
    // And time and daytime answer from it.
    let before = now_unix();
    let out = ns.udpkit(&["time", SERVER, "--unix"]).out().ok();
    let secs: i64 = out.stdout_str().trim().parse().expect("Unix seconds");
    let day = ns.udpkit(&["daytime", SERVER]).out().ok();
    let after = now_unix();
    assert_near_now(secs, before, after, "time, via the SNTP client");
    assert_near_now(
        parse_ctime(day.stdout_str().trim()),
        before,
        after,
        "daytime, via the SNTP client",
    );
}

#[test]
fn without_a_clock_ntp_answers_with_a_kiss_o_death() {
    let Some(ns) = namespace("without_a_clock_ntp_answers_with_a_kiss_o_death") else {
        return;
    };
    // An NTP server that never answers: port 9 of the Linux side.
    let started = Instant::now();
    let mut server = Server::start(&ns, &["--create", "--sntp-server", "192.168.69.100:9"]);
    let out = udpkit_ntp(&ns, &[SERVER]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr_str()
            .contains("kiss-o'-death, code INIT: the server does not know the time yet"),
        "{}",
        out.describe()
    );
    // ntpdig recognizes it and reports no time (and, query only, sets none).
    let out = time_client(&ns, 10, &["sntp", "-t", "2", SERVER]);
    assert!(!out.success(), "{}", out.describe());
    assert!(
        out.stderr_str().contains("KOD") || out.stdout_str().contains("KOD"),
        "{}",
        out.describe()
    );
    // Time has nothing to say either.
    let out = ns
        .udpkit(&["time", SERVER, "--timeout", "300ms", "--retries", "0"])
        .out();
    assert!(!out.success(), "{}", out.describe());
    server.stop(libc::SIGTERM);
    let log = server.log();
    assert!(log.contains("kiss-o'-death (no wall clock): 2"), "{log}");
    // The SNTP client's counters: a request at boot, and no retry sooner
    // than 15 s after it (how many depends on how long this test took).
    let requests: u64 = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("requests: "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no SNTP request count in the log:\n{log}"));
    let most = 1 + started.elapsed().as_secs() / 15;
    assert!(
        (1..=most).contains(&requests),
        "{requests} requests in {:?}:\n{log}",
        started.elapsed()
    );
}
