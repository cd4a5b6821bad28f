//! `udpkit serve --dhcp` end to end: a real DHCP server (dnsmasq) on the
//! Linux side of the TAP gives udpkit its address; echo, ping and `udpkit
//! discover` find it there; the lease is logged and renewed; when the
//! server moves it to another range (a NAK at the next renewal), the
//! services follow to the new address.
//!
//! Network safety: the TAP, its address, dnsmasq (no DNS: `--port=0`; DHCP
//! on tap0 only, `--bind-interfaces`) and every datagram live in a network
//! namespace the test creates (`support::Netns`), whose guard kills every
//! process in it and deletes it, even when the test fails. dnsmasq runs
//! under `timeout`, its lease file and log in the test's scratch
//! directory; every wait is bounded.
//!
//! Needs root and, beside the usual tools, dnsmasq (Debian package
//! dnsmasq-base: the program alone, no system service).

mod support;

use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::dnsmasq::{self, Dnsmasq};
use support::{nc_expect, scratch, Netns, Server, TOOLS};

use dnsmasq::{HOST_CIDR, HOST_IP};
const MAC: &str = "02:00:00:00:00:01";

/// How long a lease takes to come (dnsmasq answers at once; smoltcp's
/// client sends its DISCOVER in its first poll and retries every 10 s).
const LEASE_LIMIT: Duration = Duration::from_secs(30);

/// The lease udpkit holds at most (`--dhcp-max-lease`): renewed every 10 s.
const MAX_LEASE: &str = "20s";

fn tools() -> Vec<(&'static str, &'static str)> {
    let mut tools = TOOLS.to_vec();
    tools.push(dnsmasq::TOOL);
    tools
}

