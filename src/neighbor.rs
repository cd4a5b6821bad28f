//! Neighbor learning: the sender of a frame is a neighbor we already know.
//!
//! smoltcp fills its ARP cache only from ARP packets. When a peer's entry has
//! expired (after 60 s) but the peer still knows us, its next datagram or
//! ping arrives from an "unknown" neighbor, and:
//! - an ICMP echo reply is dropped while smoltcp asks ARP (smoltcp #597),
//! - a UDP reply waits at the head of its socket's transmit queue, and if
//!   the neighbor never answers ARP (a forged source inside the subnet) it
//!   blocks every later reply of that service (smoltcp #1101, #594).
//!
//! The same holds for IPv6 and its neighbor discovery.
//!
//! Yet the frame itself names the neighbor's MAC address. [`LearningDevice`]
//! wraps the port's [`Device`]: when an IP frame arrives from an on-link
//! unicast sender that it has not seen lately, it first hands smoltcp a
//! synthetic lesson addressed to us (an ARP reply for IPv4, an unsolicited
//! neighbor advertisement for IPv6: sender IP -> sender MAC), which fills the
//! cache through smoltcp's own code, and then the real frame. Only such
//! frames are copied, once; everything else passes through untouched.
//!
//! The learned entry is what ARP or neighbor discovery would have told us
//! anyway if the peer is honest; a peer that lies can equally lie in those,
//! which smoltcp accepts unsolicited, so this adds no new way to poison the
//! cache.

use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, PacketMeta};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv6Packet, Icmpv6Repr, IpAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet,
    Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags, NdiscRepr, IPV6_LINK_LOCAL_ALL_NODES,
};

/// The largest Ethernet frame (without FCS) the stack handles: a 1500-byte
/// IP packet plus the 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// How many senders are remembered; smoltcp's neighbor cache holds 8 by default.
const TABLE_SIZE: usize = 8;

/// How long a learned entry counts as fresh in smoltcp's cache, which keeps
/// entries 60 s: well inside that, so a refresh always comes before expiry.
const REFRESH_AFTER: Duration = Duration::from_secs(20);

/// An ARP reply: Ethernet 14 + ARP 28.
const ARP_FRAME_LEN: usize = 14 + 28;
/// A neighbor advertisement: Ethernet 14 + IPv6 40 + ICMPv6 NA 24 + the
/// target link-layer address option 8.
const NA_FRAME_LEN: usize = 14 + 40 + 24 + 8;

/// Our own addresses a stack can have: IPv4, IPv6 global and link-local.
pub const MAX_ADDRESSES: usize = 3;

#[derive(Debug, Clone, Copy)]
struct Learned {
    ip: IpAddress,
    mac: EthernetAddress,
    at: Instant,
}

/// The frame that teaches smoltcp a neighbor: an ARP reply for IPv4, a
/// neighbor advertisement for IPv6.
#[derive(Debug, Clone, Copy)]
struct Lesson {
    frame: [u8; NA_FRAME_LEN],
    len: usize,
}

impl Lesson {
    fn bytes(&self) -> &[u8] {
        self.frame.get(..self.len).unwrap_or(&[])
    }
}

/// The state behind [`LearningDevice`]: who we are, whom we learned, and the
/// frame held back while its sender's neighbor entry is injected.
pub struct NeighborLearning {
    mac: EthernetAddress,
    cidrs: heapless::Vec<IpCidr, MAX_ADDRESSES>,
    table: [Option<Learned>; TABLE_SIZE],
    held: [u8; MAX_FRAME],
    held_len: Option<usize>,
    injected: u64,
    /// IPv6 frames dropped for a destination that is not ours.
    foreign: u64,
    /// The table entry that matched or was filled last.
    last: usize,
}

impl NeighborLearning {
    /// Learning for a stack with MAC `mac` and addresses `cidrs` (the first
    /// [`MAX_ADDRESSES`]).
    pub fn new(mac: EthernetAddress, cidrs: &[IpCidr]) -> NeighborLearning {
        NeighborLearning {
            mac,
            cidrs: cidrs.iter().take(MAX_ADDRESSES).copied().collect(),
            table: [None; TABLE_SIZE],
            held: [0; MAX_FRAME],
            held_len: None,
            injected: 0,
            foreign: 0,
            last: 0,
        }
    }

