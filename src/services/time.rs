//! Time, RFC 868: four bytes, the seconds since 1900-01-01 00:00 UTC.
//!
//! The count is 32 bits, big endian, and wraps on 2036-02-07 06:28:16 UTC;
//! after that the value simply continues from 0 (`mod 2^32`), which is what
//! current clients (`rdate`) expect. When the wall clock is unknown the RFC
//! says to discard the request, so there is no reply.

use crate::clock::{UnixTime, SECONDS_1900_TO_1970};
use crate::service::{Discard, Outbox, Request, Service, Uses};

/// The port RFC 868 assigns.
pub const DEFAULT_PORT: u16 = 37;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "time";

/// The RFC 868 encoding of `time`: `(unix + 2208988800) mod 2^32`, big endian.
pub fn encode(time: UnixTime) -> [u8; 4] {
    let since_1900 = time.secs.wrapping_add(SECONDS_1900_TO_1970);
    ((since_1900 % (1 << 32)) as u32).to_be_bytes()
}

/// Decodes an RFC 868 answer, reading it as a time between 1970-01-01 and
/// 2106-02-07: values below the 1970 mark belong to the era after the 2036
/// wrap.
pub fn decode(answer: [u8; 4]) -> UnixTime {
    let value = u64::from(u32::from_be_bytes(answer));
    let secs = if value >= SECONDS_1900_TO_1970 {
        value - SECONDS_1900_TO_1970
    } else {
        value + (1 << 32) - SECONDS_1900_TO_1970
    };
    UnixTime::from_secs(secs)
}

/// The time service: the wall clock [`encode`]d, whatever the datagram
/// says.
#[derive(Debug, Default)]
pub struct Time;

impl Service for Time {
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
        let now = request.wall.ok_or(Discard::NoWallClock)?;
        out.reply(request, &encode(now))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, CLIENT};

    #[test]
    fn encodes_seconds_since_1900_big_endian() {
        assert_eq!(
            encode(UnixTime::from_secs(0)),
            2_208_988_800u32.to_be_bytes()
        );
        // 2026-11-23 15:04:05 UTC
        assert_eq!(
            encode(UnixTime::from_secs(1_795_446_245)),
            4_004_435_045u32.to_be_bytes()
        );
    }

    #[test]
    fn wraps_to_zero_on_2036_02_07_06_28_16() {
        assert_eq!(encode(UnixTime::from_secs(2_085_978_495)), [0xff; 4]);
        assert_eq!(encode(UnixTime::from_secs(2_085_978_496)), [0; 4]);
        assert_eq!(encode(UnixTime::from_secs(2_085_978_497)), [0, 0, 0, 1]);
        // And on for as long as a UnixTime goes, whatever a board's clock
        // says: the last second before 1900 + 2^64 s is 2^32 - 1 mod 2^32.
        let last = UnixTime::from_secs(u64::MAX - SECONDS_1900_TO_1970);
        assert_eq!(encode(last), [0xff; 4]);
    }

    #[test]
    fn decode_reads_both_sides_of_the_wrap() {
        for secs in [
            0,
            1_795_446_245,
            2_085_978_495,
            2_085_978_496,
            4_294_967_295,
        ] {
            let t = UnixTime::from_secs(secs);
            assert_eq!(decode(encode(t)), t, "{secs}");
        }
    }

    #[test]
    fn answers_any_datagram_with_the_time() {
        let now = UnixTime::new(1_795_446_245, 999_000_000);
        let (verdict, sent) = exchange(&mut Time, b"\n", Some(now));
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, 4_004_435_045u32.to_be_bytes().to_vec())]);
    }

    #[test]
    fn stays_silent_without_a_wall_clock() {
        let (verdict, sent) = exchange(&mut Time, b"", None);
        assert_eq!(verdict, Err(Discard::NoWallClock));
        assert!(sent.is_empty());
    }
}
