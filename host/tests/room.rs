//! A room of machines: the real `udpkit serve` on a real TAP with many
//! hosts on its link at once, as in a classroom or a lab, rather than the
//! one host of the other end-to-end tests.
//!
//! The Linux side of the TAP gets up to a hundred addresses, each one a
//! host of the room; a Python script in the namespace binds one socket to
//! each, so every datagram comes from its own host, and speaks for them
//! all at the same moment:
//! - the echo service answers 100 hosts that ask at once, three rounds
//!   running, over IPv4 and over IPv4 and IPv6 mixed, and in a namespace
//!   made by `unshare --net` as well as by `ip netns add`;
//! - a chat of 32 members (its default size), each on a host of its own,
//!   hears every join and every line, right after the joins, in three
//!   rounds, and again after 70 s of silence (when the stack has forgotten
//!   every neighbor);
//! - a member whose host is gone during such a silence holds up none of
//!   the others' lines.
//!
//! Each test stops the server with SIGINT and shows its counters with the
//! figures when it fails.
//!
//! Network safety: every TAP, address and datagram lives in a network
//! namespace the test creates (the shared fixture of `support`); every
//! client runs inside it under `timeout`; every wait and loop is bounded.
//! These tests need root and `ip`, `python3`, `timeout` and util-linux
//! (`unshare`, `nsenter`, `setpriv`); without root they fail and say why,
//! unless `UDPKIT_SKIP_E2E=1`, which skips them with a message.

mod support;

use support::{Netns, Out, Server, SERVER_IP};

/// Tools, and the Debian package of each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nc", "netcat-openbsd"),
    ("python3", "python3"),
    ("timeout", "coreutils"),
    ("setpriv", "util-linux"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
];

/// udpkit's IPv6 address by default.
const SERVER_V6: &str = "fdaa::1";

/// Echo's port.
const ECHO_PORT: &str = "7";

/// Chat's port.
const CHAT_PORT: &str = "5555";

/// The IPv4 hosts of a room: 192.168.69.<first>... (the Linux side's own
/// address, .100, is not among them unless asked for).
fn ipv4_hosts(first: u8, count: u8) -> Vec<String> {
    (0..count)
        .map(|i| format!("192.168.69.{}", first + i))
        .collect()
}

/// The IPv6 hosts of a room: fdaa::2:1, fdaa::2:2, ...
fn ipv6_hosts(count: u16) -> Vec<String> {
    (1..=count).map(|i| format!("fdaa::2:{i:x}")).collect()
}

/// Gives the Linux side of `tap` every address of `hosts` (IPv6 ones
/// without duplicate address detection, usable at once), in one `ip -batch`.
#[track_caller]
fn add_hosts(ns: &Netns, tap: &str, hosts: &[String]) {
    let commands: Vec<String> = hosts
        .iter()
        .map(|host| {
            if host.contains(':') {
                format!("addr add {host}/64 dev {tap} nodad")
            } else {
                format!("addr add {host}/24 dev {tap}")
            }
        })
        .collect();
    let out = ns.ip_batch(&commands);
    assert!(
        out.success(),
        "cannot add the room's addresses: {}",
        out.describe()
    );
    let shown = ns.ip(&["addr", "show", "dev", tap]).ok().stdout_str();
    for host in hosts {
        assert!(
            shown.contains(&format!(" {host}/")),
            "{host} is not on {tap}:\n{shown}"
        );
    }
}

/// Writes the Python script `text` to the test's scratch directory (so
/// that a failing command reads `python3 <file> ...`, not the whole
/// script) and returns its path.
fn script_file(ns: &Netns, name: &str, text: &str) -> String {
    let path = ns.dir().join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {path:?}: {e}"));
    path.to_string_lossy().into_owned()
}

/// Stops the server with SIGINT (it prints its counters then) and returns
/// what it printed from `stopping` on.
fn stop_for_counters(server: &mut Server<'_>) -> String {
    let status = server.stop(libc::SIGINT);
    let log = server.log();
    let counters = match log.find("stopping") {
        Some(at) => log[at..].to_string(),
        None => log,
    };
    format!("udpkit serve exited ({status}); its counters:\n{counters}")
}

