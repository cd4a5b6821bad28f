//! NTP server, RFC 5905 server mode (and SNTP, RFC 4330): the time, to a
//! fraction of a millisecond, for `sntp`, `ntpdate -q`, `chronyd` or
//! `rdate -n`.
//!
//! A client request (mode 3) gets a server reply (mode 4), a symmetric
//! active packet (mode 1) a symmetric passive one (mode 2), each with the
//! request's version and poll, its transmit timestamp copied intact as the
//! origin timestamp, and our receive and transmit timestamps. Stratum,
//! reference ID, precision, root delay and dispersion come from the wall
//! clock's [`ClockSource`] (the board's, or the SNTP client's once it has
//! synced). Any other mode (a server reply, broadcast, `ntpq`'s control
//! messages), a version outside 1 to 4 and anything shorter than the
//! 48-byte header get no reply and are counted.
//!
//! When the wall clock is unknown, a request gets a kiss-o'-death: stratum
//! 0, leap indicator 3 ("unsynchronized"), kiss code `INIT`, and zero
//! receive and transmit timestamps, rather than a wrong time. Clients
//! discard it and ask again later.
//!
//! # Timestamps
//!
//! smoltcp keeps no receive time per datagram, and the stack reads the
//! clocks once per poll, right after the port woke it for the frame and
//! before the frame is read from the device (see [`Request::wall`]): that
//! reading is the receive timestamp. The reply is queued within the same
//! poll and sent before it returns, with no later clock reading available
//! to a service, so the transmit timestamp is the same reading. The
//! processing time between the two (microseconds on the host) counts as
//! network delay to the client: it widens the measured delay, and moves
//! the measured offset by at most half of it.
//!
//! Datagrams from source port 123 never get here: the stack's loop guard
//! refuses them (see [`guard`](crate::guard)), so `ntpd` acting as a client
//! (which always sends from port 123) is not answered; `chronyd`, `ntpdig`,
//! `ntpdate -q`, `rdate -n` and udpkit's own client send from other ports.

use crate::board::ClockSource;
use crate::service::{Discard, Outbox, Request, Service, Uses};
use crate::wire::ntp::{kiss, Leap, Mode, NtpShort, NtpTimestamp, HEADER_LEN};
use crate::wire::{NtpPacket, NtpRepr};

/// The port RFC 5905 assigns.
pub const DEFAULT_PORT: u16 = crate::wire::ntp::PORT;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "ntp";

/// Counters of the NTP server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NtpStats {
    /// Client requests (mode 3) answered with the time.
    pub client: u64,
    /// Symmetric active packets (mode 1) answered with the time.
    pub symmetric: u64,
    /// Requests answered with a kiss-o'-death: no wall clock.
    pub kiss_no_clock: u64,
    /// Not answered: shorter than the 48-byte header.
    pub short: u64,
    /// Not answered: version 0 or above 4.
    pub bad_version: u64,
    /// Not answered: a mode other than 1 or 3.
    pub bad_mode: u64,
}

/// The NTP server. It keeps nothing but counters.
#[derive(Debug, Default)]
pub struct NtpServer {
    stats: NtpStats,
}

impl NtpServer {
    /// A server with all counters at zero (`const`: a port may keep it in a
    /// `static`).
    pub const fn new() -> NtpServer {
        NtpServer {
            stats: NtpStats {
                client: 0,
                symmetric: 0,
                kiss_no_clock: 0,
                short: 0,
                bad_version: 0,
                bad_mode: 0,
            },
        }
    }

    /// Its counters so far.
    pub fn stats(&self) -> &NtpStats {
        &self.stats
    }
}

/// The reply to `request`, or why there is none. `wall` and `clock` are
/// the wall clock when the request was taken in and where it comes from.
pub fn reply(
    request: &NtpRepr,
    wall: Option<crate::UnixTime>,
    clock: &ClockSource,
) -> Result<NtpRepr, Refusal> {
    if !(1..=4).contains(&request.version) {
        return Err(Refusal::Version);
    }
    let mode = match request.mode {
        Mode::Client => Mode::Server,
        Mode::SymmetricActive => Mode::SymmetricPassive,
        _ => return Err(Refusal::Mode),
    };
    let answer = NtpRepr {
        version: request.version,
        mode,
        poll: request.poll,
        origin_timestamp: request.transmit_timestamp,
        // Every other field 0: stratum 0 and no timestamps, as a
        // kiss-o'-death has them.
        ..NtpRepr::client_request(NtpTimestamp::ZERO)
    };
    let Some(now) = wall.filter(|_| clock.is_synchronized()) else {
        return Ok(NtpRepr {
            leap: Leap::Unsynchronized,
            reference_id: kiss::INIT,
            ..answer
        });
    };
    let now = NtpTimestamp::from_unix(now);
    Ok(NtpRepr {
        leap: clock.leap,
        stratum: clock.stratum,
        precision: clock.precision,
        root_delay: NtpShort::from_duration(clock.root_delay),
        root_dispersion: NtpShort::from_duration(clock.root_dispersion),
        reference_id: clock.reference_id,
        reference_timestamp: clock.reference_time.map_or(now, NtpTimestamp::from_unix),
        receive_timestamp: now,
        transmit_timestamp: now,
        ..answer
    })
}

