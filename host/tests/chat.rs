//! End to end: the chat service of the real `udpkit serve` on a real TAP,
//! talked to by `nc -u` clients, by `udpkit chat` in line mode, and by
//! `udpkit chat`'s terminal UI driven in `tmux`.
//!
//! Network safety: every TAP, address and datagram lives in a network
//! namespace the test creates (`udpkit-e2e-<pid>-<n>`, the shared fixture
//! of `support`); every client runs through `ip netns exec` under
//! `timeout`; the [`Netns`] guard kills every process inside and deletes
//! the namespace when the test ends, however it ends, and the [`Server`]
//! guard stops the server before. Nothing is configured in the machine's
//! own namespace, and every wait is bounded.
//!
//! These tests need root (namespaces, TAPs) and `ip`, `nc` (OpenBSD),
//! `timeout`, `python3` and `tmux`; without root they fail and say why,
//! unless `UDPKIT_SKIP_E2E=1`, which skips them with a message.

mod support;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use support::peer::{Peer, CHAT_PORT, PATIENCE};
use support::{Netns, Out, Server, BIN, SERVER_IP};

/// Tools, and the Debian package of each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ss", "iproute2"),
    ("nc", "netcat-openbsd"),
    ("timeout", "coreutils"),
    ("python3", "python3"),
    ("tmux", "tmux"),
];

// ---------------------------------------------------------------------------
// Fixture: the namespace and the server are the shared ones of `support`.

/// The namespace of `test`, checked for [`TOOLS`]; `None` when the tests
/// are skipped.
fn netns(test: &str) -> Option<Netns> {
    Netns::with_tools(test, TOOLS)
}

/// Sleeps a little, for negative checks ("nothing more arrived").
fn settle() {
    thread::sleep(Duration::from_millis(1500));
}

// ---------------------------------------------------------------------------
// nc clients

/// A member on IPv4 and one on IPv6 hear each other. Before the fix the
/// first line relayed across families panicked the server inside smoltcp
/// (each datagram left from the address the request came in on).
#[test]
fn an_ipv4_and_an_ipv6_member_hear_each_other() {
    let Some(ns) = netns("chat_families") else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    let mut four = Peer::nc(&ns, "four", 41001);
    let mut six = Peer::nc6(&ns, "six", 41002);
    four.join("four");
    six.join("six");
    four.say("over to six");
    six.expect("[lobby] <four> over to six");
    six.say("back to four");
    four.expect("[lobby] <six> back to four");
    server.assert_running();
}

/// Three `nc -u` clients join, talk, `/msg` each other; one quits, one
/// expires while the third keeps its membership with `/ping`.
#[test]
fn three_nc_clients_talk_whisper_quit_and_expire() {
    let Some(ns) = netns("three_nc_clients_talk_whisper_quit_and_expire") else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--chat-idle", "6s"]);
    let mut alice = Peer::nc(&ns, "alice", 40001);
    let mut bob = Peer::nc(&ns, "bob", 40002);
    let mut carol = Peer::nc(&ns, "carol", 40003);
    alice.join("alice");
    alice.expect("*** welcome alice, you are in lobby with: alice");
    bob.join("bob");
    bob.expect("*** welcome bob, you are in lobby with: alice, bob");
    alice.expect("*** bob joined lobby");
    carol.join("carol");
    carol.expect("*** welcome carol, you are in lobby with: alice, bob, carol");
    alice.expect("*** carol joined lobby");
    bob.expect("*** carol joined lobby");

    alice.say("hello all");
    bob.expect("[lobby] <alice> hello all");
    carol.expect("[lobby] <alice> hello all");

    bob.say("/msg carol psst, only for you");
    carol.expect("[private] <bob> psst, only for you");
    bob.expect("[private to carol] psst, only for you");

    carol.say("/me waves");
    alice.expect("[lobby] * carol waves");
    bob.expect("[lobby] * carol waves");

    carol.say("/quit");
    carol.expect("*** bye carol");
    alice.expect("*** carol left lobby (quit)");
    bob.expect("*** carol left lobby (quit)");

    // bob says nothing more; alice keeps her membership with /ping, one at
    // a time, until the server drops bob (6 s idle).
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut pings = 0;
    while alice.count("*** bob left lobby (idle for 6 s)") == 0 {
        assert!(
            Instant::now() < deadline,
            "bob never expired\n{}\n{}",
            alice.describe(),
            bob.describe()
        );
        pings += 1;
        alice.say("/ping");
        alice.expect_n("*** pong", pings);
        thread::sleep(Duration::from_millis(700));
    }
    // The expired member is told on its next datagram, and nothing it says
    // is relayed.
    bob.say("anyone there?");
    bob.expect("*** error: you are not in the chat (members silent for 6 s leave it)");
    alice.say("/who");
    alice.expect("*** in lobby with: alice");
    let who: Vec<String> = alice
        .out()
        .lines()
        .filter(|l| l.starts_with("*** in lobby with:"))
        .map(str::to_string)
        .collect();
    assert_eq!(who, ["*** in lobby with: alice"], "{}", alice.describe());
    settle();
    alice.assert_no_line("[lobby] <bob> anyone there?");
    alice.assert_no_line("[private]");
    assert!(
        !alice.out().contains("psst"),
        "a private message reached a third member\n{}",
        alice.describe()
    );
}

