//! SNTP client (RFC 4330): the wall clock of a board that has none, from
//! an NTP server.
//!
//! [`SntpClient`] is a [`Service`] on a local port of its own: its timer
//! sends a request to the configured server at boot and then periodically,
//! and its replies arrive as datagrams. Once a reply passes the checks, the
//! client keeps the offset between the server's time and the board's
//! monotonic clock, and offers `monotonic + offset` as the wall clock
//! ([`Service::wall_clock`]); the stack uses it whenever the board has no
//! wall clock of its own, so time, daytime and the NTP server answer from
//! then on (the NTP server at the upstream's stratum + 1, with the
//! server's address as reference ID, see [`ntp::reference_id_of`]).
//!
//! # Pacing (RFC 4330, section 10)
//!
//! - Never two requests less than [`MIN_INTERVAL`] (15 s) apart, whatever
//!   happens: every request pushes the earliest next one that far out.
//! - After a good reply, the next request goes [`SntpConfig::interval`]
//!   later; after a timeout or a bad reply, 15 s later, then 30, 60, ... up
//!   to [`SntpConfig::max_backoff`].
//! - Kiss-o'-death: `RATE` doubles the shortest interval used from then
//!   on; `DENY` and `RSTR` stop the client for good (it keeps the time it
//!   has); any other code counts as a failure.
//!
//! # Checks on a reply (as `sntpc` and RFC 4330, section 5, do)
//!
//! From the configured server's address and port; a request outstanding;
//! mode 4 (server); the origin timestamp equal to the transmit timestamp of
//! our request. A datagram failing those is ignored (it may be forged or
//! stale) and the request stays outstanding until its timeout. A reply
//! that passes them answers the request, and is used only with our
//! request's version (4), a stratum of 1 to 15 (0 is a kiss-o'-death), a
//! leap indicator other than 3 (unsynchronized), a root distance (root
//! delay / 2 + root dispersion) below 16 s, non-zero receive and transmit
//! timestamps, and a reference timestamp no later than the transmit one.
//!
//! The transmit timestamp of a request is a random number, not our time
//! (we may have none, and a server has no use for it): it is a nonce that a
//! reply must echo, as RFC 5905's data minimization advice suggests.
//!
//! # Time keeping
//!
//! Offset θ and round-trip delay δ are RFC 4330's, with T1 and T4 read from
//! the monotonic clock. Each good reply replaces the offset (a step; the
//! monotonic clock is never adjusted), so the wall clock may move back by
//! the drift since the previous reply. Between replies, the error bound
//! (root dispersion) grows by 15 ppm of the elapsed time; past 16 s
//! (RFC 5905's MAXDISP, reached after about 12 days without a good reply)
//! the time counts as lost again.
//!
//! Timestamps are read in the era nearest to the time we keep, or before
//! the first sync, in the 136 years from [`SntpConfig::not_before`].
//! Times are reckoned in nanoseconds since 1970 in 64 bits
//! ([`clock::unix_nanos`]), which end in 2262: the client tells no time
//! past that, nor after 292 years of its monotonic clock.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpAddress, IpCidr, IpEndpoint};

use crate::board::ClockSource;
use crate::clock::{self, UnixTime};
use crate::service::{Burst, Discard, Outbox, Request, Service, Uses};
use crate::wire::ntp::{self, kiss, Leap, Mode, NtpTimestamp, HEADER_LEN};
use crate::wire::{NtpPacket, NtpRepr};

/// The shortest time between two requests, whatever happens (RFC 4330,
/// section 10: "A client MUST NOT under any conditions use a poll interval
/// less than 15 seconds").
pub const MIN_INTERVAL: Duration = Duration::from_secs(15);

/// The local port the client sends from unless told otherwise. Below 1024,
/// so that it is never the ephemeral port of a client on Linux (the loop
/// guard refuses datagrams from the ports of our own services).
pub const DEFAULT_LOCAL_PORT: u16 = 1123;

/// Frequency tolerance of a clock that nothing disciplines, RFC 5905's PHI:
/// 15 parts per million.
const PHI_PPM: u64 = 15;

/// The longest interval between requests, whatever the configuration and
/// the server's `RATE` kisses say: RFC 5905's MAXPOLL, 2^17 s (36 hours).
/// Every wait stays far from the ends of the monotonic clock's range.
const MAX_POLL: Duration = Duration::from_secs(1 << 17);

/// Past this error bound the time counts as lost (RFC 5905's MAXDISP).
const MAX_DISPERSION: Duration = Duration::from_secs(16);

/// 2025-01-01 00:00:00 UTC: no reply can be older than this software.
pub const DEFAULT_NOT_BEFORE: UnixTime = UnixTime::from_secs(1_735_689_600);

/// Nanoseconds in one microsecond, for the monotonic clock.
const NANOS_PER_MICRO: i64 = 1_000;

/// Half an era, 2^31 s (68 years), in nanoseconds.
const HALF_ERA_NANOS: i64 = (1 << 31) * 1_000_000_000;

/// Nanoseconds in one second.
const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// How the client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SntpConfig {
    /// The NTP server: its address and port (123).
    pub server: IpEndpoint,
    /// Time between requests while the server answers; at least
    /// [`MIN_INTERVAL`], at most 2^17 s (36 h, RFC 5905's MAXPOLL).
    pub interval: Duration,
    /// The longest wait between requests after failures; at least
    /// [`MIN_INTERVAL`], at most 2^17 s.
    pub max_backoff: Duration,
    /// How long to wait for a reply; at most 2^17 s.
    pub timeout: Duration,
    /// No time before this is believed; before the first sync, a timestamp
    /// is read in the era that puts it within 136 years after it.
    pub not_before: UnixTime,
    /// Seed of the request nonces; different on every boot where the board
    /// can manage it (its entropy seed).
    pub seed: u64,
}

impl SntpConfig {
    /// A server at `address`, port 123, asked every 1024 s once synced
    /// (backing off to the same after failures), with a 2 s timeout.
    pub fn new(address: IpAddress, seed: u64) -> SntpConfig {
        SntpConfig {
            server: IpEndpoint::new(address, ntp::PORT),
            interval: Duration::from_secs(1024),
            max_backoff: Duration::from_secs(1024),
            timeout: Duration::from_secs(2),
            not_before: DEFAULT_NOT_BEFORE,
            seed,
        }
    }
}

/// Why a reply to our request is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// Not a server reply (mode 4).
    Mode(Mode),
    /// Its origin timestamp is not our request's transmit timestamp: not
    /// an answer to it (stale, duplicated or forged).
    Origin,
    /// Not the version of our request (4).
    Version(u8),
    /// A kiss-o'-death (stratum 0) with its code.
    Kiss([u8; 4]),
    /// Stratum 16 or above: the server does not know the time.
    Stratum(u8),
    /// Leap indicator 3: the server's clock is not synchronized.
    Unsynchronized,
    /// Root delay / 2 + root dispersion of 16 s or more (RFC 5905's
    /// MAXDISP): the server's time is too uncertain to use.
    RootDistance,
    /// A zero receive or transmit timestamp.
    ZeroTimestamp,
    /// A reference timestamp later than the transmit timestamp.
    ReferenceAfterTransmit,
}

impl core::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReplyError::Mode(mode) => write!(f, "not a server reply (mode {})", mode.bits()),
            ReplyError::Origin => write!(f, "origin timestamp does not match our request"),
            ReplyError::Version(v) => write!(f, "version {v}, not our request's {}", ntp::VERSION),
            ReplyError::Kiss(code) => match ntp::ascii_id(code) {
                Some(text) => write!(f, "kiss-o'-death {text}"),
                None => write!(f, "kiss-o'-death {code:?}"),
            },
            ReplyError::Stratum(s) => write!(f, "stratum {s}: the server is not synchronized"),
            ReplyError::Unsynchronized => write!(f, "leap indicator 3: server not synchronized"),
            ReplyError::RootDistance => write!(f, "root distance of 16 s or more"),
            ReplyError::ZeroTimestamp => write!(f, "zero receive or transmit timestamp"),
            ReplyError::ReferenceAfterTransmit => {
                write!(f, "reference timestamp later than the transmit timestamp")
            }
        }
    }
}

impl ReplyError {
    /// Whether the reply answers our request at all (its origin matched):
    /// only then may it end the wait for one.
    pub fn answers_request(&self) -> bool {
        !matches!(self, ReplyError::Mode(_) | ReplyError::Origin)
    }
}

