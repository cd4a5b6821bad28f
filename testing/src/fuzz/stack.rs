//! The whole stack: every service on IPv4 and IPv6, fed sequences of
//! Ethernet frames, its clocks moved by the input (big jumps; a wall clock
//! absent, going back, at the 2036 and 2106 boundaries), and every frame
//! it sends checked.
//!
//! What the stack may send, and nothing else:
//! - ARP: replies to requests for our address (unicast, to the asker) and
//!   requests of its own (broadcast);
//! - IPv6 neighbor discovery: solicitations (to a solicited-node group or
//!   unicast) and advertisements;
//! - ICMP echo replies and ICMP errors, unicast;
//! - UDP from a service's port to a unicast peer, never to port 0 nor to a
//!   port of the loop guard ([`udpkit::guard::SERVICE_PORTS`], ours),
//!   except two datagrams that are not answers: the SNTP client's
//!   requests (port 1123 to its server's port 123) and discovery's
//!   announcements (port 5550 to the IPv4 subnet broadcast, port 5550).
//!
//! Every frame parses with its checksums right, from our MAC and one of
//! our addresses, to an Ethernet broadcast or multicast address only when
//! the IP destination (or ARP) is one.
//!
//! And no amplification: to every source that has not proven its address
//! (a chat member, a neighbor that answered our ARP request or neighbor
//! solicitation), the chat and discovery send no more UDP payload than
//! they received from it, beyond their byte budgets
//! ([`udpkit::services::ExcessBudget`], one each); every other answer
//! (daytime, time, hello, ICMP errors) is at most [`ANSWER_SLACK`] bytes
//! of IP larger than what the source sent, per packet it sent.

use std::boxed::Box;
use std::collections::{BTreeMap, BTreeSet};
use std::vec;
use std::vec::Vec;

use udpkit::clock::SECONDS_1900_TO_1970;
use udpkit::services::chat::{self, Chat, ChatLimits};
use udpkit::services::discovery::{self, Discovery};
use udpkit::services::ntp::NtpServer;
use udpkit::services::{
    daytime, echo, hello, time, upper, EXCESS_BYTES_BURST, EXCESS_BYTES_PER_SECOND,
};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    ArpOperation, ArpRepr, EthernetAddress, IpAddress, IpProtocol, Ipv4Address, Ipv6Address,
    NdiscNeighborFlags, NdiscRepr,
};
use udpkit::sntp::{SntpClient, SntpConfig, DEFAULT_LOCAL_PORT};
use udpkit::wire::chat::ServerLine;
use udpkit::wire::discovery::ServiceEntry;
use udpkit::wire::ntp::{Leap, Mode, NtpShort, NtpTimestamp, HEADER_LEN};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::{guard, Config, NeighborSlot, SocketBuffers, Stack, StackStorage, UnixTime};

use super::frames::{self, Icmpv4Kind, Icmpv6Kind, IpFrame, IpPayload, Parsed};
use super::Input;
use crate::{MemoryBoard, MemoryDevice};

/// How much larger than the packets a source sent the answers to it may be,
/// per packet, outside the budgeted services: an ICMPv6 error's headers
/// (40 + 8 bytes around what it quotes); daytime's 26-byte line to an
/// empty datagram; hello's greeting around the name.
pub const ANSWER_SLACK: usize = 48;

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const OUR_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
const OUR_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
const SUBNET_BROADCAST: Ipv4Address = Ipv4Address::new(192, 168, 69, 255);
const GATEWAY: Ipv4Address = Ipv4Address::new(192, 168, 69, 254);
const SNTP_SERVER: Ipv4Address = Ipv4Address::new(192, 168, 69, 123);
const SNTP_SERVER_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x123);

const CHAT: u16 = chat::DEFAULT_PORT;
const DISCOVERY: u16 = discovery::DEFAULT_PORT;
const SNTP: u16 = DEFAULT_LOCAL_PORT;

/// Every port the stack binds.
const OUR_PORTS: [u16; 9] = [
    echo::DEFAULT_PORT,
    daytime::DEFAULT_PORT,
    time::DEFAULT_PORT,
    udpkit::services::ntp::DEFAULT_PORT,
    upper::DEFAULT_PORT,
    hello::DEFAULT_PORT,
    CHAT,
    DISCOVERY,
    SNTP,
];