// ---------------------------------------------------------------------------
// Echo from a room

/// Python: one socket bound to each address of the room; every round, each
/// sends one echo request with its own bytes, all at once, then all wait
/// together, bounded, for their replies. A reply counts when it reaches
/// the socket of the address it answers, from the server's echo port, with
/// the bytes sent. One line per round:
/// `ROUND <r> OK <k> OF <n> WRONG <w> LAST <seconds> MISSING <a,b,...>`.
const ECHO_ROOM: &str = r#"
import os, select, socket, sys, time
port, rounds, wait = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
server4, server6 = sys.argv[4], sys.argv[5]
hosts = sys.argv[6:]
members = []
for host in hosts:
    v6 = ":" in host
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    members.append((host, s, server6 if v6 else server4))
by_fd = {s.fileno(): (host, server) for host, s, server in members}
for r in range(1, rounds + 1):
    expected = {}
    for i, (host, s, server) in enumerate(members):
        expected[s.fileno()] = b"round %d host %d %s " % (r, i, host.encode()) + os.urandom(12).hex().encode()
    start = time.monotonic()
    for host, s, server in members:
        s.sendto(expected[s.fileno()], (server, port))
    answered, wrong, last = {}, 0, None
    deadline = start + wait
    while len(answered) < len(members):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([s for _, s, _ in members], [], [], left)
        for s in ready:
            host, server = by_fd[s.fileno()]
            while True:
                try:
                    data, source = s.recvfrom(4096)
                except BlockingIOError:
                    break
                right = data == expected[s.fileno()] and source[0] == server and source[1] == port
                if right and s.fileno() not in answered:
                    last = answered[s.fileno()] = time.monotonic() - start
                else:
                    wrong += 1
                    print("WRONG to %s from %s: %r" % (host, source[:2], data[:80]), flush=True)
    missing = [by_fd[fd][0] for fd in expected if fd not in answered]
    print("ROUND %d OK %d OF %d WRONG %d LAST %s MISSING %s" % (
        r, len(answered), len(members), wrong,
        "-" if last is None else "%.3f" % last, ",".join(missing) or "-"), flush=True)
    time.sleep(0.5)
"#;

/// Rounds of the echo room.
const ECHO_ROUNDS: u64 = 3;

/// How long the room waits for a round's replies. The stack's watchdog
/// (`STALL_LIMIT`, 3 s) has dropped whatever is still queued by then.
const ECHO_WAIT: u64 = 6;

/// The outcome of one echo room: per round, (right replies, requests,
/// wrong replies), and the script's output.
struct EchoRoom {
    rounds: Vec<(usize, usize, usize)>,
    out: Out,
}

impl EchoRoom {
    fn right(&self) -> usize {
        self.rounds.iter().map(|r| r.0).sum()
    }

    fn asked(&self) -> usize {
        self.rounds.iter().map(|r| r.1).sum()
    }

    fn wrong(&self) -> usize {
        self.rounds.iter().map(|r| r.2).sum()
    }

    fn summary(&self) -> String {
        let rounds: Vec<String> = self
            .rounds
            .iter()
            .map(|(right, asked, _)| format!("{right}/{asked}"))
            .collect();
        format!(
            "{} of {} replies right (rounds: {}), {} wrong",
            self.right(),
            self.asked(),
            rounds.join(", "),
            self.wrong()
        )
    }
}

