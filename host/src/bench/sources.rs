//! `--sources`: the local addresses the load comes from, so that a server
//! is measured with many hosts talking to it at once.
//!
//! A list is comma-separated items, each an address or an inclusive range
//! `FIRST-LAST` of one family: `192.168.69.10-192.168.69.109`, the IPv4
//! shorthand `192.168.69.10-109` (the last number replaces the first
//! address's last byte), `fdaa::10-fdaa::6d`. Nothing here touches the
//! network: the generator binds the addresses, which must already be on an
//! interface.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most source addresses one run may have (one socket each).
pub const MAX_SOURCES: usize = 4096;

/// The parsed `--sources`: distinct addresses of one family, in the order
/// given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceList(pub Vec<IpAddr>);

/// clap's value parser for `--sources`.
pub fn parse_sources(text: &str) -> Result<SourceList, String> {
    let mut addresses: Vec<IpAddr> = Vec::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!(
                "'{text}' has an empty item: give addresses or ranges FIRST-LAST, separated by commas"
            ));
        }
        let room = MAX_SOURCES - addresses.len();
        for address in parse_item(item, room)? {
            if let Some(first) = addresses.first() {
                if first.is_ipv4() != address.is_ipv4() {
                    return Err(format!(
                        "{address} and {first} are of different families: all sources must be \
                         IPv4 or all IPv6 (like the target)"
                    ));
                }
            }
            addresses.push(address);
        }
    }
    let mut sorted = addresses.clone();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(format!(
            "{} is listed twice: each source address is one host",
            pair[0]
        ));
    }
    Ok(SourceList(addresses))
}

/// One item: an address or a range, with at most `room` addresses.
fn parse_item(item: &str, room: usize) -> Result<Vec<IpAddr>, String> {
    let too_many = || {
        format!(
            "'{item}' makes more than {MAX_SOURCES} source addresses (one socket each): \
             use fewer"
        )
    };
    let Some((first, last)) = item.split_once('-') else {
        let address = parse_address(item)?;
        return if room == 0 {
            Err(too_many())
        } else {
            Ok(vec![address])
        };
    };
    let (first_text, last_text) = (first.trim(), last.trim());
    let first = parse_address(first_text)?;
    let last = match (first, last_text.parse::<u8>()) {
        // 192.168.69.10-109: the last byte only.
        (IpAddr::V4(f), Ok(byte)) => {
            let [a, b, c, _] = f.octets();
            IpAddr::V4(Ipv4Addr::new(a, b, c, byte))
        }
        _ => parse_address(last_text).map_err(|e| {
            if first.is_ipv4()
                && !last_text.is_empty()
                && last_text.chars().all(|c| c.is_ascii_digit())
            {
                format!("in '{item}': {last_text} is not a byte (0-255) to end the range with")
            } else {
                e
            }
        })?,
    };
    let (low, high, v4) = match (first, last) {
        (IpAddr::V4(f), IpAddr::V4(l)) => {
            (u128::from(u32::from(f)), u128::from(u32::from(l)), true)
        }
        (IpAddr::V6(f), IpAddr::V6(l)) => (u128::from(f), u128::from(l), false),
        _ => {
            return Err(format!(
                "'{item}' mixes an IPv4 and an IPv6 address: a range is of one family"
            ))
        }
    };
    if high < low {
        return Err(format!(
            "'{item}' runs backwards: {last} comes before {first} (a range is FIRST-LAST)"
        ));
    }
    // Compared before counting: a range can span far more than a usize.
    if high - low >= room as u128 {
        return Err(too_many());
    }
    (low..=high)
        .map(|n| {
            let address = if v4 {
                IpAddr::V4(Ipv4Addr::from(n as u32))
            } else {
                IpAddr::V6(Ipv6Addr::from(n))
            };
            usable(address, item)
        })
        .collect()
}

fn parse_address(text: &str) -> Result<IpAddr, String> {
    let address: IpAddr = text.parse().map_err(|_| {
        format!("'{text}' is not an IP address (give addresses or ranges FIRST-LAST, e.g. 192.168.69.10-192.168.69.109)")
    })?;
    usable(address, text)
}

