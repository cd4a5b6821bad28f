//! The seed corpus of each target: valid inputs to start from, frames
//! built with smoltcp's emitters (checksums right) and lines as the
//! protocols write them. `tests/fuzz_corpus.rs` checks that
//! `fuzz/corpus/TARGET/seed-*` are exactly these (and writes them with
//! `UDPKIT_WRITE_SEEDS=1`).

use std::string::String;
use std::vec;
use std::vec::Vec;

use udpkit::smoltcp::wire::{
    ArpOperation, EthernetAddress, IpAddress, Ipv4Address, Ipv6Address, NdiscRepr,
};
use udpkit::wire::chat::{Names, ServerLine};
use udpkit::wire::discovery::{ReplyRepr, ServiceEntry, MAX_REPLY, PADDED_REQUEST, REQUEST};
use udpkit::wire::ntp::{Leap, Mode, NtpShort, NtpTimestamp, HEADER_LEN};
use udpkit::wire::{NtpPacket, NtpRepr};

use super::frames;

/// One seed: its target, its file name, its bytes.
pub type Seed = (&'static str, String, Vec<u8>);

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut seeds = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        seeds.push((target, std::format!("seed-{name}"), bytes));
    };
    for (name, bytes) in ntp_packets() {
        add("wire_ntp", name, bytes);
    }
    add("wire_discovery", "request", REQUEST.to_vec());
    add("wire_discovery", "padded-request", PADDED_REQUEST.to_vec());
    add("wire_discovery", "reply", discovery_reply());
    for (name, line) in commands() {
        add("wire_chat_command", name, line.to_vec());
    }
    for (name, line) in server_lines() {
        add("wire_chat_server_line", name, line);
    }
    add("chat", "session", chat_session());
    add("chat", "flood", chat_flood());
    add("sntp", "sync", sntp_sync());
    add("stack", "every-service-v4", stack_every_service(false));
    add("stack", "every-service-v6", stack_every_service(true));
    add(
        "stack",
        "chat-across-families",
        stack_chat_across_families(),
    );
    add("stack", "sntp-sync-no-wall-clock", stack_sntp());
    seeds
}

// ---------------------------------------------------------------------------
// Wire formats.

fn ntp_packet(repr: &NtpRepr) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_LEN];
    repr.emit(&mut NtpPacket::new_unchecked(&mut bytes[..]));
    bytes
}

fn server_reply(origin: NtpTimestamp) -> NtpRepr {
    NtpRepr {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: 6,
        precision: -20,
        root_delay: NtpShort(0x100),
        root_dispersion: NtpShort(0x100),
        reference_id: *b"GPS\0",
        reference_timestamp: NtpTimestamp(0xecc8_2d00_0000_0000),
        origin_timestamp: origin,
        receive_timestamp: NtpTimestamp(0xecc8_2d05_4000_0000),
        transmit_timestamp: NtpTimestamp(0xecc8_2d05_4001_0000),
    }
}

fn ntp_packets() -> Vec<(&'static str, Vec<u8>)> {
    let request = NtpRepr::client_request(NtpTimestamp(0xecc8_2d05_0000_0000));
    vec![
        ("client-request", ntp_packet(&request)),
        (
            "server-reply",
            ntp_packet(&server_reply(request.transmit_timestamp)),
        ),
        ("short", ntp_packet(&request)[..47].to_vec()),
    ]
}

fn discovery_reply() -> Vec<u8> {
    let addresses = udpkit::Config::default().cidrs();
    let services = [
        ServiceEntry {
            name: "echo",
            port: 7,
        },
        ServiceEntry {
            name: "chat",
            port: 5555,
        },
    ];
    let repr = ReplyRepr {
        name: "bench-1",
        mac: Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
        addresses: &addresses,
        services: &services,
    };
    let mut buffer = [0u8; MAX_REPLY];
    let len = repr.emit(&mut buffer).expect("a valid directory");
    buffer[..len].to_vec()
}

fn commands() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("nick", b"/nick alice\n"),
        ("join", b"/join #games"),
        ("msg", b"/msg bob psst\r\n"),
        ("me", b"/me waves"),
        ("message", b"hello there\n"),
        ("unknown", b"/dance wildly"),
        ("quit-message", b" /quit spam"),
    ]
}