/// Runs [`ECHO_ROOM`] for `hosts` against the server.
fn echo_room(ns: &Netns, hosts: &[String]) -> EchoRoom {
    let rounds = ECHO_ROUNDS.to_string();
    let wait = ECHO_WAIT.to_string();
    let script = script_file(ns, "echo_room.py", ECHO_ROOM);
    let mut argv = vec![
        "python3", &script, ECHO_PORT, &rounds, &wait, SERVER_IP, SERVER_V6,
    ];
    argv.extend(hosts.iter().map(String::as_str));
    let out = ns.timed(ECHO_ROUNDS * (ECHO_WAIT + 1) + 20, &argv).out();
    let rounds = out
        .stdout_str()
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["ROUND", _, "OK", right, "OF", asked, "WRONG", wrong, ..] => Some((
                    right.parse().ok()?,
                    asked.parse().ok()?,
                    wrong.parse().ok()?,
                )),
                _ => None,
            }
        })
        .collect();
    EchoRoom { rounds, out }
}

/// Starts the server with `args`, gives the Linux side of its TAP `hosts`,
/// runs the echo room and asserts that every host got every reply.
fn assert_every_host_gets_its_echo(ns: &Netns, args: &[&str], hosts: &[String]) {
    let mut server = Server::start(ns, args);
    add_hosts(ns, &server.tap.clone(), hosts);
    let room = echo_room(ns, hosts);
    let counters = stop_for_counters(&mut server);
    let complete = room.out.success()
        && room.rounds.len() == ECHO_ROUNDS as usize
        && room.right() == room.asked()
        && room.asked() == hosts.len() * ECHO_ROUNDS as usize
        && room.wrong() == 0;
    eprintln!("echo room of {} hosts: {}", hosts.len(), room.summary());
    assert!(
        complete,
        "not every host of the room got its echo: {}\n{}\n{counters}",
        room.summary(),
        room.out.describe()
    );
}

/// 100 hosts on the link each send one echo request at the same moment,
/// three rounds running: every one gets its own bytes back, at its own
/// address, every round.
#[test]
fn a_room_of_100_hosts_each_gets_its_echo_three_rounds_running() {
    let Some(ns) = Netns::with_tools("a_room_of_100_hosts_each_gets_its_echo", TOOLS) else {
        return;
    };
    let hosts = ipv4_hosts(101, 100);
    assert_every_host_gets_its_echo(&ns, &["--create"], &hosts);
}

/// The same with 50 IPv4 and 50 IPv6 hosts asking at once: neighbors of
/// both families share the stack's neighbor cache.
#[test]
fn a_room_of_50_ipv4_and_50_ipv6_hosts_each_gets_its_echo() {
    let Some(ns) = Netns::with_tools("a_room_of_50_ipv4_and_50_ipv6_hosts", TOOLS) else {
        return;
    };
    let mut hosts = ipv4_hosts(101, 50);
    hosts.extend(ipv6_hosts(50));
    assert_every_host_gets_its_echo(&ns, &["--create"], &hosts);
}

/// The room of 100 in a namespace made by `unshare --net`, where /sys
/// still shows the machine's interfaces rather than the namespace's
/// (`udpkit serve` asks the kernel about its TAP, not /sys: see
/// host/tests/interfaces.rs).
#[test]
fn a_room_of_100_hosts_in_an_unshare_namespace_each_gets_its_echo() {
    let Some(ns) = Netns::unshared("a_room_of_100_hosts_in_an_unshare_namespace", TOOLS) else {
        return;
    };
    const TAP: &str = "udpkroom0";
    let hosts = ipv4_hosts(101, 100);
    assert_every_host_gets_its_echo(&ns, &["--create", "--tap", TAP], &hosts);
}

// ---------------------------------------------------------------------------
// A chat room of many hosts

/// Python: a chat of one member per address (nicks m01, m02, ...), each
/// its own socket bound to its address. In turn, each joins with `/nick`
/// (resending, bounded, while neither welcome nor "already" comes); then
/// rounds in which every member says a line, one after the other; then a
/// silence, during which the host of one member (if any) goes away: its
/// address is removed from the TAP; then more rounds of the members still
/// there.
///
/// Expected: each joiner's welcome (naming everyone so far), each join
/// announced to everyone already in, and each line relayed to every other
/// member still there. After each phase it waits, bounded, for what it
/// expects and prints
/// `PHASE <name> DELIVERED <k> OF <n> PROMPT <p> SLOWEST <seconds> MISSING <nick:count,...>`
/// (prompt: arrived within the prompt limit of being sent), and at the end
/// any line nobody expected.
const CHAT_ROOM: &str = r#"
import os, select, socket, subprocess, sys, time
server, port, tap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hosts = sys.argv[4].split(",")
rounds_before, silence, rounds_after = int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
gone = int(sys.argv[8])
prompt_limit = float(sys.argv[9])
SETTLE, GAP, JOIN_WAIT, JOIN_TRIES = 6.0, 0.1, 1.5, 3

