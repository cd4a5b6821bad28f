//! The portable trait: everything the core needs from a board, and how a
//! board describes its wall clock ([`ClockSource`]), which the stack hands
//! on to the services with each request.

use smoltcp::phy::Device;
use smoltcp::time::{Duration, Instant};

use crate::clock::UnixTime;
use crate::wire::ntp::{kiss, Leap};

/// What a port provides: a network device, clocks and a bit of entropy.
///
/// The host implements it over a Linux TAP and the system clocks; a
/// microcontroller port over its Ethernet controller, a timer and (when it
/// has one) an RTC or a time synced from the network. Nothing else in the
/// core is board-specific.
pub trait Board {
    /// The Ethernet device frames come from and go to.
    type Device: Device;

    /// The device, for the stack's poll.
    fn device(&mut self) -> &mut Self::Device;

    /// A monotonic clock; it never goes back. Its epoch is arbitrary (boot).
    fn now(&mut self) -> Instant;

    /// The wall clock in UTC, or `None` while the board does not know it.
    /// Services that tell the time stay silent on `None`.
    fn wall_clock(&mut self) -> Option<UnixTime>;

    /// Where the wall clock's time comes from, as the NTP server tells its
    /// clients: by default a local clock nobody vouches for, served as
    /// chrony's `local` directive does (stratum 10, reference `LOCL`). A
    /// board with a GPS or PPS disciplined clock says
    /// [`ClockSource::primary`]; the host measures its clock's precision.
    fn clock_source(&mut self) -> ClockSource {
        ClockSource::LOCAL
    }

    /// A seed for smoltcp's random numbers (ports, IDs). Different on every
    /// boot where the board can manage it.
    fn entropy_seed(&mut self) -> u64;
}

/// Where a wall clock's time comes from, as an NTP server describes it:
/// what the stratum, reference ID, precision, root delay and dispersion
/// and reference time of its replies say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSource {
    /// 1 for a primary reference (GPS, PPS, a radio clock), n + 1 for a
    /// clock synchronized to a server of stratum n, and by convention 10 for
    /// a local clock nobody vouches for. 0 and 16 and above: no time.
    pub stratum: u8,
    /// Stratum 1: four ASCII characters naming the reference (`GPS`,
    /// `PPS`); above: the IPv4 address of the upstream server, or `LOCL`.
    pub reference_id: [u8; 4],
    /// The clock's resolution, log2 seconds (-20 is about a microsecond).
    pub precision: i8,
    /// Round-trip delay to the primary reference.
    pub root_delay: Duration,
    /// Largest error relative to the primary reference, growing with the
    /// time since the last synchronization.
    pub root_dispersion: Duration,
    /// When the clock was last set or corrected; `None` for a clock that is
    /// its own reference (every reading is "just set").
    pub reference_time: Option<UnixTime>,
    /// A leap second announced for the end of the day, or `Unsynchronized`
    /// for a clock whose time must not be served.
    pub leap: Leap,
}

impl ClockSource {
    /// A local clock served as chrony's `local` directive and ntpd's local
    /// clock driver serve one: stratum 10, reference `LOCL`, a precision of
    /// about a millisecond. What a board is assumed to have when it does
    /// not say better.
    pub const LOCAL: ClockSource = ClockSource {
        stratum: 10,
        reference_id: *b"LOCL",
        precision: -10,
        root_delay: Duration::ZERO,
        root_dispersion: Duration::ZERO,
        reference_time: None,
        leap: Leap::NoWarning,
    };

    /// No usable time: a server answers with a kiss-o'-death.
    pub const UNSYNCHRONIZED: ClockSource = ClockSource {
        stratum: 16,
        reference_id: kiss::INIT,
        precision: 0,
        root_delay: Duration::ZERO,
        root_dispersion: Duration::ZERO,
        reference_time: None,
        leap: Leap::Unsynchronized,
    };

    /// A primary reference (stratum 1) named `reference` (`*b"GPS\0"`).
    pub const fn primary(reference: [u8; 4], precision: i8) -> ClockSource {
        ClockSource {
            stratum: 1,
            reference_id: reference,
            precision,
            ..ClockSource::LOCAL
        }
    }

