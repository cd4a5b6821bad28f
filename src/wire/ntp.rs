//! The NTP packet (RFC 5905, and SNTP, RFC 4330): its wire format, its
//! timestamps, and the era arithmetic that keeps them right across 2036.
//!
//! Shared by the server ([`services::ntp`](crate::services::ntp)) and the
//! client ([`sntp`](crate::sntp)). As smoltcp's `wire` modules: a
//! [`Packet`] is a zero-copy view over the bytes, a [`Repr`] the parsed
//! header. Only the 48-byte header is read or written; extension fields and
//! MACs that may follow it are left alone.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |LI | VN  |Mode |    Stratum    |     Poll      |   Precision   |
//! |                    Root Delay (16.16 seconds)                 |
//! |                 Root Dispersion (16.16 seconds)               |
//! |                      Reference ID                             |
//! |              Reference Timestamp (64: 32.32 seconds)          |
//! |                   Origin Timestamp (64)                       |
//! |                   Receive Timestamp (64)                      |
//! |                   Transmit Timestamp (64)                     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # Eras
//!
//! A timestamp counts seconds since 1900 in 32 bits, so it wraps every
//! 2^32 s (136 years): era 0 ends, and era 1 begins, on
//! 2036-02-07 06:28:16 UTC. The packet does not say which era it is in;
//! as RFC 5905 (section 6) and RFC 4330 (section 3) suggest, a reader picks
//! the era that puts the time nearest to a time it already trusts (the
//! pivot): [`NtpTimestamp::to_unix`]. Writing needs no such choice: the
//! seconds are simply taken modulo 2^32 ([`NtpTimestamp::from_unix`]).

use smoltcp::time::Duration;

use super::{Error, Result};
use crate::clock::{div_rem, UnixTime, SECONDS_1900_TO_1970};

/// The UDP port of NTP.
pub const PORT: u16 = 123;

/// Length of the NTP header; shorter datagrams are not NTP.
pub const HEADER_LEN: usize = 48;

/// The NTP version this crate speaks (and sends in requests).
pub const VERSION: u8 = 4;

/// Nanoseconds in one second.
const NANOS: i64 = 1_000_000_000;

/// The whole seconds of `nanos`, rounded down (`nanos.div_euclid(NANOS)`)
/// in 32-bit divisions ([`div_rem`]): a time before 1970 is in the second
/// that began before it. For one that is, `!nanos` is the nanoseconds
/// before 1970 less one, whose seconds, negated less one, are its second.
fn secs_of(nanos: i64) -> i64 {
    if nanos >= 0 {
        div_rem::<1_000_000_000>(nanos as u64).0 as i64
    } else {
        !(div_rem::<1_000_000_000>(!nanos as u64).0 as i64)
    }
}

/// The leap indicator: a leap second at the end of the current day, or
/// that the sender's clock is not synchronized at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leap {
    /// No leap second announced.
    NoWarning,
    /// The last minute of the day has 61 seconds.
    InsertSecond,
    /// The last minute of the day has 59 seconds.
    DeleteSecond,
    /// The clock is not synchronized: its time must not be used.
    Unsynchronized,
}

impl Leap {
    /// The two-bit field value.
    pub const fn bits(self) -> u8 {
        match self {
            Leap::NoWarning => 0,
            Leap::InsertSecond => 1,
            Leap::DeleteSecond => 2,
            Leap::Unsynchronized => 3,
        }
    }

    /// Every two-bit value is a leap indicator.
    pub const fn from_bits(bits: u8) -> Leap {
        match bits & 3 {
            0 => Leap::NoWarning,
            1 => Leap::InsertSecond,
            2 => Leap::DeleteSecond,
            _ => Leap::Unsynchronized,
        }
    }
}

/// The association mode of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Mode 0, reserved.
    Reserved,
    /// A peer offering to synchronize with us, and to be synchronized.
    SymmetricActive,
    /// The answer to a symmetric active packet.
    SymmetricPassive,
    /// A client request (what `sntp` and `ntpdate` send).
    Client,
    /// A server's reply to a client.
    Server,
    /// A server broadcasting the time.
    Broadcast,
    /// NTP control messages (`ntpq`).
    Control,
    /// Private use (`ntpdc`).
    Private,
}

impl Mode {
    /// The three-bit field value.
    pub const fn bits(self) -> u8 {
        match self {
            Mode::Reserved => 0,
            Mode::SymmetricActive => 1,
            Mode::SymmetricPassive => 2,
            Mode::Client => 3,
            Mode::Server => 4,
            Mode::Broadcast => 5,
            Mode::Control => 6,
            Mode::Private => 7,
        }
    }

    /// Every three-bit value is a mode.
    pub const fn from_bits(bits: u8) -> Mode {
        match bits & 7 {
            0 => Mode::Reserved,
            1 => Mode::SymmetricActive,
            2 => Mode::SymmetricPassive,
            3 => Mode::Client,
            4 => Mode::Server,
            5 => Mode::Broadcast,
            6 => Mode::Control,
            _ => Mode::Private,
        }
    }
}

