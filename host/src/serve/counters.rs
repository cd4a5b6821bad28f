//! What `serve` prints when it stops: each service's counters, and the
//! neighbor layer's, the same table for both backends.

use udpkit::service::Service;
use udpkit::{Discard, ServiceStats, Stack};

/// Prints the neighbor layer's counters, to stderr.
pub fn print_neighbor_counters(stack: &Stack<'_>) {
    let stats = stack.neighbor_stats();
    let (known, capacity) = stack.neighbors();
    eprintln!("neighbors: {known} known of {capacity} at most");
    for (counter, value) in [
        ("taught to smoltcp", stats.taught),
        ("evicted from a full table", stats.evicted),
        (
            "datagrams to unknown neighbors (waited for ARP/NDP)",
            stats.unresolved,
        ),
        (
            "resolutions sent (ARP requests, solicitations)",
            stats.resolutions,
        ),
        (
            "neighbor cache emptied before it overflowed",
            stats.cache_flushes,
        ),
        ("IPv6 frames to foreign addresses, dropped", stats.foreign),
    ] {
        eprintln!("{:<9} {counter}: {value}", "");
    }
}

/// Prints the DHCP client's lease and counters, to stderr (nothing
/// without --dhcp).
pub fn print_dhcp_counters(stack: &Stack<'_>) {
    let Some(stats) = stack.dhcp_stats() else {
        return;
    };
    match stack.dhcp_lease() {
        Some(lease) => eprintln!("dhcp: holding {lease}"),
        None => eprintln!("dhcp: no lease"),
    }
    for (counter, value) in [
        ("leases (a new address or router)", stats.leases),
        ("renewals", stats.renewals),
        ("leases lost (expired or refused)", stats.lost),
        ("leases not used (not a host address)", stats.refused),
    ] {
        eprintln!("{:<9} {counter}: {value}", "");
    }
}

/// Prints each service's counters as a table, to stderr.
pub fn print_counters<'s>(
    services: impl Iterator<Item = (&'s dyn Service, u16, &'s ServiceStats)>,
) {
    eprintln!(
        "{:<9} {:>5} {:>10} {:>10} {:>8} {:>9} {:>10} {:>9} {:>11} {:>6}",
        "service",
        "port",
        "received",
        "sent",
        "refused",
        "discarded",
        "unroutable",
        "oversized",
        "send-failed",
        "stalls"
    );
    for (service, port, s) in services {
        let name = service.name();
        eprintln!(
            "{:<9} {:>5} {:>10} {:>10} {:>8} {:>9} {:>10} {:>9} {:>11} {:>6}",
            name,
            port,
            s.received,
            s.sent,
            s.refused_total(),
            s.discarded_total(),
            s.unroutable,
            s.oversized,
            s.send_failed,
            s.stall_resets
        );
        for reason in Discard::ALL {
            let count = s.discarded[reason.index()];
            if count > 0 {
                eprintln!("{:<9} discarded {count}: {}", "", reason.name());
            }
        }
        service.counters(&mut |counter, value| eprintln!("{:<9} {counter}: {value}", ""));
    }
}
