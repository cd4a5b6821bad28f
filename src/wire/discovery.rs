//! The discovery datagrams: the `DISCOVER` request a client broadcasts,
//! and the reply in which a device names itself, its addresses and its
//! services. Text, so `socat` and `nc` speak it too:
//!
//! ```text
//! $ printf 'DISCOVER\n' | socat -t1 - UDP-DATAGRAM:192.168.69.255:5550,broadcast
//! UDPKIT 1
//! name lab-board-3
//! mac 02:00:00:00:00:01
//! address 192.168.69.1/24
//! address fdaa::1/64
//! service echo 7
//! service daytime 13
//! service discovery 5550
//! ```
//!
//! The server is [`services::discovery`](crate::services::discovery) (who
//! is answered, how often, announcements); the host's `udpkit discover` is
//! a client. Both read and write the datagrams here.
//!
//! # Protocol, version 1
//!
//! - **Transport.** UDP, port 5550 unless configured otherwise. The request
//!   goes to the subnet broadcast address (192.168.69.255), the limited
//!   broadcast address (255.255.255.255), the IPv6 all-nodes group
//!   (ff02::1), or one device's own address (a directory query of that
//!   device). Nothing here depends on the address family: the reply goes
//!   back the way the request came.
//! - **Request** ([`RequestRepr`]). `DISCOVER`, optionally followed by
//!   `udpkit/<version>` (the version the client speaks, a decimal number
//!   from 1), separated by spaces or tabs, optionally ended by one `\n` or
//!   `\r\n`: at most [`MAX_REQUEST`] bytes. The keyword and the `udpkit/`
//!   prefix are case-insensitive (people type them into `nc`). A device
//!   answers every version with the newest it speaks, and says which in its
//!   header, so a client of a later version can tell an older device.
//! - **Padding.** Spaces and tabs before the line ending are padding, and
//!   ignored; the request, padding included, is at most [`MAX_REQUEST`]
//!   bytes (one datagram on any link). A client pads its request to
//!   [`PADDED_REQUEST_LEN`] bytes, the longest reply ([`MAX_REPLY`]), so
//!   that no reply is larger than its request and the device never needs
//!   its byte budget for it: [`PADDED_REQUEST`] is `udpkit discover`'s
//!   request, and by hand, `printf 'DISCOVER%672s\n'`. An unpadded request
//!   is still answered, within the device's budget.
//! - **Reply** ([`ReplyRepr`] written, [`ReplyPacket`] read). UTF-8 text,
//!   one field per line, each line ended by `\n`. The first line is
//!   `UDPKIT <version>`; then, in this order:
//!   - `name <device name>`: the rest of the line, 1 to [`NAME_CAP`] bytes,
//!     no control characters, no leading or trailing space;
//!   - `mac <aa:bb:cc:dd:ee:ff>`: at most once, when the device has one;
//!   - `address <address>/<prefix length>`: each of the device's addresses,
//!     IPv4 or IPv6, at most [`MAX_ADDRESSES`];
//!   - `service <name> <port>`: each UDP service and its port, at most
//!     [`MAX_SERVICES`]; names are 1 to [`SERVICE_NAME_CAP`] bytes of
//!     `A-Z a-z 0-9 _ - .`.
//!
//!   Clients skip lines they do not know (later versions may add fields).
//!   The reply is at most [`MAX_REPLY`] bytes, less than the 1232 bytes a
//!   datagram carries unfragmented on any IPv6 link (1280-byte minimum
//!   MTU), so it is always exactly one datagram.
//! - **Anything else** — another keyword, an unknown argument, a version
//!   0, binary, too long — is not a request ([`Error`]) and gets no reply.
//!
//! # Round trips
//!
//! A [`RequestRepr`] reads back as written, and any request that parses is
//! written back (without its padding) as one that parses the same. A
//! [`ReplyRepr`] that passes [`ReplyRepr::check`] reads back field by field
//! as written: its name, its MAC address, its addresses and its services,
//! in that order, and no other field.

use core::fmt::{self, Write};

use smoltcp::wire::{EthernetAddress, IpCidr};

use super::{strip_line_ending, write_decimal, write_hex, Counter, Error, Result, SliceWriter};

/// The protocol version this module speaks.
pub const VERSION: u16 = 1;

/// The request keyword.
pub const KEYWORD: &str = "DISCOVER";

/// The request a client of this version sends.
pub const REQUEST: &[u8] = b"DISCOVER udpkit/1\n";

/// The longest request answered, in bytes, padding included: what a
/// datagram carries unfragmented on any IPv6 link (1280-byte minimum MTU).
pub const MAX_REQUEST: usize = 1232;

