//! `udpkit serve --backend tap`: the core's stack on a TAP until a signal
//! stops it.
//!
//! The loop sleeps on the TAP and two signal pipes: SIGINT/SIGTERM stop it,
//! SIGUSR1 pauses the faults, and whatever stack of layers sits on the TAP
//! ([`Link`]) is served by the same loop.

use std::time::Duration as StdDuration;

use anyhow::{bail, Context as _, Result};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::socket::udp::PacketBuffer;
use udpkit::smoltcp::time::Duration;
use udpkit::{Board, DhcpStorage, NeighborSlot, Stack, StackStorage};

use crate::linux::board::HostBoard;
use crate::linux::clock::entropy_seed;
use crate::linux::poll::PollSet;
use crate::linux::signals::{SignalPipe, SIGUSR1};
use crate::linux::tap::{TapDevice, TapSetup};
use crate::serve::args::ServeOptions;
use crate::serve::capture::{self, Capture};
use crate::serve::counters::{print_counters, print_dhcp_counters, print_neighbor_counters};
use crate::serve::faults::Faults;
use crate::serve::link::Link;
use crate::serve::services::{make_service, queue};
use crate::serve::{discovery, sntp};
use crate::text::Mac;

pub fn run(options: ServeOptions) -> Result<()> {
    let host_address = options.host_address.to_string();
    if options.create
        && options.dhcp.is_none()
        && !options
            .config
            .address
            .contains_addr(&options.host_address.address())
    {
        log::warn!(
            "the host side {host_address} is not in udpkit's subnet {}: the two cannot talk directly",
            options.config.address
        );
    }
    let host_address_v6 = options.host_address_v6.map(|a| a.to_string());
    let capture = options.pcap.as_deref().map(Capture::create).transpose()?;
    let device = TapDevice::open(&TapSetup {
        name: &options.tap,
        create: options.create,
        host_address: &host_address,
        host_address_v6: host_address_v6.as_deref(),
    })?;
    let tap = Tap {
        name: device.name().to_string(),
        created: device.created(),
    };
    if options.faults.is_none() && capture.is_none() {
        // The TAP bare, with nothing in the way of the frames.
        return serve_on(HostBoard::new(device), &tap, None, options);
    }
    let plan = options.faults;
    let faults = Faults::new(device, plan, entropy_seed());
    if !plan.is_none() {
        log::info!(
            "faults on frames in and out of {}: {} (SIGUSR1 pauses and resumes them)",
            tap.name,
            plan.describe()
        );
    }
    if let Some(capture) = &capture {
        log::info!(
            "capturing every frame in and out to {} (pcap: tcpdump -r, Wireshark)",
            capture.path().display()
        );
    }
    let device = capture::capture(faults, capture.clone().unwrap_or_else(Capture::none));
    serve_on(HostBoard::new(device), &tap, capture, options)
}

/// The TAP's name and whether we created it, for the log.
struct Tap {
    name: String,
    created: bool,
}