    /// How many IPv6 frames were dropped because their destination is none
    /// of our addresses or groups (see [`NeighborLearning::is_foreign_ipv6`]).
    pub fn foreign_destinations(&self) -> u64 {
        self.foreign
    }

    /// Whether `frame` is an IPv6 packet to an address that is neither ours
    /// nor a group we are in (all-nodes, the solicited-node group of one of
    /// our addresses).
    ///
    /// smoltcp 0.14 takes any destination whose last two bytes match one of
    /// its solicited-node groups for that group, and accepts `::1` from the
    /// wire: it would answer a ping to `2001:db8::1` from `2001:db8::1`.
    /// Such frames are dropped here, before smoltcp sees them.
    fn is_foreign_ipv6(&self, frame: &[u8]) -> bool {
        if frame.get(12..14) != Some(&[0x86, 0xdd][..]) {
            return false;
        }
        let Some(dst) = frame
            .get(38..54)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(Ipv6Address::from)
        else {
            // Too short to be a packet: smoltcp drops it.
            return false;
        };
        if dst == IPV6_LINK_LOCAL_ALL_NODES {
            return false;
        }
        !self.cidrs.iter().any(|cidr| match cidr {
            IpCidr::Ipv6(ours) => ours.address() == dst || solicited_node(ours.address()) == dst,
            IpCidr::Ipv4(_) => false,
        })
    }

    /// How many neighbor entries were learned from frames so far.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    /// If `frame` comes from an on-link unicast sender not learned lately,
    /// remembers it and returns the frame that teaches smoltcp its MAC.
    fn learn(&mut self, frame: &[u8], now: Instant) -> Option<Lesson> {
        // A frame too large to hold back cannot go in after the lesson, so
        // it teaches nothing; its sender must not be remembered either, or
        // its next (ordinary) frame would not teach smoltcp as it should.
        if frame.len() > self.held.len() {
            return None;
        }
        if self.is_last_sender(frame, now) {
            return None;
        }
        let eth = EthernetFrame::new_checked(frame).ok()?;
        let (mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
        // IPv6 neighbor solicitations go to a multicast MAC address.
        if !mac.is_unicast() || (dst_mac != self.mac && !dst_mac.is_multicast()) {
            return None;
        }
        let (ip, header_ok) = match eth.ethertype() {
            EthernetProtocol::Ipv4 => {
                let packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
                (IpAddress::Ipv4(packet.src_addr()), packet.verify_checksum())
            }
            EthernetProtocol::Ipv6 => {
                let packet = Ipv6Packet::new_checked(eth.payload()).ok()?;
                (IpAddress::Ipv6(packet.src_addr()), true)
            }
            _ => return None,
        };
        let known = self
            .table
            .iter()
            .position(|e| e.is_some_and(|e| e.ip == ip));
        if let Some(Some(entry)) = known.and_then(|i| self.table.get(i)) {
            if entry.mac == mac && now - entry.at < REFRESH_AFTER {
                self.last = known.unwrap_or(0);
                return None;
            }
        }
        // Our address on the sender's link; none: not a neighbor. A header
        // smoltcp will reject must teach nothing.
        let ours = self.our_address_for(ip)?;
        if !header_ok {
            return None;
        }
        let slot = known.unwrap_or_else(|| self.oldest_slot());
        self.last = slot;
        let entry = self.table.get_mut(slot)?;
        *entry = Some(Learned { ip, mac, at: now });
        self.injected += 1;
        match (ip, ours) {
            (IpAddress::Ipv4(ip), IpAddress::Ipv4(ours)) => Some(self.arp_reply(ip, mac, ours)),
            (IpAddress::Ipv6(ip), IpAddress::Ipv6(ours)) => {
                Some(self.neighbor_advert(ip, mac, ours))
            }
            _ => None,
        }
    }

    /// Our address on the link `ip` is on, if `ip` is a unicast neighbor
    /// there (not us, not a broadcast, multicast or unspecified address).
    fn our_address_for(&self, ip: IpAddress) -> Option<IpAddress> {
        if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
            return None;
        }
        if self.cidrs.iter().any(|c| c.address() == ip) {
            return None;
        }
        self.cidrs.iter().find_map(|cidr| match (cidr, ip) {
            (IpCidr::Ipv4(c), IpAddress::Ipv4(v4))
                if c.contains_addr(&v4) && Some(v4) != c.broadcast() =>
            {
                Some(cidr.address())
            }
            (IpCidr::Ipv6(c), IpAddress::Ipv6(v6)) if c.contains_addr(&v6) => Some(cidr.address()),
            _ => None,
        })
    }

