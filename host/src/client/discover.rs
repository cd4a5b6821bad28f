//! `udpkit discover`: broadcasts `DISCOVER` and lists every device that
//! answers.
//!
//! The protocol is the core's: its datagrams are `udpkit::wire::discovery`,
//! the device's side `udpkit::services::discovery`; `serve` builds its
//! directory in [`crate::serve`]'s own discovery module, which this client
//! does not need.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde::Serialize;
use udpkit::services::discovery;
use udpkit::wire;
use udpkit::wire::discovery::{Field, ReplyPacket};

use crate::linux::netif;
use crate::linux::poll::PollSet;
use crate::linux::socket::bind_to_device;
use crate::text::{parse_duration, Mac};

/// Find udpkit devices: broadcast DISCOVER and list every device that answers.
#[derive(Args)]
#[command(
    after_help = "Sends `DISCOVER udpkit/1` to the limited broadcast address \
    255.255.255.255 (or to each --broadcast ADDR: a subnet's broadcast address, one device's \
    own address, or ff02::1, the IPv6 all-nodes group, with --interface), resends it --retries \
    times within --timeout, and lists each device that answered once, sorted by address. \
    Exits non-zero when none did.\n\n\
    The request is padded with spaces to 681 bytes, the longest reply: a device answers a \
    request shorter than its reply only from a small shared byte budget (so that a forged \
    source cannot make it an amplifier); a padded one never needs it.\n\n\
    Without --interface the kernel's routing picks the link the limited broadcast leaves on \
    (the default route's); name the link to ask another one.\n\n\
    The same by hand: printf 'DISCOVER%672s\\n' | socat -t1 - UDP-DATAGRAM:192.168.69.255:5550,broadcast \
    (not nc -u -b: it hears only the broadcast address, and replies come from the devices').\n\n\
    Examples:\n  \
    udpkit discover\n  \
    udpkit discover --interface tap0\n  \
    udpkit discover --broadcast 192.168.69.255 --timeout 2s\n  \
    udpkit discover --interface br0 --broadcast ff02::1 --json"
)]
pub struct DiscoverArgs {
    /// Where to send DISCOVER (repeatable): a broadcast, unicast or IPv6
    /// multicast address. Default: 255.255.255.255.
    #[arg(long, value_name = "ADDR")]
    broadcast: Vec<IpAddr>,

    /// The link to ask on (Linux SO_BINDTODEVICE): broadcasts and IPv6
    /// multicast leave on it, whatever the routes say.
    #[arg(long, short, value_name = "IFACE")]
    interface: Option<String>,

    /// The devices' discovery port.
    #[arg(long, default_value_t = discovery::DEFAULT_PORT)]
    port: u16,

    /// How long to collect replies (at most an hour).
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_timeout)]
    timeout: Duration,

    /// How many times to resend DISCOVER within --timeout, for a lost
    /// request or reply (replies are merged).
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10))]
    retries: u32,

    /// One line of JSON (an array of devices) instead of the table.
    #[arg(long)]
    json: bool,
}

/// `--timeout`: a duration of at most an hour, so deadlines cannot
/// overflow.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout > Duration::from_secs(3600) {
        return Err("at most an hour".into());
    }
    Ok(timeout)
}

/// The most devices one run lists: replies beyond it (a flood of made-up
/// ones) are counted and dropped, so memory stays bounded.
const MAX_DEVICES: usize = 4096;

/// One device, as it answered.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    /// The source addresses its replies came from, lowest first.
    pub answered_from: Vec<IpAddr>,
    pub mac: Option<String>,
    /// The addresses it lists, with their prefix lengths.
    pub addresses: Vec<String>,
    pub services: Vec<DeviceService>,
    pub version: u16,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeviceService {
    pub name: String,
    pub port: u16,
}

impl Device {
    /// The device a reply describes; `None` when it is no reply.
    pub fn from_reply(payload: &[u8], from: IpAddr) -> Option<Device> {
        let packet = ReplyPacket::new_checked(payload).ok()?;
        let mut device = Device {
            name: String::new(),
            answered_from: vec![from],
            mac: None,
            addresses: Vec::new(),
            services: Vec::new(),
            version: packet.version(),
        };
        for field in packet.fields() {
            match field {
                Field::Name(name) if device.name.is_empty() => device.name = name.to_string(),
                Field::Mac(mac) => device.mac = Some(Mac(mac).to_string()),
                Field::Address(cidr) => device.addresses.push(cidr.to_string()),
                Field::Service(s) => device.services.push(DeviceService {
                    name: s.name.to_string(),
                    port: s.port,
                }),
                _ => {}
            }
        }
        Some(device)
    }

    fn first_address(&self) -> Option<IpAddr> {
        self.answered_from.first().copied()
    }
}

