//! Discovery through the whole core, frames in and frames out: the
//! discovery service beside echo on a real [`Stack`] over an in-memory
//! smoltcp device, fed broadcast and unicast `DISCOVER` frames built with
//! `smoltcp::wire`, and every frame sent parsed back.
//!
//! Nothing here touches a real network: the device is two queues in memory
//! and the clock is advanced by hand.

mod support;

use support::*;
use udpkit::services::discovery::{
    Discovery, ServiceEntry, DEFAULT_PORT, MAX_ANNOUNCEMENTS, RATE_BURST, RATE_PER_SECOND,
};
use udpkit::services::echo;
use udpkit::services::{EXCESS_BYTES_BURST, EXCESS_BYTES_PER_SECOND};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, Ipv4Address, Ipv6Address};
use udpkit::wire::discovery::{Field, ReplyPacket, MAX_REPLY};
use udpkit::{Config, Discard, ServiceId, ServiceStats, SocketBuffers, Stack};

const LIMITED_BROADCAST: Ipv4Address = Ipv4Address::BROADCAST;
const ALL_NODES: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const DISCOVERY: u16 = DEFAULT_PORT;
const ECHO: u16 = echo::DEFAULT_PORT;

// ---------------------------------------------------------------------------
// A stack with discovery on an in-memory board.

type Buffers = SocketBuffers<8, 8192>;

struct Net {
    board: MemoryBoard,
    stack: Stack<'static>,
    discovery: ServiceId,
    /// The reply the service was built with.
    reply: Vec<u8>,
}

impl Net {
    /// Discovery and echo on the default configuration, the directory
    /// naming both; announcing `announcements` times at start.
    fn new(announcements: u8) -> Net {
        init_logging();
        let config = Config::default();
        // No wall clock: discovery does not need one.
        let mut board = memory_board(Instant::from_secs(1000));
        let addresses: Vec<IpCidr> = config.cidrs().into_iter().collect();
        let services = [
            ServiceEntry {
                name: "echo",
                port: ECHO,
            },
            ServiceEntry {
                name: "discovery",
                port: DISCOVERY,
            },
        ];
        let mut discovery = Discovery::new("stack-test", Some(config.mac), &addresses, &services)
            .expect("a valid directory");
        discovery.announce(announcements, DISCOVERY);
        let directory = discovery.directory();
        let mut reply = vec![0; directory.buffer_len()];
        directory
            .emit(&mut reply)
            .expect("the reply fits its length");

        let mut stack = leaked_stack(&config, &mut board, 2, neighbor_table());
        stack
            .add_service(leak(echo::Echo), ECHO, leak(Buffers::new()).queues())
            .unwrap();
        let discovery = stack
            .add_service(leak(discovery), DISCOVERY, leak(Buffers::new()).queues())
            .unwrap();
        Net {
            board,
            stack,
            discovery,
            reply,
        }
    }