    /// Whether `frame` comes from the sender of the last one, learned a
    /// moment ago: most frames do, and this reads a few bytes where parsing
    /// the headers would cost ten times as much.
    fn is_last_sender(&self, frame: &[u8], now: Instant) -> bool {
        let Some(Some(last)) = self.table.get(self.last) else {
            return false;
        };
        let source_matches = match last.ip {
            IpAddress::Ipv4(ip) => {
                frame.get(12..14) == Some(&[0x08, 0x00][..])
                    && frame.get(26..30) == Some(&ip.octets()[..])
            }
            IpAddress::Ipv6(ip) => {
                frame.get(12..14) == Some(&[0x86, 0xdd][..])
                    && frame.get(22..38) == Some(&ip.octets()[..])
            }
        };
        source_matches && frame.get(6..12) == Some(&last.mac.0[..]) && now - last.at < REFRESH_AFTER
    }

    fn oldest_slot(&self) -> usize {
        let mut best = 0;
        let mut best_at = None;
        for (i, entry) in self.table.iter().enumerate() {
            match entry {
                None => return i,
                Some(e) if best_at.is_none_or(|at| e.at < at) => {
                    best = i;
                    best_at = Some(e.at);
                }
                Some(_) => {}
            }
        }
        best
    }

    /// An ARP reply from `ip` at `mac`, to us.
    fn arp_reply(&self, ip: Ipv4Address, mac: EthernetAddress, ours: Ipv4Address) -> Lesson {
        let mut lesson = Lesson {
            frame: [0; NA_FRAME_LEN],
            len: ARP_FRAME_LEN,
        };
        let mut eth = EthernetFrame::new_unchecked(&mut lesson.frame[..ARP_FRAME_LEN]);
        EthernetRepr {
            src_addr: mac,
            dst_addr: self.mac,
            ethertype: EthernetProtocol::Arp,
        }
        .emit(&mut eth);
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac,
            source_protocol_addr: ip,
            target_hardware_addr: self.mac,
            target_protocol_addr: ours,
        }
        .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        lesson
    }

    /// An unsolicited neighbor advertisement from `ip` at `mac`, to us,
    /// with the override flag: what the neighbor would have said when asked.
    fn neighbor_advert(&self, ip: Ipv6Address, mac: EthernetAddress, ours: Ipv6Address) -> Lesson {
        let mut lesson = Lesson {
            frame: [0; NA_FRAME_LEN],
            len: NA_FRAME_LEN,
        };
        let advert = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: ip,
            lladdr: Some(mac.into()),
        });
        let ip_repr = Ipv6Repr {
            src_addr: ip,
            dst_addr: ours,
            next_header: IpProtocol::Icmpv6,
            payload_len: advert.buffer_len(),
            // Neighbor discovery accepts only what no router forwarded.
            hop_limit: 255,
        };
        let mut eth = EthernetFrame::new_unchecked(&mut lesson.frame[..]);
        EthernetRepr {
            src_addr: mac,
            dst_addr: self.mac,
            ethertype: EthernetProtocol::Ipv6,
        }
        .emit(&mut eth);
        let mut packet = Ipv6Packet::new_unchecked(eth.payload_mut());
        ip_repr.emit(&mut packet);
        advert.emit(
            &ip,
            &ours,
            &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
            &ChecksumCapabilities::default(),
        );
        lesson
    }
}

/// The solicited-node multicast group of `address` (RFC 4291 2.7.1):
/// `ff02::1:ff00:0/104` and its last 24 bits.
fn solicited_node(address: Ipv6Address) -> Ipv6Address {
    let [.., a, b, c] = address.octets();
    Ipv6Address::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a, b, c])
}

/// A port's [`Device`] seen through [`NeighborLearning`].
pub struct LearningDevice<'a, D: Device> {
    pub inner: &'a mut D,
    pub learning: &'a mut NeighborLearning,
}