/// `udpkit chat` in line mode talks with an `nc -u` client: messages and
/// private messages both ways, a visible `/who` but a hidden automatic
/// one, joins refused with a clear error, and end of input leaves.
#[test]
fn line_mode_client_talks_with_nc() {
    let Some(ns) = netns("line_mode_client_talks_with_nc") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let mut alice = Peer::nc(&ns, "alice", 40001);
    alice.join("alice");

    let mut bob = Peer::chat(&ns, "bob", &[]);
    bob.expect("*** welcome bob, you are in lobby with: alice, bob");
    alice.expect("*** bob joined lobby");

    bob.say("hi alice, from udpkit chat");
    alice.expect("[lobby] <bob> hi alice, from udpkit chat");
    alice.say("hi bob, from nc");
    bob.expect("[lobby] <alice> hi bob, from nc");
    alice.say("/msg bob a secret");
    bob.expect("[private] <alice> a secret");
    bob.say("/msg alice a secret back");
    alice.expect("[private] <bob> a secret back");
    bob.expect("[private to alice] a secret back");
    bob.say("/me nods");
    alice.expect("[lobby] * bob nods");
    // UTF-8 both ways.
    bob.say("grüße, ünïcödé ✓");
    alice.expect("[lobby] <bob> grüße, ünïcödé ✓");

    // A join makes bob's client check the member list with a /who whose
    // answer is not shown; bob's own /who is.
    let mut carol = Peer::nc(&ns, "carol", 40003);
    carol.join("carol");
    bob.expect("*** carol joined lobby");
    settle();
    bob.assert_no_line("*** in lobby with:");
    bob.say("/who");
    bob.expect("*** in lobby with: alice, bob, carol");
    bob.say("/ping");
    bob.expect("*** pong");

    // A datagram to bob's port from anyone but the server is not shown
    // (the client's socket is connected to the server).
    let sockets = ns
        .timed(
            20,
            &["ss", "-Hunp", "dst", &format!("{SERVER_IP}:{CHAT_PORT}")],
        )
        .out()
        .stdout_str();
    let bob_port = sockets
        .lines()
        .find(|l| l.contains("\"udpkit\""))
        // The first address is the local one (columns vary by version).
        .and_then(|l| l.split_whitespace().find(|f| f.contains(':')))
        .and_then(|local| local.rsplit_once(':'))
        .map(|(_, port)| port.to_string())
        .unwrap_or_else(|| panic!("bob's socket not found in:\n{sockets}"));
    const STRANGER: &str = "import socket, sys\n\
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
        s.sendto(b'*** forged line\\n', ('192.168.69.100', int(sys.argv[1])))\n";
    let stranger = ns.python(STRANGER, &[&bob_port]);
    assert!(stranger.success(), "{}", stranger.stderr_str());
    alice.say("after the forgery");
    bob.expect("[lobby] <alice> after the forgery");
    bob.assert_no_line("*** forged line");

    // Joins that cannot succeed exit non-zero and say why.
    let mut taken = Peer::chat(&ns, "alice", &["--timeout", "1s", "--retries", "3"]);
    let status = taken.close_and_wait();
    assert!(
        !status.success(),
        "a taken nick must fail\n{}",
        taken.describe()
    );
    assert!(
        taken.err().contains("nick alice is taken, pick another"),
        "{}",
        taken.describe()
    );
    let mut bad = Peer::chat(&ns, "not/a_nick", &["--timeout", "1s"]);
    assert!(!bad.close_and_wait().success(), "{}", bad.describe());
    assert!(
        bad.err()
            .contains("nick may only use letters, digits, _ and -"),
        "{}",
        bad.describe()
    );
    let mut closed = Peer::spawn(
        &ns,
        "closed-port",
        &[
            BIN,
            "chat",
            SERVER_IP,
            "--port",
            "5556",
            "--nick",
            "dave",
            "--timeout",
            "1s",
        ],
    );
    assert!(!closed.close_and_wait().success(), "{}", closed.describe());
    assert!(
        closed
            .err()
            .contains("no chat service listens on that port"),
        "{}",
        closed.describe()
    );
    let mut nobody = Peer::spawn(
        &ns,
        "nobody",
        &[
            BIN,
            "chat",
            "192.168.69.2",
            "--nick",
            "dave",
            "--timeout",
            "300ms",
            "--retries",
            "1",
        ],
    );
    assert!(!nobody.close_and_wait().success(), "{}", nobody.describe());
    assert!(
        nobody
            .err()
            .contains("no answer from 192.168.69.2:5555 to /nick after 2 attempt(s)"),
        "{}",
        nobody.describe()
    );
    // None of them disturbed the room.
    alice.assert_no_line("*** dave");

    // End of input: bob leaves with /quit and exits cleanly.
    let status = bob.close_and_wait();
    assert!(status.success(), "{}", bob.describe());
    alice.expect("*** bob left lobby (quit)");
    carol.expect("*** bob left lobby (quit)");
    let last = bob.out().lines().last().map(str::to_string);
    assert_eq!(last.as_deref(), Some("*** bye bob"), "{}", bob.describe());
    assert_eq!(bob.count("*** pong"), 1, "{}", bob.describe());
}

