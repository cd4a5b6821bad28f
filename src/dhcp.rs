//! DHCPv4: the IPv4 address, subnet and router from the link's DHCP server.
//!
//! A port that has no fixed address calls
//! [`Stack::enable_dhcp`](crate::Stack::enable_dhcp) once, with a
//! [`DhcpStorage`]: the stack drops the IPv4 address and gateway of its
//! [`Config`](crate::Config) and runs smoltcp's DHCPv4 client
//! (`smoltcp::socket::dhcpv4`, RFC 2131: DISCOVER, OFFER, REQUEST, ACK,
//! and renewing at T1, rebinding at T2) on a socket of its own. IPv6 keeps
//! the configured addresses.
//!
//! [`Stack::poll`](crate::Stack::poll) looks at the client once per call
//! (one flag, unless something changed: nothing on the path of each
//! datagram), and when a lease comes, changes or goes:
//!
//! - the interface gets the leased address and subnet, and the router as
//!   its default route (or loses them when the lease ends: expired, or
//!   refused by the server with a NAK);
//! - everything that keeps a copy of our addresses follows: the neighbor
//!   layer's (which also learns that smoltcp's neighbor cache was emptied),
//!   the loop guard's last screened sender, the stack's gateway;
//! - every service hears of it ([`Service::addresses_changed`](crate::Service::addresses_changed)): discovery
//!   lists the new address and announces itself again to the new subnet,
//!   the SNTP client asks its server again without waiting out a backoff
//!   grown while there was no address to send from;
//! - the lease is logged (address, server, router, lease time) at `info`,
//!   and so are its renewals and its loss, and kept for the port
//!   ([`Stack::dhcp_lease`](crate::Stack::dhcp_lease),
//!   [`Stack::dhcp_stats`](crate::Stack::dhcp_stats)).
//!
//! A renewal that changes nothing but the lease's times leaves the
//! interface alone (changing its addresses would empty smoltcp's neighbor
//! cache).
//!
//! # Packets
//!
//! smoltcp hands every UDP packet from port 67 to port 68 to the client
//! before anything else looks at its destination, so the lease's offers
//! reach it while we have no address; the client parses them (checked
//! lengths, no panic) and ignores those that are not for our MAC address
//! and transaction. No service ever sees them, so the loop guard never
//! does either. The neighbor layer learns nothing from a server while we
//! have no address on its subnet. The lease's duration, which smoltcp's
//! client keeps to itself, is read back from the ACK it copies into
//! [`DhcpStorage`].

use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::dhcpv4;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    DhcpMessageType, DhcpPacket, DhcpRepr, Ipv4Address, Ipv4Cidr, DHCP_MAX_DNS_SERVER_COUNT,
};

use crate::stack::MAX_PAYLOAD;

/// The lease smoltcp's client assumes when the server names none.
const DEFAULT_LEASE: Duration = Duration::from_secs(120);

/// What the DHCP client keeps beside the stack: room for the last message
/// from the server, the largest UDP payload of an unfragmented packet
/// ([`MAX_PAYLOAD`] bytes). `const`: a port may keep it in a `static`.
pub struct DhcpStorage {
    packet: [u8; MAX_PAYLOAD],
}

impl DhcpStorage {
    /// Empty storage.
    pub const fn new() -> DhcpStorage {
        DhcpStorage {
            packet: [0; MAX_PAYLOAD],
        }
    }
}

impl Default for DhcpStorage {
    fn default() -> Self {
        Self::new()
    }
}

/// The lease we hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address and subnet.
    pub address: Ipv4Cidr,
    /// The default gateway, if the server named one on our subnet.
    pub router: Option<Ipv4Address>,
    /// The DHCP server that granted it.
    pub server: Ipv4Address,
    /// The DNS servers it named (the services use none).
    pub dns_servers: heapless::Vec<Ipv4Address, DHCP_MAX_DNS_SERVER_COUNT>,
    /// How long it lasts from `granted_at`, as smoltcp's client counts it:
    /// the server's time (or 120 s when it names none), capped by
    /// [`Stack::set_dhcp_max_lease`](crate::Stack::set_dhcp_max_lease).
    /// `None` when the server's message could not be read back.
    pub duration: Option<Duration>,
    /// When it was granted or last renewed.
    pub granted_at: Instant,
}

impl core::fmt::Display for Lease {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} from {}", self.address, self.server)?;
        match self.router {
            Some(router) => write!(f, ", router {router}")?,
            None => write!(f, ", no router")?,
        }
        match self.duration {
            Some(duration) => write!(f, ", lease {} s", duration.secs()),
            None => write!(f, ", lease time unknown"),
        }
    }
}