/// A 64-bit NTP timestamp: seconds since 1900 (modulo 2^32) in the high 32
/// bits, the fraction of a second in the low 32 bits (233 ps steps).
///
/// Zero means "no time" in NTP (an unset origin, a server that does not
/// know the time), so [`NtpTimestamp::from_unix`] never produces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// "No time".
    pub const ZERO: NtpTimestamp = NtpTimestamp(0);

    /// 2036-02-07 06:28:16 UTC, the first second of era 1.
    pub const ERA_1_UNIX_SECS: u64 = (1 << 32) - SECONDS_1900_TO_1970;

    /// The whole seconds since 1900, modulo 2^32.
    pub const fn seconds(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The fraction of a second, in units of 2^-32 s.
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// Whether this is zero, NTP's "no time".
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The timestamp of `time`, in whichever era it falls. The fraction is
    /// rounded to the nearest 2^-32 s.
    ///
    /// The one instant that would encode as zero, the very start of an
    /// era, is moved by one fraction step (233 ps) so that it is not read
    /// as "no time".
    pub fn from_unix(time: UnixTime) -> NtpTimestamp {
        let seconds = time.secs.wrapping_add(SECONDS_1900_TO_1970) as u32;
        let scaled = (u64::from(time.subsec_nanos()) << 32) + 500_000_000;
        // Below 2^32 for every nanosecond count below 10^9. Not `/`: a
        // 64-bit division (see `div_rem`).
        let fraction = div_rem::<1_000_000_000>(scaled).0.min(u64::from(u32::MAX));
        let stamp = (u64::from(seconds) << 32) | fraction;
        NtpTimestamp(stamp.max(1))
    }

    /// The Unix time of this timestamp in the era that puts it nearest to
    /// `pivot` (within 2^31 s, 68 years, either way); `None` when that is
    /// before 1970 or past what [`UnixTime`] holds.
    pub fn to_unix(self, pivot: UnixTime) -> Option<UnixTime> {
        let secs = pivot
            .secs
            .checked_add_signed(self.seconds_after(pivot.secs))?;
        // A fraction that rounds up to a whole second carries into it.
        let nanos = self.fraction_nanos();
        let secs = secs.checked_add(nanos / 1_000_000_000)?;
        Some(UnixTime::new(secs, (nanos % 1_000_000_000) as u32))
    }

    /// As [`NtpTimestamp::to_unix`], in nanoseconds since 1970 (negative
    /// before it), with the pivot in the same unit; `None` when that is
    /// outside i64's 1677 to 2262 ([`clock::unix_nanos`]), or in the
    /// second of 1677 whose start is (by 0.15 s) before i64's.
    ///
    /// [`clock::unix_nanos`]: crate::clock::unix_nanos
    pub fn to_unix_nanos(self, pivot_nanos: i64) -> Option<i64> {
        // Seconds within ±2^33.1 of 1970: adding the ±2^31 of an era's
        // half cannot overflow, the nanoseconds of it can.
        let pivot_secs = secs_of(pivot_nanos);
        // Two's complement keeps the pivot's seconds modulo 2^32 right.
        let secs = pivot_secs + self.seconds_after(pivot_secs as u64);
        let fraction = self.fraction_nanos() as i64;
        secs.checked_mul(NANOS)?.checked_add(fraction)
    }

    /// How many seconds after the Unix second `pivot_secs` this timestamp's
    /// whole seconds are, in the era nearest it: from -2^31 to 2^31 - 1.
    /// Only `pivot_secs` modulo 2^32 matters, so a negative pivot may come
    /// in two's complement.
    fn seconds_after(self, pivot_secs: u64) -> i64 {
        // The pivot's seconds as a timestamp holds them: since 1900,
        // modulo 2^32.
        let pivot_seconds = pivot_secs.wrapping_add(SECONDS_1900_TO_1970) as u32;
        // The signed distance modulo 2^32: the era nearest the pivot.
        i64::from(self.seconds().wrapping_sub(pivot_seconds) as i32)
    }

    /// The fraction in nanoseconds, rounded to the nearest: 0 to 10^9
    /// (which the fractions within 2^-33 s of the next second round to).
    /// The product takes 62 bits.
    fn fraction_nanos(self) -> u64 {
        (u64::from(self.fraction()) * 1_000_000_000 + (1 << 31)) >> 32
    }

    /// The era `time` falls in: 0 until 2036-02-07 06:28:16 UTC, then 1.
    pub const fn era(time: UnixTime) -> u64 {
        (time.secs.saturating_add(SECONDS_1900_TO_1970)) >> 32
    }
}

/// 65536 s in microseconds: [`NtpShort`]'s range ends just below it.
const SHORT_CAP_MICROS: u64 = (1 << 16) * 1_000_000;

/// A 32-bit NTP short value: seconds in 16.16 fixed point (root delay and
/// root dispersion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NtpShort(pub u32);

impl NtpShort {
    /// `duration`, rounded up to the next 2^-16 s (15 µs) so that an error
    /// bound never shrinks, and saturating at 65536 s.
    pub fn from_duration(duration: Duration) -> NtpShort {
        // 65536 s is already past the largest value: capped there, the
        // shifted microseconds fit 64 bits (2^52).
        let micros = duration.total_micros().min(SHORT_CAP_MICROS);
        // `div_ceil` in `div_rem`'s way: not a 64-bit division.
        let (whole, rest) = div_rem::<1_000_000>(micros << 16);
        let scaled = whole + u64::from(rest != 0);
        NtpShort(u32::try_from(scaled).unwrap_or(u32::MAX))
    }

    /// The duration this value stands for, rounded to the nearest microsecond.
    pub fn to_duration(self) -> Duration {
        let micros = (u64::from(self.0) * 1_000_000 + (1 << 15)) >> 16;
        Duration::from_micros(micros)
    }
}

/// The reference ID that names the upstream server `address` (RFC 5905,
/// section 7.3): an IPv4 address itself, or the first four bytes of the
/// MD5 hash of an IPv6 address. Downstream servers compare it with their
/// own address to detect timing loops.
pub fn reference_id_of(address: core::net::IpAddr) -> [u8; 4] {
    match address {
        core::net::IpAddr::V4(v4) => v4.octets(),
        core::net::IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = md5(&v6.octets());
            [a, b, c, d]
        }
    }
}

