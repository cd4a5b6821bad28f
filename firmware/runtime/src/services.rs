//! The start-up: the stack on the board's device, the servers of the core's
//! catalog on their default ports, discovery with the directory of what
//! started, and the SNTP client.

use static_cell::StaticCell;
use udpkit::catalog::{ServiceInfo, CATALOG};
#[cfg(feature = "discovery")]
use udpkit::services::discovery::{Discovery, ServiceEntry};
use udpkit::smoltcp::iface::SocketStorage;
#[cfg(feature = "sntp")]
use udpkit::smoltcp::time::Duration;
#[cfg(feature = "sntp")]
use udpkit::sntp::{self, SntpClient, SntpConfig};
use udpkit::{Config, NeighborSlot, Stack};

use crate::storage::{BoardStack, StackParts};

#[cfg(feature = "console")]
use crate::console::MacText;
#[cfg(any(feature = "discovery", feature = "sntp"))]
use crate::storage::Queues;
use crate::storage::{StackStorage, Storage};
use crate::Platform;
#[cfg(not(feature = "console"))]
use crate::Text;
#[cfg(feature = "sntp")]
use crate::{splitmix64, SNTP_SERVER};

/// Times discovery announces the board at boot (one second apart), to the
/// broadcast address of its subnet.
#[cfg(feature = "discovery")]
pub const ANNOUNCEMENTS: u8 = 2;

/// How often the SNTP client asks once the server has answered.
#[cfg(feature = "sntp")]
pub const SNTP_INTERVAL: Duration = Duration::from_secs(1024);
/// The longest wait between requests while the server does not answer:
/// the client waits 15 s (RFC 4330's minimum), 30 s, then this.
#[cfg(feature = "sntp")]
pub const SNTP_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Brings the stack and the services up on `board`. A function of its own,
/// never inlined, so that its big temporaries are gone from the stack once
/// it returns, instead of staying in the loop's frame for good; each big
/// value (the stack, the chat, discovery, the SNTP client) is built in a
/// function of its own too, so their temporaries never sit on the stack at
/// once. The stack itself is small (3.3 KiB with `ram-32k`): what makes it
/// big, smoltcp's interface and a frame-sized buffer, is storage it
/// borrows ([`StackParts`]), where the core builds the interface in a frame
/// of its own.
///
/// Panics if a service cannot start: that is a fault of this firmware's
/// sizes, found at the first boot, never a matter of network input.
#[inline(never)]
pub fn start<P: Platform>(board: &mut P, config: &Config) -> &'static mut BoardStack<'static> {
    let StackStorage {
        sockets,
        neighbors,
        parts,
        stack,
        #[cfg(feature = "dhcp")]
        dhcp,
    } = StackStorage::take();
    let stack = new_stack(stack, config, board, sockets, neighbors, parts);
    // Before the services, which then start with the addresses they have
    // (no IPv4 one until the lease), the DHCP client first of the sockets.
    #[cfg(feature = "dhcp")]
    let ipv4 = {
        if let Err(error) = stack.enable_dhcp(dhcp) {
            crate::fail!(
                "cannot start the DHCP client",
                "cannot start the DHCP client: {error}"
            );
        }
        Ipv4Text(None)
    };
    #[cfg(not(feature = "dhcp"))]
    let ipv4 = Ipv4Text(Some(config.address));
    start_services::<P>(stack, config, ipv4, board.entropy_seed());
    log_ready::<P>(
        ipv4,
        config,
        stack.services().count() - crate::storage::SNTP_SOCKETS,
    );
    stack
}

/// The boot log's last line: where the board answers, and how many
/// services.
#[cfg(feature = "console")]
fn log_ready<P: Platform>(ipv4: Ipv4Text, config: &Config, services: usize) {
    log::info!(
        "ready on {} as {} (MAC {}): {} services, ping answered; \
         clock not set yet (SNTP); press s for a report",
        P::NIC,
        ipv4,
        MacText(config.mac.0),
        services
    );
}

/// The boot's last line, in plain text (no MAC address: it would need
/// hexadecimal bytes for no test's or user's sake).
#[cfg(not(feature = "console"))]
fn log_ready<P: Platform>(ipv4: Ipv4Text, _config: &Config, services: usize) {
    let text = Text::<P>::new().str("ready on ").str(P::NIC).str(" as ");
    let text = match ipv4.0 {
        Some(cidr) => text.ipv4_cidr(cidr),
        None => text.str("an address from DHCP"),
    };
    text.str(": ")
        .number(services as u64)
        .str(" services, ping answered; press s for a report\n");
}