/// Counters of the DHCP client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DhcpStats {
    /// Leases that gave us an address (a first one, or another address or
    /// router than before).
    pub leases: u64,
    /// Leases renewed with the same address and router.
    pub renewals: u64,
    /// Leases lost: expired without a renewal, or refused by the server.
    pub lost: u64,
    /// Leases not used: the address is its subnet's network or broadcast
    /// address.
    pub refused: u64,
}

/// The IPv4 settings the interface must take after a change of lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4Setting {
    pub address: Option<Ipv4Cidr>,
    pub router: Option<Ipv4Address>,
}

/// The stack's DHCP client: smoltcp's socket, and what it has told us.
pub(crate) struct DhcpClient {
    pub handle: SocketHandle,
    pub max_lease: Option<Duration>,
    pub lease: Option<Lease>,
    pub stats: DhcpStats,
}

impl DhcpClient {
    /// Takes the socket's news, if any: the IPv4 settings the interface
    /// must take now, when they change. Cheap when nothing happened (one
    /// flag in smoltcp's socket).
    pub fn check(&mut self, sockets: &mut SocketSet<'_>, now: Instant) -> Option<Ipv4Setting> {
        let socket = sockets.get_mut::<dhcpv4::Socket>(self.handle);
        match socket.poll()? {
            dhcpv4::Event::Configured(config) => {
                let lease = self.lease_of(&config, now);
                self.configured(lease)
            }
            dhcpv4::Event::Deconfigured => self.deconfigured(),
        }
    }

    /// The lease `config` describes, its duration read back from the
    /// server's message when that message is the ACK for it.
    fn lease_of(&self, config: &dhcpv4::Config<'_>, now: Instant) -> Lease {
        let duration = config
            .packet
            .as_ref()
            .and_then(|packet| lease_duration(packet, config.address.address(), self.max_lease));
        // A router off our subnet cannot be reached: none.
        let router = config.router.filter(|router| {
            let reachable = config.address.contains_addr(router)
                && *router != config.address.address()
                && Some(*router) != config.address.broadcast();
            if !reachable {
                log_warn!(
                    "dhcp: the router {router} the server names is not a host of our subnet {}: no default route",
                    config.address
                );
            }
            reachable
        });
        Lease {
            address: config.address,
            router,
            server: config.server.address,
            dns_servers: config.dns_servers.clone(),
            duration,
            granted_at: now,
        }
    }

    fn configured(&mut self, lease: Lease) -> Option<Ipv4Setting> {
        let address = lease.address;
        if address.network().address() == address.address() && address.prefix_len() < 31
            || Some(address.address()) == address.broadcast()
        {
            self.stats.refused += 1;
            log_warn!(
                "dhcp: the server offers {address}, not a host address of its subnet: not used"
            );
            let lost = self.lease.take().is_some();
            return lost.then_some(Ipv4Setting {
                address: None,
                router: None,
            });
        }
        let same = self
            .lease
            .as_ref()
            .is_some_and(|held| held.address == lease.address && held.router == lease.router);
        if same {
            self.stats.renewals += 1;
            log_info!("dhcp: renewed {lease}");
            self.lease = Some(lease);
            return None;
        }
        self.stats.leases += 1;
        match &self.lease {
            Some(held) => log_info!("dhcp: address changed from {}: {lease}", held.address),
            None => log_info!("dhcp: leased {lease}"),
        }
        let setting = Ipv4Setting {
            address: Some(lease.address),
            router: lease.router,
        };
        self.lease = Some(lease);
        Some(setting)
    }

    fn deconfigured(&mut self) -> Option<Ipv4Setting> {
        let held = self.lease.take()?;
        self.stats.lost += 1;
        log_warn!(
            "dhcp: lost the lease of {} (expired, or refused by the server): no IPv4 address until a new one",
            held.address
        );
        Some(Ipv4Setting {
            address: None,
            router: None,
        })
    }
}

/// The lease duration in `packet` if it is the ACK granting `address`, as
/// smoltcp's client counts it.
fn lease_duration(
    packet: &DhcpPacket<&[u8]>,
    address: Ipv4Address,
    max: Option<Duration>,
) -> Option<Duration> {
    // Checked: `parse` checks the length before reading any field.
    let repr = DhcpRepr::parse(packet).ok()?;
    if repr.message_type != DhcpMessageType::Ack || repr.your_ip != address {
        return None;
    }
    let duration = repr
        .lease_duration
        .map(|secs| Duration::from_secs(u64::from(secs)))
        .unwrap_or(DEFAULT_LEASE);
    Some(match max {
        Some(max) => duration.min(max),
        None => duration,
    })
}

