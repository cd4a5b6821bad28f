//! Discovery: who is on this link, and what does it serve?
//!
//! A client broadcasts one short text datagram; every udpkit device that
//! hears it answers the client, unicast, with its name, its addresses and
//! its service directory. Text, so `socat` and `nc` are clients too:
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
//! (`nc -u` asks one device: `printf 'DISCOVER\n' | nc -u -w1 192.168.69.1
//! 5550`. To a broadcast address, `nc -u -b` hears nothing: it connects its
//! socket to the broadcast address, and the kernel then drops the replies,
//! which come from the devices' own addresses.)
//!
//! # Protocol, version 1
//!
//! - **Transport.** UDP, port [`DEFAULT_PORT`] (5550) unless configured
//!   otherwise. The request goes to the subnet broadcast address
//!   (192.168.69.255), the limited broadcast address (255.255.255.255), the
//!   IPv6 all-nodes group (ff02::1), or one device's own address (a
//!   directory query of that device). Nothing here depends on the address
//!   family: the stack delivers the request, and the reply goes back the
//!   way it came.
//! - **Request.** `DISCOVER`, optionally followed by `udpkit/<version>`
//!   (the version the client speaks, a decimal number from 1), separated by
//!   spaces or tabs, optionally ended by one `\n` or `\r\n`: at most
//!   [`MAX_REQUEST`] bytes. The keyword and the `udpkit/` prefix are
//!   case-insensitive (people type them into `nc`). A device answers every
//!   version with the newest it speaks, and says which in its header, so a
//!   client of a later version can tell an older device.
//! - **Padding.** Spaces and tabs before the line ending are padding, and
//!   ignored; the request, padding included, is at most [`MAX_REQUEST`]
//!   bytes (one datagram on any link). A client pads its request to
//!   [`PADDED_REQUEST_LEN`] bytes, the longest reply ([`MAX_REPLY`]), so that
//!   no reply is larger than its request and it never needs the budget
//!   below: [`PADDED_REQUEST`] is `udpkit discover`'s request, and by hand,
//!   `printf 'DISCOVER%672s\n'`. An unpadded request is still answered,
//!   within the budget.
//! - **Reply.** UTF-8 text, one field per line, each line ended by `\n`.
//!   The first line is `UDPKIT <version>`; then, in this order:
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
//!   datagram carries unfragmented on any IPv6 link (1280-byte minimum MTU),
//!   so it is always exactly one datagram.
//! - **Anything else** — another keyword, an unknown argument, a version 0,
//!   binary, too long — gets no reply, and is counted
//!   ([`Discard::Malformed`]).
//!
//! # Who is answered
//!
//! The reply goes unicast to the request's source address and port, from
//! the device's own address (the stack does that for broadcast requests),
//! after the stack's loop guard like every service: a source port of a
//! well-known service or of our own services is never answered, so two
//! discovery services cannot talk to each other forever, and a reply is
//! never itself a request. Replies are rate limited ([`RATE_BURST`] at once,
//! [`RATE_PER_SECOND`] on average, for all sources together; over it:
//! [`Discard::Limited`]).
//!
//! A rate limit bounds how often a forged source is answered, not what each
//! answer is worth to it: a 9-byte `DISCOVER` gets a reply of a few hundred
//! bytes, and any sender may be forged (a broadcast request proves nothing
//! about its source). So a reply is no larger than its request, except for
//! a small byte budget shared by all senders ([`ExcessBudget`]: 1 KiB
//! a second, 1 KiB at once), from which a reply larger than its request
//! takes the excess. When the budget cannot cover it, the request is not answered
//! ([`Discard::Limited`], and counted as `refused: reply larger than
//! request`), and it takes nothing from the rate limit, so a flood of short
//! requests cannot starve padded ones. Whatever the number of forged
//! sources, the device sends them no more bytes than they send it, plus
//! that budget: it is no amplifier. The reply is not cut down to the
//! request's size instead: the directory is a list of lines, and a client
//! of this version cannot tell a cut reply from a device with fewer
//! addresses or services; silence makes it ask again (padded, preferably).
//!
//! # Announcements
//!
//! Optionally ([`Discovery::announce`]) a device announces itself when it
//! starts: the reply, unrequested, sent to the subnet broadcast address of
//! each of its IPv4 subnets on the discovery port, a few times
//! ([`MAX_ANNOUNCEMENTS`] at most; 1 s, then 2 s, 4 s apart), so a listener
//! learns of a device that boots while it watches. Never again after that:
//! nothing periodic, so a quiet link stays quiet. Another udpkit device
//! hears the announcement from the discovery port (its own service port:
//! the loop guard refuses it), and it is not a request anyway. IPv6 has no
//! broadcast; announcing to the all-nodes group is left for later.
//!
//! # Many devices at once
//!
//! Every device answers a broadcast at once, so a client asking a link of
//! hundreds of devices gets hundreds of replies within a millisecond, and
//! its socket's receive queue (about a hundred datagrams of this size with
//! Linux's default buffer) or a slow switch port may drop some. Protocols
//! built for big links (mDNS, RFC 6762 §6) make each responder wait a random
//! 20-120 ms first. udpkit does not: on a TAP or a bench with a few boards
//! the burst is harmless, and a delay would need a queue of pending replies
//! per service. A client on a big link should ask more than once and merge
//! (`udpkit discover` does both).

