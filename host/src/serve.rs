//! `udpkit serve`: the core's services on a TAP until Ctrl-C.

use std::io::{self, Read as _};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use udpkit::catalog::{ServiceInfo, CATALOG};
use udpkit::service::Service;
use udpkit::services::{chat, daytime, discard, discovery, echo, hello, ntp, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
use udpkit::smoltcp::time::Duration;
use udpkit::smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Cidr};
use udpkit::{Board, Config, Discard, NeighborSlot, ServiceStats, Stack, MAX_PAYLOAD};

use crate::faults::{FaultPlan, Faults};
use crate::tap::{HostBoard, Link, TapDevice, TapSetup};

/// A service udpkit can run: its line of the core's catalog (name,
/// standard port, summary, what it needs).
pub type ServiceKind = ServiceInfo;

/// Every service udpkit can run: the core's catalog.
pub const SERVICES: [ServiceKind; CATALOG.len()] = CATALOG;

/// Datagram slots in each socket queue. A load generator keeps up to this
/// many datagrams in flight without loss in our own buffers.
const QUEUE_SLOTS: usize = 256;

/// Everything `serve` needs, parsed from the command line.
pub struct ServeOptions {
    pub tap: String,
    pub create: bool,
    pub host_address: Ipv4Cidr,
    /// The Linux side's IPv6 address on a TAP we create, if any.
    pub host_address_v6: Option<Ipv6Cidr>,
    pub config: Config,
    /// (service, port), in start order.
    pub services: Vec<(ServiceKind, u16)>,
    pub chat_limits: chat::ChatLimits,
    pub discovery: crate::discover::DiscoveryOptions,
    /// Take the wall clock from this NTP server with the core's SNTP client
    /// instead of the host's clock.
    pub sntp: Option<crate::ntp::SntpOptions>,
    /// Faults on the frames in and out of the TAP.
    pub faults: FaultPlan,
    /// Capture every frame into this file (pcap).
    pub pcap: Option<PathBuf>,
}