/// Waits, bounded, until the server's log has a line with `needle` after
/// byte `from`; that line.
#[track_caller]
fn wait_for_log(server: &mut Server<'_>, from: usize, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        server.assert_running();
        let log = server.log();
        if let Some(line) = log
            .get(from..)
            .unwrap_or("")
            .lines()
            .find(|line| line.contains(needle))
        {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in udpkit's log within {limit:?}:\n{log}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The address in a lease line: `... dhcp: leased 192.168.69.53/24 from ...`
/// or `... dhcp: address changed from X: 192.168.69.71/24 from ...`.
fn leased_address(line: &str) -> String {
    let after = line
        .rsplit_once(": ")
        .map(|(_, rest)| rest)
        .unwrap_or(line)
        .trim_start_matches("leased ");
    let cidr = after.split_whitespace().next().unwrap_or("");
    cidr.split('/').next().unwrap_or("").to_string()
}

/// `udpkit discover --json` in `ns`: the addresses of the device `MAC`.
fn discovered_addresses(ns: &Netns) -> Vec<String> {
    let out = ns
        .udpkit(&["discover", "--json", "--broadcast", "192.168.69.255"])
        .out()
        .ok();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
    let device = json
        .as_array()
        .and_then(|devices| devices.iter().find(|d| d["mac"] == MAC))
        .unwrap_or_else(|| panic!("udpkit was not discovered: {}", out.describe()));
    device["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

#[track_caller]
fn assert_ping(ns: &Netns, ip: &str, answered: bool) {
    let out = ns
        .run(&["ping", "-c", "1", "-W", "2", ip])
        .limit(Duration::from_secs(10))
        .out();
    assert_eq!(out.success(), answered, "ping {ip}: {}", out.describe());
}

#[test]
fn serve_dhcp_takes_its_address_from_dnsmasq_and_follows_it() {
    let test = "serve_dhcp_takes_its_address_from_dnsmasq_and_follows_it";
    let Some(ns) = Netns::with_tools(test, &tools()) else {
        return;
    };
    // The TAP, with the Linux side's address, before dnsmasq binds to it.
    ns.add_tap("tap0", HOST_CIDR);
    let dnsmasq = Dnsmasq::start(&ns, "192.168.69.50", "192.168.69.60");
    let mut server = Server::spawn(
        &ns,
        &["--tap", "tap0", "--dhcp", "--dhcp-max-lease", MAX_LEASE],
    );
    let started = Instant::now();

    // The lease, logged with its address, server, router and time.
    let line = wait_for_log(&mut server, 0, "dhcp: leased", LEASE_LIMIT);
    eprintln!("{test}: {line} (after {:.1?})", started.elapsed());
    assert!(
        line.contains(&format!("from {HOST_IP}, router {HOST_IP}, lease 20 s")),
        "{line}"
    );
    let leased = leased_address(&line);
    let octet: u8 = leased
        .strip_prefix("192.168.69.")
        .and_then(|o| o.parse().ok())
        .unwrap_or_else(|| panic!("not an address of the range: {line}"));
    assert!((50..=60).contains(&octet), "{line}");
    let log = server.log();
    assert!(
        log.contains("ready on tap0 as an address from DHCP"),
        "{log}"
    );
    assert!(
        dnsmasq
            .log()
            .contains(&format!("DHCPACK(tap0) {leased} {MAC}")),
        "{}",
        dnsmasq.log()
    );

    // Echo, ping and discovery on the leased address; nothing on the
    // static default, which --dhcp replaces.
    server.ip = leased.clone();
    server.wait_ready();
    nc_expect(&ns, &leased, 7, b"leased\n", b"leased\n");
    assert_ping(&ns, &leased, true);
    assert_ping(&ns, "192.168.69.1", false);
    let addresses = discovered_addresses(&ns);
    assert_eq!(
        addresses.first(),
        Some(&format!("{leased}/24")),
        "{addresses:?}"
    );

    // Renewed at half the (capped) lease, logged, the address kept.
    let from = server.log().len();
    let renewed = wait_for_log(&mut server, from, "dhcp: renewed", Duration::from_secs(20));
    assert!(
        renewed.contains(&format!("{leased}/24 from {HOST_IP}")),
        "{renewed}"
    );
    nc_expect(&ns, &leased, 7, b"renewed\n", b"renewed\n");

    // The server moves to another range: at the next renewal it refuses
    // the address (NAK), and udpkit takes one of the new range; the
    // services follow.
    dnsmasq.stop();
    let _ = std::fs::remove_file(scratch(ns.dir(), "dnsmasq.leases"));
    let from = server.log().len();
    let dnsmasq = Dnsmasq::start(&ns, "192.168.69.70", "192.168.69.80");
    let lost = wait_for_log(
        &mut server,
        from,
        "dhcp: lost the lease",
        Duration::from_secs(30),
    );
    assert!(lost.contains(&leased), "{lost}");
    let line = wait_for_log(&mut server, from, "dhcp: leased", LEASE_LIMIT);
    let moved = leased_address(&line);
    assert!(moved.starts_with("192.168.69.7"), "{line}");
    server.ip = moved.clone();
    server.wait_ready();
    nc_expect(&ns, &moved, 7, b"moved\n", b"moved\n");
    assert_ping(&ns, &moved, true);
    assert_ping(&ns, &leased, false);
    let addresses = discovered_addresses(&ns);
    assert_eq!(
        addresses.first(),
        Some(&format!("{moved}/24")),
        "{addresses:?}"
    );
    assert!(
        !addresses.contains(&format!("{leased}/24")),
        "{addresses:?}"
    );
    eprintln!(
        "{test}: moved from {leased} to {moved} after {:.1?}",
        started.elapsed()
    );

    // On exit, the lease and the counters.
    server.stop(libc::SIGINT);
    let log = server.log();
    assert!(log.contains(&format!("dhcp: holding {moved}/24")), "{log}");
    assert!(log.contains("leases (a new address or router): 2"), "{log}");
    assert!(log.contains("leases lost (expired or refused): 1"), "{log}");
    dnsmasq.stop();
}
