//! DHCP through the whole core, frames in and frames out: a real [`Stack`]
//! with DHCP enabled, echo and discovery, on an in-memory smoltcp device,
//! talking to a DHCP server played by this test with DHCP messages built
//! with `smoltcp::wire::DhcpRepr`: the DISCOVER, OFFER, REQUEST, ACK
//! exchange, the services on the leased address, a renewal, a NAK, an
//! expiry and a move to another address; and thousands of mangled server
//! messages, none of which may panic.
//!
//! Nothing here touches a real network: the device is two queues in memory
//! and the clock is advanced by hand.

mod support;

use support::*;
use udpkit::services::discovery::{Discovery, ServiceEntry, DEFAULT_PORT};
use udpkit::services::echo;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    DhcpMessageType, DhcpOption, DhcpPacket, DhcpRepr, EthernetAddress, IpAddress, IpCidr,
    Ipv4Address, Ipv4Cidr, DHCP_CLIENT_PORT, DHCP_SERVER_PORT,
};
use udpkit::{Config, ServiceId, SocketBuffers, Stack};
use udpkit::{DhcpStorage, Lease};

const DISCOVERY: u16 = DEFAULT_PORT;
const ECHO: u16 = echo::DEFAULT_PORT;

/// The DHCP server: the peer of the shared addresses.
const SERVER_IP: Ipv4Address = PEER_IP;
const SERVER_MAC: EthernetAddress = PEER_MAC;
/// Another host on the link, the client of the services.
const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x07]);
const CLIENT_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 7);
const ROUTER: Ipv4Address = Ipv4Address::new(192, 168, 69, 254);
const LEASED: Ipv4Address = Ipv4Address::new(192, 168, 69, 50);
const MASK: Ipv4Address = Ipv4Address::new(255, 255, 255, 0);

type Buffers = SocketBuffers<8, 8192>;

// ---------------------------------------------------------------------------
// A stack with DHCP, echo and discovery on an in-memory board.

struct Net {
    board: MemoryBoard,
    stack: Stack<'static>,
    echo: ServiceId,
}

impl Net {
    /// DHCP enabled on the default configuration (whose static IPv4
    /// address 192.168.69.1 must then go unused), echo, and discovery
    /// announcing once, its directory made from the stack's addresses.
    fn new() -> Net {
        init_logging();
        let config = Config::default();
        let mut board = memory_board(Instant::from_secs(1000));

        let mut stack = leaked_stack(&config, &mut board, 3, neighbor_table());
        stack.enable_dhcp(leak(DhcpStorage::new())).unwrap();
        let echo = stack
            .add_service(leak(echo::Echo), ECHO, leak(Buffers::new()).queues())
            .unwrap();
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
        let mut discovery =
            Discovery::new("dhcp-test", Some(config.mac), stack.addresses(), &services).unwrap();
        discovery.announce(1, DISCOVERY);
        stack
            .add_service(leak(discovery), DISCOVERY, leak(Buffers::new()).queues())
            .unwrap();
        Net { board, stack, echo }
    }

    fn poll(&mut self) -> Vec<Vec<u8>> {
        self.stack.poll(&mut self.board);
        take_sent(&mut self.board)
    }

    fn exchange(&mut self, frame: Vec<u8>) -> Vec<Vec<u8>> {
        inject(&mut self.board, &frame);
        self.poll()
    }

    fn advance(&mut self, by: Duration) {
        self.board.now += by;
    }

    /// Polls until the DHCP client sends a message (answering the ARP
    /// requests met on the way for the server), stepping the clock a second
    /// at a time, at most `limit`; the message and its IP source and
    /// destination.
    #[track_caller]
    fn next_dhcp_message(&mut self, limit: Duration) -> Sent {
        let deadline = self.board.now + limit;
        loop {
            for frame in self.poll() {
                if let Some(sent) = dhcp_sent(&frame) {
                    return sent;
                }
                if let Out::Arp(_, arp) = parse(&frame) {
                    if arp_target(&arp) == Some(SERVER_IP) {
                        inject(&mut self.board, &server_arp_reply(&arp));
                    }
                }
            }
            assert!(self.board.now < deadline, "no DHCP message within {limit}");
            self.advance(Duration::from_secs(1));
        }
    }