n = len(hosts)
nicks = ["m%02d" % (i + 1) for i in range(n)]
socks = []
for host in hosts:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 40000))
    s.setblocking(False)
    socks.append(s)
member_of = {s.fileno(): i for i, s in enumerate(socks)}
there = set(range(n))
arrived = [dict() for _ in range(n)]   # line -> when it first arrived
extra = []                             # (nick, line) of duplicates
sent_at = {}                           # line -> when its cause was sent

def pump(seconds):
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        ready, _, _ = select.select([socks[i] for i in sorted(there)], [], [], left)
        now = time.monotonic()
        for s in ready:
            i = member_of[s.fileno()]
            while True:
                try:
                    data, source = s.recvfrom(4096)
                except BlockingIOError:
                    break
                except OSError as e:
                    extra.append((nicks[i], "socket error %s" % e))
                    break
                if source[:2] != (server, port):
                    extra.append((nicks[i], "from a stranger %s" % (source[:2],)))
                    continue
                for line in data.decode(errors="replace").splitlines():
                    if line in arrived[i]:
                        extra.append((nicks[i], "again: " + line))
                    else:
                        arrived[i][line] = now

def settle(name, expected):
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline and not all(l in arrived[r] for r, l in expected):
        pump(0.05)
    delivered = [(r, l) for r, l in expected if l in arrived[r]]
    delays = [arrived[r][l] - sent_at[l] for r, l in delivered]
    prompt = sum(1 for d in delays if d <= prompt_limit)
    missing = {}
    for r, l in expected:
        if l not in arrived[r]:
            missing[nicks[r]] = missing.get(nicks[r], 0) + 1
    print("PHASE %s DELIVERED %d OF %d PROMPT %d SLOWEST %s MISSING %s" % (
        name, len(delivered), len(expected), prompt,
        "%.3f" % max(delays) if delays else "-",
        ",".join("%s:%d" % m for m in sorted(missing.items())) or "-"), flush=True)

# Joins, one after the other.
expected, joined = [], []
for i in range(n):
    welcome = "*** welcome %s, you are in lobby with: %s" % (nicks[i], ", ".join(nicks[:i + 1]))
    already = "*** you are %s already" % nicks[i]
    announce = "*** %s joined lobby" % nicks[i]
    sent_at[welcome] = sent_at[announce] = sent_at[already] = time.monotonic()
    for attempt in range(JOIN_TRIES):
        socks[i].sendto(b"/nick %s\n" % nicks[i].encode(), (server, port))
        end = time.monotonic() + JOIN_WAIT
        while time.monotonic() < end and welcome not in arrived[i] and already not in arrived[i]:
            pump(0.02)
        if welcome in arrived[i] or already in arrived[i]:
            break
    if already in arrived[i] and welcome not in arrived[i]:
        print("JOIN %s confirmed only by a resent /nick (the welcome was lost)" % nicks[i], flush=True)
    elif welcome not in arrived[i]:
        print("JOIN %s not confirmed after %d tries" % (nicks[i], JOIN_TRIES), flush=True)
    expected.append((i, welcome))
    expected += [(j, announce) for j in joined]
    joined.append(i)
settle("joins", expected)

def speak(name):
    expected = []
    for i in sorted(there):
        line = "%s from %s %s" % (name, nicks[i], os.urandom(6).hex())
        relayed = "[lobby] <%s> %s" % (nicks[i], line)
        sent_at[relayed] = time.monotonic()
        socks[i].sendto(line.encode() + b"\n", (server, port))
        # Every member still there, the sender included (its echo).
        expected += [(j, relayed) for j in sorted(there)]
        pump(GAP)
    settle(name, expected)

