//! What the core's integration tests share: the in-memory board of
//! `udpkit-testing` (one definition for the tests, the example, the
//! benchmark and the no_std check) with rings sized for these tests, the
//! addresses of the tests, and Ethernet/ARP/IPv4/IPv6/UDP frames built and
//! parsed with `smoltcp::wire`.
//!
//! Nothing here touches a real network: the device is two rings in memory.

#![allow(dead_code)]

use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpProtocol,
    Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscRepr, UdpPacket,
    UdpRepr, UDP_HEADER_LEN,
};
use udpkit::UnixTime;

// ---------------------------------------------------------------------------
// The addresses of the tests.

/// The stack's own addresses (`Config::default()`).
pub const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
pub const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
pub const OUR_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
pub const OUR_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// A peer on the link.
pub const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
pub const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
pub const PEER_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100);
pub const PEER_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x64);
pub const SUBNET_BROADCAST: Ipv4Address = Ipv4Address::new(192, 168, 69, 255);
/// The peer's client port.
pub const CLIENT_PORT: u16 = 40000;

/// The indices of `ServiceStats::refused`, in the order of `guard::Refusal`.
pub const REFUSED_ZERO_PORT: usize = 0;
pub const REFUSED_SERVICE_PORT: usize = 1;
pub const REFUSED_BAD_SOURCE: usize = 2;

// ---------------------------------------------------------------------------
// An in-memory board.

pub use udpkit_testing::MemoryDevice;

/// The board of these tests: udpkit-testing's, whose clocks the test sets
/// by hand, its rings in buffers on the heap.
pub type MemoryBoard = udpkit_testing::MemoryBoard<Vec<u8>>;

/// The receive ring's bytes: a room of 256 hosts at once, or a frame of
/// 64 KiB (as a faulty link could deliver).
const RX_BYTES: usize = 1 << 20;
/// The transmit ring's bytes: a 32-member chat's round (992 lines) in one
/// poll, several times over.
const TX_BYTES: usize = 1 << 20;

/// A board at `now` without a wall clock, its source a local clock.
pub fn memory_board(now: Instant) -> MemoryBoard {
    let device = MemoryDevice::new(vec![0; RX_BYTES], vec![0; TX_BYTES]);
    udpkit_testing::MemoryBoard::new(device, now)
}

/// Puts `frame` on the board's receive ring, for the stack's next poll.
#[track_caller]
pub fn inject(board: &mut MemoryBoard, frame: &[u8]) {
    if let Err(e) = board.device.rx.push(frame) {
        panic!("cannot queue a frame for the stack: {e} ({RX_BYTES} bytes)");
    }
}

/// Takes every frame the stack sent off the board's transmit ring, oldest
/// first. Fails the test if the ring was too small for them.
#[track_caller]
pub fn take_sent(board: &mut MemoryBoard) -> Vec<Vec<u8>> {
    assert_eq!(
        board.device.tx_dropped, 0,
        "frames the stack sent were lost: the transmit ring ({TX_BYTES} bytes) was full"
    );
    let frames = board.device.tx.iter().map(<[u8]>::to_vec).collect();
    board.device.tx.clear();
    frames
}

/// `t` plus `d`.
pub fn after(t: UnixTime, d: Duration) -> UnixTime {
    let nanos = u64::from(t.subsec_nanos()) + d.total_micros() % 1_000_000 * 1000;
    UnixTime::new(t.secs + d.total_micros() / 1_000_000, nanos as u32)
}

/// A neighbor table as large as the host's (see `udpkit::neighbor`).
pub fn neighbor_table() -> &'static mut [udpkit::NeighborSlot] {
    neighbor_table_of(512)
}

/// A neighbor table of `slots` slots.
pub fn neighbor_table_of(slots: usize) -> &'static mut [udpkit::NeighborSlot] {
    vec![udpkit::NeighborSlot::EMPTY; slots].leak()
}

/// Storage that lives as long as the test process: the simplest way to give
/// a `Stack<'static>` what a port keeps in statics.
pub fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

/// A stack on `board` as the tests build one, everything it borrows
/// leaked: `sockets` socket slots, the neighbor table `neighbors`
/// ([`neighbor_table`] most of the time), its own storage.
pub fn leaked_stack<B: udpkit::Board>(
    config: &udpkit::Config,
    board: &mut B,
    sockets: usize,
    neighbors: &'static mut [udpkit::NeighborSlot],
) -> udpkit::Stack<'static> {
    let sockets = Vec::leak(
        (0..sockets)
            .map(|_| udpkit::smoltcp::iface::SocketStorage::EMPTY)
            .collect(),
    );
    udpkit::Stack::new(
        config,
        board,
        sockets,
        neighbors,
        leak(udpkit::StackStorage::new()),
    )
}

/// The stack's log, shown for failing tests.
pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

// ---------------------------------------------------------------------------
// Frames in.

pub fn caps() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

pub fn ethernet(
    src: EthernetAddress,
    dst: EthernetAddress,
    ethertype: EthernetProtocol,
    len: usize,
) -> Vec<u8> {
    let mut frame = vec![0; 14 + len];
    EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
    frame
}