    /// The whole exchange from a DISCOVER on: OFFER and ACK of `address`
    /// for `lease` seconds with `router`; the frames sent after the ACK.
    fn lease(
        &mut self,
        address: Ipv4Address,
        lease: u32,
        router: Option<Ipv4Address>,
    ) -> Vec<Vec<u8>> {
        let discover = self.next_dhcp_message(Duration::from_secs(15));
        assert_eq!(discover.repr.message_type, DhcpMessageType::Discover);
        assert_eq!(
            (discover.src, discover.dst),
            (Ipv4Address::UNSPECIFIED, Ipv4Address::BROADCAST),
            "a DISCOVER from 0.0.0.0 to the broadcast address"
        );
        assert_eq!(discover.repr.client_hardware_address, OUR_MAC);
        let offer = server_message(
            DhcpMessageType::Offer,
            discover.repr.transaction_id,
            address,
            lease,
            router,
        );
        let request = self.exchange(offer);
        let request = request
            .iter()
            .find_map(|frame| dhcp_sent(frame))
            .expect("a REQUEST right after the OFFER");
        assert_eq!(request.repr.message_type, DhcpMessageType::Request);
        assert_eq!(request.repr.requested_ip, Some(address));
        assert_eq!(request.repr.server_identifier, Some(SERVER_IP));
        let ack = server_message(
            DhcpMessageType::Ack,
            request.repr.transaction_id,
            address,
            lease,
            router,
        );
        self.exchange(ack)
    }

    /// Echo's answer to `payload` sent to `to`, if any.
    fn echo_at(&mut self, to: Ipv4Address, payload: &[u8]) -> Option<UdpOut> {
        let frame = udp(
            (CLIENT_MAC, OUR_MAC),
            (CLIENT_IP, CLIENT_PORT),
            (to, ECHO),
            payload,
        );
        self.exchange(frame)
            .iter()
            .find_map(|frame| match parse(frame) {
                Out::Udp(udp) if udp.src_port == ECHO => Some(udp),
                _ => None,
            })
    }

    /// Discovery's reply to a request broadcast by the client.
    #[track_caller]
    fn discover(&mut self) -> String {
        self.try_discover().expect("discovery answers")
    }

    /// Discovery's reply to a request broadcast by the client, if any.
    fn try_discover(&mut self) -> Option<String> {
        let frame = udp(
            (CLIENT_MAC, EthernetAddress::BROADCAST),
            (CLIENT_IP, CLIENT_PORT),
            (Ipv4Address::BROADCAST, DISCOVERY),
            b"DISCOVER\n",
        );
        let reply = self
            .exchange(frame)
            .iter()
            .find_map(|frame| match parse(frame) {
                Out::Udp(udp) if udp.src_port == DISCOVERY => Some(udp),
                _ => None,
            })?;
        Some(String::from_utf8(reply.payload).unwrap())
    }

    fn lease_held(&self) -> Option<Lease> {
        self.stack.dhcp_lease().cloned()
    }
}

// ---------------------------------------------------------------------------
// DHCP messages.

/// A DHCP message the stack sent.
#[derive(Debug)]
struct Sent {
    src: Ipv4Address,
    dst: Ipv4Address,
    repr: DhcpRepr<'static>,
}

/// The DHCP message in `frame`, if it is one from port 68 to port 67.
fn dhcp_sent(frame: &[u8]) -> Option<Sent> {
    let Out::Udp(udp) = parse(frame) else {
        return None;
    };
    if (udp.src_port, udp.dst_port) != (DHCP_CLIENT_PORT, DHCP_SERVER_PORT) {
        return None;
    }
    // The repr borrows the payload: keep it for the test's length.
    let payload: &'static [u8] = udp.payload.leak();
    let packet: &'static DhcpPacket<&'static [u8]> = Box::leak(Box::new(
        DhcpPacket::new_checked(payload).expect("a DHCP message"),
    ));
    let repr = DhcpRepr::parse(packet).expect("a DHCP message that parses");
    Some(Sent {
        src: udp.ip.src_addr,
        dst: udp.ip.dst_addr,
        repr,
    })
}

