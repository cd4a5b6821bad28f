//! End-to-end tests: the real `udpkit` binary on a real TAP, hit by real
//! clients (netcat, socat, rdate, ping, Python, udpkit's own client).
//!
//! Each test runs in a network namespace of its own (see `support`), so
//! nothing touches the machine's network and tests run in parallel. They
//! need root; as non-root they fail, unless `UDPKIT_SKIP_E2E=1` is set, in
//! which case they say they were skipped and pass. Needed tools (Debian
//! packages): iproute2, netcat-openbsd, socat, rdate, iputils-ping, python3,
//! coreutils, util-linux.

mod support;

use std::time::Duration;

use support::{
    assert_near_now, log_has_line_with, nc, nc_expect, now_unix, parse_ctime, parse_date_loosely,
    random_bytes, Netns, Out, Server, HOST_CIDR, SERVER_IP,
};

/// Python: one datagram to `port` from a socket bound to `from_port` (0:
/// any), printing `REPLY x<hex>` or `SILENT` after `wait` seconds.
const ONE_SHOT: &str = r#"
import socket, sys
host, port, from_port, wait = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", from_port))
s.settimeout(wait)
s.sendto(bytes.fromhex(sys.argv[5]), (host, port))
try:
    data, addr = s.recvfrom(4096)
    print("REPLY", "x" + data.hex(), addr[0], addr[1])
except (socket.timeout, ConnectionRefusedError):
    print("SILENT")
"#;

/// What one datagram to `port` from `from_port` brings back within `wait`:
/// `Some(reply)` or `None`.
fn one_shot(ns: &Netns, port: u16, from_port: u16, wait: f64, payload: &[u8]) -> Option<Vec<u8>> {
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let out = ns
        .python(
            ONE_SHOT,
            &[
                SERVER_IP,
                &port.to_string(),
                &from_port.to_string(),
                &wait.to_string(),
                &hex,
            ],
        )
        .ok();
    let text = out.stdout_str();
    let mut words = text.split_whitespace();
    match words.next() {
        Some("SILENT") => None,
        Some("REPLY") => {
            let hex = words.next().unwrap_or("").trim_start_matches('x');
            Some(
                (0..hex.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                    .collect(),
            )
        }
        _ => panic!("unexpected Python output: {}", out.describe()),
    }
}

#[test]
fn nc_text_echo() {
    let Some(ns) = Netns::new("nc_text_echo") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    nc_expect(&ns, SERVER_IP, 7, b"hi\n", b"hi\n");
    nc_expect(&ns, SERVER_IP, 7, b"no newline", b"no newline");
}

#[test]
fn nc_binary_echo() {
    let Some(ns) = Netns::new("nc_binary_echo") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    nc_expect(&ns, SERVER_IP, 7, &all_bytes, &all_bytes);
    // The largest payload that fits an unfragmented 1500-byte packet.
    let big = random_bytes(1472);
    let out = nc(&ns, SERVER_IP, 7, &big);
    assert_eq!(out.stdout.len(), 1472, "{}", out.describe());
    assert!(out.stdout == big, "1472 random bytes came back altered");
}

#[test]
fn nc_upper_and_hello() {
    let Some(ns) = Netns::new("nc_upper_and_hello") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    nc_expect(
        &ns,
        SERVER_IP,
        12000,
        b"Hello, World 42!\n",
        b"HELLO, WORLD 42!\n",
    );
    nc_expect(&ns, SERVER_IP, 12000, b"abc\xe9z", b"ABC\xe9Z");
    nc_expect(&ns, SERVER_IP, 12001, b"world\n", b"Hello world!\n");
    nc_expect(&ns, SERVER_IP, 12001, b"dos\r\n", b"Hello dos!\n");
    nc_expect(&ns, SERVER_IP, 12001, b"bare", b"Hello bare!\n");
    nc_expect(&ns, SERVER_IP, 12001, b"exit\n", b"Good bye!\n");
    nc_expect(&ns, SERVER_IP, 12001, b"exit", b"Good bye!\n");
}

#[test]
fn socat_echo() {
    let Some(ns) = Netns::new("socat_echo") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let target = format!("UDP:{SERVER_IP}:7");
    let out = ns
        .run(&["timeout", "-k", "2", "10", "socat", "-t2", "-", &target])
        .stdin(b"hello")
        .out();
    assert_eq!(out.stdout, b"hello", "{}", out.describe());
    let target = format!("UDP:{SERVER_IP}:12000");
    let out = ns
        .run(&["timeout", "-k", "2", "10", "socat", "-t2", "-", &target])
        .stdin(b"shout\n")
        .out();
    assert_eq!(out.stdout, b"SHOUT\n", "{}", out.describe());
}

#[test]
fn rdate_time_matches_host_clock() {
    let Some(ns) = Netns::new("rdate_time_matches_host_clock") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let before = now_unix();
    // -p: print only. rdate must never set the clock (a namespace does not
    // isolate it). -u: RFC 868 over UDP.
    let out = ns
        .run(&["timeout", "-k", "2", "5", "rdate", "-u", "-p", SERVER_IP])
        .env("TZ", "UTC")
        .out()
        .ok();
    let after = now_unix();
    // rdate 1.11 (Debian) prints `Mon Nov 23 15:04:05 UTC 2026`; other
    // rdates print `rdate: [192.168.69.1]\tMon Nov 23 15:04:05 2026`.
    let text = out.stdout_str();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("rdate printed nothing: {}", out.describe()));
    let when = line.rsplit('\t').next().unwrap_or(line);
    let secs = parse_date_loosely(when)
        .unwrap_or_else(|| panic!("cannot read rdate's date {when:?}: {}", out.describe()));
    assert_near_now(secs, before, after, "rdate");
}

