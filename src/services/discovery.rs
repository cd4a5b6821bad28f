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
//! # Protocol
//!
//! The request, its padding and the reply are defined once, for devices
//! and clients alike, in [`wire::discovery`](crate::wire::discovery). This
//! module is the device's side: a request (a [`RequestRepr`] that parses)
//! gets the reply written from the port's directory (a [`ReplyRepr`]),
//! and anything else gets no reply and is counted ([`Discard::Malformed`]).
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

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

use smoltcp::wire::EthernetAddress;

use crate::service::{Discard, Outbox, Request, SendError, Service, Uses};
use crate::services::{ExcessBudget, MilliBucket};
use crate::wire::discovery::{RequestRepr, MAX_ADDRESSES, MAX_SERVICES, NAME_CAP};
use crate::wire::SliceWriter;

/// What a port needs of the wire format to set the service up: the
/// directory it answers with, why a directory is refused, and how long a
/// reply is (for the socket's buffers).
pub use crate::wire::discovery::{
    DirectoryError, ReplyRepr, ServiceEntry, MAX_REPLY, PADDED_REQUEST_LEN,
};

/// A port of our own choosing, next to chat's 5555: easy to type into `nc`.
pub const DEFAULT_PORT: u16 = 5550;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "discovery";

/// Replies sent at once before the rate limit applies.
pub const RATE_BURST: u32 = 16;

/// Replies per second on average, all sources together.
pub const RATE_PER_SECOND: u32 = 8;

/// Most announcements at start.
pub const MAX_ANNOUNCEMENTS: u8 = 3;

/// Time between the first and the second announcement; it doubles after.
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(1);

// Every service of a stack fits a reply.
const _: () = assert!(crate::stack::MAX_SERVICES <= crate::wire::discovery::MAX_SERVICES);

/// A token bucket over all sources, in thousandths of a reply.
#[derive(Debug, Clone, Copy)]
struct RateLimit(MilliBucket);

impl RateLimit {
    const FULL: u64 = RATE_BURST as u64 * 1000;

    fn new() -> RateLimit {
        RateLimit(MilliBucket::full(Self::FULL))
    }

    /// Takes one reply's token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        self.0.take(now, Self::FULL, RATE_PER_SECOND, 1000)
    }

    /// Returns the token of a reply that was not sent after all.
    fn give_back(&mut self) {
        self.0.give_back(Self::FULL, 1000);
    }
}