for r in range(1, rounds_before + 1):
    speak("round%d" % r)

# Silence: nobody sends anything. The host of `gone` goes away early in it.
if gone >= 0:
    pump(5)
    subprocess.run(["ip", "addr", "del", hosts[gone] + "/24", "dev", tap], check=True, timeout=10)
    there.discard(gone)
    print("GONE %s (%s) during the silence" % (nicks[gone], hosts[gone]), flush=True)
    pump(silence - 5)
else:
    pump(silence)

for r in range(1, rounds_after + 1):
    speak("after-silence%d" % r)

# Unexpected lines: anything that is no welcome, announcement or relay
# sent above, and duplicates.
known = set(sent_at)
for i in range(n):
    for line in arrived[i]:
        if line not in known:
            extra.append((nicks[i], line))
for nick, line in extra[:40]:
    print("UNEXPECTED %s %s" % (nick, line), flush=True)
print("UNEXPECTED-COUNT %d" % len(extra), flush=True)
"#;

/// One phase of [`CHAT_ROOM`]: its name, lines delivered, lines expected,
/// and how many of them arrived promptly.
#[derive(Debug)]
struct Phase {
    name: String,
    delivered: usize,
    expected: usize,
    prompt: usize,
}

/// The outcome of a chat room: its phases, the number of lines nobody
/// expected, and the script's output.
struct ChatRoom {
    phases: Vec<Phase>,
    unexpected: Option<usize>,
    out: Out,
}

impl ChatRoom {
    fn summary(&self) -> String {
        let phases: Vec<String> = self
            .phases
            .iter()
            .map(|p| {
                format!(
                    "{}: {} of {} ({} prompt)",
                    p.name, p.delivered, p.expected, p.prompt
                )
            })
            .collect();
        format!(
            "{}; unexpected lines: {}",
            phases.join("; "),
            self.unexpected.map_or("?".to_string(), |n| n.to_string())
        )
    }
}

/// What a chat room does: `hosts` join, `before` rounds, `silence` seconds
/// of silence during which member `gone` (0-based) loses its address,
/// `after` rounds; a line counts as prompt within `prompt_limit` seconds.
struct ChatPlan<'h> {
    hosts: &'h [String],
    before: u32,
    silence: u64,
    gone: Option<usize>,
    after: u32,
    prompt_limit: f64,
}

/// Runs [`CHAT_ROOM`] with `plan` against the server on `tap`.
fn chat_room(ns: &Netns, tap: &str, plan: &ChatPlan<'_>) -> ChatRoom {
    let hosts = plan.hosts.join(",");
    let (before, silence, after) = (
        plan.before.to_string(),
        plan.silence.to_string(),
        plan.after.to_string(),
    );
    let gone = plan.gone.map_or(-1, |g| g as i64).to_string();
    let prompt_limit = plan.prompt_limit.to_string();
    let script = script_file(ns, "chat_room.py", CHAT_ROOM);
    // Bounds: joins at most 3 tries of 1.5 s each and a 6 s settle; each
    // round 0.1 s a member and a 6 s settle.
    let members = plan.hosts.len() as u64;
    let rounds = u64::from(plan.before + plan.after);
    let limit = members * 5 + 6 + rounds * (members / 10 + 7) + plan.silence + 30;
    let out = ns
        .timed(
            limit,
            &[
                "python3",
                &script,
                SERVER_IP,
                CHAT_PORT,
                tap,
                &hosts,
                &before,
                &silence,
                &after,
                &gone,
                &prompt_limit,
            ],
        )
        .out();
    let text = out.stdout_str();
    let phases = text
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["PHASE", name, "DELIVERED", delivered, "OF", expected, "PROMPT", prompt, ..] => {
                    Some(Phase {
                        name: name.to_string(),
                        delivered: delivered.parse().ok()?,
                        expected: expected.parse().ok()?,
                        prompt: prompt.parse().ok()?,
                    })
                }
                _ => None,
            }
        })
        .collect();
    let unexpected = text
        .lines()
        .find_map(|line| line.strip_prefix("UNEXPECTED-COUNT "))
        .and_then(|n| n.trim().parse().ok());
    ChatRoom {
        phases,
        unexpected,
        out,
    }
}

