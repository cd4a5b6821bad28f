//! The SNTP client alone: arbitrary replies (from its server and from
//! others, answering its request or not), big clock jumps, timestamps at
//! the 2036 and 2106 boundaries; no reply is believed unless it answers
//! the request pending, and requests keep their pace.

use std::collections::BTreeSet;

use udpkit::clock::SECONDS_1900_TO_1970;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint};
use udpkit::sntp::{SntpClient, SntpConfig, DEFAULT_NOT_BEFORE, MIN_INTERVAL};
use udpkit::wire::ntp::{Leap, Mode, NtpShort, NtpTimestamp, HEADER_LEN, VERSION};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::{ClockSource, Request, Service, UnixTime};

use super::Input;
use crate::fuzz::outbox::RecordingOutbox;

/// Seconds since 1900 of interesting instants, as NTP timestamps' seconds
/// are: now-ish, just before and after the 2036 wrap of the 32-bit
/// seconds, just before 2106 (the end of 32-bit Unix seconds), 1970.
const ERAS: [u64; 6] = [
    1_795_446_245 + SECONDS_1900_TO_1970,
    (1 << 32) - 5,
    (1 << 32) + 5,
    (1 << 32) - 5 + SECONDS_1900_TO_1970,
    SECONDS_1900_TO_1970,
    0,
];

/// The times the client may be told not to believe anything before.
const NOT_BEFORE: [UnixTime; 4] = [
    DEFAULT_NOT_BEFORE,
    UnixTime::from_secs(0),
    UnixTime::from_secs((1 << 32) - SECONDS_1900_TO_1970 - 60),
    UnixTime::from_secs((1 << 32) - 60),
];

const BOOT: Instant = Instant::from_micros_const(1_000_000_000);

/// A request the client sent and has not had answered, as the model sees it.
#[derive(Debug, Clone, Copy)]
struct Pending {
    nonce: NtpTimestamp,
    sent_at: Instant,
}

/// Runs the SNTP target on `data`.
pub fn sntp(data: &[u8]) {
    let mut input = Input::new(data);
    let server_addr = match input.u8() % 2 {
        0 => IpAddress::v4(192, 168, 69, 123),
        _ => IpAddress::v6(0xfdaa, 0, 0, 0, 0, 0, 0, 0x123),
    };
    let config = SntpConfig {
        interval: Duration::from_secs(u64::from(input.u16())),
        max_backoff: Duration::from_secs(u64::from(input.u16())),
        timeout: Duration::from_millis(u64::from(input.u16()) * 16),
        not_before: input.pick(&NOT_BEFORE),
        seed: input.u64(),
        ..SntpConfig::new(server_addr, 0)
    };
    let mut client = SntpClient::new(config);
    let config = *client.config();
    let server = config.server;
    let mut now = BOOT;
    let mut pending: Option<Pending> = None;
    let mut last_request: Option<Instant> = None;
    let mut nonces = BTreeSet::new();
    // Nonces already answered: a replay of their answer is not believed.
    let mut answered: Option<NtpTimestamp> = None;
    while !input.is_empty() {
        match input.u8() % 6 {
            0 => now += Duration::from_millis(u64::from(input.u16())),
            1 => now += Duration::from_secs(u64::from(input.u16())),
            2 => {
                if now.total_micros() < 1 << 60 {
                    now += Duration::from_secs(u64::from(input.u32()));
                }
            }
            _ => {
                let mut bytes = [0u8; HEADER_LEN + 8];
                let len = reply(&mut input, pending, answered, &mut bytes);
                let from = match input.u8() % 8 {
                    0 => IpEndpoint::new(server.addr, 1123),
                    1 => IpEndpoint::new(IpAddress::v4(192, 168, 69, 124), 123),
                    _ => server,
                };
                let payload = &bytes[..len];
                let before = (
                    *client.stats(),
                    client.synced().copied(),
                    client.stopped_by(),
                );
                let mut out = RecordingOutbox::new(1472);
                let request = Request {
                    from,
                    to: IpAddress::v4(192, 168, 69, 1),
                    payload,
                    now,
                    wall: None,
                    clock: ClockSource::UNSYNCHRONIZED,
                };
                let _ = client.on_datagram(&request, &mut out);
                assert!(out.sent.is_empty(), "the client answered a datagram");
                let parsed = NtpPacket::new_checked(payload)
                    .ok()
                    .and_then(|p| NtpRepr::parse(&p).ok());
                let answers = from == server
                    && parsed.is_some_and(|r| {
                        r.mode == Mode::Server
                            && pending.is_some_and(|p| p.nonce == r.origin_timestamp)
                    });
                let after = (
                    *client.stats(),
                    client.synced().copied(),
                    client.stopped_by(),
                );
                if !answers {
                    let (mut stats, synced, stopped) = before;
                    stats.ignored = after.0.ignored;
                    assert_eq!(
                        (stats, synced, stopped),
                        after,
                        "a datagram that does not answer the pending request changed the client"
                    );
                } else {
                    pending = None;
                    answered = parsed.map(|r| r.origin_timestamp);
                }
                if after.0.synced > before.0.synced {
                    let reply = parsed.expect("a believed reply parses");
                    assert!(
                        answers,
                        "a reply that does not answer the request was believed"
                    );
                    assert_eq!(reply.version, VERSION);
                    assert!(
                        (1..=15).contains(&reply.stratum),
                        "stratum {}",
                        reply.stratum
                    );
                    assert_ne!(reply.leap, Leap::Unsynchronized);
                    assert!(!reply.transmit_timestamp.is_zero());
                    assert!(!reply.receive_timestamp.is_zero());
                }
            }
        }
        // The client's timer, as the stack runs it: a few times at most
        // per poll, while it is due.
        for _ in 0..4 {
            if client.poll_at().is_none_or(|at| at > now) {
                break;
            }
            if pending.is_some_and(|p| now >= p.sent_at + config.timeout) {
                pending = None;
            }
            let mut out = RecordingOutbox::new(1472);
            client.on_tick(now, None, &mut out);
            assert!(out.sent.len() <= 1, "one request at a time");
            for (to, bytes, _) in &out.sent {
                assert_eq!(*to, server, "a request to another than the server");
                assert!(
                    client.stopped_by().is_none(),
                    "a request after a kiss of death"
                );
                assert_eq!(bytes.len(), HEADER_LEN);
                let request = NtpRepr::parse(&NtpPacket::new_checked(&bytes[..]).unwrap()).unwrap();
                assert_eq!((request.mode, request.version), (Mode::Client, VERSION));
                let nonce = request.transmit_timestamp;
                assert!(!nonce.is_zero(), "a zero nonce");
                assert!(nonces.insert(nonce.0), "a nonce used twice");
                if let Some(last) = last_request {
                    assert!(
                        now >= last + MIN_INTERVAL,
                        "two requests {} ms apart",
                        (now - last).total_millis()
                    );
                }
                last_request = Some(now);
                pending = Some(Pending {
                    nonce,
                    sent_at: now,
                });
            }
        }
        if client.stopped_by().is_some() {
            assert_eq!(client.poll_at(), None, "a stopped client wakes no one");
        }
        if let Some((wall, source)) = client.time(now) {
            assert!(
                wall >= config.not_before,
                "the client tells {wall:?}, before {:?}",
                config.not_before
            );
            assert!((2..=16).contains(&source.stratum));
        }
    }
}

