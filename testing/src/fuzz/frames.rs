//! Frames in, built with smoltcp's emitters (checksums right), and frames
//! out, parsed with smoltcp's parsers (checksums verified): for the stack
//! target and its seeds.

use std::vec;
use std::vec::Vec;

use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, Icmpv4Message, Icmpv4Packet, Icmpv4Repr, Icmpv6Packet, Icmpv6Repr, IpAddress,
    IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscRepr,
    RawHardwareAddress, UdpPacket, UdpRepr, UDP_HEADER_LEN,
};

/// Checksums computed and verified, whatever smoltcp's build.
pub fn caps() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

fn ethernet(
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

/// An IP packet from `src` to `dst` (one family) around `payload_len`
/// bytes of `protocol` written by `emit_payload`, in an Ethernet frame.
pub fn ip(
    (src_mac, dst_mac): (EthernetAddress, EthernetAddress),
    (src, dst): (IpAddress, IpAddress),
    protocol: IpProtocol,
    payload_len: usize,
    emit_payload: impl FnOnce(&mut [u8]),
) -> Vec<u8> {
    match (src, dst) {
        (IpAddress::Ipv4(src), IpAddress::Ipv4(dst)) => {
            let repr = Ipv4Repr {
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
                repr.buffer_len() + payload_len,
            );
            let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
            repr.emit(&mut packet, &caps());
            emit_payload(packet.payload_mut());
            frame
        }
        (IpAddress::Ipv6(src), IpAddress::Ipv6(dst)) => {
            let repr = Ipv6Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: protocol,
                payload_len,
                // 255: what neighbor discovery requires, and fine for the rest.
                hop_limit: 255,
            };
            let mut frame = ethernet(
                src_mac,
                dst_mac,
                EthernetProtocol::Ipv6,
                repr.buffer_len() + payload_len,
            );
            let mut packet = Ipv6Packet::new_unchecked(&mut frame[14..]);
            repr.emit(&mut packet);
            emit_payload(packet.payload_mut());
            frame
        }
        _ => panic!("addresses of two families: {src} and {dst}"),
    }
}

/// A UDP datagram in an IP packet in an Ethernet frame.
pub fn udp(
    macs: (EthernetAddress, EthernetAddress),
    (src, src_port): (IpAddress, u16),
    (dst, dst_port): (IpAddress, u16),
    payload: &[u8],
) -> Vec<u8> {
    ip(
        macs,
        (src, dst),
        IpProtocol::Udp,
        UDP_HEADER_LEN + payload.len(),
        |buf| {
            UdpRepr { src_port, dst_port }.emit(
                &mut UdpPacket::new_unchecked(buf),
                &src,
                &dst,
                payload.len(),
                |p| p.copy_from_slice(payload),
                &caps(),
            )
        },
    )
}

/// An ICMP (v4 or v6) echo request.
pub fn ping(
    macs: (EthernetAddress, EthernetAddress),
    (src, dst): (IpAddress, IpAddress),
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    match (src, dst) {
        (IpAddress::Ipv6(s), IpAddress::Ipv6(d)) => {
            let repr = Icmpv6Repr::EchoRequest {
                ident,
                seq_no,
                data,
            };
            ip(
                macs,
                (src, dst),
                IpProtocol::Icmpv6,
                repr.buffer_len(),
                |buf| repr.emit(&s, &d, &mut Icmpv6Packet::new_unchecked(buf), &caps()),
            )
        }
        _ => {
            let repr = Icmpv4Repr::EchoRequest {
                ident,
                seq_no,
                data,
            };
            ip(
                macs,
                (src, dst),
                IpProtocol::Icmp,
                repr.buffer_len(),
                |buf| repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps()),
            )
        }
    }
}

/// An ARP packet in an Ethernet frame.
pub fn arp(
    operation: ArpOperation,
    (src_mac, src_ip): (EthernetAddress, Ipv4Address),
    (target_mac, target_ip): (EthernetAddress, Ipv4Address),
    eth_dst: EthernetAddress,
) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr: src_mac,
        source_protocol_addr: src_ip,
        target_hardware_addr: target_mac,
        target_protocol_addr: target_ip,
    };
    let mut frame = ethernet(src_mac, eth_dst, EthernetProtocol::Arp, repr.buffer_len());
    repr.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
    frame
}

