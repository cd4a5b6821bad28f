//! The whole core, frames in and frames out: a real [`Stack`] with all five
//! services on an in-memory smoltcp device, fed Ethernet/ARP/IPv4/UDP/ICMP
//! frames built with `smoltcp::wire`, and every frame it sends parsed back.
//!
//! Nothing here touches a real network: the device is two queues in memory
//! and the clocks are advanced by hand.

mod support;

use support::*;
use udpkit::services::chat::{Chat, ChatLimits};
use udpkit::services::{chat, daytime, echo, hello, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    ArpOperation, ArpRepr, EthernetAddress, EthernetProtocol, EthernetRepr, Icmpv4Packet,
    Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv6Address, NdiscRepr, UdpPacket,
};
use udpkit::stack::{STALL_LIMIT, WALL_CLOCK_SAMPLE};
use udpkit::{
    Config, Discard, ServiceId, ServiceStats, SocketBuffers, Stack, StackStorage, UnixTime,
};

// ---------------------------------------------------------------------------
// The addresses of the tests, beside the shared ones of `support`.

const OTHER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x03]);
const OTHER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 101);
const GATEWAY_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
const GATEWAY_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 254);
const OFF_LINK_IP: Ipv4Address = Ipv4Address::new(10, 0, 0, 5);

const ECHO: u16 = echo::DEFAULT_PORT;
const DAYTIME: u16 = daytime::DEFAULT_PORT;
const TIME: u16 = time::DEFAULT_PORT;
const UPPER: u16 = upper::DEFAULT_PORT;
const HELLO: u16 = hello::DEFAULT_PORT;
const CHAT: u16 = chat::DEFAULT_PORT;

/// The chat's limits in these tests: a short idle timeout, room for eight.
fn chat_limits() -> ChatLimits {
    ChatLimits {
        max_members: 8,
        // Longer than smoltcp keeps a neighbor's MAC address (60 s), so a
        // member can outlive it.
        idle_timeout: Duration::from_secs(90),
        ..ChatLimits::default()
    }
}

/// 2026-11-23 15:04:05 UTC, a Monday.
const WALL: UnixTime = UnixTime::from_secs(1_795_446_245);

// ---------------------------------------------------------------------------
// A stack with the five services on an in-memory board.

/// The buffers a port would give each service.
type Buffers = SocketBuffers<16, 8192>;

struct Net {
    board: MemoryBoard,
    stack: Stack<'static>,
    echo: ServiceId,
    daytime: ServiceId,
    time: ServiceId,
    upper: ServiceId,
    hello: ServiceId,
    chat: ServiceId,
}

impl Net {
    fn new() -> Net {
        Net::build(Config::default(), leak(Buffers::new()).queues())
    }

    fn with_config(config: Config) -> Net {
        Net::build(config, leak(Buffers::new()).queues())
    }

    /// A stack whose echo service has the given queues; the other services
    /// have [`Buffers`].
    fn build(
        config: Config,
        echo_queues: (
            udpkit::smoltcp::socket::udp::PacketBuffer<'static>,
            udpkit::smoltcp::socket::udp::PacketBuffer<'static>,
        ),
    ) -> Net {
        init_logging();
        let mut board = MemoryBoard {
            wall: Some(WALL),
            ..memory_board(Instant::from_secs(1000))
        };
        let mut stack = leaked_stack(&config, &mut board, 8, neighbor_table());
        let echo = stack
            .add_service(leak(echo::Echo), ECHO, echo_queues)
            .unwrap();
        let daytime = stack
            .add_service(
                leak(daytime::Daytime),
                DAYTIME,
                leak(Buffers::new()).queues(),
            )
            .unwrap();
        let time = stack
            .add_service(leak(time::Time), TIME, leak(Buffers::new()).queues())
            .unwrap();
        let upper = stack
            .add_service(leak(upper::Upper), UPPER, leak(Buffers::new()).queues())
            .unwrap();
        let hello = stack
            .add_service(leak(hello::Hello), HELLO, leak(Buffers::new()).queues())
            .unwrap();
        // 16 slots: the transmit queue holds two fan-outs to all eight
        // members, and no more; the stack must drain it between datagrams.
        let chat = stack
            .add_service(
                leak(Chat::<8, 4>::new(chat_limits())),
                CHAT,
                leak(Buffers::new()).queues(),
            )
            .unwrap();
        // Lines to members that may be gone take a lane of their own.
        stack
            .set_detour(chat, leak(Buffers::new()).queues())
            .unwrap();
        Net {
            board,
            stack,
            echo,
            daytime,
            time,
            upper,
            hello,
            chat,
        }
    }

    fn push(&mut self, frame: Vec<u8>) {
        inject(&mut self.board, &frame);
    }

    fn poll(&mut self) -> Option<Duration> {
        self.stack.poll(&mut self.board)
    }

    fn advance(&mut self, by: Duration) {
        self.board.now += by;
    }

    /// Everything sent since the last call, parsed.
    fn sent(&mut self) -> Vec<Out> {
        take_sent(&mut self.board)
            .iter()
            .map(|f| parse(f))
            .collect()
    }

    /// Feeds one frame, polls once, and returns what was sent.
    fn exchange(&mut self, frame: Vec<u8>) -> Vec<Out> {
        self.push(frame);
        self.poll();
        self.sent()
    }

    /// Sends `payload` from the on-link peer to `port` and returns the one
    /// UDP datagram that must come back, checking its addressing.
    fn ask(&mut self, port: u16, payload: &[u8]) -> Vec<u8> {
        let sent = self.exchange(udp_from_peer(port, payload));
        let reply = single_udp(sent);
        reply.assert_to_peer_from(port);
        reply.payload
    }

    fn stats(&self, id: ServiceId) -> ServiceStats {
        *self.stack.stats(id).unwrap()
    }
}

// ---------------------------------------------------------------------------
// Frames in, beside the shared ones.

fn ping(
    (src_mac, src_ip): (EthernetAddress, Ipv4Address),
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    ipv4(
        (src_mac, OUR_MAC),
        (src_ip, OUR_IP),
        IpProtocol::Icmp,
        repr.buffer_len(),
        |buf| repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps()),
    )
}

// ---------------------------------------------------------------------------
// Frames out, beside the shared ones.

/// The payloads of `sent`, which must all be UDP datagrams.
fn udp_payloads(sent: Vec<Out>) -> Vec<Vec<u8>> {
    sent.into_iter()
        .map(|out| match out {
            Out::Udp(udp) => udp.payload,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn is_arp_request(out: &Out) -> bool {
    matches!(
        out,
        Out::Arp(
            _,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                ..
            }
        )
    )
}

/// Asserts `sent` is exactly the echo reply to `ping(PEER, ident, seq_no, data)`.
fn assert_echo_reply(sent: &[Out], ident: u16, seq_no: u16, data: &[u8]) {
    assert_eq!(sent.len(), 1, "exactly one frame, no ARP request: {sent:?}");
    match &sent[0] {
        Out::IcmpEchoReply {
            eth,
            ip,
            ident: i,
            seq_no: s,
            data: d,
        } => {
            assert_eq!((eth.src_addr, eth.dst_addr), (OUR_MAC, PEER_MAC));
            assert_eq!((ip.src_addr, ip.dst_addr), (OUR_IP, PEER_IP));
            assert_eq!((*i, *s, d.as_slice()), (ident, seq_no, data));
        }
        other => panic!("expected an echo reply, got {other:?}"),
    }
}

/// A small deterministic PRNG (xorshift64*), so garbage is the same every run.
struct Prng(u64);

impl Prng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------
// ARP and ICMP.

#[test]
fn arp_request_for_our_address_gets_a_reply_with_our_mac() {
    let mut net = Net::new();
    let sent = net.exchange(arp_request((PEER_MAC, PEER_IP), OUR_IP));
    assert_eq!(
        sent,
        [Out::Arp(
            EthernetRepr {
                src_addr: OUR_MAC,
                dst_addr: PEER_MAC,
                ethertype: EthernetProtocol::Arp,
            },
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: OUR_MAC,
                source_protocol_addr: OUR_IP,
                target_hardware_addr: PEER_MAC,
                target_protocol_addr: PEER_IP,
            }
        )]
    );
}

#[test]
fn arp_request_for_another_address_is_ignored() {
    let mut net = Net::new();
    assert_eq!(net.exchange(arp_request((PEER_MAC, PEER_IP), OTHER_IP)), []);
}

#[test]
fn ping_after_arp_is_answered_with_the_same_id_sequence_and_data() {
    let mut net = Net::new();
    net.exchange(arp_request((PEER_MAC, PEER_IP), OUR_IP));
    let data: Vec<u8> = (0..56).collect();
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 0x1234, 1, &data));
    assert_echo_reply(&sent, 0x1234, 1, &data);
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 0x1234, 2, b""));
    assert_echo_reply(&sent, 0x1234, 2, b"");
}

#[test]
fn the_first_ping_from_a_peer_that_never_sent_arp_is_answered_in_the_same_poll() {
    let mut net = Net::new();
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 7, 1, b"first"));
    assert!(!sent.iter().any(is_arp_request), "{sent:?}");
    assert_echo_reply(&sent, 7, 1, b"first");
    assert_eq!(net.stack.neighbor_stats().taught, 1);
}

#[test]
fn a_ping_after_70_s_of_silence_is_answered_in_the_same_poll() {
    let mut net = Net::new();
    net.exchange(arp_request((PEER_MAC, PEER_IP), OUR_IP));
    assert_echo_reply(
        &net.exchange(ping((PEER_MAC, PEER_IP), 9, 1, b"a")),
        9,
        1,
        b"a",
    );
    // smoltcp's neighbor cache keeps an entry 60 s.
    net.advance(Duration::from_secs(70));
    assert_eq!(net.poll(), None);
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 9, 2, b"b"));
    assert!(!sent.iter().any(is_arp_request), "{sent:?}");
    assert_echo_reply(&sent, 9, 2, b"b");
}

#[test]
fn a_udp_reply_to_a_peer_that_never_sent_arp_goes_out_in_the_same_poll() {
    let mut net = Net::new();
    assert_eq!(net.ask(ECHO, b"no ARP first\n"), b"no ARP first\n");
    net.advance(Duration::from_secs(70));
    assert_eq!(net.ask(ECHO, b"still there?\n"), b"still there?\n");
}

// ---------------------------------------------------------------------------
// The services.

#[test]
fn echo_returns_text() {
    let mut net = Net::new();
    assert_eq!(net.ask(ECHO, b"hello, echo\n"), b"hello, echo\n");
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.sent), (1, 1));
}

#[test]
fn echo_returns_binary() {
    let mut net = Net::new();
    let payload: Vec<u8> = (0..=255).rev().collect();
    assert_eq!(net.ask(ECHO, &payload), payload);
}

#[test]
fn echo_returns_the_largest_datagram_in_a_full_size_frame() {
    let mut net = Net::new();
    let payload: Vec<u8> = (0..udpkit::MAX_PAYLOAD as u32)
        .map(|i| (i * 31 + 7) as u8)
        .collect();
    assert_eq!(payload.len(), 1472);
    net.push(udp_from_peer(ECHO, &payload));
    net.poll();
    let frames = take_sent(&mut net.board);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].len(), 1514);
    let reply = single_udp(frames.iter().map(|f| parse(f)).collect());
    reply.assert_to_peer_from(ECHO);
    assert_eq!(reply.payload, payload);
}

#[test]
fn echo_returns_an_empty_datagram() {
    let mut net = Net::new();
    assert_eq!(net.ask(ECHO, b""), b"");
}

