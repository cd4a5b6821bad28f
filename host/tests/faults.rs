//! End to end: faults on purpose (`udpkit serve --drop --corrupt --delay`)
//! and the capture (`--pcap`), on the real binary and a real TAP.
//!
//! Under 10 % loss and 10 % corruption each way, udpkit's clients get their
//! answers by retrying, the chat client notices the silence and recovers,
//! nothing wedges (a plain echo works once the faults are paused with
//! SIGUSR1), and the counters account for every frame: against each other,
//! against Linux's own counts on its side of the TAP, and against the
//! capture, read back with tcpdump.
//!
//! Network safety: every TAP, address and datagram lives in a network
//! namespace the test creates (the `Netns` fixture of `support`); every
//! client runs inside it under `timeout`, and every wait is bounded.
//! Needs root and `ip`, `nc` (OpenBSD), `timeout`, `python3`, `tcpdump`.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use support::peer::{Peer, PATIENCE};
use support::{Netns, Out, Server, BIN, SERVER_IP};

/// Tools, and the Debian package of each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nc", "netcat-openbsd"),
    ("timeout", "coreutils"),
    ("python3", "python3"),
    ("tcpdump", "tcpdump"),
];

/// The TAP these tests make themselves, so that Linux's counts of it
/// outlive the server.
const TAP: &str = "tapf";

fn netns(test: &str) -> Option<Netns> {
    Netns::with_tools(test, TOOLS)
}

/// A persistent TAP `TAP` in `ns`, IPv4 only (no router solicitations or
/// multicast reports from Linux: every frame on it is the test's), with
/// the host side's address, up.
fn make_tap(ns: &Netns) {
    ns.run(&["ip", "tuntap", "add", "name", TAP, "mode", "tap"])
        .out()
        .ok();
    let v6_off = format!("echo 1 > /proc/sys/net/ipv6/conf/{TAP}/disable_ipv6");
    // No IPv6 in the kernel at all is as good.
    let _ = ns.run(&["sh", "-c", &v6_off]).out();
    ns.run(&["ip", "addr", "add", "192.168.69.100/24", "dev", TAP])
        .out()
        .ok();
    ns.run(&["ip", "link", "set", TAP, "up"]).out().ok();
    // udpkit's MAC, known for good: ARP has no checksum, and a corrupted
    // reply (one bit of 10 % of frames) could poison Linux's neighbor
    // cache for tens of seconds, the test then waiting on Linux, not udpkit
    // (seen once in about a hundred runs).
    ns.run(&[
        "ip",
        "neigh",
        "replace",
        "192.168.69.1",
        "lladdr",
        "02:00:00:00:00:01",
        "dev",
        TAP,
        "nud",
        "permanent",
    ])
    .out()
    .ok();
}

/// Linux's count `name` (rx_packets, tx_packets, ...) of `TAP`.
fn linux_count(ns: &Netns, name: &str) -> u64 {
    let path = format!("/sys/class/net/{TAP}/statistics/{name}");
    let out = ns.run(&["cat", &path]).out().ok();
    out.stdout_str()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{path}: {}", out.describe()))
}

/// The whole numbers in `text`, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().expect("a number"))
        .collect()
}

/// The numbers of the log line that starts (after spaces) with `start`,
/// after it.
#[track_caller]
fn counter_line(log: &str, start: &str) -> Vec<u64> {
    let line = log
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line starting {start:?} in the log:\n{log}"));
    numbers(&line[start.len()..])
}

/// One direction of the fault counters.
#[derive(Debug, Clone, Copy)]
struct Flow {
    came: u64,
    passed: u64,
    dropped: u64,
    overflowed: u64,
    held: u64,
    corrupted: u64,
}

impl Flow {
    /// `in: A read = B to the stack + C dropped + D delay line full + E
    /// still delayed; F corrupted`, or the same for `out`.
    #[track_caller]
    fn parse(log: &str, direction: &str) -> Flow {
        match counter_line(log, &format!("{direction}: "))[..] {
            [came, passed, dropped, overflowed, held, corrupted] => Flow {
                came,
                passed,
                dropped,
                overflowed,
                held,
                corrupted,
            },
            _ => panic!("cannot read the {direction} counters in:\n{log}"),
        }
    }

    #[track_caller]
    fn assert_accounted(&self, what: &str) {
        assert_eq!(
            self.came,
            self.passed + self.dropped + self.overflowed + self.held,
            "{what}: every frame counted once: {self:?}"
        );
    }
}

