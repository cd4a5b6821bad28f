//! Loop and reflection protection, as BSD inetd and xinetd do it.
//!
//! Two echo-like services that answer each other loop forever, and a forged
//! source address turns a reply into an attack on a third party. So the stack
//! never answers a datagram:
//! - from port 0 (no process can receive there),
//! - from a well-known UDP service port (7 echo, 9 discard, 13 daytime,
//!   19 chargen, 37 time, 123 NTP) or one of our own service ports: the
//!   sender is a service, not a client, and the answer would be answered;
//! - from a broadcast, multicast or unspecified address, or from one of our
//!   own addresses: no single client is there, or the answer would come back
//!   to us.

use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

/// Source ports that belong to services which answer whatever they receive
/// (spelled out again in [`check`]'s `matches!`, which is what runs).
pub const SERVICE_PORTS: [u16; 6] = [7, 9, 13, 19, 37, 123];

/// Why a datagram gets no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Source port 0.
    ZeroPort,
    /// Source port of a well-known or of our own service.
    ServicePort,
    /// Source address broadcast, multicast, unspecified or our own.
    BadSourceAddress,
}

impl Refusal {
    /// Every reason, in the order of [`Refusal::index`].
    pub const ALL: [Refusal; 3] = [
        Refusal::ZeroPort,
        Refusal::ServicePort,
        Refusal::BadSourceAddress,
    ];

    /// A dense index, for a table of counters.
    pub const fn index(self) -> usize {
        match self {
            Refusal::ZeroPort => 0,
            Refusal::ServicePort => 1,
            Refusal::BadSourceAddress => 2,
        }
    }

    /// What the refusal means, for logs and counter tables.
    pub const fn name(self) -> &'static str {
        match self {
            Refusal::ZeroPort => "source port 0",
            Refusal::ServicePort => "source is a service port",
            Refusal::BadSourceAddress => "source address not a unicast peer",
        }
    }
}

/// Decides whether a datagram from `from` may be answered.
///
/// `own_ports` are the ports of the services this stack runs; `own_cidrs` its
/// addresses, whose subnet broadcast addresses are refused as sources too.
pub fn check(from: IpEndpoint, own_ports: &[u16], own_cidrs: &[IpCidr]) -> Result<(), Refusal> {
    if from.port == 0 {
        return Err(Refusal::ZeroPort);
    }
    if matches!(from.port, 7 | 9 | 13 | 19 | 37 | 123) || own_ports.contains(&from.port) {
        return Err(Refusal::ServicePort);
    }
    if !is_unicast_peer(from.addr, own_cidrs) {
        return Err(Refusal::BadSourceAddress);
    }
    Ok(())
}

fn is_unicast_peer(addr: IpAddress, own_cidrs: &[IpCidr]) -> bool {
    match addr {
        IpAddress::Ipv4(ip) => {
            if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
                return false;
            }
            own_cidrs.iter().all(|cidr| match cidr {
                IpCidr::Ipv4(cidr) => cidr.address() != ip && cidr.broadcast() != Some(ip),
                #[cfg(feature = "ipv6")]
                IpCidr::Ipv6(_) => true,
            })
        }
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(ip) => {
            if ip.is_unspecified() || ip.is_multicast() {
                return false;
            }
            own_cidrs.iter().all(|cidr| cidr.address() != addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

    const OWN_PORTS: [u16; 3] = [7, 12000, 12001];

    fn own() -> [IpCidr; 1] {
        [IpCidr::Ipv4(Ipv4Cidr::new(
            Ipv4Address::new(192, 168, 69, 1),
            24,
        ))]
    }

    fn from(a: [u8; 4], port: u16) -> IpEndpoint {
        IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from_octets(a)), port)
    }

    #[test]
    fn ordinary_clients_are_answered() {
        assert_eq!(
            check(from([192, 168, 69, 100], 40000), &OWN_PORTS, &own()),
            Ok(())
        );
        assert_eq!(check(from([10, 1, 2, 3], 1024), &OWN_PORTS, &own()), Ok(()));
        assert_eq!(
            check(from([192, 168, 69, 100], 1), &OWN_PORTS, &own()),
            Ok(())
        );
    }

    #[test]
    fn source_port_zero_is_refused() {
        assert_eq!(
            check(from([192, 168, 69, 100], 0), &OWN_PORTS, &own()),
            Err(Refusal::ZeroPort)
        );
    }

    #[test]
    fn well_known_and_own_service_ports_are_refused() {
        for port in [7, 9, 13, 19, 37, 123, 12000, 12001] {
            assert_eq!(
                check(from([192, 168, 69, 100], port), &OWN_PORTS, &own()),
                Err(Refusal::ServicePort),
                "port {port}"
            );
        }
        assert_eq!(
            check(from([192, 168, 69, 100], 12002), &OWN_PORTS, &own()),
            Ok(())
        );
    }

    #[test]
    fn non_unicast_and_own_source_addresses_are_refused() {
        for addr in [
            [255, 255, 255, 255],
            [192, 168, 69, 255],
            [224, 0, 0, 1],
            [239, 1, 2, 3],
            [0, 0, 0, 0],
            [192, 168, 69, 1],
        ] {
            assert_eq!(
                check(from(addr, 40000), &OWN_PORTS, &own()),
                Err(Refusal::BadSourceAddress),
                "{addr:?}"
            );
        }
    }

    #[test]
    fn ipv6_multicast_unspecified_and_own_sources_are_refused() {
        use smoltcp::wire::{Ipv6Address, Ipv6Cidr};
        let ours = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
        let own = [
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24)),
            IpCidr::Ipv6(Ipv6Cidr::new(ours, 64)),
        ];
        let from6 = |a: Ipv6Address| IpEndpoint::new(IpAddress::Ipv6(a), 40000);
        let peer = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100);
        assert_eq!(check(from6(peer), &OWN_PORTS, &own), Ok(()));
        for bad in [
            Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            Ipv6Address::UNSPECIFIED,
            ours,
        ] {
            assert_eq!(
                check(from6(bad), &OWN_PORTS, &own),
                Err(Refusal::BadSourceAddress),
                "{bad}"
            );
        }
        assert_eq!(
            check(
                IpEndpoint::new(IpAddress::Ipv6(peer), 123),
                &OWN_PORTS,
                &own
            ),
            Err(Refusal::ServicePort)
        );
    }

    #[test]
    fn each_refusal_has_a_counter_of_its_own_and_the_name_logs_print() {
        // Ports print these names in their logs and counter tables.
        assert_eq!(
            Refusal::ALL.map(Refusal::name),
            [
                "source port 0",
                "source is a service port",
                "source address not a unicast peer"
            ]
        );
        for (i, refusal) in Refusal::ALL.into_iter().enumerate() {
            assert_eq!(refusal.index(), i, "{refusal:?}");
        }
    }
}