#[test]
fn empty_datagrams_all_leave_in_the_poll_that_answers_them() {
    // smoltcp counts the bytes a transmit queue holds, not its datagrams:
    // empty replies, alone or behind one with bytes, must all be sent
    // before poll returns, leaving nothing to do.
    let mut net = Net::new();
    let payloads: [&[u8]; 6] = [b"", b"", b"x", b"", b"", b""];
    for payload in payloads {
        net.push(udp_from_peer(ECHO, payload));
    }
    assert_eq!(net.poll(), None);
    assert_eq!(udp_payloads(net.sent()), payloads);
    // And once every queue was seen empty, the next ones too.
    for _ in 0..3 {
        net.push(udp_from_peer(ECHO, b""));
    }
    assert_eq!(net.poll(), None);
    assert_eq!(udp_payloads(net.sent()), [b""; 3]);
}

#[test]
fn a_datagram_over_the_largest_payload_is_counted_not_answered() {
    let mut net = Net::new();
    let payload = vec![b'x'; udpkit::MAX_PAYLOAD + 1];
    assert_eq!(net.exchange(udp_from_peer(ECHO, &payload)), []);
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.oversized, stats.sent), (1, 1, 0));
    assert_eq!(net.ask(ECHO, b"after"), b"after");
}

#[test]
fn daytime_answers_a_ctime_line_for_the_wall_clock() {
    let mut net = Net::new();
    assert_eq!(net.ask(DAYTIME, b"\n"), b"Mon Nov 23 15:04:05 2026\r\n");
    // The stack reads the board's wall clock once a second: a step shows
    // within one.
    net.board.wall = Some(UnixTime::from_secs(951_782_400));
    net.advance(WALL_CLOCK_SAMPLE);
    assert_eq!(net.ask(DAYTIME, b""), b"Tue Feb 29 00:00:00 2000\r\n");
}

#[test]
fn daytime_is_silent_without_a_wall_clock() {
    let mut net = Net::new();
    net.board.wall = None;
    assert_eq!(net.exchange(udp_from_peer(DAYTIME, b"\n")), []);
    let stats = net.stats(net.daytime);
    assert_eq!(stats.discarded[Discard::NoWallClock.index()], 1);
    assert_eq!(stats.sent, 0);
}

#[test]
fn time_answers_four_bytes_big_endian_since_1900() {
    let mut net = Net::new();
    let reply = net.ask(TIME, b"");
    assert_eq!(reply, 4_004_435_045u32.to_be_bytes());
    assert_eq!(time::decode(reply.try_into().unwrap()), WALL);
}

#[test]
fn time_is_silent_and_counts_it_without_a_wall_clock() {
    let mut net = Net::new();
    net.board.wall = None;
    assert_eq!(net.stats(net.time).discarded_total(), 0);
    assert_eq!(net.exchange(udp_from_peer(TIME, b"\n")), []);
    assert_eq!(net.exchange(udp_from_peer(TIME, b"\n")), []);
    let stats = net.stats(net.time);
    assert_eq!(stats.received, 2);
    assert_eq!(stats.discarded[Discard::NoWallClock.index()], 2);
    assert_eq!(stats.discarded_total(), 2);
    assert_eq!(stats.sent, 0);
    // The clock comes back: so do the answers, within a second.
    net.board.wall = Some(WALL);
    net.advance(WALL_CLOCK_SAMPLE);
    assert_eq!(net.ask(TIME, b"\n"), 4_004_435_045u32.to_be_bytes());
}

#[test]
fn upper_answers_in_ascii_upper_case() {
    let mut net = Net::new();
    assert_eq!(
        net.ask(UPPER, "hello, wörld 42!\n".as_bytes()),
        "HELLO, WöRLD 42!\n".as_bytes()
    );
    assert_eq!(net.stats(net.upper).sent, 1);
}

#[test]
fn hello_greets_and_says_good_bye() {
    let mut net = Net::new();
    assert_eq!(net.ask(HELLO, b"alice\n"), b"Hello alice!\n");
    assert_eq!(net.ask(HELLO, b"bob\r\n"), b"Hello bob!\n");
    assert_eq!(net.ask(HELLO, b"exit\n"), b"Good bye!\n");
    assert_eq!(net.stats(net.hello).sent, 3);
}

#[test]
fn a_datagram_to_a_closed_port_gets_port_unreachable_not_a_service() {
    let mut net = Net::new();
    let sent = net.exchange(udp_from_peer(9999, b"anyone?"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(matches!(sent[0], Out::Other(_)), "an ICMP error: {sent:?}");
    for (_, _, stats) in net.stack.services() {
        assert_eq!(stats.received, 0);
    }
}

// ---------------------------------------------------------------------------
// Broadcast.

#[test]
fn a_datagram_to_the_subnet_broadcast_is_answered_by_unicast_from_our_address() {
    let mut net = Net::new();
    for dst in [SUBNET_BROADCAST, Ipv4Address::BROADCAST] {
        let sent = net.exchange(udp(
            (PEER_MAC, EthernetAddress::BROADCAST),
            (PEER_IP, CLIENT_PORT),
            (dst, ECHO),
            b"anyone there?",
        ));
        let reply = single_udp(sent);
        reply.assert_to_peer_from(ECHO);
        assert_eq!(reply.payload, b"anyone there?");
    }
    assert_eq!(net.stats(net.echo).sent, 2);
}

// ---------------------------------------------------------------------------
// The loop guard.

#[test]
fn datagrams_from_port_0_or_service_ports_are_refused() {
    let mut net = Net::new();
    for port in [0, 7, 19, 123, 12000] {
        let frame = udp(
            (PEER_MAC, OUR_MAC),
            (PEER_IP, port),
            (OUR_IP, ECHO),
            b"loop?",
        );
        assert_eq!(net.exchange(frame), [], "source port {port}");
    }
    let stats = net.stats(net.echo);
    assert_eq!(stats.received, 5);
    assert_eq!(stats.refused[REFUSED_ZERO_PORT], 1);
    assert_eq!(stats.refused[REFUSED_SERVICE_PORT], 4);
    assert_eq!(stats.refused_total(), 5);
    assert_eq!(stats.sent, 0);
    // A client port is still answered.
    assert_eq!(net.ask(ECHO, b"client"), b"client");
}

#[test]
fn datagrams_from_a_broadcast_unspecified_or_our_own_address_get_no_reply() {
    let mut net = Net::new();
    let from = |src| {
        udp(
            (PEER_MAC, OUR_MAC),
            (src, CLIENT_PORT),
            (OUR_IP, ECHO),
            b"who?",
        )
    };
    // 0.0.0.0 reaches the socket; the guard refuses it. Our own address
    // is dropped before smoltcp sees it (which would answer a ping from it).
    for src in [Ipv4Address::UNSPECIFIED, OUR_IP] {
        assert_eq!(net.exchange(from(src)), [], "source {src}");
    }
    let stats = net.stats(net.echo);
    assert_eq!(stats.received, 1);
    assert_eq!(stats.refused[REFUSED_BAD_SOURCE], 1);
    assert_eq!(net.stack.neighbor_stats().foreign, 1);
    // smoltcp itself drops IPv4 from a broadcast source before any socket
    // sees it: no reply, nothing received, nothing to refuse.
    for src in [SUBNET_BROADCAST, Ipv4Address::BROADCAST] {
        assert_eq!(net.exchange(from(src)), [], "source {src}");
    }
    let stats = net.stats(net.echo);
    assert_eq!(stats.received, 1);
    assert_eq!(stats.refused_total(), 1);
    assert_eq!(stats.sent, 0);
}

// ---------------------------------------------------------------------------
// Routing.

fn from_off_link(payload: &[u8]) -> Vec<u8> {
    udp(
        (GATEWAY_MAC, OUR_MAC),
        (OFF_LINK_IP, CLIENT_PORT),
        (OUR_IP, ECHO),
        payload,
    )
}

#[test]
fn an_off_link_sender_without_a_gateway_is_counted_unroutable() {
    let mut net = Net::new();
    assert_eq!(net.exchange(from_off_link(b"far away")), []);
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.unroutable, stats.sent), (1, 1, 0));
    assert_eq!(net.poll(), None, "nothing is queued");
}

fn with_gateway() -> Net {
    Net::with_config(Config {
        gateway: Some(GATEWAY_IP),
        ..Config::default()
    })
}

fn assert_arp_request_for_gateway(sent: &[Out]) {
    assert_eq!(
        sent,
        [Out::Arp(
            EthernetRepr {
                src_addr: OUR_MAC,
                dst_addr: EthernetAddress::BROADCAST,
                ethertype: EthernetProtocol::Arp,
            },
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                source_hardware_addr: OUR_MAC,
                source_protocol_addr: OUR_IP,
                target_hardware_addr: EthernetAddress::BROADCAST,
                target_protocol_addr: GATEWAY_IP,
            }
        )]
    );
}

#[test]
fn an_off_link_sender_with_a_gateway_is_answered_through_it() {
    let mut net = with_gateway();
    // The gateway's MAC is not known yet: we ask for it.
    let sent = net.exchange(from_off_link(b"far away"));
    assert_arp_request_for_gateway(&sent);
    // It answers, and the reply goes out to its MAC.
    let sent = net.exchange(arp(
        ArpOperation::Reply,
        (GATEWAY_MAC, GATEWAY_IP),
        (OUR_MAC, OUR_IP),
        OUR_MAC,
    ));
    let reply = single_udp(sent);
    assert_eq!(
        (reply.eth.src_addr, reply.eth.dst_addr),
        (OUR_MAC, GATEWAY_MAC)
    );
    assert_eq!(
        (reply.ip.src_addr, reply.ip.dst_addr),
        (OUR_IP, OFF_LINK_IP)
    );
    assert_eq!((reply.src_port, reply.dst_port), (ECHO, CLIENT_PORT));
    assert_eq!(reply.payload, b"far away");
    // Now that the gateway is known, the next one goes straight out.
    let reply = single_udp(net.exchange(from_off_link(b"again")));
    assert_eq!(
        (reply.eth.dst_addr, reply.ip.dst_addr),
        (GATEWAY_MAC, OFF_LINK_IP)
    );
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.sent, stats.unroutable), (2, 2, 0));
    // One ARP request left, and the counters say so.
    let neighbors = net.stack.neighbor_stats();
    assert_eq!(neighbors.resolutions, 1, "{neighbors:?}");
}

// ---------------------------------------------------------------------------
// The transmit stall watchdog.

#[test]
fn a_reply_stuck_behind_a_silent_gateway_is_dropped_after_the_stall_limit() {
    let mut net = with_gateway();
    assert_eq!(net.poll(), None, "idle");

    // The gateway never answers ARP: the reply to the off-link sender is
    // stuck at the head of echo's transmit queue.
    let sent = net.exchange(from_off_link(b"stuck"));
    assert_arp_request_for_gateway(&sent);
    let delay = net.poll().expect("a stuck queue needs a poll later");
    assert!(delay > Duration::ZERO && delay <= STALL_LIMIT, "{delay}");

    // Behind it, a reply to an on-link peer cannot go out either.
    let sent = net.exchange(udp_from_peer(ECHO, b"blocked"));
    assert!(sent.iter().all(is_arp_request), "{sent:?}");

    // Poll whenever the stack asks to, as a port does: it retries ARP until
    // the limit, then drops what is stuck.
    let start = net.board.now;
    loop {
        let delay = net.poll();
        for out in net.sent() {
            assert!(
                is_arp_request(&out),
                "only ARP retries while stuck: {out:?}"
            );
        }
        if net.stats(net.echo).stall_resets > 0 {
            break;
        }
        let delay = delay.expect("still stuck: a poll is due");
        assert!(delay > Duration::ZERO && delay <= STALL_LIMIT, "{delay}");
        net.advance(delay);
        assert!(net.board.now - start <= STALL_LIMIT, "reset by the limit");
    }
    assert!(net.board.now - start >= STALL_LIMIT, "not before the limit");
    let stats = net.stats(net.echo);
    assert_eq!(stats.stall_resets, 1);
    assert_eq!(stats.sent, 2);
    assert_eq!(net.poll(), None, "idle again");

    // A later echo from an on-link peer is answered at once.
    assert_eq!(net.ask(ECHO, b"unstuck"), b"unstuck");
    assert_eq!(net.stats(net.echo).stall_resets, 1);
    assert_eq!(net.poll(), None);
}

