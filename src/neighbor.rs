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
//! Yet the frame itself names the neighbor's MAC address. [`LearningDevice`]
//! wraps the port's [`Device`]: when an IPv4 frame arrives from an on-link
//! unicast sender that it has not seen lately, it first hands smoltcp a
//! synthetic ARP reply (sender IP -> sender MAC, addressed to us), which fills
//! the cache through smoltcp's own ARP code, and then the real frame. Only
//! such frames are copied, once; everything else passes through untouched.
//!
//! The learned entry is what ARP would have told us anyway if the peer is
//! honest; a peer that lies can equally lie in ARP, which smoltcp accepts
//! unsolicited, so this adds no new way to poison the cache.

use smoltcp::phy::{self, Device, DeviceCapabilities, PacketMeta};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Ipv4Address, Ipv4Cidr, Ipv4Packet,
};

/// The largest Ethernet frame (without FCS) the stack handles: a 1500-byte
/// IP packet plus the 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// How many senders are remembered; smoltcp's neighbor cache holds 8 by default.
const TABLE_SIZE: usize = 8;

/// How long a learned entry counts as fresh in smoltcp's cache, which keeps
/// entries 60 s: well inside that, so a refresh always comes before expiry.
const REFRESH_AFTER: Duration = Duration::from_secs(20);

const ARP_FRAME_LEN: usize = 14 + 28;

#[derive(Debug, Clone, Copy)]
struct Learned {
    ip: Ipv4Address,
    mac: EthernetAddress,
    at: Instant,
}

/// The state behind [`LearningDevice`]: who we are, whom we learned, and the
/// frame held back while its sender's ARP entry is injected.
pub struct NeighborLearning {
    mac: EthernetAddress,
    cidr: Ipv4Cidr,
    table: [Option<Learned>; TABLE_SIZE],
    held: [u8; MAX_FRAME],
    held_len: Option<usize>,
    injected: u64,
    /// The table entry that matched or was filled last.
    last: usize,
}

impl NeighborLearning {
    pub fn new(mac: EthernetAddress, cidr: Ipv4Cidr) -> NeighborLearning {
        NeighborLearning {
            mac,
            cidr,
            table: [None; TABLE_SIZE],
            held: [0; MAX_FRAME],
            held_len: None,
            injected: 0,
            last: 0,
        }
    }

    /// How many ARP entries were learned from frames so far.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    /// If `frame` comes from an on-link unicast sender not learned lately,
    /// remembers it and returns the ARP reply that teaches smoltcp its MAC.
    fn learn(&mut self, frame: &[u8], now: Instant) -> Option<[u8; ARP_FRAME_LEN]> {
        // A frame too large to hold back cannot go in after an ARP reply, so
        // it teaches nothing; its sender must not be remembered either, or
        // its next (ordinary) frame would not teach smoltcp as it should.
        if frame.len() > self.held.len() {
            return None;
        }
        if self.is_last_sender(frame, now) {
            return None;
        }
        let eth = EthernetFrame::new_checked(frame).ok()?;
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return None;
        }
        let (mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
        if !mac.is_unicast() || (dst_mac != self.mac && !dst_mac.is_broadcast()) {
            return None;
        }
        let packet = Ipv4Packet::new_checked(eth.payload()).ok()?;
        let ip = packet.src_addr();
        // The common case first, and cheaply: a sender learned a moment ago.
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
        let on_link_peer = self.cidr.contains_addr(&ip)
            && ip != self.cidr.address()
            && Some(ip) != self.cidr.broadcast()
            && !ip.is_unspecified();
        // A header smoltcp will reject must teach nothing.
        if !on_link_peer || !packet.verify_checksum() {
            return None;
        }
        let slot = known.unwrap_or_else(|| self.oldest_slot());
        self.last = slot;
        let entry = self.table.get_mut(slot)?;
        *entry = Some(Learned { ip, mac, at: now });
        self.injected += 1;
        Some(self.arp_reply_from(ip, mac))
    }

    /// Whether `frame` is an IPv4 frame from the sender of the last one,
    /// learned a moment ago: most frames are, and this reads eight bytes
    /// where parsing the headers would cost ten times as much.
    fn is_last_sender(&self, frame: &[u8], now: Instant) -> bool {
        let Some(Some(last)) = self.table.get(self.last) else {
            return false;
        };
        frame.get(12..14) == Some(&[0x08, 0x00][..])
            && frame.get(6..12) == Some(&last.mac.0[..])
            && frame.get(26..30) == Some(&last.ip.octets()[..])
            && now - last.at < REFRESH_AFTER
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

    fn arp_reply_from(&self, ip: Ipv4Address, mac: EthernetAddress) -> [u8; ARP_FRAME_LEN] {
        let mut frame = [0u8; ARP_FRAME_LEN];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
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
            target_protocol_addr: self.cidr.address(),
        }
        .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        frame
    }
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
                let Some(arp) = learning.learn(frame, now) else {
                    return f(frame);
                };
                match learning.held.get_mut(..frame.len()) {
                    Some(held) => {
                        held.copy_from_slice(frame);
                        learning.held_len = Some(frame.len());
                        f(&arp)
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
    use smoltcp::wire::{IpProtocol, Ipv4Repr};

    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn learning() -> NeighborLearning {
        NeighborLearning::new(
            OUR_MAC,
            Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24),
        )
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
        let arp = l
            .learn(&ipv4_frame(PEER_MAC, peer), Instant::from_secs(1))
            .unwrap();
        let eth = EthernetFrame::new_checked(&arp[..]).unwrap();
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