/// The echo row of the service table: received, sent, ..., stalls.
fn echo_row(log: &str) -> Vec<u64> {
    let line = log
        .lines()
        .find(|l| l.starts_with("echo "))
        .unwrap_or_else(|| panic!("no echo counters in:\n{log}"));
    numbers(line)
}

#[track_caller]
fn assert_share(part: u64, whole: u64, what: &str) {
    let share = part as f64 / whole.max(1) as f64;
    // 10 %, within about five standard deviations for the ~1500 frames.
    assert!(
        (0.06..=0.14).contains(&share),
        "{what}: {part} of {whole} ({:.1} %), not about 10 %",
        share * 100.0
    );
}

/// Python: `count` echo datagrams of 100 bytes, each different, sent in
/// bursts of 20 every 10 ms from one socket; then a second for the last
/// replies. Prints `sent N replies R bad B`; a bad reply is one that is not
/// byte for byte a datagram that was sent.
const BULK: &str = r#"
import os, socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, port))
s.setblocking(False)
sent = {}
replies = bad = 0
def drain():
    global replies, bad
    while True:
        try:
            data = s.recv(4096)
        except (BlockingIOError, ConnectionRefusedError):
            return
        if sent.pop(data[:8], None) == data:
            replies += 1
        else:
            bad += 1
for i in range(count):
    payload = i.to_bytes(8, "big") + os.urandom(92)
    sent[payload[:8]] = payload
    s.send(payload)
    if i % 20 == 19:
        time.sleep(0.01)
        drain()
end = time.time() + 1.0
while time.time() < end:
    time.sleep(0.05)
    drain()
print("sent", count, "replies", replies, "bad", bad)
"#;