#[test]
fn a_stuck_service_is_reset_right_when_the_stall_limit_passes() {
    let mut net = with_gateway();
    assert_arp_request_for_gateway(&net.exchange(from_off_link(b"stuck")));
    // A port that sleeps through the ARP retries and wakes past the limit.
    net.advance(STALL_LIMIT + Duration::from_millis(100));
    net.poll();
    assert_eq!(net.stats(net.echo).stall_resets, 1);
    net.sent();
    // The very next datagram, at the same instant, is answered in its poll.
    assert_eq!(net.ask(ECHO, b"next"), b"next");
    // The other services never were stuck.
    assert_eq!(net.ask(UPPER, b"fine"), b"FINE");
    assert_eq!(net.stats(net.upper).stall_resets, 0);
}

#[test]
fn poll_asks_for_no_wake_up_when_idle() {
    let mut net = Net::new();
    assert_eq!(net.poll(), None);
    assert_eq!(net.ask(ECHO, b"x"), b"x");
    assert_eq!(net.poll(), None);
    net.advance(Duration::from_secs(3600));
    assert_eq!(net.poll(), None);
    assert_eq!(net.sent(), []);
}

// ---------------------------------------------------------------------------
// Malformed input.

/// After whatever came before, the stack still answers echo and ping.
fn assert_still_serving(net: &mut Net) {
    net.sent();
    assert_eq!(net.ask(ECHO, b"still serving"), b"still serving");
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 1, 1, b"ping"));
    assert_echo_reply(&sent, 1, 1, b"ping");
}

#[test]
fn every_truncation_of_a_valid_frame_is_dropped_without_a_panic() {
    let mut net = Net::new();
    let frames = [
        udp_from_peer(ECHO, b"truncate me, please"),
        ping((PEER_MAC, PEER_IP), 3, 3, b"truncate me too"),
        arp_request((PEER_MAC, PEER_IP), OUR_IP),
    ];
    for frame in &frames {
        for len in 0..frame.len() {
            assert_eq!(net.exchange(frame[..len].to_vec()), [], "{len} bytes");
        }
    }
    assert_eq!(net.stats(net.echo).received, 0);
    assert_still_serving(&mut net);
}

#[test]
fn bad_checksums_are_dropped() {
    let mut net = Net::new();
    let good = udp_from_peer(ECHO, b"checksum");

    let mut bad_ip = good.clone();
    bad_ip[14 + 10] ^= 0xff; // IPv4 header checksum
    assert_eq!(net.exchange(bad_ip), []);

    let mut bad_udp = good.clone();
    bad_udp[14 + 20 + 6] ^= 0xff; // UDP checksum
    assert_eq!(net.exchange(bad_udp), []);

    let mut bad_payload = good.clone();
    *bad_payload.last_mut().unwrap() ^= 0x01; // payload no longer matches the UDP checksum
    assert_eq!(net.exchange(bad_payload), []);

    let mut bad_icmp = ping((PEER_MAC, PEER_IP), 1, 1, b"icmp");
    bad_icmp[14 + 20 + 2] ^= 0xff; // ICMP checksum
    assert_eq!(net.exchange(bad_icmp), []);

    assert_eq!(net.stats(net.echo).received, 0);
    assert_still_serving(&mut net);
}

#[test]
fn lengths_that_lie_are_dropped() {
    let mut net = Net::new();
    let good = udp_from_peer(ECHO, b"length");

    // IPv4 total length past the end of the frame.
    let mut frame = good.clone();
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(ip.total_len() + 100);
    ip.fill_checksum();
    assert_eq!(net.exchange(frame), []);

    // IPv4 total length shorter than its own header.
    let mut frame = good.clone();
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_total_len(10);
    ip.fill_checksum();
    assert_eq!(net.exchange(frame), []);

    // IPv4 header length past the total length (the frame is padded, so
    // the header length still fits in it).
    let mut frame = good.clone();
    frame.resize(14 + 60, 0);
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.set_header_len(60);
    ip.fill_checksum();
    assert_eq!(net.exchange(frame), []);

    // UDP length past the end of the IP payload.
    let mut frame = good.clone();
    UdpPacket::new_unchecked(&mut frame[14 + 20..]).set_len(200);
    assert_eq!(net.exchange(frame), []);

    // UDP length shorter than its header.
    let mut frame = good.clone();
    UdpPacket::new_unchecked(&mut frame[14 + 20..]).set_len(4);
    assert_eq!(net.exchange(frame), []);

    assert_eq!(net.stats(net.echo).received, 0);
    assert_still_serving(&mut net);
}

#[test]
fn trailing_ethernet_padding_is_not_part_of_the_datagram() {
    let mut net = Net::new();
    // Short frames are padded to 60 bytes on the wire; the padding must not
    // be echoed.
    let mut frame = udp_from_peer(ECHO, b"hi");
    frame.resize(60, 0);
    let reply = single_udp(net.exchange(frame));
    assert_eq!(reply.payload, b"hi");
}

#[test]
fn thousands_of_garbage_frames_never_panic() {
    let mut net = Net::new();
    let mut rng = Prng(0x0123_4567_89ab_cdef);
    let template = udp_from_peer(ECHO, b"a perfectly good datagram");
    for i in 0..5000 {
        let frame = match i % 4 {
            // Pure noise, any length up to a jumbo frame.
            0 => {
                let len = rng.below(2000);
                rng.bytes(len)
            }
            // A valid Ethernet header for us, then noise.
            1 => {
                let ethertype = [EthernetProtocol::Ipv4, EthernetProtocol::Arp][rng.below(2)];
                let len = rng.below(1500);
                let mut frame = ethernet(PEER_MAC, OUR_MAC, ethertype, len);
                frame[14..].copy_from_slice(&rng.bytes(len));
                frame
            }
            // A valid datagram with a few bytes flipped.
            2 => {
                let mut frame = template.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(frame.len());
                    frame[at] ^= 1 << rng.below(8);
                }
                frame
            }
            // A valid IPv4 header (checksum fixed) over noise.
            _ => {
                let mut frame = template.clone();
                let at = 14 + rng.below(frame.len() - 14);
                frame[at] = rng.next() as u8;
                let room = frame.len() - 14;
                let mut ip = Ipv4Packet::new_unchecked(&mut frame[14..]);
                let header_len = usize::from(ip.header_len());
                if (20..=room).contains(&header_len) {
                    ip.fill_checksum();
                }
                frame
            }
        };
        net.push(frame);
        if i % 7 == 0 {
            net.poll();
            net.sent();
        }
    }
    net.poll();
    net.advance(Duration::from_secs(5));
    net.poll();
    assert_still_serving(&mut net);
}

/// A UDP datagram in one jumbo frame of `frame_len` bytes.
fn jumbo_from_peer(frame_len: usize) -> Vec<u8> {
    let frame = udp_from_peer(ECHO, &vec![b'j'; frame_len - 14 - 20 - 8]);
    assert_eq!(frame.len(), frame_len);
    frame
}

#[test]
fn oversized_frames_are_dropped_without_a_panic() {
    let mut net = Net::new();
    for len in [1515, 1600, 4000, 9000, 9018, 65535 - 8 + 14] {
        net.exchange(jumbo_from_peer(len.min(14 + 65535)));
    }
    let mut raw = vec![0xa5; 9000];
    raw[..6].copy_from_slice(OUR_MAC.as_bytes());
    net.exchange(raw);
    let stats = net.stats(net.echo);
    assert_eq!(stats.sent, 0);
    assert_still_serving(&mut net);
}

#[test]
fn a_jumbo_frame_first_does_not_keep_its_sender_from_being_learned() {
    // The first frame a peer sends is too large to answer; its ping right
    // after must still be answered without an ARP round trip.
    let mut net = Net::new();
    assert_eq!(net.exchange(jumbo_from_peer(9000)), []);
    let sent = net.exchange(ping((PEER_MAC, PEER_IP), 5, 1, b"after the jumbo"));
    assert!(!sent.iter().any(is_arp_request), "{sent:?}");
    assert_echo_reply(&sent, 5, 1, b"after the jumbo");
}

// ---------------------------------------------------------------------------
// Floods.