/// IPv4 sources: peers, the SNTP server, the gateway, off-link, and what
/// the loop guard refuses (ours, broadcasts, multicast, unspecified).
const V4_SOURCES: [Ipv4Address; 12] = [
    Ipv4Address::new(192, 168, 69, 100),
    Ipv4Address::new(192, 168, 69, 101),
    Ipv4Address::new(192, 168, 69, 102),
    SNTP_SERVER,
    GATEWAY,
    Ipv4Address::new(10, 0, 0, 7),
    OUR_IP,
    SUBNET_BROADCAST,
    Ipv4Address::BROADCAST,
    Ipv4Address::new(224, 0, 0, 1),
    Ipv4Address::UNSPECIFIED,
    Ipv4Address::new(127, 0, 0, 1),
];

/// IPv4 destinations: ours, broadcasts, multicast, others.
const V4_DESTINATIONS: [Ipv4Address; 6] = [
    OUR_IP,
    SUBNET_BROADCAST,
    Ipv4Address::BROADCAST,
    Ipv4Address::new(224, 0, 0, 251),
    Ipv4Address::new(192, 168, 69, 77),
    Ipv4Address::new(10, 0, 0, 1),
];

/// IPv6 sources.
const V6_SOURCES: [Ipv6Address; 10] = [
    Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100),
    Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x101),
    Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x64),
    SNTP_SERVER_V6,
    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7),
    OUR_V6,
    OUR_LINK_LOCAL,
    Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
    Ipv6Address::UNSPECIFIED,
    Ipv6Address::LOCALHOST,
];

/// IPv6 destinations: ours, multicast groups (all nodes, our
/// solicited-node group), and foreign addresses whose last bytes match it.
const V6_DESTINATIONS: [Ipv6Address; 7] = [
    OUR_V6,
    OUR_LINK_LOCAL,
    Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
    Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1),
    Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    Ipv6Address::LOCALHOST,
    Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x77),
];

const SOURCE_PORTS: [u16; 14] = [
    40000, 40001, 0, 7, 9, 13, 19, 37, 123, CHAT, DISCOVERY, SNTP, 12000, 12001,
];

const DESTINATION_PORTS: [u16; 10] = [7, 13, 37, 123, 12000, 12001, CHAT, DISCOVERY, SNTP, 9];

/// Wall clocks: now-ish, just before the 2036 NTP era wrap, just before
/// 2106 (the end of 32-bit Unix seconds), 1970, and far on.
const WALLS: [UnixTime; 5] = [
    UnixTime::new(1_795_446_245, 250_000_000),
    UnixTime::from_secs((1 << 32) - SECONDS_1900_TO_1970 - 2),
    UnixTime::from_secs((1 << 32) - 2),
    UnixTime::from_secs(0),
    UnixTime::from_secs(1 << 40),
];

/// Whether to tell every frame in and out on stderr (`UDPKIT_FUZZ_TRACE=1`,
/// to read what a finding does: `cargo fuzz run stack ARTIFACT`).
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("UDPKIT_FUZZ_TRACE").is_some_and(|v| v == "1"))
}

/// Where the monotonic clock starts.
const BOOT: Instant = Instant::from_micros_const(1_000_000_000);

type Buffers = SocketBuffers<16, 8192>;

/// The storage a port keeps in statics, kept here from one run to the next.
struct RunStorage {
    /// The receive ring: 20 of the largest frames (a full ring makes the
    /// run poll, as a NIC would).
    rx: Vec<u8>,
    /// The transmit ring: every socket queue's worth of frames, drained
    /// after every poll.
    tx: Vec<u8>,
    /// The queues of the nine services and the chat's detour.
    buffers: Vec<Box<Buffers>>,
}

impl RunStorage {
    fn new() -> RunStorage {
        RunStorage {
            rx: vec![0; 32 * 1024],
            tx: vec![0; 256 * 1024],
            buffers: (0..10).map(|_| Box::new(Buffers::new())).collect(),
        }
    }
}