/// Checks `reply` against the request whose transmit timestamp was
/// `sent`, in the order `sntpc` and RFC 4330 apply them.
pub fn check_reply(reply: &NtpRepr, sent: NtpTimestamp) -> Result<(), ReplyError> {
    if reply.mode != Mode::Server {
        return Err(ReplyError::Mode(reply.mode));
    }
    if reply.origin_timestamp != sent {
        return Err(ReplyError::Origin);
    }
    // A server answers in the version it was asked in (RFC 5905).
    if reply.version != ntp::VERSION {
        return Err(ReplyError::Version(reply.version));
    }
    if let Some(code) = reply.kiss_code() {
        return Err(ReplyError::Kiss(code));
    }
    if reply.stratum > 15 {
        return Err(ReplyError::Stratum(reply.stratum));
    }
    if reply.leap == Leap::Unsynchronized {
        return Err(ReplyError::Unsynchronized);
    }
    let distance = u64::from(reply.root_delay.0 / 2) + u64::from(reply.root_dispersion.0);
    if distance >= MAX_DISPERSION.secs() << 16 {
        return Err(ReplyError::RootDistance);
    }
    if reply.transmit_timestamp.is_zero() || reply.receive_timestamp.is_zero() {
        return Err(ReplyError::ZeroTimestamp);
    }
    // A clock set after it sent the reply: its timestamps are not to be
    // trusted. The difference is taken modulo 2^64, so that a reference
    // just before the 2036 wrap and a reply just after it compare right.
    let reference = reply.reference_timestamp;
    if !reference.is_zero() && (reply.transmit_timestamp.0.wrapping_sub(reference.0) as i64) < 0 {
        return Err(ReplyError::ReferenceAfterTransmit);
    }
    Ok(())
}

/// Offset and round-trip delay, in nanoseconds, of one exchange (RFC 4330,
/// section 5): `t1` request sent and `t4` reply received by our clock,
/// `t2` request received and `t3` reply sent by the server's.
/// The offset is what to add to our clock to get the server's.
///
/// `None` when two of them are more than 292 years apart (a difference
/// past i64). The offset is rounded toward zero, as if the sum of its two
/// halves were exact: a clock from 2116 on has halves that add up past
/// i64.
pub fn offset_and_delay(t1: i64, t2: i64, t3: i64, t4: i64) -> Option<(i64, i64)> {
    let offset = half_sum(t2.checked_sub(t1)?, t3.checked_sub(t4)?);
    let delay = t4.checked_sub(t1)?.checked_sub(t3.checked_sub(t2)?)?;
    Some((offset, delay))
}

/// `(a + b) / 2`, rounded toward zero, without the sum's overflow.
fn half_sum(a: i64, b: i64) -> i64 {
    // Rounded down: the halves, and the half that two odd ones make.
    let floor = (a >> 1) + (b >> 1) + (a & b & 1);
    // An odd sum below zero is half a unit above its floor: one up.
    floor + ((a ^ b) & 1 & i64::from(floor < 0))
}

/// 2^`precision` seconds, in nanoseconds: at least 1, and at most
/// `u64::MAX` (584 years; from 2^4 s on, past MAXDISP anyway).
///
/// Doubled or halved once per power of two, not shifted by it: a 64-bit
/// shift by a variable is a call to compiler_builtins on a 32-bit target.
const fn precision_nanos(precision: i8) -> u64 {
    let mut nanos = NANOS_PER_SECOND;
    let mut steps = precision.unsigned_abs();
    while steps > 0 {
        nanos = if precision >= 0 {
            nanos.saturating_add(nanos)
        } else {
            nanos >> 1
        };
        steps -= 1;
    }
    if nanos == 0 {
        1
    } else {
        nanos
    }
}

fn double(duration: Duration) -> Duration {
    Duration::from_micros(duration.total_micros().saturating_mul(2))
}

/// `nanos` rounded up to whole microseconds, so that an error bound never
/// shrinks.
fn duration_from_nanos(nanos: u64) -> Duration {
    // Not `div_ceil`: a 64-bit division (see `clock::div_rem`).
    let (micros, rest) = clock::div_rem::<1_000>(nanos);
    Duration::from_micros(micros + u64::from(rest != 0))
}

fn nanos_of(duration: Duration) -> u64 {
    duration.total_micros().saturating_mul(1_000)
}

/// The monotonic clock in nanoseconds; `None` past 292 years from its
/// epoch (boot), where i64 nanoseconds end.
fn mono_nanos(instant: Instant) -> Option<i64> {
    instant.total_micros().checked_mul(NANOS_PER_MICRO)
}

/// The wall clock at monotonic time `at` for an offset between the two, in
/// nanoseconds since 1970; `None` when it is past 2262.
fn wall_nanos(at: Instant, offset_nanos: i64) -> Option<i64> {
    mono_nanos(at)?.checked_add(offset_nanos)
}

/// As [`wall_nanos`], as a [`UnixTime`]: `None` before 1970 too.
fn wall_at(at: Instant, offset_nanos: i64) -> Option<UnixTime> {
    clock::from_unix_nanos(wall_nanos(at, offset_nanos)?)
}

/// The state of a synchronization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    /// Wall clock minus monotonic clock, nanoseconds.
    pub offset_nanos: i64,
    /// The round-trip delay of the exchange, nanoseconds (never negative).
    pub delay_nanos: u64,
    /// Monotonic time of the reply.
    pub at: Instant,
    /// The server's stratum (1: a reference clock; ours is one more).
    pub server_stratum: u8,
    /// The server's precision, as a power of two of seconds.
    pub server_precision: i8,
    /// The server's round-trip delay to its reference clock.
    pub server_root_delay: Duration,
    /// The server's dispersion from its reference clock (how far off it
    /// may be).
    pub server_root_dispersion: Duration,
    /// The server's leap indicator: a leap second announced for the end of
    /// the day.
    pub leap: Leap,
    /// Our reference ID: the server's IPv4 address, or its IPv6 address's
    /// hash ([`ntp::reference_id_of`]).
    pub reference_id: [u8; 4],
}

/// The client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SntpStats {
    /// Requests sent.
    pub requests: u64,
    /// Replies used to set the time.
    pub synced: u64,
    /// Requests that got no reply within the timeout.
    pub timeouts: u64,
    /// Replies to our request that failed a check (kiss codes apart).
    pub rejected: u64,
    /// Datagrams that were no reply to our request (wrong source, none
    /// outstanding, wrong mode or origin, too short).
    pub ignored: u64,
    /// `RATE` kisses: the server asked for fewer requests, and the interval
    /// grew.
    pub kiss_rate: u64,
    /// `DENY` or `RSTR` kisses: the server refuses us, and the client
    /// stopped.
    pub kiss_deny: u64,
    /// Kisses with any other code (`INIT`, ...): the reply was not used.
    pub kiss_other: u64,
    /// Requests that could not be queued.
    pub send_failed: u64,
}

/// A request waiting for its reply.
#[derive(Debug, Clone, Copy)]
struct Pending {
    nonce: NtpTimestamp,
    sent_at: Instant,
}

/// The SNTP client; see the [module documentation](self).
#[derive(Debug)]
pub struct SntpClient {
    config: SntpConfig,
    /// The earliest time the next request may go.
    next_send: Instant,
    /// When the last request went.
    last_sent: Option<Instant>,
    pending: Option<Pending>,
    /// The wait after the next failure.
    backoff: Duration,
    /// The shortest interval the server's `RATE` kisses allow.
    rate_floor: Duration,
    /// The kiss code that stopped the client.
    stopped: Option<[u8; 4]>,
    synced: Option<Synced>,
    rng: u64,
    stats: SntpStats,
}

impl SntpClient {
    /// A client that sends its first request on its first tick.
    pub fn new(config: SntpConfig) -> SntpClient {
        let config = SntpConfig {
            interval: config.interval.clamp(MIN_INTERVAL, MAX_POLL),
            max_backoff: config.max_backoff.clamp(MIN_INTERVAL, MAX_POLL),
            timeout: config.timeout.min(MAX_POLL),
            ..config
        };
        SntpClient {
            config,
            next_send: Instant::ZERO,
            last_sent: None,
            pending: None,
            backoff: MIN_INTERVAL,
            rate_floor: MIN_INTERVAL,
            stopped: None,
            synced: None,
            rng: config.seed,
            stats: SntpStats::default(),
        }
    }

    /// Its configuration, the intervals as clamped by [`SntpClient::new`].
    pub fn config(&self) -> &SntpConfig {
        &self.config
    }

    /// Its counters so far.
    pub fn stats(&self) -> &SntpStats {
        &self.stats
    }

    /// The last synchronization, if any.
    pub fn synced(&self) -> Option<&Synced> {
        self.synced.as_ref()
    }

    /// The kiss code (`DENY`, `RSTR`) that made the client stop, if any.
    pub fn stopped_by(&self) -> Option<[u8; 4]> {
        self.stopped
    }

    /// When the next request may go (while none is outstanding).
    pub fn next_request(&self) -> Instant {
        self.next_send
    }

    /// The wall clock at monotonic time `now`, with its source, while the
    /// client is synced and its error bound is below 16 s.
    pub fn time(&self, now: Instant) -> Option<(UnixTime, ClockSource)> {
        let synced = self.synced?;
        let dispersion = self.root_dispersion(&synced, now);
        if dispersion >= MAX_DISPERSION {
            return None;
        }
        let wall = wall_at(now, synced.offset_nanos)?;
        let reference_time = wall_at(synced.at, synced.offset_nanos);
        let source = ClockSource {
            // An upstream at 15 makes us 16: unsynchronized, for NTP.
            stratum: synced.server_stratum.saturating_add(1).min(16),
            reference_id: synced.reference_id,
            precision: OUR_PRECISION,
            root_delay: synced.server_root_delay + duration_from_nanos(synced.delay_nanos),
            root_dispersion: dispersion,
            reference_time,
            leap: synced.leap,
        };
        Some((wall, source))
    }