/// Our IPv4 address for the boot log: the static one, or DHCP's to come
/// (logged by the core when the lease comes: `dhcp: leased ...`).
#[derive(Debug, Clone, Copy)]
struct Ipv4Text(Option<udpkit::smoltcp::wire::Ipv4Cidr>);

#[cfg(feature = "console")]
impl core::fmt::Display for Ipv4Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(cidr) => write!(f, "{cidr}"),
            None => f.write_str("an address from DHCP"),
        }
    }
}

/// Where a service answers, for the boot log: `192.168.69.1` or `(DHCP)`.
#[derive(Debug, Clone, Copy)]
struct WhereText(Ipv4Text);

#[cfg(feature = "console")]
impl core::fmt::Display for WhereText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 .0 {
            Some(cidr) => write!(f, "{}", cidr.address()),
            None => f.write_str("(DHCP)"),
        }
    }
}

/// The services on `stack`: the servers in the catalog's order, then
/// discovery, built from the list of the others, then the SNTP client.
#[inline(never)]
// The board's type names discovery's device; without discovery, nothing.
#[cfg_attr(
    not(feature = "discovery"),
    allow(clippy::extra_unused_type_parameters)
)]
fn start_services<P: Platform>(
    stack: &mut BoardStack<'static>,
    config: &Config,
    ipv4: Ipv4Text,
    entropy: u64,
) {
    let Storage {
        mut servers,
        #[cfg(feature = "discovery")]
        discovery,
        #[cfg(feature = "sntp")]
        sntp_queues,
        #[cfg(feature = "sntp")]
        sntp,
    } = Storage::take();
    let address = WhereText(ipv4);
    for info in CATALOG.iter().filter(|info| !info.needs.directory) {
        let Some((service, queues)) = servers.take_server(info.name) else {
            crate::warn!("{}: not built into this firmware", info.name);
            continue;
        };
        let id = match stack.add_service(service, info.default_port, queues) {
            Ok(id) => id,
            Err(error) => crate::fail!(
                "cannot start a service",
                "cannot start {}: {error}",
                info.name
            ),
        };
        if info.needs.detour {
            // Lines to peers that may be gone take a lane of their own.
            if let Some(detour) = servers.take_detour(info.name) {
                if let Err(error) = stack.set_detour(id, detour) {
                    crate::fail!(
                        "cannot start a detour",
                        "cannot start {}'s detour: {error}",
                        info.name
                    );
                }
            }
        }
        log_service::<P>(info, address, info.default_port);
    }
    #[cfg(feature = "discovery")]
    for info in CATALOG.iter().filter(|info| info.needs.directory) {
        let Some(queues) = servers.take_directory_queues(info.name) else {
            crate::warn!("{}: not built into this firmware", info.name);
            continue;
        };
        start_discovery::<P>(stack, info, discovery, queues, config);
        log_service::<P>(info, address, info.default_port);
    }
    #[cfg(feature = "sntp")]
    {
        start_sntp(stack, sntp, sntp_queues, entropy);
        log_sntp::<P>(address);
    }
    #[cfg(not(feature = "sntp"))]
    let _ = entropy;
    #[cfg(not(feature = "discovery"))]
    let _ = config;
}

/// The stack, built in its static.
#[inline(never)]
fn new_stack<P: Platform>(
    cell: &'static StaticCell<BoardStack<'static>>,
    config: &Config,
    board: &mut P,
    sockets: &'static mut [SocketStorage<'static>],
    neighbors: &'static mut [NeighborSlot],
    parts: &'static mut StackParts,
) -> &'static mut BoardStack<'static> {
    cell.init_with(|| Stack::new_sized(config, board, sockets, neighbors, parts))
}

