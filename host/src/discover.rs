//! Discovery on the host: the service's directory for `udpkit serve`, and
//! `udpkit discover`, the client that broadcasts `DISCOVER` and lists every
//! device that answers.
//!
//! The protocol is the core's: its datagrams are `udpkit::wire::discovery`,
//! the device's side `udpkit::services::discovery`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Args;
use serde::Serialize;
use udpkit::service::Service;
use udpkit::services::discovery::{self, Discovery, ReplyRepr, ServiceEntry};
use udpkit::smoltcp::wire::{EthernetAddress, IpCidr};
use udpkit::wire;
use udpkit::wire::discovery::{Field, ReplyPacket, MAX_ADDRESSES, NAME_CAP};

use crate::serve::ServiceKind;

// ---------------------------------------------------------------------------
// The service, for `udpkit serve`.

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
    services: &[(ServiceKind, u16)],
    (announce, port): (u8, u16),
) -> Result<Box<dyn Service>> {
    let name = options.name.as_str();
    if addresses.len() > MAX_ADDRESSES {
        log::warn!(
            "discovery: listing the first {MAX_ADDRESSES} of {} addresses",
            addresses.len()
        );
    }
    let entries: Vec<ServiceEntry<'_>> = services
        .iter()
        .map(|(kind, port)| ServiceEntry {
            name: kind.name,
            port: *port,
        })
        .collect();
    let directory = ReplyRepr {
        name,
        mac,
        addresses: &addresses[..addresses.len().min(MAX_ADDRESSES)],
        services: &entries,
    };
    let service = Discovery::new(&directory)
        .map_err(|e| anyhow::anyhow!("cannot start discovery: {e}"))?
        .announce(announce, port);
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
    let mut found: Vec<(IpAddr, u8)> = Vec::new();
    // SAFETY: getifaddrs fills `list` with a linked list it allocates, read
    // here only while it lives and released once with freeifaddrs. Every
    // address pointer is checked for null and read as the family it says.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return Vec::new();
        }
        let mut entry = list;
        while !entry.is_null() {
            let e = &*entry;
            entry = e.ifa_next;
            if e.ifa_flags & libc::IFF_UP as u32 == 0 || e.ifa_addr.is_null() {
                continue;
            }
            let address = sockaddr_ip(e.ifa_addr);
            let mask = (!e.ifa_netmask.is_null())
                .then(|| sockaddr_ip(e.ifa_netmask))
                .flatten();
            if let (Some(address), Some(mask)) = (address, mask) {
                found.push((address, prefix_len(mask)));
            }
        }
        libc::freeifaddrs(list);
    }
    let mut cidrs: Vec<(IpAddr, u8)> = if bind.is_unspecified() {
        found
            .into_iter()
            .filter(|(ip, _)| !ip.is_loopback() && !is_v6_link_local(*ip))
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

/// The IP address in a `sockaddr` of family AF_INET or AF_INET6.
///
/// # Safety
/// `address` must point to a valid sockaddr of the size its family says.
unsafe fn sockaddr_ip(address: *const libc::sockaddr) -> Option<IpAddr> {
    match i32::from((*address).sa_family) {
        libc::AF_INET => {
            let v4 = &*(address as *const libc::sockaddr_in);
            Some(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()))
        }
        libc::AF_INET6 => {
            let v6 = &*(address as *const libc::sockaddr_in6);
            Some(IpAddr::from(v6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

fn prefix_len(mask: IpAddr) -> u8 {
    match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones() as u8,
        IpAddr::V6(m) => u128::from(m).leading_ones() as u8,
    }
}

fn is_v6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

// ---------------------------------------------------------------------------
// The client: `udpkit discover`.

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
    let timeout = crate::duration::parse(text)?;
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
                Field::Mac(mac) => device.mac = Some(mac_text(mac)),
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

fn mac_text(mac: EthernetAddress) -> String {
    let octets: Vec<String> = mac.0.iter().map(|b| format!("{b:02x}")).collect();
    octets.join(":")
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
        Some(name) => interface_index(name)?,
        None => 0,
    };
    let destinations: Vec<SocketAddr> = targets
        .iter()
        .map(|&ip| match ip {
            IpAddr::V6(v6) if v6.is_multicast() || is_v6_link_local(ip) => {
                if scope == 0 {
                    bail!("{ip} is link-local: name the link with --interface");
                }
                Ok(SocketAddr::V6(SocketAddrV6::new(v6, args.port, 0, scope)))
            }
            _ => Ok(SocketAddr::new(ip, args.port)),
        })
        .collect::<Result<_>>()?;

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
        wait_readable(&sockets, wake.saturating_duration_since(now))?;
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

/// SO_BINDTODEVICE: the socket sends on and hears from link `name` only.
fn bind_to_device(socket: &UdpSocket, name: &str) -> Result<()> {
    let c_name = CString::new(name).context("interface name")?;
    let bytes = c_name.as_bytes_with_nul();
    // SAFETY: setsockopt reads `bytes.len()` bytes from a buffer of that
    // length, on a socket we own.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        bail!(
            "cannot use interface {name}: {error}{}",
            match error.raw_os_error() {
                Some(libc::ENODEV) => " (no such interface)",
                Some(libc::EPERM) => " (this kernel wants CAP_NET_RAW for it)",
                _ => "",
            }
        );
    }
    Ok(())
}

fn interface_index(name: &str) -> Result<u32> {
    let c_name = CString::new(name).context("interface name")?;
    // SAFETY: a valid NUL-terminated string for the length of the call.
    let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if index == 0 {
        bail!("no interface {name}");
    }
    Ok(index)
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

/// Waits until a socket is readable or `timeout` passes.
fn wait_readable(sockets: &[(bool, UdpSocket)], timeout: Duration) -> Result<()> {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|(_, s)| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // Round up, so a short wait is not a busy loop.
    let ms = timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
    // SAFETY: `fds` is a valid array of pollfd for the whole call.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error).context("waiting for replies");
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
    fn the_default_name_is_valid() {
        assert!(wire::discovery::valid_name(&default_name()));
        assert!(parse_name("lab board 3").is_ok());
        assert!(parse_name(" x").is_err());
        assert!(parse_name(&"x".repeat(NAME_CAP + 1)).is_err());
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

    #[test]
    fn prefix_lengths_from_masks() {
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
        assert_eq!(prefix_len("0.0.0.0".parse().unwrap()), 0);
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
