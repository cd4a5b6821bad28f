//! The discovery service as `serve` builds it: the directory of the
//! services running, the device's name and addresses.
//!
//! The protocol is the core's (`udpkit::wire::discovery`, the device's side
//! `udpkit::services::discovery`); the client is `udpkit discover`
//! ([`crate::client::discover`]), which shares nothing with this file but
//! the core's wire format.

use std::net::IpAddr;

use anyhow::Result;
use clap::Args;
use udpkit::catalog::ServiceInfo;
use udpkit::service::Service;
use udpkit::services::discovery::{self, Discovery, ServiceEntry};
use udpkit::smoltcp::wire::{EthernetAddress, IpCidr};
use udpkit::wire;
use udpkit::wire::discovery::{MAX_ADDRESSES, NAME_CAP};

use crate::linux::netif::up_addresses;

/// `udpkit serve`'s discovery options.
#[derive(Args)]
pub struct ServeDiscoveryArgs {
    /// Discovery: the device name the service answers with (default: the
    /// host name).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,

    /// Discovery: how many times to announce the device to its subnet's
    /// broadcast address at start (1 s, then 2 s apart; 0: never). The
    /// kernel backend never announces.
    #[arg(long, default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u8).range(0..=discovery::MAX_ANNOUNCEMENTS as i64))]
    announce: u8,
}

impl ServeDiscoveryArgs {
    pub fn options(self) -> DiscoveryOptions {
        DiscoveryOptions {
            name: self.name.unwrap_or_else(default_name),
            announce: self.announce,
        }
    }
}

/// What the discovery service says about the device, beyond its stack.
#[derive(Debug, Clone)]
pub struct DiscoveryOptions {
    pub name: String,
    /// Announcements at start.
    pub announce: u8,
}

/// The discovery service for a stack with `addresses` running `services`
/// (itself among them, on `port`); announcing itself `announce` times at
/// start.
pub fn service(
    options: &DiscoveryOptions,
    mac: Option<EthernetAddress>,
    addresses: &[IpCidr],
    services: &[(ServiceInfo, u16)],
    (announce, port): (u8, u16),
) -> Result<Box<dyn Service>> {
    let name = options.name.as_str();
    if addresses.len() > MAX_ADDRESSES {
        log::warn!(
            "discovery: listing the first {MAX_ADDRESSES} of {} addresses",
            addresses.len()
        );
    }
    let entries: Vec<ServiceEntry<'static>> = services
        .iter()
        .map(|(kind, port)| ServiceEntry {
            name: kind.name,
            port: *port,
        })
        .collect();
    let addresses = &addresses[..addresses.len().min(MAX_ADDRESSES)];
    let mut service = Discovery::new(name, mac, addresses, &entries)
        .map_err(|e| anyhow::anyhow!("cannot start discovery: {e}"))?;
    service.announce(announce, port);
    Ok(Box::new(service))
}

/// The device name when `--name` is not given: the host name, or `udpkit`.
pub fn default_name() -> String {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let mut name = hostname.trim().to_string();
    while name.len() > NAME_CAP {
        name.pop();
    }
    if wire::discovery::valid_name(&name) {
        name
    } else {
        "udpkit".to_string()
    }
}

/// `--name`, checked as the protocol wants it.
pub fn parse_name(text: &str) -> Result<String, String> {
    if wire::discovery::valid_name(text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' cannot be a device name: 1 to {NAME_CAP} bytes, no control characters, \
             no space at either end"
        ))
    }
}

/// The addresses a kernel socket bound to `bind` answers on, with their
/// prefixes, for the kernel backend's directory: `bind` itself if it is one
/// of ours, or, bound to every address, those of the interfaces that are up
/// (loopback and IPv6 link-local left out; IPv4 first).
pub fn local_addresses(bind: IpAddr) -> Vec<IpCidr> {
    let found = up_addresses();
    let mut cidrs: Vec<(IpAddr, u8)> = if bind.is_unspecified() {
        found
            .into_iter()
            .filter(|(ip, _)| !ip.is_loopback() && !is_v6_link_local(ip))
            .collect()
    } else {
        found.into_iter().filter(|(ip, _)| *ip == bind).collect()
    };
    cidrs.sort_by_key(|(ip, _)| ip.is_ipv6());
    cidrs
        .into_iter()
        .filter_map(|(ip, prefix)| format!("{ip}/{prefix}").parse().ok())
        .take(MAX_ADDRESSES)
        .collect()
}

/// An IPv6 link-local unicast address (fe80::/10), which a directory
/// leaves out: it means nothing off the link.
fn is_v6_link_local(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_name_is_valid() {
        assert!(wire::discovery::valid_name(&default_name()));
        assert!(parse_name("lab board 3").is_ok());
        assert!(parse_name(" x").is_err());
        assert!(parse_name(&"x".repeat(NAME_CAP + 1)).is_err());
    }

    #[test]
    fn local_addresses_are_bounded_and_parse() {
        let all = local_addresses("0.0.0.0".parse().unwrap());
        assert!(all.len() <= MAX_ADDRESSES);
        let loopback = local_addresses("127.0.0.1".parse().unwrap());
        assert_eq!(
            loopback.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["127.0.0.1/8"]
        );
    }
}
