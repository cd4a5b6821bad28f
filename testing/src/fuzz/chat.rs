//! The chat service alone: sequences of datagrams from a few peers (IPv4
//! and IPv6, members or not), time moved by the input, and the invariants
//! that must hold after every step, checked against a model of who is a
//! member kept from the lines the service sends.

use std::collections::BTreeMap;
use std::vec::Vec;

use udpkit::services::chat::{Chat, ChatLimits};
use udpkit::services::{EXCESS_BYTES_BURST, EXCESS_BYTES_PER_SECOND};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint};
use udpkit::wire::chat::{Command, ServerLine};
use udpkit::{ClockSource, Request, Service};

use super::Input;
use crate::fuzz::outbox::RecordingOutbox;

/// Room for 8 members and 4 rooms: small enough that the input fills them.
type SmallChat = Chat<8, 4>;

/// The peers: IPv4 and IPv6, two sharing an address on different ports.
const PEERS: [IpEndpoint; 8] = [
    IpEndpoint::new(IpAddress::v4(192, 168, 69, 100), 40000),
    IpEndpoint::new(IpAddress::v4(192, 168, 69, 100), 40001),
    IpEndpoint::new(IpAddress::v4(192, 168, 69, 101), 5000),
    IpEndpoint::new(IpAddress::v4(10, 0, 0, 7), 1024),
    IpEndpoint::new(IpAddress::v6(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100), 40000),
    IpEndpoint::new(IpAddress::v6(0xfe80, 0, 0, 0, 0, 0, 0, 0x64), 40000),
    IpEndpoint::new(IpAddress::v6(0xfdaa, 0, 0, 0, 0, 0, 0, 0x101), 65535),
    IpEndpoint::new(IpAddress::v4(192, 168, 69, 102), 12345),
];

/// Names the input picks from; some valid, some not.
const NAMES: [&str; 10] = [
    "alice",
    "bob",
    "Alice",
    "carol",
    "x",
    "sixteen_chars_ok",
    "seventeen_chars_no",
    "bad name",
    "private",
    "#games",
];

/// Where the chat's clock starts.
const START: Instant = Instant::from_micros_const(1_000_000_000);

/// What the model knows of a member.
#[derive(Debug, Clone, Copy)]
struct MemberModel {
    joined_at: Instant,
    last_seen: Instant,
    /// Datagrams from it that were answered or relayed (each took a token).
    served: u64,
    /// Its last datagram got "slow down".
    warned: bool,
}

/// The model, and the tallies the invariants bound.
struct Model {
    limits: ChatLimits,
    members: BTreeMap<usize, MemberModel>,
    /// Lines to non-members through the strangers' rate limit.
    stranger_lines: u64,
    /// Bytes from and to non-members.
    stranger_bytes_in: u64,
    stranger_bytes_out: u64,
    /// When a non-member first sent something.
    first_stranger: Option<Instant>,
}

/// Runs the chat target on `data`.
pub fn chat(data: &[u8]) {
    let mut input = Input::new(data);
    let limits = ChatLimits {
        max_members: usize::from(input.u8() % 8) + 1,
        max_rooms: usize::from(input.u8() % 4) + 1,
        max_nick: usize::from(input.u8() % 16) + 1,
        max_message: usize::from(input.u16() % 600) + 1,
        idle_timeout: Duration::from_secs(u64::from(input.u16() % 600) + 1),
        burst: u32::from(input.u8() % 9),
        per_second: u32::from(input.u8() % 5),
        strangers_per_second: u32::from(input.u8() % 21),
        echo_to_sender: input.u8() % 2 == 0,
    };
    let mut chat = SmallChat::new(limits);
    let limits = *chat.limits();
    let mut model = Model {
        limits,
        members: BTreeMap::new(),
        stranger_lines: 0,
        stranger_bytes_in: 0,
        stranger_bytes_out: 0,
        first_stranger: None,
    };
    let mut now = START;
    let mut payload = Vec::new();
    while !input.is_empty() {
        match input.u8() % 8 {
            0 => now += Duration::from_millis(u64::from(input.u16())),
            1 => now += Duration::from_secs(u64::from(input.u16())),
            // A big jump, bounded so that the clock never nears its end.
            2 => {
                let jump = Duration::from_secs(u64::from(input.u32()));
                if now.total_micros() < 1 << 60 {
                    now += jump;
                }
            }
            _ => {
                let peer = usize::from(input.u8()) % PEERS.len();
                build_line(&mut input, &mut payload);
                datagram(&mut chat, &mut model, now, peer, &payload);
            }
        }
        if chat.poll_at().is_some_and(|at| at <= now) {
            tick(&mut chat, &mut model, now);
        }
        check_tables(&chat, &model);
    }
}