/// The keepalive keeps `udpkit chat` a member past the server's idle
/// timeout without showing its pongs; a stopped server is noticed, and so
/// is its return, after which the client is (again) a member.
#[test]
fn line_mode_keepalive_and_a_server_that_stops_answering() {
    let Some(ns) = netns("line_mode_keepalive_and_a_server_that_stops_answering") else {
        return;
    };
    let server = Server::start(&ns, &["--create", "--chat-idle", "3s"]);
    let bob = Peer::chat(
        &ns,
        "bob",
        &["--keepalive", "1s", "--timeout", "1s", "--retries", "1"],
    );
    bob.expect("*** welcome bob, you are in lobby with: bob");
    // Twice the idle timeout, silent but for the keepalive.
    thread::sleep(Duration::from_secs(6));
    let mut alice = Peer::nc(&ns, "alice", 40001);
    alice.join("alice");
    alice.expect("*** welcome alice, you are in lobby with: bob, alice");
    bob.expect("*** alice joined lobby");
    bob.assert_no_line("*** pong");
    assert!(!bob.err().contains("not answering"), "{}", bob.describe());

    server.signal(libc::SIGSTOP);
    bob.expect_err("server not answering");
    server.signal(libc::SIGCONT);
    bob.expect_err("server is back");
    // Whether the server, resuming, expired bob first (then the client
    // rejoins) or took his queued pings first, bob is a member again.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut carol = Peer::nc(&ns, "carol", 40003);
    carol.join("carol");
    let mut asked = 0;
    loop {
        asked += 1;
        carol.say("/who");
        carol.expect_n("*** in lobby with:", asked);
        let last = carol
            .out()
            .lines()
            .rfind(|l| l.starts_with("*** in lobby with:"))
            .unwrap_or_default()
            .to_string();
        if last.split([' ', ',']).any(|w| w == "bob") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bob is not a member again\n{}\n{}",
            carol.describe(),
            bob.describe()
        );
        thread::sleep(Duration::from_millis(700));
    }
    // Neither the automatic pongs nor the late ones of the pings sent
    // while the server was stopped are shown.
    bob.assert_no_line("*** pong");
}