/// The announcements still to send.
#[derive(Debug, Clone)]
struct Announcer {
    port: u16,
    /// The rounds asked for (see [`Discovery::announce`]), again after each
    /// change of address.
    rounds: u8,
    /// The broadcast address of each IPv4 subnet of the directory, once.
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

/// The discovery service: answers `DISCOVER` with the directory the port
/// gives it.
///
/// It keeps the directory, not the reply: each reply is written from it
/// straight into the outbox ([`Outbox::reserve`]), so no copy of up to
/// [`MAX_REPLY`] bytes lives in the service (nor in a board's boot frame
/// that builds it). The service names are `'static` (a port lists its
/// services' [`Service::name`]s), the device's name is copied.
#[derive(Debug, Clone)]
pub struct Discovery {
    name: heapless::String<NAME_CAP>,
    mac: Option<EthernetAddress>,
    /// The first [`MAX_ADDRESSES`] of the device's addresses.
    addresses: heapless::Vec<IpCidr, MAX_ADDRESSES>,
    services: heapless::Vec<ServiceEntry<'static>, MAX_SERVICES>,
    /// The length of the reply the directory makes, kept with it.
    reply_len: usize,
    limit: RateLimit,
    /// What replies may exceed their requests by.
    excess: ExcessBudget,
    announcer: Announcer,
    stats: DiscoveryStats,
}

impl Discovery {
    /// A service that answers with the directory of the device `name`
    /// (with its Ethernet address `mac`, if it has one) at `addresses`,
    /// serving `services`; refused if it breaks a limit of the protocol
    /// ([`ReplyRepr::check`]).
    pub fn new(
        name: &str,
        mac: Option<EthernetAddress>,
        addresses: &[IpCidr],
        services: &[ServiceEntry<'static>],
    ) -> Result<Discovery, DirectoryError> {
        ReplyRepr {
            name,
            mac,
            addresses,
            services,
        }
        .check()?;
        // Filled in place (no copies of the service through the frame).
        let mut service = Discovery {
            name: heapless::String::new(),
            mac,
            addresses: heapless::Vec::new(),
            services: heapless::Vec::new(),
            reply_len: 0,
            limit: RateLimit::new(),
            excess: ExcessBudget::new(),
            announcer: Announcer {
                port: 0,
                rounds: 0,
                targets: heapless::Vec::new(),
                rounds_left: 0,
                next_target: 0,
                due: None,
                interval: ANNOUNCE_INTERVAL,
            },
            stats: DiscoveryStats::default(),
        };
        // Checked: room for the name and the services.
        let _ = service.name.push_str(name);
        let _ = service.services.extend_from_slice(services);
        service.list(addresses);
        Ok(service)
    }

    /// Lists `addresses` (the first [`MAX_ADDRESSES`]) in the directory,
    /// and announces to the broadcast address of each of their IPv4
    /// subnets, once.
    fn list(&mut self, addresses: &[IpCidr]) {
        let listed = addresses.get(..MAX_ADDRESSES).unwrap_or(addresses);
        self.addresses.clear();
        // Room for them.
        let _ = self.addresses.extend_from_slice(listed);
        self.reply_len = self.directory().buffer_len();
        let targets = &mut self.announcer.targets;
        targets.clear();
        for target in addresses.iter().filter_map(broadcast_of) {
            if !targets.contains(&target) {
                // Fewer than MAX_ADDRESSES IPv4 subnets go here: room.
                let _ = targets.push(target);
            }
        }
    }

    /// Announces the reply `rounds` times (at most [`MAX_ANNOUNCEMENTS`])
    /// from the first poll of the stack on: to the broadcast address of
    /// each IPv4 subnet of the directory, on `port` (the service's own).
    /// In place (a board builds the service in its static: no copy of it
    /// passes through the frame); the service back, to go on with.
    pub fn announce(&mut self, rounds: u8, port: u16) -> &mut Discovery {
        let announcer = &mut self.announcer;
        announcer.port = port;
        announcer.rounds = match port {
            0 => 0,
            _ => rounds.min(MAX_ANNOUNCEMENTS),
        };
        self.rearm();
        self
    }

    /// Starts the announcements over: as many rounds as asked for, if the
    /// directory has a subnet to announce to.
    fn rearm(&mut self) {
        let announcer = &mut self.announcer;
        announcer.rounds_left = match announcer.targets.is_empty() {
            true => 0,
            false => announcer.rounds,
        };
        announcer.next_target = 0;
        announcer.due = None;
        announcer.interval = ANNOUNCE_INTERVAL;
    }

    /// The directory this service answers with (its reply is
    /// [`ReplyRepr::emit`]'s).
    pub fn directory(&self) -> ReplyRepr<'_> {
        ReplyRepr {
            name: &self.name,
            mac: self.mac,
            addresses: &self.addresses,
            services: &self.services,
        }
    }

    /// Queues the reply to `to`: written in the outbox's datagram
    /// ([`Outbox::reserve`] or, for a peer that may be gone, its detour).
    fn send_reply(&self, out: &mut dyn Outbox, to: IpEndpoint) -> Result<(), SendError> {
        let mut datagram = SliceWriter::new(out.reserve(to, self.reply_len)?);
        // Checked when it was made (not again: `ReplyRepr::emit`), the
        // directory makes `reply_len` bytes: not reached. Were it, the
        // datagram would go out unfinished, a reply no client reads,
        // rather than a panic.
        if self.directory().write(&mut datagram).is_err() {
            log_warn!("{NAME}: the reply did not fit its datagram");
        }
        Ok(())
    }

    /// Its counters so far.
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
        NAME
    }