std::thread_local! {
    static STORAGE: core::cell::Cell<Option<RunStorage>> = const { core::cell::Cell::new(None) };
}

/// What the checks remember between frames.
#[derive(Default)]
struct Ledger {
    /// IP bytes and packets each source sent (valid frames only).
    received: BTreeMap<IpAddress, (u64, u64)>,
    /// IP bytes of answers outside the budgeted services, by destination.
    answered: BTreeMap<IpAddress, u64>,
    /// UDP payload bytes from and to each source, for the chat and
    /// discovery, by port.
    budgeted_in: BTreeMap<(u16, IpAddress), u64>,
    budgeted_out: BTreeMap<(u16, IpAddress), u64>,
    /// Sources that proved their address: welcomed to the chat, or
    /// resolved by ARP or neighbor discovery.
    proven: BTreeSet<IpAddress>,
    /// Addresses we asked the link about.
    asked: BTreeSet<IpAddress>,
    /// ARP requests for our address, by asker, less the replies sent.
    arp_requests: BTreeMap<Ipv4Address, u64>,
    /// The SNTP client's last request's transmit timestamp.
    sntp_nonce: Option<NtpTimestamp>,
}

/// Runs the stack target on `data`.
pub fn stack(data: &[u8]) {
    frames::assert_checksums_verified();
    let mut input = Input::new(data);
    let flags = input.u8();
    let config = Config {
        gateway: (flags & 1 != 0).then_some(GATEWAY),
        ..Config::default()
    };
    let sntp_server = if flags & 2 == 0 {
        IpAddress::Ipv4(SNTP_SERVER)
    } else {
        IpAddress::Ipv6(SNTP_SERVER_V6)
    };
    // The storage of a run is reused from run to run (a ring's bytes are
    // never read before they are written, and a new ring or socket queue
    // starts empty whatever they hold): making it anew, zeroed, was most
    // of a run's cost. A run that panics takes its storage with it.
    let mut storage = STORAGE
        .with(|kept| kept.take())
        .unwrap_or_else(RunStorage::new);
    let RunStorage { rx, tx, buffers } = &mut storage;
    let device = MemoryDevice::new(&mut rx[..], &mut tx[..]);
    let mut board = MemoryBoard::new(device, BOOT);
    board.seed = input.u64();
    set_wall(&mut board, &mut input);

    // The storage a port keeps in statics, here for one run.

    let mut sockets = [SocketStorage::EMPTY; 12];
    let mut neighbors = vec![NeighborSlot::EMPTY; 64];
    let mut stack_storage = StackStorage::new();
    let (mut echo, mut daytime, mut time, mut ntp) =
        (echo::Echo, daytime::Daytime, time::Time, NtpServer::new());
    let (mut upper, mut hello) = (upper::Upper, hello::Hello);
    let mut chat = Chat::<8, 4>::new(ChatLimits {
        max_members: 8,
        max_rooms: 4,
        idle_timeout: Duration::from_secs(90),
        ..ChatLimits::default()
    });
    let mut sntp = SntpClient::new(SntpConfig::new(sntp_server, board.seed));
    let cidrs = config.cidrs();
    let entries: Vec<ServiceEntry<'static>> =
        ["echo", "daytime", "time", "ntp", "upper", "hello", "chat"]
            .iter()
            .zip(OUR_PORTS)
            .map(|(&name, port)| ServiceEntry { name, port })
            .collect();
    let mut discovery =
        Discovery::new("fuzz", Some(OUR_MAC), &cidrs, &entries).expect("a valid directory");
    discovery.announce(2, DISCOVERY);

    let mut stack = Stack::new(
        &config,
        &mut board,
        &mut sockets[..],
        &mut neighbors[..],
        &mut stack_storage,
    );
    let mut queues = buffers.iter_mut().map(|b| b.queues());
    let mut next = || queues.next().expect("ten queues");
    stack.add_service(&mut echo, OUR_PORTS[0], next()).unwrap();
    stack
        .add_service(&mut daytime, OUR_PORTS[1], next())
        .unwrap();
    stack.add_service(&mut time, OUR_PORTS[2], next()).unwrap();
    stack.add_service(&mut ntp, OUR_PORTS[3], next()).unwrap();
    stack.add_service(&mut upper, OUR_PORTS[4], next()).unwrap();
    stack.add_service(&mut hello, OUR_PORTS[5], next()).unwrap();
    let chat_id = stack.add_service(&mut chat, CHAT, next()).unwrap();
    stack.set_detour(chat_id, next()).unwrap();
    stack
        .add_service(&mut discovery, DISCOVERY, next())
        .unwrap();
    stack.add_service(&mut sntp, SNTP, next()).unwrap();

    let mut ledger = Ledger::default();
    let mut line = Vec::new();
    poll(&mut stack, &mut board, &mut ledger, sntp_server);
    while !input.is_empty() {
        let op = input.u8();
        let frame = match op % 16 {
            0 => {
                board.now += Duration::from_millis(u64::from(input.u16()));
                None
            }
            1 => {
                board.now += Duration::from_secs(u64::from(input.u16()));
                None
            }
            2 => {
                if board.now.total_micros() < 1 << 60 {
                    board.now += Duration::from_secs(u64::from(input.u32()));
                }
                None
            }
            3 => {
                set_wall(&mut board, &mut input);
                None
            }
            9 => Some(ping_frame(&mut input)),
            10 => Some(arp_frame(&mut input)),
            11 => Some(ndisc_frame(&mut input)),
            12 => Some(input.long_bytes(1600).to_vec()),
            13 => Some(sntp_reply(&mut input, &ledger, sntp_server)),
            _ => Some(udp_frame(&mut input, &mut line)),
        };
        if let Some(mut frame) = frame {
            // Now and then a byte changed: a checksum or a length that lies.
            if input.u8() % 16 == 0 && !frame.is_empty() {
                let at = usize::from(input.u16()) % frame.len();
                frame[at] ^= input.u8() | 1;
            }
            if tracing() {
                std::eprintln!("{} in: {:?}", board.now, frames::parse(&frame));
            }
            account_received(&mut ledger, &frame);
            if board.device.rx.push(&frame).is_err() {
                // The receive ring is full: poll to make room, and drop this
                // one as a NIC would.
                poll(&mut stack, &mut board, &mut ledger, sntp_server);
                continue;
            }
        }
        // The high bit queues the frame with the next ones: several in a poll.
        if op & 0x80 == 0 {
            poll(&mut stack, &mut board, &mut ledger, sntp_server);
        }
    }
    poll(&mut stack, &mut board, &mut ledger, sntp_server);
    drop(stack);
    STORAGE.with(|kept| kept.set(Some(storage)));
}