    /// RFC 5905's root dispersion of our time at `now`: the server's, both
    /// precisions, and 15 ppm of the time since the reply.
    fn root_dispersion(&self, synced: &Synced, now: Instant) -> Duration {
        let elapsed_micros = now.total_micros().saturating_sub(synced.at.total_micros());
        // 15 ppm of the elapsed microseconds, in nanoseconds: 15 per 1000.
        let drift = clock::div_rem::<1_000>(
            u64::try_from(elapsed_micros)
                .unwrap_or(0)
                .saturating_mul(PHI_PPM),
        )
        .0;
        let nanos = nanos_of(synced.server_root_dispersion)
            .saturating_add(precision_nanos(synced.server_precision))
            .saturating_add(OUR_PRECISION_NANOS)
            .saturating_add(drift);
        duration_from_nanos(nanos)
    }

    /// A fresh non-zero nonce (splitmix64).
    fn nonce(&mut self) -> NtpTimestamp {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        NtpTimestamp((z ^ (z >> 31)).max(1))
    }

    /// Schedules the next request after a failed exchange started at
    /// `sent_at`, and doubles the wait for the one after.
    fn failed(&mut self, sent_at: Instant) {
        let wait = self.backoff.max(self.rate_floor);
        self.next_send = self.next_send.max(sent_at + wait);
        self.backoff = double(self.backoff).min(self.config.max_backoff);
    }

    // The next send waits for the request's end: a reply (`accept`), a
    // refusal or a timeout (`failed`), each of which puts it at least
    // MIN_INTERVAL after this one.
    fn send(&mut self, now: Instant, out: &mut dyn Outbox) {
        self.last_sent = Some(now);
        let nonce = self.nonce();
        let Ok(payload) = out.reserve(self.config.server, HEADER_LEN) else {
            self.stats.send_failed += 1;
            log_debug!("sntp: cannot queue a request to {}", self.config.server);
            self.failed(now);
            return;
        };
        NtpRepr::client_request(nonce).emit(&mut NtpPacket::new_unchecked(payload));
        self.pending = Some(Pending {
            nonce,
            sent_at: now,
        });
        self.stats.requests += 1;
    }

    /// The era pivot: the time we keep, or the middle of the 136 years
    /// after `not_before` (or 2262, where nanoseconds end, if sooner).
    fn pivot_nanos(&self, now: Instant) -> Option<i64> {
        match self.synced {
            Some(synced) => wall_nanos(now, synced.offset_nanos),
            None => Some(
                clock::unix_nanos(self.config.not_before)
                    .map_or(i64::MAX, |nanos| nanos.saturating_add(HALF_ERA_NANOS)),
            ),
        }
    }

    /// Offset and delay of the exchange `reply` ends, when its timestamps
    /// and our clock's are all within 1677 to 2262.
    fn measure(&self, reply: &NtpRepr, pending: Pending, now: Instant) -> Option<(i64, i64)> {
        let pivot = self.pivot_nanos(now)?;
        let t2 = reply.receive_timestamp.to_unix_nanos(pivot)?;
        let t3 = reply.transmit_timestamp.to_unix_nanos(pivot)?;
        offset_and_delay(mono_nanos(pending.sent_at)?, t2, t3, mono_nanos(now)?)
    }

    fn accept(&mut self, reply: &NtpRepr, pending: Pending, now: Instant) -> Result<(), Discard> {
        let Some((offset, delay)) = self.measure(reply, pending, now) else {
            self.stats.rejected += 1;
            self.failed(pending.sent_at);
            return Err(Discard::Malformed);
        };
        if wall_at(now, offset).is_none_or(|wall| wall < self.config.not_before) {
            log_warn!(
                "sntp: {} says it is before {} s since 1970: not believed",
                self.config.server,
                self.config.not_before.secs
            );
            self.stats.rejected += 1;
            self.failed(pending.sent_at);
            return Err(Discard::Malformed);
        }
        let reference_id = reference_id_of(self.config.server.addr);
        let previous = self.synced.map(|s| s.offset_nanos);
        self.synced = Some(Synced {
            offset_nanos: offset,
            // Negative when the server says it took longer than the
            // round trip: no delay at all, not a negative one.
            delay_nanos: u64::try_from(delay).unwrap_or(0),
            at: now,
            server_stratum: reply.stratum,
            server_precision: reply.precision,
            server_root_delay: reply.root_delay.to_duration(),
            server_root_dispersion: reply.root_dispersion.to_duration(),
            leap: reply.leap,
            reference_id,
        });
        self.stats.synced += 1;
        self.backoff = MIN_INTERVAL;
        let wait = self.config.interval.max(self.rate_floor);
        self.next_send = self.next_send.max(pending.sent_at + wait);
        if let Some(previous) = previous {
            log_debug!(
                "sntp: {}: offset changed by {} µs, delay {} µs",
                self.config.server,
                offset.saturating_sub(previous) / NANOS_PER_MICRO,
                delay / NANOS_PER_MICRO,
            );
        } else {
            log_info!(
                "sntp: synced to {} (stratum {}): delay {} µs",
                self.config.server,
                reply.stratum,
                delay / NANOS_PER_MICRO,
            );
        }
        Ok(())
    }

    fn refuse(&mut self, error: ReplyError, pending: Pending) {
        match error {
            ReplyError::Kiss(code) if code == kiss::DENY || code == kiss::RSTR => {
                self.stats.kiss_deny += 1;
                self.stopped = Some(code);
                log_warn!(
                    "sntp: {} refuses us ({error}): no more requests to it",
                    self.config.server
                );
                return;
            }
            ReplyError::Kiss(code) if code == kiss::RATE => {
                self.stats.kiss_rate += 1;
                self.rate_floor = double(self.rate_floor.max(self.backoff)).min(MAX_POLL);
                log_info!(
                    "sntp: {} asks for fewer requests: at most one every {} s",
                    self.config.server,
                    self.rate_floor.secs()
                );
            }
            ReplyError::Kiss(_) => self.stats.kiss_other += 1,
            _ => self.stats.rejected += 1,
        }
        log_debug!("sntp: {}: reply not used: {error}", self.config.server);
        self.failed(pending.sent_at);
    }
}

/// Our own clock's precision: the monotonic clock counts microseconds.
const OUR_PRECISION: i8 = -19;
/// [`OUR_PRECISION`] in nanoseconds, once, when it compiles.
const OUR_PRECISION_NANOS: u64 = precision_nanos(OUR_PRECISION);