/// 32 members, each on a host of its own, join one after the other and
/// hear every join; in three rounds every member says a line and every
/// other member hears it (right after the joins too); after 70 s of
/// silence, when the stack has long forgotten every neighbor's MAC
/// address, every line again reaches all 31 others.
#[test]
fn a_chat_of_32_hosts_hears_every_line_before_and_after_70_s_of_silence() {
    let Some(ns) = Netns::with_tools("a_chat_of_32_hosts_hears_every_line", TOOLS) else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    let tap = server.tap.clone();
    let hosts = ipv4_hosts(11, 32);
    add_hosts(&ns, &tap, &hosts);
    let room = chat_room(
        &ns,
        &tap,
        &ChatPlan {
            hosts: &hosts,
            before: 3,
            silence: 70,
            gone: None,
            after: 2,
            prompt_limit: 2.0,
        },
    );
    let counters = stop_for_counters(&mut server);
    eprintln!("chat of {} hosts: {}", hosts.len(), room.summary());
    let names: Vec<&str> = room.phases.iter().map(|p| p.name.as_str()).collect();
    let complete = room.out.success()
        && names
            == [
                "joins",
                "round1",
                "round2",
                "round3",
                "after-silence1",
                "after-silence2",
            ]
        && room.phases.iter().all(|p| p.delivered == p.expected)
        && room.unexpected == Some(0);
    assert!(
        complete,
        "not every join and line reached every member: {}\n{}\n{counters}",
        room.summary(),
        room.out.describe()
    );
    // Every phase expected what it should have: a welcome per member and
    // each join announced to those before; each line to 31 others and back
    // to its sender.
    let joins = 32 + 32 * 31 / 2;
    let round = 32 * 32;
    let expected: Vec<usize> = room.phases.iter().map(|p| p.expected).collect();
    assert_eq!(expected, [joins, round, round, round, round, round]);
}

/// Six members on six hosts talk; during a silence long enough for every
/// member to count as quiet and for the stack to forget every neighbor,
/// the host of one of them (in the middle of the member table) goes away.
/// Then the other five say a line each: every line reaches the four
/// others still there, each within 2 s of being said, however long the
/// stack waits for the gone host's ARP answer.
#[test]
fn a_chat_member_whose_host_is_gone_holds_up_nobody_in_the_room() {
    let Some(ns) = Netns::with_tools("a_chat_member_whose_host_is_gone", TOOLS) else {
        return;
    };
    let mut server = Server::start(&ns, &["--create"]);
    let tap = server.tap.clone();
    let hosts = ipv4_hosts(51, 6);
    add_hosts(&ns, &tap, &hosts);
    let room = chat_room(
        &ns,
        &tap,
        &ChatPlan {
            hosts: &hosts,
            before: 1,
            silence: 70,
            gone: Some(2),
            after: 1,
            prompt_limit: 2.0,
        },
    );
    let counters = stop_for_counters(&mut server);
    eprintln!("chat with a gone host: {}", room.summary());
    let names: Vec<&str> = room.phases.iter().map(|p| p.name.as_str()).collect();
    let complete = room.out.success()
        && names == ["joins", "round1", "after-silence1"]
        && room
            .phases
            .iter()
            .all(|p| p.delivered == p.expected && p.prompt == p.expected)
        && room.unexpected == Some(0)
        && room.out.stdout_str().contains("GONE m03");
    assert!(
        complete,
        "a gone host held up the others' lines: {}\n{}\n{counters}",
        room.summary(),
        room.out.describe()
    );
    let expected: Vec<usize> = room.phases.iter().map(|p| p.expected).collect();
    assert_eq!(expected, [6 + 15, 36, 5 * 5]);
}