/// Longest device name, in bytes (a Linux host name is up to 64).
pub const NAME_CAP: usize = 64;

/// Longest service name, in bytes.
pub const SERVICE_NAME_CAP: usize = 16;

/// Most addresses a reply lists.
pub const MAX_ADDRESSES: usize = 4;

/// Most services a reply lists: as many as one stack runs (the discovery
/// service checks that a stack's limit fits).
pub const MAX_SERVICES: usize = 12;

/// The header line of a reply of this version.
const HEADER: &str = "UDPKIT 1\n";

/// The longest address line: `address ` and the longest IPv6 address with
/// its prefix (`ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128`).
const ADDRESS_LINE_CAP: usize = "address ".len() + 39 + "/128".len() + 1;

/// The longest service line: `service NAME 65535`.
const SERVICE_LINE_CAP: usize = "service ".len() + SERVICE_NAME_CAP + " 65535".len() + 1;

/// The longest reply: every field at its longest.
pub const MAX_REPLY: usize = HEADER.len()
    + ("name ".len() + NAME_CAP + 1)
    + "mac 02:00:00:00:00:01\n".len()
    + MAX_ADDRESSES * ADDRESS_LINE_CAP
    + MAX_SERVICES * SERVICE_LINE_CAP;

/// The length a client pads its request to: the longest reply, so that no
/// reply is larger than the request.
pub const PADDED_REQUEST_LEN: usize = MAX_REPLY;

/// The request `udpkit discover` sends: [`REQUEST`] padded with spaces to
/// [`PADDED_REQUEST_LEN`] bytes, its line ending last.
pub const PADDED_REQUEST: [u8; PADDED_REQUEST_LEN] = padded(REQUEST);

const _: () = assert!(REQUEST.len() <= PADDED_REQUEST_LEN && PADDED_REQUEST_LEN <= MAX_REQUEST);

/// `request` (a line ended by `\n`) with spaces before its `\n`, to
/// [`PADDED_REQUEST_LEN`] bytes. Evaluated at compile time only.
const fn padded(request: &[u8]) -> [u8; PADDED_REQUEST_LEN] {
    let mut padded = [b' '; PADDED_REQUEST_LEN];
    let mut i = 0;
    while i + 1 < request.len() {
        padded[i] = request[i];
        i += 1;
    }
    padded[PADDED_REQUEST_LEN - 1] = b'\n';
    padded
}

// ---------------------------------------------------------------------------
// The request.

/// A valid `DISCOVER` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRepr {
    /// The version the client named (`udpkit/N`), if it named one.
    pub version: Option<u16>,
}

impl RequestRepr {
    /// Reads a request, as the module documentation describes it.
    pub fn parse(payload: &[u8]) -> Result<RequestRepr> {
        if payload.len() > MAX_REQUEST {
            return Err(Error);
        }
        let line = strip_line_ending(payload);
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        if !words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(KEYWORD.as_bytes()))
        {
            return Err(Error);
        }
        let version = match words.next() {
            None => None,
            Some(word) => Some(parse_version(word).ok_or(Error)?),
        };
        if words.next().is_some() {
            return Err(Error);
        }
        Ok(RequestRepr { version })
    }

    /// The request's length on the wire, line ending included.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter::default();
        // Counting cannot fail.
        let _ = self.write(&mut counter);
        counter.len()
    }

    /// Writes the request into `buffer`; returns its length, or an error
    /// when `buffer` is shorter than [`RequestRepr::buffer_len`].
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let mut writer = SliceWriter::new(buffer);
        self.write(&mut writer).map_err(|_| Error)?;
        Ok(writer.len())
    }

    fn write(&self, out: &mut dyn Write) -> fmt::Result {
        out.write_str(KEYWORD)?;
        if let Some(version) = self.version {
            out.write_str(" udpkit/")?;
            write_decimal(out, u64::from(version), 0, b' ')?;
        }
        out.write_str("\n")
    }
}

/// `udpkit/N` with N a decimal number from 1; the prefix in any case.
fn parse_version(word: &[u8]) -> Option<u16> {
    const PREFIX: &[u8] = b"udpkit/";
    let prefix = word.get(..PREFIX.len())?;
    let digits = word.get(PREFIX.len()..)?;
    if !prefix.eq_ignore_ascii_case(PREFIX)
        || digits.is_empty()
        || digits.len() > 5
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let version = digits
        .iter()
        .try_fold(0u32, |n, &d| Some(n * 10 + u32::from(d - b'0')))?;
    u16::try_from(version).ok().filter(|&v| v >= 1)
}