/// Refuses what a socket cannot send from as one host.
fn usable(address: IpAddr, item: &str) -> Result<IpAddr, String> {
    let problem = match address {
        a if a.is_unspecified() => Some("the unspecified address"),
        a if a.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        _ => None,
    };
    match problem {
        Some(what) => Err(format!(
            "'{item}' includes {address}, {what}: it cannot be a source"
        )),
        None => Ok(address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn parsed(text: &str) -> Vec<IpAddr> {
        parse_sources(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .0
    }

    fn refused(text: &str) -> String {
        parse_sources(text).expect_err(text)
    }

    #[test]
    fn single_addresses_and_lists() {
        assert_eq!(parsed("192.168.69.10"), [v4("192.168.69.10")]);
        assert_eq!(
            parsed("192.168.69.10, 192.168.69.12,192.168.69.11"),
            [
                v4("192.168.69.10"),
                v4("192.168.69.12"),
                v4("192.168.69.11")
            ]
        );
        assert_eq!(parsed("fdaa::10"), [v4("fdaa::10")]);
    }

    #[test]
    fn ranges_are_inclusive_in_both_forms() {
        let full = parsed("192.168.69.10-192.168.69.109");
        assert_eq!(full.len(), 100);
        assert_eq!(full[0], v4("192.168.69.10"));
        assert_eq!(full[99], v4("192.168.69.109"));
        assert!(full.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(parsed("192.168.69.10-109"), full);
        assert_eq!(parsed("192.168.69.10 - 109"), full);
        assert_eq!(parsed("192.168.69.7-7"), [v4("192.168.69.7")]);
    }

    #[test]
    fn ranges_cross_byte_boundaries() {
        let r = parsed("10.0.0.254-10.0.1.1");
        assert_eq!(
            r,
            [
                v4("10.0.0.254"),
                v4("10.0.0.255"),
                v4("10.0.1.0"),
                v4("10.0.1.1")
            ]
        );
    }

    #[test]
    fn ipv6_ranges() {
        let r = parsed("fdaa::10-fdaa::6d");
        assert_eq!(r.len(), 0x6d - 0x10 + 1);
        assert_eq!(r[0], v4("fdaa::10"));
        assert_eq!(r[r.len() - 1], v4("fdaa::6d"));
        let across = parsed("fdaa::ffff-fdaa::1:1");
        assert_eq!(across, [v4("fdaa::ffff"), v4("fdaa::1:0"), v4("fdaa::1:1")]);
    }

    #[test]
    fn ranges_and_addresses_mix_in_a_list() {
        let r = parsed("192.168.69.10-12,192.168.69.200,192.168.69.20-192.168.69.21");
        assert_eq!(r.len(), 6);
        assert_eq!(r[3], v4("192.168.69.200"));
    }

    #[test]
    fn malformed_items_are_explained() {
        for (text, needle) in [
            ("192.168.69", "not an IP address"),
            ("192.168.69.10-", "not an IP address"),
            ("-192.168.69.10", "not an IP address"),
            ("192.168.69.10-192.168.69.x", "not an IP address"),
            ("192.168.69.10-300", "not a byte"),
            ("192.168.69.10-20-30", "not an IP address"),
            ("192.168.69.10,,192.168.69.11", "empty item"),
            ("", "empty item"),
            ("192.168.69.20-192.168.69.10", "runs backwards"),
            ("192.168.69.20-10", "runs backwards"),
            ("fdaa::6d-fdaa::10", "runs backwards"),
            ("192.168.69.10-fdaa::1", "mixes an IPv4 and an IPv6"),
            ("192.168.69.10,fdaa::1", "different families"),
            ("192.168.69.10,192.168.69.8-12", "listed twice"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.254-255", "broadcast"),
        ] {
            let error = refused(text);
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn at_most_max_sources_in_all() {
        // 10.0.0.0-10.0.15.255 is exactly 4096.
        assert_eq!(parsed("10.0.0.0-10.0.15.255").len(), MAX_SOURCES);
        assert!(refused("10.0.0.0-10.0.16.0").contains("more than 4096"));
        // The limit counts the whole list, not each item.
        assert!(refused("10.0.0.0-10.0.15.255,10.1.0.0").contains("more than 4096"));
        assert!(refused("10.0.0.0-10.0.7.255,10.1.0.0-10.1.8.0").contains("more than 4096"));
        // Huge spans are refused without being counted out.
        assert!(refused("0.0.0.1-255.255.255.254").contains("more than 4096"));
        assert!(refused("fdaa::1-fdaa::ffff:ffff:ffff:ffff").contains("more than 4096"));
        assert!(refused("::1-efff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").contains("more than 4096"));
    }
}