/// Why a packet gets no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Version 0, or above 4.
    Version,
    /// Not a client or symmetric active packet.
    Mode,
}

impl Service for NtpServer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses {
            wall_clock: true,
            timers: false,
        }
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        let Ok(parsed) = NtpRepr::parse(&NtpPacket::new_unchecked(request.payload)) else {
            self.stats.short += 1;
            return Err(Discard::Malformed);
        };
        let answer = match reply(&parsed, request.wall, &request.clock) {
            Ok(answer) => answer,
            Err(Refusal::Version) => {
                self.stats.bad_version += 1;
                return Err(Discard::Malformed);
            }
            Err(Refusal::Mode) => {
                self.stats.bad_mode += 1;
                return Err(Discard::Malformed);
            }
        };
        let payload = out.reserve(request.from, HEADER_LEN)?;
        answer.emit(&mut NtpPacket::new_unchecked(payload));
        match (answer.stratum, parsed.mode) {
            (0, _) => self.stats.kiss_no_clock += 1,
            (_, Mode::SymmetricActive) => self.stats.symmetric += 1,
            _ => self.stats.client += 1,
        }
        Ok(())
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        let s = &self.stats;
        report("client requests answered", s.client);
        report("symmetric requests answered", s.symmetric);
        report("kiss-o'-death (no wall clock)", s.kiss_no_clock);
        report("too short", s.short);
        report("bad version", s.bad_version);
        report("bad mode", s.bad_mode);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::service::testing::{VecOutbox, CLIENT};
    use crate::UnixTime;
    use smoltcp::time::{Duration, Instant};
    use smoltcp::wire::{IpAddress, Ipv4Address};

    /// 2026-11-23 15:04:05.25 UTC.
    const WALL: UnixTime = UnixTime::new(1_795_446_245, 250_000_000);

    fn gps() -> ClockSource {
        ClockSource {
            root_dispersion: Duration::from_micros(500),
            ..ClockSource::primary(*b"GPS\0", -20)
        }
    }

    /// A request as `ntpdig` sends one: LI 0, VN 4, mode 3, the client's
    /// time as transmit timestamp, and a poll of 6.
    fn request(version: u8, mode: u8) -> [u8; 48] {
        let mut bytes = [0u8; 48];
        bytes[0] = (version << 3) | mode;
        bytes[2] = 6;
        bytes[40..48].copy_from_slice(&[0xeb, 0x0d, 0x5a, 0x3c, 0x1f, 0x9a, 0x6b, 0x07]);
        bytes
    }

    fn ask(
        server: &mut NtpServer,
        payload: &[u8],
        wall: Option<UnixTime>,
        clock: ClockSource,
    ) -> (Result<(), Discard>, Vec<Vec<u8>>) {
        let mut out = VecOutbox::new();
        let request = Request {
            from: CLIENT,
            to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
            payload,
            now: Instant::from_secs(1),
            wall,
            clock,
        };
        let verdict = server.on_datagram(&request, &mut out);
        for (to, _) in &out.sent {
            assert_eq!(*to, CLIENT);
        }
        (verdict, out.sent.into_iter().map(|(_, p)| p).collect())
    }

    fn parse(bytes: &[u8]) -> NtpRepr {
        assert_eq!(bytes.len(), 48);
        NtpRepr::parse(&NtpPacket::new_checked(bytes).unwrap()).unwrap()
    }

    #[test]
    fn a_client_request_gets_a_server_reply_with_every_field_set() {
        let mut server = NtpServer::new();
        let (verdict, sent) = ask(&mut server, &request(4, 3), Some(WALL), gps());
        assert_eq!(verdict, Ok(()));
        let reply = parse(&sent[0]);
        let now = NtpTimestamp::from_unix(WALL);
        assert_eq!(reply.leap, Leap::NoWarning);
        assert_eq!(reply.version, 4);
        assert_eq!(reply.mode, Mode::Server);
        assert_eq!(reply.stratum, 1);
        assert_eq!(reply.poll, 6);
        assert_eq!(reply.precision, -20);
        assert_eq!(reply.root_delay, NtpShort(0));
        assert_eq!(reply.root_dispersion, NtpShort(33), "500 µs, rounded up");
        assert_eq!(reply.reference_id, *b"GPS\0");
        assert_eq!(reply.reference_timestamp, now);
        assert_eq!(
            reply.origin_timestamp,
            NtpTimestamp(0xeb0d_5a3c_1f9a_6b07),
            "the request's transmit timestamp, every bit of it"
        );
        assert_eq!(reply.receive_timestamp, now);
        assert_eq!(reply.transmit_timestamp, now);
        assert_eq!(reply.transmit_timestamp.to_unix(WALL), Some(WALL));
        assert_eq!(server.stats().client, 1);
    }

    #[test]
    fn ntpdigs_request_with_its_unsynchronized_leap_bits_is_answered() {
        let request = crate::wire::ntp::tests::NTPDIG_REQUEST;
        let (verdict, sent) = ask(&mut NtpServer::new(), &request, Some(WALL), gps());
        assert_eq!(verdict, Ok(()));
        let reply = parse(&sent[0]);
        assert_eq!(
            (reply.leap, reply.mode, reply.stratum),
            (Leap::NoWarning, Mode::Server, 1)
        );
        assert_eq!(reply.origin_timestamp, NtpTimestamp(0xeeae_f725_b6de_3800));
    }

    #[test]
    fn version_and_poll_are_copied_from_the_request() {
        for version in 1..=4 {
            let mut bytes = request(version, 3);
            bytes[2] = 10;
            let (_, sent) = ask(&mut NtpServer::new(), &bytes, Some(WALL), gps());
            let reply = parse(&sent[0]);
            assert_eq!((reply.version, reply.poll), (version, 10));
        }
    }

    #[test]
    fn the_source_sets_stratum_reference_and_leap() {
        let synced = ClockSource {
            stratum: 3,
            reference_id: [192, 168, 69, 2],
            precision: -18,
            root_delay: Duration::from_millis(20),
            root_dispersion: Duration::from_millis(5),
            reference_time: Some(UnixTime::from_secs(1_795_446_000)),
            leap: Leap::InsertSecond,
        };
        let (_, sent) = ask(&mut NtpServer::new(), &request(4, 3), Some(WALL), synced);
        let reply = parse(&sent[0]);
        assert_eq!(reply.stratum, 3);
        assert_eq!(reply.reference_id, [192, 168, 69, 2]);
        assert_eq!(reply.precision, -18);
        assert_eq!(reply.leap, Leap::InsertSecond);
        let delay = reply.root_delay.to_duration();
        assert!(
            delay >= Duration::from_millis(20) && delay < Duration::from_micros(20_016),
            "20 ms, rounded up to the next 2^-16 s: {delay}"
        );
        assert_eq!(
            reply.reference_timestamp,
            NtpTimestamp::from_unix(UnixTime::from_secs(1_795_446_000))
        );
        // The default local clock: LOCL at stratum 10, read to about a
        // millisecond (2^-10 s).
        let (_, sent) = ask(
            &mut NtpServer::new(),
            &request(4, 3),
            Some(WALL),
            ClockSource::LOCAL,
        );
        let reply = parse(&sent[0]);
        assert_eq!(
            (reply.stratum, reply.reference_id, reply.precision),
            (10, *b"LOCL", -10)
        );
        assert_eq!(sent[0][3] as i8, -10, "the precision byte, signed");
    }

    #[test]
    fn symmetric_active_gets_symmetric_passive() {
        let mut server = NtpServer::new();
        let (verdict, sent) = ask(&mut server, &request(4, 1), Some(WALL), gps());
        assert_eq!(verdict, Ok(()));
        let reply = parse(&sent[0]);
        assert_eq!(reply.mode, Mode::SymmetricPassive);
        assert_eq!(reply.stratum, 1);
        assert_eq!(server.stats().symmetric, 1);
    }

    #[test]
    fn other_modes_get_no_reply_and_are_counted() {
        let mut server = NtpServer::new();
        for mode in [0, 2, 4, 5, 6, 7] {
            let (verdict, sent) = ask(&mut server, &request(4, mode), Some(WALL), gps());
            assert_eq!(verdict, Err(Discard::Malformed), "mode {mode}");
            assert!(sent.is_empty());
        }
        assert_eq!(server.stats().bad_mode, 6);
    }

    #[test]
    fn a_port_prints_every_counter_by_name() {
        let mut server = NtpServer::new();
        let asks: [(&[u8], Option<UnixTime>); 8] = [
            (&request(4, 3), Some(WALL)),
            (&request(3, 3), Some(WALL)),
            (&request(4, 1), Some(WALL)),
            (&request(4, 3), None),
            (&request(4, 3)[..47], Some(WALL)),
            (&request(5, 3), Some(WALL)),
            (&request(4, 5), Some(WALL)),
            (&request(4, 6), Some(WALL)),
        ];
        for (payload, wall) in asks {
            let _ = ask(&mut server, payload, wall, gps());
        }
        let mut printed = Vec::new();
        server.counters(&mut |name, value| printed.push((name, value)));
        assert_eq!(
            printed,
            [
                ("client requests answered", 2),
                ("symmetric requests answered", 1),
                ("kiss-o'-death (no wall clock)", 1),
                ("too short", 1),
                ("bad version", 1),
                ("bad mode", 2),
            ]
        );
    }

    #[test]
    fn versions_outside_1_to_4_and_short_packets_get_no_reply() {
        let mut server = NtpServer::new();
        for version in [0, 5, 6, 7] {
            let (verdict, sent) = ask(&mut server, &request(version, 3), Some(WALL), gps());
            assert_eq!(verdict, Err(Discard::Malformed));
            assert!(sent.is_empty());
        }
        for len in [0, 1, 47] {
            let (verdict, sent) = ask(&mut server, &request(4, 3)[..len], Some(WALL), gps());
            assert_eq!(verdict, Err(Discard::Malformed));
            assert!(sent.is_empty());
        }
        assert_eq!((server.stats().bad_version, server.stats().short), (4, 3));
    }

    #[test]
    fn extension_fields_after_the_header_are_ignored() {
        let mut long = [0u8; 68];
        long[..48].copy_from_slice(&request(4, 3));
        let (verdict, sent) = ask(&mut NtpServer::new(), &long, Some(WALL), gps());
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent[0].len(), 48);
    }

    #[test]
    fn without_a_wall_clock_the_answer_is_a_kiss_o_death() {
        let mut server = NtpServer::new();
        for (wall, clock) in [
            (None, gps()),
            (None, ClockSource::UNSYNCHRONIZED),
            (Some(WALL), ClockSource::UNSYNCHRONIZED),
            (
                Some(WALL),
                ClockSource {
                    stratum: 0,
                    ..gps()
                },
            ),
        ] {
            let (verdict, sent) = ask(&mut server, &request(4, 3), wall, clock);
            assert_eq!(verdict, Ok(()));
            let reply = parse(&sent[0]);
            assert_eq!(reply.stratum, 0);
            assert_eq!(reply.leap, Leap::Unsynchronized);
            assert_eq!(reply.kiss_code(), Some(*b"INIT"));
            assert_eq!(reply.mode, Mode::Server);
            assert_eq!(reply.origin_timestamp, NtpTimestamp(0xeb0d_5a3c_1f9a_6b07));
            // No time at all rather than a wrong one.
            assert!(reply.receive_timestamp.is_zero());
            assert!(reply.transmit_timestamp.is_zero());
            assert!(reply.reference_timestamp.is_zero());
        }
        assert_eq!(server.stats().kiss_no_clock, 4);
        assert_eq!(server.stats().client, 0);
    }

    #[test]
    fn after_2036_the_timestamps_are_in_era_1() {
        // 2040-01-01 00:00:00.5 UTC
        let wall = UnixTime::new(2_208_988_800, 500_000_000);
        let (_, sent) = ask(&mut NtpServer::new(), &request(4, 3), Some(wall), gps());
        let reply = parse(&sent[0]);
        let expected_secs = (2_208_988_800u64 + 2_208_988_800 - (1 << 32)) as u32;
        assert_eq!(reply.transmit_timestamp.seconds(), expected_secs);
        assert_eq!(reply.transmit_timestamp.to_unix(wall), Some(wall));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut server = NtpServer::new();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..5_000 {
            let len = i % 80;
            let payload: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let wall = (i % 3 != 0).then_some(WALL);
            let (verdict, sent) = ask(&mut server, &payload, wall, gps());
            assert_eq!(verdict.is_ok(), sent.len() == 1);
            assert!(sent.iter().all(|p| p.len() == 48));
        }
    }
}