// ---------------------------------------------------------------------------
// The reply, written.

/// One entry of the service directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceEntry<'a> {
    /// The service's name: 1 to [`SERVICE_NAME_CAP`] bytes of
    /// `A-Z a-z 0-9 _ - .`.
    pub name: &'a str,
    /// The UDP port it answers on (not 0).
    pub port: u16,
}

/// What a device says about itself: the contents of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyRepr<'a> {
    /// The device's name (see [`valid_name`]).
    pub name: &'a str,
    /// Its Ethernet address, when it has one.
    pub mac: Option<EthernetAddress>,
    /// Its addresses with their prefix lengths, at most [`MAX_ADDRESSES`].
    pub addresses: &'a [IpCidr],
    /// Its services, at most [`MAX_SERVICES`].
    pub services: &'a [ServiceEntry<'a>],
}

/// Why a directory cannot be made into a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectoryError {
    /// Empty, longer than [`NAME_CAP`], with a control character, or with
    /// space at either end.
    BadName,
    /// Empty, longer than [`SERVICE_NAME_CAP`], or with characters other
    /// than `A-Z a-z 0-9 _ - .`.
    BadServiceName,
    /// A service on port 0.
    BadPort,
    /// More than [`MAX_ADDRESSES`].
    TooManyAddresses,
    /// More than [`MAX_SERVICES`].
    TooManyServices,
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::BadName => write!(
                f,
                "the device name must be 1 to {NAME_CAP} bytes without control characters \
                 or space at either end"
            ),
            DirectoryError::BadServiceName => write!(
                f,
                "a service name must be 1 to {SERVICE_NAME_CAP} bytes of A-Z a-z 0-9 _ - ."
            ),
            DirectoryError::BadPort => write!(f, "a service cannot be on port 0"),
            DirectoryError::TooManyAddresses => {
                write!(f, "more than {MAX_ADDRESSES} addresses")
            }
            DirectoryError::TooManyServices => write!(f, "more than {MAX_SERVICES} services"),
        }
    }
}

/// Whether `name` may be a device name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= NAME_CAP
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// Whether `name` may be a service name.
pub fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= SERVICE_NAME_CAP
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

impl ReplyRepr<'_> {
    /// Checks every field against the limits of the protocol.
    pub fn check(&self) -> core::result::Result<(), DirectoryError> {
        if !valid_name(self.name) {
            return Err(DirectoryError::BadName);
        }
        if self.addresses.len() > MAX_ADDRESSES {
            return Err(DirectoryError::TooManyAddresses);
        }
        if self.services.len() > MAX_SERVICES {
            return Err(DirectoryError::TooManyServices);
        }
        for service in self.services {
            if !valid_service_name(service.name) {
                return Err(DirectoryError::BadServiceName);
            }
            if service.port == 0 {
                return Err(DirectoryError::BadPort);
            }
        }
        Ok(())
    }

    /// The length of the reply: what [`ReplyRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter::default();
        // Counting cannot fail.
        let _ = self.write(&mut counter);
        counter.len()
    }

    /// Writes the reply into `buffer` after [`ReplyRepr::check`]; returns
    /// its length. A checked reply is at most [`MAX_REPLY`] bytes, so a
    /// buffer that long always holds it.
    pub fn emit(&self, buffer: &mut [u8]) -> core::result::Result<usize, EmitError> {
        self.check().map_err(EmitError::Directory)?;
        let mut writer = SliceWriter::new(buffer);
        self.write(&mut writer)
            .map_err(|_| EmitError::BufferTooSmall)?;
        Ok(writer.len())
    }

    /// Writes the reply field by field (not with `write!`: `core::fmt`'s
    /// machinery is kilobytes of flash on a board, see [`write_decimal`]).
    pub(crate) fn write(&self, out: &mut dyn Write) -> fmt::Result {
        out.write_str(HEADER)?;
        out.write_str("name ")?;
        out.write_str(self.name)?;
        if let Some(mac) = self.mac {
            // `02:00:00:00:00:01` (smoltcp writes `02-00-...`; `ip link`
            // and most people write colons).
            out.write_str("\nmac ")?;
            for (i, byte) in mac.0.iter().enumerate() {
                if i > 0 {
                    out.write_str(":")?;
                }
                write_hex(out, u64::from(*byte), 2)?;
            }
        }
        for address in self.addresses {
            out.write_str("\naddress ")?;
            write_cidr(out, address)?;
        }
        for service in self.services {
            out.write_str("\nservice ")?;
            out.write_str(service.name)?;
            out.write_str(" ")?;
            write_decimal(out, u64::from(service.port), 0, b' ')?;
        }
        out.write_str("\n")
    }
}