#[test]
fn daytime_with_nc_and_udpkit_client() {
    let Some(ns) = Netns::new("daytime_with_nc_and_udpkit_client") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);

    let before = now_unix();
    let out = nc(&ns, SERVER_IP, 13, b"\n");
    let after = now_unix();
    let reply = out.stdout_str();
    let line = reply
        .strip_suffix("\r\n")
        .unwrap_or_else(|| panic!("daytime reply must end in CR LF: {}", out.describe()));
    assert_near_now(parse_ctime(line), before, after, "daytime via nc");

    let before = now_unix();
    let out = ns.udpkit(&["daytime", SERVER_IP]).out().ok();
    let after = now_unix();
    let text = out.stdout_str();
    let line = text.trim_end_matches(['\r', '\n']);
    assert!(
        !line.contains('\n'),
        "one line expected: {}",
        out.describe()
    );
    assert_near_now(parse_ctime(line), before, after, "udpkit daytime");
}

#[test]
fn ping_is_answered() {
    let Some(ns) = Netns::new("ping_is_answered") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let out = ns
        .run(&[
            "timeout", "-k", "2", "20", "ping", "-c", "3", "-W", "2", "-i", "0.2", SERVER_IP,
        ])
        .limit(Duration::from_secs(30))
        .out();
    let text = out.stdout_str();
    assert!(
        text.contains("3 packets transmitted, 3 received") && text.contains(" 0% packet loss"),
        "{}",
        out.describe()
    );
    assert!(out.success(), "{}", out.describe());
}

#[test]
fn python_socket_echo_and_time() {
    let Some(ns) = Netns::new("python_socket_echo_and_time") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let script = r#"
import socket, struct, sys
host = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3.0)
msg = b"python\x00\xff\r\n says hi"
s.sendto(msg, (host, 7))
data, addr = s.recvfrom(4096)
print("echo", "same" if data == msg else "DIFFERENT:" + data.hex(), addr[0], addr[1])
s.sendto(b"", (host, 37))
data, addr = s.recvfrom(4096)
print("time", len(data), addr[0], addr[1])
(since_1900,) = struct.unpack("!I", data[:4])
print("unix", since_1900 - 2208988800)
"#;
    let before = now_unix();
    let out = ns.python(script, &[SERVER_IP]).ok();
    let after = now_unix();
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.describe());
    assert_eq!(
        lines[0],
        format!("echo same {SERVER_IP} 7"),
        "{}",
        out.describe()
    );
    assert_eq!(
        lines[1],
        format!("time 4 {SERVER_IP} 37"),
        "{}",
        out.describe()
    );
    let unix: i64 = lines[2]
        .strip_prefix("unix ")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert_near_now(unix, before, after, "time via Python");
}