/// Sets the board's wall clock as the input says: absent, standing or
/// running from one of [`WALLS`], or stepped back or on.
fn set_wall<S>(board: &mut MemoryBoard<S>, input: &mut Input<'_>) {
    match input.u8() % 6 {
        0 => board.wall = None,
        1 => {
            board.wall = Some(input.pick(&WALLS));
            board.wall_running_since = None;
        }
        2 | 3 => {
            board.wall = Some(input.pick(&WALLS));
            board.wall_running_since = Some(board.now);
        }
        step => {
            let by = u64::from(input.u32());
            if let Some(wall) = board.wall {
                let secs = if step == 4 {
                    wall.secs.saturating_sub(by)
                } else {
                    wall.secs.saturating_add(by).min(1 << 42)
                };
                board.wall = Some(UnixTime::new(secs, wall.subsec_nanos()));
            }
        }
    }
}

/// A peer's MAC, from its address (or a MAC that no host has).
fn mac_of(input: &mut Input<'_>, index: usize) -> EthernetAddress {
    match input.u8() % 16 {
        0 => EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]),
        1 => EthernetAddress::BROADCAST,
        2 => OUR_MAC,
        _ => EthernetAddress([0x02, 0, 0, 0, 0x01, index as u8]),
    }
}

/// Our MAC, mostly; a broadcast or multicast one, or another host's.
fn destination_mac(input: &mut Input<'_>) -> EthernetAddress {
    match input.u8() % 8 {
        0 => EthernetAddress::BROADCAST,
        1 => EthernetAddress([0x33, 0x33, 0, 0, 0, 1]),
        2 => EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1]),
        3 => EthernetAddress([0x02, 0, 0, 0, 0, 0x99]),
        _ => OUR_MAC,
    }
}