/// A neighbor solicitation or advertisement.
pub fn ndisc(
    macs: (EthernetAddress, EthernetAddress),
    (src, dst): (Ipv6Address, Ipv6Address),
    repr: NdiscRepr<'_>,
) -> Vec<u8> {
    let repr = Icmpv6Repr::Ndisc(repr);
    ip(
        macs,
        (src.into(), dst.into()),
        IpProtocol::Icmpv6,
        repr.buffer_len(),
        |buf| repr.emit(&src, &dst, &mut Icmpv6Packet::new_unchecked(buf), &caps()),
    )
}

/// The link-layer address option of neighbor discovery.
pub fn lladdr(mac: EthernetAddress) -> Option<RawHardwareAddress> {
    Some(RawHardwareAddress::from(mac))
}

/// What a frame is, once parsed with every checksum verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// ARP.
    Arp(EthernetRepr, ArpRepr),
    /// An IPv4 or IPv6 packet.
    Ip(IpFrame),
}

/// An IP packet, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpFrame {
    /// The Ethernet header.
    pub eth: EthernetRepr,
    /// Source address.
    pub src: IpAddress,
    /// Destination address.
    pub dst: IpAddress,
    /// The packet's length, IP header included.
    pub len: usize,
    /// What it carries.
    pub payload: IpPayload,
}

/// What an IP packet carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpPayload {
    /// A UDP datagram.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
        /// Its payload.
        data: Vec<u8>,
    },
    /// An ICMPv4 message.
    Icmpv4(Icmpv4Kind),
    /// An ICMPv6 message.
    Icmpv6(Icmpv6Kind),
    /// Another protocol (not parsed further).
    Other(IpProtocol),
}

/// The kinds of ICMPv4 message the checks tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv4Kind {
    /// Echo request.
    EchoRequest,
    /// Echo reply.
    EchoReply,
    /// An error (destination unreachable, time exceeded, ...).
    Error,
}

/// The kinds of ICMPv6 message the checks tell apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Kind {
    /// Echo request.
    EchoRequest,
    /// Echo reply.
    EchoReply,
    /// A neighbor solicitation, for this target.
    NeighborSolicit(Ipv6Address),
    /// A neighbor advertisement, for this target.
    NeighborAdvert(Ipv6Address),
    /// Another neighbor discovery message (router solicitation, ...).
    OtherNdisc,
    /// Multicast listener discovery.
    Mld,
    /// An error.
    Error,
}