/// A line the input describes: a command with arguments picked or raw, or
/// raw bytes.
pub(crate) fn build_line(input: &mut Input<'_>, line: &mut Vec<u8>) {
    line.clear();
    let name = |input: &mut Input<'_>| -> Vec<u8> {
        match input.u8() % 4 {
            0 => input.short_bytes().to_vec(),
            _ => input.pick(&NAMES).as_bytes().to_vec(),
        }
    };
    let text = |input: &mut Input<'_>| -> Vec<u8> {
        match input.u8() % 4 {
            // Long enough to pass the longest message.
            0 => std::vec![b'a'; usize::from(input.u16() % 1500)],
            _ => input.short_bytes().to_vec(),
        }
    };
    match input.u8() % 16 {
        0 => line.extend_from_slice(input.short_bytes()),
        1 | 2 => {
            line.extend_from_slice(b"/nick ");
            line.extend(name(input));
        }
        3 => {
            line.extend_from_slice(b"/join ");
            line.extend(name(input));
        }
        4 => line.extend_from_slice(b"/leave"),
        5 => line.extend_from_slice(b"/who"),
        6 => line.extend_from_slice(b"/rooms"),
        7 => {
            line.extend_from_slice(b"/msg ");
            line.extend(name(input));
            line.push(b' ');
            line.extend(text(input));
        }
        8 => {
            line.extend_from_slice(b"/me ");
            line.extend(text(input));
        }
        9 => line.extend_from_slice(b"/ping"),
        10 => line.extend_from_slice(b"/quit"),
        11 => line.extend_from_slice(b"/help"),
        // Spaces first, then a command: a message, whatever follows.
        12 => {
            line.extend_from_slice(b" /quit ");
            line.extend(text(input));
        }
        _ => line.extend(text(input)),
    }
    if input.u8() % 4 == 0 {
        line.extend_from_slice(input.pick(&[&b"\n"[..], b"\r\n", b"\r", b"\n\n"]));
    }
}

/// The index of `to` among the peers; no line goes anywhere else.
fn peer_index(to: IpEndpoint) -> usize {
    PEERS
        .iter()
        .position(|&p| p == to)
        .unwrap_or_else(|| panic!("a line went to {to}, which sent nothing"))
}

/// Every line the chat sends is one its clients read.
fn parse_line(bytes: &[u8]) -> ServerLine<'_> {
    ServerLine::parse(bytes).unwrap_or_else(|_| {
        panic!(
            "the chat sent a line no client reads: {:?}",
            std::string::String::from_utf8_lossy(bytes)
        )
    })
}