/// MD5 (RFC 1321) of a message of at most 55 bytes (one block): all the
/// reference ID needs.
fn md5(message: &[u8; 16]) -> [u8; 16] {
    const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(message);
    block[16] = 0x80;
    block[56..].copy_from_slice(&(16u64 * 8).to_le_bytes());
    let words: [u32; 16] = core::array::from_fn(|i| {
        u32::from_le_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ])
    });
    let state = [0x6745_2301u32, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let [mut a, mut b, mut c, mut d] = state;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(MD5_K[i])
            .wrapping_add(words[g])
            .rotate_left(SHIFTS[(i / 16) * 4 + i % 4]);
        (a, d, c, b) = (d, c, b, b.wrapping_add(rotated));
    }
    let mut digest = [0u8; 16];
    for (i, word) in [a, b, c, d].iter().enumerate() {
        let sum = word.wrapping_add(state[i]);
        digest[4 * i..4 * i + 4].copy_from_slice(&sum.to_le_bytes());
    }
    digest
}

/// MD5's 64 round constants, floor(2^32 * |sin(i + 1)|).
const MD5_K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// A reference ID or kiss code as text, when it is four printable ASCII
/// characters (trailing NULs dropped): `LOCL`, `GPS`, `RATE`.
pub fn ascii_id(id: &[u8; 4]) -> Option<&str> {
    let len = id.iter().position(|&b| b == 0).unwrap_or(4);
    let text = id.get(..len)?;
    if text.is_empty() || !text.iter().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    core::str::from_utf8(text).ok()
}

/// The kiss codes of a kiss-o'-death packet (stratum 0) that a client must
/// act on (RFC 5905, section 7.4), and the one this server sends.
pub mod kiss {
    /// The server refuses access: stop asking it.
    pub const DENY: [u8; 4] = *b"DENY";
    /// The server refuses access: stop asking it.
    pub const RSTR: [u8; 4] = *b"RSTR";
    /// Too many requests: ask less often.
    pub const RATE: [u8; 4] = *b"RATE";
    /// The server has not synchronized yet: it does not know the time.
    pub const INIT: [u8; 4] = *b"INIT";
}

mod field {
    use core::ops::Range;

    pub const LI_VN_MODE: usize = 0;
    pub const STRATUM: usize = 1;
    pub const POLL: usize = 2;
    pub const PRECISION: usize = 3;
    pub const ROOT_DELAY: Range<usize> = 4..8;
    pub const ROOT_DISPERSION: Range<usize> = 8..12;
    pub const REFERENCE_ID: Range<usize> = 12..16;
    pub const REFERENCE_TS: Range<usize> = 16..24;
    pub const ORIGIN_TS: Range<usize> = 24..32;
    pub const RECEIVE_TS: Range<usize> = 32..40;
    pub const TRANSMIT_TS: Range<usize> = 40..48;
}

/// A read/write view of an NTP packet.
///
/// Accessors never panic: on a buffer shorter than [`HEADER_LEN`] (which
/// [`Packet::new_checked`] refuses) they read zeros and write nothing.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without a length check.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// A view of a buffer that holds at least the header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds the whole header; after that, every
    /// accessor reads real bytes.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error)
        } else {
            Ok(())
        }
    }

    /// The buffer, given back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    fn bytes<const N: usize>(&self, range: core::ops::Range<usize>) -> [u8; N] {
        let mut out = [0; N];
        if let Some(src) = self.buffer.as_ref().get(range) {
            if src.len() == N {
                out.copy_from_slice(src);
            }
        }
        out
    }

    /// The leap indicator.
    pub fn leap(&self) -> Leap {
        Leap::from_bits(self.byte(field::LI_VN_MODE) >> 6)
    }

    /// The version number (1 to 4 in use).
    pub fn version(&self) -> u8 {
        (self.byte(field::LI_VN_MODE) >> 3) & 7
    }

    /// The association mode.
    pub fn mode(&self) -> Mode {
        Mode::from_bits(self.byte(field::LI_VN_MODE))
    }

    /// The stratum: 0 for a kiss-o'-death, 1 for a primary reference, up
    /// to 15; 16 for an unsynchronized clock.
    pub fn stratum(&self) -> u8 {
        self.byte(field::STRATUM)
    }

    /// The poll interval, log2 seconds.
    pub fn poll(&self) -> i8 {
        self.byte(field::POLL) as i8
    }

    /// The clock's precision, log2 seconds.
    pub fn precision(&self) -> i8 {
        self.byte(field::PRECISION) as i8
    }

    /// The round-trip delay to the primary reference.
    pub fn root_delay(&self) -> NtpShort {
        NtpShort(u32::from_be_bytes(self.bytes(field::ROOT_DELAY)))
    }

    /// The largest error relative to the primary reference.
    pub fn root_dispersion(&self) -> NtpShort {
        NtpShort(u32::from_be_bytes(self.bytes(field::ROOT_DISPERSION)))
    }

    /// The reference ID, or the kiss code when the stratum is 0.
    pub fn reference_id(&self) -> [u8; 4] {
        self.bytes(field::REFERENCE_ID)
    }

    /// When the sender's clock was last set or corrected.
    pub fn reference_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(u64::from_be_bytes(self.bytes(field::REFERENCE_TS)))
    }

    /// The client's transmit timestamp, copied back by the server.
    pub fn origin_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(u64::from_be_bytes(self.bytes(field::ORIGIN_TS)))
    }

    /// When the request reached the server.
    pub fn receive_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(u64::from_be_bytes(self.bytes(field::RECEIVE_TS)))
    }

    /// When the packet left its sender.
    pub fn transmit_timestamp(&self) -> NtpTimestamp {
        NtpTimestamp(u64::from_be_bytes(self.bytes(field::TRANSMIT_TS)))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_byte(&mut self, at: usize, value: u8) {
        if let Some(byte) = self.buffer.as_mut().get_mut(at) {
            *byte = value;
        }
    }

    fn set_bytes(&mut self, range: core::ops::Range<usize>, value: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(range) {
            if dst.len() == value.len() {
                dst.copy_from_slice(value);
            }
        }
    }

    /// Sets the first byte: leap indicator, version (its low three bits) and mode.
    pub fn set_li_vn_mode(&mut self, leap: Leap, version: u8, mode: Mode) {
        let value = (leap.bits() << 6) | ((version & 7) << 3) | mode.bits();
        self.set_byte(field::LI_VN_MODE, value);
    }

    /// Sets the stratum.
    pub fn set_stratum(&mut self, value: u8) {
        self.set_byte(field::STRATUM, value);
    }

    /// Sets the poll interval, log2 seconds.
    pub fn set_poll(&mut self, value: i8) {
        self.set_byte(field::POLL, value as u8);
    }

    /// Sets the precision, log2 seconds.
    pub fn set_precision(&mut self, value: i8) {
        self.set_byte(field::PRECISION, value as u8);
    }

    /// Sets the root delay.
    pub fn set_root_delay(&mut self, value: NtpShort) {
        self.set_bytes(field::ROOT_DELAY, &value.0.to_be_bytes());
    }

    /// Sets the root dispersion.
    pub fn set_root_dispersion(&mut self, value: NtpShort) {
        self.set_bytes(field::ROOT_DISPERSION, &value.0.to_be_bytes());
    }

    /// Sets the reference ID (or the kiss code).
    pub fn set_reference_id(&mut self, value: [u8; 4]) {
        self.set_bytes(field::REFERENCE_ID, &value);
    }

    /// Sets the reference timestamp.
    pub fn set_reference_timestamp(&mut self, value: NtpTimestamp) {
        self.set_bytes(field::REFERENCE_TS, &value.0.to_be_bytes());
    }

    /// Sets the origin timestamp.
    pub fn set_origin_timestamp(&mut self, value: NtpTimestamp) {
        self.set_bytes(field::ORIGIN_TS, &value.0.to_be_bytes());
    }

    /// Sets the receive timestamp.
    pub fn set_receive_timestamp(&mut self, value: NtpTimestamp) {
        self.set_bytes(field::RECEIVE_TS, &value.0.to_be_bytes());
    }

    /// Sets the transmit timestamp.
    pub fn set_transmit_timestamp(&mut self, value: NtpTimestamp) {
        self.set_bytes(field::TRANSMIT_TS, &value.0.to_be_bytes());
    }
}

