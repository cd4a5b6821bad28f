//! Wall-clock time: a Unix timestamp and its civil (calendar) form.
//!
//! The monotonic clock that drives timers is smoltcp's [`Instant`]; this
//! module is only about *what time it is*, which a board may not know at all
//! (no RTC, not synced yet). Services that tell the time take an
//! `Option<UnixTime>` and stay silent on `None` rather than lie.
//!
//! [`Instant`]: smoltcp::time::Instant

/// Seconds between 1900-01-01 (the NTP / RFC 868 epoch) and 1970-01-01.
pub const SECONDS_1900_TO_1970: u64 = 2_208_988_800;

/// A point in time as seconds and nanoseconds since 1970-01-01 00:00:00 UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixTime {
    /// Whole seconds since the epoch.
    pub secs: u64,
    /// Always below 1 000 000 000.
    nanos: u32,
}

impl UnixTime {
    /// A time of whole seconds.
    pub const fn from_secs(secs: u64) -> UnixTime {
        UnixTime { secs, nanos: 0 }
    }

    /// A time with a sub-second part; nanoseconds past a second carry over.
    pub const fn new(secs: u64, nanos: u32) -> UnixTime {
        UnixTime {
            secs: secs.saturating_add((nanos / 1_000_000_000) as u64),
            nanos: nanos % 1_000_000_000,
        }
    }

    /// The nanoseconds past the whole second, below 1 000 000 000.
    pub const fn subsec_nanos(&self) -> u32 {
        self.nanos
    }

    /// The calendar date and time of day, in UTC.
    pub fn to_civil(self) -> CivilTime {
        CivilTime::from_unix_secs(self.secs)
    }
}

/// Nanoseconds in one second.
const NANOS: i64 = 1_000_000_000;

/// The last time [`unix_nanos`] holds, 2262-04-11 23:47:16.854775807 UTC:
/// `i64::MAX` nanoseconds after 1970.
pub const LAST_UNIX_NANOS_TIME: UnixTime =
    UnixTime::new((i64::MAX / NANOS) as u64, (i64::MAX % NANOS) as u32);

/// Nanoseconds since 1970 of `time`: the unit clock arithmetic (offsets,
/// delays, eras) is done in, signed so that differences need little care.
/// `None` past [`LAST_UNIX_NANOS_TIME`]: 64 bits of nanoseconds span
/// 1677 to 2262, past NTP's 2036 wrap and RFC 868's 2106.
pub fn unix_nanos(time: UnixTime) -> Option<i64> {
    let secs = i64::try_from(time.secs).ok()?;
    secs.checked_mul(NANOS)?
        .checked_add(i64::from(time.subsec_nanos()))
}

/// A time of nanoseconds since 1970, unless it is before 1970.
pub fn from_unix_nanos(nanos: i64) -> Option<UnixTime> {
    let nanos = u64::try_from(nanos).ok()?;
    let (secs, nanos) = div_rem::<1_000_000_000>(nanos);
    Some(UnixTime::new(secs, nanos))
}

/// `n / D` and `n % D` without a 64-bit division: for the clock's and
/// the consoles' conversions (by 10, 1000, 10^6, 10^9).
///
/// Why: a Cortex-M3 divides 32-bit numbers in hardware, but a 64-bit
/// division is a call to compiler_builtins' `__aeabi_uldivmod`, about 600
/// bytes of flash with its helpers, which LLVM does not turn into a
/// multiplication on a 32-bit target for these divisors. Long division
/// bit by bit instead (a shift, a compare and a subtraction each), in a
/// few dozen bytes: 64 steps, slower than the library's (about 30 µs at
/// 25 MHz), a few of them for a reading of the wall clock. A 64-bit
/// target divides in hardware, and does (these conversions are on a host's
/// per-request path: NTP, daytime, the text formats' digits).
pub fn div_rem<const D: u32>(n: u64) -> (u64, u32) {
    const { assert!(D != 0, "div_rem: D must not be 0") };
    if cfg!(target_pointer_width = "64") {
        let d = u64::from(D);
        // The remainder is below D: a u32.
        (n / d, (n % d) as u32)
    } else {
        long_division(n, D)
    }
}

/// `duration.total_millis()` in [`div_rem`]'s way: smoltcp's divides
/// its `u64` of microseconds with `/`, a 64-bit division (the rate limits'
/// refills use it).
pub fn total_millis(duration: smoltcp::time::Duration) -> u64 {
    div_rem::<1_000>(duration.total_micros()).0
}

/// `duration.secs()`, its whole seconds, in [`div_rem`]'s way (see
/// [`total_millis`]).
pub fn total_secs(duration: smoltcp::time::Duration) -> u64 {
    div_rem::<1_000_000>(duration.total_micros()).0
}

