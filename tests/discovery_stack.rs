//! Discovery through the whole core, frames in and frames out: the
//! discovery service beside echo on a real [`Stack`] over an in-memory
//! smoltcp device, fed broadcast and unicast `DISCOVER` frames built with
//! `smoltcp::wire`, and every frame sent parsed back.
//!
//! Nothing here touches a real network: the device is two queues in memory
//! and the clock is advanced by hand.

use std::collections::VecDeque;

use udpkit::services::discovery::{
    Discovery, Field, ReplyPacket, ReplyRepr, ServiceEntry, DEFAULT_PORT, MAX_ANNOUNCEMENTS,
    RATE_BURST,
};
use udpkit::services::echo;
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpCidr, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, UdpPacket, UdpRepr,
};
use udpkit::{Board, Config, Discard, ServiceId, ServiceStats, SocketBuffers, Stack, UnixTime};

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const SUBNET_BROADCAST: Ipv4Address = Ipv4Address::new(192, 168, 69, 255);
const LIMITED_BROADCAST: Ipv4Address = Ipv4Address::BROADCAST;
const PEER_IP6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100);
const ALL_NODES: Ipv6Address = Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const CLIENT_PORT: u16 = 40000;
const DISCOVERY: u16 = DEFAULT_PORT;
const ECHO: u16 = echo::DEFAULT_PORT;

/// The indices of `ServiceStats::refused`, in the order of `guard::Refusal`.
const REFUSED_SERVICE_PORT: usize = 1;

// ---------------------------------------------------------------------------
// An in-memory board.

#[derive(Default)]
struct MemoryDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct RxToken(Vec<u8>);

struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Device for MemoryDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

struct MemoryBoard {
    device: MemoryDevice,
    now: Instant,
}

impl Board for MemoryBoard {
    type Device = MemoryDevice;

    fn device(&mut self) -> &mut MemoryDevice {
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

type Buffers = SocketBuffers<8, 8192>;

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

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
        let _ = env_logger::builder().is_test(true).try_init();
        let config = Config::default();
        let mut board = MemoryBoard {
            device: MemoryDevice::default(),
            now: Instant::from_secs(1000),
        };
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
        let discovery = Discovery::new(&ReplyRepr {
            name: "stack-test",
            mac: Some(config.mac),
            addresses: &addresses,
            services: &services,
        })
        .expect("a valid directory")
        .announce(announcements, DISCOVERY);
        let reply = discovery.reply().to_vec();
        let sockets = leak([SocketStorage::EMPTY; 2]);
        let mut stack = Stack::new(&config, &mut board, &mut sockets[..]);
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
    fn exchange(&mut self, frames: impl IntoIterator<Item = Vec<u8>>) -> Vec<Udp> {
        self.board.device.rx.extend(frames);
        self.stack.poll(&mut self.board);
        self.sent()
    }

    /// The UDP datagrams sent since the last call (IPv6 housekeeping such
    /// as neighbor discovery is not this file's business).
    fn sent(&mut self) -> Vec<Udp> {
        std::mem::take(&mut self.board.device.tx)
            .iter()
            .filter_map(|frame| parse(frame))
            .collect()
    }

    fn stats(&self) -> ServiceStats {
        *self.stack.stats(self.discovery).unwrap()
    }
}

// ---------------------------------------------------------------------------
// Frames.

fn caps() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

fn udp(
    (src_mac, src, src_port): (EthernetAddress, Ipv4Address, u16),
    (dst_mac, dst, dst_port): (EthernetAddress, Ipv4Address, u16),
    payload: &[u8],
) -> Vec<u8> {
    let udp = UdpRepr { src_port, dst_port };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; 14 + ip.buffer_len() + ip.payload_len];
    EthernetRepr {
        src_addr: src_mac,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.emit(&mut packet, &caps());
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &src.into(),
        &dst.into(),
        payload.len(),
        |p| p.copy_from_slice(payload),
        &caps(),
    );
    frame
}

/// `payload` from the peer's client port to the discovery port at `dst`,
/// in an Ethernet broadcast frame when `dst` is a broadcast address.
fn from_peer(dst: Ipv4Address, payload: &[u8]) -> Vec<u8> {
    let dst_mac = if dst == OUR_IP {
        OUR_MAC
    } else {
        EthernetAddress::BROADCAST
    };
    udp(
        (PEER_MAC, PEER_IP, CLIENT_PORT),
        (dst_mac, dst, DISCOVERY),
        payload,
    )
}

/// `payload` from the peer's IPv6 address and client port to the discovery
/// port at `dst`.
fn from_peer6(dst: Ipv6Address, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr {
        src_port: CLIENT_PORT,
        dst_port: DISCOVERY,
    };
    let ip = Ipv6Repr {
        src_addr: PEER_IP6,
        dst_addr: dst,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let dst_mac = if dst.is_multicast() {
        let o = dst.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    } else {
        OUR_MAC
    };
    let mut frame = vec![0; 14 + ip.buffer_len() + ip.payload_len];
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv6,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    let mut packet = Ipv6Packet::new_unchecked(&mut frame[14..]);
    ip.emit(&mut packet);
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &PEER_IP6.into(),
        &dst.into(),
        payload.len(),
        |p| p.copy_from_slice(payload),
        &caps(),
    );
    frame
}