    /// Feeds `frames`, polls once, and returns every UDP datagram sent.
    fn exchange(&mut self, frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<UdpOut> {
        for frame in frames {
            inject(&mut self.board, &frame);
        }
        self.stack.poll(&mut self.board);
        self.sent()
    }

    /// The UDP datagrams over IPv4 sent since the last call (IPv6
    /// housekeeping such as neighbor discovery is not this file's business).
    fn sent(&mut self) -> Vec<UdpOut> {
        take_sent(&mut self.board)
            .iter()
            .filter_map(|frame| match parse(frame) {
                Out::Udp(udp) => Some(udp),
                _ => None,
            })
            .collect()
    }

    fn stats(&self) -> ServiceStats {
        *self.stack.stats(self.discovery).unwrap()
    }
}

// ---------------------------------------------------------------------------
// Frames, beside the shared ones.

/// `payload` from the peer's client port to the discovery port at `dst`,
/// in an Ethernet broadcast frame when `dst` is a broadcast address.
fn from_peer(dst: Ipv4Address, payload: &[u8]) -> Vec<u8> {
    let dst_mac = if dst == OUR_IP {
        OUR_MAC
    } else {
        EthernetAddress::BROADCAST
    };
    udp(
        (PEER_MAC, dst_mac),
        (PEER_IP, CLIENT_PORT),
        (dst, DISCOVERY),
        payload,
    )
}

/// `payload` from the peer's IPv6 address and client port to the discovery
/// port at `dst`.
fn from_peer6(dst: Ipv6Address, payload: &[u8]) -> Vec<u8> {
    let dst_mac = if dst.is_multicast() {
        let o = dst.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    } else {
        OUR_MAC
    };
    udp6(
        (PEER_MAC, dst_mac),
        (PEER_V6, CLIENT_PORT),
        (dst, DISCOVERY),
        payload,
    )
}

/// An IPv6 address and a port.
type Endpoint6 = (Ipv6Address, u16);

/// The UDP datagrams over IPv6 among `frames`: (source, destination, payload).
fn udp6_sent(frames: &[Vec<u8>]) -> Vec<(Endpoint6, Endpoint6, Vec<u8>)> {
    frames
        .iter()
        .filter_map(|frame| match parse6(frame) {
            Out6::Udp {
                src, dst, payload, ..
            } => Some((src, dst, payload)),
            _ => None,
        })
        .collect()
}

/// Asserts `sent` is exactly one reply, unicast from our address and the
/// discovery port to the peer's client port; returns its payload.
#[track_caller]
fn single_reply(mut sent: Vec<UdpOut>) -> Vec<u8> {
    assert_eq!(sent.len(), 1, "exactly one datagram: {sent:?}");
    let reply = sent.remove(0);
    assert_eq!(reply.eth.dst_addr, PEER_MAC, "unicast to the peer's MAC");
    assert_eq!(reply.src(), (OUR_IP, DISCOVERY), "from our own address");
    assert_eq!(reply.dst(), (PEER_IP, CLIENT_PORT));
    reply.payload
}

/// `udpkit discover`'s request, padded with spaces to the longest reply
/// (`MAX_REPLY` bytes), built by hand as any client would.
fn padded_request() -> Vec<u8> {
    let mut request = b"DISCOVER udpkit/1".to_vec();
    request.resize(MAX_REPLY - 1, b' ');
    request.push(b'\n');
    request
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn a_discover_to_the_subnet_broadcast_gets_a_unicast_reply_with_the_directory() {
    let mut net = Net::new(0);
    let reply = single_reply(net.exchange([from_peer(SUBNET_BROADCAST, b"DISCOVER\n")]));
    assert_eq!(reply, net.reply);
    let text = String::from_utf8(reply.clone()).unwrap();
    let config = Config::default();
    let mut expected = String::from("UDPKIT 1\nname stack-test\nmac 02:00:00:00:00:01\n");
    for cidr in config.cidrs() {
        expected.push_str(&format!("address {cidr}\n"));
    }
    expected.push_str("service echo 7\nservice discovery 5550\n");
    assert_eq!(text, expected);
    assert!(text.contains("address 192.168.69.1/24\n"), "{text}");

    // It reads back as the client reads it.
    let packet = ReplyPacket::new_checked(&reply).unwrap();
    assert_eq!(packet.name(), Some("stack-test"));
    let services: Vec<_> = packet
        .fields()
        .filter_map(|f| match f {
            Field::Service(s) => Some((s.name, s.port)),
            _ => None,
        })
        .collect();
    assert_eq!(services, [("echo", ECHO), ("discovery", DISCOVERY)]);
    let stats = net.stats();
    assert_eq!((stats.received, stats.sent), (1, 1));
}

#[test]
fn a_discover_to_the_limited_broadcast_or_our_address_is_answered_too() {
    let mut net = Net::new(0);
    let reply = single_reply(net.exchange([from_peer(LIMITED_BROADCAST, b"DISCOVER udpkit/1")]));
    assert_eq!(reply, net.reply);
    let reply = single_reply(net.exchange([from_peer(OUR_IP, b"discover\r\n")]));
    assert_eq!(reply, net.reply);
}

#[test]
fn anything_else_gets_no_reply_and_is_counted() {
    let mut net = Net::new(0);
    let sent = net.exchange([
        from_peer(SUBNET_BROADCAST, b"hello"),
        from_peer(SUBNET_BROADCAST, b""),
        from_peer(OUR_IP, b"DISCOVER udpkit/1 please"),
        from_peer(LIMITED_BROADCAST, &net.reply.clone()),
    ]);
    assert!(sent.is_empty(), "{sent:?}");
    let stats = net.stats();
    assert_eq!(stats.received, 4);
    assert_eq!(stats.discarded[Discard::Malformed.index()], 4);
    assert_eq!(stats.sent, 0);
}

#[test]
fn another_devices_announcement_is_refused_by_the_loop_guard() {
    let mut net = Net::new(0);
    // Another udpkit announces from its discovery port to ours; even a
    // DISCOVER from that port is not answered: two discovery services must
    // not talk to each other.
    let other = net.reply.clone();
    let sent = net.exchange([
        udp(
            (PEER_MAC, EthernetAddress::BROADCAST),
            (PEER_IP, DISCOVERY),
            (SUBNET_BROADCAST, DISCOVERY),
            &other,
        ),
        udp(
            (PEER_MAC, EthernetAddress::BROADCAST),
            (PEER_IP, DISCOVERY),
            (SUBNET_BROADCAST, DISCOVERY),
            b"DISCOVER",
        ),
    ]);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(net.stats().refused[REFUSED_SERVICE_PORT], 2);
}

#[test]
fn a_flood_of_requests_gets_a_burst_of_replies_then_the_rate() {
    // Padded requests, as udpkit discover sends them: short ones would run
    // into the byte budget first (see the next test).
    let mut net = Net::new(0);
    let request = padded_request();
    let flood = (0..2 * RATE_BURST).map(|_| from_peer(SUBNET_BROADCAST, &request));
    // Over several polls: the socket queue takes eight at a time.
    let mut replies = 0;
    for chunk in flood.collect::<Vec<_>>().chunks(4) {
        replies += net.exchange(chunk.to_vec()).len();
    }
    assert_eq!(replies, RATE_BURST as usize);
    let stats = net.stats();
    assert_eq!(
        stats.discarded[Discard::Limited.index()],
        u64::from(RATE_BURST)
    );
    // A second later, a few more are answered.
    net.board.now += Duration::from_secs(1);
    let sent = net.exchange((0..4).map(|_| from_peer(SUBNET_BROADCAST, &request)));
    assert_eq!(sent.len(), 4);
}

#[test]
fn short_requests_get_their_size_and_a_small_budget_padded_ones_the_reply() {
    let mut net = Net::new(0);
    // A forged source floods 8-byte unicast requests for a minute at the
    // reply rate limit; each reply is many times larger.
    let (mut bytes_out, mut answered, mut asked) = (0, 0, 0);
    let seconds = 60;
    for _ in 0..seconds {
        for _ in 0..RATE_PER_SECOND / 4 {
            let sent = net.exchange((0..4).map(|_| from_peer(OUR_IP, b"DISCOVER")));
            asked += 4;
            answered += sent.len();
            bytes_out += sent.iter().map(|d| d.payload.len()).sum::<usize>();
        }
        net.board.now += Duration::from_secs(1);
    }
    let bytes_in = 8 * asked;
    let allowance = EXCESS_BYTES_BURST + seconds * EXCESS_BYTES_PER_SECOND;
    assert!(
        bytes_out <= bytes_in + allowance as usize,
        "{bytes_out} bytes out for {bytes_in} in"
    );
    // The rate limit and the byte budget together: no more than that.
    let refused = asked - answered;
    assert_eq!(
        net.stats().discarded[Discard::Limited.index()],
        refused as u64
    );
    // Padded requests, broadcast as udpkit discover sends them, are
    // answered all the same: refusals took no reply from the rate limit.
    let sent = net.exchange((0..4).map(|_| from_peer(SUBNET_BROADCAST, &padded_request())));
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|d| d.payload == net.reply));
}