/// The NTP header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// The leap indicator.
    pub leap: Leap,
    /// The version number: three bits on the wire, so 0 to 7.
    pub version: u8,
    /// The association mode.
    pub mode: Mode,
    /// The stratum (0: a kiss-o'-death).
    pub stratum: u8,
    /// log2 seconds.
    pub poll: i8,
    /// log2 seconds.
    pub precision: i8,
    /// The round-trip delay to the primary reference.
    pub root_delay: NtpShort,
    /// The largest error relative to the primary reference.
    pub root_dispersion: NtpShort,
    /// The reference ID, or the kiss code when the stratum is 0.
    pub reference_id: [u8; 4],
    /// When the sender's clock was last set or corrected.
    pub reference_timestamp: NtpTimestamp,
    /// The client's transmit timestamp, as the server copied it back.
    pub origin_timestamp: NtpTimestamp,
    /// When the request reached the server.
    pub receive_timestamp: NtpTimestamp,
    /// When the packet left its sender.
    pub transmit_timestamp: NtpTimestamp,
}

impl Repr {
    /// Parses the header of `packet`. Every 48 bytes are a header; whether
    /// its version and mode make sense is for the caller to judge.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        packet.check_len()?;
        Ok(Repr {
            leap: packet.leap(),
            version: packet.version(),
            mode: packet.mode(),
            stratum: packet.stratum(),
            poll: packet.poll(),
            precision: packet.precision(),
            root_delay: packet.root_delay(),
            root_dispersion: packet.root_dispersion(),
            reference_id: packet.reference_id(),
            reference_timestamp: packet.reference_timestamp(),
            origin_timestamp: packet.origin_timestamp(),
            receive_timestamp: packet.receive_timestamp(),
            transmit_timestamp: packet.transmit_timestamp(),
        })
    }

    /// A client request (mode 3) whose transmit timestamp is `transmit`;
    /// every other field is zero, as RFC 4330 (section 5) allows.
    pub const fn client_request(transmit: NtpTimestamp) -> Repr {
        Repr {
            leap: Leap::NoWarning,
            version: VERSION,
            mode: Mode::Client,
            stratum: 0,
            poll: 0,
            precision: 0,
            root_delay: NtpShort(0),
            root_dispersion: NtpShort(0),
            reference_id: [0; 4],
            reference_timestamp: NtpTimestamp::ZERO,
            origin_timestamp: NtpTimestamp::ZERO,
            receive_timestamp: NtpTimestamp::ZERO,
            transmit_timestamp: transmit,
        }
    }

    /// The length [`Repr::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first 48 bytes of `packet`; nothing
    /// into a shorter one.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        // The setters on a view of exactly 48 bytes: one length check
        // here instead of one per field (they stay in the code otherwise,
        // as a reserved payload's length is known only at run time).
        let Some(header) = packet.buffer.as_mut().first_chunk_mut::<HEADER_LEN>() else {
            return;
        };
        let packet = &mut Packet::new_unchecked(header);
        packet.set_li_vn_mode(self.leap, self.version, self.mode);
        packet.set_stratum(self.stratum);
        packet.set_poll(self.poll);
        packet.set_precision(self.precision);
        packet.set_root_delay(self.root_delay);
        packet.set_root_dispersion(self.root_dispersion);
        packet.set_reference_id(self.reference_id);
        packet.set_reference_timestamp(self.reference_timestamp);
        packet.set_origin_timestamp(self.origin_timestamp);
        packet.set_receive_timestamp(self.receive_timestamp);
        packet.set_transmit_timestamp(self.transmit_timestamp);
    }

    /// The kiss code, when this is a kiss-o'-death packet (stratum 0).
    pub fn kiss_code(&self) -> Option<[u8; 4]> {
        (self.stratum == 0).then_some(self.reference_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::unix_nanos;

    #[test]
    fn seconds_of_nanoseconds_round_down_before_1970_too() {
        for nanos in [
            0,
            1,
            NANOS - 1,
            NANOS,
            NANOS + 1,
            -1,
            -NANOS + 1,
            -NANOS,
            -NANOS - 1,
            -5 * NANOS,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(secs_of(nanos), nanos.div_euclid(NANOS), "{nanos}");
        }
        assert_eq!(secs_of(-1), -1);
        assert_eq!(secs_of(-NANOS), -1);
        assert_eq!(secs_of(-NANOS - 1), -2);
    }

    /// A request `ntpdig` (Debian 12's `sntp` and `ntpdate`) sent, as a
    /// UDP socket received it: LI 3 (the client's own clock is not
    /// synchronized), version 4, mode 3, and its time as transmit timestamp.
    pub(crate) const NTPDIG_REQUEST: [u8; 48] = [
        0xe3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xae, 0xf7, 0x25, 0xb6, 0xde, 0x38, 0x00,
    ];

    fn repr() -> Repr {
        Repr {
            leap: Leap::InsertSecond,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: 6,
            precision: -23,
            root_delay: NtpShort(0x0000_1234),
            root_dispersion: NtpShort(0x0001_8000),
            reference_id: [192, 168, 69, 2],
            reference_timestamp: NtpTimestamp(0xeb0d_5a00_0000_0001),
            origin_timestamp: NtpTimestamp(0xdead_beef_0123_4567),
            receive_timestamp: NtpTimestamp(0xeb0d_5a3c_8000_0000),
            transmit_timestamp: NtpTimestamp(0xeb0d_5a3c_8000_1000),
        }
    }

    #[test]
    fn parses_a_real_client_request() {
        let packet = Packet::new_checked(&NTPDIG_REQUEST[..]).unwrap();
        let repr = Repr::parse(&packet).unwrap();
        assert_eq!(repr.leap, Leap::Unsynchronized);
        assert_eq!(repr.version, 4);
        assert_eq!(repr.mode, Mode::Client);
        assert_eq!(repr.stratum, 0);
        assert_eq!(repr.transmit_timestamp, NtpTimestamp(0xeeae_f725_b6de_3800));
        assert!(repr.origin_timestamp.is_zero());
    }

    #[test]
    fn emit_writes_every_field_where_rfc_5905_puts_it() {
        // The header is all of it: 48 bytes, what a reply reserves.
        assert_eq!(repr().buffer_len(), 48);
        let mut bytes = [0u8; 48];
        repr().emit(&mut Packet::new_unchecked(&mut bytes[..]));
        assert_eq!(bytes[0], 0b01_100_100, "LI 1, VN 4, mode 4");
        assert_eq!(bytes[1..4], [2, 6, (-23i8) as u8]);
        assert_eq!(bytes[4..8], [0, 0, 0x12, 0x34]);
        assert_eq!(bytes[8..12], [0, 1, 0x80, 0]);
        assert_eq!(bytes[12..16], [192, 168, 69, 2]);
        assert_eq!(bytes[16..24], [0xeb, 0x0d, 0x5a, 0, 0, 0, 0, 1]);
        assert_eq!(
            bytes[24..32],
            [0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67]
        );
        assert_eq!(bytes[32..40], [0xeb, 0x0d, 0x5a, 0x3c, 0x80, 0, 0, 0]);
        assert_eq!(bytes[40..48], [0xeb, 0x0d, 0x5a, 0x3c, 0x80, 0, 0x10, 0]);
        let parsed = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        assert_eq!(parsed, repr());
    }

    #[test]
    fn short_packets_are_refused_and_accessors_never_panic() {
        for len in 0..HEADER_LEN {
            let bytes = [0xffu8; 48];
            assert_eq!(Packet::new_checked(&bytes[..len]).err(), Some(Error));
            let packet = Packet::new_unchecked(&bytes[..len]);
            assert_eq!(Repr::parse(&packet), Err(Error));
            // Unchecked reads of missing bytes are zeros, not panics.
            let _ = (packet.transmit_timestamp(), packet.reference_id());
            let mut short = [0u8; 48];
            repr().emit(&mut Packet::new_unchecked(&mut short[..len]));
            // A header that does not fit is not written at all.
            assert_eq!(short, [0; 48], "{len}");
        }
        // Longer datagrams (extension fields, a MAC) are parsed by their header.
        let mut long = [0u8; 68];
        long[..48].copy_from_slice(&NTPDIG_REQUEST);
        assert!(Repr::parse(&Packet::new_checked(&long[..]).unwrap()).is_ok());
    }

    #[test]
    fn any_header_reads_back_as_written_and_rewrites_the_same_bytes() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..10_000 {
            // Any 48 bytes are a header: parse, emit, and the bytes are back.
            let mut bytes = [0u8; HEADER_LEN];
            for chunk in bytes.chunks_mut(8) {
                chunk.copy_from_slice(&next().to_be_bytes());
            }
            let parsed = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
            let mut again = [0u8; HEADER_LEN];
            parsed.emit(&mut Packet::new_unchecked(&mut again[..]));
            assert_eq!(again, bytes);
            assert_eq!(
                Repr::parse(&Packet::new_checked(&again[..]).unwrap()),
                Ok(parsed)
            );
        }
    }

    #[test]
    fn every_mode_and_leap_value_round_trips() {
        for bits in 0..8 {
            assert_eq!(Mode::from_bits(bits).bits(), bits);
        }
        for bits in 0..4 {
            assert_eq!(Leap::from_bits(bits).bits(), bits);
        }
    }

    #[test]
    fn unix_epoch_and_a_known_date_convert() {
        assert_eq!(
            NtpTimestamp::from_unix(UnixTime::from_secs(0)),
            NtpTimestamp(2_208_988_800 << 32)
        );
        // 2026-11-23 15:04:05.5 UTC
        let t = UnixTime::new(1_795_446_245, 500_000_000);
        assert_eq!(
            NtpTimestamp::from_unix(t),
            NtpTimestamp((4_004_435_045 << 32) | 0x8000_0000)
        );
        assert_eq!(NtpTimestamp::from_unix(t).to_unix(t), Some(t));
    }

    #[test]
    fn the_2036_wrap_starts_era_1_at_second_zero() {
        let last = UnixTime::new(NtpTimestamp::ERA_1_UNIX_SECS - 1, 999_999_999);
        let first = UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS);
        let after = UnixTime::new(NtpTimestamp::ERA_1_UNIX_SECS + 1, 250_000_000);
        assert_eq!(NtpTimestamp::ERA_1_UNIX_SECS, 2_085_978_496);
        assert_eq!(NtpTimestamp::era(last), 0);
        assert_eq!(NtpTimestamp::era(first), 1);
        assert_eq!(NtpTimestamp::from_unix(last).seconds(), u32::MAX);
        // Exactly the start of the era would be zero, "no time": one step on.
        assert_eq!(NtpTimestamp::from_unix(first), NtpTimestamp(1));
        assert_eq!(
            NtpTimestamp::from_unix(after),
            NtpTimestamp((1 << 32) | 0x4000_0000)
        );
    }

    /// 2040-01-01 00:00:00 UTC.
    fn y2040() -> UnixTime {
        UnixTime::from_secs(2_208_988_800)
    }

    #[test]
    fn reading_picks_the_era_nearest_the_pivot() {
        let before = UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS - 10);
        let after = UnixTime::from_secs(NtpTimestamp::ERA_1_UNIX_SECS + 10);
        // A pivot on the other side of the wrap still finds the right era.
        for pivot in [before, after] {
            assert_eq!(NtpTimestamp::from_unix(before).to_unix(pivot), Some(before));
            assert_eq!(NtpTimestamp::from_unix(after).to_unix(pivot), Some(after));
        }
        // Decades apart, within 68 years.
        let y2025 = UnixTime::from_secs(1_735_689_600);
        let y2090 = UnixTime::from_secs(3_786_912_000);
        assert_eq!(NtpTimestamp::from_unix(y2090).to_unix(y2025), Some(y2090));
        assert_eq!(NtpTimestamp::from_unix(y2025).to_unix(y2090), Some(y2025));
        // 1975 read from a 2045 pivot, 70 years on, is era 1's 2111.
        let y1975 = UnixTime::from_secs(157_766_400);
        let y2045 = UnixTime::from_secs(2_366_755_200);
        assert_eq!(NtpTimestamp::from_unix(y1975).to_unix(y2040()), Some(y1975));
        assert_eq!(
            NtpTimestamp::from_unix(y1975).to_unix(y2045),
            Some(UnixTime::from_secs(157_766_400 + (1 << 32)))
        );
        // Before 1970 is not a UnixTime.
        let y1969 = NtpTimestamp((2_208_988_800 - 100) << 32);
        assert_eq!(y1969.to_unix(UnixTime::from_secs(0)), None);
    }

    #[test]
    fn the_end_of_32_bit_unix_seconds_in_2106_reads_in_era_1() {
        // 2106-02-07 06:28:15, the last second a u32 of Unix seconds
        // (RFC 868's time) holds, is era 1's second 2208988800 - 1.
        let last_u32 = UnixTime::new(u64::from(u32::MAX), 999_999_999);
        let stamp = NtpTimestamp::from_unix(last_u32);
        assert_eq!(stamp.seconds(), 2_208_988_799);
        assert_eq!(NtpTimestamp::era(last_u32), 1);
        for pivot in [y2040(), last_u32, UnixTime::from_secs(1 << 32)] {
            assert_eq!(stamp.to_unix(pivot), Some(last_u32), "{pivot:?}");
        }
        let next = UnixTime::from_secs(1 << 32);
        assert_eq!(NtpTimestamp::from_unix(next).to_unix(last_u32), Some(next));
    }

    #[test]
    fn a_fraction_that_rounds_to_a_whole_second_carries_into_it() {
        // 2^32 - 1 units is 0.99999999977 s: to the nearest nanosecond, 1 s.
        let stamp = NtpTimestamp((SECONDS_1900_TO_1970 << 32) | u64::from(u32::MAX));
        assert_eq!(stamp.fraction_nanos(), 1_000_000_000);
        let epoch = UnixTime::from_secs(0);
        assert_eq!(stamp.to_unix(epoch), Some(UnixTime::from_secs(1)));
        // Just below: 2^32 - 3 units is 0.9999999993 s.
        let below = NtpTimestamp(stamp.0 - 2);
        assert_eq!(below.to_unix(epoch), Some(UnixTime::new(0, 999_999_999)));
    }

    #[test]
    fn pivots_at_the_ends_of_unix_time_give_none_not_overflow() {
        // The last second a UnixTime holds; a timestamp one second after
        // it, or one that rounds up into the next second, is past it.
        let end = UnixTime::from_secs(u64::MAX);
        let same_second = NtpTimestamp::from_unix(end);
        assert_eq!(same_second.to_unix(end), Some(end));
        assert_eq!(NtpTimestamp(same_second.0 + (1 << 32)).to_unix(end), None);
        assert_eq!(NtpTimestamp(same_second.0 | 0xffff_ffff).to_unix(end), None);
        let before = NtpTimestamp(same_second.0 - (1 << 32));
        assert_eq!(before.to_unix(end), Some(UnixTime::from_secs(u64::MAX - 1)));
        // The farthest either way from a pivot is 2^31 s after and 2^31 s
        // before it.
        let pivot = UnixTime::from_secs(1 << 40);
        let seconds = NtpTimestamp::from_unix(pivot).seconds();
        let at = |seconds: u32| NtpTimestamp(u64::from(seconds) << 32);
        let latest = at(seconds.wrapping_add((1 << 31) - 1)).to_unix(pivot);
        assert_eq!(latest, Some(UnixTime::from_secs((1 << 40) + (1 << 31) - 1)));
        let earliest = at(seconds.wrapping_add(1 << 31)).to_unix(pivot);
        assert_eq!(earliest, Some(UnixTime::from_secs((1 << 40) - (1 << 31))));
        // From 1970, the era before is before 1970.
        let y1969 = at(seconds_of_1970() - 1);
        assert_eq!(y1969.to_unix(UnixTime::from_secs(0)), None);
    }

    fn seconds_of_1970() -> u32 {
        SECONDS_1900_TO_1970 as u32
    }

    #[test]
    fn every_second_and_fraction_round_trips_within_a_nanosecond() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let t = UnixTime::new(seed % (3 << 32), (seed >> 34) as u32 % 1_000_000_000);
            let back = NtpTimestamp::from_unix(t).to_unix(t).unwrap();
            // Up to 3 * 2^32 s, past i64 nanoseconds: compared in parts.
            let error = (back.secs as i64 - t.secs as i64) * 1_000_000_000
                + (i64::from(back.subsec_nanos()) - i64::from(t.subsec_nanos()));
            assert!(error.abs() <= 1, "{t:?} -> {back:?}");
        }
    }

    #[test]
    fn nanoseconds_and_unix_times_read_the_same_within_i64() {
        let mut seed = 0x0fed_cba9_8765_4321u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..10_000 {
            let stamp = NtpTimestamp(next());
            // Pivots from 1970 to 2262.
            let pivot = UnixTime::new(next() % 9_223_372_036, next() as u32 % 1_000_000_000);
            let by_time = stamp.to_unix(pivot);
            let by_nanos = stamp.to_unix_nanos(unix_nanos(pivot).unwrap());
            // Nanoseconds say before 1970 too; a UnixTime cannot.
            let after_1970 = by_nanos.filter(|nanos| *nanos >= 0);
            assert_eq!(
                by_time.and_then(unix_nanos),
                after_1970,
                "{stamp:?} {pivot:?}"
            );
        }
    }

    #[test]
    fn nanoseconds_before_1970_and_across_2036() {
        // A pivot a nanosecond before 1970 reads 1970 as 0, and 1969
        // (negative: before the epoch, which UnixTime cannot say).
        let epoch = NtpTimestamp(SECONDS_1900_TO_1970 << 32);
        assert_eq!(epoch.to_unix_nanos(-1), Some(0));
        let half_second_before = NtpTimestamp(epoch.0 - (1 << 31));
        assert_eq!(half_second_before.to_unix_nanos(-1), Some(-500_000_000));
        assert_eq!(half_second_before.to_unix_nanos(0), Some(-500_000_000));
        // Either side of the 2036 wrap, from a pivot on the other side.
        let wrap_nanos = NtpTimestamp::ERA_1_UNIX_SECS as i64 * 1_000_000_000;
        let last_of_era_0 = NtpTimestamp(u64::MAX);
        let first_of_era_1 = NtpTimestamp(1 << 31);
        assert_eq!(
            last_of_era_0.to_unix_nanos(wrap_nanos + 10),
            Some(wrap_nanos)
        );
        assert_eq!(
            first_of_era_1.to_unix_nanos(wrap_nanos - 10),
            Some(wrap_nanos + 500_000_000)
        );
    }

    #[test]
    fn nanoseconds_at_the_ends_of_i64_give_none_not_overflow() {
        // The last second i64 nanoseconds reach, 2262: its first 0.85 s.
        let last_secs = i64::MAX / 1_000_000_000;
        let last = NtpTimestamp::from_unix(UnixTime::from_secs(last_secs as u64));
        let at = |fraction: u64| NtpTimestamp(last.0 | fraction);
        assert_eq!(
            at(1 << 31).to_unix_nanos(i64::MAX),
            Some(last_secs * 1_000_000_000 + 500_000_000)
        );
        assert_eq!(at(0xf000_0000).to_unix_nanos(i64::MAX), None, "0.94 s");
        let next_second = NtpTimestamp(last.0 + (1 << 32));
        assert_eq!(next_second.to_unix_nanos(i64::MAX), None);
        // And the first, 1677: the second i64::MIN falls in (from 0.145 s
        // on) starts before it, and reads as None; the next one reads.
        let first_secs = i64::MIN.div_euclid(1_000_000_000);
        let seconds = (first_secs + SECONDS_1900_TO_1970 as i64).rem_euclid(1 << 32) as u64;
        let first = |fraction: u64| NtpTimestamp((seconds << 32) | fraction);
        assert_eq!(first(1 << 31).to_unix_nanos(i64::MIN), None);
        assert_eq!(
            NtpTimestamp(first(1 << 31).0 + (1 << 32)).to_unix_nanos(i64::MIN),
            Some((first_secs + 1) * 1_000_000_000 + 500_000_000)
        );
        // Every timestamp, from either end: no overflow, and nothing past
        // the ends.
        for stamp in [0, 1, 1 << 63, u64::MAX, last.0, seconds << 32] {
            for pivot in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
                let _ = NtpTimestamp(stamp).to_unix_nanos(pivot);
            }
        }
    }

    #[test]
    fn short_format_rounds_up() {
        assert_eq!(NtpShort::from_duration(Duration::ZERO), NtpShort(0));
        assert_eq!(
            NtpShort::from_duration(Duration::from_secs(1)),
            NtpShort(1 << 16)
        );
        assert_eq!(
            NtpShort::from_duration(Duration::from_micros(1)),
            NtpShort(1)
        );
        assert_eq!(
            NtpShort::from_duration(Duration::from_secs(100_000)),
            NtpShort(u32::MAX)
        );
        // At and around the end of the range, and far past it.
        let max = Duration::from_micros((u64::from(u32::MAX) * 1_000_000) >> 16);
        assert_eq!(NtpShort::from_duration(max), NtpShort(u32::MAX));
        assert_eq!(
            NtpShort::from_duration(max - Duration::from_micros(16)),
            NtpShort(u32::MAX - 1)
        );
        for micros in [65_536_000_000 - 1, 65_536_000_000, u64::MAX] {
            assert_eq!(
                NtpShort::from_duration(Duration::from_micros(micros)),
                NtpShort(u32::MAX),
                "{micros} µs"
            );
        }
        assert_eq!(
            NtpShort(0x0001_8000).to_duration(),
            Duration::from_millis(1500)
        );
        // Read back to the nearest microsecond: 3 * 2^-16 s is 45.78 µs.
        assert_eq!(NtpShort(3).to_duration(), Duration::from_micros(46));
        assert_eq!(NtpShort(1).to_duration(), Duration::from_micros(15));
    }

    /// Nanosecond counts below 10^9 that matter to a conversion: the ends,
    /// each side of every fraction step `fraction` lands on exactly, and
    /// a spread across the second.
    fn subsec_nanos_to_check() -> std::vec::Vec<u32> {
        let mut nanos = std::vec![0, 1, 2, 499_999_999, 500_000_000, 999_999_998, 999_999_999];
        // Where rounding to the nearest 2^-32 s turns: n * 2^32 + 5 * 10^8
        // a multiple of 10^9, i.e. the halves between fraction steps.
        for step in [
            0u64,
            1,
            2,
            3,
            (1 << 31) - 1,
            1 << 31,
            u64::from(u32::MAX) - 1,
        ] {
            let turn = (step * 1_000_000_000 + 500_000_000) >> 32;
            nanos.extend(
                [turn.saturating_sub(1), turn, turn + 1].map(|n| n.min(999_999_999) as u32),
            );
        }
        nanos.extend((0..10_000u32).map(|i| i.wrapping_mul(2_654_435_761) % 1_000_000_000));
        nanos
    }

    #[test]
    fn timestamps_are_what_the_64_bit_division_gives() {
        // `from_unix` divides in `div_rem`'s way: the same as `/`.
        for nanos in subsec_nanos_to_check() {
            for secs in [
                0,
                1,
                NtpTimestamp::ERA_1_UNIX_SECS - 1,
                NtpTimestamp::ERA_1_UNIX_SECS,
                u64::MAX,
            ] {
                let time = UnixTime::new(secs, nanos);
                let scaled = (u64::from(nanos) << 32) + 500_000_000;
                let fraction = (scaled / 1_000_000_000).min(u64::from(u32::MAX));
                let seconds = secs.wrapping_add(SECONDS_1900_TO_1970) as u32;
                let expected = ((u64::from(seconds) << 32) | fraction).max(1);
                assert_eq!(
                    NtpTimestamp::from_unix(time).0,
                    expected,
                    "{secs} s {nanos} ns"
                );
            }
        }
    }

    #[test]
    fn short_values_are_what_the_64_bit_division_gives() {
        // `from_duration` rounds up in `div_rem`'s way: as `div_ceil` does.
        let expected = |micros: u64| {
            let scaled = (micros.min(SHORT_CAP_MICROS) << 16).div_ceil(1_000_000);
            NtpShort(u32::try_from(scaled).unwrap_or(u32::MAX))
        };
        let mut micros = std::vec![0, 1, 2, 15, 16, 999_999, 1_000_000, 1_000_001, u64::MAX];
        // Each side of the cap, of the largest value and of exact steps.
        for around in [
            SHORT_CAP_MICROS,
            (u64::from(u32::MAX) * 1_000_000) >> 16,
            15_625,
            1 << 20,
        ] {
            micros.extend(around - 2..=around + 2);
        }
        micros.extend((0..20_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 27));
        for micros in micros {
            assert_eq!(
                NtpShort::from_duration(Duration::from_micros(micros)),
                expected(micros),
                "{micros} µs"
            );
        }
    }

    #[test]
    fn fractions_read_to_the_nearest_nanosecond() {
        // 3 * 2^-32 s is 0.70 ns, 2^-32 s 0.23 ns.
        let pivot = 0;
        let at = |fraction: u64| {
            NtpTimestamp((SECONDS_1900_TO_1970 << 32) | fraction)
                .to_unix_nanos(pivot)
                .unwrap()
        };
        assert_eq!(at(3), 1);
        assert_eq!(at(1), 0);
        assert_eq!(at(1 << 31), 500_000_000);
    }

    #[test]
    fn ascii_ids_and_kiss_codes() {
        assert_eq!(ascii_id(b"LOCL"), Some("LOCL"));
        assert_eq!(ascii_id(b"GPS\0"), Some("GPS"));
        assert_eq!(ascii_id(&[192, 168, 69, 1]), None);
        assert_eq!(ascii_id(&[0; 4]), None);
        let mut kod = repr();
        kod.stratum = 0;
        kod.reference_id = kiss::RATE;
        assert_eq!(kod.kiss_code(), Some(*b"RATE"));
        assert_eq!(repr().kiss_code(), None);
    }

    #[test]
    fn reference_ids_name_the_upstream_server() {
        use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 168, 69, 5));
        assert_eq!(reference_id_of(v4), [192, 168, 69, 5]);
        // The first four bytes of MD5 (Python's hashlib agrees).
        assert_eq!(
            md5(&[0; 16])[..],
            *b"\x4a\xe7\x13\x36\xe4\x4b\xf9\xbf\x79\xd2\x75\x2e\x23\x48\x18\xa5"
        );
        let v6 = IpAddr::V6(Ipv6Addr::new(0xfdaa, 0, 0, 0, 0, 0, 0, 5));
        assert_eq!(reference_id_of(v6), [0x25, 0xf2, 0xac, 0xd9]);
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(reference_id_of(v6), [0x39, 0xab, 0x9b, 0x37]);
    }
}