/// The server's `kind` for transaction `xid`: `address` for `lease`
/// seconds, unicast to it at our MAC address (as dnsmasq and most servers
/// send to a client that did not ask for broadcasts), from port 67.
fn server_message(
    kind: DhcpMessageType,
    xid: u32,
    address: Ipv4Address,
    lease: u32,
    router: Option<Ipv4Address>,
) -> Vec<u8> {
    let repr = DhcpRepr {
        message_type: kind,
        transaction_id: xid,
        secs: 0,
        client_hardware_address: OUR_MAC,
        client_ip: Ipv4Address::UNSPECIFIED,
        your_ip: address,
        server_ip: SERVER_IP,
        router,
        subnet_mask: Some(MASK),
        relay_agent_ip: Ipv4Address::UNSPECIFIED,
        broadcast: false,
        requested_ip: None,
        client_identifier: None,
        server_identifier: Some(SERVER_IP),
        parameter_request_list: None,
        dns_servers: None,
        max_size: None,
        lease_duration: Some(lease),
        renew_duration: None,
        rebind_duration: None,
        additional_options: &[] as &[DhcpOption<'_>],
    };
    let mut payload = vec![0; repr.buffer_len()];
    repr.emit(&mut DhcpPacket::new_unchecked(&mut payload[..]))
        .unwrap();
    server_frame(address, &payload)
}

/// `payload` from the server's port 67 to port 68 at `to`, in a frame to
/// our MAC address.
fn server_frame(to: Ipv4Address, payload: &[u8]) -> Vec<u8> {
    udp(
        (SERVER_MAC, OUR_MAC),
        (SERVER_IP, DHCP_SERVER_PORT),
        (to, DHCP_CLIENT_PORT),
        payload,
    )
}

fn arp_target(arp: &udpkit::smoltcp::wire::ArpRepr) -> Option<Ipv4Address> {
    match arp {
        udpkit::smoltcp::wire::ArpRepr::EthernetIpv4 {
            operation: udpkit::smoltcp::wire::ArpOperation::Request,
            target_protocol_addr,
            ..
        } => Some(*target_protocol_addr),
        _ => None,
    }
}

/// The server's answer to the ARP request `arp` for its address.
fn server_arp_reply(arp: &udpkit::smoltcp::wire::ArpRepr) -> Vec<u8> {
    let udpkit::smoltcp::wire::ArpRepr::EthernetIpv4 {
        source_hardware_addr,
        source_protocol_addr,
        ..
    } = *arp
    else {
        unreachable!()
    };
    support::arp(
        udpkit::smoltcp::wire::ArpOperation::Reply,
        (SERVER_MAC, SERVER_IP),
        (source_hardware_addr, source_protocol_addr),
        source_hardware_addr,
    )
}

/// The UDP datagrams among `frames`.
fn udp_out(frames: &[Vec<u8>]) -> Vec<UdpOut> {
    frames
        .iter()
        .filter_map(|frame| match parse(frame) {
            Out::Udp(udp) => Some(udp),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn a_lease_gives_the_services_their_address() {
    let mut net = Net::new();
    // Without a lease, no IPv4 address: the configured one is not used.
    assert_eq!(
        net.stack.addresses().len(),
        2,
        "{:?}",
        net.stack.addresses()
    );
    assert!(net
        .stack
        .addresses()
        .iter()
        .all(|cidr| matches!(cidr, IpCidr::Ipv6(_))));
    assert_eq!(net.echo_at(OUR_IP, b"static?"), None);
    // Nor can an IPv4 client be answered: it is on no subnet of ours.
    assert_eq!(net.try_discover(), None);

    let after_ack = net.lease(LEASED, 3600, Some(ROUTER));
    let lease = net.lease_held().expect("a lease");
    assert_eq!(lease.address, Ipv4Cidr::new(LEASED, 24));
    assert_eq!(lease.router, Some(ROUTER));
    assert_eq!(lease.server, SERVER_IP);
    assert_eq!(lease.duration, Some(Duration::from_secs(3600)));
    assert_eq!(
        net.stack.addresses().first(),
        Some(&IpCidr::Ipv4(Ipv4Cidr::new(LEASED, 24)))
    );
    let stats = net.stack.dhcp_stats().unwrap();
    assert_eq!((stats.leases, stats.renewals, stats.lost), (1, 0, 0));
    // In the same poll, discovery announces the device on its new subnet,
    // from its new address.
    let announcements: Vec<UdpOut> = udp_out(&after_ack)
        .into_iter()
        .filter(|udp| udp.src_port == DISCOVERY)
        .collect();
    assert_eq!(announcements.len(), 1, "{after_ack:?}");
    assert_eq!(announcements[0].src(), (LEASED, DISCOVERY));
    assert_eq!(announcements[0].dst(), (SUBNET_BROADCAST, DISCOVERY));
    let text = String::from_utf8(announcements[0].payload.clone()).unwrap();
    assert!(text.contains("address 192.168.69.50/24\n"), "{text}");

    // Echo answers on the leased address, from it.
    let reply = net.echo_at(LEASED, b"leased").expect("echo answers");
    assert_eq!(reply.src(), (LEASED, ECHO));
    assert_eq!(reply.dst(), (CLIENT_IP, CLIENT_PORT));
    assert_eq!(reply.payload, b"leased");
    assert_eq!(net.echo_at(OUR_IP, b"static?"), None);
    // Discovery's reply lists it, IPv4 first.
    let text = net.discover();
    let addresses: Vec<&str> = text.lines().filter(|l| l.starts_with("address ")).collect();
    assert_eq!(
        addresses,
        [
            "address 192.168.69.50/24",
            "address fdaa::1/64",
            "address fe80::1/64"
        ],
        "{text}"
    );
    // Ping too: smoltcp answers on the leased address.
    let ping = support::ipv4(
        (CLIENT_MAC, OUR_MAC),
        (CLIENT_IP, LEASED),
        udpkit::smoltcp::wire::IpProtocol::Icmp,
        12,
        |buf| {
            udpkit::smoltcp::wire::Icmpv4Repr::EchoRequest {
                ident: 1,
                seq_no: 2,
                data: b"ping",
            }
            .emit(
                &mut udpkit::smoltcp::wire::Icmpv4Packet::new_unchecked(buf),
                &caps(),
            )
        },
    );
    let sent = net.exchange(ping);
    assert!(
        sent.iter().any(|frame| matches!(
            parse(frame),
            Out::IcmpEchoReply { ip, seq_no: 2, .. } if ip.src_addr == LEASED
        )),
        "{sent:?}"
    );
    assert_eq!(net.stack.stats(net.echo).unwrap().sent, 1);
}

#[test]
fn a_lease_is_renewed_with_the_server_at_half_time_and_the_interface_kept() {
    let mut net = Net::new();
    net.lease(LEASED, 600, None);
    // A client heard from: the neighbor layer learns it on the new subnet.
    assert!(net.echo_at(LEASED, b"before").is_some());
    // T1, half the lease: a REQUEST unicast to the server, from our
    // address.
    net.advance(Duration::from_secs(299));
    let renew = net.next_dhcp_message(Duration::from_secs(5));
    assert_eq!(renew.repr.message_type, DhcpMessageType::Request);
    assert_eq!((renew.src, renew.dst), (LEASED, SERVER_IP));
    assert_eq!(renew.repr.client_ip, LEASED);
    let ack = server_message(
        DhcpMessageType::Ack,
        renew.repr.transaction_id,
        LEASED,
        600,
        None,
    );
    let sent = net.exchange(ack);
    // Nothing to announce: the address did not change.
    assert!(udp_out(&sent).is_empty(), "{sent:?}");
    let stats = net.stack.dhcp_stats().unwrap();
    assert_eq!((stats.leases, stats.renewals, stats.lost), (1, 1, 0));
    assert_eq!(net.lease_held().unwrap().granted_at, net.board.now);
    // The client is still answered at once, without ARP: the neighbor
    // cache was not emptied by a renewal.
    let frames_before = net.stack.neighbor_stats().cache_flushes;
    assert!(net.echo_at(LEASED, b"after").is_some());
    assert_eq!(net.stack.neighbor_stats().cache_flushes, frames_before);
    // Past the old lease's end, the address stays.
    net.advance(Duration::from_secs(400));
    net.poll();
    assert!(net.lease_held().is_some());
    assert!(net.echo_at(LEASED, b"later").is_some());
}

#[test]
fn a_nak_takes_the_address_away_and_the_next_lease_moves_the_services() {
    let mut net = Net::new();
    net.lease(LEASED, 600, Some(ROUTER));
    net.advance(Duration::from_secs(300));
    let renew = net.next_dhcp_message(Duration::from_secs(5));
    let nak = server_message(
        DhcpMessageType::Nak,
        renew.repr.transaction_id,
        Ipv4Address::UNSPECIFIED,
        0,
        None,
    );
    net.exchange(nak);
    assert_eq!(net.lease_held(), None);
    assert_eq!(net.stack.dhcp_stats().unwrap().lost, 1);
    assert!(net
        .stack
        .addresses()
        .iter()
        .all(|cidr| matches!(cidr, IpCidr::Ipv6(_))));
    assert_eq!(net.echo_at(LEASED, b"gone?"), None);
    assert_eq!(net.try_discover(), None);

    // Discovery starts over; the server gives another address.
    let moved = Ipv4Address::new(192, 168, 69, 51);
    let after_ack = net.lease(moved, 600, Some(ROUTER));
    let announced: Vec<UdpOut> = udp_out(&after_ack)
        .into_iter()
        .filter(|udp| udp.src_port == DISCOVERY)
        .collect();
    assert_eq!(announced.len(), 1, "announced again");
    assert_eq!(announced[0].src(), (moved, DISCOVERY));
    let reply = net
        .echo_at(moved, b"moved")
        .expect("echo on the new address");
    assert_eq!(reply.src(), (moved, ECHO));
    assert_eq!(net.echo_at(LEASED, b"old"), None);
    let text = net.discover();
    assert!(text.contains("address 192.168.69.51/24\n"), "{text}");
    assert!(!text.contains("192.168.69.50"), "{text}");
    assert_eq!(net.stack.dhcp_stats().unwrap().leases, 2);
}

#[test]
fn a_lease_nobody_renews_expires_and_deconfigures() {
    let mut net = Net::new();
    net.lease(LEASED, 120, None);
    assert!(net.echo_at(LEASED, b"x").is_some());
    // The server never answers the renewals: at 120 s the lease is gone,
    // and the client looks for a server again.
    let deadline = net.board.now + Duration::from_secs(130);
    while net.lease_held().is_some() {
        assert!(net.board.now < deadline, "the lease never expired");
        net.advance(Duration::from_secs(1));
        net.poll();
    }
    assert_eq!(net.stack.dhcp_stats().unwrap().lost, 1);
    assert_eq!(net.echo_at(LEASED, b"x"), None);
    let discover = net.next_dhcp_message(Duration::from_secs(15));
    assert_eq!(discover.repr.message_type, DhcpMessageType::Discover);
}

#[test]
fn poll_wakes_the_port_for_the_dhcp_clients_retries() {
    let mut net = Net::new();
    let first = net.next_dhcp_message(Duration::ZERO);
    assert_eq!(first.repr.message_type, DhcpMessageType::Discover);
    // No server: the port may sleep until the next DISCOVER, not forever.
    let delay = net.stack.poll(&mut net.board).expect("a deadline");
    assert!(delay <= Duration::from_secs(10), "{delay}");
    net.advance(delay);
    let again = net.next_dhcp_message(Duration::ZERO);
    assert_eq!(again.repr.message_type, DhcpMessageType::Discover);
}

#[test]
fn messages_for_another_client_or_transaction_are_ignored() {
    let mut net = Net::new();
    let discover = net.next_dhcp_message(Duration::ZERO);
    let xid = discover.repr.transaction_id;
    // Another transaction.
    let sent = net.exchange(server_message(
        DhcpMessageType::Offer,
        xid ^ 1,
        LEASED,
        600,
        None,
    ));
    assert!(sent.iter().all(|f| dhcp_sent(f).is_none()), "{sent:?}");
    // An ACK nobody asked for.
    net.exchange(server_message(DhcpMessageType::Ack, xid, LEASED, 600, None));
    assert_eq!(net.lease_held(), None);
    // Another client's offer, broadcast.
    let mut other = server_message(DhcpMessageType::Offer, xid, LEASED, 600, None);
    // chaddr is at offset 28 of the DHCP message: 14 + 20 + 8 + 28.
    other[70] ^= 0xff;
    let sent = net.exchange(fix_udp_checksum(other));
    assert!(sent.iter().all(|f| dhcp_sent(f).is_none()), "{sent:?}");
    assert_eq!(net.lease_held(), None);
}

/// `frame` (an IPv4 UDP frame) with its UDP checksum made right again.
fn fix_udp_checksum(frame: Vec<u8>) -> Vec<u8> {
    let ip = udpkit::smoltcp::wire::Ipv4Packet::new_checked(&frame[14..]).unwrap();
    let udp = udpkit::smoltcp::wire::UdpPacket::new_checked(ip.payload()).unwrap();
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let (src_port, dst_port, payload) = (udp.src_port(), udp.dst_port(), udp.payload().to_vec());
    let eth = udpkit::smoltcp::wire::EthernetFrame::new_checked(&frame[..]).unwrap();
    support::udp(
        (eth.src_addr(), eth.dst_addr()),
        (src, src_port),
        (dst, dst_port),
        &payload,
    )
}

#[test]
fn thousands_of_mangled_server_messages_never_panic() {
    let mut net = Net::new();
    let discover = net.next_dhcp_message(Duration::ZERO);
    let xid = discover.repr.transaction_id;
    let mut seed = 0x9e37_79b9_u32;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let kinds = [
        DhcpMessageType::Offer,
        DhcpMessageType::Ack,
        DhcpMessageType::Nak,
    ];
    for round in 0..3000u32 {
        let kind = kinds[round as usize % kinds.len()];
        let frame = server_message(kind, xid, LEASED, 600, Some(ROUTER));
        // The DHCP message alone, mangled: bytes changed (the fixed part
        // and the options), cut short or lengthened; its checksums right,
        // so that it reaches the client.
        let mut payload = frame[14 + 20 + 8..].to_vec();
        for _ in 0..1 + random() % 6 {
            let at = random() as usize % payload.len();
            payload[at] = random() as u8;
        }
        match random() % 4 {
            0 => payload.truncate(random() as usize % payload.len()),
            1 => payload.extend((0..random() % 64).map(|_| random() as u8)),
            _ => {}
        }
        let to = match random() % 3 {
            0 => LEASED,
            1 => Ipv4Address::BROADCAST,
            _ => Ipv4Address::from_octets((random()).to_be_bytes()),
        };
        inject(&mut net.board, &server_frame(to, &payload));
        net.stack.poll(&mut net.board);
        take_sent(&mut net.board);
        if round % 100 == 0 {
            net.advance(Duration::from_secs(7));
        }
    }
    // Still a DHCP client, and still serving.
    net.advance(Duration::from_secs(60));
    let _ = net.next_dhcp_message(Duration::from_secs(30));
    assert!(net.stack.dhcp_stats().is_some());
    let address = net.stack.dhcp_lease().map(|lease| lease.address.address());
    if let Some(address) = address {
        assert!(IpAddress::Ipv4(address).is_unicast());
    }
}

/// `Stack::set_dhcp_max_lease` (`serve --dhcp-max-lease`): a lease longer
/// than the cap is held for the cap, and renewed at half of it.
#[test]
fn a_capped_lease_is_held_for_the_cap() {
    let mut net = Net::new();
    net.stack.set_dhcp_max_lease(Some(Duration::from_secs(60)));
    net.lease(LEASED, 3600, Some(ROUTER));
    let lease = net.lease_held().expect("a lease");
    assert_eq!(lease.duration, Some(Duration::from_secs(60)));
    // Renewed at half the cap, not half the server's hour.
    let request = net.next_dhcp_message(Duration::from_secs(31));
    assert_eq!(request.repr.message_type, DhcpMessageType::Request);
}