/// Serves `options` on `board`'s link until a signal stops it.
fn serve_on<D: Link>(
    mut board: HostBoard<D>,
    tap: &Tap,
    capture: Option<Capture>,
    options: ServeOptions,
) -> Result<()> {
    // With an NTP server to ask, the board has no clock of its own, as a
    // board without an RTC: the SNTP client's time is the stack's.
    board.system_clock = options.sntp.is_none();

    // The stack lives as long as the process: its storage is leaked once
    // at startup instead of threading lifetimes through main.
    // One socket per service, the SNTP client's, and a detour for each
    // service that needs one (the chat's).
    let detours = options
        .services
        .iter()
        .filter(|(kind, _)| kind.needs.detour)
        .count();
    let socket_count = options.services.len()
        + usize::from(options.sntp.is_some())
        + usize::from(options.dhcp.is_some())
        + detours;
    let sockets: &'static mut [SocketStorage<'static>] = (0..socket_count)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak();
    // Hundreds of hosts at once (a lab, a room of machines): the table and
    // smoltcp's neighbor cache (host/Cargo.toml) hold as many.
    let neighbors: &'static mut [NeighborSlot] = vec![NeighborSlot::EMPTY; NEIGHBOR_SLOTS].leak();
    // The request's copy and the frame held back, 1514 bytes each.
    let buffers: &'static mut StackStorage = Box::leak(Box::default());
    let mut stack = Stack::new(&options.config, &mut board, sockets, neighbors, buffers);
    // With DHCP the address is the lease's, logged when it comes.
    let address = match options.dhcp {
        Some(dhcp) => {
            // Before the services: the DHCP client is then the first socket
            // smoltcp looks at, and the services start with the addresses
            // they have (none for IPv4 yet).
            stack
                .enable_dhcp(Box::leak(Box::new(DhcpStorage::new())))
                .map_err(|e| anyhow::anyhow!("cannot start the DHCP client: {e}"))?;
            stack.set_dhcp_max_lease(dhcp.max_lease);
            "(DHCP)".to_string()
        }
        None => options.config.address.address().to_string(),
    };
    for &(kind, port) in &options.services {
        let service = Box::leak(match kind.needs.directory {
            true => discovery::service(
                &options.discovery,
                Some(options.config.mac),
                stack.addresses(),
                &options.services,
                (options.discovery.announce, port),
            )?,
            false => make_service(kind, options.chat_limits)?,
        });
        let id = stack
            .add_service(service, port, (queue(), queue()))
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", kind.name))?;
        if kind.needs.detour {
            // Datagrams to peers that may be gone take a lane of their own.
            stack
                .set_detour(id, (PacketBuffer::new(&mut [][..], &mut [][..]), queue()))
                .map_err(|e| anyhow::anyhow!("cannot start {}'s detour: {e}", kind.name))?;
        }
        log::info!("{:<9} udp {address}:{port:<5}  {}", kind.name, kind.summary);
    }
    if let Some(sntp) = options.sntp {
        sntp::start_client(&mut stack, &mut board, sntp, &address, (queue(), queue()))?;
    }

    let stop = SignalPipe::stop()?;
    let toggle = SignalPipe::on(&[SIGUSR1])?;
    let mut sleep = PollSet::new(&[board.device.fd(), stop.fd(), toggle.fd()]);
    let ipv4 = match options.dhcp {
        Some(_) => "an address from DHCP".to_string(),
        None => options.config.address.to_string(),
    };
    log::info!(
        "ready on {} as {} (MAC {}): {} service(s), ping answered; Ctrl-C stops",
        tap.name,
        ipv4,
        Mac(options.config.mac),
        options.services.len(),
    );
    loop {
        let delay = stack.poll(&mut board);
        let now = board.now();
        // Frames the link delays are due on their own time.
        let link_delay =
            board
                .device
                .next_due()
                .map(|due| if due > now { due - now } else { Duration::ZERO });
        let delay = match (delay, link_delay) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Whole milliseconds, rounded up: waking before the deadline would
        // just spin once more.
        let timeout = delay.map(|d| StdDuration::from_millis(d.total_micros().div_ceil(1000)));
        if let Some(capture) = &capture {
            capture.flush();
        }
        match wait(&mut sleep, &toggle, timeout)? {
            Wake::Stop => break,
            Wake::Toggle(signals) => {
                for _ in 0..signals {
                    match board.device.toggle_faults() {
                        Some(true) => log::info!("SIGUSR1: faults resumed"),
                        Some(false) => log::info!(
                            "SIGUSR1: faults paused, frames pass untouched until the next SIGUSR1"
                        ),
                        None => log::info!("SIGUSR1: there are no faults to pause (see --drop)"),
                    }
                }
            }
            Wake::Other => {}
        }
    }
    log::info!("stopping");
    print_counters(stack.services());
    print_neighbor_counters(&stack);
    print_dhcp_counters(&stack);
    board.device.print_counters();
    if let Some(capture) = &capture {
        capture.print_counters();
    }
    if tap.created {
        log::info!("removing TAP {}", tap.name);
    }
    Ok(())
}

/// Slots of the neighbor table: three quarters hold a neighbor.
const NEIGHBOR_SLOTS: usize = 512;

/// Why the serve loop woke up.
enum Wake {
    /// SIGINT or SIGTERM.
    Stop,
    /// SIGUSR1, this many times.
    Toggle(usize),
    /// A frame, or the timeout.
    Other,
}

/// Sleeps on `sleep` (the TAP, the stop pipe, then `toggle`'s) until
/// the TAP has a frame, a signal arrived, or `timeout` passed.
fn wait(sleep: &mut PollSet, toggle: &SignalPipe, timeout: Option<StdDuration>) -> Result<Wake> {
    sleep.wait(timeout).context("poll on the TAP")?;
    if sleep.broken(0) {
        bail!("the TAP device reported an error or went away");
    }
    if sleep.readable(1) {
        return Ok(Wake::Stop);
    }
    if sleep.readable(2) {
        return Ok(Wake::Toggle(toggle.take()));
    }
    Ok(Wake::Other)
}