/// A reply the input describes into `bytes`; returns its length. Mostly a
/// plausible server reply (answering the pending request, or a replay, or
/// a guess), its timestamps near one of the [`ERAS`].
fn reply(
    input: &mut Input<'_>,
    pending: Option<Pending>,
    answered: Option<NtpTimestamp>,
    bytes: &mut [u8; HEADER_LEN + 8],
) -> usize {
    if input.u8() % 8 == 0 {
        let raw = input.bytes(usize::from(input.clone().u8()) % (HEADER_LEN + 9));
        bytes[..raw.len()].copy_from_slice(raw);
        return raw.len();
    }
    let flags = input.u8();
    let era = input.pick(&ERAS);
    let at = |input: &mut Input<'_>| {
        let secs = era.wrapping_add(u64::from(input.u16())) & 0xffff_ffff;
        NtpTimestamp((secs << 32) | u64::from(input.u32()))
    };
    let origin = match input.u8() % 4 {
        0 => NtpTimestamp(input.u64()),
        1 => answered.unwrap_or(NtpTimestamp::ZERO),
        _ => pending.map_or(NtpTimestamp(input.u64()), |p| p.nonce),
    };
    let repr = NtpRepr {
        leap: Leap::from_bits(if flags & 1 == 0 { 0 } else { input.u8() }),
        version: if flags & 2 == 0 {
            VERSION
        } else {
            input.u8() & 7
        },
        mode: if flags & 4 == 0 {
            Mode::Server
        } else {
            Mode::from_bits(input.u8())
        },
        stratum: if flags & 8 == 0 { 2 } else { input.u8() },
        poll: input.u8() as i8,
        precision: input.u8() as i8,
        root_delay: NtpShort(if flags & 16 == 0 { 0x100 } else { input.u32() }),
        root_dispersion: NtpShort(if flags & 32 == 0 { 0x100 } else { input.u32() }),
        reference_id: [input.u8(), input.u8(), input.u8(), input.u8()],
        reference_timestamp: at(input),
        origin_timestamp: origin,
        receive_timestamp: at(input),
        transmit_timestamp: at(input),
    };
    repr.emit(&mut NtpPacket::new_unchecked(&mut bytes[..]));
    if flags & 64 == 0 {
        HEADER_LEN
    } else {
        HEADER_LEN + usize::from(input.u8() % 9)
    }
}