#[test]
fn udpkit_client_subcommands() {
    let Some(ns) = Netns::new("udpkit_client_subcommands") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);

    // echo MSG: the reply, plus a newline as it has none.
    let out = ns.udpkit(&["echo", SERVER_IP, "hello"]).out().ok();
    assert_eq!(out.stdout, b"hello\n", "{}", out.describe());
    // ... but no second newline when it has one.
    let out = ns.udpkit(&["echo", SERVER_IP, "line\n"]).out().ok();
    assert_eq!(out.stdout, b"line\n", "{}", out.describe());
    // echo --port explicitly.
    let out = ns
        .udpkit(&["echo", "--port", "7", SERVER_IP, "x"])
        .out()
        .ok();
    assert_eq!(out.stdout, b"x\n", "{}", out.describe());

    // echo from stdin: raw bytes, one datagram, printed raw.
    let payload = random_bytes(1472);
    let out = ns.udpkit(&["echo", SERVER_IP]).stdin(&payload).out().ok();
    assert_eq!(out.stdout.len(), payload.len(), "{}", out.describe());
    assert!(out.stdout == payload, "stdin echo came back altered");
    let out = ns
        .udpkit(&["echo", SERVER_IP])
        .stdin(b"\x00\x01binary\xff")
        .out()
        .ok();
    assert_eq!(out.stdout, b"\x00\x01binary\xff", "{}", out.describe());

    // daytime is covered by daytime_with_nc_and_udpkit_client.

    // time: RFC 3339 UTC.
    let before = now_unix();
    let out = ns.udpkit(&["time", SERVER_IP]).out().ok();
    let after = now_unix();
    let text = out.stdout_str();
    let stamp = text.trim();
    assert!(
        stamp.ends_with('Z'),
        "RFC 3339 UTC (…Z) expected: {}",
        out.describe()
    );
    let parsed = chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {}", out.describe()));
    assert_near_now(parsed.timestamp(), before, after, "udpkit time");

    // time --unix: Unix seconds.
    let before = now_unix();
    let out = ns.udpkit(&["time", SERVER_IP, "--unix"]).out().ok();
    let after = now_unix();
    let secs: i64 = out
        .stdout_str()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("not a number ({e}): {}", out.describe()));
    assert_near_now(secs, before, after, "udpkit time --unix");
}

#[test]
fn udpkit_client_send_prints_raw() {
    let Some(ns) = Netns::new("udpkit_client_send_prints_raw") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let out = ns
        .udpkit(&["send", SERVER_IP, "12000"])
        .stdin(b"from stdin\n")
        .out()
        .ok();
    assert_eq!(out.stdout, b"FROM STDIN\n", "{}", out.describe());
    let out = ns
        .udpkit(&["send", SERVER_IP, "12000"])
        .stdin(b"no newline")
        .out()
        .ok();
    assert_eq!(out.stdout, b"NO NEWLINE", "{}", out.describe());
    let out = ns.udpkit(&["send", SERVER_IP, "12001", "world"]).out().ok();
    assert_eq!(out.stdout, b"Hello world!\n", "{}", out.describe());
    let out = ns.udpkit(&["send", SERVER_IP, "12001", "exit"]).out().ok();
    assert_eq!(out.stdout, b"Good bye!\n", "{}", out.describe());
    // With MSG too the reply is printed raw: nothing added.
    let out = ns
        .udpkit(&["send", SERVER_IP, "12000", "Mixed Case 1"])
        .out()
        .ok();
    assert_eq!(
        out.stdout,
        b"MIXED CASE 1",
        "`udpkit send HOST PORT MSG` must print the reply raw: {}",
        out.describe()
    );
}

/// A client that gets no reply must fail by itself, quickly and clearly.
#[track_caller]
fn assert_clean_failure(out: &Out, budget: Duration) {
    let code = out.code();
    assert!(
        code.is_some() && code != Some(0) && code != Some(124) && code != Some(137),
        "must exit non-zero by itself (124/137: killed by `timeout`): {}",
        out.describe()
    );
    assert!(
        out.elapsed < budget,
        "took {:?}, more than {budget:?}",
        out.elapsed
    );
    let err = out.stderr_str().to_lowercase();
    assert!(
        [
            "no reply",
            "no answer",
            "no response",
            "timed out",
            "timeout",
            "refused",
            "unreachable"
        ]
        .iter()
        .any(|w| err.contains(w)),
        "stderr must say why (no reply / timed out / refused): {}",
        out.describe()
    );
}