fn datagram(chat: &mut SmallChat, model: &mut Model, now: Instant, peer: usize, payload: &[u8]) {
    let from = PEERS[peer];
    let request = Request {
        from,
        to: match from.addr {
            IpAddress::Ipv4(_) => IpAddress::v4(192, 168, 69, 1),
            IpAddress::Ipv6(_) => IpAddress::v6(0xfdaa, 0, 0, 0, 0, 0, 0, 1),
        },
        payload,
        now,
        wall: None,
        clock: ClockSource::LOCAL,
    };
    let mut out = RecordingOutbox::new(1472);
    let _ = chat.on_datagram(&request, &mut out);
    let was_member = model.members.contains_key(&peer);
    let limits = model.limits;
    let mut to_sender = Vec::new();
    let mut to_others = 0;
    for (to, bytes, _) in &out.sent {
        let line = parse_line(bytes);
        let index = peer_index(*to);
        if index == peer {
            to_sender.push((line, bytes.len()));
        } else {
            assert!(
                model.members.contains_key(&index),
                "a line to {to}, not a member, for a datagram from {from}: {line:?}"
            );
            to_others += 1;
        }
    }
    // The sender's own message or action comes back to it exactly when
    // the chat echoes, and is the line the room heard.
    let relayed_own = out.sent.iter().find_map(|(to, bytes, _)| {
        let own = matches!(
            parse_line(bytes),
            ServerLine::Message { .. } | ServerLine::Action { .. }
        );
        (own && peer_index(*to) != peer).then_some(bytes)
    });
    let echoed: Vec<_> = out
        .sent
        .iter()
        .filter(|(to, bytes, _)| {
            peer_index(*to) == peer
                && matches!(
                    parse_line(bytes),
                    ServerLine::Message { .. } | ServerLine::Action { .. }
                )
        })
        .map(|(_, bytes, _)| bytes)
        .collect();
    if model.limits.echo_to_sender {
        if let Some(relayed) = relayed_own {
            assert_eq!(
                echoed,
                [relayed],
                "the echo to {from} is the line the room heard"
            );
        }
    } else {
        assert!(echoed.is_empty(), "an echo to {from} with echo off");
    }
    if was_member {
        let member = model.members.get_mut(&peer).unwrap();
        member.last_seen = now;
        let quitting = Command::parse(payload) == Ok(Command::Quit);
        let slow_down = to_others == 0
            && to_sender.len() == 1
            && matches!(to_sender[0].0, ServerLine::SlowDown { .. });
        if quitting {
            assert!(
                to_sender
                    .iter()
                    .any(|(l, _)| matches!(l, ServerLine::Bye(_))),
                "a member's /quit is answered with bye"
            );
            model.members.remove(&peer);
        } else if slow_down {
            assert!(
                !member.warned,
                "two \"slow down\" lines in one dry spell to {from}"
            );
            member.warned = true;
        } else {
            member.warned = false;
            if to_others > 0 || !to_sender.is_empty() {
                member.served += 1;
                let elapsed_ms = (now - member.joined_at).total_millis();
                let allowed =
                    u64::from(limits.burst) + elapsed_ms * u64::from(limits.per_second) / 1000;
                assert!(
                    member.served <= allowed,
                    "{from} was served {} datagrams in {elapsed_ms} ms: over its rate limit \
                     (burst {}, {} a second)",
                    member.served,
                    limits.burst,
                    limits.per_second
                );
            }
        }
    } else {
        let first = *model.first_stranger.get_or_insert(now);
        model.stranger_bytes_in += payload.len() as u64;
        let welcomed = to_sender
            .iter()
            .any(|(l, _)| matches!(l, ServerLine::Welcome { .. }));
        assert!(
            to_others == 0 || welcomed,
            "a datagram from {from}, not a member, was relayed"
        );
        for (line, len) in &to_sender {
            model.stranger_bytes_out += *len as u64;
            if !matches!(line, ServerLine::Welcome { .. }) {
                model.stranger_lines += 1;
            }
        }
        let rate = u64::from(limits.strangers_per_second);
        let allowed_lines = rate + (now - START).total_millis() * rate / 1000;
        assert!(
            model.stranger_lines <= allowed_lines,
            "{} lines to non-members by {now}: over their rate limit of {rate} a second",
            model.stranger_lines
        );
        let budget = u64::from(EXCESS_BYTES_BURST)
            + (now - first).total_millis() * u64::from(EXCESS_BYTES_PER_SECOND) / 1000;
        assert!(
            model.stranger_bytes_out <= model.stranger_bytes_in + budget,
            "{} bytes to non-members for {} bytes from them: an amplifier",
            model.stranger_bytes_out,
            model.stranger_bytes_in
        );
        if welcomed {
            model.members.insert(
                peer,
                MemberModel {
                    joined_at: now,
                    last_seen: now,
                    served: 0,
                    warned: false,
                },
            );
        }
    }
}

fn tick(chat: &mut SmallChat, model: &mut Model, now: Instant) {
    let idle = model.limits.idle_timeout;
    model.members.retain(|_, m| m.last_seen + idle > now);
    let mut out = RecordingOutbox::new(1472);
    chat.on_tick(now, None, &mut out);
    for (to, bytes, _) in &out.sent {
        let line = parse_line(bytes);
        let index = peer_index(*to);
        assert!(
            model.members.contains_key(&index),
            "a timer's line to {to}, not a member (or one leaving): {line:?}"
        );
        assert!(
            matches!(line, ServerLine::Expired { .. }),
            "a timer sent {line:?}"
        );
    }
}

fn check_tables(chat: &SmallChat, model: &Model) {
    let limits = chat.limits();
    let members = chat.member_count();
    assert!(members <= limits.max_members, "{members} members");
    let rooms = chat.room_count();
    assert!(
        (1..=limits.max_rooms).contains(&rooms),
        "{rooms} rooms, at most {}",
        limits.max_rooms
    );
    assert_eq!(
        members,
        model.members.len(),
        "the chat's members are those welcomed, less those who quit or expired"
    );
    let stats = chat.stats();
    assert_eq!(
        stats.joined - stats.quit - stats.expired,
        members as u64,
        "joined - quit - expired = members: {stats:?}"
    );
}
