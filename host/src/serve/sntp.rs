//! `serve --sntp-server`: the core's SNTP client as the stack's wall
//! clock, as on a board without a clock of its own.
//!
//! The machine's clock is never set: the client only tells the stack what
//! time the server says it is.

use std::net::SocketAddrV4;

use anyhow::Result;
use udpkit::smoltcp::socket::udp::PacketBuffer;
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint};
use udpkit::sntp::{SntpClient, SntpConfig};
use udpkit::{Board, Stack};

/// `serve --sntp-server`: where the stack's wall clock comes from.
#[derive(Debug, Clone, Copy)]
pub struct SntpOptions {
    pub server: SocketAddrV4,
    /// Time between requests once synced.
    pub interval: std::time::Duration,
    /// The local port the client sends from.
    pub local_port: u16,
}

/// Adds the core's SNTP client for `options` to `stack`, on `queues`; `us`
/// is the stack's address, for the log.
pub fn start_client(
    stack: &mut Stack<'static>,
    board: &mut impl Board,
    options: SntpOptions,
    us: impl std::fmt::Display,
    queues: (PacketBuffer<'static>, PacketBuffer<'static>),
) -> Result<()> {
    let server = IpAddress::Ipv4(*options.server.ip());
    let interval = udpkit::smoltcp::time::Duration::from_millis(
        options.interval.as_millis().min(u128::from(u32::MAX)) as u64,
    );
    let config = SntpConfig {
        server: IpEndpoint::new(server, options.server.port()),
        interval,
        // Failures back off from 15 s to the interval.
        max_backoff: interval,
        ..SntpConfig::new(server, board.entropy_seed())
    };
    let client = Box::leak(Box::new(SntpClient::new(config)));
    let port = options.local_port;
    stack
        .add_service(client, port, queues)
        .map_err(|e| anyhow::anyhow!("cannot start the SNTP client on port {port}: {e}"))?;
    log::info!(
        "{:<9} udp {us}:{port:<5}  the wall clock, from the NTP server {} (not the host's clock)",
        "sntp",
        options.server
    );
    Ok(())
}