fn server_lines() -> Vec<(&'static str, Vec<u8>)> {
    let lines = [
        (
            "welcome",
            ServerLine::Welcome {
                nick: "alice",
                room: "lobby",
                members: Names::new(&["alice", "bob"]),
            },
        ),
        (
            "expired",
            ServerLine::Expired {
                names: Names::new(&["carol"]),
                room: "games",
                idle_secs: 300,
            },
        ),
        (
            "message",
            ServerLine::Message {
                room: "lobby",
                nick: "bob",
                text: "hi",
            },
        ),
        ("help", ServerLine::Help),
        ("slow-down", ServerLine::SlowDown { per_second: 2 }),
    ];
    lines
        .iter()
        .map(|(name, line)| {
            let mut bytes = vec![0u8; line.buffer_len()];
            let len = line.emit(&mut bytes).expect("buffer_len bytes");
            bytes.truncate(len);
            (*name, bytes)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The chat and SNTP targets (see their input formats in chat.rs, sntp.rs).

/// The chat target's header: 8 members, 4 rooms, 16-byte nicks,
/// 400-byte messages, 60 s idle, burst 4, 2 a second, 20 strangers' lines.
fn chat_header() -> Vec<u8> {
    vec![7, 3, 15, 0x01, 0x8f, 0, 59, 4, 2, 20]
}

/// A datagram of `line` (raw) from peer `peer`.
fn chat_datagram(input: &mut Vec<u8>, peer: u8, line: &[u8]) {
    input.extend_from_slice(&[3, peer, 0, line.len() as u8]);
    input.extend_from_slice(line);
    input.push(1);
}

fn chat_session() -> Vec<u8> {
    let mut input = chat_header();
    chat_datagram(&mut input, 0, b"/nick alice");
    chat_datagram(&mut input, 4, b"/nick bob");
    chat_datagram(&mut input, 0, b"hello bob");
    chat_datagram(&mut input, 4, b"/join games");
    chat_datagram(&mut input, 2, b"/help");
    chat_datagram(&mut input, 4, b"/msg alice psst");
    chat_datagram(&mut input, 0, b"/who");
    chat_datagram(&mut input, 0, b"/rooms");
    // 61 s: both expire.
    input.extend_from_slice(&[1, 0, 61]);
    chat_datagram(&mut input, 0, b"/quit");
    input
}

fn chat_flood() -> Vec<u8> {
    let mut input = chat_header();
    chat_datagram(&mut input, 0, b"/nick alice");
    chat_datagram(&mut input, 5, b"/nick bob");
    for _ in 0..12 {
        chat_datagram(&mut input, 0, b"spam");
        chat_datagram(&mut input, 0, b" /quit spam");
    }
    chat_datagram(&mut input, 3, b"\xff\xfe");
    input
}

fn sntp_sync() -> Vec<u8> {
    // IPv4 server, interval 64 s, backoff 240 s, timeout 2 s, the default
    // "not before", seed 7.
    let mut input = vec![0, 0, 64, 0, 240, 0, 125, 0];
    input.extend_from_slice(&7u64.to_be_bytes());
    // A reply answering the pending request, in 2026.
    let reply = |input: &mut Vec<u8>| {
        input.extend_from_slice(&[3, 1, 0, 0, 2, 6, 0xec, b'G', b'P', b'S', 0]);
        input.extend_from_slice(&[0; 18]);
        input.push(2);
    };
    input.extend_from_slice(&[0, 0, 10]);
    reply(&mut input);
    input.extend_from_slice(&[1, 0, 64]);
    reply(&mut input);
    // A day on, with a kiss in between.
    input.extend_from_slice(&[2, 0, 1, 0x51, 0x80]);
    reply(&mut input);
    input
}

// ---------------------------------------------------------------------------
// The stack target: a header, then raw frames built here (op 12) and
// moves of the clocks.

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const OUR_IP: IpAddress = IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1));
const OUR_V6: IpAddress = IpAddress::Ipv6(Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1));
const PEER_IP: IpAddress = IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 100));
const PEER_V6: IpAddress = IpAddress::Ipv6(Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100));
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0x01, 0]);

/// The stack target's header: `flags` (1: a gateway, 2: an IPv6 SNTP
/// server), a seed, and a wall clock running from 2026 (or none).
fn stack_header(flags: u8, wall: bool) -> Vec<u8> {
    let mut input = vec![flags];
    input.extend_from_slice(&0x5eedu64.to_be_bytes());
    input.extend_from_slice(if wall { &[2, 0] } else { &[0] });
    input
}

