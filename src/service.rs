//! The service abstraction: what a UDP service sees of the stack.
//!
//! A service is protocol logic only. The [`Stack`](crate::Stack) receives a
//! datagram on the service's socket, checks it against the loop guard and the
//! routing table, copies it out of the socket and hands it over as a
//! [`Request`]; the service answers through an [`Outbox`], which may carry any
//! number of datagrams to any peers (a chat relays one message to a room).
//! Nothing here knows about sockets, so a service is tested with a
//! `Vec`-backed outbox: bytes in, datagrams out.

use smoltcp::time::Instant;
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

use crate::board::ClockSource;
use crate::clock::UnixTime;

/// One received datagram, as a service sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who sent it; replies go here.
    pub from: IpEndpoint,
    /// The address it was sent to: one of ours, or a broadcast address.
    pub to: IpAddress,
    /// The datagram's bytes (at most [`MAX_PAYLOAD`](crate::MAX_PAYLOAD)).
    pub payload: &'a [u8],
    /// The monotonic clock when the datagram was taken from the socket.
    pub now: Instant,
    /// The wall clock, when the board knows it (or a service keeps one, see
    /// [`Service::wall_clock`]). Read, like `now`, once per poll of the
    /// stack, after the port woke it and before frames are read from the
    /// device: smoltcp keeps no time per datagram.
    pub wall: Option<UnixTime>,
    /// Where the wall clock's time comes from (stratum, reference,
    /// precision), for the NTP server; meaningless while `wall` is `None`.
    pub clock: ClockSource,
}

/// Why an outgoing datagram could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Longer than the largest datagram the link carries unfragmented, or
    /// than the socket's buffer could ever hold.
    TooLarge,
    /// The socket's transmit buffer is full right now.
    BufferFull,
    /// The destination cannot be sent to (port 0, unspecified address).
    Unaddressable,
}

/// Where a service puts the datagrams it sends.
pub trait Outbox {
    /// The largest payload one datagram may carry.
    fn max_payload(&self) -> usize;

    /// Reserves a datagram of exactly `len` bytes to `to` and returns its
    /// payload to fill in. The datagram is sent as it is left.
    fn reserve(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError>;

    /// Queues a datagram with a copy of `payload`.
    fn send(&mut self, to: IpEndpoint, payload: &[u8]) -> Result<(), SendError> {
        self.reserve(to, payload.len())?.copy_from_slice(payload);
        Ok(())
    }

    /// Queues a datagram with a copy of `payload` to the sender of
    /// `request`: [`Outbox::send`] to `request.from`.
    fn reply(&mut self, request: &Request<'_>, payload: &[u8]) -> Result<(), SendError> {
        self.send(request.from, payload)
    }

    /// Like [`Outbox::reserve`], for a peer that may be gone: one that has
    /// sent nothing for a while, whose MAC address smoltcp has forgotten.
    /// The stack sends such datagrams through a queue of their own when the
    /// service has one ([`Stack::set_detour`](crate::Stack::set_detour)), so
    /// that a peer that never answers ARP holds up only its own kind, never
    /// the replies to the peers that are there.
    fn reserve_detour(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.reserve(to, len)
    }

    /// [`Outbox::send`] through the detour ([`Outbox::reserve_detour`]).
    fn send_detour(&mut self, to: IpEndpoint, payload: &[u8]) -> Result<(), SendError> {
        self.reserve_detour(to, payload.len())?
            .copy_from_slice(payload);
        Ok(())
    }
}

/// Why a service chose not to answer a datagram. Each reason is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// The answer needs the wall clock and the board does not know it
    /// (RFC 868 says to discard; a wrong time is worse than none).
    NoWallClock,
    /// The datagram is not a valid request for this protocol.
    Malformed,
    /// A limit of the service refused it (rate limit, table full, ...).
    Limited,
    /// The answer could not be queued (already counted as a send failure).
    SendFailed,
}

impl Discard {
    /// Every reason, in the order of [`Discard::index`].
    pub const ALL: [Discard; 4] = [
        Discard::NoWallClock,
        Discard::Malformed,
        Discard::Limited,
        Discard::SendFailed,
    ];

    /// A dense index (the position in [`Discard::ALL`]), for a table of
    /// counters.
    pub const fn index(self) -> usize {
        match self {
            Discard::NoWallClock => 0,
            Discard::Malformed => 1,
            Discard::Limited => 2,
            Discard::SendFailed => 3,
        }
    }

    /// What the reason means, for logs and counter tables.
    pub const fn name(self) -> &'static str {
        match self {
            Discard::NoWallClock => "no wall clock",
            Discard::Malformed => "malformed",
            Discard::Limited => "limited",
            Discard::SendFailed => "send failed",
        }
    }
}

impl From<SendError> for Discard {
    fn from(_: SendError) -> Discard {
        Discard::SendFailed
    }
}

/// The most one call of [`Service::on_datagram`] or [`Service::on_tick`] may
/// send: the stack makes sure its transmit queue has that much room before
/// each call, so a service never loses a reply to its own buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Burst {
    /// Datagrams, at most.
    pub datagrams: usize,
    /// Payload bytes, all datagrams together.
    pub bytes: usize,
}

impl Burst {
    /// One datagram of up to [`MAX_PAYLOAD`](crate::MAX_PAYLOAD) bytes:
    /// what a request-reply service sends.
    pub const ONE_REPLY: Burst = Burst {
        datagrams: 1,
        bytes: crate::stack::MAX_PAYLOAD,
    };
}