impl<D: Device> Device for LearningDevice<'_, D> {
    type RxToken<'b>
        = LearningRxToken<'b, D::RxToken<'b>>
    where
        Self: 'b;
    type TxToken<'b>
        = D::TxToken<'b>
    where
        Self: 'b;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let LearningDevice { inner, learning } = self;
        if learning.held_len.is_some() {
            let tx = inner.transmit(now)?;
            return Some((LearningRxToken::Held(learning), tx));
        }
        let (rx, tx) = inner.receive(now)?;
        Some((LearningRxToken::Live { rx, learning, now }, tx))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(now)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = self.inner.capabilities();
        caps.max_transmission_unit = caps.max_transmission_unit.min(MAX_FRAME);
        caps
    }
}

pub enum LearningRxToken<'b, R> {
    /// A frame straight from the port's device.
    Live {
        rx: R,
        learning: &'b mut NeighborLearning,
        now: Instant,
    },
    /// The frame held back while its sender's ARP entry went in first.
    Held(&'b mut NeighborLearning),
}

impl<R: phy::RxToken> phy::RxToken for LearningRxToken<'_, R> {
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        match self {
            LearningRxToken::Live { rx, learning, now } => rx.consume(|frame| {
                if learning.is_foreign_ipv6(frame) {
                    learning.foreign += 1;
                    // An empty frame is no Ethernet frame: smoltcp drops it.
                    return f(&[]);
                }
                let Some(lesson) = learning.learn(frame, now) else {
                    return f(frame);
                };
                match learning.held.get_mut(..frame.len()) {
                    Some(held) => {
                        held.copy_from_slice(frame);
                        learning.held_len = Some(frame.len());
                        f(lesson.bytes())
                    }
                    // Too large to hold (and to answer): let smoltcp see it as
                    // is. `learn` already refuses such frames.
                    None => f(frame),
                }
            }),
            LearningRxToken::Held(learning) => {
                let len = learning.held_len.take().unwrap_or(0);
                f(learning.held.get(..len).unwrap_or(&[]))
            }
        }
    }

    fn meta(&self) -> PacketMeta {
        match self {
            LearningRxToken::Live { rx, .. } => rx.meta(),
            LearningRxToken::Held(_) => PacketMeta::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Cidr, Ipv4Repr, Ipv6Cidr};

    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    const OUR_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
    const OUR_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    fn learning() -> NeighborLearning {
        NeighborLearning::new(
            OUR_MAC,
            &[
                IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24)),
                IpCidr::Ipv6(Ipv6Cidr::new(OUR_V6, 64)),
                IpCidr::Ipv6(Ipv6Cidr::new(OUR_LINK_LOCAL, 64)),
            ],
        )
    }

    fn ipv6_frame(src_mac: EthernetAddress, src: Ipv6Address) -> std::vec::Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: OUR_V6,
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let mut frame = std::vec![0u8; 14 + ip.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: OUR_MAC,
            ethertype: EthernetProtocol::Ipv6,
        }
        .emit(&mut eth);
        ip.emit(&mut Ipv6Packet::new_unchecked(eth.payload_mut()));
        frame
    }

    #[test]
    fn an_on_link_ipv6_sender_is_taught_as_a_neighbor_advertisement() {
        let mut l = learning();
        for (peer, ours) in [
            (Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100), OUR_V6),
            (
                Ipv6Address::new(0xfe80, 0, 0, 0, 0x1c, 0x2d, 0x3e, 0x4f),
                OUR_LINK_LOCAL,
            ),
        ] {
            let lesson = l
                .learn(&ipv6_frame(PEER_MAC, peer), Instant::from_secs(1))
                .unwrap();
            let eth = EthernetFrame::new_checked(lesson.bytes()).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr()), (PEER_MAC, OUR_MAC));
            let packet = Ipv6Packet::new_checked(eth.payload()).unwrap();
            let ip = Ipv6Repr::parse(&packet).unwrap();
            assert_eq!((ip.src_addr, ip.dst_addr, ip.hop_limit), (peer, ours, 255));
            let icmp = Icmpv6Packet::new_checked(packet.payload()).unwrap();
            let repr = Icmpv6Repr::parse(&peer, &ours, &icmp, &ChecksumCapabilities::default())
                .expect("a valid checksum");
            assert_eq!(
                repr,
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags::OVERRIDE,
                    target_addr: peer,
                    lladdr: Some(PEER_MAC.into()),
                })
            );
        }
        // Off-link, multicast and our own addresses teach nothing.
        for src in [
            Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            OUR_V6,
            Ipv6Address::UNSPECIFIED,
        ] {
            assert!(
                l.learn(&ipv6_frame(PEER_MAC, src), Instant::from_secs(1))
                    .is_none(),
                "{src}"
            );
        }
    }

    fn ipv4_frame(src_mac: EthernetAddress, src: Ipv4Address) -> std::vec::Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: Ipv4Address::new(192, 168, 69, 1),
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let mut frame = std::vec![0u8; 14 + ip.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: OUR_MAC,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut eth);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(eth.payload_mut()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        frame
    }

    #[test]
    fn an_on_link_sender_is_taught_to_smoltcp_as_an_arp_reply() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let lesson = l
            .learn(&ipv4_frame(PEER_MAC, peer), Instant::from_secs(1))
            .unwrap();
        let eth = EthernetFrame::new_checked(lesson.bytes()).unwrap();
        assert_eq!(eth.dst_addr(), OUR_MAC);
        let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(
            repr,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: PEER_MAC,
                source_protocol_addr: peer,
                target_hardware_addr: OUR_MAC,
                target_protocol_addr: Ipv4Address::new(192, 168, 69, 1),
            }
        );
    }

    #[test]
    fn a_known_sender_is_learned_again_only_when_stale_or_moved() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let frame = ipv4_frame(PEER_MAC, peer);
        assert!(l.learn(&frame, Instant::from_secs(1)).is_some());
        assert!(l.learn(&frame, Instant::from_secs(20)).is_none());
        assert!(l.learn(&frame, Instant::from_secs(22)).is_some());
        let moved = ipv4_frame(EthernetAddress([2, 0, 0, 0, 0, 9]), peer);
        assert!(l.learn(&moved, Instant::from_secs(23)).is_some());
        assert_eq!(l.injected(), 3);
    }

    #[test]
    fn off_link_broadcast_and_garbage_senders_are_ignored() {
        let mut l = learning();
        let now = Instant::from_secs(1);
        for src in [
            Ipv4Address::new(10, 0, 0, 1),
            Ipv4Address::new(192, 168, 69, 255),
            Ipv4Address::new(192, 168, 69, 1),
            Ipv4Address::new(0, 0, 0, 0),
        ] {
            assert!(l.learn(&ipv4_frame(PEER_MAC, src), now).is_none(), "{src}");
        }
        let multicast_mac = EthernetAddress([1, 0, 0x5e, 0, 0, 1]);
        let peer = Ipv4Address::new(192, 168, 69, 100);
        assert!(l.learn(&ipv4_frame(multicast_mac, peer), now).is_none());
        let frame = ipv4_frame(PEER_MAC, peer);
        for len in 0..frame.len() {
            // Truncated frames never panic; whatever smoltcp would reject
            // teaches nothing.
            let _ = l.learn(&frame[..len], now);
        }
    }

    #[test]
    fn a_frame_too_large_to_hold_teaches_nothing_and_is_not_remembered() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let mut jumbo = ipv4_frame(PEER_MAC, peer);
        jumbo.resize(MAX_FRAME + 1, 0);
        assert!(l.learn(&jumbo, Instant::from_secs(1)).is_none());
        assert_eq!(l.injected(), 0);
        // The sender's next frame, which can be held, teaches smoltcp.
        let frame = ipv4_frame(PEER_MAC, peer);
        assert!(l.learn(&frame, Instant::from_secs(2)).is_some());
    }

    #[test]
    fn the_table_evicts_the_oldest_sender() {
        let mut l = learning();
        for i in 0..=TABLE_SIZE as u8 {
            let peer = Ipv4Address::new(192, 168, 69, 10 + i);
            assert!(l
                .learn(&ipv4_frame(PEER_MAC, peer), Instant::from_millis(i as i64))
                .is_some());
        }
        let first = Ipv4Address::new(192, 168, 69, 10);
        let last = Ipv4Address::new(192, 168, 69, 10 + TABLE_SIZE as u8);
        let now = Instant::from_millis(100);
        assert!(l.learn(&ipv4_frame(PEER_MAC, last), now).is_none());
        assert!(l.learn(&ipv4_frame(PEER_MAC, first), now).is_some());
    }
}