use core::fmt::{self, Write};

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint};

use crate::service::{Discard, Outbox, Request, Service};
use crate::services::{strip_line_ending, ExcessBudget};

/// A port of our own choosing, next to chat's 5555: easy to type into `nc`.
pub const DEFAULT_PORT: u16 = 5550;

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

/// Most services a reply lists: as many as one stack runs.
pub const MAX_SERVICES: usize = crate::stack::MAX_SERVICES;

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

/// Replies sent at once before the rate limit applies.
pub const RATE_BURST: u32 = 16;

/// Replies per second on average, all sources together.
pub const RATE_PER_SECOND: u32 = 8;

/// Most announcements at start.
pub const MAX_ANNOUNCEMENTS: u8 = 3;

/// Time between the first and the second announcement; it doubles after.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);

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
pub struct DiscoverRepr {
    /// The version the client named (`udpkit/N`), if it named one.
    pub version: Option<u16>,
}

/// Why a datagram is not a valid request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a udpkit discovery datagram")
    }
}

impl DiscoverRepr {
    /// Reads a request, as the module documentation describes it.
    pub fn parse(payload: &[u8]) -> Result<DiscoverRepr, Malformed> {
        if payload.len() > MAX_REQUEST {
            return Err(Malformed);
        }
        let line = strip_line_ending(payload);
        let mut words = line
            .split(|&b| b == b' ' || b == b'\t')
            .filter(|w| !w.is_empty());
        if !words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case(KEYWORD.as_bytes()))
        {
            return Err(Malformed);
        }
        let version = match words.next() {
            None => None,
            Some(word) => Some(parse_version(word).ok_or(Malformed)?),
        };
        if words.next().is_some() {
            return Err(Malformed);
        }
        Ok(DiscoverRepr { version })
    }

    /// The request's length on the wire, line ending included.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter(0);
        // Counting cannot fail.
        let _ = self.write(&mut counter);
        counter.0
    }

    /// Writes the request into `buffer`; returns its length, or `None`
    /// when `buffer` is shorter than [`DiscoverRepr::buffer_len`].
    pub fn emit(&self, buffer: &mut [u8]) -> Option<usize> {
        let mut writer = SliceWriter { buffer, len: 0 };
        self.write(&mut writer).ok()?;
        Some(writer.len)
    }

    fn write(&self, out: &mut dyn Write) -> fmt::Result {
        out.write_str(KEYWORD)?;
        if let Some(version) = self.version {
            write!(out, " udpkit/{version}")?;
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
    pub name: &'a str,
    pub port: u16,
}

/// What a device says about itself: the contents of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyRepr<'a> {
    pub name: &'a str,
    pub mac: Option<EthernetAddress>,
    pub addresses: &'a [IpCidr],
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
    pub fn check(&self) -> Result<(), DirectoryError> {
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

    /// Writes the reply into `buffer` after [`ReplyRepr::check`]; returns
    /// its length. A checked reply is at most [`MAX_REPLY`] bytes, so a
    /// buffer that long always holds it.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize, EmitError> {
        self.check().map_err(EmitError::Directory)?;
        let mut writer = SliceWriter { buffer, len: 0 };
        self.write(&mut writer)
            .map_err(|_| EmitError::BufferTooSmall)?;
        Ok(writer.len)
    }

    fn write(&self, out: &mut dyn Write) -> fmt::Result {
        out.write_str(HEADER)?;
        writeln!(out, "name {}", self.name)?;
        if let Some(mac) = self.mac {
            writeln!(out, "mac {}", MacText(mac))?;
        }
        for address in self.addresses {
            writeln!(out, "address {address}")?;
        }
        for service in self.services {
            writeln!(out, "service {} {}", service.name, service.port)?;
        }
        Ok(())
    }
}