/// What a service reads at every poll beyond its datagrams, so that the
/// stack does not work for what no service reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uses {
    /// It reads the wall clock ([`Request::wall`], [`Service::on_tick`]'s
    /// `wall`); one that does not may be given `None`.
    pub wall_clock: bool,
    /// It has timers ([`Service::poll_at`], [`Service::on_tick`]); the
    /// stack never asks one that does not.
    pub timers: bool,
}

impl Uses {
    /// The wall clock and timers: what a service is taken to use unless it
    /// says otherwise.
    pub const EVERYTHING: Uses = Uses {
        wall_clock: true,
        timers: true,
    };

    /// Neither: a service that only answers what it receives, from what it
    /// receives.
    pub const NOTHING: Uses = Uses {
        wall_clock: false,
        timers: false,
    };
}

/// A UDP service: protocol logic behind one port.
pub trait Service {
    /// A short lowercase name for logs and counters ("echo", "time").
    fn name(&self) -> &'static str;

    /// Handles one datagram that passed the stack's checks.
    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard>;

    /// The most one call may send; one reply unless the service fans out.
    fn burst(&self) -> Burst {
        Burst::ONE_REPLY
    }

    /// Reports the service's own counters, by name, for a port to print.
    fn counters(&self, _report: &mut dyn FnMut(&'static str, u64)) {}

    /// What it reads beyond its datagrams (read once, when it is added to a
    /// stack).
    fn uses(&self) -> Uses {
        Uses::EVERYTHING
    }

    /// When the service next wants [`Service::on_tick`] (expiries, retries);
    /// `None` when it has no timers.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Runs the service's timers; called at or after [`Service::poll_at`].
    /// It does at most one [`Service::burst`] of work; the stack calls it
    /// again while `poll_at` is due.
    fn on_tick(&mut self, _now: Instant, _wall: Option<UnixTime>, _out: &mut dyn Outbox) {}

    /// Whether the stack's loop guard ([`guard`](crate::guard)) screens the
    /// datagrams of this service. Every service that answers what it
    /// receives needs it. A client that answers nothing and checks that
    /// each datagram is the reply to its own request does not, and its
    /// servers answer from well-known ports the guard refuses (the SNTP
    /// client's: port 123).
    fn guarded(&self) -> bool {
        true
    }

    /// The wall clock this service keeps at monotonic time `now`, with its
    /// source: the SNTP client's, once synced. The stack uses the first one
    /// offered when the board has no wall clock of its own.
    fn wall_clock(&self, _now: Instant) -> Option<(UnixTime, ClockSource)> {
        None
    }

    /// Our addresses changed to `addresses` (IPv4 first, if any): a DHCP
    /// lease came, changed or went ([`dhcp`](crate::dhcp)). A service that
    /// keeps our addresses (discovery's reply) or waits on them (the SNTP
    /// client's backoff) follows here; the stack calls it outside any
    /// datagram, and the service's timers run right after.
    fn addresses_changed(&mut self, _addresses: &[IpCidr]) {}
}

/// An [`Outbox`] that keeps every datagram in memory, for tests of services.
#[cfg(test)]
pub(crate) mod testing {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use smoltcp::wire::Ipv4Address;

    /// Datagrams a service sent, with their destinations.
    pub type Sent = Vec<(IpEndpoint, Vec<u8>)>;

    pub struct VecOutbox {
        pub sent: Sent,
        /// Where each datagram sent through the detour went.
        pub detoured: Vec<IpEndpoint>,
        pub max_payload: usize,
    }

    impl VecOutbox {
        pub fn new() -> VecOutbox {
            VecOutbox {
                sent: Vec::new(),
                detoured: Vec::new(),
                max_payload: 1472,
            }
        }
    }

    impl Outbox for VecOutbox {
        fn max_payload(&self) -> usize {
            self.max_payload
        }

        fn reserve(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
            if len > self.max_payload {
                return Err(SendError::TooLarge);
            }
            self.sent.push((to, std::vec![0; len]));
            Ok(&mut self.sent.last_mut().unwrap().1)
        }

        fn reserve_detour(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
            self.detoured.push(to);
            self.reserve(to, len)
        }
    }

    pub const CLIENT: IpEndpoint =
        IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 100)), 40000);

    /// Runs `service` on one datagram from [`CLIENT`] and returns the verdict
    /// and what it sent.
    pub fn exchange(
        service: &mut dyn Service,
        payload: &[u8],
        wall: Option<UnixTime>,
    ) -> (Result<(), Discard>, Sent) {
        let mut out = VecOutbox::new();
        let request = Request {
            from: CLIENT,
            to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
            payload,
            now: Instant::from_secs(1),
            wall,
            clock: ClockSource::LOCAL,
        };
        let verdict = service.on_datagram(&request, &mut out);
        (verdict, out.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_discard_has_a_counter_of_its_own_and_the_name_logs_print() {
        // Ports print these names in their logs and counter tables.
        assert_eq!(
            Discard::ALL.map(Discard::name),
            ["no wall clock", "malformed", "limited", "send failed"]
        );
        for (i, discard) in Discard::ALL.into_iter().enumerate() {
            assert_eq!(discard.index(), i, "{discard:?}");
        }
        assert_eq!(Discard::from(SendError::BufferFull), Discard::SendFailed);
    }
}