/// Why [`ReplyRepr::emit`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The directory breaks a limit of the protocol.
    Directory(DirectoryError),
    /// The buffer is shorter than the reply.
    BufferTooSmall,
}

/// An address and its prefix length as `Display` writes them:
/// `192.168.69.1/24`, `fdaa::1/64`.
fn write_cidr(out: &mut dyn Write, cidr: &IpCidr) -> fmt::Result {
    match cidr {
        IpCidr::Ipv4(cidr) => write_ipv4(out, cidr.address().octets())?,
        #[cfg(feature = "ipv6")]
        IpCidr::Ipv6(cidr) => write_ipv6(out, cidr.address())?,
    }
    out.write_str("/")?;
    write_decimal(out, u64::from(cidr.prefix_len()), 0, b' ')
}

/// `192.168.69.1`.
fn write_ipv4(out: &mut dyn Write, octets: [u8; 4]) -> fmt::Result {
    for (i, octet) in octets.iter().enumerate() {
        if i > 0 {
            out.write_str(".")?;
        }
        write_decimal(out, u64::from(*octet), 0, b' ')?;
    }
    Ok(())
}

/// An IPv6 address as RFC 5952 (and `core`'s `Display`) writes it: groups
/// in lowercase hex without leading zeros, the longest run of two or more
/// zero groups (the first of equal runs) as `::`, an IPv4-mapped address
/// as `::ffff:192.0.2.1`.
#[cfg(feature = "ipv6")]
fn write_ipv6(out: &mut dyn Write, address: smoltcp::wire::Ipv6Address) -> fmt::Result {
    if let Some(v4) = address.to_ipv4_mapped() {
        out.write_str("::ffff:")?;
        return write_ipv4(out, v4.octets());
    }
    let groups = address.segments();
    let (mut zeros_at, mut zeros) = (0, 0);
    let (mut run_at, mut run) = (0, 0);
    for (i, &group) in groups.iter().enumerate() {
        if group != 0 {
            run = 0;
            continue;
        }
        if run == 0 {
            run_at = i;
        }
        run += 1;
        if run > zeros {
            (zeros_at, zeros) = (run_at, run);
        }
    }
    /// Groups separated by `:`.
    fn write_groups(out: &mut dyn Write, groups: &[u16]) -> fmt::Result {
        for (i, group) in groups.iter().enumerate() {
            if i > 0 {
                out.write_str(":")?;
            }
            write_hex(out, u64::from(*group), 0)?;
        }
        Ok(())
    }
    if zeros < 2 {
        return write_groups(out, &groups);
    }
    write_groups(out, groups.get(..zeros_at).unwrap_or(&[]))?;
    out.write_str("::")?;
    write_groups(out, groups.get(zeros_at + zeros..).unwrap_or(&[]))
}

// ---------------------------------------------------------------------------
// The reply, read.

/// A reply (or announcement) as received: a checked view of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyPacket<'a> {
    /// The fields: everything after the header line.
    body: &'a str,
    version: u16,
}

/// One line of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field<'a> {
    /// `name <device name>`.
    Name(&'a str),
    /// `mac <aa:bb:cc:dd:ee:ff>`.
    Mac(EthernetAddress),
    /// `address <address>/<prefix length>`.
    Address(IpCidr),
    /// `service <name> <port>`.
    Service(ServiceEntry<'a>),
    /// A line this version does not know, or cannot read (an address family
    /// this build lacks): skipped by readers, kept for those who care.
    Other(&'a str),
}

impl<'a> ReplyPacket<'a> {
    /// Checks that `payload` is a reply: UTF-8 text whose first line is
    /// `UDPKIT <version>` with a version from 1. Any version is accepted:
    /// the fields of a later one are read as far as they are known.
    pub fn new_checked(payload: &'a [u8]) -> Result<ReplyPacket<'a>> {
        let text = core::str::from_utf8(payload).map_err(|_| Error)?;
        let (header, body) = text.split_once('\n').ok_or(Error)?;
        let header = header.strip_suffix('\r').unwrap_or(header);
        let version = header
            .strip_prefix("UDPKIT ")
            .filter(|v| !v.is_empty() && v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|&v| v >= 1)
            .ok_or(Error)?;
        Ok(ReplyPacket { body, version })
    }

    /// The version the device speaks.
    pub fn version(&self) -> u16 {
        self.version
    }

    /// The fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + 'a {
        self.body
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line))
            .filter(|line| !line.is_empty())
            .map(parse_field)
    }

    /// The device's name: the first `name` field.
    pub fn name(&self) -> Option<&'a str> {
        self.fields().find_map(|f| match f {
            Field::Name(name) => Some(name),
            _ => None,
        })
    }
}