#[test]
fn a_flood_of_500_datagrams_in_one_poll_is_answered_in_full() {
    let mut net = Net::new();
    let payloads: Vec<Vec<u8>> = (0..500)
        .map(|i| format!("datagram {i}\n").into_bytes())
        .collect();
    for payload in &payloads {
        net.push(udp_from_peer(ECHO, payload));
    }
    assert_eq!(net.poll(), None);
    let replies: Vec<Vec<u8>> = net
        .sent()
        .into_iter()
        .map(|out| match out {
            Out::Udp(udp) => {
                udp.assert_to_peer_from(ECHO);
                udp.payload
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(replies, payloads);
    let stats = net.stats(net.echo);
    assert_eq!(
        (stats.received, stats.sent, stats.send_failed),
        (500, 500, 0)
    );
}

#[test]
fn a_lone_service_answers_a_burst_in_the_poll_that_takes_it() {
    // One socket with many replies queued: the stack transmits until its
    // queue is empty, however many passes over the sockets that takes.
    let (mut board, mut stack) = stack_with(Config::default(), 1);
    stack
        .add_service(leak(echo::Echo), ECHO, leak(Buffers::new()).queues())
        .unwrap();
    let payloads: Vec<Vec<u8>> = (1..=12u8).map(|i| vec![i; usize::from(i)]).collect();
    for payload in &payloads {
        inject(&mut board, &udp_from_peer(ECHO, payload));
    }
    assert_eq!(stack.poll(&mut board), None);
    let sent = take_sent(&mut board).iter().map(|f| parse(f)).collect();
    assert_eq!(udp_payloads(sent), payloads);
}

#[test]
fn a_flood_of_full_size_datagrams_in_one_poll_is_answered_in_full() {
    let mut net = Net::new();
    let payloads: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; udpkit::MAX_PAYLOAD]).collect();
    for payload in &payloads {
        net.push(udp_from_peer(ECHO, payload));
    }
    net.poll();
    let replies = udp_payloads(net.sent());
    assert_eq!(replies.len(), payloads.len(), "no datagram lost");
    assert_eq!(replies, payloads);
}

#[test]
fn a_flood_of_mixed_traffic_is_answered_in_full() {
    let mut net = Net::new();
    let mut expected = 0;
    for i in 0..300u16 {
        match i % 3 {
            0 => net.push(udp_from_peer(ECHO, &i.to_be_bytes())),
            1 => net.push(udp_from_peer(UPPER, b"abc")),
            _ => net.push(ping((PEER_MAC, PEER_IP), 1, i, b"p")),
        }
        expected += 1;
    }
    net.poll();
    let sent = net.sent();
    assert_eq!(sent.len(), expected);
    assert_eq!(net.stats(net.echo).sent, 100);
    assert_eq!(net.stats(net.upper).sent, 100);
    let pings = sent
        .iter()
        .filter(|o| matches!(o, Out::IcmpEchoReply { .. }))
        .count();
    assert_eq!(pings, 100);
}

#[test]
fn a_flood_into_a_tiny_socket_drops_some_and_keeps_serving() {
    let tiny = leak(SocketBuffers::<2, 256>::new());
    let mut net = Net::build(Config::default(), tiny.queues());
    let mut rng = Prng(42);
    let mut payloads = Vec::new();
    for i in 0..500 {
        let len = rng.below(600);
        let mut payload = rng.bytes(len);
        payload.extend_from_slice(format!("#{i}").as_bytes());
        net.push(udp_from_peer(ECHO, &payload));
        payloads.push(payload);
    }
    net.poll();
    let replies = udp_payloads(net.sent());
    assert!(!replies.is_empty());
    assert!(replies.len() < payloads.len(), "some could not fit");
    // What was answered was answered right, and in order.
    let mut requests = payloads.iter();
    for reply in &replies {
        assert!(requests.any(|p| p == reply), "a reply nobody asked for");
    }
    // Everything that fits the socket was answered.
    let fitting = payloads.iter().filter(|p| p.len() <= 256).count();
    assert_eq!(replies.len(), fitting);
    assert_eq!(net.poll(), None);
    assert_still_serving(&mut net);
}

// ---------------------------------------------------------------------------
// Several peers.

#[test]
fn two_peers_are_answered_each_at_its_own_address() {
    let mut net = Net::new();
    net.push(udp_from_peer(ECHO, b"from peer"));
    net.push(udp(
        (OTHER_MAC, OUR_MAC),
        (OTHER_IP, 50000),
        (OUR_IP, ECHO),
        b"from other",
    ));
    net.poll();
    let sent = net.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut seen = Vec::new();
    for out in sent {
        let Out::Udp(udp) = out else {
            panic!("{out:?}")
        };
        seen.push((udp.eth.dst_addr, udp.ip.dst_addr, udp.dst_port, udp.payload));
    }
    assert_eq!(
        seen,
        [
            (PEER_MAC, PEER_IP, CLIENT_PORT, b"from peer".to_vec()),
            (OTHER_MAC, OTHER_IP, 50000, b"from other".to_vec()),
        ]
    );
}

// ---------------------------------------------------------------------------
// The frame buffer: one buffer holds the frame held back while its sender
// is taught, and the request copy a service reads (`neighbor::FrameBuffer`).

/// An echo request from a host of the link that was never heard from
/// (192.168.69.(20 + n)): its frame is held back while its lesson goes in.
fn echo_from_stranger(n: u8, payload: &[u8]) -> Vec<u8> {
    udp(
        (EthernetAddress([0x02, 0, 0, 0, 2, n]), OUR_MAC),
        (Ipv4Address::new(192, 168, 69, 20 + n), CLIENT_PORT),
        (OUR_IP, ECHO),
        payload,
    )
}

/// Where each UDP datagram of `sent` went, and what it says.
fn udp_destinations(sent: Vec<Out>) -> Vec<(EthernetAddress, Ipv4Address, Vec<u8>)> {
    sent.into_iter()
        .map(|out| match out {
            Out::Udp(udp) => {
                assert_eq!(udp.src(), (OUR_IP, ECHO));
                (udp.eth.dst_addr, udp.ip.dst_addr, udp.payload)
            }
            other => panic!("expected an echo reply, got {other:?}"),
        })
        .collect()
}

/// The reply `echo_from_stranger(n, payload)` must get.
fn to_stranger(n: u8, payload: &[u8]) -> (EthernetAddress, Ipv4Address, Vec<u8>) {
    (
        EthernetAddress([0x02, 0, 0, 0, 2, n]),
        Ipv4Address::new(192, 168, 69, 20 + n),
        payload.to_vec(),
    )
}

#[test]
fn held_frames_and_the_requests_after_them_in_one_batch_are_all_answered_intact() {
    // Batches of five frames (the echo queue holds five full-size
    // datagrams), a lesson counting as one: the first stranger's frame is
    // held while the two requests after it come in, and the second
    // stranger's frame is held when the batch is full. Each goes to
    // smoltcp before any request is copied into the same buffer.
    let mut net = Net::new();
    assert_eq!(net.ask(ECHO, b"known"), b"known");
    let long = |fill: u8| vec![fill; 1000];
    let frames = [
        echo_from_stranger(1, &long(b'a')),
        udp_from_peer(ECHO, b"first request"),
        udp_from_peer(ECHO, &long(b'p')),
        echo_from_stranger(2, &long(b'b')),
        udp_from_peer(ECHO, b"next batch"),
        echo_from_stranger(3, b"short"),
    ];
    for frame in frames {
        net.push(frame);
    }
    assert_eq!(net.poll(), None, "nothing left for later");
    let peer = |payload: &[u8]| (PEER_MAC, PEER_IP, payload.to_vec());
    assert_eq!(
        udp_destinations(net.sent()),
        [
            to_stranger(1, &long(b'a')),
            peer(b"first request"),
            peer(&long(b'p')),
            to_stranger(2, &long(b'b')),
            peer(b"next batch"),
            to_stranger(3, b"short"),
        ]
    );
    let stats = net.stack.neighbor_stats();
    assert_eq!((stats.resolutions, stats.unresolved), (0, 0), "{stats:?}");
    let echo = net.stats(net.echo);
    assert_eq!((echo.received, echo.sent), (7, 7));
}

/// The device of [`StingyBoard`]: a memory device that gives out at most
/// `tokens` transmit tokens (`None`: as many as asked), as a NIC whose
/// transmit queue is full. It then takes in no frame either: smoltcp takes
/// a frame with a token to answer it.
struct StingyDevice {
    inner: MemoryDevice<Vec<u8>>,
    tokens: Option<usize>,
}

impl StingyDevice {
    /// Whether a transmit token may be given out, counting it.
    fn token(&mut self) -> bool {
        match &mut self.tokens {
            None => true,
            Some(0) => false,
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }
}

impl udpkit::smoltcp::phy::Device for StingyDevice {
    type RxToken<'a> = udpkit_testing::device::RxToken<'a>;
    type TxToken<'a> = udpkit_testing::device::TxToken<'a, Vec<u8>>;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if self.inner.rx.is_empty() || !self.token() {
            return None;
        }
        self.inner.receive(now)
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        if !self.token() {
            return None;
        }
        self.inner.transmit(now)
    }

    fn capabilities(&self) -> udpkit::smoltcp::phy::DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A board whose NIC may run out of transmit tokens.
struct StingyBoard {
    device: StingyDevice,
    now: Instant,
}

impl udpkit::Board for StingyBoard {
    type Device = StingyDevice;

    fn device(&mut self) -> &mut StingyDevice {
        &mut self.device
    }

    fn now(&mut self) -> Instant {
        self.now
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        None
    }

    fn entropy_seed(&mut self) -> u64 {
        0x5eed
    }
}

impl StingyBoard {
    fn push(&mut self, frame: &[u8]) {
        self.device.inner.rx.push(frame).unwrap();
    }

    fn sent(&mut self) -> Vec<Out> {
        assert_eq!(self.device.inner.tx_dropped, 0);
        let sent = self.device.inner.tx.iter().map(parse).collect();
        self.device.inner.tx.clear();
        sent
    }
}

#[test]
fn a_frame_held_when_the_device_has_no_transmit_token_is_answered_at_the_next_poll() {
    init_logging();
    let mut board = StingyBoard {
        device: StingyDevice {
            inner: memory_board(Instant::ZERO).device,
            tokens: None,
        },
        now: Instant::from_secs(1000),
    };
    let mut stack = leaked_stack(&Config::default(), &mut board, 1, neighbor_table());
    // A queue of two datagrams: batches of two frames.
    let queues = leak(SocketBuffers::<2, 4096>::new()).queues();
    let echo = stack.add_service(leak(echo::Echo), ECHO, queues).unwrap();
    board.push(&udp_from_peer(ECHO, b"known"));
    assert_eq!(stack.poll(&mut board), None);
    assert_eq!(udp_payloads(board.sent()), [b"known"]);
    // Two tokens: one for the known peer's frame, one for the stranger's,
    // whose lesson goes in while its frame is held back; none is left to
    // give the held frame to smoltcp with.
    board.push(&udp_from_peer(ECHO, b"before"));
    board.push(&echo_from_stranger(1, b"held"));
    board.device.tokens = Some(2);
    assert_eq!(
        stack.poll(&mut board),
        Some(Duration::ZERO),
        "called again at once"
    );
    assert_eq!(board.device.tokens, Some(0));
    assert_eq!(board.sent(), []);
    // The request before it waits in the echo queue, not read.
    assert_eq!(stack.stats(echo).unwrap().received, 1);
    // With tokens again, the held frame goes in first, alone (the queue
    // would not hold it, the request before it and the next frame), and
    // both are answered; then the frames that came since.
    board.device.tokens = None;
    board.push(&echo_from_stranger(2, b"after"));
    assert_eq!(stack.poll(&mut board), None);
    assert_eq!(
        udp_destinations(board.sent()),
        [
            (PEER_MAC, PEER_IP, b"before".to_vec()),
            to_stranger(1, b"held"),
            to_stranger(2, b"after"),
        ]
    );
    let stats = *stack.stats(echo).unwrap();
    assert_eq!((stats.received, stats.sent, stats.send_failed), (4, 4, 0));
    let neighbors = stack.neighbor_stats();
    assert_eq!(
        (neighbors.resolutions, neighbors.unresolved),
        (0, 0),
        "{neighbors:?}"
    );
}

// ---------------------------------------------------------------------------
// Chat: several members through the stack.

/// Member `n` of the chat: its own address and MAC on the link.
fn member(n: u8) -> (EthernetAddress, Ipv4Address) {
    (
        EthernetAddress([0x02, 0, 0, 0, 1, n]),
        Ipv4Address::new(192, 168, 69, 10 + n),
    )
}

fn chat_line(n: u8, text: &str) -> Vec<u8> {
    let (mac, ip) = member(n);
    udp(
        (mac, OUR_MAC),
        (ip, CLIENT_PORT),
        (OUR_IP, CHAT),
        format!("{text}\n").as_bytes(),
    )
}

/// The chat lines in `sent`, by member number, in order.
fn chat_lines(sent: Vec<Out>) -> Vec<(u8, String)> {
    sent.into_iter()
        .map(|out| match out {
            Out::Udp(udp) => {
                assert_eq!(udp.src_port, CHAT);
                assert_eq!(udp.dst_port, CLIENT_PORT);
                let n = udp.ip.dst_addr.octets()[3] - 10;
                assert_eq!(
                    udp.eth.dst_addr,
                    member(n).0,
                    "sent to the member's own MAC"
                );
                (n, String::from_utf8(udp.payload).unwrap())
            }
            other => panic!("expected a chat line, got {other:?}"),
        })
        .collect()
}

fn join_members(net: &mut Net, members: std::ops::RangeInclusive<u8>) {
    for n in members {
        net.push(chat_line(n, &format!("/nick m{n}")));
    }
    net.poll();
    net.sent();
}

#[test]
fn chat_members_talk_through_the_stack() {
    let mut net = Net::new();
    net.push(chat_line(1, "/nick alice"));
    net.push(chat_line(2, "/nick bob"));
    net.poll();
    let lines = chat_lines(net.sent());
    assert_eq!(
        lines,
        [
            (
                1,
                "*** welcome alice, you are in lobby with: alice\n".to_string()
            ),
            (1, "*** bob joined lobby\n".to_string()),
            (
                2,
                "*** welcome bob, you are in lobby with: alice, bob\n".to_string()
            ),
        ]
    );
    let lines = chat_lines(net.exchange(chat_line(2, "hi alice")));
    assert_eq!(
        lines,
        [
            (1, "[lobby] <bob> hi alice\n".to_string()),
            (2, "[lobby] <bob> hi alice\n".to_string()),
        ],
        "alice hears it, bob its echo"
    );
    let lines = chat_lines(net.exchange(chat_line(1, "/msg bob psst")));
    assert_eq!(
        lines,
        [
            (2, "[private] <alice> psst\n".to_string()),
            (1, "[private to bob] psst\n".to_string()),
        ]
    );
}

#[test]
fn a_fan_out_larger_than_the_transmit_queue_is_drained_not_lost() {
    let mut net = Net::new();
    join_members(&mut net, 1..=8);
    // Eight members each say eight things in one burst of frames: 64
    // messages, each to seven others and back to its sender, 512 lines
    // through a 16-slot queue.
    for round in 0..8 {
        for n in 1..=8 {
            net.push(chat_line(n, &format!("round {round} from m{n}")));
        }
    }
    net.poll();
    let lines = chat_lines(net.sent());
    assert_eq!(lines.len(), 64 * 8);
    for n in 1..=8u8 {
        let received: Vec<&String> = lines
            .iter()
            .filter(|(to, _)| *to == n)
            .map(|(_, l)| l)
            .collect();
        assert_eq!(received.len(), 64, "member {n}");
        let own = received
            .iter()
            .filter(|l| l.contains(&format!("<m{n}>")))
            .count();
        assert_eq!(own, 8, "member {n}: its own eight lines, once each");
    }
    let stats = net.stats(net.chat);
    assert_eq!(stats.send_failed, 0);
    assert_eq!(stats.received, 8 + 64);
}

#[test]
fn idle_chat_members_expire_on_the_stacks_timer() {
    let mut net = Net::new();
    join_members(&mut net, 1..=3);
    let delay = net
        .poll()
        .expect("the chat has a timer while it has members");
    assert!(delay <= Duration::from_secs(90), "{delay:?}");
    net.advance(Duration::from_secs(45));
    net.exchange(chat_line(1, "/ping"));
    net.advance(Duration::from_secs(46));
    net.poll();
    let lines = chat_lines(net.sent());
    // m2 and m3 expired; m1 hears of both, and nobody else hears a thing
    // (an idle member's host may be gone: no ARP for it).
    assert_eq!(
        lines,
        [(1, "*** m2, m3 left lobby (idle for 90 s)\n".to_string()),]
    );
    net.advance(Duration::from_secs(90));
    net.poll();
    net.sent();
    assert_eq!(net.poll(), None, "no members, no timer");
}

#[test]
fn a_chat_member_whose_host_is_gone_holds_up_nobody() {
    let mut net = Net::new();
    join_members(&mut net, 1..=2);
    // m3's frames come from a multicast MAC address, which smoltcp accepts
    // and nothing learns: its lines can only be resolved by ARP, and its
    // host is gone, so nothing ever answers.
    let multicast_mac = EthernetAddress([0x03, 0, 0, 0, 1, 3]);
    let m3 = |text: &str| {
        udp(
            (multicast_mac, OUR_MAC),
            (member(3).1, CLIENT_PORT),
            (OUR_IP, CHAT),
            format!("{text}\n").as_bytes(),
        )
    };
    net.push(m3("/nick m3"));
    net.poll();
    // m1 and m2 keep their memberships alive; m3 falls silent.
    for _ in 0..7 {
        net.advance(Duration::from_secs(10));
        net.push(chat_line(1, "/ping"));
        net.push(chat_line(2, "/ping"));
        net.poll();
    }
    net.sent();
    let resets_before = net.stats(net.chat).stall_resets;
    net.push(chat_line(1, "first"));
    net.push(chat_line(1, "second"));
    net.poll();
    let sent = net.sent();
    let to_m2: Vec<String> = sent
        .iter()
        .filter_map(|out| match out {
            Out::Udp(udp) if udp.ip.dst_addr == member(2).1 => {
                Some(String::from_utf8(udp.payload.clone()).unwrap())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        to_m2,
        ["[lobby] <m1> first\n", "[lobby] <m1> second\n"],
        "m2 is not held up behind m3's lines: {sent:?}"
    );
    assert!(
        sent.iter().any(|out| matches!(out, Out::Arp(_, ArpRepr::EthernetIpv4 { target_protocol_addr, .. }) if *target_protocol_addr == member(3).1)),
        "m3's line waits for an ARP answer in the detour: {sent:?}"
    );
    assert!(net.stack.neighbor_stats().unresolved >= 2);
    // Nobody answers: the watchdog clears the detour alone, and m2 still
    // hears m1 at once.
    net.advance(STALL_LIMIT + Duration::from_secs(1));
    net.poll();
    assert_eq!(net.stats(net.chat).stall_resets, resets_before + 1);
    net.sent();
    let lines = chat_lines_to(net.exchange(chat_line(1, "third")), 2);
    assert_eq!(lines, ["[lobby] <m1> third\n"]);
}

#[test]
fn lines_to_a_member_only_arp_can_resolve_never_hold_up_the_others() {
    // Before: a member the neighbor table cannot know (its frames come from
    // a multicast MAC) but who spoke a moment ago had its lines queued on
    // the chat's own socket, where each waited for ARP ahead of everyone's.
    let mut net = Net::new();
    join_members(&mut net, 1..=2);
    let m3 = |text: &str| {
        udp(
            (EthernetAddress([0x03, 0, 0, 0, 1, 3]), OUR_MAC),
            (member(3).1, CLIENT_PORT),
            (OUR_IP, CHAT),
            format!("{text}\n").as_bytes(),
        )
    };
    net.push(m3("/nick m3"));
    net.poll();
    net.sent();
    for (i, text) in ["one", "two", "three"].into_iter().enumerate() {
        net.advance(Duration::from_millis(100));
        net.push(m3("still here"));
        net.push(chat_line(1, text));
        net.poll();
        let to_m2 = chat_lines_to(net.sent(), 2);
        assert!(
            to_m2.contains(&format!("[lobby] <m1> {text}\n")),
            "round {i}: {to_m2:?}"
        );
    }
    assert_eq!(net.stats(net.chat).stall_resets, 0);
    assert!(net.stack.neighbor_stats().unresolved > 0);
}

#[test]
fn lines_to_a_member_silent_for_minutes_leave_at_once_to_its_last_mac() {
    let mut net = Net::new();
    join_members(&mut net, 1..=3);
    // m3 falls silent (its host may be gone); smoltcp would have forgotten
    // its MAC address after 60 s, but the table has not.
    for _ in 0..8 {
        net.advance(Duration::from_secs(10));
        net.push(chat_line(1, "/ping"));
        net.poll();
    }
    net.sent();
    let lines = chat_lines(net.exchange(chat_line(1, "still there?")));
    assert_eq!(
        lines,
        [
            (1, "[lobby] <m1> still there?\n".to_string()),
            (2, "[lobby] <m1> still there?\n".to_string()),
            (3, "[lobby] <m1> still there?\n".to_string()),
        ],
        "no ARP request first"
    );
    assert_eq!(net.stack.neighbor_stats().resolutions, 0);
}

/// The chat lines `sent` to member `n`, ignoring any ARP requests.
fn chat_lines_to(sent: Vec<Out>, n: u8) -> Vec<String> {
    sent.into_iter()
        .filter_map(|out| match out {
            Out::Udp(udp) if udp.ip.dst_addr == member(n).1 => {
                Some(String::from_utf8(udp.payload).unwrap())
            }
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// IPv6: the same services on fdaa::1 and fe80::1, neighbor discovery, ping.

/// A datagram from the peer's MAC and client port at `src` to `dst_port`
/// at `dst`.
fn udp6_from_peer(src: Ipv6Address, dst: Ipv6Address, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    udp6(
        (PEER_MAC, OUR_MAC),
        (src, CLIENT_PORT),
        (dst, dst_port),
        payload,
    )
}

fn icmp6(
    src: Ipv6Address,
    dst: Ipv6Address,
    dst_mac: EthernetAddress,
    repr: Icmpv6Repr,
) -> Vec<u8> {
    ipv6(
        (PEER_MAC, dst_mac),
        (src, dst),
        IpProtocol::Icmpv6,
        255,
        repr.buffer_len(),
        |buf| repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(buf), &caps()),
    )
}

fn sent6(net: &mut Net) -> Vec<Out6> {
    take_sent(&mut net.board)
        .iter()
        .map(|f| parse6(f))
        .collect()
}

#[test]
fn a_neighbor_solicitation_for_our_address_gets_an_advertisement_with_our_mac() {
    let mut net = Net::new();
    let solicit = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
        target_addr: OUR_V6,
        lladdr: Some(PEER_MAC.into()),
    });
    // To our solicited-node multicast group, as Linux sends it.
    let group = Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 0x0001);
    let group_mac = EthernetAddress([0x33, 0x33, 0xff, 0, 0, 1]);
    net.push(icmp6(PEER_V6, group, group_mac, solicit));
    net.poll();
    assert_eq!(
        sent6(&mut net),
        [Out6::NeighborAdvert {
            eth_dst: PEER_MAC,
            target: OUR_V6,
            lladdr: Some(OUR_MAC),
        }]
    );
}

#[test]
fn ping6_is_answered_in_the_same_poll_even_from_an_unknown_neighbor() {
    let mut net = Net::new();
    for (src, dst) in [(PEER_V6, OUR_V6), (PEER_LINK_LOCAL, OUR_LINK_LOCAL)] {
        let request = Icmpv6Repr::EchoRequest {
            ident: 0x1234,
            seq_no: 1,
            data: b"ping six",
        };
        net.push(icmp6(src, dst, OUR_MAC, request));
        net.poll();
        assert_eq!(
            sent6(&mut net),
            [Out6::EchoReply {
                dst: src,
                ident: 0x1234,
                seq_no: 1,
                data: b"ping six".to_vec(),
            }],
            "no neighbor solicitation first: the request taught us the peer"
        );
    }
    // After smoltcp's neighbor cache has long expired, still at once.
    net.advance(Duration::from_secs(70));
    let request = Icmpv6Repr::EchoRequest {
        ident: 7,
        seq_no: 2,
        data: b"later",
    };
    net.push(icmp6(PEER_V6, OUR_V6, OUR_MAC, request));
    net.poll();
    assert!(matches!(
        sent6(&mut net).as_slice(),
        [Out6::EchoReply { seq_no: 2, .. }]
    ));
}

#[test]
fn every_service_answers_over_ipv6_global_and_link_local() {
    let mut net = Net::new();
    for (src, dst) in [(PEER_V6, OUR_V6), (PEER_LINK_LOCAL, OUR_LINK_LOCAL)] {
        for (port, request, reply) in [
            (ECHO, &b"six"[..], &b"six"[..]),
            (UPPER, b"six", b"SIX"),
            (HELLO, b"six\n", b"Hello six!\n"),
            (DAYTIME, b"", b"Mon Nov 23 15:04:05 2026\r\n"),
        ] {
            net.push(udp6_from_peer(src, dst, port, request));
            net.poll();
            assert_eq!(
                sent6(&mut net),
                [Out6::Udp {
                    eth_dst: PEER_MAC,
                    src: (dst, port),
                    dst: (src, CLIENT_PORT),
                    payload: reply.to_vec(),
                }],
                "port {port} from {src}"
            );
        }
    }
}

#[test]
fn the_largest_ipv6_datagram_is_echoed_and_hello_fits_its_reply_in() {
    let mut net = Net::new();
    let payload: Vec<u8> = (0..1452u32).map(|i| (i % 251) as u8).collect();
    net.push(udp6_from_peer(PEER_V6, OUR_V6, ECHO, &payload));
    net.poll();
    match sent6(&mut net).as_slice() {
        [Out6::Udp { payload: back, .. }] => assert_eq!(back, &payload),
        other => panic!("{other:?}"),
    }
    // A 1452-byte name makes a greeting cut to 1452 bytes, not a packet
    // too large for the link.
    net.push(udp6_from_peer(PEER_V6, OUR_V6, HELLO, &[b'x'; 1452]));
    net.poll();
    match sent6(&mut net).as_slice() {
        [Out6::Udp { payload: back, .. }] => {
            assert_eq!(back.len(), 1452);
            assert!(back.ends_with(b"x!\n"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn off_link_and_multicast_ipv6_sources_are_not_answered() {
    let mut net = Net::new();
    let off_link = Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5);
    net.push(udp6_from_peer(off_link, OUR_V6, ECHO, b"far away"));
    net.poll();
    assert_eq!(sent6(&mut net), []);
    assert_eq!(net.stats(net.echo).unroutable, 1);
    net.push(udp6_from_peer(
        Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
        OUR_V6,
        ECHO,
        b"x",
    ));
    net.poll();
    assert_eq!(sent6(&mut net), []);
}

// ---------------------------------------------------------------------------
// What a fuzzer found (issue 11): each test failed before its fix.

/// A chat member on IPv6, at fdaa::(0x200 + n) with its own MAC.
fn member6(n: u16) -> (EthernetAddress, Ipv6Address) {
    (
        EthernetAddress([0x02, 0, 0, 0, 6, n as u8]),
        Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x200 + n),
    )
}

fn chat_line6(n: u16, text: &str) -> Vec<u8> {
    let (mac, ip) = member6(n);
    udp6(
        (mac, OUR_MAC),
        (ip, CLIENT_PORT),
        (OUR_V6, CHAT),
        format!("{text}\n").as_bytes(),
    )
}

/// Every UDP datagram in raw frames `sent`: (source, destination, payload).
fn udp_any(sent: &[Vec<u8>]) -> Vec<(IpAddress, IpAddress, String)> {
    sent.iter()
        .filter_map(|frame| match (parse(frame), parse6(frame)) {
            (Out::Udp(udp), _) => Some((
                IpAddress::Ipv4(udp.ip.src_addr),
                IpAddress::Ipv4(udp.ip.dst_addr),
                String::from_utf8(udp.payload).unwrap(),
            )),
            (
                _,
                Out6::Udp {
                    src, dst, payload, ..
                },
            ) => Some((
                IpAddress::Ipv6(src.0),
                IpAddress::Ipv6(dst.0),
                String::from_utf8(payload).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn chat_lines_cross_address_families_from_our_address_of_each() {
    // Before the fix: every datagram of a request's outbox left from the
    // address the request came in on, and a line relayed from an IPv4
    // member to an IPv6 member panicked inside smoltcp.
    let mut net = Net::new();
    net.push(chat_line(1, "/nick four"));
    net.push(chat_line6(1, "/nick six"));
    net.poll();
    take_sent(&mut net.board);
    net.push(chat_line(1, "from four"));
    net.push(chat_line6(1, "from six"));
    net.poll();
    let sent = take_sent(&mut net.board);
    let lines = udp_any(&sent);
    assert!(
        lines.contains(&(
            IpAddress::Ipv6(OUR_V6),
            IpAddress::Ipv6(member6(1).1),
            "[lobby] <four> from four\n".into()
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(&(
            IpAddress::Ipv4(OUR_IP),
            IpAddress::Ipv4(member(1).1),
            "[lobby] <six> from six\n".into()
        )),
        "{lines:?}"
    );
}

#[test]
fn a_line_to_a_link_local_member_leaves_from_our_link_local_address() {
    let mut net = Net::new();
    let local_mac = EthernetAddress([0x02, 0, 0, 0, 7, 1]);
    let local = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x77);
    let from_local = |text: &str| {
        udp6(
            (local_mac, OUR_MAC),
            (local, CLIENT_PORT),
            (OUR_LINK_LOCAL, CHAT),
            format!("{text}\n").as_bytes(),
        )
    };
    net.push(from_local("/nick local"));
    net.push(chat_line6(1, "/nick global"));
    net.poll();
    take_sent(&mut net.board);
    net.push(chat_line6(1, "hello"));
    net.poll();
    let sent = take_sent(&mut net.board);
    // The echo to the sender leaves from the address it wrote to.
    assert_eq!(
        udp_any(&sent),
        [
            (
                IpAddress::Ipv6(OUR_LINK_LOCAL),
                IpAddress::Ipv6(local),
                "[lobby] <global> hello\n".into()
            ),
            (
                IpAddress::Ipv6(OUR_V6),
                IpAddress::Ipv6(Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x201)),
                "[lobby] <global> hello\n".into()
            ),
        ]
    );
}

#[test]
fn a_timer_that_has_no_room_does_not_make_poll_spin() {
    // Before the fix: a due timer skipped for want of room in its
    // service's transmit queue still set the next poll to "now", and
    // poll returned zero about 3,000 times until the stall reset.
    let mut net = Net::new();
    join_members(&mut net, 2..=2);
    // m2's membership falls due in 90 s. Just before, a member whose
    // frames come from a multicast MAC (accepted by smoltcp, never
    // learned) fills the chat's queue with replies that wait for ARP.
    net.advance(Duration::from_millis(89_500));
    let (_, ip) = member(1);
    let multicast_mac = EthernetAddress([0x03, 0, 0, 0, 0, 0x01]);
    for text in [
        "/nick lost",
        "/help",
        "/help",
        "/help",
        "/help",
        "/help",
        "/help",
    ] {
        net.push(udp(
            (multicast_mac, OUR_MAC),
            (ip, CLIENT_PORT),
            (OUR_IP, CHAT),
            format!("{text}\n").as_bytes(),
        ));
    }
    net.poll();
    net.sent();
    net.advance(Duration::from_millis(600));
    let mut zero_delays = 0;
    for _ in 0..100 {
        match net.poll() {
            Some(delay) if delay == Duration::ZERO => zero_delays += 1,
            Some(delay) => {
                assert!(delay <= STALL_LIMIT, "{delay:?}");
                break;
            }
            None => panic!("something is still queued: a deadline is due"),
        }
    }
    assert!(
        zero_delays <= 1,
        "poll asked to be called again at once {zero_delays} times"
    );
    // Once the stuck replies are dropped, the expiry runs and m2 goes.
    net.advance(STALL_LIMIT);
    net.poll();
    net.advance(Duration::from_millis(100));
    net.poll();
    net.sent();
    assert!(net.stats(net.chat).stall_resets >= 1);
    let mut counters = Vec::new();
    let (chat, _, _) = net
        .stack
        .services()
        .find(|(_, port, _)| *port == CHAT)
        .unwrap();
    chat.counters(&mut |name, value| counters.push((name, value)));
    assert!(counters.contains(&("expired", 1)), "{counters:?}");
}

#[test]
fn packets_to_foreign_ipv6_addresses_are_not_answered() {
    // smoltcp 0.14 accepts a packet to any address whose last bytes match
    // one of our solicited-node groups, and to ::1: before the fix, pings
    // to 2001:db8::1 or ::1 were answered from those addresses.
    let mut net = Net::new();
    for dst in [
        Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        Ipv6Address::LOCALHOST,
        Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0x100, 1),
    ] {
        let request = Icmpv6Repr::EchoRequest {
            ident: 9,
            seq_no: 1,
            data: b"not you",
        };
        net.push(icmp6(PEER_V6, dst, OUR_MAC, request));
        net.push(udp6_from_peer(PEER_V6, dst, ECHO, b"not you"));
        // A closed port would get an ICMPv6 error from the foreign address.
        net.push(udp6_from_peer(PEER_V6, dst, 9999, b"not you"));
        net.poll();
        assert_eq!(sent6(&mut net), [], "to {dst}");
    }
    assert_eq!(net.stack.neighbor_stats().foreign, 9);
    // Our own addresses are still answered.
    net.push(udp6_from_peer(PEER_V6, OUR_V6, ECHO, b"you"));
    net.poll();
    assert_eq!(sent6(&mut net).len(), 1);
}

#[test]
fn ipv6_packets_from_our_own_addresses_are_not_answered() {
    // Found by the stack fuzz target: a datagram to a closed port, to our
    // solicited-node group or to our address, whose source is forged as
    // our own address made smoltcp send an ICMPv6 error to ourselves (at
    // the sender's MAC), and a ping from our address was answered to it.
    let mut net = Net::new();
    let solicited = Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
    for src in [OUR_V6, OUR_LINK_LOCAL] {
        for dst in [solicited, OUR_V6, OUR_LINK_LOCAL] {
            net.push(udp6_from_peer(src, dst, 9999, b"from ourselves?"));
            let request = Icmpv6Repr::EchoRequest {
                ident: 9,
                seq_no: 1,
                data: b"from ourselves?",
            };
            net.push(icmp6(src, dst, OUR_MAC, request));
            net.poll();
            assert_eq!(sent6(&mut net), [], "from {src} to {dst}");
        }
    }
    // Others are still answered.
    net.push(udp6_from_peer(PEER_V6, OUR_V6, 9999, b"closed"));
    net.poll();
    assert_eq!(sent6(&mut net).len(), 1, "port unreachable to a peer");
}

#[test]
fn ipv4_packets_from_our_own_address_are_not_answered() {
    // Found by the stack fuzz target: a ping whose source is forged as our
    // own address was answered, to ourselves (at the sender's MAC); a
    // datagram to a closed port got its ICMP error the same way.
    let mut net = Net::new();
    net.push(ping((PEER_MAC, OUR_IP), 9, 1, b"from ourselves?"));
    net.push(udp(
        (PEER_MAC, OUR_MAC),
        (OUR_IP, CLIENT_PORT),
        (OUR_IP, 9999),
        b"?",
    ));
    net.poll();
    assert_eq!(net.sent(), [], "nothing to ourselves");
    // Others are still answered.
    net.push(ping((PEER_MAC, PEER_IP), 9, 2, b"from a peer"));
    net.poll();
    assert_eq!(net.sent().len(), 1, "the peer's ping");
}

/// A board that counts how often the stack asks for its wall clock.
struct CountingBoard {
    inner: MemoryBoard,
    wall_reads: u32,
}

impl udpkit::Board for CountingBoard {
    type Device = MemoryDevice<Vec<u8>>;

    fn device(&mut self) -> &mut Self::Device {
        udpkit::Board::device(&mut self.inner)
    }

    fn now(&mut self) -> Instant {
        udpkit::Board::now(&mut self.inner)
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        self.wall_reads += 1;
        udpkit::Board::wall_clock(&mut self.inner)
    }

    fn entropy_seed(&mut self) -> u64 {
        udpkit::Board::entropy_seed(&mut self.inner)
    }
}

/// A service that only answers what it receives (echo) makes the stack
/// read the board's wall clock never, and ask it no deadline; add one that
/// reads the clock (daytime), and the clock is read again, once a second.
#[test]
fn the_wall_clock_is_read_only_for_services_that_use_it() {
    use udpkit::Service;
    let mut board = CountingBoard {
        inner: memory_board(Instant::from_secs(10)),
        wall_reads: 0,
    };
    board.inner.wall = Some(UnixTime::from_secs(1_800_000_000));
    let sockets = Box::leak(Box::new([SocketStorage::EMPTY; 2]));
    let neighbors = Box::leak(Box::new([udpkit::NeighborSlot::EMPTY; 16]));
    let mut stack = Stack::new(
        &Config::default(),
        &mut board,
        &mut sockets[..],
        &mut neighbors[..],
        leak(StackStorage::new()),
    );
    let echo: &'static mut echo::Echo = Box::leak(Box::new(echo::Echo));
    assert_eq!(echo.uses(), udpkit::Uses::NOTHING);
    let buffers = Box::leak(Box::new(SocketBuffers::<4, 4096>::new()));
    stack
        .add_service(echo, echo::DEFAULT_PORT, buffers.queues())
        .unwrap();
    for second in 0..3 {
        board.inner.now = Instant::from_secs(10 + second);
        stack.poll(&mut board);
    }
    assert_eq!(
        board.wall_reads, 0,
        "echo alone: the wall clock is never read"
    );
    let daytime: &'static mut daytime::Daytime = Box::leak(Box::new(daytime::Daytime));
    let buffers = Box::leak(Box::new(SocketBuffers::<4, 4096>::new()));
    stack
        .add_service(daytime, daytime::DEFAULT_PORT, buffers.queues())
        .unwrap();
    for tenth in 0..30 {
        board.inner.now = Instant::from_millis(13_000 + 100 * tenth);
        stack.poll(&mut board);
    }
    assert_eq!(board.wall_reads, 3, "with daytime: once a second, for 3 s");
}

// ---------------------------------------------------------------------------
// Adding services: sockets, ports and queues.

/// A service that may send `burst` at once in answer to one datagram.
struct Bursty(udpkit::Burst);

impl udpkit::Service for Bursty {
    fn name(&self) -> &'static str {
        "bursty"
    }

    fn on_datagram(
        &mut self,
        _request: &udpkit::Request<'_>,
        _out: &mut dyn udpkit::Outbox,
    ) -> Result<(), Discard> {
        Ok(())
    }

    fn burst(&self) -> udpkit::Burst {
        self.0
    }
}

/// A stack of `config` with room for `sockets` sockets and no service yet.
fn stack_with(config: Config, sockets: usize) -> (MemoryBoard, Stack<'static>) {
    let mut board = memory_board(Instant::from_secs(10));
    let storage: &'static mut [SocketStorage<'static>] =
        Vec::leak((0..sockets).map(|_| SocketStorage::EMPTY).collect());
    let stack = Stack::new(
        &config,
        &mut board,
        storage,
        neighbor_table(),
        leak(StackStorage::default()), // as `new()`
    );
    (board, stack)
}

#[test]
fn services_and_detours_take_sockets_until_the_storage_given_is_used_up() {
    use udpkit::AddServiceError;
    let (_board, mut stack) = stack_with(Config::default(), 3);
    let queues = || leak(SocketBuffers::<4, 4096>::new()).queues();
    let echo_id = stack.add_service(leak(echo::Echo), ECHO, queues()).unwrap();
    assert_eq!(
        stack.add_service(leak(upper::Upper), ECHO, queues()),
        Err(AddServiceError::PortInUse(ECHO))
    );
    assert_eq!(
        stack.add_service(leak(upper::Upper), 0, queues()),
        Err(AddServiceError::InvalidPort)
    );
    // A detour is a socket too: echo's, then upper, fill the three.
    stack.set_detour(echo_id, queues()).unwrap();
    assert_eq!(
        stack.set_detour(echo_id, queues()),
        Err(AddServiceError::PortInUse(ECHO)),
        "one detour a service"
    );
    stack
        .add_service(leak(upper::Upper), UPPER, queues())
        .unwrap();
    assert_eq!(
        stack.add_service(leak(hello::Hello), HELLO, queues()),
        Err(AddServiceError::TooManyServices)
    );
    assert_eq!(
        stack.set_detour(echo_id, queues()),
        Err(AddServiceError::TooManyServices)
    );
    assert_eq!(stack.services().count(), 2);
}

#[test]
fn dhcp_takes_a_socket_of_its_own_once() {
    use udpkit::{AddServiceError, DhcpStorage};
    let (_board, mut stack) = stack_with(Config::default(), 2);
    stack.enable_dhcp(leak(DhcpStorage::new())).unwrap();
    assert_eq!(
        stack.enable_dhcp(leak(DhcpStorage::new())),
        Err(AddServiceError::TooManyServices),
        "a second client"
    );
    let queues = || leak(SocketBuffers::<4, 4096>::new()).queues();
    stack.add_service(leak(echo::Echo), ECHO, queues()).unwrap();
    assert_eq!(
        stack.add_service(leak(upper::Upper), UPPER, queues()),
        Err(AddServiceError::TooManyServices),
        "the DHCP client holds the second socket"
    );
    // And without room, no client.
    let (_board, mut full) = stack_with(Config::default(), 1);
    full.add_service(leak(echo::Echo), ECHO, queues()).unwrap();
    assert_eq!(
        full.enable_dhcp(leak(DhcpStorage::new())),
        Err(AddServiceError::TooManyServices)
    );
}

#[test]
fn a_burst_must_fit_the_transmit_queue_in_datagrams_and_bytes() {
    use udpkit::{AddServiceError, Burst};
    let burst = Burst {
        datagrams: 4,
        bytes: 1000,
    };
    // Exactly enough: 4 slots, 1000 bytes.
    let (_board, mut stack) = stack_with(Config::default(), 3);
    stack
        .add_service(
            leak(Bursty(burst)),
            7000,
            leak(SocketBuffers::<4, 1000>::new()).queues(),
        )
        .unwrap();
    // A slot short, with bytes to spare.
    assert_eq!(
        stack.add_service(
            leak(Bursty(burst)),
            7001,
            leak(SocketBuffers::<3, 4096>::new()).queues(),
        ),
        Err(AddServiceError::QueueTooSmall(burst))
    );
    // A byte short, with slots to spare.
    assert_eq!(
        stack.add_service(
            leak(Bursty(burst)),
            7002,
            leak(SocketBuffers::<8, 999>::new()).queues(),
        ),
        Err(AddServiceError::QueueTooSmall(burst))
    );
}

#[test]
fn why_a_service_cannot_start_is_said_in_words() {
    use udpkit::{AddServiceError, Burst};
    let said = [
        (
            AddServiceError::TooManyServices,
            "too many services for the stack",
        ),
        (AddServiceError::PortInUse(7), "port 7 is already in use"),
        (AddServiceError::InvalidPort, "port 0 cannot be bound"),
        (
            AddServiceError::QueueTooSmall(Burst {
                datagrams: 16,
                bytes: 4624,
            }),
            "the transmit queue must hold 16 datagrams and 4624 bytes at once",
        ),
    ];
    for (error, text) in said {
        assert_eq!(error.to_string(), text);
    }
}

/// Replies waiting for the gateway's MAC fill echo's transmit queue: the
/// stack stops serving before it would overflow, the requests wait in the
/// receive queue, and once the gateway answers ARP every one is answered,
/// none lost to a full queue. The queue runs out of slots here.
#[test]
fn requests_wait_while_the_transmit_queue_is_full_and_are_all_answered_later() {
    // 4 slots: three replies queued (a fourth might not fit after a wrap
    // of the ring).
    answered_after_a_full_queue(4, 4096, 8, 3);
}

/// The same with a queue that runs out of bytes first: 1000-byte replies
/// in 4096 bytes, where the next may need room for two of the largest
/// datagrams (one of them skipped at the end of the ring).
#[test]
fn requests_wait_while_the_transmit_queue_is_out_of_bytes() {
    answered_after_a_full_queue(16, 4096, 1000, 2);
}

/// Ten requests of `size` bytes from an off-link sender whose gateway is
/// silent, echo's transmit queue `slots` datagrams and `bytes` bytes:
/// `queued` replies wait for ARP, then all ten come back in order.
fn answered_after_a_full_queue(slots: usize, bytes: usize, size: usize, queued: u64) {
    use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
    let rx = PacketBuffer::new(
        Vec::leak(vec![PacketMetadata::EMPTY; 16]),
        Vec::leak(vec![0u8; 16 * 1024]),
    );
    let tx = PacketBuffer::new(
        Vec::leak(vec![PacketMetadata::EMPTY; slots]),
        Vec::leak(vec![0u8; bytes]),
    );
    let mut net = Net::build(
        Config {
            gateway: Some(GATEWAY_IP),
            ..Config::default()
        },
        (rx, tx),
    );
    for i in 0..10u8 {
        net.push(from_off_link(&vec![b'a' + i; size]));
    }
    // Polls while the gateway is silent (ARP retries) serve no more.
    for _ in 0..4 {
        net.poll();
        net.advance(Duration::from_millis(300));
    }
    let sent = net.sent();
    assert!(sent.iter().all(is_arp_request), "{sent:?}");
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.sent), (queued, queued), "{stats:?}");
    assert_eq!(stats.send_failed, 0);
    let sent = net.exchange(arp(
        ArpOperation::Reply,
        (GATEWAY_MAC, GATEWAY_IP),
        (OUR_MAC, OUR_IP),
        OUR_MAC,
    ));
    let mut payloads = udp_payloads(sent);
    for _ in 0..4 {
        net.poll();
        payloads.extend(udp_payloads(net.sent()));
    }
    let expected: Vec<Vec<u8>> = (0..10u8).map(|i| vec![b'a' + i; size]).collect();
    assert_eq!(payloads, expected);
    let stats = net.stats(net.echo);
    assert_eq!((stats.received, stats.sent, stats.send_failed), (10, 10, 0));
}

/// A reply leaves from the address the request came to, even where smoltcp
/// would pick another: a global peer asking our link-local address.
#[test]
fn a_reply_comes_from_the_address_that_was_asked() {
    let mut net = Net::new();
    net.push(udp6_from_peer(PEER_V6, OUR_LINK_LOCAL, ECHO, b"which?"));
    net.poll();
    assert_eq!(
        sent6(&mut net),
        [Out6::Udp {
            eth_dst: PEER_MAC,
            src: (OUR_LINK_LOCAL, ECHO),
            dst: (PEER_V6, CLIENT_PORT),
            payload: b"which?".to_vec(),
        }]
    );
}

/// A service that answers every datagram with what cannot be sent: to a
/// destination smoltcp cannot send to (the unspecified address), and too
/// large.
struct Misaddressed;

impl udpkit::Service for Misaddressed {
    fn name(&self) -> &'static str {
        "misaddressed"
    }

    fn on_datagram(
        &mut self,
        _request: &udpkit::Request<'_>,
        out: &mut dyn udpkit::Outbox,
    ) -> Result<(), Discard> {
        let nowhere = udpkit::smoltcp::wire::IpEndpoint::new(Ipv4Address::UNSPECIFIED.into(), 9);
        assert_eq!(
            out.send(nowhere, b"lost"),
            Err(udpkit::SendError::Unaddressable)
        );
        // Nor can a datagram larger than an IPv4 packet carries go.
        let peer = udpkit::smoltcp::wire::IpEndpoint::new(PEER_IP.into(), CLIENT_PORT);
        assert_eq!(
            out.send(peer, &[0; udpkit::MAX_PAYLOAD + 1]),
            Err(udpkit::SendError::TooLarge)
        );
        Ok(())
    }
}

#[test]
fn a_datagram_smoltcp_cannot_send_is_refused_and_counted() {
    let (mut board, mut stack) = stack_with(Config::default(), 1);
    let id = stack
        .add_service(
            leak(Misaddressed),
            7000,
            leak(SocketBuffers::<4, 4096>::new()).queues(),
        )
        .unwrap();
    board
        .device
        .rx
        .push(&udp(
            (PEER_MAC, OUR_MAC),
            (PEER_IP, CLIENT_PORT),
            (OUR_IP, 7000),
            b"answer me",
        ))
        .unwrap();
    stack.poll(&mut board);
    let stats = stack.stats(id).unwrap();
    assert_eq!((stats.received, stats.sent, stats.send_failed), (1, 0, 2));
}

/// A service with a timer, for the stack's timer mechanics: every `every`
/// its timer sends a datagram to `to` (if any), and it notes how much its
/// outbox says a datagram may carry, when it answers a request (and
/// whether one byte more is refused) and when its timer runs.
struct Ticker {
    next: Instant,
    every: Duration,
    to: Option<udpkit::smoltcp::wire::IpEndpoint>,
    room: &'static Room,
}

/// What a [`Ticker`] saw of its outbox.
#[derive(Default)]
struct Room {
    reply: std::cell::Cell<usize>,
    one_more_refused: std::cell::Cell<bool>,
    tick: std::cell::Cell<usize>,
}

impl Ticker {
    /// One datagram every 100 ms from `first` on, to a host beyond the
    /// gateway.
    fn to_off_link(first: Instant) -> Ticker {
        Ticker {
            next: first,
            every: Duration::from_millis(100),
            to: Some(udpkit::smoltcp::wire::IpEndpoint::new(
                OFF_LINK_IP.into(),
                9,
            )),
            room: leak(Room::default()),
        }
    }
}

impl udpkit::Service for Ticker {
    fn name(&self) -> &'static str {
        "ticker"
    }

    fn on_datagram(
        &mut self,
        request: &udpkit::Request<'_>,
        out: &mut dyn udpkit::Outbox,
    ) -> Result<(), Discard> {
        let room = out.max_payload();
        self.room.reply.set(room);
        let refused = out.reserve(request.from, room + 1) == Err(udpkit::SendError::TooLarge);
        self.room.one_more_refused.set(refused);
        Ok(())
    }

    fn uses(&self) -> udpkit::Uses {
        udpkit::Uses {
            wall_clock: false,
            timers: true,
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        Some(self.next)
    }

    fn on_tick(&mut self, now: Instant, _wall: Option<UnixTime>, out: &mut dyn udpkit::Outbox) {
        self.room.tick.set(out.max_payload());
        if let Some(to) = self.to {
            let _ = out.send(to, b"tick");
        }
        self.next = now + self.every;
    }
}

/// A timer falls due while its service's transmit queue is full (its
/// datagrams wait for the gateway's MAC): it waits for room rather than
/// send into the full queue, and runs again once the gateway answers.
#[test]
fn a_timer_waits_for_room_in_its_queue() {
    let config = Config {
        gateway: Some(GATEWAY_IP),
        ..Config::default()
    };
    let (mut board, mut stack) = stack_with(config, 1);
    let id = stack
        .add_service(
            leak(Ticker::to_off_link(Instant::from_secs(10))),
            7000,
            leak(SocketBuffers::<4, 4096>::new()).queues(),
        )
        .unwrap();
    // Two seconds of ticks while the gateway is silent.
    for _ in 0..20 {
        stack.poll(&mut board);
        board.now += Duration::from_millis(100);
    }
    let stats = *stack.stats(id).unwrap();
    assert_eq!((stats.sent, stats.send_failed), (3, 0), "{stats:?}");
    take_sent(&mut board);
    // The gateway answers: what waited leaves, and the ticks go on.
    board
        .device
        .rx
        .push(&arp(
            ArpOperation::Reply,
            (GATEWAY_MAC, GATEWAY_IP),
            (OUR_MAC, OUR_IP),
            OUR_MAC,
        ))
        .unwrap();
    for _ in 0..5 {
        stack.poll(&mut board);
        board.now += Duration::from_millis(100);
    }
    let stats = *stack.stats(id).unwrap();
    assert!(stats.sent >= 7, "{stats:?}");
    assert_eq!(stats.send_failed, 0);
    let ticks = take_sent(&mut board)
        .iter()
        .filter(|frame| frame.ends_with(b"tick"))
        .count();
    assert_eq!(ticks as u64, stats.sent);
}

// ---------------------------------------------------------------------------
// A stack sized for a small board (`Stack::new_sized`): frames of 590 bytes
// (a 576-byte IPv4 datagram), two services.

/// The small board's frame: what its NIC passes and sends at most.
const SMALL_FRAME: usize = 590;

type SmallStack = Stack<'static, 2, SMALL_FRAME>;

/// Echo and time on a stack for 590-byte frames and two services.
fn small_stack(board: &mut MemoryBoard) -> (SmallStack, ServiceId) {
    init_logging();
    let sockets = leak([SocketStorage::EMPTY; 4]);
    let mut stack: SmallStack = Stack::new_sized(
        &Config::default(),
        board,
        &mut sockets[..],
        neighbor_table(),
        leak(StackStorage::new()),
    );
    let queues = leak(SocketBuffers::<2, 1200>::new()).queues();
    let echo = stack.add_service(leak(echo::Echo), ECHO, queues).unwrap();
    let queues = leak(SocketBuffers::<2, 256>::new()).queues();
    stack.add_service(leak(time::Time), TIME, queues).unwrap();
    (stack, echo)
}

#[test]
fn a_stack_for_590_byte_frames_echoes_548_bytes_to_a_new_sender_at_once() {
    assert_eq!(SmallStack::MAX_PAYLOAD, 548);
    let mut board = memory_board(Instant::from_secs(1000));
    let (mut stack, echo) = small_stack(&mut board);
    // The sender was never heard from (no ARP): its frame is held back,
    // in the stack's 590-byte frame, while its lesson goes first.
    let payload: Vec<u8> = (0..548u32).map(|i| (i * 13 + 1) as u8).collect();
    inject(&mut board, &udp_from_peer(ECHO, &payload));
    stack.poll(&mut board);
    let frames = take_sent(&mut board);
    assert_eq!(frames.len(), 1, "the reply alone, no ARP request");
    assert_eq!(frames[0].len(), SMALL_FRAME);
    let reply = single_udp(frames.iter().map(|f| parse(f)).collect());
    reply.assert_to_peer_from(ECHO);
    assert_eq!(reply.payload, payload);
    assert_eq!(stack.neighbor_stats().taught, 1);
    let stats = stack.stats(echo).unwrap();
    assert_eq!((stats.received, stats.sent), (1, 1));
}

#[test]
fn a_stack_for_590_byte_frames_counts_a_longer_datagram_oversized_without_answering() {
    let mut board = memory_board(Instant::from_secs(1000));
    let (mut stack, echo) = small_stack(&mut board);
    // A device with a larger MTU than the stack's passes it: too long to
    // hold back or to answer, counted; its sender is not learned from it.
    for len in [549, 1000, udpkit::MAX_PAYLOAD] {
        inject(&mut board, &udp_from_peer(ECHO, &vec![b'x'; len]));
        stack.poll(&mut board);
        let sent: Vec<Out> = take_sent(&mut board).iter().map(|f| parse(f)).collect();
        assert!(
            !sent.iter().any(|out| matches!(out, Out::Udp(_))),
            "{len}: {sent:?}"
        );
    }
    let stats = *stack.stats(echo).unwrap();
    assert_eq!(stats.sent, 0);
    // The echo queue holds 1200 bytes: the 1472-byte datagram never got in.
    assert_eq!((stats.received, stats.oversized), (2, 2));
    assert_eq!(stack.neighbor_stats().taught, 0);
    // A datagram that fits is answered at once.
    inject(&mut board, &udp_from_peer(ECHO, b"short"));
    stack.poll(&mut board);
    let reply = single_udp(take_sent(&mut board).iter().map(|f| parse(f)).collect());
    assert_eq!(reply.payload, b"short");
}

#[test]
fn a_stack_for_two_services_refuses_a_third() {
    let mut board = memory_board(Instant::from_secs(1000));
    let (mut stack, _) = small_stack(&mut board);
    let queues = leak(SocketBuffers::<2, 256>::new()).queues();
    assert_eq!(
        stack.add_service(leak(daytime::Daytime), DAYTIME, queues),
        Err(udpkit::AddServiceError::TooManyServices)
    );
}

/// What a service may send from a stack of `FRAME`-byte frames: to an
/// IPv4 requester, to an IPv6 one, and from its timer (to either); one
/// byte more to a requester is refused as too large.
fn payload_limits<const FRAME: usize>() -> (usize, usize, usize) {
    const PROBE: u16 = 5000;
    let mut board = memory_board(Instant::from_secs(10));
    let sockets = leak([SocketStorage::EMPTY; 2]);
    let mut stack: Stack<'static, 2, FRAME> = Stack::new_sized(
        &Config::default(),
        &mut board,
        &mut sockets[..],
        neighbor_table(),
        leak(StackStorage::new()),
    );
    let room: &'static Room = leak(Room::default());
    let probe = Ticker {
        next: Instant::from_secs(10),
        every: Duration::from_secs(3600),
        to: None,
        room,
    };
    let queues = leak(SocketBuffers::<2, 4096>::new()).queues();
    stack.add_service(leak(probe), PROBE, queues).unwrap();
    stack.poll(&mut board);
    let from_timer = room.tick.get();
    inject(&mut board, &udp_from_peer(PROBE, b"v4"));
    stack.poll(&mut board);
    let to_ipv4 = room.reply.get();
    assert!(
        room.one_more_refused.get(),
        "{FRAME}: one byte more to IPv4"
    );
    inject(
        &mut board,
        &udp6(
            (PEER_MAC, OUR_MAC),
            (PEER_V6, CLIENT_PORT),
            (OUR_V6, PROBE),
            b"v6",
        ),
    );
    stack.poll(&mut board);
    assert!(
        room.one_more_refused.get(),
        "{FRAME}: one byte more to IPv6"
    );
    (to_ipv4, room.reply.get(), from_timer)
}

#[test]
fn a_stack_sends_what_its_frames_hold_over_either_family_and_from_timers() {
    assert_eq!(udpkit::stack::MIN_FRAME, 590, "a 576-byte IPv4 datagram");
    assert_eq!(Stack::<'static, 12, 1514>::MAX_PAYLOAD, udpkit::MAX_PAYLOAD);
    assert_eq!(Stack::<'static, 2, 1500>::MAX_PAYLOAD, 1458);
    assert_eq!(SmallStack::MAX_PAYLOAD, 548);
    // 1514-byte frames: what IPv4 and IPv6 carry in 1500 bytes; a timer's
    // datagram may go over IPv6, so it gets IPv6's.
    assert_eq!(payload_limits::<1514>(), (1472, 1452, 1452));
    assert_eq!(payload_limits::<1500>(), (1458, 1438, 1438));
    // 590-byte frames: 42 bytes of headers over IPv4, 62 over IPv6.
    assert_eq!(payload_limits::<590>(), (548, 528, 528));
}

/// The neighbor table is hashed with the board's entropy (the high 32 bits
/// of its seed; smoltcp takes the whole), so where a sender lands in the
/// table depends on the board, not on its address alone: a sender cannot
/// choose addresses that collide on every board.
#[test]
fn the_neighbor_table_is_hashed_with_the_boards_entropy() {
    let slot_of_peer = |seed: u64| {
        let mut board = memory_board(Instant::from_secs(10));
        board.seed = seed;
        let mut echo = echo::Echo;
        let mut queues = SocketBuffers::<4, 4096>::new();
        let mut sockets = [SocketStorage::EMPTY; 1];
        let mut slots = [udpkit::NeighborSlot::EMPTY; 16];
        let mut storage = StackStorage::new();
        {
            let mut stack = Stack::new(
                &Config::default(),
                &mut board,
                &mut sockets[..],
                &mut slots[..],
                &mut storage,
            );
            stack.add_service(&mut echo, ECHO, queues.queues()).unwrap();
            inject(&mut board, &udp_from_peer(ECHO, b"hello"));
            stack.poll(&mut board);
        }
        let filled: Vec<usize> = slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| format!("{slot:?}") != "NeighborSlot(None)")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(filled.len(), 1, "the peer, learned from its datagram");
        filled[0]
    };
    // Seeds that differ in their high half only.
    let slots: Vec<usize> = (1..=4u64).map(|k| slot_of_peer(k << 32)).collect();
    assert!(
        slots.iter().any(|&slot| slot != slots[0]),
        "the peer's slot is the same for every board: {slots:?}"
    );
}
