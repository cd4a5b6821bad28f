//! Daytime, RFC 867: one line of human-readable date and time.
//!
//! The RFC leaves the format open; udpkit answers as BSD inetd does,
//! `ctime(3)` in UTC followed by CR LF: `Mon Nov 23 15:04:05 2026\r\n`.
//! Without a wall clock there is no reply.

use crate::clock::{CivilTime, UnixTime};
use crate::service::{Discard, Outbox, Request, Service, Uses};
use crate::wire::write_decimal;
use core::fmt::Write;

/// The port RFC 867 assigns.
pub const DEFAULT_PORT: u16 = 13;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "daytime";

/// A formatted daytime line; 26 bytes for years 1000 to 9999.
pub type DaytimeLine = heapless::String<48>;

/// Formats `time` like `ctime(3)` in UTC, with a CR LF line ending:
/// `Mon Nov 23 15:04:05 2026\r\n`, the day padded with a space, the time
/// with zeros. (Written piece by piece, not with `write!`: `core::fmt`'s
/// machinery is kilobytes of flash on a board.)
pub fn format(time: UnixTime) -> DaytimeLine {
    let mut line = DaytimeLine::new();
    // 48 bytes hold the longest possible line (a 20-digit year), so the
    // writes cannot fail.
    let _ = write_line(&mut line, &time.to_civil());
    line
}

/// [`format`]'s writes.
fn write_line(line: &mut DaytimeLine, c: &CivilTime) -> core::fmt::Result {
    line.write_str(c.weekday_name())?;
    line.write_char(' ')?;
    line.write_str(c.month_name())?;
    line.write_char(' ')?;
    let fields = [
        (u64::from(c.day), b' ', ' '),
        (u64::from(c.hour), b'0', ':'),
        (u64::from(c.minute), b'0', ':'),
        (u64::from(c.second), b'0', ' '),
    ];
    for (value, pad, after) in fields {
        write_decimal(line, value, 2, pad)?;
        line.write_char(after)?;
    }
    write_decimal(line, c.year, 0, b' ')?;
    line.write_str("\r\n")
}

/// The daytime service: the wall clock as one [`format`] line, whatever
/// the datagram says.
#[derive(Debug, Default)]
pub struct Daytime;

impl Service for Daytime {
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
        out.reply(request, format(now).as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, CLIENT};

    #[test]
    fn formats_like_ctime_in_utc() {
        assert_eq!(
            format(UnixTime::from_secs(1_795_446_245)).as_str(),
            "Mon Nov 23 15:04:05 2026\r\n"
        );
        assert_eq!(
            format(UnixTime::from_secs(0)).as_str(),
            "Thu Jan  1 00:00:00 1970\r\n"
        );
        assert_eq!(
            format(UnixTime::from_secs(u64::MAX)).len(),
            "Sun Jan  1 00:00:00 ".len() + 12 + 2,
            "the longest year still fits"
        );
    }

    #[test]
    fn every_month_and_weekday_is_named_as_ctime_names_it() {
        // The first of each month of 2026 at 12:30, as `date -u` prints it:
        // all twelve months, and the seven weekdays among them.
        let firsts = [
            (1_767_270_600, "Thu Jan  1 12:30:00 2026\r\n"),
            (1_769_949_000, "Sun Feb  1 12:30:00 2026\r\n"),
            (1_772_368_200, "Sun Mar  1 12:30:00 2026\r\n"),
            (1_775_046_600, "Wed Apr  1 12:30:00 2026\r\n"),
            (1_777_638_600, "Fri May  1 12:30:00 2026\r\n"),
            (1_780_317_000, "Mon Jun  1 12:30:00 2026\r\n"),
            (1_782_909_000, "Wed Jul  1 12:30:00 2026\r\n"),
            (1_785_587_400, "Sat Aug  1 12:30:00 2026\r\n"),
            (1_788_265_800, "Tue Sep  1 12:30:00 2026\r\n"),
            (1_790_857_800, "Thu Oct  1 12:30:00 2026\r\n"),
            (1_793_536_200, "Sun Nov  1 12:30:00 2026\r\n"),
            (1_796_128_200, "Tue Dec  1 12:30:00 2026\r\n"),
        ];
        for (secs, line) in firsts {
            assert_eq!(format(UnixTime::from_secs(secs)).as_str(), line);
        }
    }

    #[test]
    fn answers_with_one_line() {
        let (verdict, sent) = exchange(&mut Daytime, b"", Some(UnixTime::from_secs(951_782_400)));
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, b"Tue Feb 29 00:00:00 2000\r\n".to_vec())]);
    }

    #[test]
    fn stays_silent_without_a_wall_clock() {
        let (verdict, sent) = exchange(&mut Daytime, b"what time is it?", None);
        assert_eq!(verdict, Err(Discard::NoWallClock));
        assert!(sent.is_empty());
    }
}