#[test]
fn announcements_go_to_the_subnet_broadcast_a_few_times_at_start() {
    let mut net = Net::new(MAX_ANNOUNCEMENTS);
    let mut announced_at = Vec::new();
    let start = net.board.now;
    // Poll as a port does: sleep as long as the stack says (a minute when
    // it has nothing to do), for ten minutes.
    while net.board.now - start < Duration::from_secs(600) {
        let delay = net.stack.poll(&mut net.board);
        for datagram in net.sent() {
            assert_eq!(datagram.eth.dst_addr, EthernetAddress::BROADCAST);
            assert_eq!(datagram.src(), (OUR_IP, DISCOVERY));
            assert_eq!(datagram.dst(), (SUBNET_BROADCAST, DISCOVERY));
            assert_eq!(datagram.payload, net.reply);
            announced_at.push(net.board.now - start);
        }
        let delay = delay.unwrap_or(Duration::from_secs(60));
        net.board.now += delay.max(Duration::from_millis(1));
    }
    let s = Duration::from_secs;
    assert_eq!(announced_at, [s(0), s(1), s(3)]);
    // The stack still answers requests in between and after.
    let reply = single_reply(net.exchange([from_peer(SUBNET_BROADCAST, b"DISCOVER")]));
    assert_eq!(reply, net.reply);
    assert_eq!(net.stats().sent, 4);
}

#[test]
fn the_reply_lists_every_address_of_the_stack() {
    let net = Net::new(0);
    let packet = ReplyPacket::new_checked(&net.reply).unwrap();
    let listed: Vec<IpCidr> = packet
        .fields()
        .filter_map(|f| match f {
            Field::Address(a) => Some(a),
            _ => None,
        })
        .collect();
    let ours: Vec<IpCidr> = Config::default().cidrs().into_iter().collect();
    assert_eq!(listed, ours);
    assert!(listed
        .iter()
        .any(|c| c.address() == IpAddress::Ipv4(OUR_IP)));
}

#[test]
fn over_ipv6_a_discover_to_our_address_or_all_nodes_gets_a_unicast_reply() {
    let mut net = Net::new(0);
    let ours = match Config::default().ipv6.map(|c| c.address()) {
        Some(address) => address,
        None => return,
    };
    for dst in [ours, ALL_NODES] {
        inject(&mut net.board, &from_peer6(dst, b"DISCOVER\n"));
        net.stack.poll(&mut net.board);
        let frames = take_sent(&mut net.board);
        let sent = udp6_sent(&frames);
        assert_eq!(
            sent.len(),
            1,
            "one reply to a DISCOVER to {dst}: {frames:02x?}"
        );
        let (src, to, payload) = &sent[0];
        assert_eq!(*to, (PEER_V6, CLIENT_PORT), "unicast to the sender");
        assert_eq!(src.1, DISCOVERY);
        assert!(
            !src.0.is_multicast(),
            "from one of our addresses: {}",
            src.0
        );
        assert_eq!(*payload, net.reply);
    }
}