pub fn arp(
    operation: ArpOperation,
    (src_mac, src_ip): (EthernetAddress, Ipv4Address),
    (dst_mac, dst_ip): (EthernetAddress, Ipv4Address),
    eth_dst: EthernetAddress,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: dst_mac,
        target_protocol_addr: dst_ip,
    };
    let mut frame = ethernet(src_mac, eth_dst, EthernetProtocol::Arp, repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
    frame
}

pub fn arp_request(from: (EthernetAddress, Ipv4Address), for_ip: Ipv4Address) -> Vec<u8> {
    arp(
        ArpOperation::Request,
        from,
        (EthernetAddress([0; 6]), for_ip),
        EthernetAddress::BROADCAST,
    )
}

/// An IPv4 frame around `payload_len` bytes written by `emit_payload`.
pub fn ipv4(
    (src_mac, dst_mac): (EthernetAddress, EthernetAddress),
    (src, dst): (Ipv4Address, Ipv4Address),
    protocol: IpProtocol,
    payload_len: usize,
    emit_payload: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: protocol,
        payload_len,
        hop_limit: 64,
    };
    let mut frame = ethernet(
        src_mac,
        dst_mac,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + payload_len,
    );
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.emit(&mut packet, &caps());
    emit_payload(packet.payload_mut());
    frame
}

/// An IPv6 frame around `payload_len` bytes of `next_header` written by
/// `emit_payload`.
pub fn ipv6(
    (src_mac, dst_mac): (EthernetAddress, EthernetAddress),
    (src, dst): (Ipv6Address, Ipv6Address),
    next_header: IpProtocol,
    hop_limit: u8,
    payload_len: usize,
    emit_payload: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header,
        payload_len,
        hop_limit,
    };
    let mut frame = ethernet(
        src_mac,
        dst_mac,
        EthernetProtocol::Ipv6,
        ip.buffer_len() + payload_len,
    );
    let mut packet = Ipv6Packet::new_unchecked(&mut frame[14..]);
    ip.emit(&mut packet);
    emit_payload(packet.payload_mut());
    frame
}

/// The length of a UDP datagram of `payload`.
fn udp_len(payload: &[u8]) -> usize {
    UDP_HEADER_LEN + payload.len()
}

/// Writes a UDP datagram of `payload` from `src` to `dst`, with its
/// checksum, into `buf` (of [`udp_len`] bytes).
fn emit_udp(
    buf: &mut [u8],
    (src, src_port): (IpAddress, u16),
    (dst, dst_port): (IpAddress, u16),
    payload: &[u8],
) {
    UdpRepr { src_port, dst_port }.emit(
        &mut UdpPacket::new_unchecked(buf),
        &src,
        &dst,
        payload.len(),
        |p| p.copy_from_slice(payload),
        &caps(),
    )
}

/// A UDP datagram over IPv4 in an Ethernet frame.
pub fn udp(
    macs: (EthernetAddress, EthernetAddress),
    (src, src_port): (Ipv4Address, u16),
    (dst, dst_port): (Ipv4Address, u16),
    payload: &[u8],
) -> Vec<u8> {
    ipv4(macs, (src, dst), IpProtocol::Udp, udp_len(payload), |buf| {
        emit_udp(buf, (src.into(), src_port), (dst.into(), dst_port), payload)
    })
}

/// A UDP datagram over IPv6 (hop limit 64) in an Ethernet frame.
pub fn udp6(
    macs: (EthernetAddress, EthernetAddress),
    (src, src_port): (Ipv6Address, u16),
    (dst, dst_port): (Ipv6Address, u16),
    payload: &[u8],
) -> Vec<u8> {
    ipv6(
        macs,
        (src, dst),
        IpProtocol::Udp,
        64,
        udp_len(payload),
        |buf| emit_udp(buf, (src.into(), src_port), (dst.into(), dst_port), payload),
    )
}

/// A datagram from the on-link peer's client port to one of our ports.
pub fn udp_from_peer(port: u16, payload: &[u8]) -> Vec<u8> {
    udp(
        (PEER_MAC, OUR_MAC),
        (PEER_IP, CLIENT_PORT),
        (OUR_IP, port),
        payload,
    )
}

// ---------------------------------------------------------------------------
// Frames out.