#[test]
fn udpkit_client_timeout_and_closed_port() {
    let Some(ns) = Netns::new("udpkit_client_timeout_and_closed_port") else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);

    // Port 9999 is closed: 2 tries of 200 ms.
    let out = ns
        .udpkit(&[
            "echo",
            "--port",
            "9999",
            "--timeout",
            "200ms",
            "--retries",
            "1",
            SERVER_IP,
            "x",
        ])
        .out();
    assert_clean_failure(&out, Duration::from_secs(8));
    assert!(out.stdout.is_empty(), "{}", out.describe());

    let out = ns
        .udpkit(&[
            "time",
            "--port",
            "9999",
            "--timeout",
            "300ms",
            "--retries",
            "0",
            SERVER_IP,
        ])
        .out();
    assert_clean_failure(&out, Duration::from_secs(8));

    // Nobody at all at 192.168.69.7 (on the TAP's link, no ARP answer): the
    // client waits --timeout per attempt, 1 + --retries attempts, then says so.
    let out = ns
        .udpkit(&[
            "echo",
            "--timeout",
            "200ms",
            "--retries",
            "1",
            "192.168.69.7",
            "x",
        ])
        .out();
    assert_clean_failure(&out, Duration::from_secs(8));
    assert!(
        out.elapsed >= Duration::from_millis(380),
        "2 attempts of 200 ms took only {:?}: {}",
        out.elapsed,
        out.describe()
    );
    let err = out.stderr_str().to_lowercase();
    assert!(
        [
            "no reply",
            "no answer",
            "no response",
            "timed out",
            "timeout"
        ]
        .iter()
        .any(|w| err.contains(w)),
        "stderr must say no reply came: {}",
        out.describe()
    );

    // A bare number is seconds, as `nc -w 1` takes it: 2 attempts of 1 s.
    let out = ns
        .udpkit(&[
            "echo",
            "--timeout",
            "1",
            "--retries",
            "1",
            "192.168.69.7",
            "x",
        ])
        .out();
    assert_clean_failure(&out, Duration::from_secs(8));
    assert!(
        out.elapsed >= Duration::from_millis(1900),
        "2 attempts of --timeout 1 (second) took only {:?}: {}",
        out.elapsed,
        out.describe()
    );

    // More datagrams to closed ports, then the server must still serve.
    for port in [9, 19, 9999, 65535] {
        assert_eq!(one_shot(&ns, port, 0, 0.3, b"anyone?"), None, "port {port}");
    }
    server.assert_running();
    let out = ns.udpkit(&["echo", SERVER_IP, "still here"]).out().ok();
    assert_eq!(out.stdout, b"still here\n", "{}", out.describe());
    server.assert_running();
}

#[test]
fn loop_guard_ignores_service_source_ports() {
    let Some(ns) = Netns::new("loop_guard_ignores_service_source_ports") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);

    // From chargen (19), time (37) and our own upper (12000): no reply.
    for from in [19, 37, 12000] {
        assert_eq!(
            one_shot(&ns, 7, from, 1.0, b"loop?"),
            None,
            "echo answered a datagram from source port {from}"
        );
    }
    // The same with netcat from port 19, to echo and to hello.
    for port in [7, 12001] {
        let out = ns
            .run(&[
                "timeout",
                "-k",
                "2",
                "5",
                "nc",
                "-u",
                "-p",
                "19",
                "-W1",
                "-w1",
                SERVER_IP,
                &port.to_string(),
            ])
            .stdin(b"loop?\n")
            .out();
        assert!(
            out.stdout.is_empty(),
            "port {port} answered source port 19: {}",
            out.describe()
        );
        // nc exits 0 when it sent and heard nothing; 1 e.g. when it could
        // not bind port 19, which would make this check vacuous.
        assert!(out.success(), "nc from port 19 failed: {}", out.describe());
    }
    // A normal client right after is answered.
    assert_eq!(
        one_shot(&ns, 7, 0, 3.0, b"normal"),
        Some(b"normal".to_vec())
    );
    nc_expect(&ns, SERVER_IP, 7, b"normal nc\n", b"normal nc\n");
}