fn parse_field(line: &str) -> Field<'_> {
    let (key, value) = line.split_once(' ').unwrap_or((line, ""));
    let parsed = match key {
        "name" if valid_name(value) => Some(Field::Name(value)),
        "mac" => value.parse().ok().map(Field::Mac),
        "address" => value.parse().ok().map(Field::Address),
        "service" => value.split_once(' ').and_then(|(name, port)| {
            let port = port.parse::<u16>().ok().filter(|&p| p != 0)?;
            valid_service_name(name).then_some(Field::Service(ServiceEntry { name, port }))
        }),
        _ => None,
    };
    parsed.unwrap_or(Field::Other(line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Address, Ipv4Cidr};
    use std::string::String;
    use std::vec::Vec;

    /// Addresses are written as their `Display` writes them (RFC 5952 for
    /// IPv6): the zero runs, the first of equal runs, a single zero group,
    /// IPv4-mapped and -compatible addresses, the ends of each range.
    #[test]
    fn addresses_are_written_as_display_writes_them() {
        use smoltcp::wire::{Ipv6Address, Ipv6Cidr};
        use std::string::ToString;
        let mut cidrs = std::vec![
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24)),
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(0, 0, 0, 0), 0)),
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(255, 255, 255, 255), 32)),
            IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(10, 0, 100, 9), 8)),
        ];
        let groups: [[u16; 8]; 13] = [
            [0xfdaa, 0, 0, 0, 0, 0, 0, 1],
            [0xfe80, 0, 0, 0, 0, 0, 0, 1],
            [0; 8],
            [0, 0, 0, 0, 0, 0, 0, 1],
            [1, 0, 0, 0, 0, 0, 0, 0],
            [0xffff; 8],
            [1, 0, 2, 3, 4, 5, 6, 7],
            [1, 0, 0, 2, 0, 0, 3, 4],
            [1, 0, 0, 2, 0, 0, 0, 4],
            [0x2001, 0xdb8, 0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201],
            [0, 0, 0, 0, 0, 0, 0xc000, 0x0201],
            [0x0abc, 0x00de, 0x000f, 0x1000, 0, 0xa, 0, 0],
        ];
        for groups in groups {
            let [a, b, c, d, e, f, g, h] = groups;
            let address = Ipv6Address::new(a, b, c, d, e, f, g, h);
            cidrs.push(IpCidr::Ipv6(Ipv6Cidr::new(address, 64)));
            cidrs.push(IpCidr::Ipv6(Ipv6Cidr::new(address, 128)));
        }
        for cidr in cidrs {
            let mut text = String::new();
            write_cidr(&mut text, &cidr).unwrap();
            assert_eq!(text, cidr.to_string());
        }
    }

    const SERVICES: [ServiceEntry<'static>; 3] = [
        ServiceEntry {
            name: "echo",
            port: 7,
        },
        ServiceEntry {
            name: "chat",
            port: 5555,
        },
        ServiceEntry {
            name: "discovery",
            port: 5550,
        },
    ];

    fn v4(a: [u8; 4], prefix: u8) -> IpCidr {
        IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::from_octets(a), prefix))
    }

    fn addresses() -> [IpCidr; 1] {
        [v4([192, 168, 69, 1], 24)]
    }

    const REPLY: &[u8] = b"UDPKIT 1\n\
        name bench-1\n\
        mac 02:00:00:00:00:01\n\
        address 192.168.69.1/24\n\
        service echo 7\n\
        service chat 5555\n\
        service discovery 5550\n";

    /// The reply of `repr`, emitted into a buffer of the longest reply.
    fn emitted(repr: &ReplyRepr<'_>) -> Vec<u8> {
        let mut buffer = [0u8; MAX_REPLY];
        let len = repr.emit(&mut buffer).unwrap();
        buffer[..len].to_vec()
    }

    /// The fields a reply of `repr` must read back as, in order.
    fn fields_of<'a>(repr: &ReplyRepr<'a>) -> Vec<Field<'a>> {
        let mut fields = std::vec![Field::Name(repr.name)];
        fields.extend(repr.mac.map(Field::Mac));
        fields.extend(repr.addresses.iter().map(|a| Field::Address(*a)));
        fields.extend(repr.services.iter().map(|s| Field::Service(*s)));
        fields
    }

    /// `udpkit discover`'s request, built by hand: padded with spaces to
    /// the longest reply, so that no reply is larger.
    fn padded_request() -> Vec<u8> {
        let mut request = b"DISCOVER udpkit/1".to_vec();
        request.resize(MAX_REPLY - 1, b' ');
        request.push(b'\n');
        request
    }

    #[test]
    fn a_directory_is_written_as_the_protocol_says_and_reads_back_field_by_field() {
        let addresses = addresses();
        let repr = ReplyRepr {
            name: "bench-1",
            mac: Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
            addresses: &addresses,
            services: &SERVICES,
        };
        let reply = emitted(&repr);
        assert_eq!(reply, REPLY, "{}", String::from_utf8_lossy(&reply));
        let packet = ReplyPacket::new_checked(&reply).unwrap();
        assert_eq!(packet.version(), VERSION);
        assert_eq!(packet.fields().collect::<Vec<_>>(), fields_of(&repr));
        let no_mac = ReplyRepr { mac: None, ..repr };
        let reply = emitted(&no_mac);
        let packet = ReplyPacket::new_checked(&reply).unwrap();
        assert_eq!(packet.fields().collect::<Vec<_>>(), fields_of(&no_mac));
    }

    #[test]
    fn requests_are_read_leniently_in_form() {
        for (text, version) in [
            (&b"DISCOVER"[..], None),
            (b"DISCOVER\n", None),
            (b"discover\r\n", None),
            (b"Discover udpkit/1", Some(1)),
            (b"DISCOVER UDPKIT/1\n", Some(1)),
            (b"  DISCOVER \t udpkit/2  \n", Some(2)),
            (b"DISCOVER udpkit/65535", Some(65535)),
            (REQUEST, Some(VERSION)),
        ] {
            assert_eq!(
                RequestRepr::parse(text),
                Ok(RequestRepr { version }),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn anything_but_a_request_is_malformed() {
        let long = [b' '; MAX_REQUEST - 8].iter().chain(b"DISCOVER");
        let too_long: Vec<u8> = long.copied().chain(*b" ").collect();
        for text in [
            &b""[..],
            b"\n",
            b"DISCOVERY",
            b"DISCOVE",
            b"DISCOVER me",
            b"DISCOVER udpkit/",
            b"DISCOVER udpkit/0",
            b"DISCOVER udpkit/65536",
            b"DISCOVER udpkit/1x",
            b"DISCOVER udpkit/-1",
            b"DISCOVER udpkat/1",
            b"DISCOVER udpkit/000001",
            b"DISCOVER udpkit/99999999999",
            b"DISCOVER udpkit/1 extra",
            b"DISCOVER\n\n",
            b"DISCOVER\0",
            b"\xffDISCOVER",
            b"UDPKIT 1\nname x\n",
            &too_long,
        ] {
            assert_eq!(
                RequestRepr::parse(text),
                Err(Error),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        // Exactly at the limit is still read.
        let padded: Vec<u8> = [b' '; MAX_REQUEST - 8]
            .iter()
            .chain(b"DISCOVER")
            .copied()
            .collect();
        assert_eq!(padded.len(), MAX_REQUEST);
        assert!(RequestRepr::parse(&padded).is_ok());
    }

    #[test]
    fn a_request_is_written_as_it_is_read() {
        for repr in [
            RequestRepr { version: None },
            RequestRepr { version: Some(1) },
        ] {
            let mut buffer = [0u8; 32];
            let len = repr.emit(&mut buffer).unwrap();
            assert_eq!(len, repr.buffer_len());
            assert_eq!(RequestRepr::parse(&buffer[..len]), Ok(repr));
        }
        let mut buffer = [0u8; 32];
        let len = RequestRepr {
            version: Some(VERSION),
        }
        .emit(&mut buffer)
        .unwrap();
        assert_eq!(&buffer[..len], REQUEST);
        assert_eq!(
            RequestRepr { version: None }.emit(&mut [0u8; 8]),
            Err(Error)
        );
    }

    #[test]
    fn the_padded_request_is_a_plain_request_as_long_as_the_longest_reply() {
        assert_eq!(PADDED_REQUEST.to_vec(), padded_request());
        assert_eq!(
            RequestRepr::parse(&PADDED_REQUEST),
            Ok(RequestRepr {
                version: Some(VERSION)
            })
        );
        // What the module documentation tells people to type.
        assert_eq!(MAX_REPLY, "DISCOVER".len() + 672 + "\n".len());
        // Padding up to the limit, tabs included, is read; one more byte is not.
        let mut longest = b"DISCOVER\t".to_vec();
        longest.resize(MAX_REQUEST - 2, b' ');
        longest.extend(b"\r\n");
        assert_eq!(
            RequestRepr::parse(&longest),
            Ok(RequestRepr { version: None })
        );
        longest.insert(0, b' ');
        assert_eq!(RequestRepr::parse(&longest), Err(Error));
    }

    #[test]
    fn the_longest_directory_fits_one_datagram_on_any_link() {
        const { assert!(MAX_REPLY <= 1232) };
        let name: String = core::iter::repeat_n('n', NAME_CAP).collect();
        let service_name: String = core::iter::repeat_n('s', SERVICE_NAME_CAP).collect();
        let services = [ServiceEntry {
            name: &service_name,
            port: 65535,
        }; MAX_SERVICES];
        let longest_v4 = v4([255, 255, 255, 255], 32);
        let longest_v6: IpCidr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
            .parse()
            .unwrap();
        let addresses = [longest_v4, longest_v6, longest_v6, longest_v6];
        let repr = ReplyRepr {
            name: &name,
            mac: Some(EthernetAddress([0xff; 6])),
            addresses: &addresses,
            services: &services,
        };
        let reply = emitted(&repr);
        assert!(reply.len() <= MAX_REPLY);
        assert_eq!(
            reply.len(),
            MAX_REPLY - (ADDRESS_LINE_CAP - "address 255.255.255.255/32\n".len()),
            "the bound is tight: only the IPv4 line is shorter than the longest"
        );
        // And a reply of the longest directory reads back whole.
        let packet = ReplyPacket::new_checked(&reply).unwrap();
        assert_eq!(packet.name(), Some(name.as_str()));
        assert_eq!(packet.fields().count(), 2 + MAX_ADDRESSES + MAX_SERVICES);
        assert_eq!(packet.fields().collect::<Vec<_>>(), fields_of(&repr));
    }

    #[test]
    fn directories_beyond_the_limits_are_refused() {
        let addresses = addresses();
        let ok = ReplyRepr {
            name: "ok",
            mac: None,
            addresses: &addresses,
            services: &SERVICES,
        };
        assert_eq!(ok.check(), Ok(()));
        let long_name: String = core::iter::repeat_n('n', NAME_CAP + 1).collect();
        for name in [
            "",
            " lead",
            "trail ",
            "two\nlines",
            "tab\there",
            long_name.as_str(),
        ] {
            let repr = ReplyRepr { name, ..ok };
            assert_eq!(
                repr.emit(&mut [0u8; MAX_REPLY]),
                Err(EmitError::Directory(DirectoryError::BadName)),
                "{name:?}"
            );
        }
        assert!(ReplyRepr {
            name: "bänk 3 (lab)",
            ..ok
        }
        .check()
        .is_ok());
        for name in ["", "two words", "seventeen-bytes-x", "ä"] {
            let services = [ServiceEntry { name, port: 7 }];
            let repr = ReplyRepr {
                services: &services,
                ..ok
            };
            assert_eq!(
                repr.check(),
                Err(DirectoryError::BadServiceName),
                "{name:?}"
            );
        }
        let services = [ServiceEntry {
            name: "echo",
            port: 0,
        }];
        let repr = ReplyRepr {
            services: &services,
            ..ok
        };
        assert_eq!(repr.check(), Err(DirectoryError::BadPort));
        let services = [SERVICES[0]; MAX_SERVICES + 1];
        let repr = ReplyRepr {
            services: &services,
            ..ok
        };
        assert_eq!(repr.check(), Err(DirectoryError::TooManyServices));
        let addresses = [addresses[0]; MAX_ADDRESSES + 1];
        let repr = ReplyRepr {
            addresses: &addresses,
            ..ok
        };
        assert_eq!(repr.check(), Err(DirectoryError::TooManyAddresses));
        // Emitting into too small a buffer fails cleanly.
        assert_eq!(ok.emit(&mut [0u8; 16]), Err(EmitError::BufferTooSmall));
    }

    #[test]
    fn a_reply_reads_back_field_by_field() {
        let packet = ReplyPacket::new_checked(REPLY).unwrap();
        assert_eq!(packet.version(), 1);
        let fields: Vec<Field<'_>> = packet.fields().collect();
        assert_eq!(
            fields,
            [
                Field::Name("bench-1"),
                Field::Mac(EthernetAddress([2, 0, 0, 0, 0, 1])),
                Field::Address(addresses()[0]),
                Field::Service(SERVICES[0]),
                Field::Service(SERVICES[1]),
                Field::Service(SERVICES[2]),
            ]
        );
    }

    #[test]
    fn a_name_that_is_not_one_is_another_field() {
        let text = b"UDPKIT 1\nname  lead\nname \nservice echo 7\n";
        let packet = ReplyPacket::new_checked(text).unwrap();
        assert_eq!(packet.name(), None);
        assert_eq!(
            packet.fields().collect::<Vec<_>>(),
            [
                Field::Other("name  lead"),
                Field::Other("name "),
                Field::Service(SERVICES[0]),
            ]
        );
    }

    #[test]
    fn directory_errors_say_what_a_port_must_fix() {
        use std::string::ToString;
        let messages = [
            DirectoryError::BadName,
            DirectoryError::BadServiceName,
            DirectoryError::BadPort,
            DirectoryError::TooManyAddresses,
            DirectoryError::TooManyServices,
        ]
        .map(|e| e.to_string());
        assert_eq!(
            messages,
            [
                std::format!(
                    "the device name must be 1 to {NAME_CAP} bytes without control \
                     characters or space at either end"
                ),
                std::format!(
                    "a service name must be 1 to {SERVICE_NAME_CAP} bytes of A-Z a-z 0-9 _ - ."
                ),
                "a service cannot be on port 0".into(),
                std::format!("more than {MAX_ADDRESSES} addresses"),
                std::format!("more than {MAX_SERVICES} services"),
            ]
        );
    }

    #[test]
    fn a_later_version_reads_as_far_as_known() {
        let text = b"UDPKIT 7\r\nname x y\r\nuptime 42\r\nservice echo 7\r\nservice bad 0\naddress nowhere\n\n";
        let packet = ReplyPacket::new_checked(text).unwrap();
        assert_eq!(packet.version(), 7);
        let fields: Vec<Field<'_>> = packet.fields().collect();
        assert_eq!(
            fields,
            [
                Field::Name("x y"),
                Field::Other("uptime 42"),
                Field::Service(SERVICES[0]),
                Field::Other("service bad 0"),
                Field::Other("address nowhere"),
            ]
        );
    }

    #[test]
    fn what_is_not_a_reply_is_refused() {
        for text in [
            &b""[..],
            b"UDPKIT 1",
            b"UDPKIT\n",
            b"UDPKIT 0\n",
            b"UDPKIT x\n",
            b"UDPKIT 99999\n",
            b"UDPKIT 000001\n",
            b"UDPKIT +1\n",
            b"udpkit 1\n",
            b"DISCOVER\n",
            b"UDPKIT 1\nname \xff\n",
        ] {
            assert_eq!(
                ReplyPacket::new_checked(text),
                Err(Error),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_parser_and_what_parses_is_written_back_the_same() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"DISCOVERudpkit/UDPKIT 0123456789\n\r\t:.-namecservicaddressmac\xff\x00";
        for _ in 0..20_000 {
            let len = (next() % 80) as usize;
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 2 == 0 {
                // A real reply or request with a few bytes changed.
                bytes = if next() % 2 == 0 { REPLY } else { REQUEST }.to_vec();
                for _ in 0..=next() % 3 {
                    let at = (next() % bytes.len() as u64) as usize;
                    bytes[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                }
            }
            if let Ok(request) = RequestRepr::parse(&bytes) {
                let mut buffer = [0u8; 32];
                let len = request.emit(&mut buffer).unwrap();
                assert_eq!(RequestRepr::parse(&buffer[..len]), Ok(request));
            }
            if let Ok(packet) = ReplyPacket::new_checked(&bytes) {
                rewrite_and_compare(&packet);
            }
        }
    }

    /// The directory a received reply describes, written again: it reads
    /// back as the same fields (less those it does not know).
    fn rewrite_and_compare(packet: &ReplyPacket<'_>) {
        let Some(name) = packet.name() else { return };
        let mac = packet.fields().find_map(|f| match f {
            Field::Mac(mac) => Some(mac),
            _ => None,
        });
        let addresses: Vec<IpCidr> = packet
            .fields()
            .filter_map(|f| match f {
                Field::Address(a) => Some(a),
                _ => None,
            })
            .collect();
        let services: Vec<ServiceEntry<'_>> = packet
            .fields()
            .filter_map(|f| match f {
                Field::Service(s) => Some(s),
                _ => None,
            })
            .collect();
        let repr = ReplyRepr {
            name,
            mac,
            addresses: &addresses,
            services: &services,
        };
        if repr.check().is_err() {
            return;
        }
        let reply = emitted(&repr);
        let again = ReplyPacket::new_checked(&reply).unwrap();
        assert_eq!(again.fields().collect::<Vec<_>>(), fields_of(&repr));
    }
}