/// A source and destination of one family, and the MACs around them.
fn addresses(input: &mut Input<'_>) -> ((EthernetAddress, EthernetAddress), IpAddress, IpAddress) {
    let v6 = input.u8() % 3 == 0;
    let index = usize::from(input.u8());
    let (src, dst) = if v6 {
        (
            IpAddress::Ipv6(V6_SOURCES[index % V6_SOURCES.len()]),
            IpAddress::Ipv6(input.pick(&V6_DESTINATIONS)),
        )
    } else {
        (
            IpAddress::Ipv4(V4_SOURCES[index % V4_SOURCES.len()]),
            IpAddress::Ipv4(input.pick(&V4_DESTINATIONS)),
        )
    };
    let src_mac = mac_of(input, index);
    ((src_mac, destination_mac(input)), src, dst)
}

fn udp_frame(input: &mut Input<'_>, line: &mut Vec<u8>) -> Vec<u8> {
    let (macs, src, dst) = addresses(input);
    let src_port = match input.u8() % 32 {
        0 => input.u16(),
        n => SOURCE_PORTS[usize::from(n) % SOURCE_PORTS.len()],
    };
    let dst_port = match input.u8() % 32 {
        0 => input.u16(),
        n => DESTINATION_PORTS[usize::from(n) % DESTINATION_PORTS.len()],
    };
    line.clear();
    match input.u8() % 8 {
        0 => line.extend_from_slice(input.long_bytes(1600)),
        1 => {
            line.extend_from_slice(b"DISCOVER udpkit/1");
            let padding = usize::from(input.u16() % 1300);
            line.resize(line.len() + padding, b' ');
            line.push(b'\n');
        }
        2 => {
            let mut request = [0u8; HEADER_LEN];
            let mut repr = NtpRepr::client_request(NtpTimestamp(input.u64()));
            repr.mode = Mode::from_bits(input.u8() % 8);
            repr.version = input.u8() % 8;
            repr.emit(&mut NtpPacket::new_unchecked(&mut request[..]));
            line.extend_from_slice(&request);
        }
        3..=5 => super::chat::build_line(input, line),
        _ => line.extend_from_slice(input.short_bytes()),
    }
    frames::udp(macs, (src, src_port), (dst, dst_port), line)
}

fn ping_frame(input: &mut Input<'_>) -> Vec<u8> {
    let (macs, src, dst) = addresses(input);
    let (ident, seq_no) = (input.u16(), input.u16());
    let data = input.long_bytes(1500);
    frames::ping(macs, (src, dst), ident, seq_no, data)
}

fn arp_frame(input: &mut Input<'_>) -> Vec<u8> {
    let index = usize::from(input.u8());
    let src_ip = V4_SOURCES[index % V4_SOURCES.len()];
    let src_mac = mac_of(input, index);
    let target = match input.u8() % 4 {
        0 => input.pick(&V4_DESTINATIONS),
        _ => OUR_IP,
    };
    let (operation, target_mac, eth_dst) = match input.u8() % 3 {
        0 => (ArpOperation::Reply, OUR_MAC, OUR_MAC),
        _ => (
            ArpOperation::Request,
            EthernetAddress([0; 6]),
            destination_mac(input),
        ),
    };
    frames::arp(operation, (src_mac, src_ip), (target_mac, target), eth_dst)
}

fn ndisc_frame(input: &mut Input<'_>) -> Vec<u8> {
    let index = usize::from(input.u8());
    let src = V6_SOURCES[index % V6_SOURCES.len()];
    let src_mac = mac_of(input, index);
    let target = match input.u8() % 4 {
        0 => input.pick(&V6_DESTINATIONS),
        1 => OUR_LINK_LOCAL,
        _ => OUR_V6,
    };
    let with_lladdr = input.u8() % 4 != 0;
    let lladdr = if with_lladdr {
        frames::lladdr(src_mac)
    } else {
        None
    };
    if input.u8() % 2 == 0 {
        let dst = input.pick(&[
            Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1),
            target,
            Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        ]);
        let repr = NdiscRepr::NeighborSolicit {
            target_addr: target,
            lladdr,
        };
        frames::ndisc((src_mac, destination_mac(input)), (src, dst), repr)
    } else {
        // An advertisement of the sender's own address, to us.
        let repr = NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::from_bits_truncate(input.u8()),
            target_addr: src,
            lladdr,
        };
        let dst = input.pick(&[OUR_V6, OUR_LINK_LOCAL]);
        frames::ndisc((src_mac, OUR_MAC), (src, dst), repr)
    }
}

