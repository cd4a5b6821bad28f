//! The clients of the beginners' socket tutorials, against `udpkit serve` on
//! a TAP in a private network namespace.
//!
//! Those tutorials (many of them in Chinese) write a UDP chat client as a
//! loop: send a line, then block in `recvfrom` for exactly one reply. With a
//! chat that never answered a member's own line, or an empty one, such a
//! client alone in the room hung forever. And their receive-only example
//! needs a server that takes datagrams and answers none: discard (RFC 863).
//!
//! Network safety: everything runs inside a namespace each test creates
//! (host/tests/support: `Netns`), and the clients run inside it.

mod support;

use support::{log_has_line_with, Netns, Server, SERVER_IP};

/// A tutorial's chat client: for each line given, one `sendto` and one
/// blocking `recvfrom` (with a timeout, so a test cannot hang: a timeout
/// prints `NO REPLY` and exits with status 3). Prints each reply, one per
/// line, as `REPLY <text>`.
const LINE_THEN_ONE_REPLY: &str = r#"
import socket, sys
server = (sys.argv[1], int(sys.argv[2]))
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(3)
for line in sys.argv[3:]:
    sock.sendto((line + "\n").encode("utf-8"), server)
    try:
        data, _ = sock.recvfrom(2048)
    except socket.timeout:
        print("NO REPLY to %r" % line)
        sys.exit(3)
    print("REPLY " + data.decode("utf-8").rstrip("\n"))
"#;

#[test]
fn a_client_that_reads_one_reply_per_line_never_waits_alone_in_the_room() {
    let Some(ns) = Netns::new("tutorial_chat_client_alone") else {
        return;
    };
    let mut server = Server::start(&ns, &["--create", "--services", "chat"]);
    let out = ns.python(
        LINE_THEN_ONE_REPLY,
        &[SERVER_IP, "5555", "/nick 黎诗", "你好", "", "   ", "/quit"],
    );
    let stdout = out.stdout_str();
    assert!(out.success(), "{}", out.describe());
    let replies: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        replies,
        [
            "REPLY *** welcome 黎诗, you are in lobby with: 黎诗",
            "REPLY [lobby] <黎诗> 你好",
            "REPLY *** say something, or /help",
            "REPLY *** say something, or /help",
            "REPLY *** bye 黎诗",
        ],
        "{}",
        out.describe()
    );
    server.stop(libc::SIGTERM);
    let log = server.log();
    assert!(
        log_has_line_with(&log, &["echoed", "1"])
            && log_has_line_with(&log, &["empty", "lines", "2"]),
        "chat counters; log:\n{log}"
    );
}

#[test]
fn two_tutorial_clients_hear_each_other_and_themselves() {
    let Some(ns) = Netns::new("tutorial_chat_clients_two") else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--services", "chat"]);
    // alex joins first and stays (a second socket that only listens),
    // then 黎诗's one-reply-per-line client talks: each of its lines
    // comes back to it, and alex hears them.
    let listener = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(8)
sock.sendto("/nick alex\n".encode(), (sys.argv[1], 5555))
heard = []
while len(heard) < 3:
    data, _ = sock.recvfrom(2048)
    heard.append(data.decode("utf-8").rstrip("\n"))
print("\n".join(heard))
"#;
    let alex = ns
        .command(&["timeout", "15", "python3", "-c", listener, SERVER_IP])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = ns.python(
        LINE_THEN_ONE_REPLY,
        &[SERVER_IP, "5555", "/nick 黎诗", "你好 alex"],
    );
    assert!(out.success(), "{}", out.describe());
    assert_eq!(
        out.stdout_str().lines().collect::<Vec<_>>(),
        [
            "REPLY *** welcome 黎诗, you are in lobby with: alex, 黎诗",
            "REPLY [lobby] <黎诗> 你好 alex",
        ]
    );
    let alex = alex.wait_with_output().expect("alex");
    let heard = String::from_utf8_lossy(&alex.stdout);
    assert_eq!(
        heard.lines().collect::<Vec<_>>(),
        [
            "*** welcome alex, you are in lobby with: alex",
            "*** 黎诗 joined lobby",
            "[lobby] <黎诗> 你好 alex",
        ]
    );
}

#[test]
fn discard_counts_what_it_receives_and_answers_nothing() {
    let Some(ns) = Netns::new("tutorial_discard") else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    // The receive-only example: three datagrams, then a second of waiting
    // for an answer that must not come.
    let script = r#"
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.settimeout(1)
for text in ["one", "two", "three"]:
    sock.sendto(text.encode(), (sys.argv[1], 9))
try:
    data, peer = sock.recvfrom(2048)
    print("ANSWERED %r from %r" % (data, peer))
except socket.timeout:
    print("SILENT")
"#;
    let out = ns.python(script, &[SERVER_IP]);
    assert_eq!(out.stdout_str().trim(), "SILENT", "{}", out.describe());
    server.stop(libc::SIGTERM);
    let log = server.log();
    assert!(
        log_has_line_with(&log, &["discarded", "datagrams", "3"])
            && log_has_line_with(&log, &["discarded", "bytes", "11"]),
        "discard's counters; log:\n{log}"
    );
}