#[test]
fn subnet_broadcast_echo() {
    let Some(ns) = Netns::new("subnet_broadcast_echo") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.settimeout(3.0)
s.sendto(b"anyone there?", ("192.168.69.255", 7))
try:
    data, addr = s.recvfrom(4096)
    print("REPLY", data == b"anyone there?", addr[0], addr[1])
except socket.timeout:
    print("SILENT")
"#;
    let out = ns.python(script, &[]).ok();
    let routes = ns.ip(&["route", "show", "table", "local"]).stdout_str();
    assert_eq!(
        out.stdout_str().trim(),
        format!("REPLY True {SERVER_IP} 7"),
        "{}\nlocal routes of the namespace:\n{routes}",
        out.describe()
    );
}

#[test]
fn create_sets_up_and_removes_the_tap() {
    let Some(ns) = Netns::new("create_sets_up_and_removes_the_tap") else {
        return;
    };
    assert!(
        !ns.ip(&["link", "show", "tap0"]).success(),
        "fresh namespace has a tap0"
    );
    let mut server = Server::start(&ns, &["--create"]);

    let addr = ns.ip(&["addr", "show", "tap0"]).ok();
    let text = addr.stdout_str();
    assert!(
        text.contains(&format!("inet {HOST_CIDR} ")),
        "{}",
        addr.describe()
    );
    let flags = text
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags.split(',').collect::<Vec<_>>())
        .unwrap_or_default();
    assert!(
        flags.contains(&"UP") && flags.contains(&"LOWER_UP"),
        "{}",
        addr.describe()
    );

    // One startup line per service, with address and port.
    let log = server.log();
    for (service, port) in [
        ("echo", "7"),
        ("daytime", "13"),
        ("time", "37"),
        ("upper", "12000"),
        ("hello", "12001"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(SERVER_IP) && log_has_line_with(l, &[service, port])),
            "no startup line for {service} with {SERVER_IP} and port {port}; log:\n{log}"
        );
    }

    nc_expect(&ns, SERVER_IP, 7, b"count me\n", b"count me\n");
    nc_expect(&ns, SERVER_IP, 12000, b"me too\n", b"ME TOO\n");

    let status = server.stop(libc::SIGTERM);
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM; log:\n{log}");
    let table = log
        .split_once("received")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("no counters table (header with `received`); log:\n{log}"));
    for service in ["echo", "daytime", "time", "upper", "hello"] {
        assert!(
            log_has_line_with(table, &[service]),
            "counters table lacks {service}; log:\n{log}"
        );
    }
    let link = ns.ip(&["link", "show", "tap0"]);
    assert!(
        !link.success(),
        "tap0 still exists after exit: {}",
        link.describe()
    );
    assert!(
        ns.pids().is_empty(),
        "processes left in the namespace: {:?}",
        ns.pids()
    );
}

#[test]
fn existing_tap_is_used_and_left_alone() {
    let Some(ns) = Netns::new("existing_tap_is_used_and_left_alone") else {
        return;
    };
    ns.ip(&["tuntap", "add", "dev", "tap0", "mode", "tap"]).ok();
    ns.ip(&["addr", "add", HOST_CIDR, "brd", "+", "dev", "tap0"])
        .ok();
    ns.ip(&["link", "set", "tap0", "up"]).ok();

    // No --create: it must attach to the TAP that is there.
    let mut server = Server::start(&ns, &[]);
    nc_expect(&ns, SERVER_IP, 7, b"existing\n", b"existing\n");

    let status = server.stop(libc::SIGINT);
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit after SIGINT; log:\n{log}");
    assert!(
        log.contains("received"),
        "no counters table after SIGINT; log:\n{log}"
    );
    let addr = ns.ip(&["addr", "show", "tap0"]);
    assert!(
        addr.success() && addr.stdout_str().contains(&format!("inet {HOST_CIDR} ")),
        "the TAP udpkit did not create must stay as it was: {}",
        addr.describe()
    );
}

#[test]
fn custom_tap_address_and_mac() {
    let Some(ns) = Netns::new("custom_tap_address_and_mac") else {
        return;
    };
    let server = Server::start(
        &ns,
        &[
            "--tap",
            "e2e0",
            "--ip",
            "10.77.0.1/24",
            "--mac",
            "02:00:00:00:77:01",
            "--create",
            "--host-ip",
            "10.77.0.100/24",
        ],
    );
    assert_eq!(server.ip, "10.77.0.1");
    let addr = ns.ip(&["addr", "show", "e2e0"]).ok();
    assert!(
        addr.stdout_str().contains("inet 10.77.0.100/24 "),
        "{}",
        addr.describe()
    );
    let out = ns.udpkit(&["echo", "10.77.0.1", "custom"]).out().ok();
    assert_eq!(out.stdout, b"custom\n", "{}", out.describe());
    let neigh = ns.ip(&["neigh", "show", "10.77.0.1", "dev", "e2e0"]).ok();
    assert!(
        neigh.stdout_str().contains("lladdr 02:00:00:00:77:01"),
        "--mac not used: {}",
        neigh.describe()
    );
}