    /// Whether this source has a time to serve: a stratum of 1 to 15 and a
    /// leap indicator other than "unsynchronized".
    pub fn is_synchronized(&self) -> bool {
        (1..=15).contains(&self.stratum) && self.leap != Leap::Unsynchronized
    }
}

impl Default for ClockSource {
    fn default() -> ClockSource {
        ClockSource::LOCAL
    }
}

/// The smallest `p` with 2^p seconds at least `nanos` nanoseconds (and
/// at least 1 ns): the NTP precision of a clock that ticks or reads in
/// steps that long.
pub fn precision_from_nanos(nanos: u64) -> i8 {
    let nanos = nanos.max(1);
    if nanos <= 1_000_000_000 {
        // In units of 2^-32 s, rounded up: 2^p s is 2^(p + 32) units, and a
        // second or less is at most 2^32 units, so the shift fits 64 bits.
        let units = (nanos << 32).div_ceil(1_000_000_000);
        bits_to_hold(units - 1) - 32
    } else {
        // Past a second, in whole seconds rounded up: 2^p s is at least
        // `nanos` exactly when it is at least that many whole seconds.
        bits_to_hold(nanos.div_ceil(1_000_000_000) - 1)
    }
}

/// The number of bits `value` takes (0 for 0): the smallest `b` with
/// `value < 2^b`, at most 64.
fn bits_to_hold(value: u64) -> i8 {
    (64 - value.leading_zeros()) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_is_the_next_power_of_two() {
        assert_eq!(precision_from_nanos(0), -29);
        assert_eq!(precision_from_nanos(1), -29);
        assert_eq!(precision_from_nanos(30), -24);
        assert_eq!(precision_from_nanos(1_000), -19);
        assert_eq!(precision_from_nanos(1_000_000), -9);
        assert_eq!(precision_from_nanos(1_000_000_000), 0);
        assert_eq!(precision_from_nanos(1_000_000_001), 1);
        assert_eq!(precision_from_nanos(u64::MAX), 35);
    }

    #[test]
    fn precision_is_the_smallest_power_of_two_at_least_as_long_on_either_side_of_a_second() {
        // Just at and past each power of two, below and above a second.
        for p in -29i32..=34 {
            let nanos_of_power = |p: i32| {
                if p >= 0 {
                    1_000_000_000u64 << p
                } else {
                    // 2^p s, rounded down to whole nanoseconds.
                    1_000_000_000u64 >> -p
                }
            };
            let exact = nanos_of_power(p);
            assert_eq!(i32::from(precision_from_nanos(exact)), p, "{exact} ns");
            if p < 34 {
                assert_eq!(
                    i32::from(precision_from_nanos(exact + 1)),
                    p + 1,
                    "{} ns",
                    exact + 1
                );
            }
        }
        // 2^-29 s is 1.86 ns: 2 ns needs 2^-28 s.
        assert_eq!(precision_from_nanos(2), -28);
        assert_eq!(precision_from_nanos(999_999_999), 0);
        assert_eq!(precision_from_nanos(2_000_000_000), 1);
        assert_eq!(precision_from_nanos(2_000_000_001), 2);
    }

    #[test]
    fn clock_sources() {
        assert!(ClockSource::LOCAL.is_synchronized());
        assert!(!ClockSource::UNSYNCHRONIZED.is_synchronized());
        let gps = ClockSource::primary(*b"GPS\0", -20);
        assert_eq!(
            (gps.stratum, gps.reference_id, gps.precision),
            (1, *b"GPS\0", -20)
        );
        assert!(gps.is_synchronized());
        // A stratum alone, or a leap indicator alone, is not enough.
        let unsynchronized_leap = ClockSource {
            leap: Leap::Unsynchronized,
            ..gps
        };
        assert!(!unsynchronized_leap.is_synchronized());
        for stratum in [0, 16] {
            assert!(
                !ClockSource { stratum, ..gps }.is_synchronized(),
                "{stratum}"
            );
        }
        assert!(ClockSource { stratum: 15, ..gps }.is_synchronized());
    }
}