impl Service for SntpClient {
    fn name(&self) -> &'static str {
        "sntp"
    }

    /// Its retries and polls; the wall clock is what it keeps, not reads.
    fn uses(&self) -> Uses {
        Uses {
            wall_clock: false,
            timers: true,
        }
    }

    fn on_datagram(&mut self, request: &Request<'_>, _out: &mut dyn Outbox) -> Result<(), Discard> {
        if request.from != self.config.server {
            self.stats.ignored += 1;
            return Err(Discard::Malformed);
        }
        let Some(pending) = self.pending else {
            self.stats.ignored += 1;
            return Err(Discard::Malformed);
        };
        let Ok(reply) = NtpRepr::parse(&NtpPacket::new_unchecked(request.payload)) else {
            self.stats.ignored += 1;
            return Err(Discard::Malformed);
        };
        match check_reply(&reply, pending.nonce) {
            Ok(()) => {
                self.pending = None;
                self.accept(&reply, pending, request.now)
            }
            Err(error) if !error.answers_request() => {
                self.stats.ignored += 1;
                Err(Discard::Malformed)
            }
            Err(error) => {
                self.pending = None;
                self.refuse(error, pending);
                Err(Discard::Malformed)
            }
        }
    }

    fn burst(&self) -> Burst {
        Burst {
            datagrams: 1,
            bytes: HEADER_LEN,
        }
    }

    /// Replies come from port 123, which the loop guard refuses for
    /// services that answer; this one never answers what it receives, and
    /// checks that each reply is the server's answer to its own request.
    fn guarded(&self) -> bool {
        false
    }

    fn wall_clock(&self, now: Instant) -> Option<(UnixTime, ClockSource)> {
        self.time(now)
    }

    /// The requests since the last good reply may have had no address to
    /// leave from (before a DHCP lease) or no way back (to an old one):
    /// until synced, the next goes as soon as the 15 s rule (and a `RATE`
    /// kiss) allows, and failures back off from 15 s again. The server
    /// stays the configured one.
    fn addresses_changed(&mut self, _addresses: &[IpCidr]) {
        if self.synced.is_some() || self.stopped.is_some() {
            return;
        }
        self.backoff = MIN_INTERVAL;
        if let (None, Some(sent)) = (self.pending, self.last_sent) {
            self.next_send = self.next_send.min(sent + self.rate_floor.max(MIN_INTERVAL));
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        if self.stopped.is_some() {
            return None;
        }
        match self.pending {
            Some(pending) => Some(pending.sent_at + self.config.timeout),
            None => Some(self.next_send),
        }
    }

    fn on_tick(&mut self, now: Instant, _wall: Option<UnixTime>, out: &mut dyn Outbox) {
        if self.stopped.is_some() {
            return;
        }
        if let Some(pending) = self.pending {
            if now < pending.sent_at + self.config.timeout {
                return;
            }
            self.pending = None;
            self.stats.timeouts += 1;
            log_debug!("sntp: no reply from {}", self.config.server);
            self.failed(pending.sent_at);
        }
        if now >= self.next_send {
            self.send(now, out);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        let s = &self.stats;
        report("requests", s.requests);
        report("replies used", s.synced);
        report("timeouts", s.timeouts);
        report("replies rejected", s.rejected);
        report("datagrams ignored", s.ignored);
        report("kiss-o'-death RATE", s.kiss_rate);
        report("kiss-o'-death DENY/RSTR", s.kiss_deny);
        report("kiss-o'-death other", s.kiss_other);
        report("send failed", s.send_failed);
    }
}

/// The reference ID that names `server` ([`ntp::reference_id_of`]): its
/// IPv4 address, or with the `ipv6` feature the MD5 of its IPv6 address. An
/// IPv4-only build leaves MD5 out.
fn reference_id_of(server: IpAddress) -> [u8; 4] {
    match server {
        IpAddress::Ipv4(v4) => v4.octets(),
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(_) => ntp::reference_id_of(server.into()),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::service::testing::VecOutbox;
    use smoltcp::wire::Ipv4Address;

    const SERVER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 2);
    const SERVER: IpEndpoint = IpEndpoint::new(IpAddress::Ipv4(SERVER_IP), 123);
    /// The monotonic clock at boot in these tests.
    const BOOT: Instant = Instant::from_micros_const(1_000_000_000);
    /// The true time at boot: 2026-11-23 15:04:05.25 UTC.
    const WALL_AT_BOOT: UnixTime = UnixTime::new(1_795_446_245, 250_000_000);

    #[test]
    fn nanoseconds_round_up_to_whole_microseconds() {
        for (nanos, micros) in [
            (0, 0),
            (1, 1),
            (999, 1),
            (1_000, 1),
            (1_001, 2),
            (1_500_000, 1_500),
            (u64::MAX, u64::MAX / 1_000 + 1),
        ] {
            assert_eq!(
                duration_from_nanos(nanos),
                Duration::from_micros(micros),
                "{nanos}"
            );
        }
    }

    fn config() -> SntpConfig {
        SntpConfig {
            interval: Duration::from_secs(64),
            max_backoff: Duration::from_secs(240),
            ..SntpConfig::new(IpAddress::Ipv4(SERVER_IP), 7)
        }
    }

    /// Nanoseconds since 1970 of a time before 2262.
    fn nanos(time: UnixTime) -> i64 {
        clock::unix_nanos(time).unwrap()
    }

    struct Harness {
        client: SntpClient,
        now: Instant,
        /// What the server's clock says minus the true time at `now`.
        server_error_nanos: i64,
        /// Monotonic times of every request sent.
        sent_at: Vec<Instant>,
        /// The last request sent.
        last_request: Option<Vec<u8>>,
    }

    impl Harness {
        fn new(config: SntpConfig) -> Harness {
            Harness {
                client: SntpClient::new(config),
                now: BOOT,
                server_error_nanos: 0,
                sent_at: Vec::new(),
                last_request: None,
            }
        }

        /// The true time now.
        fn true_wall(&self) -> UnixTime {
            let since_boot = mono_nanos(self.now).unwrap() - mono_nanos(BOOT).unwrap();
            clock::from_unix_nanos(nanos(WALL_AT_BOOT) + since_boot).unwrap()
        }

        /// The server's clock now.
        fn server_wall(&self) -> UnixTime {
            let t = nanos(self.true_wall()) + self.server_error_nanos;
            clock::from_unix_nanos(t).unwrap()
        }

        /// Runs the timers if due, as the stack would; returns whether a
        /// request went out.
        fn tick(&mut self) -> bool {
            let mut out = VecOutbox::new();
            while self.client.poll_at().is_some_and(|at| at <= self.now) {
                let before = out.sent.len();
                self.client.on_tick(self.now, None, &mut out);
                if out.sent.len() == before
                    && self.client.poll_at().is_some_and(|at| at <= self.now)
                {
                    panic!("on_tick did nothing but stays due");
                }
            }
            assert!(out.sent.len() <= 1);
            let Some((to, request)) = out.sent.pop() else {
                return false;
            };
            assert_eq!(to, SERVER);
            self.sent_at.push(self.now);
            self.last_request = Some(request);
            true
        }

        fn advance(&mut self, by: Duration) {
            self.now += by;
        }

        fn deliver_from(&mut self, from: IpEndpoint, payload: &[u8]) -> Result<(), Discard> {
            let mut out = VecOutbox::new();
            let request = Request {
                from,
                to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
                payload,
                now: self.now,
                wall: None,
                clock: ClockSource::UNSYNCHRONIZED,
            };
            let verdict = self.client.on_datagram(&request, &mut out);
            assert!(out.sent.is_empty(), "a client never answers");
            verdict
        }

        fn deliver(&mut self, payload: &[u8]) -> Result<(), Discard> {
            self.deliver_from(SERVER, payload)
        }

        /// A reply to the last request, stamped with the server's clock
        /// now, changed by `tweak`.
        fn reply(&self, tweak: impl FnOnce(&mut NtpRepr)) -> [u8; 48] {
            self.reply_at(self.server_wall(), tweak)
        }

        /// As [`Harness::reply`], stamped `server_wall`.
        fn reply_at(&self, server_wall: UnixTime, tweak: impl FnOnce(&mut NtpRepr)) -> [u8; 48] {
            let request = self.last_request.as_ref().expect("a request was sent");
            let request = NtpRepr::parse(&NtpPacket::new_checked(&request[..]).unwrap()).unwrap();
            let now = NtpTimestamp::from_unix(server_wall);
            let mut reply = NtpRepr {
                leap: Leap::NoWarning,
                mode: Mode::Server,
                stratum: 2,
                precision: -20,
                reference_id: [10, 0, 0, 1],
                reference_timestamp: now,
                origin_timestamp: request.transmit_timestamp,
                receive_timestamp: now,
                transmit_timestamp: now,
                ..request
            };
            tweak(&mut reply);
            let mut bytes = [0u8; 48];
            reply.emit(&mut NtpPacket::new_unchecked(&mut bytes[..]));
            bytes
        }

        /// The client's idea of the time now, minus the true time.
        fn error_nanos(&self) -> i64 {
            let (wall, _) = self.client.wall_clock(self.now).expect("synced");
            nanos(wall) - nanos(self.true_wall())
        }

        /// Sends, answers at once with a good reply, and checks it took.
        fn sync(&mut self) {
            assert!(self.tick(), "a request is due");
            let reply = self.reply(|_| {});
            assert_eq!(self.deliver(&reply), Ok(()));
        }
    }

    #[test]
    fn the_first_request_goes_at_boot_and_looks_like_rfc_4330s() {
        let mut h = Harness::new(config());
        assert_eq!(h.client.poll_at(), Some(Instant::ZERO), "due at once");
        assert!(h.tick());
        let request = h.last_request.clone().unwrap();
        assert_eq!(request.len(), 48);
        let repr = NtpRepr::parse(&NtpPacket::new_checked(&request[..]).unwrap()).unwrap();
        assert_eq!(
            (repr.leap, repr.version, repr.mode),
            (Leap::NoWarning, 4, Mode::Client)
        );
        assert_eq!(repr.stratum, 0);
        assert!(repr.origin_timestamp.is_zero() && repr.receive_timestamp.is_zero());
        assert!(!repr.transmit_timestamp.is_zero(), "the nonce");
        // Waiting for the reply: no second request, the timeout is next.
        assert_eq!(h.client.poll_at(), Some(BOOT + Duration::from_secs(2)));
        assert!(!h.tick());
        assert_eq!(h.client.wall_clock(h.now), None);
    }

    #[test]
    fn nonces_differ_between_requests_and_between_seeds() {
        let mut a = SntpClient::new(config());
        let mut b = SntpClient::new(SntpConfig {
            seed: 8,
            ..config()
        });
        let from_a: Vec<_> = (0..100).map(|_| a.nonce()).collect();
        let from_b: Vec<_> = (0..100).map(|_| b.nonce()).collect();
        for (i, n) in from_a.iter().enumerate() {
            assert!(!n.is_zero());
            assert!(!from_a[..i].contains(n));
            assert!(!from_b.contains(n));
        }
        // splitmix64, as its reference implementation gives it from seed 0.
        let mut zero = SntpClient::new(SntpConfig {
            seed: 0,
            ..config()
        });
        let first: Vec<_> = (0..3).map(|_| zero.nonce()).collect();
        assert_eq!(
            first,
            [
                NtpTimestamp(0xe220_a839_7b1d_cdaf),
                NtpTimestamp(0x6e78_9e6a_a1b9_65f4),
                NtpTimestamp(0x06c4_5d18_8009_454f),
            ]
        );
    }

    #[test]
    fn a_good_reply_sets_the_wall_clock_and_the_ntp_source() {
        let mut h = Harness::new(config());
        assert!(h.tick());
        // 10 ms there and back; the server stamps the request half way.
        h.advance(Duration::from_millis(5));
        let reply = h.reply(|r| {
            r.root_delay = ntp::NtpShort::from_duration(Duration::from_millis(1));
            r.root_dispersion = ntp::NtpShort::from_duration(Duration::from_millis(2));
            r.leap = Leap::InsertSecond;
        });
        h.advance(Duration::from_millis(5));
        assert_eq!(h.deliver(&reply), Ok(()));
        assert!(h.error_nanos().abs() < 1_000, "{} ns", h.error_nanos());
        let synced = *h.client.synced().unwrap();
        assert_eq!(synced.delay_nanos, 10_000_000);
        let (wall, source) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(source.stratum, 3, "the server's 2, plus one");
        assert_eq!(
            source.reference_id,
            [192, 168, 69, 2],
            "the server's address"
        );
        assert_eq!(source.leap, Leap::InsertSecond);
        assert_eq!(source.precision, -19);
        assert_eq!(source.reference_time, Some(wall));
        // Root delay: the server's plus ours, rounded up a little.
        let micros = source.root_delay.total_micros();
        assert!((11_000..11_040).contains(&micros), "{micros} µs");
        // Root dispersion: the server's 2 ms (2.014 ms in its 16.16
        // format) plus both precisions, 2^-20 s (953 ns) and ours, 2^-19 s
        // (1907 ns): 2016.86 µs, rounded up.
        assert_eq!(source.root_dispersion, Duration::from_micros(2017));
        assert!(source.is_synchronized());
        // The next request goes an interval after the last one.
        assert_eq!(h.client.poll_at(), Some(BOOT + Duration::from_secs(64)));
        assert_eq!(h.client.stats().synced, 1);
    }

    #[test]
    fn a_request_that_cannot_be_queued_is_counted_and_tried_again_later() {
        let mut client = SntpClient::new(config());
        let mut out = VecOutbox::new();
        out.max_payload = 47;
        let due = client.poll_at().unwrap();
        client.on_tick(due, None, &mut out);
        assert!(out.sent.is_empty());
        assert_eq!(client.stats().send_failed, 1);
        assert_eq!(client.stats().requests, 0);
        assert!(client.poll_at().unwrap() >= due + Duration::from_secs(15));
    }

    #[test]
    fn a_coarse_server_precision_counts_in_full() {
        // A server that reads its clock to 2 s (precision 1): our time is
        // no better than that.
        let mut h = Harness::new(config());
        assert!(h.tick());
        let reply = h.reply(|r| {
            r.precision = 1;
            r.root_dispersion = ntp::NtpShort(0);
        });
        assert_eq!(h.deliver(&reply), Ok(()));
        let (_, source) = h.client.wall_clock(h.now).unwrap();
        // 2 s, and our own 2^-19 s (1907 ns), rounded up.
        assert_eq!(source.root_dispersion, Duration::from_micros(2_000_002));
    }

    #[test]
    fn precisions_from_the_wire_span_1_ns_to_the_end_of_u64() {
        assert_eq!(precision_nanos(0), 1_000_000_000);
        assert_eq!(precision_nanos(-1), 500_000_000);
        assert_eq!(precision_nanos(-19), 1_907);
        assert_eq!(precision_nanos(-29), 1);
        assert_eq!(precision_nanos(-30), 1, "never below 1 ns");
        assert_eq!(precision_nanos(i8::MIN), 1);
        assert_eq!(precision_nanos(3), 8_000_000_000);
        assert_eq!(precision_nanos(34), 1_000_000_000 << 34);
        assert_eq!(precision_nanos(35), u64::MAX, "saturated");
        assert_eq!(precision_nanos(i8::MAX), u64::MAX);
    }

    #[test]
    fn a_server_precision_of_16_s_or_more_leaves_no_time() {
        // 1 s of the server's own dispersion, and its precision: 2^3 s
        // keeps the error bound below 16 s, 2^4 s and up (to 2^127 s,
        // past what u64 nanoseconds hold) do not.
        for (precision, has_time) in [(3, true), (4, false), (35, false), (i8::MAX, false)] {
            let mut h = Harness::new(config());
            assert!(h.tick());
            let reply = h.reply(|r| {
                r.precision = precision;
                r.root_dispersion = ntp::NtpShort(1 << 16);
            });
            assert_eq!(h.deliver(&reply), Ok(()), "precision {precision}");
            let time = h.client.wall_clock(h.now);
            assert_eq!(time.is_some(), has_time, "precision {precision}: {time:?}");
        }
    }

    #[test]
    fn why_a_reply_is_not_used_is_said_in_a_log_line() {
        use std::string::ToString;
        let said = |e: ReplyError| e.to_string();
        assert_eq!(
            said(ReplyError::Mode(Mode::Client)),
            "not a server reply (mode 3)"
        );
        assert_eq!(
            said(ReplyError::Origin),
            "origin timestamp does not match our request"
        );
        assert_eq!(
            said(ReplyError::Version(3)),
            "version 3, not our request's 4"
        );
        assert_eq!(said(ReplyError::Kiss(*b"RATE")), "kiss-o'-death RATE");
        assert_eq!(
            said(ReplyError::Kiss([0, 1, 2, 3])),
            "kiss-o'-death [0, 1, 2, 3]"
        );
        assert_eq!(
            said(ReplyError::Stratum(16)),
            "stratum 16: the server is not synchronized"
        );
        assert_eq!(
            said(ReplyError::Unsynchronized),
            "leap indicator 3: server not synchronized"
        );
        assert_eq!(
            said(ReplyError::RootDistance),
            "root distance of 16 s or more"
        );
        assert_eq!(
            said(ReplyError::ZeroTimestamp),
            "zero receive or transmit timestamp"
        );
        assert_eq!(
            said(ReplyError::ReferenceAfterTransmit),
            "reference timestamp later than the transmit timestamp"
        );
    }

    #[test]
    fn offset_and_delay_are_rfc_4330s() {
        // The client is 1 s behind; 20 ms each way; the server takes 1 ms.
        let s = 1_000_000_000;
        let (t1, t2, t3, t4) = (0, s + 20_000_000, s + 21_000_000, 41_000_000);
        assert_eq!(offset_and_delay(t1, t2, t3, t4), Some((s, 40_000_000)));
        // Asymmetric paths show up as half their difference.
        let exchange = offset_and_delay(0, 30_000_000, 30_000_000, 40_000_000);
        assert_eq!(exchange, Some((10_000_000, 40_000_000)));
        // A client ahead of the server: a negative offset.
        let (t1, t2, t3, t4) = (s, 20_000_000, 21_000_000, s + 41_000_000);
        assert_eq!(offset_and_delay(t1, t2, t3, t4), Some((-s, 40_000_000)));
        // A server that says it took longer than the round trip: a
        // negative delay (which the client takes as none).
        let exchange = offset_and_delay(0, 10, 60, 20);
        assert_eq!(exchange, Some((25, -30)));
    }

    #[test]
    fn offsets_round_toward_zero_as_if_their_sum_were_exact() {
        for a in -40i64..=40 {
            for b in -40i64..=40 {
                assert_eq!(half_sum(a, b), (a + b) / 2, "{a} {b}");
            }
        }
        // Where the sum is past i64, in halves that are not.
        assert_eq!(half_sum(i64::MAX, i64::MAX), i64::MAX);
        assert_eq!(half_sum(i64::MAX, i64::MAX - 1), i64::MAX - 1);
        assert_eq!(half_sum(i64::MIN, i64::MIN), i64::MIN);
        assert_eq!(half_sum(i64::MIN, i64::MIN + 1), i64::MIN + 1);
        assert_eq!(half_sum(i64::MAX, i64::MIN), 0, "-1 / 2");
        assert_eq!(half_sum(i64::MIN, 1), i64::MIN / 2 + 1, "odd, negative");
        // A clock in 2200 a microsecond behind the server, both ways.
        let y2200 = nanos(UnixTime::from_secs(7_258_118_400));
        let (t1, t4) = (1_000, 3_000);
        let exchange = offset_and_delay(t1, y2200 + 2_000, y2200 + 2_000, t4);
        assert_eq!(exchange, Some((y2200, 2_000)));
        let exchange = offset_and_delay(t1, -y2200 + 2_000, -y2200 + 2_000, t4);
        assert_eq!(exchange, Some((-y2200, 2_000)));
    }

    #[test]
    fn timestamps_too_far_apart_for_i64_measure_nothing() {
        let (min, max) = (i64::MIN, i64::MAX);
        // Each difference that does not fit: t2 - t1, t3 - t4, t4 - t1,
        // and the delay's difference of those.
        assert_eq!(offset_and_delay(-1, max, 0, 0), None);
        assert_eq!(offset_and_delay(0, 0, max, -1), None);
        assert_eq!(offset_and_delay(1, 0, 0, min), None);
        assert_eq!(offset_and_delay(0, min, max, 0), None);
        assert_eq!(offset_and_delay(0, 0, 0, max), Some((-(max / 2), max)));
        assert_eq!(
            offset_and_delay(0, min + 1, 0, 0),
            Some((min / 2 + 1, min + 1))
        );
        // Every end and its neighbours: never a panic.
        let ends = [min, min + 1, -1, 0, 1, max - 1, max];
        for t1 in ends {
            for t2 in ends {
                for t3 in ends {
                    for t4 in ends {
                        let _ = offset_and_delay(t1, t2, t3, t4);
                    }
                }
            }
        }
    }

    #[test]
    fn a_wrong_clock_on_the_server_is_what_we_get() {
        let mut h = Harness::new(config());
        h.server_error_nanos = -3_600_000_000_000;
        h.sync();
        assert!((h.error_nanos() + 3_600_000_000_000).abs() < 1_000);
    }

    #[test]
    fn a_server_that_took_longer_than_the_round_trip_adds_no_delay() {
        let mut h = Harness::new(config());
        assert!(h.tick());
        h.advance(Duration::from_millis(10));
        // Received a second before it was sent back, in 10 ms of ours:
        // a delay of -990 ms, and the server's clock 0.5 s behind ours.
        let reply = h.reply(|r| {
            r.receive_timestamp = NtpTimestamp(r.transmit_timestamp.0 - (1 << 32));
            r.root_delay = ntp::NtpShort::from_duration(Duration::from_millis(3));
        });
        assert_eq!(h.deliver(&reply), Ok(()));
        assert_eq!(h.client.synced().unwrap().delay_nanos, 0);
        let (_, source) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(
            source.root_delay,
            Duration::from_micros(3_006),
            "the server's"
        );
        assert!(
            (h.error_nanos() + 495_000_000).abs() < 1_000,
            "{}",
            h.error_nanos()
        );
    }

    #[test]
    fn a_clock_synced_close_to_2262_stops_telling_the_time_there() {
        // Not before 2250: the era pivot would be 2318, past i64's end,
        // and is 2262 instead: a server 10 s before that end is read
        // right.
        let last = clock::LAST_UNIX_NANOS_TIME;
        let server = UnixTime::from_secs(last.secs - 10);
        let mut h = Harness::new(SntpConfig {
            not_before: UnixTime::from_secs(8_835_955_200),
            ..config()
        });
        h.server_error_nanos = nanos(server) - nanos(WALL_AT_BOOT);
        h.sync();
        let (wall, _) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(wall, server);
        // 2262-04-11 23:47:16.854775807 is the last time it can tell.
        let to_last = nanos(last) - nanos(wall);
        h.advance(Duration::from_micros(to_last as u64 / 1_000));
        let (wall, _) = h.client.wall_clock(h.now).expect("still in 2262");
        assert!(nanos(last) - nanos(wall) < 1_000, "{wall:?}");
        h.advance(Duration::from_millis(1));
        assert_eq!(h.client.wall_clock(h.now), None, "past i64 nanoseconds");
        // A reply now, even one from before the end, has no era to be read
        // in: not used.
        h.now = h.client.poll_at().unwrap().max(h.now);
        assert!(h.tick());
        let reply = h.reply_at(server, |_| {});
        assert_eq!(h.deliver(&reply), Err(Discard::Malformed));
        assert_eq!(h.client.stats().rejected, 1);
    }

    #[test]
    fn not_before_past_2262_believes_no_reply() {
        for not_before in [clock::LAST_UNIX_NANOS_TIME, UnixTime::from_secs(u64::MAX)] {
            let mut h = Harness::new(SntpConfig {
                not_before,
                ..config()
            });
            assert!(h.tick());
            let reply = h.reply(|_| {});
            assert_eq!(h.deliver(&reply), Err(Discard::Malformed));
            assert_eq!(h.client.stats().rejected, 1);
            assert_eq!(h.client.wall_clock(h.now), None);
        }
    }

    #[test]
    fn a_monotonic_clock_past_292_years_tells_no_time_and_does_not_overflow() {
        let mut h = Harness::new(config());
        h.sync();
        // Nanoseconds of the monotonic clock end 292 years after boot.
        h.now = Instant::from_micros(i64::MAX / 1_000 + 1);
        assert_eq!(h.client.wall_clock(h.now), None);
        assert!(h.tick());
        let reply = h.reply_at(WALL_AT_BOOT, |_| {});
        assert_eq!(h.deliver(&reply), Err(Discard::Malformed));
        assert_eq!(h.client.stats().rejected, 1);
        // At the end of its microseconds, too.
        h.now = Instant::from_micros(i64::MAX);
        assert_eq!(h.client.wall_clock(h.now), None);
    }

    #[test]
    fn the_clock_runs_on_between_replies_with_growing_dispersion() {
        let mut h = Harness::new(config());
        h.sync();
        let (_, at_sync) = h.client.wall_clock(h.now).unwrap();
        h.advance(Duration::from_secs(1000));
        assert!(h.error_nanos().abs() < 1_000);
        let (_, later) = h.client.wall_clock(h.now).unwrap();
        let grown = later.root_dispersion - at_sync.root_dispersion;
        // 15 ppm of 1000 s.
        assert!(
            (Duration::from_micros(14_990)..Duration::from_micros(15_010)).contains(&grown),
            "{grown}"
        );
    }

    #[test]
    fn after_twelve_days_without_a_reply_the_time_is_lost() {
        let mut h = Harness::new(SntpConfig {
            max_backoff: Duration::from_secs(1 << 20),
            ..config()
        });
        h.sync();
        h.advance(Duration::from_secs(12 * 86_400));
        assert!(h.client.wall_clock(h.now).is_some());
        h.advance(Duration::from_secs(86_400));
        assert_eq!(h.client.wall_clock(h.now), None, "16 s of dispersion");
    }

    #[test]
    fn datagrams_that_are_no_reply_to_our_request_are_ignored() {
        let mut h = Harness::new(config());
        // Nothing asked yet.
        assert!(h.tick());
        let good = h.reply(|_| {});
        let stranger = IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 3)), 123);
        let other_port = IpEndpoint::new(IpAddress::Ipv4(SERVER_IP), 1234);
        assert_eq!(h.deliver_from(stranger, &good), Err(Discard::Malformed));
        assert_eq!(h.deliver_from(other_port, &good), Err(Discard::Malformed));
        let bad_origin = h.reply(|r| r.origin_timestamp.0 ^= 1);
        assert_eq!(h.deliver(&bad_origin), Err(Discard::Malformed));
        let zero_origin = h.reply(|r| r.origin_timestamp = NtpTimestamp::ZERO);
        assert_eq!(h.deliver(&zero_origin), Err(Discard::Malformed));
        for mode in [
            Mode::Client,
            Mode::Broadcast,
            Mode::SymmetricPassive,
            Mode::Control,
        ] {
            let wrong_mode = h.reply(|r| r.mode = mode);
            assert_eq!(h.deliver(&wrong_mode), Err(Discard::Malformed), "{mode:?}");
        }
        assert_eq!(h.deliver(&good[..47]), Err(Discard::Malformed));
        assert_eq!(h.client.stats().ignored, 9);
        // The request is still outstanding: the real reply is taken.
        assert_eq!(h.client.wall_clock(h.now), None);
        assert_eq!(h.deliver(&good), Ok(()));
        assert!(h.client.wall_clock(h.now).is_some());
        // A duplicate of it finds nothing outstanding.
        assert_eq!(h.deliver(&good), Err(Discard::Malformed));
        assert_eq!(h.client.stats().ignored, 10);
        assert_eq!(h.client.stats().synced, 1);
    }

    #[test]
    fn replies_failing_a_check_answer_the_request_and_are_not_used() {
        type Case = (&'static str, fn(&mut NtpRepr), ReplyError);
        let cases: [Case; 12] = [
            ("version 0", |r| r.version = 0, ReplyError::Version(0)),
            ("version 3", |r| r.version = 3, ReplyError::Version(3)),
            ("version 5", |r| r.version = 5, ReplyError::Version(5)),
            (
                "root distance 16 s",
                |r| {
                    r.root_delay = ntp::NtpShort(8 << 16);
                    r.root_dispersion = ntp::NtpShort(12 << 16);
                },
                ReplyError::RootDistance,
            ),
            (
                "reference after transmit",
                |r| r.reference_timestamp.0 = r.transmit_timestamp.0 + 1,
                ReplyError::ReferenceAfterTransmit,
            ),
            ("stratum 16", |r| r.stratum = 16, ReplyError::Stratum(16)),
            ("stratum 255", |r| r.stratum = 255, ReplyError::Stratum(255)),
            (
                "LI 3",
                |r| r.leap = Leap::Unsynchronized,
                ReplyError::Unsynchronized,
            ),
            (
                "zero transmit",
                |r| r.transmit_timestamp = NtpTimestamp::ZERO,
                ReplyError::ZeroTimestamp,
            ),
            (
                "zero receive",
                |r| r.receive_timestamp = NtpTimestamp::ZERO,
                ReplyError::ZeroTimestamp,
            ),
            (
                "kiss INIT",
                |r| {
                    r.stratum = 0;
                    r.reference_id = kiss::INIT;
                },
                ReplyError::Kiss(kiss::INIT),
            ),
            (
                "kiss, unknown code",
                |r| {
                    r.stratum = 0;
                    r.reference_id = *b"XYZZ";
                },
                ReplyError::Kiss(*b"XYZZ"),
            ),
        ];
        for (what, tweak, error) in cases {
            let mut h = Harness::new(config());
            assert!(h.tick());
            let reply = h.reply(tweak);
            let nonce = NtpRepr::parse(
                &NtpPacket::new_checked(&h.last_request.clone().unwrap()[..]).unwrap(),
            )
            .unwrap()
            .transmit_timestamp;
            let parsed = NtpRepr::parse(&NtpPacket::new_checked(&reply[..]).unwrap()).unwrap();
            assert_eq!(check_reply(&parsed, nonce), Err(error), "{what}");
            assert!(error.answers_request());
            assert_eq!(h.deliver(&reply), Err(Discard::Malformed), "{what}");
            assert_eq!(h.client.wall_clock(h.now), None, "{what}");
            // The request is answered: the good reply now comes too late.
            let good = h.reply(|_| {});
            assert_eq!(h.deliver(&good), Err(Discard::Malformed), "{what}");
            // And the next attempt waits 15 s, as after a timeout.
            assert_eq!(h.client.poll_at(), Some(BOOT + MIN_INTERVAL), "{what}");
            // Counted once, as a kiss-o'-death or as a rejected reply.
            let mut printed = Vec::new();
            h.client
                .counters(&mut |name, value| printed.push((name, value)));
            assert_eq!(printed.len(), 9, "{what}: {printed:?}");
            let counted = if matches!(error, ReplyError::Kiss(_)) {
                "kiss-o'-death other"
            } else {
                "replies rejected"
            };
            for (name, value) in printed {
                let expected = match name {
                    // The request, and the good reply that came too late.
                    "requests" | "datagrams ignored" => 1,
                    _ if name == counted => 1,
                    _ => 0,
                };
                assert_eq!(value, expected, "{what}: {name}");
            }
        }
    }

    #[test]
    fn the_checks_come_in_order_and_each_one_counts() {
        let nonce = NtpTimestamp(42);
        let mut reply = NtpRepr {
            mode: Mode::Client,
            origin_timestamp: NtpTimestamp(41),
            version: 0,
            stratum: 0,
            leap: Leap::Unsynchronized,
            root_dispersion: ntp::NtpShort(16 << 16),
            reference_timestamp: NtpTimestamp(2 << 32),
            ..NtpRepr::client_request(NtpTimestamp::ZERO)
        };
        let mut order = Vec::new();
        for fix in 0..10 {
            order.push(check_reply(&reply, nonce));
            match fix {
                0 => reply.mode = Mode::Server,
                1 => reply.origin_timestamp = nonce,
                2 => reply.version = 4,
                3 => reply.stratum = 16,
                4 => reply.stratum = 1,
                5 => reply.leap = Leap::NoWarning,
                6 => reply.root_dispersion = ntp::NtpShort((16 << 16) - 1),
                7 => {
                    reply.receive_timestamp = NtpTimestamp(1 << 32);
                    reply.transmit_timestamp = NtpTimestamp(1 << 32);
                }
                8 => reply.reference_timestamp = NtpTimestamp(1 << 32),
                _ => {}
            }
        }
        assert_eq!(
            order,
            [
                Err(ReplyError::Mode(Mode::Client)),
                Err(ReplyError::Origin),
                Err(ReplyError::Version(0)),
                Err(ReplyError::Kiss([0; 4])),
                Err(ReplyError::Stratum(16)),
                Err(ReplyError::Unsynchronized),
                Err(ReplyError::RootDistance),
                Err(ReplyError::ZeroTimestamp),
                Err(ReplyError::ReferenceAfterTransmit),
                Ok(()),
            ]
        );
        // The root distance is half the delay plus the dispersion: a delay
        // of 31 s with no dispersion is 15.5 s, still usable.
        reply.root_dispersion = ntp::NtpShort(0);
        reply.root_delay = ntp::NtpShort(31 << 16);
        assert_eq!(check_reply(&reply, nonce), Ok(()));
        reply.root_delay = ntp::NtpShort(32 << 16);
        assert_eq!(check_reply(&reply, nonce), Err(ReplyError::RootDistance));
    }

    #[test]
    fn a_reference_just_before_the_2036_wrap_is_before_a_reply_just_after() {
        let before_wrap =
            NtpTimestamp::from_unix(UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS - 1));
        let after_wrap =
            NtpTimestamp::from_unix(UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS + 1));
        let reply = NtpRepr {
            mode: Mode::Server,
            stratum: 1,
            origin_timestamp: NtpTimestamp(7),
            reference_timestamp: before_wrap,
            receive_timestamp: after_wrap,
            transmit_timestamp: after_wrap,
            ..NtpRepr::client_request(NtpTimestamp::ZERO)
        };
        assert_eq!(check_reply(&reply, NtpTimestamp(7)), Ok(()));
        let backwards = NtpRepr {
            reference_timestamp: after_wrap,
            receive_timestamp: before_wrap,
            transmit_timestamp: before_wrap,
            ..reply
        };
        assert_eq!(
            check_reply(&backwards, NtpTimestamp(7)),
            Err(ReplyError::ReferenceAfterTransmit)
        );
    }

    #[test]
    fn timeouts_back_off_from_15_s_doubling_to_the_maximum() {
        let mut h = Harness::new(config());
        let mut gaps = Vec::new();
        for _ in 0..8 {
            // Never answered; step a second at a time to the next request.
            let mut waited = 0;
            while !h.tick() {
                h.advance(Duration::from_secs(1));
                waited += 1;
                assert!(waited < 1000);
            }
            if let [.., a, b] = h.sent_at[..] {
                gaps.push((b - a).secs());
            }
        }
        assert_eq!(gaps, [15, 30, 60, 120, 240, 240, 240]);
        assert_eq!(h.client.stats().timeouts, 7);
        // One answer resets the backoff and moves to the interval.
        h.advance(Duration::from_millis(1));
        let reply = h.reply(|_| {});
        assert_eq!(h.deliver(&reply), Ok(()));
        let last = *h.sent_at.last().unwrap();
        assert_eq!(h.client.poll_at(), Some(last + Duration::from_secs(64)));
        h.now = last + Duration::from_secs(64);
        assert!(h.tick());
        h.advance(Duration::from_secs(3));
        assert!(!h.tick());
        assert_eq!(
            h.client.poll_at(),
            Some(h.now - Duration::from_secs(3) + MIN_INTERVAL)
        );
    }

    /// Steps a second at a time until a request goes; returns the wait.
    fn wait_for_request(h: &mut Harness) -> u64 {
        let mut waited = 0;
        while !h.tick() {
            h.advance(Duration::from_secs(1));
            waited += 1;
            assert!(waited < 1000);
        }
        waited
    }

    #[test]
    fn a_new_address_before_the_first_sync_cuts_the_backoff_short_but_not_the_15_s() {
        let mut h = Harness::new(config());
        // No address to send from yet: four requests lost, the backoff at
        // 120 s.
        for _ in 0..5 {
            wait_for_request(&mut h);
        }
        assert_eq!(
            h.client.poll_at(),
            Some(*h.sent_at.last().unwrap() + Duration::from_secs(2))
        );
        // The request outstanding times out first; a lease comes 20 s
        // after it went: the next request goes at once.
        h.advance(Duration::from_secs(20));
        assert!(!h.tick(), "120 s of backoff");
        h.client.addresses_changed(&[]);
        assert!(h.tick(), "asked again at once");
        // A lease 3 s after a request: the next waits out the 15 s after
        // the timeout, and failures back off from 15 s again.
        h.advance(Duration::from_secs(3));
        h.client.addresses_changed(&[]);
        assert_eq!(wait_for_request(&mut h), 12);
        assert_eq!(wait_for_request(&mut h), 30);
        // A lease after the request timed out: the next still waits for
        // the 15 s since the last one went, not for the backoff.
        h.advance(Duration::from_secs(3));
        assert!(!h.tick(), "timed out, backing off");
        h.client.addresses_changed(&[]);
        assert!(!h.tick(), "within 15 s of the last request");
        assert_eq!(wait_for_request(&mut h), 12);
        // Once synced, a change of address changes nothing.
        let reply = h.reply(|_| {});
        assert_eq!(h.deliver(&reply), Ok(()));
        let next = h.client.poll_at();
        h.advance(Duration::from_secs(20));
        h.client.addresses_changed(&[]);
        assert_eq!(h.client.poll_at(), next);
    }

    #[test]
    fn a_tick_before_the_timeout_leaves_the_request_waiting_for_its_reply() {
        let mut h = Harness::new(config());
        assert!(h.tick());
        // A port may run the timers early (another service's deadline):
        // the request is not given up before its timeout.
        h.advance(Duration::from_secs(1));
        let mut out = VecOutbox::new();
        h.client.on_tick(h.now, None, &mut out);
        assert!(out.sent.is_empty());
        assert_eq!(h.client.stats().timeouts, 0);
        let reply = h.reply(|_| {});
        assert_eq!(h.deliver(&reply), Ok(()));
        assert_eq!(h.client.stats().synced, 1);
    }

    #[test]
    fn the_interval_is_never_below_15_s() {
        let mut h = Harness::new(SntpConfig {
            interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(2),
            timeout: Duration::from_secs(60),
            ..config()
        });
        assert_eq!(h.client.config().interval, MIN_INTERVAL);
        assert_eq!(h.client.config().max_backoff, MIN_INTERVAL);
        let huge = SntpClient::new(SntpConfig {
            interval: Duration::from_micros(u64::MAX),
            max_backoff: Duration::from_micros(u64::MAX),
            timeout: Duration::from_micros(u64::MAX),
            ..config()
        });
        assert_eq!(huge.config().interval, Duration::from_secs(1 << 17));
        assert_eq!(huge.config().max_backoff, Duration::from_secs(1 << 17));
        assert_eq!(huge.config().timeout, Duration::from_secs(1 << 17));
        h.sync();
        for _ in 0..100 {
            h.advance(Duration::from_millis(500));
            if h.tick() {
                let reply = h.reply(|_| {});
                assert_eq!(h.deliver(&reply), Ok(()));
            }
        }
        // A timeout longer than 15 s: the next request waits for it.
        for _ in 0..400 {
            h.advance(Duration::from_millis(500));
            h.tick();
        }
        for pair in h.sent_at.windows(2) {
            assert!(pair[1] - pair[0] >= MIN_INTERVAL, "{pair:?}");
        }
        assert!(h.sent_at.len() >= 4);
    }

    #[test]
    fn whatever_happens_two_requests_are_at_least_15_s_apart() {
        let mut seed = 0x5eed_1234_u64;
        let mut random = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for run in 0..50 {
            let mut h = Harness::new(SntpConfig {
                interval: Duration::from_secs(15 + random(60)),
                max_backoff: Duration::from_secs(15 + random(300)),
                timeout: Duration::from_millis(100 + random(30_000)),
                seed: run,
                ..config()
            });
            for _ in 0..500 {
                h.advance(Duration::from_millis(random(20_000)));
                h.tick();
                if h.last_request.is_some() {
                    let reply = match random(6) {
                        0 => h.reply(|_| {}),
                        1 => h.reply(|r| {
                            r.stratum = 0;
                            r.reference_id = kiss::RATE;
                        }),
                        2 => h.reply(|r| r.leap = Leap::Unsynchronized),
                        3 => h.reply(|r| r.origin_timestamp.0 += 1),
                        _ => continue,
                    };
                    let _ = h.deliver(&reply);
                }
            }
            for pair in h.sent_at.windows(2) {
                assert!(pair[1] - pair[0] >= MIN_INTERVAL, "run {run}: {pair:?}");
            }
            assert!(h.sent_at.len() >= 3, "run {run} kept asking");
        }
    }

    #[test]
    fn kiss_rate_makes_the_client_ask_less_often() {
        let mut h = Harness::new(config());
        h.sync();
        let rate = |r: &mut NtpRepr| {
            r.stratum = 0;
            r.reference_id = kiss::RATE;
        };
        h.now = h.client.poll_at().unwrap();
        assert!(h.tick());
        let kiss = h.reply(rate);
        assert_eq!(h.deliver(&kiss), Err(Discard::Malformed));
        assert_eq!(h.client.stats().kiss_rate, 1);
        let first_kiss = h.now;
        // At least twice the 15 s after a failure.
        assert_eq!(
            h.client.poll_at(),
            Some(first_kiss + Duration::from_secs(30))
        );
        // The time we had stays.
        assert!(h.client.wall_clock(h.now).is_some());
        h.now = h.client.poll_at().unwrap();
        assert!(h.tick());
        let kiss = h.reply(rate);
        assert_eq!(h.deliver(&kiss), Err(Discard::Malformed));
        assert_eq!(h.client.poll_at(), Some(h.now + Duration::from_secs(60)));
        // Good replies from then on keep to the longer of interval and floor.
        h.now = h.client.poll_at().unwrap();
        h.sync();
        assert_eq!(h.client.poll_at(), Some(h.now + Duration::from_secs(64)));
        for _ in 0..4 {
            h.now = h.client.poll_at().unwrap();
            assert!(h.tick());
            let kiss = h.reply(rate);
            let _ = h.deliver(&kiss);
        }
        h.now = h.client.poll_at().unwrap();
        h.sync();
        assert_eq!(
            h.client.poll_at(),
            Some(h.now + Duration::from_secs(960)),
            "the floor outlasts good replies"
        );
    }

    #[test]
    fn kiss_deny_and_rstr_stop_the_client_for_good() {
        for code in [kiss::DENY, kiss::RSTR] {
            let mut h = Harness::new(config());
            h.sync();
            h.now = h.client.poll_at().unwrap();
            assert!(h.tick());
            let kiss = h.reply(|r| {
                r.stratum = 0;
                r.reference_id = code;
            });
            assert_eq!(h.deliver(&kiss), Err(Discard::Malformed));
            assert_eq!(h.client.stopped_by(), Some(code));
            assert_eq!(h.client.poll_at(), None);
            for _ in 0..100 {
                h.advance(Duration::from_secs(3600));
                assert!(!h.tick());
                h.client.on_tick(h.now, None, &mut VecOutbox::new());
            }
            assert_eq!(h.client.stats().requests, 2);
            assert_eq!(h.client.stats().kiss_deny, 1);
        }
    }

    #[test]
    fn a_server_after_2036_is_read_in_era_1() {
        let mut h = Harness::new(config());
        // 2040-01-01: era 1, timestamps restart from 0 in 2036.
        h.server_error_nanos = nanos(UnixTime::from_secs(2_208_988_800)) - nanos(WALL_AT_BOOT);
        h.sync();
        let (wall, _) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(wall.secs, 2_208_988_800);
        // Synced, the era follows our own time across the wrap.
        h.server_error_nanos =
            nanos(UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS - 5)) - nanos(h.true_wall());
        let mut h2 = Harness::new(config());
        h2.server_error_nanos = h.server_error_nanos;
        h2.sync();
        for _ in 0..3 {
            h2.now = h2.client.poll_at().unwrap();
            h2.sync();
        }
        let (wall, _) = h2.client.wall_clock(h2.now).unwrap();
        assert!(wall.secs > NtpTimestamp::ERA_1_UNIX_SECS + 100, "{wall:?}");
        assert!(h2.error_nanos().abs() - h2.server_error_nanos.abs() < 1_000);
    }

    #[test]
    fn a_time_exactly_not_before_is_believed_a_nanosecond_earlier_is_not() {
        // Synced to the true time first (so that the era is ours), then
        // a server whose clock is on `not_before`, a whole second, in an
        // exchange of no time at all: the wall clock comes out exactly
        // at the server's.
        let not_before = UnixTime::from_secs(WALL_AT_BOOT.secs - 100);
        for (early_nanos, believed) in [(0, true), (1, false)] {
            let mut h = Harness::new(SntpConfig {
                not_before,
                ..config()
            });
            h.sync();
            h.now = h.client.poll_at().unwrap();
            h.server_error_nanos = nanos(not_before) - nanos(h.true_wall()) - early_nanos;
            assert!(h.tick());
            let reply = h.reply(|_| {});
            let verdict = h.deliver(&reply);
            assert_eq!(verdict.is_ok(), believed, "{early_nanos} ns early");
            assert_eq!(h.client.stats().synced, 1 + u64::from(believed));
            let (wall, _) = h.client.wall_clock(h.now).unwrap();
            if believed {
                assert_eq!(wall, not_before);
            } else {
                assert_eq!(wall, h.true_wall(), "the time we had stays");
            }
        }
    }

    #[test]
    fn a_time_before_not_before_is_not_believed() {
        // Before the first sync, every timestamp reads as one of the 136
        // years from `not_before`: 2001 is taken for 2137.
        let y2001 = UnixTime::from_secs(1_000_000_000);
        let mut h = Harness::new(config());
        h.server_error_nanos = nanos(y2001) - nanos(WALL_AT_BOOT);
        h.sync();
        let (wall, _) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(wall.secs, 1_000_000_000 + (1 << 32));
        // Once synced, the era nearest our time is 2001's: refused.
        let mut h = Harness::new(config());
        h.sync();
        h.server_error_nanos = nanos(y2001) - nanos(h.true_wall());
        h.now = h.client.poll_at().unwrap();
        h.server_error_nanos -= 64_000_000_000;
        assert!(h.tick());
        let reply = h.reply(|_| {});
        assert_eq!(h.deliver(&reply), Err(Discard::Malformed));
        assert_eq!(h.client.stats().rejected, 1);
        assert!(h.error_nanos().abs() < 1_000, "the time we had stays");
    }

    #[test]
    fn an_upstream_at_stratum_15_gives_time_but_no_ntp_stratum() {
        let mut h = Harness::new(config());
        assert!(h.tick());
        let reply = h.reply(|r| r.stratum = 15);
        assert_eq!(h.deliver(&reply), Ok(()));
        let (_, source) = h.client.wall_clock(h.now).unwrap();
        assert_eq!(source.stratum, 16);
        assert!(!source.is_synchronized());
    }

    #[test]
    fn the_client_passes_the_loop_guard_and_sends_one_small_datagram() {
        let client = SntpClient::new(config());
        assert!(!client.guarded());
        assert_eq!(
            client.burst(),
            Burst {
                datagrams: 1,
                bytes: 48
            }
        );
        assert_eq!(client.name(), "sntp");
    }

    #[test]
    fn arbitrary_bytes_from_the_server_never_panic() {
        let mut h = Harness::new(config());
        let mut seed = 0x1357_9bdf_u64;
        for i in 0..5_000 {
            if i % 50 == 0 {
                h.advance(Duration::from_secs(20));
                h.tick();
            }
            let len = (i % 60) as usize;
            let mut payload: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            // Every tenth is a reply to our request with random fields.
            if let Some(request) = h.last_request.as_ref().filter(|_| i % 10 == 0) {
                if payload.len() >= 48 {
                    payload[24..32].copy_from_slice(&request[40..48]);
                    payload[0] = (payload[0] & 0xc0) | (4 << 3) | 4;
                }
            }
            let _ = h.deliver(&payload);
            let _ = h.client.wall_clock(h.now);
        }
    }
}