pub fn run(options: ServeOptions) -> Result<()> {
    let host_address = options.host_address.to_string();
    if options.create
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
    let capture = options
        .pcap
        .as_deref()
        .map(crate::capture::Capture::create)
        .transpose()?;
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
    let faults = Faults::new(device, plan, crate::tap::entropy_seed());
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
    let device = crate::capture::capture(
        faults,
        capture
            .clone()
            .unwrap_or_else(crate::capture::Capture::none),
    );
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
    capture: Option<crate::capture::Capture>,
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
    let socket_count = options.services.len() + usize::from(options.sntp.is_some()) + detours;
    let sockets: &'static mut [SocketStorage<'static>] = (0..socket_count)
        .map(|_| SocketStorage::EMPTY)
        .collect::<Vec<_>>()
        .leak();
    // Hundreds of hosts at once (a lab, a room of machines): the table and
    // smoltcp's neighbor cache (host/Cargo.toml) hold as many.
    let neighbors: &'static mut [NeighborSlot] = vec![NeighborSlot::EMPTY; NEIGHBOR_SLOTS].leak();
    let mut stack = Stack::new(&options.config, &mut board, sockets, neighbors);
    let address = options.config.address.address();
    for &(kind, port) in &options.services {
        let service = Box::leak(match kind.needs.directory {
            true => crate::discover::service(
                &options.discovery,
                Some(options.config.mac),
                &options.config.cidrs(),
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
        crate::ntp::start_client(&mut stack, &mut board, sntp, address, (queue(), queue()))?;
    }

    let stop = SignalPipe::new()?;
    let toggle = SignalPipe::on(&[signal_hook::consts::SIGUSR1])?;
    log::info!(
        "ready on {} as {} (MAC {}): {} service(s), ping answered; Ctrl-C stops",
        tap.name,
        options.config.address,
        mac_text(options.config.mac),
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
        let timeout_ms = match delay {
            None => -1,
            // Round up: waking before the deadline would just spin once more.
            Some(d) => d.total_micros().div_ceil(1000).min(i32::MAX as u64) as i32,
        };
        if let Some(capture) = &capture {
            capture.flush();
        }
        match wait_readable(board.device.fd(), &stop, &toggle, timeout_ms)? {
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
    board.device.print_counters();
    if let Some(capture) = &capture {
        capture.print_counters();
    }
    if tap.created {
        log::info!("removing TAP {}", tap.name);
    }
    Ok(())
}

/// The service called `kind.name`; discovery, which needs the directory of
/// the others, is built by [`crate::discover::service`].
pub fn make_service(kind: ServiceKind, chat_limits: chat::ChatLimits) -> Result<Box<dyn Service>> {
    Ok(match kind.name {
        echo::NAME => Box::new(echo::Echo),
        discard::NAME => Box::new(discard::Discard::new()),
        daytime::NAME => Box::new(daytime::Daytime),
        time::NAME => Box::new(time::Time),
        ntp::NAME => Box::new(ntp::NtpServer::new()),
        upper::NAME => Box::new(upper::Upper),
        hello::NAME => Box::new(hello::Hello),
        chat::NAME => Box::new(chat::Chat::<64, 16>::new(chat_limits)),
        other => bail!(
            "no service called {other} can be built here{}",
            if other == discovery::NAME {
                " (discovery is built from the directory of the others)"
            } else {
                ""
            }
        ),
    })
}

fn queue() -> PacketBuffer<'static> {
    PacketBuffer::new(
        vec![PacketMetadata::EMPTY; QUEUE_SLOTS].leak(),
        vec![0u8; QUEUE_SLOTS * MAX_PAYLOAD].leak(),
    )
}

/// Why the serve loop woke up.
enum Wake {
    /// SIGINT or SIGTERM.
    Stop,
    /// SIGUSR1, this many times.
    Toggle(usize),
    /// A frame, or the timeout.
    Other,
}

/// Sleeps until the TAP has a frame, a signal arrived, or `timeout_ms`
/// passed (-1: no timeout).
fn wait_readable(
    tap: i32,
    stop: &SignalPipe,
    toggle: &SignalPipe,
    timeout_ms: i32,
) -> Result<Wake> {
    let mut fds = [tap, stop.fd(), toggle.fd()].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of pollfd for the whole call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::Interrupted {
            return Ok(Wake::Other);
        }
        return Err(error).context("poll on the TAP");
    }
    if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        bail!("the TAP device reported an error or went away");
    }
    if fds[1].revents & libc::POLLIN != 0 {
        return Ok(Wake::Stop);
    }
    if fds[2].revents & libc::POLLIN != 0 {
        return Ok(Wake::Toggle(toggle.take()));
    }
    Ok(Wake::Other)
}

/// Signals delivered as bytes on a socket the loop can poll.
pub struct SignalPipe {
    read: UnixStream,
}

impl SignalPipe {
    /// SIGINT and SIGTERM: stop.
    pub fn new() -> Result<SignalPipe> {
        SignalPipe::on(&[signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
    }

    pub fn on(signals: &[i32]) -> Result<SignalPipe> {
        let (read, write) = UnixStream::pair().context("creating the signal pipe")?;
        for &signal in signals {
            signal_hook::low_level::pipe::register(signal, write.try_clone()?)
                .context("installing the signal handler")?;
        }
        read.set_nonblocking(true)?;
        Ok(SignalPipe { read })
    }

    pub fn fd(&self) -> i32 {
        self.read.as_raw_fd()
    }

    /// How many signals arrived since the last call.
    pub fn take(&self) -> usize {
        let mut count = 0;
        let mut bytes = [0u8; 64];
        loop {
            match (&self.read).read(&mut bytes) {
                Ok(0) | Err(_) => return count,
                Ok(n) => count += n,
            }
        }
    }
}

/// Slots of the neighbor table: three quarters hold a neighbor.
const NEIGHBOR_SLOTS: usize = 512;

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

/// Parses `name=port` as given to `--port`.
pub fn parse_port_override(text: &str) -> Result<(ServiceKind, u16), String> {
    let (name, port) = text
        .split_once('=')
        .ok_or_else(|| format!("expected SERVICE=PORT, e.g. echo=7007, got '{text}'"))?;
    let kind = service_by_name(name)?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("'{port}' is not a port number (1-65535)"))?;
    if port == 0 {
        return Err("port 0 cannot be bound".into());
    }
    Ok((kind, port))
}

pub fn service_by_name(name: &str) -> Result<ServiceKind, String> {
    SERVICES
        .iter()
        .copied()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let known: Vec<_> = SERVICES.iter().map(|s| s.name).collect();
            format!("unknown service '{name}' (known: {})", known.join(", "))
        })
}

/// The default configuration, for `--help` texts.
pub fn default_config() -> Config {
    Config::default()
}

/// `02:00:00:00:00:01`, as `ip link` writes MAC addresses.
pub fn mac_text(mac: EthernetAddress) -> String {
    let octets: Vec<String> = mac.0.iter().map(|b| format!("{b:02x}")).collect();
    octets.join(":")
}

pub fn parse_mac(text: &str) -> Result<EthernetAddress, String> {
    let mac: EthernetAddress = text
        .parse()
        .map_err(|_| format!("'{text}' is not a MAC address like 02:00:00:00:00:01"))?;
    if !mac.is_unicast() {
        return Err(format!(
            "{text} is a multicast MAC address; use a unicast one"
        ));
    }
    Ok(mac)
}

pub fn parse_cidr(text: &str) -> Result<Ipv4Cidr, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address with prefix, like 192.168.69.1/24"))
}

pub fn parse_ipv6_cidr(text: &str) -> Result<Ipv6Cidr, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an IPv6 address with prefix, like fdaa::1/64"))
}

pub fn parse_ipv4(text: &str) -> Result<Ipv4Address, String> {
    text.parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address"))
}
