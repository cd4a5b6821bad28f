//! `udpkit serve`'s command line, and the options it comes to.
//!
//! The arguments and their checks live apart from the loops that serve,
//! so that both backends take the same checked [`ServeOptions`] and the
//! `--help` text is written next to the arguments it explains.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use udpkit::catalog::{ServiceInfo, CATALOG};
use udpkit::services::chat::ChatLimits;
use udpkit::smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Cidr};
use udpkit::Config;

use crate::serve::discovery::{DiscoveryOptions, ServeDiscoveryArgs};
use crate::serve::faults::{self, FaultPlan};
use crate::serve::sntp::SntpOptions;
use crate::text::{parse_duration, Mac};

/// Which network stack carries the services.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// udpkit's own stack (smoltcp) on a TAP interface.
    Tap,
    /// The kernel's UDP sockets.
    Kernel,
}

/// Serve the UDP services on a TAP interface until Ctrl-C.
#[derive(Args)]
#[command(after_help = help())]
pub struct ServeArgs {
    /// Which network stack carries the services: `tap` is udpkit's own
    /// (smoltcp) on a TAP; `kernel` is Linux's UDP sockets, no TAP or root
    /// needed (ports above 1023): for developing services, and the
    /// benchmark's baseline.
    #[arg(long, value_enum, default_value_t = Backend::Tap)]
    pub backend: Backend,

    /// With --backend kernel: the address to bind the services to.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind: std::net::IpAddr,

    /// Adds N to every default port (e.g. 10000: echo on 10007), so the
    /// kernel backend runs without root.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub port_offset: u16,

    /// The TAP interface to attach to.
    #[arg(long, default_value = "tap0", value_name = "NAME")]
    pub tap: String,

    /// udpkit's own address and prefix on the TAP's link.
    #[arg(long, default_value = "192.168.69.1/24", value_name = "CIDR", value_parser = parse_cidr)]
    pub ip: Ipv4Cidr,

    /// A default gateway; without one, only peers on the link are answered.
    #[arg(long, value_name = "IP", value_parser = parse_ipv4)]
    pub gateway: Option<Ipv4Address>,

    /// Ask the link's DHCP server for the IPv4 address, subnet and router
    /// instead of --ip and --gateway (which it excludes). The lease is
    /// logged (address, server, router, lease time), and so are its
    /// renewals, a change of address and its loss; the services, the
    /// discovery announcement and SNTP follow the address. Until a lease
    /// comes, only IPv6 is answered. IPv6 keeps --ipv6.
    #[arg(long, conflicts_with_all = ["ip", "gateway"])]
    pub dhcp: bool,

    /// With --dhcp: renew the lease at least this often (half of it, as
    /// DHCP renews at half the lease time), whatever the server grants,
    /// e.g. 60s: to watch renewals, or to notice a new network sooner.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "dhcp")]
    pub dhcp_max_lease: Option<Duration>,

    /// udpkit's MAC address.
    #[arg(long, default_value = "02:00:00:00:00:01", value_name = "MAC", value_parser = parse_mac)]
    pub mac: EthernetAddress,

    /// Create the TAP if it does not exist, give the Linux side --host-ip and
    /// bring it up; it is removed again on exit. Needs root (CAP_NET_ADMIN).
    /// A TAP that exists is used as it is, and left in place.
    #[arg(long)]
    pub create: bool,

    /// The Linux side's address on a TAP created by --create.
    #[arg(long, default_value = "192.168.69.100/24", value_name = "CIDR", value_parser = parse_cidr)]
    pub host_ip: Ipv4Cidr,

    /// udpkit's IPv6 address and prefix (unique local).
    #[arg(long, default_value = "fdaa::1/64", value_name = "CIDR", value_parser = parse_ipv6_cidr)]
    pub ipv6: Ipv6Cidr,

    /// udpkit's IPv6 link-local address.
    #[arg(long, default_value = "fe80::1/64", value_name = "CIDR", value_parser = parse_ipv6_cidr)]
    pub ipv6_link_local: Ipv6Cidr,

    /// The Linux side's IPv6 address on a TAP created by --create.
    #[arg(long, default_value = "fdaa::100/64", value_name = "CIDR", value_parser = parse_ipv6_cidr)]
    pub host_ipv6: Ipv6Cidr,

    /// IPv4 only: no IPv6 addresses at all.
    #[arg(long)]
    pub no_ipv6: bool,