/// When the server dropped the membership (keepalive slower than the
/// server's idle timeout), the client rejoins, in its room.
#[test]
fn line_mode_rejoins_after_its_membership_expired() {
    let Some(ns) = netns("line_mode_rejoins_after_its_membership_expired") else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--chat-idle", "2s"]);
    let bob = Peer::chat(
        &ns,
        "bob",
        &["--room", "games", "--keepalive", "4s", "--timeout", "1s"],
    );
    bob.expect("*** welcome bob, you are in games with: bob");
    bob.expect("*** error: you are not in the chat");
    bob.expect_err("rejoining as bob");
    bob.expect_n("*** welcome bob, you are in games with: bob", 2);
    bob.expect("*** welcome bob, you are in lobby");
    assert!(
        !bob.err().contains("could not rejoin"),
        "{}",
        bob.describe()
    );
}

/// A flood of `/nick` from many source ports fills the member table; the
/// rest are told "server full", and the members keep chatting.
#[test]
fn a_flood_fills_the_member_table_and_members_keep_chatting() {
    let Some(ns) = netns("a_flood_fills_the_member_table_and_members_keep_chatting") else {
        return;
    };
    let _server = Server::start(&ns, &["--create", "--chat-members", "4"]);
    let mut alice = Peer::nc(&ns, "alice", 40001);
    let mut bob = Peer::nc(&ns, "bob", 40002);
    alice.join("alice");
    bob.join("bob");

    const FLOOD: &str = r#"
import select, socket, sys, time
server = (sys.argv[1], int(sys.argv[2]))
sockets = []
for i in range(int(sys.argv[3])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.connect(server)
    sockets.append(s)
for i, s in enumerate(sockets):
    s.send(b"/nick flood%d\n" % i)
end = time.time() + float(sys.argv[4])
while True:
    left = end - time.time()
    if left <= 0:
        break
    ready, _, _ = select.select(sockets, [], [], left)
    for s in ready:
        try:
            data = s.recv(2048)
        except OSError as e:
            print("%d oserror %s" % (s.getsockname()[1], e), flush=True)
            continue
        for line in data.decode(errors="replace").splitlines():
            print("%d %s" % (s.getsockname()[1], line), flush=True)
"#;
    let flood = ns.python(FLOOD, &[SERVER_IP, CHAT_PORT, "40", "3"]);
    let out = flood.stdout_str();
    assert!(
        flood.success(),
        "flood failed: {:?}\n{out}\n{}",
        flood.status,
        flood.stderr_str()
    );
    let replies: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let welcomed: Vec<&str> = replies
        .iter()
        .filter(|(_, l)| l.starts_with("*** welcome flood"))
        .map(|(p, _)| *p)
        .collect();
    let full = replies
        .iter()
        .filter(|(_, l)| *l == "*** error: server full (4 members), try again later")
        .count();
    assert_eq!(welcomed.len(), 2, "two free places\n{out}");
    assert!(full >= 1, "no 'server full'\n{out}");
    for (port, line) in &replies {
        assert!(
            line.starts_with("*** welcome flood")
                || line.starts_with("*** error: server full")
                || (welcomed.contains(port) && line.starts_with("*** flood")),
            "unexpected reply {line:?} to {port}\n{out}"
        );
    }
    alice.expect_n("*** flood", 2);

    // The members still talk, both ways.
    alice.say("still chatting");
    bob.expect("[lobby] <alice> still chatting");
    bob.say("/msg alice and whispering");
    alice.expect("[private] <bob> and whispering");

    // A newcomer is told, and udpkit chat exits non-zero saying so.
    let mut carol = Peer::chat(&ns, "carol", &["--timeout", "1s", "--retries", "5"]);
    let status = carol.close_and_wait();
    assert!(!status.success(), "{}", carol.describe());
    assert!(
        carol.err().contains("server full (4 members)"),
        "{}",
        carol.describe()
    );
    alice.assert_no_line("*** carol");
}

// ---------------------------------------------------------------------------
// The terminal UI, in tmux

/// A tmux server of one test, on its own socket, inside the namespace.
struct Tmux<'a> {
    ns: &'a Netns,
    socket: String,
}