pub fn run(args: DiscoverArgs) -> Result<()> {
    let targets: Vec<IpAddr> = if args.broadcast.is_empty() {
        vec![IpAddr::V4(Ipv4Addr::BROADCAST)]
    } else {
        args.broadcast.clone()
    };
    let devices = discover(&args, &targets)?;
    if devices.is_empty() {
        let to: Vec<String> = targets.iter().map(ToString::to_string).collect();
        bail!(
            "no device answered DISCOVER to {} port {} within {}",
            to.join(", "),
            args.port,
            humantime::format_duration(args.timeout)
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&devices)?);
    } else {
        print!("{}", table(&devices));
    }
    Ok(())
}

/// Sends DISCOVER to every target, `1 + retries` times spread over the
/// timeout, and collects the devices that answer, sorted by address.
fn discover(args: &DiscoverArgs, targets: &[IpAddr]) -> Result<Vec<Device>> {
    let mut sockets: Vec<(bool, UdpSocket)> = Vec::new();
    for ipv6 in [false, true] {
        if targets.iter().any(|t| t.is_ipv6() == ipv6) {
            sockets.push((ipv6, open_socket(ipv6, args.interface.as_deref())?));
        }
    }
    let scope = match &args.interface {
        Some(name) => netif::index(name)
            .with_context(|| format!("cannot look up interface {name}"))?
            .with_context(|| format!("no interface {name}"))?,
        None => 0,
    };
    let destinations: Vec<SocketAddr> = targets
        .iter()
        .map(|&ip| match ip {
            IpAddr::V6(v6) if v6.is_multicast() || v6.is_unicast_link_local() => {
                if scope == 0 {
                    bail!("{ip} is link-local: name the link with --interface");
                }
                Ok(SocketAddr::V6(SocketAddrV6::new(v6, args.port, 0, scope)))
            }
            _ => Ok(SocketAddr::new(ip, args.port)),
        })
        .collect::<Result<_>>()?;

    let fds: Vec<_> = sockets.iter().map(|(_, s)| s.as_raw_fd()).collect();
    let mut sleep = PollSet::new(&fds);
    let start = Instant::now();
    let deadline = start + args.timeout;
    let sends = args.retries + 1;
    let mut next_send = 0;
    // Devices by their reply: the same device answering from two
    // addresses (IPv4 and IPv6) is one device.
    let mut devices: BTreeMap<Vec<u8>, Device> = BTreeMap::new();
    let mut not_replies = 0;
    let mut too_many = 0;
    let mut buffer = vec![0u8; 65_536];
    loop {
        let now = Instant::now();
        if next_send < sends && now >= start + args.timeout * next_send / sends {
            send_all(&sockets, &destinations, next_send == 0)?;
            next_send += 1;
            continue;
        }
        if now >= deadline {
            break;
        }
        let mut wake = deadline;
        if next_send < sends {
            wake = wake.min(start + args.timeout * next_send / sends);
        }
        // Round up, so a short wait is not a busy loop.
        let wait = wake.saturating_duration_since(now);
        sleep
            .wait(Some(Duration::from_millis(
                wait.as_micros().div_ceil(1000) as u64
            )))
            .context("waiting for replies")?;
        for (_, socket) in &sockets {
            // A bounded number of reads per wake: a flood cannot keep us
            // from the deadline.
            for _ in 0..1024 {
                let (len, from) = match socket.recv_from(&mut buffer) {
                    Ok(received) => received,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // An ICMP error for one of our requests (a unicast
                    // target with no service): nobody there to list.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => return Err(e).context("receiving replies"),
                };
                let payload = &buffer[..len];
                let from = canonical(from.ip());
                match devices.get_mut(payload) {
                    Some(device) => {
                        if !device.answered_from.contains(&from) {
                            device.answered_from.push(from);
                            device.answered_from.sort();
                        }
                    }
                    None => match Device::from_reply(payload, from) {
                        Some(device) if devices.len() < MAX_DEVICES => {
                            devices.insert(payload.to_vec(), device);
                        }
                        Some(_) => too_many += 1,
                        None => not_replies += 1,
                    },
                }
            }
        }
    }
    if not_replies > 0 {
        log::warn!("ignored {not_replies} datagram(s) that were not discovery replies");
    }
    if too_many > 0 {
        log::warn!("ignored {too_many} device(s) beyond the first {MAX_DEVICES}");
    }
    let mut devices: Vec<Device> = devices.into_values().collect();
    devices.sort_by(|a, b| (a.first_address(), &a.name).cmp(&(b.first_address(), &b.name)));
    warn_about_conflicts(&devices);
    Ok(devices)
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Two different replies from one address: two devices share it.
fn warn_about_conflicts(devices: &[Device]) {
    let mut seen: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for device in devices {
        for &address in &device.answered_from {
            if let Some(other) = seen.insert(address, &device.name) {
                log::warn!(
                    "{address} answered as two devices ({other} and {}): an address conflict?",
                    device.name
                );
            }
        }
    }
}

fn open_socket(ipv6: bool, interface: Option<&str>) -> Result<UdpSocket> {
    let local: SocketAddr = if ipv6 {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let socket = UdpSocket::bind(local).context("cannot open a UDP socket")?;
    // Read after a poll of all the sockets, until each is empty.
    socket.set_nonblocking(true)?;
    socket
        .set_broadcast(true)
        .context("cannot enable broadcasts (SO_BROADCAST)")?;
    if let Some(name) = interface {
        bind_to_device(&socket, name)?;
    }
    Ok(socket)
}

fn send_all(sockets: &[(bool, UdpSocket)], destinations: &[SocketAddr], first: bool) -> Result<()> {
    let mut sent = 0;
    let mut failures = Vec::new();
    for destination in destinations {
        let Some((_, socket)) = sockets.iter().find(|(v6, _)| *v6 == destination.is_ipv6()) else {
            continue;
        };
        match socket.send_to(&wire::discovery::PADDED_REQUEST, destination) {
            Ok(_) => sent += 1,
            Err(e) => failures.push((destination, e)),
        }
    }
    for (destination, error) in &failures {
        let hint = match error.raw_os_error() {
            Some(libc::ENETUNREACH) => ": no route; name the link with --interface IFACE",
            Some(libc::EACCES) => ": broadcasts refused",
            _ => "",
        };
        if sent == 0 && first {
            bail!("cannot send to {destination}: {error}{hint}");
        }
        // Later resends or other targets may still work: say it once.
        if first {
            log::warn!("cannot send to {destination}: {error}{hint}");
        }
    }
    Ok(())
}

/// The devices as a table: name, the addresses they answered from, and
/// their services as `name=port` (as `serve --port` takes them).
pub fn table(devices: &[Device]) -> String {
    let rows: Vec<[String; 3]> = devices
        .iter()
        .map(|d| {
            let from: Vec<String> = d.answered_from.iter().map(ToString::to_string).collect();
            let services: Vec<String> = d
                .services
                .iter()
                .map(|s| format!("{}={}", s.name, s.port))
                .collect();
            [d.name.clone(), from.join(", "), services.join(" ")]
        })
        .collect();
    let header = ["NAME".to_string(), "ADDRESS".into(), "SERVICES".into()];
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| unicode_width::UnicodeWidthStr::width(r[i].as_str()))
            .max()
            .unwrap_or(0)
    };
    let (name_width, address_width) = (width(0), width(1));
    let mut text = String::new();
    for row in [&header].into_iter().chain(&rows) {
        let pad = |s: &str, w: usize| {
            let used = unicode_width::UnicodeWidthStr::width(s);
            format!("{s}{}", " ".repeat(w.saturating_sub(used)))
        };
        text.push_str(&format!(
            "{}  {}  {}\n",
            pad(&row[0], name_width),
            pad(&row[1], address_width),
            row[2]
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &[u8] = b"UDPKIT 1\nname alpha\nmac 02:00:00:00:00:01\n\
        address 192.168.69.1/24\naddress fdaa::1/64\nservice echo 7\nservice discovery 5550\n";

    #[test]
    fn a_reply_becomes_a_device() {
        let from: IpAddr = "192.168.69.1".parse().unwrap();
        let device = Device::from_reply(REPLY, from).unwrap();
        assert_eq!(device.name, "alpha");
        assert_eq!(device.mac.as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(device.addresses, ["192.168.69.1/24", "fdaa::1/64"]);
        assert_eq!(device.answered_from, [from]);
        assert_eq!(
            device.services,
            [
                DeviceService {
                    name: "echo".into(),
                    port: 7
                },
                DeviceService {
                    name: "discovery".into(),
                    port: 5550
                }
            ]
        );
        assert_eq!(Device::from_reply(b"hello", from), None);
    }

    #[test]
    fn the_table_lines_up() {
        let a = Device::from_reply(REPLY, "192.168.69.1".parse().unwrap()).unwrap();
        let mut b = a.clone();
        b.name = "bänk-2".into();
        b.answered_from = vec!["192.168.69.2".parse().unwrap(), "fdaa::2".parse().unwrap()];
        assert_eq!(
            table(&[a, b]),
            "NAME    ADDRESS                SERVICES\n\
             alpha   192.168.69.1           echo=7 discovery=5550\n\
             bänk-2  192.168.69.2, fdaa::2  echo=7 discovery=5550\n"
        );
    }

    #[test]
    fn the_timeout_is_bounded() {
        assert_eq!(parse_timeout("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_timeout("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_timeout("3601").is_err());
        assert!(parse_timeout("2h").is_err());
        assert!(parse_timeout("1000years").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn the_request_is_padded_to_the_longest_reply() {
        let request = &wire::discovery::PADDED_REQUEST;
        assert_eq!(request.len(), wire::discovery::MAX_REPLY);
        assert!(request.starts_with(wire::discovery::REQUEST.strip_suffix(b"\n").unwrap()));
        assert!(wire::DiscoveryRequestRepr::parse(request).is_ok());
        // The help says how long it is.
        assert_eq!(wire::discovery::MAX_REPLY, 681);
    }
}
