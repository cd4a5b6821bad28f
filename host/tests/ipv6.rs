//! IPv6 end to end: the real `udpkit serve --create` on a real TAP in a
//! private network namespace, at fdaa::1/64 and fe80::1/64 beside
//! 192.168.69.1, hit by `ping -6`, `nc -6 -u`, Python and the `udpkit`
//! clients. The Linux side of the TAP is fdaa::100/64 (and its own
//! link-local address). Everything stays inside the namespace the test
//! creates; every client runs under `timeout`.

mod support;

use support::{random_bytes, Netns, Out, Server};

const SERVER_V6: &str = "fdaa::1";
const SERVER_LINK_LOCAL: &str = "fe80::1%tap0";

fn nc6(ns: &Netns, ip: &str, port: u16, input: &[u8]) -> Out {
    let port = port.to_string();
    ns.run(&[
        "timeout", "-k", "2", "5", "nc", "-6", "-u", "-W1", "-w2", ip, &port,
    ])
    .stdin(input)
    .out()
}

#[test]
fn the_linux_side_gets_its_ipv6_address_with_create() {
    let Some(ns) = Netns::new("ipv6_create") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let addresses = ns.ip(&["-6", "addr", "show", "dev", "tap0"]).ok();
    assert!(
        addresses.stdout_str().contains("inet6 fdaa::100/64"),
        "{}",
        addresses.describe()
    );
}

#[test]
fn ping6_is_answered_on_the_global_and_the_link_local_address() {
    let Some(ns) = Netns::new("ipv6_ping") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    for target in [SERVER_V6, SERVER_LINK_LOCAL] {
        let out = ns
            .run(&[
                "timeout", "-k", "2", "10", "ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", target,
            ])
            .out();
        assert!(
            out.stdout_str().contains("3 received"),
            "{target}: {}",
            out.describe()
        );
    }
}

#[test]
fn nc6_gets_echo_upper_hello_and_daytime() {
    let Some(ns) = Netns::new("ipv6_nc") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    for (port, input, expected) in [
        (7, &b"six\n"[..], &b"six\n"[..]),
        (12000, b"louder\n", b"LOUDER\n"),
        (12001, b"ada\n", b"Hello ada!\n"),
    ] {
        let out = nc6(&ns, SERVER_V6, port, input);
        assert!(out.stdout == expected, "port {port}: {}", out.describe());
    }
    let out = nc6(&ns, SERVER_V6, 13, b"\n");
    let line = out.stdout_str();
    assert!(
        line.ends_with("\r\n") && line.len() == 26,
        "daytime: {}",
        out.describe()
    );
    // The largest datagram an unfragmented IPv6 packet carries.
    let big = random_bytes(1452);
    let out = nc6(&ns, SERVER_V6, 7, &big);
    assert!(out.stdout == big, "1452 bytes: {}", out.describe());
}

#[test]
fn python_and_the_udpkit_clients_speak_ipv6() {
    let Some(ns) = Netns::new("ipv6_clients") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"from python", (sys.argv[1], 7))
data, addr = s.recvfrom(2048)
print(data.decode(), addr[0], addr[1])
"#;
    for (target, expected_source) in [(SERVER_V6, "fdaa::1"), (SERVER_LINK_LOCAL, "fe80::1")] {
        let out = ns.python(script, &[target]).ok();
        let text = out.stdout_str();
        assert!(
            text.starts_with("from python ") && text.contains(&format!(" {expected_source}")),
            "{target}: {}",
            out.describe()
        );
    }
    let out = ns.udpkit(&["echo", SERVER_V6, "hello over six"]).out().ok();
    assert_eq!(out.stdout_str(), "hello over six\n", "{}", out.describe());
    let out = ns.udpkit(&["time", "--unix", SERVER_V6]).out().ok();
    let reported: i64 = out.stdout_str().trim().parse().expect("unix seconds");
    let now = support::now_unix();
    assert!((reported - now).abs() <= 2, "{}", out.describe());
}

#[test]
fn no_ipv6_means_no_answer_on_ipv6() {
    let Some(ns) = Netns::new("ipv6_off") else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--no-ipv6"]);
    let out = ns
        .run(&[
            "timeout", "-k", "2", "10", "ping", "-6", "-c", "1", "-W", "1", SERVER_V6,
        ])
        .out();
    assert!(!out.success(), "{}", out.describe());
    let out = ns
        .run(&[
            "timeout",
            "-k",
            "2",
            "5",
            "nc",
            "-u",
            "-W1",
            "-w2",
            "192.168.69.1",
            "7",
        ])
        .stdin(b"still four\n")
        .out();
    assert!(out.stdout == b"still four\n", "{}", out.describe());
}

/// smoltcp 0.14 accepts a packet to any address whose last two bytes match
/// one of its solicited-node groups; before the fix udpkit answered a ping
/// to 2001:db8::1 from 2001:db8::1. Linux is told our MAC for foreign
/// addresses, so its pings reach the TAP; none may be answered.
#[test]
fn pings_to_addresses_that_are_not_ours_are_not_answered() {
    let Some(ns) = Netns::new("ipv6_foreign") else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    for foreign in ["2001:db8::1", "fdaa::100:1"] {
        ns.ip(&["-6", "route", "replace", foreign, "dev", "tap0"])
            .ok();
        ns.ip(&[
            "-6",
            "neigh",
            "replace",
            foreign,
            "lladdr",
            "02:00:00:00:00:01",
            "dev",
            "tap0",
            "nud",
            "permanent",
        ])
        .ok();
        let out = ns
            .run(&[
                "timeout", "-k", "2", "10", "ping", "-6", "-c", "2", "-i", "0.2", "-W", "1",
                foreign,
            ])
            .out();
        assert!(
            out.stdout_str().contains(" 0 received"),
            "{foreign} answered: {}",
            out.describe()
        );
    }
    // Our own address still is.
    let out = ns
        .run(&[
            "timeout", "-k", "2", "10", "ping", "-6", "-c", "1", "-W", "2", SERVER_V6,
        ])
        .out();
    assert!(
        out.stdout_str().contains("1 received"),
        "{}",
        out.describe()
    );
    server.stop(libc::SIGINT);
    assert!(
        server.log().contains("foreign"),
        "the drops are counted on exit: {}",
        server.log()
    );
}