#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Arp(EthernetRepr, ArpRepr),
    Udp(UdpOut),
    IcmpEchoReply {
        eth: EthernetRepr,
        ip: Ipv4Repr,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    /// Any other frame (an ICMP error, IPv6, ...), raw.
    Other(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct UdpOut {
    pub eth: EthernetRepr,
    pub ip: Ipv4Repr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl UdpOut {
    /// Its source address and port.
    pub fn src(&self) -> (Ipv4Address, u16) {
        (self.ip.src_addr, self.src_port)
    }

    /// Its destination address and port.
    pub fn dst(&self) -> (Ipv4Address, u16) {
        (self.ip.dst_addr, self.dst_port)
    }

    /// A reply of service `port` to the peer's client port, unicast.
    #[track_caller]
    pub fn assert_to_peer_from(&self, port: u16) {
        assert_eq!(self.eth.src_addr, OUR_MAC);
        assert_eq!(self.eth.dst_addr, PEER_MAC);
        assert_eq!(self.ip.src_addr, OUR_IP);
        assert_eq!(self.ip.dst_addr, PEER_IP);
        assert_eq!(self.src_port, port);
        assert_eq!(self.dst_port, CLIENT_PORT);
    }
}

/// Parses a frame the stack sent, from our own MAC. Every IPv4, UDP and
/// ICMP checksum must verify: a frame that does not parse fails the test.
pub fn parse(frame: &[u8]) -> Out {
    let eth_frame = EthernetFrame::new_checked(frame).expect("Ethernet frame");
    let eth = EthernetRepr::parse(&eth_frame).unwrap();
    assert_eq!(eth.src_addr, OUR_MAC, "we send from our own MAC");
    match eth.ethertype {
        EthernetProtocol::Arp => {
            let arp =
                ArpRepr::parse(&ArpPacket::new_checked(eth_frame.payload()).unwrap()).unwrap();
            Out::Arp(eth, arp)
        }
        EthernetProtocol::Ipv4 => {
            let packet = Ipv4Packet::new_checked(eth_frame.payload()).unwrap();
            let ip = Ipv4Repr::parse(&packet, &caps()).expect("valid IPv4 header");
            match ip.next_header {
                IpProtocol::Udp => {
                    let udp = UdpPacket::new_checked(packet.payload()).unwrap();
                    let repr =
                        UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps())
                            .expect("valid UDP checksum");
                    Out::Udp(UdpOut {
                        eth,
                        ip,
                        src_port: repr.src_port,
                        dst_port: repr.dst_port,
                        payload: udp.payload().to_vec(),
                    })
                }
                IpProtocol::Icmp => {
                    let icmp = Icmpv4Packet::new_checked(packet.payload()).unwrap();
                    match Icmpv4Repr::parse(&icmp, &caps()).expect("valid ICMP checksum") {
                        Icmpv4Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        } => Out::IcmpEchoReply {
                            eth,
                            ip,
                            ident,
                            seq_no,
                            data: data.to_vec(),
                        },
                        _ => Out::Other(frame.to_vec()),
                    }
                }
                _ => Out::Other(frame.to_vec()),
            }
        }
        _ => Out::Other(frame.to_vec()),
    }
}

/// The one frame in `sent`, which must be a UDP datagram.
#[track_caller]
pub fn single_udp(mut sent: Vec<Out>) -> UdpOut {
    assert_eq!(sent.len(), 1, "exactly one frame: {sent:?}");
    match sent.remove(0) {
        Out::Udp(udp) => udp,
        other => panic!("expected a UDP datagram, got {other:?}"),
    }
}

#[derive(Debug, PartialEq)]
pub enum Out6 {
    Udp {
        eth_dst: EthernetAddress,
        src: (Ipv6Address, u16),
        dst: (Ipv6Address, u16),
        payload: Vec<u8>,
    },
    EchoReply {
        dst: Ipv6Address,
        ident: u16,
        seq_no: u16,
        data: Vec<u8>,
    },
    NeighborAdvert {
        eth_dst: EthernetAddress,
        target: Ipv6Address,
        lladdr: Option<EthernetAddress>,
    },
    NeighborSolicit {
        target: Ipv6Address,
    },
    /// Any other frame (IPv4, ARP, other ICMPv6, ...), raw.
    Other(Vec<u8>),
}

/// Parses an IPv6 frame the stack sent; every checksum must verify.
pub fn parse6(frame: &[u8]) -> Out6 {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    if eth.ethertype() != EthernetProtocol::Ipv6 {
        return Out6::Other(frame.to_vec());
    }
    let packet = Ipv6Packet::new_checked(eth.payload()).unwrap();
    let ip = Ipv6Repr::parse(&packet).unwrap();
    match ip.next_header {
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(packet.payload()).unwrap();
            let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps())
                .expect("valid UDP checksum");
            Out6::Udp {
                eth_dst: eth.dst_addr(),
                src: (ip.src_addr, repr.src_port),
                dst: (ip.dst_addr, repr.dst_port),
                payload: udp.payload().to_vec(),
            }
        }
        IpProtocol::Icmpv6 => {
            let icmp = Icmpv6Packet::new_checked(packet.payload()).unwrap();
            match Icmpv6Repr::parse(&ip.src_addr, &ip.dst_addr, &icmp, &caps())
                .expect("valid ICMPv6 checksum")
            {
                Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                } => Out6::EchoReply {
                    dst: ip.dst_addr,
                    ident,
                    seq_no,
                    data: data.to_vec(),
                },
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    target_addr,
                    lladdr,
                    ..
                }) => Out6::NeighborAdvert {
                    eth_dst: eth.dst_addr(),
                    target: target_addr,
                    lladdr: lladdr.map(|l| EthernetAddress::from_bytes(l.as_bytes())),
                },
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. }) => {
                    Out6::NeighborSolicit {
                        target: target_addr,
                    }
                }
                _ => Out6::Other(frame.to_vec()),
            }
        }
        _ => Out6::Other(frame.to_vec()),
    }
}