/// Discovery (`info`), with the directory of every service started so far
/// and itself (not the SNTP client, which serves nobody), announcing the
/// board at boot.
#[cfg(feature = "discovery")]
#[inline(never)]
fn start_discovery<P: Platform>(
    stack: &mut BoardStack<'static>,
    info: &ServiceInfo,
    cell: &'static StaticCell<Discovery>,
    queues: Queues,
    config: &Config,
) {
    let mut directory = [ServiceEntry {
        name: info.name,
        port: info.default_port,
    }; CATALOG.len()];
    let mut listed = 0;
    for ((service, port, _), entry) in stack.services().zip(directory.iter_mut()) {
        *entry = ServiceEntry {
            name: service.name(),
            port,
        };
        listed += 1;
    }
    // The service itself after them: its entry is already there.
    let entries = directory.get(..listed + 1).unwrap_or(&directory);
    // Built in its static's closure, and told to announce there (not on
    // the way: each step of a value is a copy of it in this frame).
    let addresses = stack.addresses();
    let service =
        cell.init_with(
            || match Discovery::new(P::NAME, Some(config.mac), addresses, entries) {
                Ok(service) => service,
                Err(error) => crate::fail!(
                    "cannot start a service",
                    "cannot start {}: {error}",
                    info.name
                ),
            },
        );
    service.announce(ANNOUNCEMENTS, info.default_port);
    if let Err(error) = stack.add_service(service, info.default_port, queues) {
        crate::fail!(
            "cannot start a service",
            "cannot start {}: {error}",
            info.name
        );
    }
}

/// The SNTP client: the wall clock of a board without one. Its request
/// nonces from a seed of their own, not smoltcp's.
#[cfg(feature = "sntp")]
#[inline(never)]
fn start_sntp(
    stack: &mut BoardStack<'static>,
    cell: &'static StaticCell<SntpClient>,
    queues: Queues,
    entropy: u64,
) {
    let seed = splitmix64(entropy ^ u64::from_le_bytes(*b"sntp\0\0\0\0"));
    let client = cell.init(SntpClient::new(SntpConfig {
        server: SNTP_SERVER,
        interval: SNTP_INTERVAL,
        max_backoff: SNTP_MAX_BACKOFF,
        ..SntpConfig::new(SNTP_SERVER.addr, seed)
    }));
    if let Err(error) = stack.add_service(client, sntp::DEFAULT_LOCAL_PORT, queues) {
        crate::fail!(
            "cannot start the SNTP client",
            "cannot start the SNTP client: {error}"
        );
    }
}

/// One line per service at boot: name, where, what it answers.
#[cfg(feature = "console")]
// `P` for the plain-text variant's console.
#[allow(clippy::extra_unused_type_parameters)]
fn log_service<P: Platform>(info: &ServiceInfo, address: WhereText, port: u16) {
    let until = if info.needs.wall_clock {
        "; the time only once SNTP has set the clock"
    } else {
        ""
    };
    log::info!(
        "{:<8} udp {address}:{port:<5}  {}{until}",
        info.name,
        info.summary
    );
}

/// One line per service at boot, in plain text: as the full image logs
/// it, without the log's time and level.
#[cfg(not(feature = "console"))]
fn log_service<P: Platform>(info: &ServiceInfo, address: WhereText, port: u16) {
    let until = if info.needs.wall_clock {
        "; the time only once SNTP has set the clock"
    } else {
        ""
    };
    where_text::<P>(info.name, address, port)
        .str(info.summary)
        .str(until)
        .str("\n");
}

/// `name     udp 192.168.69.1:7      `: the start of a service's boot line.
#[cfg(not(feature = "console"))]
fn where_text<P: Platform>(name: &str, address: WhereText, port: u16) -> Text<P> {
    let text = Text::<P>::new().padded(name, 8).str(" udp ");
    let text = match address.0 .0 {
        Some(cidr) => text.ipv4(cidr.address()),
        None => text.str("(DHCP)"),
    };
    text.str(":").number_padded(u64::from(port), 5).str("  ")
}

/// The SNTP client's boot line.
#[cfg(all(feature = "sntp", feature = "console"))]
// `P` for the plain-text variant's console.
#[allow(clippy::extra_unused_type_parameters)]
fn log_sntp<P: Platform>(address: WhereText) {
    log::info!(
        "{:<8} udp {address}:{:<5}  the wall clock, from the NTP server {SNTP_SERVER}",
        "sntp",
        sntp::DEFAULT_LOCAL_PORT
    );
}

/// The SNTP client's boot line, in plain text.
#[cfg(all(feature = "sntp", not(feature = "console")))]
fn log_sntp<P: Platform>(address: WhereText) {
    where_text::<P>("sntp", address, sntp::DEFAULT_LOCAL_PORT)
        .str("the wall clock, from the NTP server ")
        .endpoint(SNTP_SERVER)
        .str("\n");
}

// Every service of the catalog fits discovery's directory.
#[cfg(feature = "discovery")]
const _: () = assert!(CATALOG.len() <= udpkit::wire::discovery::MAX_SERVICES);