/// Why [`ReplyRepr::emit`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    Directory(DirectoryError),
    BufferTooSmall,
}

/// A MAC address as `02:00:00:00:00:01` (smoltcp writes `02-00-...`; `ip
/// link` and most people write colons).
struct MacText(EthernetAddress);

impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0 .0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A `fmt::Write` into a byte slice that fails when the slice is full.
struct SliceWriter<'b> {
    buffer: &'b mut [u8],
    len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let room = self.buffer.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A `fmt::Write` that only counts.
struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(s.len());
        Ok(())
    }
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
    Name(&'a str),
    Mac(EthernetAddress),
    Address(IpCidr),
    Service(ServiceEntry<'a>),
    /// A line this version does not know, or cannot read (an address family
    /// this build lacks): skipped by readers, kept for those who care.
    Other(&'a str),
}

impl<'a> ReplyPacket<'a> {
    /// Checks that `payload` is a reply: UTF-8 text whose first line is
    /// `UDPKIT <version>` with a version from 1. Any version is accepted:
    /// the fields of a later one are read as far as they are known.
    pub fn new_checked(payload: &'a [u8]) -> Result<ReplyPacket<'a>, Malformed> {
        let text = core::str::from_utf8(payload).map_err(|_| Malformed)?;
        let (header, body) = text.split_once('\n').ok_or(Malformed)?;
        let header = header.strip_suffix('\r').unwrap_or(header);
        let version = header
            .strip_prefix("UDPKIT ")
            .filter(|v| !v.is_empty() && v.len() <= 5 && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u16>().ok())
            .filter(|&v| v >= 1)
            .ok_or(Malformed)?;
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

// ---------------------------------------------------------------------------
// The service.

/// A token bucket over all sources, in thousandths of a reply.
#[derive(Debug, Clone, Copy)]
struct RateLimit {
    milli_tokens: u64,
    refilled_at: Option<Instant>,
}

impl RateLimit {
    const FULL: u64 = RATE_BURST as u64 * 1000;

    fn new() -> RateLimit {
        RateLimit {
            milli_tokens: Self::FULL,
            refilled_at: None,
        }
    }

    /// Takes one reply's token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled_at.filter(|&at| now > at) {
            let refill = (now - at)
                .total_millis()
                .saturating_mul(u64::from(RATE_PER_SECOND));
            self.milli_tokens = self.milli_tokens.saturating_add(refill).min(Self::FULL);
        }
        if self.refilled_at.is_none_or(|at| now > at) {
            self.refilled_at = Some(now);
        }
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }

    /// Returns the token of a reply that was not sent after all.
    fn give_back(&mut self) {
        self.milli_tokens = (self.milli_tokens + 1000).min(Self::FULL);
    }
}

/// The announcements still to send.
#[derive(Debug, Clone)]
struct Announcer {
    port: u16,
    targets: heapless::Vec<IpAddress, MAX_ADDRESSES>,
    rounds_left: u8,
    /// The target of the round the next tick sends to.
    next_target: usize,
    /// When the next round is due; `None`: at once (the first round).
    due: Option<Instant>,
    interval: Duration,
}

/// Counters of the discovery service (what it refuses, the stack counts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryStats {
    /// Requests answered.
    pub answered: u64,
    /// Announcements sent (one per subnet and round).
    pub announced: u64,
    /// Requests not answered: the reply is larger than the request and the
    /// byte budget could not cover the excess.
    pub over_budget: u64,
}

/// The discovery service: answers `DISCOVER` with a reply made once, when
/// it is built, from the directory the port gives it.
#[derive(Debug, Clone)]
pub struct Discovery {
    reply: [u8; MAX_REPLY],
    reply_len: usize,
    limit: RateLimit,
    /// What replies may exceed their requests by.
    excess: ExcessBudget,
    announcer: Announcer,
    stats: DiscoveryStats,
}

impl Discovery {
    /// A service that answers with `directory`.
    pub fn new(directory: &ReplyRepr<'_>) -> Result<Discovery, DirectoryError> {
        let mut reply = [0; MAX_REPLY];
        let reply_len = directory.emit(&mut reply).map_err(|e| match e {
            EmitError::Directory(e) => e,
            // A checked directory fits MAX_REPLY (see the tests): this is
            // not reached, and if it were, the directory is too big.
            EmitError::BufferTooSmall => DirectoryError::TooManyServices,
        })?;
        // The broadcast address of each IPv4 subnet, once: where
        // `announce` sends to.
        let mut targets = heapless::Vec::new();
        for target in directory.addresses.iter().filter_map(broadcast_of) {
            if !targets.contains(&target) {
                // No more targets than addresses, checked above: room.
                let _ = targets.push(target);
            }
        }
        Ok(Discovery {
            reply,
            reply_len,
            limit: RateLimit::new(),
            excess: ExcessBudget::new(),
            announcer: Announcer {
                port: 0,
                targets,
                rounds_left: 0,
                next_target: 0,
                due: None,
                interval: ANNOUNCE_INTERVAL,
            },
            stats: DiscoveryStats::default(),
        })
    }

    /// Announces the reply `rounds` times (at most [`MAX_ANNOUNCEMENTS`])
    /// from the first poll of the stack on: to the broadcast address of
    /// each IPv4 subnet of the directory, on `port` (the service's own).
    pub fn announce(mut self, rounds: u8, port: u16) -> Discovery {
        let announcer = &mut self.announcer;
        announcer.port = port;
        announcer.rounds_left = match (port, announcer.targets.is_empty()) {
            (0, _) | (_, true) => 0,
            _ => rounds.min(MAX_ANNOUNCEMENTS),
        };
        self
    }

    /// The reply this service sends.
    pub fn reply(&self) -> &[u8] {
        self.reply.get(..self.reply_len).unwrap_or(&[])
    }

    pub fn stats(&self) -> DiscoveryStats {
        self.stats
    }
}

/// The broadcast address of `cidr`'s subnet, for an IPv4 subnet that has
/// one (not /31 or /32).
fn broadcast_of(cidr: &IpCidr) -> Option<IpAddress> {
    // Irrefutable in an IPv4-only build of smoltcp.
    #[allow(irrefutable_let_patterns)]
    if let IpCidr::Ipv4(v4) = cidr {
        return v4.broadcast().map(IpAddress::Ipv4);
    }
    None
}

impl Service for Discovery {
    fn name(&self) -> &'static str {
        "discovery"
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        DiscoverRepr::parse(request.payload).map_err(|_| Discard::Malformed)?;
        if !self.limit.take(request.now) {
            return Err(Discard::Limited);
        }
        if !self
            .excess
            .cover(request.now, request.payload.len(), self.reply_len)
        {
            self.limit.give_back();
            self.stats.over_budget += 1;
            return Err(Discard::Limited);
        }
        let reply = self.reply.get(..self.reply_len).unwrap_or(&[]);
        out.send(request.from, reply)?;
        self.stats.answered += 1;
        Ok(())
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("answered", self.stats.answered);
        report("announced", self.stats.announced);
        report("refused: reply larger than request", self.stats.over_budget);
    }

    fn poll_at(&self) -> Option<Instant> {
        let announcer = &self.announcer;
        (announcer.rounds_left > 0).then(|| announcer.due.unwrap_or(Instant::ZERO))
    }

    /// Sends one announcement: to the next subnet of the current round.
    fn on_tick(&mut self, now: Instant, _wall: Option<crate::UnixTime>, out: &mut dyn Outbox) {
        let announcer = &mut self.announcer;
        if announcer.rounds_left == 0 || announcer.due.is_some_and(|due| now < due) {
            return;
        }
        if let Some(&target) = announcer.targets.get(announcer.next_target) {
            let reply = self.reply.get(..self.reply_len).unwrap_or(&[]);
            // A failure is counted by the outbox; the round goes on.
            if out
                .send(IpEndpoint::new(target, announcer.port), reply)
                .is_ok()
            {
                self.stats.announced += 1;
            }
        }
        announcer.next_target += 1;
        if announcer.next_target >= announcer.targets.len() {
            announcer.next_target = 0;
            announcer.rounds_left -= 1;
            announcer.due = Some(now + announcer.interval);
            announcer.interval *= 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, VecOutbox, CLIENT};
    use smoltcp::wire::{Ipv4Address, Ipv4Cidr};
    use std::string::String;
    use std::vec::Vec;

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
            port: DEFAULT_PORT,
        },
    ];

    fn v4(a: [u8; 4], prefix: u8) -> IpCidr {
        IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::from_octets(a), prefix))
    }

    fn addresses() -> [IpCidr; 1] {
        [v4([192, 168, 69, 1], 24)]
    }

    fn discovery() -> Discovery {
        let addresses = addresses();
        Discovery::new(&ReplyRepr {
            name: "bench-1",
            mac: Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
            addresses: &addresses,
            services: &SERVICES,
        })
        .unwrap()
    }

    const REPLY: &[u8] = b"UDPKIT 1\n\
        name bench-1\n\
        mac 02:00:00:00:00:01\n\
        address 192.168.69.1/24\n\
        service echo 7\n\
        service chat 5555\n\
        service discovery 5550\n";

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
                DiscoverRepr::parse(text),
                Ok(DiscoverRepr { version }),
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
            b"DISCOVER udpkit/1 extra",
            b"DISCOVER\n\n",
            b"DISCOVER\0",
            b"\xffDISCOVER",
            b"UDPKIT 1\nname x\n",
            &too_long,
        ] {
            assert_eq!(
                DiscoverRepr::parse(text),
                Err(Malformed),
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
        assert!(DiscoverRepr::parse(&padded).is_ok());
    }

    #[test]
    fn a_request_is_written_as_it_is_read() {
        for repr in [
            DiscoverRepr { version: None },
            DiscoverRepr { version: Some(1) },
        ] {
            let mut buffer = [0u8; 32];
            let len = repr.emit(&mut buffer).unwrap();
            assert_eq!(len, repr.buffer_len());
            assert_eq!(DiscoverRepr::parse(&buffer[..len]), Ok(repr));
        }
        let mut buffer = [0u8; 32];
        let len = DiscoverRepr {
            version: Some(VERSION),
        }
        .emit(&mut buffer)
        .unwrap();
        assert_eq!(&buffer[..len], REQUEST);
        assert_eq!(DiscoverRepr { version: None }.emit(&mut [0u8; 8]), None);
    }

    #[test]
    fn the_reply_names_the_device_its_addresses_and_services() {
        assert_eq!(
            discovery().reply(),
            REPLY,
            "{}",
            String::from_utf8_lossy(discovery().reply())
        );
    }

    #[test]
    fn a_request_gets_the_reply_unicast_to_its_sender() {
        let mut service = discovery();
        let (verdict, sent) = exchange(&mut service, b"DISCOVER\n", None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, REPLY.to_vec())]);
        assert_eq!(service.stats().answered, 1);
    }

    #[test]
    fn non_requests_get_nothing() {
        let mut service = discovery();
        for text in [&b"hello"[..], b"", REPLY, b"DISCOVER udpkit/0"] {
            let (verdict, sent) = exchange(&mut service, text, None);
            assert_eq!(verdict, Err(Discard::Malformed));
            assert!(sent.is_empty());
        }
        assert_eq!(service.stats().answered, 0);
    }

    #[test]
    fn replies_are_rate_limited_with_a_burst() {
        // Padded requests, so that the byte budget (tested above) is not
        // what refuses them.
        let mut service = discovery();
        for i in 0..RATE_BURST {
            let (verdict, _) = exchange(&mut service, &PADDED_REQUEST, None);
            assert_eq!(verdict, Ok(()), "request {i} of the burst");
        }
        let (verdict, sent) = exchange(&mut service, &PADDED_REQUEST, None);
        assert_eq!(verdict, Err(Discard::Limited));
        assert!(sent.is_empty());
    }

    /// `udpkit discover`'s request: padded with spaces to the longest
    /// reply, so that no reply is larger.
    fn padded_request() -> Vec<u8> {
        let mut request = b"DISCOVER udpkit/1".to_vec();
        request.resize(MAX_REPLY - 1, b' ');
        request.push(b'\n');
        request
    }

    /// The service's counter called `name`, as a port prints it.
    fn counter(service: &Discovery, name: &str) -> Option<u64> {
        let mut found = None;
        service.counters(&mut |n, value| {
            if n == name {
                found = Some(value);
            }
        });
        found
    }

    #[test]
    fn a_reply_larger_than_its_request_takes_the_excess_from_a_small_budget() {
        // Fuzzing found a unicast DISCOVER answered with a reply six times
        // its size: rate limited, but an amplifier for a forged source.
        let mut service = discovery();
        // Most of the budget is spent already (a dozen older clients).
        let spent = crate::services::EXCESS_BYTES_BURST as usize - REPLY.len();
        assert!(service.excess.cover(Instant::from_secs(1), 0, spent));
        let (mut bytes_in, mut bytes_out, mut refused) = (0, 0, 0);
        for _ in 0..RATE_BURST {
            let (verdict, sent) = exchange(&mut service, b"DISCOVER\n", None);
            bytes_in += 9;
            bytes_out += sent.iter().map(|(_, d)| d.len()).sum::<usize>();
            if sent.is_empty() {
                assert_eq!(verdict, Err(Discard::Limited));
                refused += 1;
            }
        }
        assert!(
            bytes_out <= bytes_in + REPLY.len(),
            "{bytes_out} bytes out for {bytes_in} in"
        );
        assert!(refused > 0);
        assert_eq!(
            counter(&service, "refused: reply larger than request"),
            Some(refused)
        );
        // A padded request needs no budget: answered while it is dry.
        let (verdict, sent) = exchange(&mut service, &padded_request(), None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, REPLY.to_vec())]);
    }

    #[test]
    fn the_padded_request_is_a_plain_request_as_long_as_the_longest_reply() {
        assert_eq!(PADDED_REQUEST.to_vec(), padded_request());
        assert_eq!(
            DiscoverRepr::parse(&PADDED_REQUEST),
            Ok(DiscoverRepr {
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
            DiscoverRepr::parse(&longest),
            Ok(DiscoverRepr { version: None })
        );
        longest.insert(0, b' ');
        assert_eq!(DiscoverRepr::parse(&longest), Err(Malformed));
    }

    #[test]
    fn the_rate_limit_refills_with_time() {
        let mut limit = RateLimit::new();
        let t0 = Instant::from_secs(10);
        assert!((0..RATE_BURST).all(|_| limit.take(t0)));
        assert!(!limit.take(t0));
        let step = Duration::from_millis(1000 / u64::from(RATE_PER_SECOND));
        assert!(limit.take(t0 + step), "one token back after 1/rate s");
        assert!(!limit.take(t0 + step));
        // A long silence refills to the burst, no more.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(
            (0..100).filter(|_| limit.take(later)).count(),
            RATE_BURST as usize
        );
        // A clock that goes back neither refills nor panics.
        assert!(!limit.take(t0));
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
        let service = Discovery::new(&repr).unwrap();
        assert!(service.reply().len() <= MAX_REPLY);
        assert_eq!(
            service.reply().len(),
            MAX_REPLY - (ADDRESS_LINE_CAP - "address 255.255.255.255/32\n".len()),
            "the bound is tight: only the IPv4 line is shorter than the longest"
        );
        // And a reply of the longest directory reads back whole.
        let packet = ReplyPacket::new_checked(service.reply()).unwrap();
        assert_eq!(packet.name(), Some(name.as_str()));
        assert_eq!(packet.fields().count(), 2 + MAX_ADDRESSES + MAX_SERVICES);
        assert!(packet.fields().all(|f| !matches!(f, Field::Other(_))));
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
                Discovery::new(&repr).err(),
                Some(DirectoryError::BadName),
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
            b"udpkit 1\n",
            b"DISCOVER\n",
            b"UDPKIT 1\nname \xff\n",
        ] {
            assert_eq!(
                ReplyPacket::new_checked(text),
                Err(Malformed),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_either_parser() {
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
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = DiscoverRepr::parse(&bytes);
            if let Ok(packet) = ReplyPacket::new_checked(&bytes) {
                let _ = packet.fields().count();
                let _ = packet.name();
            }
        }
    }

    #[test]
    fn announces_a_few_times_to_each_subnet_broadcast_then_never_again() {
        let addresses = [
            v4([192, 168, 69, 1], 24),
            v4([10, 1, 0, 7], 16),
            v4([10, 9, 9, 9], 32),
        ];
        let mut service = Discovery::new(&ReplyRepr {
            name: "a",
            mac: None,
            addresses: &addresses,
            services: &SERVICES,
        })
        .unwrap()
        .announce(9, DEFAULT_PORT);
        let mut out = VecOutbox::new();
        let mut now = Instant::from_secs(100);
        let mut rounds = Vec::new();
        for _ in 0..1000 {
            let Some(due) = service.poll_at() else { break };
            now = now.max(due);
            let before = out.sent.len();
            service.on_tick(now, None, &mut out);
            if out.sent.len() > before {
                rounds.push(now);
            }
        }
        let to = |a: [u8; 4]| {
            IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from_octets(a)), DEFAULT_PORT)
        };
        let expected_round = [to([192, 168, 69, 255]), to([10, 1, 255, 255])];
        assert_eq!(
            out.sent.len(),
            2 * usize::from(MAX_ANNOUNCEMENTS),
            "{:?}",
            out.sent
        );
        for (i, (endpoint, payload)) in out.sent.iter().enumerate() {
            assert_eq!(*endpoint, expected_round[i % 2]);
            assert_eq!(payload.as_slice(), service.reply());
        }
        let t0 = Instant::from_secs(100);
        let s = |n| Duration::from_secs(n);
        assert_eq!(rounds, [t0, t0, t0 + s(1), t0 + s(1), t0 + s(3), t0 + s(3)]);
        assert_eq!(service.poll_at(), None);
        assert_eq!(service.stats().announced, 6);
    }

    #[test]
    fn no_announcement_unless_asked_or_without_a_subnet() {
        assert_eq!(discovery().poll_at(), None);
        assert_eq!(discovery().announce(0, DEFAULT_PORT).poll_at(), None);
        assert_eq!(discovery().announce(2, 0).poll_at(), None);
        let host_route = [v4([10, 9, 9, 9], 32)];
        let service = Discovery::new(&ReplyRepr {
            name: "a",
            mac: None,
            addresses: &host_route,
            services: &SERVICES,
        })
        .unwrap()
        .announce(3, DEFAULT_PORT);
        assert_eq!(service.poll_at(), None);
        // The first round is due at once, whatever the clock says.
        assert_eq!(
            discovery().announce(1, DEFAULT_PORT).poll_at(),
            Some(Instant::ZERO)
        );
    }
}