/// An IPv6 address and a port.
type Endpoint6 = (Ipv6Address, u16);

/// The UDP datagrams over IPv6 among `frames`: (source, destination, payload).
fn udp6_sent(frames: &[Vec<u8>]) -> Vec<(Endpoint6, Endpoint6, Vec<u8>)> {
    let mut datagrams = Vec::new();
    for frame in frames {
        let eth_frame = EthernetFrame::new_checked(&frame[..]).unwrap();
        if eth_frame.ethertype() != EthernetProtocol::Ipv6 {
            continue;
        }
        let packet = Ipv6Packet::new_checked(eth_frame.payload()).unwrap();
        let ip = Ipv6Repr::parse(&packet).unwrap();
        if ip.next_header != IpProtocol::Udp {
            continue;
        }
        let udp = UdpPacket::new_checked(packet.payload()).unwrap();
        let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps())
            .expect("valid UDP checksum");
        datagrams.push((
            (ip.src_addr, repr.src_port),
            (ip.dst_addr, repr.dst_port),
            udp.payload().to_vec(),
        ));
    }
    datagrams
}

#[derive(Debug)]
struct Udp {
    eth_dst: EthernetAddress,
    src: (Ipv4Address, u16),
    dst: (Ipv4Address, u16),
    payload: Vec<u8>,
}

/// Parses a frame the stack sent, from us, with valid checksums: `None`
/// unless it is UDP over IPv4.
fn parse(frame: &[u8]) -> Option<Udp> {
    let eth_frame = EthernetFrame::new_checked(frame).unwrap();
    let eth = EthernetRepr::parse(&eth_frame).unwrap();
    assert_eq!(eth.src_addr, OUR_MAC);
    if eth.ethertype != EthernetProtocol::Ipv4 {
        return None;
    }
    let packet = Ipv4Packet::new_checked(eth_frame.payload()).unwrap();
    let ip = Ipv4Repr::parse(&packet, &caps()).unwrap();
    if ip.next_header != IpProtocol::Udp {
        return None;
    }
    let udp = UdpPacket::new_checked(packet.payload()).unwrap();
    let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps())
        .expect("valid UDP checksum");
    Some(Udp {
        eth_dst: eth.dst_addr,
        src: (ip.src_addr, repr.src_port),
        dst: (ip.dst_addr, repr.dst_port),
        payload: udp.payload().to_vec(),
    })
}

/// Asserts `sent` is exactly one reply, unicast from our address and the
/// discovery port to the peer's client port; returns its payload.
#[track_caller]
fn single_reply(mut sent: Vec<Udp>) -> Vec<u8> {
    assert_eq!(sent.len(), 1, "exactly one datagram: {sent:?}");
    let reply = sent.remove(0);
    assert_eq!(reply.eth_dst, PEER_MAC, "unicast to the peer's MAC");
    assert_eq!(reply.src, (OUR_IP, DISCOVERY), "from our own address");
    assert_eq!(reply.dst, (PEER_IP, CLIENT_PORT));
    reply.payload
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
            (PEER_MAC, PEER_IP, DISCOVERY),
            (EthernetAddress::BROADCAST, SUBNET_BROADCAST, DISCOVERY),
            &other,
        ),
        udp(
            (PEER_MAC, PEER_IP, DISCOVERY),
            (EthernetAddress::BROADCAST, SUBNET_BROADCAST, DISCOVERY),
            b"DISCOVER",
        ),
    ]);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(net.stats().refused[REFUSED_SERVICE_PORT], 2);
}

#[test]
fn a_flood_of_requests_gets_a_burst_of_replies_then_the_rate() {
    let mut net = Net::new(0);
    let flood = (0..2 * RATE_BURST).map(|_| from_peer(SUBNET_BROADCAST, b"DISCOVER"));
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
    let sent = net.exchange((0..4).map(|_| from_peer(SUBNET_BROADCAST, b"DISCOVER")));
    assert_eq!(sent.len(), 4);
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
            assert_eq!(datagram.eth_dst, EthernetAddress::BROADCAST);
            assert_eq!(datagram.src, (OUR_IP, DISCOVERY));
            assert_eq!(datagram.dst, (SUBNET_BROADCAST, DISCOVERY));
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
        net.board
            .device
            .rx
            .push_back(from_peer6(dst, b"DISCOVER\n"));
        net.stack.poll(&mut net.board);
        let frames = std::mem::take(&mut net.board.device.tx);
        let sent = udp6_sent(&frames);
        assert_eq!(
            sent.len(),
            1,
            "one reply to a DISCOVER to {dst}: {frames:02x?}"
        );
        let (src, to, payload) = &sent[0];
        assert_eq!(*to, (PEER_IP6, CLIENT_PORT), "unicast to the sender");
        assert_eq!(src.1, DISCOVERY);
        assert!(
            !src.0.is_multicast(),
            "from one of our addresses: {}",
            src.0
        );
        assert_eq!(*payload, net.reply);
    }
}