/// A raw frame, then "no byte changed".
fn raw(input: &mut Vec<u8>, frame: &[u8]) {
    input.push(12);
    input.extend_from_slice(&(frame.len() as u16).to_be_bytes());
    input.extend_from_slice(frame);
    input.push(1);
}

fn udp_to_us(input: &mut Vec<u8>, v6: bool, port: u16, payload: &[u8]) {
    let (src, dst) = if v6 {
        (PEER_V6, OUR_V6)
    } else {
        (PEER_IP, OUR_IP)
    };
    raw(
        input,
        &frames::udp((PEER_MAC, OUR_MAC), (src, 40000), (dst, port), payload),
    );
}

fn stack_every_service(v6: bool) -> Vec<u8> {
    let mut input = stack_header(0, true);
    let (src, dst) = if v6 {
        (PEER_V6, OUR_V6)
    } else {
        (PEER_IP, OUR_IP)
    };
    if !v6 {
        raw(
            &mut input,
            &frames::arp(
                ArpOperation::Request,
                (PEER_MAC, Ipv4Address::new(192, 168, 69, 100)),
                (EthernetAddress([0; 6]), Ipv4Address::new(192, 168, 69, 1)),
                EthernetAddress::BROADCAST,
            ),
        );
    } else {
        let IpAddress::Ipv6(peer) = PEER_V6 else {
            unreachable!()
        };
        raw(
            &mut input,
            &frames::ndisc(
                (PEER_MAC, EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1])),
                (peer, Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1)),
                NdiscRepr::NeighborSolicit {
                    target_addr: Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1),
                    lladdr: frames::lladdr(PEER_MAC),
                },
            ),
        );
    }
    raw(
        &mut input,
        &frames::ping((PEER_MAC, OUR_MAC), (src, dst), 1, 1, b"ping"),
    );
    udp_to_us(&mut input, v6, 7, b"echo this");
    udp_to_us(&mut input, v6, 13, b"\n");
    udp_to_us(&mut input, v6, 37, b"");
    let request = NtpRepr::client_request(NtpTimestamp(0xecc8_2d05_0000_0000));
    udp_to_us(&mut input, v6, 123, &ntp_packet(&request));
    udp_to_us(&mut input, v6, 12000, b"upper case");
    udp_to_us(&mut input, v6, 12001, b"world");
    udp_to_us(&mut input, v6, 5550, REQUEST);
    udp_to_us(&mut input, v6, 5555, b"/nick alice");
    udp_to_us(&mut input, v6, 5555, b"hello");
    udp_to_us(&mut input, v6, 9, b"closed port");
    // 100 s on: past the chat's idle timeout.
    input.extend_from_slice(&[1, 0, 100]);
    udp_to_us(&mut input, v6, 7, b"still there?");
    input
}

fn stack_chat_across_families() -> Vec<u8> {
    let mut input = stack_header(0, true);
    udp_to_us(&mut input, false, 5555, b"/nick alice");
    udp_to_us(&mut input, true, 5555, b"/nick bob");
    udp_to_us(&mut input, false, 5555, b"hello bob");
    udp_to_us(&mut input, true, 5555, b"hello alice");
    udp_to_us(&mut input, true, 5555, b"/msg alice psst");
    input
}

fn stack_sntp() -> Vec<u8> {
    // No wall clock: the SNTP client's request goes at the first poll;
    // then op 13 answers it, in 2026.
    let mut input = stack_header(0, false);
    // The server answers our ARP request, so the SNTP request leaves.
    let server_mac = EthernetAddress([0x02, 0, 0, 0, 0x01, 0x23]);
    raw(
        &mut input,
        &frames::arp(
            ArpOperation::Reply,
            (server_mac, Ipv4Address::new(192, 168, 69, 123)),
            (OUR_MAC, Ipv4Address::new(192, 168, 69, 1)),
            OUR_MAC,
        ),
    );
    input.extend_from_slice(&[13, 0, 1, 0, 2]);
    input.extend_from_slice(&[0; 19]);
    input.push(1);
    udp_to_us(&mut input, false, 13, b"\n");
    udp_to_us(&mut input, false, 37, b"");
    input
}