/// udpkit's clients retry through 10 % loss and 10 % corruption each way,
/// a burst of echoes comes back byte for byte as far as it comes back,
/// paused faults leave a clean link, and every frame is accounted for.
#[test]
fn clients_retry_through_loss_and_corruption_and_every_frame_is_counted() {
    let Some(ns) = netns("faults_clients_and_counters") else {
        return;
    };
    make_tap(&ns);
    let pcap = ns.dir().join("frames.pcap");
    let pcap_arg = pcap.to_str().expect("a UTF-8 path");
    let mut server = Server::start(
        &ns,
        &[
            "--tap",
            TAP,
            "--no-ipv6",
            "--services",
            "echo,time,ntp",
            "--drop",
            "0.1",
            "--corrupt",
            "10%",
            "--pcap",
            pcap_arg,
        ],
    );
    let log = server.log();
    assert!(
        log.contains(&format!(
            "faults on frames in and out of {TAP}: drop 10 %, corrupt 10 % (one bit)"
        )),
        "{log}"
    );
    assert!(log.contains("capturing every frame in and out to"), "{log}");

    // The clients: every one gets its answer.
    let patience = ["--timeout", "300ms", "--retries", "15"];
    let mut retried = 0;
    let mut client = |args: &[&str]| -> Out {
        let mut argv = args.to_vec();
        argv.extend_from_slice(&patience);
        let out = ns.udpkit(&argv).out().ok();
        retried += out.stderr_str().matches("retrying").count();
        out
    };
    for n in 0..20 {
        let message = format!("through the storm {n}");
        let out = client(&["echo", SERVER_IP, &message]);
        assert_eq!(out.stdout_str().trim_end(), message, "{}", out.describe());
    }
    for _ in 0..5 {
        let out = client(&["time", "--unix", SERVER_IP]);
        let secs: i64 = out.stdout_str().trim().parse().expect("seconds");
        assert!(
            (secs - support::now_unix()).abs() <= 5,
            "{}",
            out.describe()
        );
        let out = client(&["ntp", SERVER_IP]);
        assert!(out.stdout_str().contains("stratum"), "{}", out.describe());
    }
    // Some of the 30 exchanges lost a datagram (all of them getting through
    // at once has a chance of about 1 in 250 000).
    assert!(retried > 0, "no client had to retry: are the faults on?");

    // A burst: replies come back intact or not at all.
    let bulk = ns.python(BULK, &[SERVER_IP, "7", "1500"]).ok();
    let [sent, replies, bad] = numbers(&bulk.stdout_str())[..] else {
        panic!("{}", bulk.describe());
    };
    assert_eq!(sent, 1500);
    assert_eq!(bad, 0, "altered or unknown replies: {}", bulk.describe());
    // About 0.9^4 come back (each way: not dropped, not corrupted).
    assert!(
        (750..=1200).contains(&replies),
        "{replies} of 1500 replies: {}",
        bulk.describe()
    );

    // Paused faults: a plain exchange works at once, with no retry.
    server.signal(libc::SIGUSR1);
    wait_for_log(&server, "SIGUSR1: faults paused");
    for n in 0..5 {
        let message = format!("after the storm {n}");
        let out = ns
            .udpkit(&[
                "echo",
                SERVER_IP,
                &message,
                "--timeout",
                "1s",
                "--retries",
                "0",
            ])
            .out()
            .ok();
        assert_eq!(out.stdout_str().trim_end(), message);
    }

    // Quiet, then stop: nothing is in flight when the counts are taken.
    thread::sleep(Duration::from_millis(500));
    let status = server.stop(libc::SIGTERM);
    assert!(status.success(), "{}", server.log());
    let log = server.log();

    // For the record (shown with --nocapture).
    for line in log.lines().filter(|l| {
        let l = l.trim_start();
        l.starts_with(TAP)
            || l.starts_with("in:")
            || l.starts_with("out:")
            || l.starts_with("capture:")
    }) {
        eprintln!("{line}");
    }
    eprintln!("bulk: {}", bulk.stdout_str().trim());
    let tap = counter_line(&log, &format!("{TAP}: "));
    let [read, written, write_errors] = tap[..] else {
        panic!("cannot read the TAP counters in:\n{log}");
    };
    let incoming = Flow::parse(&log, "in");
    let outgoing = Flow::parse(&log, "out");
    incoming.assert_accounted("in");
    outgoing.assert_accounted("out");
    assert_eq!(
        (incoming.held, outgoing.held, incoming.overflowed),
        (0, 0, 0)
    );
    assert_eq!(incoming.came, read, "frames read all went to the faults");
    assert_eq!(
        outgoing.passed,
        written + write_errors,
        "frames let through all went to the TAP"
    );
    assert_eq!(write_errors, 0);
    // Linux's own counts on its side of the TAP.
    assert_eq!(
        linux_count(&ns, "tx_packets"),
        read,
        "what Linux sent into the TAP, udpkit read"
    );
    assert_eq!(
        linux_count(&ns, "rx_packets"),
        written,
        "what udpkit wrote, Linux received"
    );
    // The faults took about their share, each way.
    assert_share(incoming.dropped, incoming.came, "frames in dropped");
    assert_share(outgoing.dropped, outgoing.came, "frames out dropped");
    assert_share(incoming.corrupted, incoming.passed, "frames in corrupted");
    assert_share(outgoing.corrupted, outgoing.passed, "frames out corrupted");
    // Nothing stalled, and echo answered every request it got.
    let echo = echo_row(&log);
    assert_eq!(echo[1], echo[2], "echo received = sent: {log}");
    assert_eq!(echo.last(), Some(&0), "no stall resets: {log}");

    // The capture: every frame the stack saw, in and out.
    let captured = counter_line(&log, "capture: ");
    assert_eq!(captured[0], incoming.passed + outgoing.came, "{log}");
    let dump = tcpdump(&ns, &pcap, &[]);
    assert_eq!(frames_in(&dump), captured[0], "{dump}");
    for n in 0..5 {
        let text = format!("after the storm {n}");
        let ascii = tcpdump(&ns, &pcap, &["-A", "udp port 7"]);
        assert_eq!(
            ascii.matches(&text).count(),
            2,
            "request and reply of {text:?}"
        );
    }
}

/// The frames in tcpdump's `output`: the lines that start with a time
/// (frames it cannot decode come with a hex dump on the lines after).
fn frames_in(output: &str) -> u64 {
    output
        .lines()
        .filter(|l| {
            l.as_bytes().get(2) == Some(&b':') && l.starts_with(|c: char| c.is_ascii_digit())
        })
        .count() as u64
}

/// `tcpdump -nn -r FILE ARGS` inside the namespace; its output.
fn tcpdump(ns: &Netns, file: &std::path::Path, args: &[&str]) -> String {
    let file = file.to_str().expect("a UTF-8 path");
    let mut argv = vec!["tcpdump", "-nn", "-r", file];
    argv.extend_from_slice(args);
    ns.timed(20, &argv).out().ok().stdout_str()
}