/// A new DHCPv4 socket whose last received message is kept in `storage`.
pub(crate) fn socket(storage: &mut DhcpStorage) -> dhcpv4::Socket<'_> {
    let mut socket = dhcpv4::Socket::new();
    socket.set_receive_packet_buffer(&mut storage.packet[..]);
    socket
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_log::logged;
    use smoltcp::wire::{DhcpOption, EthernetAddress};
    use std::string::ToString;
    use std::vec;

    const CLIENT_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const LEASED: Ipv4Address = Ipv4Address::new(192, 168, 69, 50);

    fn ack(message_type: DhcpMessageType, lease: Option<u32>) -> std::vec::Vec<u8> {
        let repr = DhcpRepr {
            message_type,
            transaction_id: 7,
            secs: 0,
            client_hardware_address: CLIENT_MAC,
            client_ip: Ipv4Address::UNSPECIFIED,
            your_ip: LEASED,
            server_ip: Ipv4Address::UNSPECIFIED,
            router: None,
            subnet_mask: Some(Ipv4Address::new(255, 255, 255, 0)),
            relay_agent_ip: Ipv4Address::UNSPECIFIED,
            broadcast: false,
            requested_ip: None,
            client_identifier: None,
            server_identifier: Some(Ipv4Address::new(192, 168, 69, 100)),
            parameter_request_list: None,
            dns_servers: None,
            max_size: None,
            lease_duration: lease,
            renew_duration: None,
            rebind_duration: None,
            additional_options: &[] as &[DhcpOption<'_>],
        };
        // The storage's size: the bytes after the message are zeros, as
        // in a fresh `DhcpStorage`.
        let mut buffer = vec![0; MAX_PAYLOAD];
        repr.emit(&mut DhcpPacket::new_unchecked(&mut buffer[..]))
            .unwrap();
        buffer
    }

    #[test]
    fn the_lease_time_is_read_from_the_ack_for_our_address_and_capped() {
        let buffer = ack(DhcpMessageType::Ack, Some(3600));
        let packet = DhcpPacket::new_unchecked(&buffer[..]);
        assert_eq!(
            lease_duration(&packet, LEASED, None),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            lease_duration(&packet, LEASED, Some(Duration::from_secs(30))),
            Some(Duration::from_secs(30))
        );
        // Not the ACK for this address: unknown.
        let other = Ipv4Address::new(192, 168, 69, 51);
        assert_eq!(lease_duration(&packet, other, None), None);
        let offer = ack(DhcpMessageType::Offer, Some(3600));
        assert_eq!(
            lease_duration(&DhcpPacket::new_unchecked(&offer[..]), LEASED, None),
            None
        );
        // No time named: smoltcp's default.
        let bare = ack(DhcpMessageType::Ack, None);
        assert_eq!(
            lease_duration(&DhcpPacket::new_unchecked(&bare[..]), LEASED, None),
            Some(DEFAULT_LEASE)
        );
    }

    #[test]
    fn garbage_in_the_storage_gives_no_lease_time_and_no_panic() {
        let mut seed = 0x1234_5678_u32;
        let mut buffer = ack(DhcpMessageType::Ack, Some(60));
        for round in 0..2000 {
            for _ in 0..1 + round % 8 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let at = seed as usize % 300;
                buffer[at] = (seed >> 24) as u8;
            }
            let _ = lease_duration(&DhcpPacket::new_unchecked(&buffer[..]), LEASED, None);
        }
        for len in 0..300 {
            let _ = lease_duration(&DhcpPacket::new_unchecked(&buffer[..len]), LEASED, None);
        }
    }

    fn client() -> DhcpClient {
        DhcpClient {
            handle: SocketHandle::default(),
            max_lease: None,
            lease: None,
            stats: DhcpStats::default(),
        }
    }

    fn config(address: Ipv4Cidr, router: Option<Ipv4Address>) -> dhcpv4::Config<'static> {
        dhcpv4::Config {
            server: dhcpv4::ServerInfo {
                address: Ipv4Address::new(192, 168, 69, 100),
                identifier: Ipv4Address::new(192, 168, 69, 100),
            },
            address,
            router,
            dns_servers: heapless::Vec::new(),
            packet: None,
        }
    }

    fn lease(address: Ipv4Cidr, router: Option<Ipv4Address>) -> Lease {
        client().lease_of(&config(address, router), Instant::from_secs(5))
    }

    #[test]
    fn only_a_router_that_is_a_host_of_our_subnet_other_than_us_is_kept() {
        let ours = Ipv4Cidr::new(LEASED, 24);
        let router = |r: [u8; 4]| {
            let (lease, logged) = logged(|| lease(ours, Some(Ipv4Address::from(r))));
            let warned = logged.iter().any(|(level, text)| {
                *level == log::Level::Warn && text.contains("not a host of our subnet")
            });
            (lease.router, warned)
        };
        let usable = Ipv4Address::new(192, 168, 69, 254);
        assert_eq!(router(usable.octets()), (Some(usable), false));
        // Off the subnet, our own address, the subnet's broadcast: none,
        // and the log says why there is no default route.
        assert_eq!(router([192, 168, 70, 254]), (None, true));
        assert_eq!(router([192, 168, 69, 50]), (None, true));
        assert_eq!(router([192, 168, 69, 255]), (None, true));
        let (none, logged) = logged(|| lease(ours, None));
        assert_eq!((none.router, logged.len()), (None, 0));
        let held = lease(ours, None);
        assert_eq!(held.granted_at, Instant::from_secs(5));
        assert_eq!(held.server, Ipv4Address::new(192, 168, 69, 100));
        // No server message to read the time from.
        assert_eq!(held.duration, None);
    }

    #[test]
    fn a_lease_of_a_network_or_broadcast_address_is_refused_but_a_31_bit_prefix_is_used() {
        let refused = |address: Ipv4Cidr| {
            let mut client = client();
            let setting = client.configured(lease(address, None));
            (setting, client.stats.refused, client.lease.is_some())
        };
        let network = Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 0), 24);
        let broadcast = Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 255), 24);
        assert_eq!(refused(network), (None, 1, false));
        assert_eq!(refused(broadcast), (None, 1, false));
        // RFC 3021: both addresses of a /31 are hosts; a /32 has no
        // broadcast address either.
        for host in [
            Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 0), 31),
            Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 31),
            Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 0), 32),
            Ipv4Cidr::new(LEASED, 24),
        ] {
            let expected = Some(Ipv4Setting {
                address: Some(host),
                router: None,
            });
            assert_eq!(refused(host), (expected, 0, true), "{host}");
        }
        // A refused lease takes the one held away.
        let mut client = client();
        client.configured(lease(Ipv4Cidr::new(LEASED, 24), None));
        assert_eq!(
            client.configured(lease(broadcast, None)),
            Some(Ipv4Setting {
                address: None,
                router: None,
            })
        );
        assert_eq!((client.stats.leases, client.stats.refused), (1, 1));
        assert!(client.lease.is_none());
    }

    #[test]
    fn the_same_address_and_router_is_a_renewal_and_a_new_router_a_new_lease() {
        let ours = Ipv4Cidr::new(LEASED, 24);
        let router = Some(Ipv4Address::new(192, 168, 69, 254));
        let mut client = client();
        assert!(client.configured(lease(ours, router)).is_some());
        assert_eq!(client.configured(lease(ours, router)), None);
        assert_eq!((client.stats.leases, client.stats.renewals), (1, 1));
        // Another router: the interface must change its route.
        let other = Some(Ipv4Address::new(192, 168, 69, 253));
        assert_eq!(
            client.configured(lease(ours, other)),
            Some(Ipv4Setting {
                address: Some(ours),
                router: other,
            })
        );
        // Another address, same router.
        let moved = Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 51), 24);
        assert!(client.configured(lease(moved, other)).is_some());
        assert_eq!((client.stats.leases, client.stats.renewals), (3, 1));
        assert_eq!(client.lease.as_ref().map(|l| l.address), Some(moved));
    }

    #[test]
    fn a_lease_reads_as_its_address_server_router_and_time() {
        let mut held = lease(
            Ipv4Cidr::new(LEASED, 24),
            Some(Ipv4Address::new(192, 168, 69, 254)),
        );
        held.duration = Some(Duration::from_secs(600));
        assert_eq!(
            held.to_string(),
            "192.168.69.50/24 from 192.168.69.100, router 192.168.69.254, lease 600 s"
        );
        held.router = None;
        held.duration = None;
        assert_eq!(
            held.to_string(),
            "192.168.69.50/24 from 192.168.69.100, no router, lease time unknown"
        );
    }
}