/// A reply from the SNTP server to the client's last request (or a guess),
/// its timestamps in an era the input picks.
fn sntp_reply(input: &mut Input<'_>, ledger: &Ledger, server: IpAddress) -> Vec<u8> {
    let eras = [
        1_795_446_245 + SECONDS_1900_TO_1970,
        (1 << 32) - 2,
        (1 << 32) - 2 + SECONDS_1900_TO_1970,
    ];
    let era: u64 = input.pick(&eras);
    let at = |input: &mut Input<'_>| {
        let secs = era.wrapping_add(u64::from(input.u8())) & 0xffff_ffff;
        NtpTimestamp((secs << 32) | u64::from(input.u32()))
    };
    let origin = match (input.u8() % 4, ledger.sntp_nonce) {
        (0, _) | (_, None) => NtpTimestamp(input.u64()),
        (_, Some(nonce)) => nonce,
    };
    let repr = NtpRepr {
        leap: Leap::from_bits(input.u8() % 4 / 3 * 3),
        version: 4,
        mode: Mode::Server,
        stratum: input.u8() % 17,
        poll: 6,
        precision: -20,
        root_delay: NtpShort(input.u16().into()),
        root_dispersion: NtpShort(input.u16().into()),
        reference_id: *b"GPS\0",
        reference_timestamp: at(input),
        origin_timestamp: origin,
        receive_timestamp: at(input),
        transmit_timestamp: at(input),
    };
    let mut payload = [0u8; HEADER_LEN];
    repr.emit(&mut NtpPacket::new_unchecked(&mut payload[..]));
    let server_mac = EthernetAddress([0x02, 0, 0, 0, 0x01, 0x23]);
    frames::udp(
        (server_mac, OUR_MAC),
        (server, 123),
        (
            match server {
                IpAddress::Ipv4(_) => IpAddress::Ipv4(OUR_IP),
                IpAddress::Ipv6(_) => IpAddress::Ipv6(OUR_V6),
            },
            SNTP,
        ),
        &payload,
    )
}

/// Counts what a valid frame to us brings: IP bytes by source, budgeted
/// services' payload, ARP requests for us, and proofs of address.
fn account_received(ledger: &mut Ledger, frame: &[u8]) {
    match frames::parse(frame) {
        Ok(Parsed::Arp(
            _,
            ArpRepr::EthernetIpv4 {
                operation,
                source_protocol_addr,
                target_protocol_addr,
                ..
            },
        )) => {
            if operation == ArpOperation::Request && target_protocol_addr == OUR_IP {
                *ledger.arp_requests.entry(source_protocol_addr).or_default() += 1;
            }
            // Any ARP packet from an address we asked about answers us
            // (smoltcp learns from requests too).
            if ledger
                .asked
                .contains(&IpAddress::Ipv4(source_protocol_addr))
            {
                ledger.proven.insert(IpAddress::Ipv4(source_protocol_addr));
            }
        }
        Ok(Parsed::Arp(..)) => {}
        Ok(Parsed::Ip(ip)) => {
            let entry = ledger.received.entry(ip.src).or_default();
            entry.0 += ip.len as u64;
            entry.1 += 1;
            match ip.payload {
                IpPayload::Udp { dst_port, data, .. }
                    if (dst_port == CHAT || dst_port == DISCOVERY)
                        && !ledger.proven.contains(&ip.src) =>
                {
                    *ledger.budgeted_in.entry((dst_port, ip.src)).or_default() += data.len() as u64;
                }
                IpPayload::Icmpv6(Icmpv6Kind::NeighborAdvert(target))
                    if IpAddress::Ipv6(target) == ip.src && ledger.asked.contains(&ip.src) =>
                {
                    ledger.proven.insert(ip.src);
                }
                _ => {}
            }
        }
        Err(_) => {}
    }
}