#[track_caller]
fn wait_for_log(server: &Server<'_>, text: &str) {
    let deadline = Instant::now() + PATIENCE;
    while !server.log().contains(text) {
        assert!(
            Instant::now() < deadline,
            "the server did not log {text:?}:\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The capture alone: tcpdump reads the echo request and its reply, with
/// their bytes, and the ARP exchange before them.
#[test]
fn the_capture_holds_the_echo_request_and_its_reply() {
    let Some(ns) = netns("faults_capture") else {
        return;
    };
    let pcap = ns.dir().join("echo.pcap");
    let mut server = Server::start(
        &ns,
        &[
            "--create",
            "--services",
            "echo",
            "--pcap",
            pcap.to_str().expect("a UTF-8 path"),
        ],
    );
    let message = "captured hello";
    let out = ns.udpkit(&["echo", SERVER_IP, message]).out().ok();
    assert_eq!(out.stdout_str().trim_end(), message);
    // The file is whole whenever the server sleeps: readable while it runs.
    thread::sleep(Duration::from_millis(300));
    let running = tcpdump(&ns, &pcap, &["-A", "udp port 7"]);
    assert_eq!(running.matches(message).count(), 2, "{running}");
    server.stop(libc::SIGTERM);

    let dump = tcpdump(&ns, &pcap, &[]);
    let request = dump
        .lines()
        .position(|l| {
            l.contains("IP 192.168.69.100.") && l.contains(" > 192.168.69.1.7: UDP, length 14")
        })
        .unwrap_or_else(|| panic!("no echo request in:\n{dump}"));
    let reply = dump
        .lines()
        .position(|l| l.contains("IP 192.168.69.1.7 > 192.168.69.100.") && l.contains("length 14"))
        .unwrap_or_else(|| panic!("no echo reply in:\n{dump}"));
    assert!(request < reply, "{dump}");
    assert!(
        dump.contains("ARP, Reply 192.168.69.1 is-at 02:00:00:00:00:01"),
        "{dump}"
    );
    let log = server.log();
    assert!(log.contains("capture: "), "{log}");
    // No faults were asked for: no fault counters.
    assert!(!log.contains("faults:"), "{log}");
    assert_eq!(counter_line(&log, "capture: ")[0], frames_in(&dump));
}

/// `--delay` holds each frame, both ways: an echo takes two delays.
#[test]
fn delay_holds_frames_both_ways() {
    let Some(ns) = netns("faults_delay") else {
        return;
    };
    let mut server = Server::start(
        &ns,
        &[
            "--create",
            "--no-ipv6",
            "--services",
            "echo",
            "--delay",
            "0.15",
        ],
    );
    assert!(server.log().contains("delay 150ms"), "{}", server.log());
    const TIMED_ECHO: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect((sys.argv[1], 7))
for i in range(3):
    start = time.monotonic()
    s.send(b"slow %d" % i)
    assert s.recv(100) == b"slow %d" % i
    print("%.3f" % (time.monotonic() - start))
"#;
    let out = ns.python(TIMED_ECHO, &[SERVER_IP]).ok();
    for rtt in out.stdout_str().split_whitespace() {
        let rtt: f64 = rtt.parse().expect("seconds");
        assert!((0.3..1.5).contains(&rtt), "RTT {rtt} s: {}", out.describe());
    }
    server.stop(libc::SIGTERM);
    let log = server.log();
    let incoming = Flow::parse(&log, "in");
    let outgoing = Flow::parse(&log, "out");
    incoming.assert_accounted("in");
    outgoing.assert_accounted("out");
    assert_eq!(incoming.dropped + outgoing.dropped, 0);
}

/// Wrong chances and delays are refused with a clear message, before
/// anything is opened.
#[test]
fn bad_fault_options_are_refused_clearly() {
    for (args, expected) in [
        (&["--drop", "1.5"][..], "a probability is from 0 to 1"),
        (&["--corrupt", "often"][..], "is not a probability"),
        (&["--drop=-0.1"][..], "a probability is from 0 to 1"),
        (&["--delay", "soon"][..], "is not a duration"),
        (&["--delay=-1"][..], "is not a duration"),
        (&["--delay", "2h"][..], "a delay is at most"),
        (
            &[
                "--backend",
                "kernel",
                "--port-offset",
                "10000",
                "--drop",
                "0.1",
            ][..],
            "need --backend tap",
        ),
    ] {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("serve").args(args).env_remove("RUST_LOG");
        let out = cmd.output().expect("run udpkit");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------------
// The chat client through the faults

/// The members of the lobby, as `carol` (nc, who has no keepalive and
/// joins again each time) asks with `/who` until `wanted` are all there,
/// bounded.
#[track_caller]
fn wait_for_members(carol: &mut Peer, wanted: &[&str], limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let asked = carol.count("*** in lobby with:");
        carol.say("/nick carol");
        thread::sleep(Duration::from_millis(100));
        carol.say("/who");
        let answer_by = Instant::now() + Duration::from_secs(2);
        while carol.count("*** in lobby with:") == asked && Instant::now() < answer_by {
            thread::sleep(Duration::from_millis(20));
        }
        let out = carol.out();
        let last = out
            .lines()
            .rfind(|l| l.starts_with("*** in lobby with:"))
            .unwrap_or_default();
        let members: Vec<&str> = last
            .trim_start_matches("*** in lobby with:")
            .split([' ', ','])
            .filter(|w| !w.is_empty())
            .collect();
        if wanted.iter().all(|w| members.contains(w)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {wanted:?} in the lobby within {limit:?}\n{}",
            carol.describe()
        );
        thread::sleep(Duration::from_millis(500));
    }
}

/// Members join on a clean link; then 10 % loss and corruption each way.
/// `bob` pings often and gives up on a ping at once: he notices the server
/// not answering, and that it is back. `dave` pings less often than the
/// server's idle timeout, so the server keeps dropping him and he keeps
/// rejoining, through the faults. Once the faults are paused, both are
/// members again and hear a line.
#[test]
fn the_chat_client_notices_the_faults_and_recovers() {
    let Some(ns) = netns("faults_chat") else {
        return;
    };
    // Corruption is on from the start: see `make_tap` for why Linux must
    // know udpkit's MAC beforehand (a CI run waited 30 s for a first echo).
    make_tap(&ns);
    let server = Server::start(
        &ns,
        &[
            "--tap",
            TAP,
            "--no-ipv6",
            "--services",
            "echo,chat",
            "--chat-idle",
            "2s",
            // bob's pings come more often than the default 2 lines/s.
            "--chat-rate",
            "50",
            "--drop",
            "0.1",
            "--corrupt",
            "0.1",
        ],
    );
    // Everyone joins while the link is clean.
    server.signal(libc::SIGUSR1);
    wait_for_log(&server, "SIGUSR1: faults paused");
    let bob = Peer::chat(
        &ns,
        "bob",
        &[
            "--keepalive",
            "300ms",
            "--timeout",
            "300ms",
            "--retries",
            "0",
        ],
    );
    bob.wait_until("welcomed", PATIENCE, |p| {
        p.count("*** welcome bob, you are in lobby") == 1
    });
    let dave = Peer::chat(
        &ns,
        "dave",
        &[
            "--keepalive",
            "2500ms",
            "--timeout",
            "500ms",
            "--retries",
            "0",
        ],
    );
    dave.wait_until("welcomed", PATIENCE, |p| {
        p.count("*** welcome dave, you are in lobby") == 1
    });
    let mut carol = Peer::spawn(
        &ns,
        "carol",
        &["nc", "-u", "-p", "40003", SERVER_IP, "5555"],
    );
    carol.say("/nick carol");
    carol.wait_until("welcomed", PATIENCE, |p| p.count("*** welcome carol") == 1);

    // The storm: until bob has noticed the silence, and dave has been
    // dropped by the server and has tried to rejoin through it.
    server.signal(libc::SIGUSR1);
    wait_for_log(&server, "SIGUSR1: faults resumed");
    let storm = Duration::from_secs(40);
    bob.wait_until("noticing the server not answering", storm, |p| {
        p.err().contains("server not answering")
    });
    dave.wait_until("rejoining", storm, |p| {
        p.err().matches("rejoining as dave").count() >= 2
    });
    let dave_welcomes = dave.count("*** welcome dave");

    // The sky clears.
    server.signal(libc::SIGUSR1);
    wait_for_log(&server, "SIGUSR1: faults paused");
    bob.wait_until("noticing the server is back", PATIENCE, |p| {
        let err = p.err();
        err.matches("server is back").count() == err.matches("server not answering").count()
    });
    // dave is dropped and rejoins again and again; he is welcomed anew.
    dave.wait_until("welcomed after the storm", PATIENCE, |p| {
        p.count("*** welcome dave") > dave_welcomes
    });
    wait_for_members(&mut carol, &["bob", "carol"], PATIENCE);
    carol.say("the sky is clear");
    bob.wait_until("hearing carol", PATIENCE, |p| {
        p.count("[lobby] <carol> the sky is clear") == 1
    });
}