    fn uses(&self) -> Uses {
        Uses {
            wall_clock: false,
            timers: true,
        }
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        RequestRepr::parse(request.payload).map_err(|_| Discard::Malformed)?;
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
        self.send_reply(out, request.from)?;
        self.stats.answered += 1;
        Ok(())
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("answered", self.stats.answered);
        report("announced", self.stats.announced);
        report("refused: reply larger than request", self.stats.over_budget);
    }

    /// The reply lists the new addresses, and the device announces itself
    /// again (as many rounds as at start) to its new subnet: a listener
    /// learns where it went.
    fn addresses_changed(&mut self, addresses: &[IpCidr]) {
        self.list(addresses);
        self.rearm();
    }

    fn poll_at(&self) -> Option<Instant> {
        let announcer = &self.announcer;
        (announcer.rounds_left > 0).then(|| announcer.due.unwrap_or(Instant::ZERO))
    }

    /// Sends one announcement: to the next subnet of the current round.
    fn on_tick(&mut self, now: Instant, _wall: Option<crate::UnixTime>, out: &mut dyn Outbox) {
        let announcer = &self.announcer;
        if announcer.rounds_left == 0 || announcer.due.is_some_and(|due| now < due) {
            return;
        }
        if let Some(&target) = announcer.targets.get(announcer.next_target) {
            let to = IpEndpoint::new(target, announcer.port);
            // A failure is counted by the outbox; the round goes on.
            if self.send_reply(out, to).is_ok() {
                self.stats.announced += 1;
            }
        }
        let announcer = &mut self.announcer;
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
    use crate::wire::discovery::PADDED_REQUEST;
    use smoltcp::wire::EthernetAddress;
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

    /// The reply `service` sends.
    fn reply_of(service: &Discovery) -> Vec<u8> {
        let mut reply = std::vec![0; MAX_REPLY];
        let len = service.directory().emit(&mut reply).unwrap();
        assert_eq!(len, service.reply_len);
        reply.truncate(len);
        reply
    }

    fn discovery() -> Discovery {
        let addresses = addresses();
        Discovery::new(
            "bench-1",
            Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
            &addresses,
            &SERVICES,
        )
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
    fn the_reply_names_the_device_its_addresses_and_services() {
        assert_eq!(
            reply_of(&discovery()),
            REPLY,
            "{}",
            String::from_utf8_lossy(&reply_of(&discovery()))
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
        let (verdict, sent) = exchange(&mut service, &PADDED_REQUEST, None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, REPLY.to_vec())]);
    }

    #[test]
    fn a_request_refused_for_the_byte_budget_costs_no_rate_limit_token() {
        let mut service = discovery();
        // All but one token of the burst, on padded requests.
        for _ in 1..RATE_BURST {
            assert_eq!(exchange(&mut service, &PADDED_REQUEST, None).0, Ok(()));
        }
        let burst = crate::services::EXCESS_BYTES_BURST as usize;
        assert!(service.excess.cover(Instant::from_secs(1), 0, burst));
        // A short request: no budget for its reply; its token comes back.
        let (verdict, sent) = exchange(&mut service, b"DISCOVER\n", None);
        assert_eq!(verdict, Err(Discard::Limited));
        assert!(sent.is_empty());
        assert_eq!(service.stats().over_budget, 1);
        // So the last token of the burst still answers a padded request.
        let (verdict, sent) = exchange(&mut service, &PADDED_REQUEST, None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, REPLY.to_vec())]);
        assert_eq!(service.stats().answered, u64::from(RATE_BURST));
    }

    #[test]
    fn a_tick_before_its_time_or_after_the_last_round_sends_nothing() {
        // A port may tick every service on each poll, due or not.
        let mut service = discovery();
        service.announce(2, DEFAULT_PORT);
        let mut out = VecOutbox::new();
        let t0 = Instant::from_secs(100);
        service.on_tick(t0, None, &mut out);
        assert_eq!(out.sent.len(), 1, "the first round");
        service.on_tick(t0 + Duration::from_millis(999), None, &mut out);
        assert_eq!(out.sent.len(), 1, "the second round is due at 1 s");
        service.on_tick(t0 + Duration::from_secs(1), None, &mut out);
        assert_eq!(out.sent.len(), 2, "the second round");
        assert_eq!(service.poll_at(), None);
        service.on_tick(t0 + Duration::from_secs(60), None, &mut out);
        assert_eq!(out.sent.len(), 2, "no third round");
        assert_eq!(service.stats().announced, 2);
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
    fn announces_a_few_times_to_each_subnet_broadcast_then_never_again() {
        let addresses = [
            v4([192, 168, 69, 1], 24),
            v4([10, 1, 0, 7], 16),
            v4([10, 9, 9, 9], 32),
        ];
        let mut service = Discovery::new("a", None, &addresses, &SERVICES).unwrap();
        service.announce(9, DEFAULT_PORT);
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
            assert_eq!(payload.as_slice(), reply_of(&service));
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
        let mut service = Discovery::new("a", None, &host_route, &SERVICES).unwrap();
        service.announce(3, DEFAULT_PORT);
        assert_eq!(service.poll_at(), None);
        // The first round is due at once, whatever the clock says.
        assert_eq!(
            discovery().announce(1, DEFAULT_PORT).poll_at(),
            Some(Instant::ZERO)
        );
    }

    /// Runs the announcements due from `at` on, a second at a time; where
    /// each went.
    fn announced(service: &mut Discovery, mut at: Instant) -> Vec<IpEndpoint> {
        let mut out = VecOutbox::new();
        while let Some(due) = service.poll_at() {
            at = at.max(due);
            service.on_tick(at, None, &mut out);
        }
        out.sent.iter().map(|(to, _)| *to).collect()
    }

    #[test]
    fn a_new_address_is_listed_and_announced_to_its_subnet() {
        // Booted without an IPv4 address (DHCP): nothing to announce to.
        let v6 = IpCidr::Ipv6(smoltcp::wire::Ipv6Cidr::new(
            smoltcp::wire::Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1),
            64,
        ));
        let mut service = Discovery::new(
            "bench-1",
            Some(EthernetAddress([2, 0, 0, 0, 0, 1])),
            &[v6],
            &SERVICES,
        )
        .unwrap();
        service.announce(2, DEFAULT_PORT);
        assert_eq!(service.poll_at(), None);
        // A lease: the reply lists it, IPv4 first, and two rounds go to
        // its subnet's broadcast address.
        service.addresses_changed(&[v4([10, 1, 2, 53], 24), v6]);
        let expected = b"UDPKIT 1\n\
            name bench-1\n\
            mac 02:00:00:00:00:01\n\
            address 10.1.2.53/24\n\
            address fdaa::1/64\n\
            service echo 7\n\
            service chat 5555\n\
            service discovery 5550\n";
        assert_eq!(
            reply_of(&service),
            expected,
            "{}",
            String::from_utf8_lossy(&reply_of(&service))
        );
        // Written from the new directory: a request gets it, byte for byte.
        let (verdict, sent) = exchange(&mut service, &PADDED_REQUEST, None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, expected.to_vec())]);
        let subnet = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 1, 2, 255)), 5550);
        assert_eq!(announced(&mut service, Instant::from_secs(50)), [subnet; 2]);
        // Another subnet: announced there, as many rounds again.
        service.addresses_changed(&[v4([10, 7, 0, 9], 16)]);
        assert!(String::from_utf8_lossy(&reply_of(&service)).contains("address 10.7.0.9/16\n"));
        let moved = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(10, 7, 255, 255)), 5550);
        assert_eq!(announced(&mut service, Instant::from_secs(90)), [moved; 2]);
        // The lease gone: listed no more, nothing announced.
        service.addresses_changed(&[v6]);
        assert!(!String::from_utf8_lossy(&reply_of(&service)).contains("10.7.0.9"));
        assert_eq!(service.poll_at(), None);
        assert_eq!(service.stats().announced, 4);
        // A service that was never asked to announce stays quiet.
        let mut quiet = discovery();
        quiet.addresses_changed(&[v4([10, 1, 2, 53], 24)]);
        assert_eq!(quiet.poll_at(), None);
    }
}