    /// Which services to run, comma separated [default: all, as listed
    /// below].
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = service_by_name)]
    pub services: Option<Vec<ServiceInfo>>,

    /// Move a service to another port, e.g. --port echo=7007 (repeatable).
    #[arg(long = "port", value_name = "SERVICE=PORT", value_parser = parse_port_override)]
    pub ports: Vec<(ServiceInfo, u16)>,

    /// Chat: members at once (at most 64).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub chat_members: u16,

    /// Chat: rooms at once, the lobby included (at most 16).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    pub chat_rooms: u16,

    /// Chat: longest message, in bytes.
    #[arg(long, default_value_t = 400, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(1..=900))]
    pub chat_message_max: u16,

    /// Chat: members silent this long are dropped (any datagram counts).
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    pub chat_idle: Duration,

    /// Chat: lines per second a member may send on average (bursts of 4x).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub chat_rate: u32,

    /// Chat: send each message back to its sender too, as the room sees it
    /// (IRCv3's echo-message): a delivery mark, and the one reply that
    /// tutorial clients, which read a line for each line sent, wait for.
    #[arg(long, default_value = "on", value_name = "on|off", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub chat_echo: bool,

    #[command(flatten)]
    pub discovery: ServeDiscoveryArgs,

    /// Take the wall clock from this NTP server (port 123 unless given)
    /// with udpkit's own SNTP client, instead of the host's clock, as a
    /// board without a clock would: time, daytime and NTP answer once it
    /// has synced (NTP at the server's stratum + 1). The host's clock is
    /// never set.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_ntp_server)]
    pub sntp_server: Option<std::net::SocketAddrV4>,

    /// With --sntp-server: time between requests once synced (at least 15s;
    /// failures back off from 15s to the same).
    #[arg(long, default_value = "1024s", value_name = "DURATION", value_parser = parse_duration)]
    pub sntp_interval: Duration,

    /// Write every frame udpkit's stack receives and sends to FILE, in the
    /// pcap format (tcpdump -r FILE, Wireshark). The frames as the stack
    /// sees them: incoming ones after --drop/--corrupt/--delay, outgoing
    /// ones before.
    #[arg(long, value_name = "FILE", help_heading = "Faults on purpose")]
    pub pcap: Option<std::path::PathBuf>,

    /// Drop each frame with probability P, from 0 to 1 (or a percentage,
    /// 10%): frames in (read from the TAP) and frames out alike.
    #[arg(long = "drop", value_name = "P", default_value = "0", value_parser = faults::parse_chance,
          help_heading = "Faults on purpose")]
    pub drop_chance: f64,

    /// Flip one random bit of each frame with probability P, from 0 to 1
    /// (or 10%): frames in and frames out alike (of those not dropped).
    #[arg(long = "corrupt", value_name = "P", default_value = "0", value_parser = faults::parse_chance,
          help_heading = "Faults on purpose")]
    pub corrupt_chance: f64,

    /// Hold each frame this long: frames in and frames out alike, so a
    /// round trip takes twice as long. Seconds (0.05) or with a unit as
    /// --timeout takes them (50ms, 1s); at most 1h, 1024 frames held each
    /// way (more are dropped and counted).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = faults::parse_delay,
          help_heading = "Faults on purpose")]
    pub delay: Duration,
}

/// `IP` or `IP:PORT` of an NTP server.
fn parse_ntp_server(text: &str) -> Result<std::net::SocketAddrV4, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let ip: Ipv4Address = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address, or one with :PORT"))?;
    Ok(std::net::SocketAddrV4::new(ip, udpkit::wire::ntp::PORT))
}

fn help() -> String {
    let mut text = String::from("Services and their default ports:\n");
    for s in CATALOG {
        text.push_str(&format!(
            "  {:<9} {:>5}  {}\n",
            s.name, s.default_port, s.summary
        ));
    }
    let defaults = Config::default();
    text.push_str(&format!(
        "\nDefaults: TAP tap0, udpkit at {} (MAC {}), Linux side {} with --create.\n\
         Datagrams from port 0, from well-known service ports (7, 9, 13, 19, 37, 123) or\n\
         our own, and from broadcast/multicast sources are never answered (no loops).\n\n\
         Examples:\n  \
         sudo udpkit serve --create\n  \
         sudo udpkit serve --tap tap1 --ip 10.0.5.2/24 --gateway 10.0.5.1\n  \
         sudo udpkit serve --tap tap1 --dhcp\n  \
         sudo udpkit serve --services echo,time --port echo=7007\n  \
         sudo udpkit serve --create --drop 0.1 --corrupt 0.1 --pcap frames.pcap\n\n\
         Faults on purpose (--drop, --corrupt, --delay) sit between the TAP and the stack and\n\
         apply to every frame, in and out. They are logged at startup, SIGUSR1 pauses and\n\
         resumes them (frames already delayed still wait their turn), and on exit the counters\n\
         account for every frame: read = to the stack + dropped + delay line full + still\n\
         delayed, and the same for frames out.",
        defaults.address,
        Mac(defaults.mac),
        "192.168.69.100/24"
    ));
    text
}

/// `--dhcp` and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpOptions {
    pub max_lease: Option<udpkit::smoltcp::time::Duration>,
}