/// Parses `frame` with smoltcp's parsers, every checksum verified: why
/// not, as text, if it does not parse.
pub fn parse(frame: &[u8]) -> Result<Parsed, &'static str> {
    let eth_frame = EthernetFrame::new_checked(frame).map_err(|_| "Ethernet frame too short")?;
    let eth = EthernetRepr::parse(&eth_frame).map_err(|_| "Ethernet header")?;
    match eth.ethertype {
        EthernetProtocol::Arp => {
            let packet =
                ArpPacket::new_checked(eth_frame.payload()).map_err(|_| "ARP too short")?;
            let arp = ArpRepr::parse(&packet).map_err(|_| "ARP packet")?;
            Ok(Parsed::Arp(eth, arp))
        }
        EthernetProtocol::Ipv4 => {
            let packet =
                Ipv4Packet::new_checked(eth_frame.payload()).map_err(|_| "IPv4 too short")?;
            let repr = Ipv4Repr::parse(&packet, &caps()).map_err(|_| "IPv4 header or checksum")?;
            if packet.more_frags() || packet.frag_offset() != 0 {
                return Err("an IPv4 fragment");
            }
            let (src, dst) = (
                IpAddress::Ipv4(repr.src_addr),
                IpAddress::Ipv4(repr.dst_addr),
            );
            let payload = match repr.next_header {
                IpProtocol::Udp => udp_payload(packet.payload(), src, dst)?,
                IpProtocol::Icmp => {
                    let icmp = Icmpv4Packet::new_checked(packet.payload())
                        .map_err(|_| "ICMP too short")?;
                    IpPayload::Icmpv4(match Icmpv4Repr::parse(&icmp, &caps()) {
                        Ok(Icmpv4Repr::EchoRequest { .. }) => Icmpv4Kind::EchoRequest,
                        Ok(Icmpv4Repr::EchoReply { .. }) => Icmpv4Kind::EchoReply,
                        Ok(_) => Icmpv4Kind::Error,
                        // smoltcp's parser wants the whole packet an error
                        // quotes, and its emitter cuts the quote to fit 576
                        // bytes: such an error is valid if its checksum is.
                        Err(_) if icmp.verify_checksum() && is_icmpv4_error(icmp.msg_type()) => {
                            Icmpv4Kind::Error
                        }
                        Err(_) => return Err("ICMP message or checksum"),
                    })
                }
                other => IpPayload::Other(other),
            };
            Ok(Parsed::Ip(IpFrame {
                eth,
                src,
                dst,
                len: usize::from(packet.total_len()),
                payload,
            }))
        }
        EthernetProtocol::Ipv6 => {
            let packet =
                Ipv6Packet::new_checked(eth_frame.payload()).map_err(|_| "IPv6 too short")?;
            let repr = Ipv6Repr::parse(&packet).map_err(|_| "IPv6 header")?;
            let (src, dst) = (
                IpAddress::Ipv6(repr.src_addr),
                IpAddress::Ipv6(repr.dst_addr),
            );
            let payload = match repr.next_header {
                IpProtocol::Udp => udp_payload(packet.payload(), src, dst)?,
                IpProtocol::Icmpv6 => {
                    let icmp = Icmpv6Packet::new_checked(packet.payload())
                        .map_err(|_| "ICMPv6 too short")?;
                    let parsed = Icmpv6Repr::parse(&repr.src_addr, &repr.dst_addr, &icmp, &caps());
                    let parsed = match parsed {
                        Ok(parsed) => parsed,
                        // As for ICMPv4: a quote cut to fit the minimum MTU.
                        Err(_)
                            if icmp.verify_checksum(&repr.src_addr, &repr.dst_addr)
                                && icmp.msg_type().is_error() =>
                        {
                            return Ok(Parsed::Ip(IpFrame {
                                eth,
                                src,
                                dst,
                                len: 40 + usize::from(packet.payload_len()),
                                payload: IpPayload::Icmpv6(Icmpv6Kind::Error),
                            }));
                        }
                        Err(_) => return Err("ICMPv6 message or checksum"),
                    };
                    IpPayload::Icmpv6(match parsed {
                        Icmpv6Repr::EchoRequest { .. } => Icmpv6Kind::EchoRequest,
                        Icmpv6Repr::EchoReply { .. } => Icmpv6Kind::EchoReply,
                        Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit { target_addr, .. }) => {
                            Icmpv6Kind::NeighborSolicit(target_addr)
                        }
                        Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert { target_addr, .. }) => {
                            Icmpv6Kind::NeighborAdvert(target_addr)
                        }
                        Icmpv6Repr::Ndisc(_) => Icmpv6Kind::OtherNdisc,
                        Icmpv6Repr::Mld(_) => Icmpv6Kind::Mld,
                        _ => Icmpv6Kind::Error,
                    })
                }
                other => IpPayload::Other(other),
            };
            Ok(Parsed::Ip(IpFrame {
                eth,
                src,
                dst,
                len: 40 + usize::from(packet.payload_len()),
                payload,
            }))
        }
        _ => Err("neither ARP nor IP"),
    }
}

fn is_icmpv4_error(kind: Icmpv4Message) -> bool {
    matches!(
        kind,
        Icmpv4Message::DstUnreachable | Icmpv4Message::TimeExceeded | Icmpv4Message::ParamProblem
    )
}

fn udp_payload(bytes: &[u8], src: IpAddress, dst: IpAddress) -> Result<IpPayload, &'static str> {
    let udp = UdpPacket::new_checked(bytes).map_err(|_| "UDP too short")?;
    let repr = UdpRepr::parse(&udp, &src, &dst, &caps()).map_err(|_| "UDP header or checksum")?;
    Ok(IpPayload::Udp {
        src_port: repr.src_port,
        dst_port: repr.dst_port,
        data: udp.payload().to_vec(),
    })
}

/// Panics unless smoltcp verifies checksums in this build: under
/// `cfg(fuzzing)` it skips them, and every check of a checksum here (ours
/// and the stack's) would pass on anything. The fuzz targets are built
/// with `--no-cfg-fuzzing`; this proves it, once per process.
pub fn assert_checksums_verified() {
    static CHECKED: std::sync::Once = std::sync::Once::new();
    CHECKED.call_once(|| {
        let mac = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
        let src = IpAddress::v4(192, 168, 69, 100);
        let dst = IpAddress::v4(192, 168, 69, 1);
        let mut frame = udp((mac, mac), (src, 40000), (dst, 7), b"checksum");
        assert!(parse(&frame).is_ok());
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        assert_eq!(
            parse(&frame),
            Err("UDP header or checksum"),
            "smoltcp does not verify checksums: built with cfg(fuzzing)? (use --no-cfg-fuzzing)"
        );
    });
}