impl Tmux<'_> {
    /// `tmux <args...>` on this server's socket, under `timeout 20`.
    fn cmd(&self, args: &[&str]) -> Out {
        let mut argv = vec!["env", "TERM=xterm-256color", "tmux", "-S", &self.socket];
        argv.extend_from_slice(args);
        self.ns.timed(20, &argv).out()
    }

    fn capture(&self) -> String {
        let out = self.cmd(&["capture-pane", "-p", "-t", "chat"]);
        assert!(
            out.success(),
            "tmux capture-pane failed: {}",
            out.stderr_str()
        );
        out.stdout_str()
    }

    /// Waits, bounded, until the pane satisfies `check`; returns it.
    #[track_caller]
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let pane = self.capture();
            if check(&pane) {
                return pane;
            }
            assert!(
                Instant::now() < deadline,
                "the pane never showed {what} within {PATIENCE:?}; it shows:\n{pane}"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "chat"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.success(), "send-keys: {}", out.stderr_str());
    }
}

impl Drop for Tmux<'_> {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
        let _ = fs::remove_file(&self.socket);
    }
}

/// The input line of a captured pane: the line with the `> ` prompt.
fn input_line(pane: &str) -> String {
    pane.lines()
        .rev()
        .find(|l| l.contains("│> "))
        .unwrap_or_default()
        .to_string()
}

/// A message arrives while a line is half typed: it shows in the message
/// pane and the half-typed text stays on the input line; Enter sends it,
/// Ctrl-C leaves with /quit and restores the terminal.
#[test]
fn tui_shows_a_message_arriving_while_a_line_is_half_typed() {
    let Some(ns) = netns("tui_shows_a_message_arriving_while_a_line_is_half_typed") else {
        return;
    };
    let _server = Server::start(&ns, &["--create"]);
    let mut alice = Peer::nc(&ns, "alice", 40001);
    alice.join("alice");

    // A short path: a Unix socket's path has at most 107 bytes.
    let tmux = Tmux {
        ns: &ns,
        socket: std::env::temp_dir()
            .join(format!("{}.tmux", ns.name()))
            .to_string_lossy()
            .into_owned(),
    };
    let script = format!(
        "timeout --foreground -k 2 120 {BIN} chat {SERVER_IP} --nick bob; echo EXITED $?; sleep 120"
    );
    let session = tmux.cmd(&[
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "100",
        "-y",
        "30",
        &script,
    ]);
    assert!(
        session.success(),
        "tmux new-session: {}",
        session.stderr_str()
    );

    let pane = tmux.wait_for("the welcome", |p| {
        p.contains("*** welcome bob, you are in lobby with: alice, bob")
    });
    assert!(pane.contains("#lobby (2)"), "room panel\n{pane}");
    assert!(pane.contains("bob (you)"), "member list\n{pane}");
    assert!(
        pane.lines().any(|l| l.contains("│alice ")),
        "alice in the member list\n{pane}"
    );
    alice.expect("*** bob joined lobby");

    tmux.keys(&["-l", "half typed"]);
    tmux.wait_for("the half-typed line", |p| {
        input_line(p).contains("> half typed")
    });
    alice.say("hello from alice, mid-sentence");
    let pane = tmux.wait_for("alice's message", |p| {
        p.contains("[lobby] <alice> hello from alice, mid-sentence")
    });
    assert!(
        input_line(&pane).contains("> half typed"),
        "the half-typed text is gone from the input line\n{pane}"
    );
    alice.assert_no_line("[lobby] <bob>");

    // A private message is shown too, and the half line still waits.
    alice.say("/msg bob psst");
    let pane = tmux.wait_for("the private message", |p| {
        p.contains("[private] <alice> psst")
    });
    assert!(input_line(&pane).contains("> half typed"), "{pane}");

    tmux.keys(&["-l", " line"]);
    tmux.keys(&["Enter"]);
    alice.expect("[lobby] <bob> half typed line");
    let pane = tmux.wait_for("the sent line and an empty input line", |p| {
        p.contains("[lobby] <bob> half typed line") && !input_line(p).contains("half")
    });
    assert!(input_line(&pane).contains("> "), "{pane}");

    // A rename updates the member list.
    alice.say("/nick alicia");
    tmux.wait_for("the rename in the member list", |p| {
        p.lines().any(|l| l.contains("│alicia "))
    });

    tmux.keys(&["C-c"]);
    alice.expect("*** bob left lobby (quit)");
    let pane = tmux.wait_for("the shell after the client", |p| p.contains("EXITED 0"));
    assert!(
        !pane.contains("messages (PgUp"),
        "the terminal UI is still on screen after exit\n{pane}"
    );
}