/// [`div_rem`]'s work, once for every divisor: school long division in
/// base 2. The bits of `n` leave it at the top, into the remainder, as the
/// quotient's come in at the bottom; the remainder stays below the divisor
/// (below 2^32), so with the next bit beside it, it fits a `u64`. Never
/// inlined: one copy of the loop, not one at every conversion.
#[inline(never)]
fn long_division(n: u64, divisor: u32) -> (u64, u32) {
    let divisor = u64::from(divisor);
    let mut bits = n;
    let mut rest = 0u64;
    for _ in 0..64 {
        rest = rest << 1 | bits >> 63;
        bits <<= 1;
        if rest >= divisor {
            rest -= divisor;
            bits |= 1;
        }
    }
    (bits, rest as u32)
}

/// A UTC calendar date and time of day (proleptic Gregorian calendar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    /// The year, 1970 onwards.
    pub year: u64,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=59 (Unix time has no leap seconds)
    pub second: u8,
    /// 0 = Sunday .. 6 = Saturday
    pub weekday: u8,
}

impl CivilTime {
    /// Converts seconds since the Unix epoch to a calendar date.
    ///
    /// Uses Howard Hinnant's `civil_from_days`, which works in 400-year eras
    /// so that it needs no tables and no loops.
    pub fn from_unix_secs(secs: u64) -> CivilTime {
        // 64-bit divisions by [`div_rem`] only; within an era, u32s.
        let (days, rem) = div_rem::<86_400>(secs);
        // 1970-01-01 was a Thursday.
        let weekday = div_rem::<7>(days + 4).1 as u8;

        // Shift the epoch to 0000-03-01 so that leap days fall at the end of
        // the (March-based) year.
        let (era, day_of_era) = div_rem::<146_097>(days + 719_468);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153; // 0 = March
        let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u8;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        } as u8;
        let year = u64::from(year_of_era) + era * 400 + u64::from(month <= 2);

        CivilTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem % 3600 / 60) as u8,
            second: (rem % 60) as u8,
            weekday,
        }
    }

    /// Three-letter English weekday name, as `ctime(3)` prints it.
    pub fn weekday_name(&self) -> &'static str {
        match self.weekday {
            0 => "Sun",
            1 => "Mon",
            2 => "Tue",
            3 => "Wed",
            4 => "Thu",
            5 => "Fri",
            _ => "Sat",
        }
    }

    /// Three-letter English month name, as `ctime(3)` prints it.
    pub fn month_name(&self) -> &'static str {
        match self.month {
            1 => "Jan",
            2 => "Feb",
            3 => "Mar",
            4 => "Apr",
            5 => "May",
            6 => "Jun",
            7 => "Jul",
            8 => "Aug",
            9 => "Sep",
            10 => "Oct",
            11 => "Nov",
            _ => "Dec",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn civil(secs: u64) -> (u64, u8, u8, u8, u8, u8, &'static str) {
        let c = CivilTime::from_unix_secs(secs);
        (
            c.year,
            c.month,
            c.day,
            c.hour,
            c.minute,
            c.second,
            c.weekday_name(),
        )
    }

    #[test]
    fn epoch_is_thursday_first_of_january_1970() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0, "Thu"));
    }

    #[test]
    fn known_dates() {
        // `date -u -d @...` on Linux gives the expected values.
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0, "Tue"));
        assert_eq!(civil(1_795_446_245), (2026, 11, 23, 15, 4, 5, "Mon"));
        assert_eq!(civil(2_085_978_495), (2036, 2, 7, 6, 28, 15, "Thu"));
        assert_eq!(civil(2_085_978_496), (2036, 2, 7, 6, 28, 16, "Thu"));
        assert_eq!(civil(4_107_542_400), (2100, 3, 1, 0, 0, 0, "Mon"));
        assert_eq!(civil(253_402_300_799), (9999, 12, 31, 23, 59, 59, "Fri"));
    }

    #[test]
    fn every_day_for_two_centuries_follows_the_previous_one() {
        let mut previous = CivilTime::from_unix_secs(0);
        for day in 1..(200 * 366) {
            let c = CivilTime::from_unix_secs(day * 86_400);
            assert_eq!(c.weekday, (previous.weekday + 1) % 7);
            let next_day_same_month =
                c.year == previous.year && c.month == previous.month && c.day == previous.day + 1;
            let first_of_next_month = c.day == 1
                && ((c.year == previous.year && c.month == previous.month + 1)
                    || (c.year == previous.year + 1 && c.month == 1 && previous.month == 12));
            assert!(
                next_day_same_month || first_of_next_month,
                "{previous:?} -> {c:?}"
            );
            previous = c;
        }
    }

    #[test]
    fn division_bit_by_bit_is_division() {
        // The boards' way and the hosts', against the `/` and `%` of u64.
        fn check<const D: u32>(n: u64) {
            let d = u64::from(D);
            let expected = (n / d, (n % d) as u32);
            assert_eq!(long_division(n, D), expected, "{n} / {D}");
            assert_eq!(div_rem::<D>(n), expected, "{n} / {D}");
        }
        let mut x = 0x0123_4567_89ab_cdef_u64;
        let mut numbers = std::vec![0, 1, 9, 10, 11, 999, 1000, 1001, u64::MAX, u64::MAX - 1];
        numbers.extend((0..64).flat_map(|bit| [1 << bit, (1 << bit) - 1, (1 << bit) + 1]));
        numbers.extend((0..2000).map(|_| {
            // splitmix64: every bit pattern, every length.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) >> (x % 64)
        }));
        for n in numbers {
            check::<1>(n);
            check::<2>(n);
            check::<3>(n);
            check::<10>(n);
            check::<1000>(n);
            check::<1_000_000>(n);
            check::<1_000_000_000>(n);
            check::<0x8000_0000>(n);
            check::<0x7fff_ffff>(n);
            check::<0xffff_fffe>(n);
            check::<0xffff_ffff>(n);
        }
    }

    #[test]
    fn milliseconds_and_seconds_of_a_duration_are_smoltcps() {
        use smoltcp::time::Duration;
        let mut micros = std::vec![u64::MAX, u64::MAX - 1];
        for unit in [1_000, 1_000_000] {
            for n in [0, 1, 2, 59, 60, 1_000, u64::MAX / unit] {
                micros.extend([-1i64, 0, 1].map(|d| (n * unit).saturating_add_signed(d)));
            }
        }
        for micros in micros {
            let duration = Duration::from_micros(micros);
            assert_eq!(
                total_millis(duration),
                duration.total_millis(),
                "{micros} µs"
            );
            assert_eq!(total_secs(duration), duration.secs(), "{micros} µs");
        }
    }

    #[test]
    fn nanoseconds_carry_into_seconds() {
        let t = UnixTime::new(10, 2_500_000_000);
        assert_eq!((t.secs, t.subsec_nanos()), (12, 500_000_000));
        assert_eq!(UnixTime::new(u64::MAX, 1_000_000_000).secs, u64::MAX);
    }

    #[test]
    fn nanoseconds_since_1970_convert_both_ways_within_range() {
        let t = UnixTime::new(1_795_446_245, 500_000_001);
        assert_eq!(unix_nanos(t), Some(1_795_446_245_500_000_001));
        assert_eq!(from_unix_nanos(1_795_446_245_500_000_001), Some(t));
        assert_eq!(unix_nanos(UnixTime::from_secs(0)), Some(0));
        assert_eq!(from_unix_nanos(0), Some(UnixTime::from_secs(0)));
        assert_eq!(
            from_unix_nanos(999_999_999),
            Some(UnixTime::new(0, 999_999_999))
        );
        assert_eq!(from_unix_nanos(-1), None, "before 1970");
        assert_eq!(from_unix_nanos(i64::MIN), None);
    }

    #[test]
    fn nanoseconds_since_1970_end_in_2262() {
        let last = LAST_UNIX_NANOS_TIME;
        assert_eq!(
            (last.secs, last.subsec_nanos()),
            (9_223_372_036, 854_775_807)
        );
        assert_eq!(civil(last.secs), (2262, 4, 11, 23, 47, 16, "Fri"));
        assert_eq!(unix_nanos(last), Some(i64::MAX));
        assert_eq!(from_unix_nanos(i64::MAX), Some(last));
        // One nanosecond on, and every second after, is past i64.
        assert_eq!(unix_nanos(UnixTime::new(last.secs, 854_775_808)), None);
        assert_eq!(unix_nanos(UnixTime::from_secs(last.secs + 1)), None);
        assert_eq!(unix_nanos(UnixTime::from_secs(1 << 63)), None);
        assert_eq!(unix_nanos(UnixTime::new(u64::MAX, 999_999_999)), None);
        // Across the NTP wrap of 2036 and the end of u32 seconds in 2106.
        for secs in [(1 << 32) - 2_208_988_800, (1 << 32) - 1, 1 << 32] {
            let t = UnixTime::new(secs, 999_999_999);
            let nanos = unix_nanos(t).unwrap();
            assert_eq!(nanos, secs as i64 * 1_000_000_000 + 999_999_999);
            assert_eq!(from_unix_nanos(nanos), Some(t));
        }
    }
}