/// Polls the stack once (and again while it says "now", which must stop),
/// then checks every frame it sent.
fn poll<S: AsRef<[u8]> + AsMut<[u8]>>(
    stack: &mut Stack<'_>,
    board: &mut MemoryBoard<S>,
    ledger: &mut Ledger,
    sntp_server: IpAddress,
) {
    let mut spins = 0;
    while stack.poll(board) == Some(Duration::ZERO) {
        spins += 1;
        assert!(
            spins < 16,
            "a busy loop: poll keeps asking to be called again at once"
        );
    }
    assert_eq!(
        board.device.tx_dropped, 0,
        "the transmit ring was too small"
    );
    for frame in board.device.tx.iter() {
        if tracing() {
            std::eprintln!("{} out: {:?}", board.now, frames::parse(frame));
        }
        check_sent(frame, ledger, sntp_server);
    }
    board.device.tx.clear();
    check_amplification(ledger, board.now);
}

fn is_ours(addr: IpAddress) -> bool {
    addr == IpAddress::Ipv4(OUR_IP)
        || addr == IpAddress::Ipv6(OUR_V6)
        || addr == IpAddress::Ipv6(OUR_LINK_LOCAL)
}

fn is_group(addr: IpAddress) -> bool {
    match addr {
        IpAddress::Ipv4(a) => a.is_broadcast() || a.is_multicast() || a == SUBNET_BROADCAST,
        IpAddress::Ipv6(a) => a.is_multicast(),
    }
}

/// The invariants of one frame the stack sent.
fn check_sent(frame: &[u8], ledger: &mut Ledger, sntp_server: IpAddress) {
    let parsed = frames::parse(frame).unwrap_or_else(|why| {
        panic!("the stack sent a frame that does not parse ({why}): {frame:02x?}")
    });
    match parsed {
        Parsed::Arp(
            eth,
            ArpRepr::EthernetIpv4 {
                operation,
                source_hardware_addr,
                source_protocol_addr,
                target_protocol_addr,
                ..
            },
        ) => {
            assert_eq!(eth.src_addr, OUR_MAC, "ARP from another MAC");
            assert_eq!(source_hardware_addr, OUR_MAC, "ARP for another MAC");
            assert_eq!(source_protocol_addr, OUR_IP, "ARP for another address");
            match operation {
                ArpOperation::Request => {
                    ledger.asked.insert(IpAddress::Ipv4(target_protocol_addr));
                }
                ArpOperation::Reply => {
                    assert!(
                        eth.dst_addr.is_unicast(),
                        "an ARP reply to {}",
                        eth.dst_addr
                    );
                    let asked = ledger.arp_requests.entry(target_protocol_addr).or_default();
                    assert!(
                        *asked > 0,
                        "an ARP reply to {target_protocol_addr}, who did not ask"
                    );
                    *asked -= 1;
                }
                ArpOperation::Unknown(op) => panic!("ARP operation {op}"),
            }
        }
        Parsed::Arp(..) => panic!("an ARP packet of another kind"),
        Parsed::Ip(ip) => check_sent_ip(ip, ledger, sntp_server),
    }
}