/// Everything `serve` needs, parsed from the command line.
pub struct ServeOptions {
    pub tap: String,
    pub create: bool,
    pub host_address: Ipv4Cidr,
    /// The Linux side's IPv6 address on a TAP we create, if any.
    pub host_address_v6: Option<Ipv6Cidr>,
    pub config: Config,
    /// Take the IPv4 address from DHCP (ignoring `config.address` and
    /// `config.gateway`), leases capped at this if given.
    pub dhcp: Option<DhcpOptions>,
    /// (service, port), in start order.
    pub services: Vec<(ServiceInfo, u16)>,
    pub chat_limits: ChatLimits,
    pub discovery: DiscoveryOptions,
    /// Take the wall clock from this NTP server with the core's SNTP client
    /// instead of the host's clock.
    pub sntp: Option<SntpOptions>,
    /// Faults on the frames in and out of the TAP.
    pub faults: FaultPlan,
    /// Capture every frame into this file (pcap).
    pub pcap: Option<PathBuf>,
}

/// The options `args` ask for, checked: ports that collide, a port
/// moved for a service not running.
pub fn options(args: ServeArgs) -> Result<ServeOptions> {
    let mut services: Vec<(ServiceInfo, u16)> = Vec::new();
    for kind in args.services.unwrap_or_else(|| CATALOG.to_vec()) {
        if !services.iter().any(|(k, _)| *k == kind) {
            let port = kind
                .default_port
                .checked_add(args.port_offset)
                .with_context(|| {
                    format!(
                        "--port-offset {} moves {} past port 65535",
                        args.port_offset, kind.name
                    )
                })?;
            services.push((kind, port));
        }
    }
    for (kind, port) in args.ports {
        match services.iter_mut().find(|(k, _)| *k == kind) {
            Some(entry) => entry.1 = port,
            None => bail!(
                "--port {}={port}: {} is not in --services",
                kind.name,
                kind.name
            ),
        }
    }
    for (i, (kind, port)) in services.iter().enumerate() {
        if let Some((other, _)) = services[..i].iter().find(|(_, p)| p == port) {
            bail!("{} and {} both want port {port}", other.name, kind.name);
        }
    }
    if services.is_empty() {
        bail!("no services selected");
    }
    let sntp = args.sntp_server.map(|server| SntpOptions {
        server,
        interval: args.sntp_interval,
        local_port: udpkit::sntp::DEFAULT_LOCAL_PORT,
    });
    if let Some((kind, _)) = sntp.and_then(|s| services.iter().find(|(_, p)| *p == s.local_port)) {
        bail!(
            "{} is on port {}, which the SNTP client sends from",
            kind.name,
            udpkit::sntp::DEFAULT_LOCAL_PORT
        );
    }
    Ok(ServeOptions {
        tap: args.tap,
        create: args.create,
        host_address: args.host_ip,
        host_address_v6: (!args.no_ipv6).then_some(args.host_ipv6),
        config: Config {
            mac: args.mac,
            address: args.ip,
            gateway: args.gateway,
            ipv6: (!args.no_ipv6).then_some(args.ipv6),
            ipv6_link_local: (!args.no_ipv6).then_some(args.ipv6_link_local),
        },
        dhcp: args.dhcp.then(|| DhcpOptions {
            max_lease: args.dhcp_max_lease.map(|max| {
                udpkit::smoltcp::time::Duration::from_millis(
                    max.as_millis().min(u128::from(u32::MAX)) as u64,
                )
            }),
        }),
        services,
        discovery: args.discovery.options(),
        chat_limits: ChatLimits {
            max_members: usize::from(args.chat_members),
            max_rooms: usize::from(args.chat_rooms),
            max_message: usize::from(args.chat_message_max),
            idle_timeout: udpkit::smoltcp::time::Duration::from_millis(
                args.chat_idle.as_millis().min(u128::from(u32::MAX)) as u64,
            ),
            per_second: args.chat_rate,
            burst: args.chat_rate.saturating_mul(4),
            echo_to_sender: args.chat_echo,
            ..ChatLimits::default()
        },
        sntp,
        faults: FaultPlan {
            drop: args.drop_chance,
            corrupt: args.corrupt_chance,
            delay: udpkit::smoltcp::time::Duration::from_micros(
                args.delay.as_micros().min(u128::from(u64::MAX)) as u64,
            ),
        },
        pcap: args.pcap,
    })
}

/// Parses `name=port` as given to `--port`.
pub fn parse_port_override(text: &str) -> Result<(ServiceInfo, u16), String> {
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

pub fn service_by_name(name: &str) -> Result<ServiceInfo, String> {
    CATALOG
        .iter()
        .copied()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            let known: Vec<_> = CATALOG.iter().map(|s| s.name).collect();
            format!("unknown service '{name}' (known: {})", known.join(", "))
        })
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