#[test]
fn services_subset_and_port_override() {
    let Some(ns) = Netns::new("services_subset_and_port_override") else {
        return;
    };
    let server = Server::start(
        &ns,
        &["--create", "--services", "echo,time", "--port", "echo=7007"],
    );
    assert_eq!(server.echo_port, Some(7007));
    assert!(
        log_has_line_with(&server.log(), &["echo", "7007"]),
        "no startup line for echo on 7007; log:\n{}",
        server.log()
    );

    let out = ns
        .udpkit(&["echo", "--port", "7007", SERVER_IP, "moved"])
        .out()
        .ok();
    assert_eq!(out.stdout, b"moved\n", "{}", out.describe());
    assert_eq!(
        one_shot(&ns, 7007, 0, 3.0, b"python"),
        Some(b"python".to_vec())
    );
    // time runs on its default port.
    let time = one_shot(&ns, 37, 0, 3.0, b"").expect("time on 37 answers");
    assert_eq!(time.len(), 4);
    // Nothing on 7 (echo moved), 13 (daytime off), 12000, 12001 (off).
    for port in [7, 13, 12000, 12001] {
        assert_eq!(
            one_shot(&ns, port, 0, 1.0, b"anyone?\n"),
            None,
            "port {port} answered"
        );
    }
    let out = nc(&ns, SERVER_IP, 7, b"x\n");
    assert!(out.stdout.is_empty(), "{}", out.describe());
}

#[test]
fn serve_without_root_fails_helpfully() {
    let Some(ns) = Netns::new("serve_without_root_fails_helpfully") else {
        return;
    };
    let nobody = [
        "timeout",
        "-k",
        "2",
        "15",
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        support::BIN,
        "serve",
    ];
    let check = |out: &Out| {
        assert!(
            out.code().is_some_and(|c| c != 0 && c != 124 && c != 137),
            "must exit non-zero by itself: {}",
            out.describe()
        );
        let err = out.stderr_str();
        assert!(
            err.contains("sudo") || err.contains("CAP_NET_ADMIN"),
            "stderr must mention sudo or CAP_NET_ADMIN: {}",
            out.describe()
        );
    };

    // --create, no TAP yet.
    let mut argv = nobody.to_vec();
    argv.push("--create");
    let out = ns.run(&argv).out();
    check(&out);
    assert!(
        !ns.ip(&["link", "show", "tap0"]).success(),
        "a TAP appeared anyway"
    );

    // An existing TAP owned by root, without --create.
    ns.ip(&["tuntap", "add", "dev", "tap0", "mode", "tap"]).ok();
    let out = ns.run(&nobody).out();
    check(&out);
}

/// Not an end-to-end test: checks the ctime parser the tests rely on.
#[test]
fn ctime_parser_self_check() {
    assert_eq!(parse_ctime("Mon Nov 23 15:04:05 2026"), 1_795_446_245);
    assert_eq!(parse_ctime("Tue Nov  3 15:04:05 2026"), 1_793_718_245);
    assert!(support::try_parse_ctime("Tue Nov 03 15:04:05 2026").is_err());
    assert!(support::try_parse_ctime("Mon Nov 23 15:04:05 2026\r\n").is_err());
    assert!(log_has_line_with(
        "[INFO] echo on 192.168.69.1:7",
        &["echo", "7"]
    ));
    assert_eq!(
        parse_date_loosely("Mon Nov 23 15:04:05 UTC 2026"),
        Some(1_795_446_245)
    );
    assert_eq!(
        parse_date_loosely("Tue Nov  3 15:04:05 2026"),
        Some(1_793_718_245)
    );
    assert_eq!(parse_date_loosely("Tue Nov  3 15:04:05 CET 2026"), None);
    assert!(!log_has_line_with(
        "[INFO] daytime on 192.168.69.1:13",
        &["time", "13"]
    ));
}