fn check_sent_ip(ip: IpFrame, ledger: &mut Ledger, sntp_server: IpAddress) {
    let IpFrame {
        eth,
        src,
        dst,
        len,
        payload,
    } = ip;
    assert_eq!(eth.src_addr, OUR_MAC, "a frame from another MAC");
    assert!(
        is_ours(src),
        "a packet from {src}, not our address, to {dst}"
    );
    assert!(!is_ours(dst), "a packet to ourselves: {dst}");
    assert!(!dst.is_unspecified(), "a packet to the unspecified address");
    if !is_group(dst) {
        assert!(
            eth.dst_addr.is_unicast(),
            "a packet to {dst} sent to {}",
            eth.dst_addr
        );
    }
    match payload {
        IpPayload::Udp {
            src_port,
            dst_port,
            data,
        } => {
            assert!(
                OUR_PORTS.contains(&src_port),
                "UDP from port {src_port}, not ours"
            );
            let sntp_request = src_port == SNTP && dst == sntp_server && dst_port == 123;
            let announcement = src_port == DISCOVERY
                && dst == IpAddress::Ipv4(SUBNET_BROADCAST)
                && dst_port == DISCOVERY;
            if sntp_request {
                let request = NtpRepr::parse(&NtpPacket::new_checked(&data[..]).unwrap()).unwrap();
                ledger.sntp_nonce = Some(request.transmit_timestamp);
                return;
            }
            if announcement {
                return;
            }
            assert!(
                !is_group(dst),
                "UDP from port {src_port} to {dst}, a group address"
            );
            assert!(
                guard::check(
                    udpkit::smoltcp::wire::IpEndpoint::new(dst, dst_port),
                    &OUR_PORTS,
                    &[]
                ) != Err(guard::Refusal::ServicePort)
                    && dst_port != 0,
                "UDP from port {src_port} to port {dst_port} of {dst}: the loop guard's"
            );
            if src_port == CHAT || src_port == DISCOVERY {
                if !ledger.proven.contains(&dst) {
                    *ledger.budgeted_out.entry((src_port, dst)).or_default() += data.len() as u64;
                }
                if src_port == CHAT
                    && matches!(ServerLine::parse(&data), Ok(ServerLine::Welcome { .. }))
                {
                    ledger.proven.insert(dst);
                }
            } else if !ledger.proven.contains(&dst) {
                *ledger.answered.entry(dst).or_default() += len as u64;
            }
        }
        IpPayload::Icmpv4(kind) => {
            assert!(!is_group(dst), "ICMP to {dst}, a group address");
            assert_ne!(kind, Icmpv4Kind::EchoRequest, "we ping no one");
            if !ledger.proven.contains(&dst) {
                *ledger.answered.entry(dst).or_default() += len as u64;
            }
        }
        IpPayload::Icmpv6(kind) => match kind {
            Icmpv6Kind::NeighborSolicit(target) => {
                ledger.asked.insert(IpAddress::Ipv6(target));
            }
            Icmpv6Kind::NeighborAdvert(_) | Icmpv6Kind::OtherNdisc | Icmpv6Kind::Mld => {}
            Icmpv6Kind::EchoRequest => panic!("we ping no one"),
            Icmpv6Kind::EchoReply | Icmpv6Kind::Error => {
                assert!(!is_group(dst), "ICMPv6 {kind:?} to {dst}, a group address");
                if !ledger.proven.contains(&dst) {
                    *ledger.answered.entry(dst).or_default() += len as u64;
                }
            }
        },
        IpPayload::Other(protocol) => {
            assert!(
                protocol == IpProtocol::HopByHop && is_group(dst),
                "we sent {protocol} to {dst}"
            );
        }
    }
}

/// No source that has not proven its address gets more than it sent, past
/// the allowances (see the module's documentation).
fn check_amplification(ledger: &Ledger, now: Instant) {
    for (&dst, &bytes) in &ledger.answered {
        if ledger.proven.contains(&dst) {
            continue;
        }
        let (received, packets) = ledger.received.get(&dst).copied().unwrap_or_default();
        assert!(
            bytes <= received + packets * ANSWER_SLACK as u64,
            "{dst} got {bytes} bytes of answers for {packets} packets of {received} bytes"
        );
    }
    let budget = u64::from(EXCESS_BYTES_BURST)
        + (now - BOOT).total_millis() * u64::from(EXCESS_BYTES_PER_SECOND) / 1000;
    for port in [CHAT, DISCOVERY] {
        let excess: u64 = ledger
            .budgeted_out
            .iter()
            .filter(|((p, _), _)| *p == port)
            .map(|(&key, &out)| {
                out.saturating_sub(ledger.budgeted_in.get(&key).copied().unwrap_or(0))
            })
            .sum();
        assert!(
            excess <= budget,
            "port {port} sent {excess} bytes more than it received to sources that proved nothing \
             (budget {budget})"
        );
    }
}
