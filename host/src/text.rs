//! Values as people type and read them, the same in every command: one
//! reading of durations and one writing of MAC addresses, so that `serve`,
//! the clients and the benchmark cannot drift apart.
//!
//! Durations: a bare number is seconds, as `nc -w 2`, `ping -W 2` and
//! `timeout 2` take them; anything else is read by humantime (`500ms`,
//! `2s`, `1m30s`, `5min`).
//!
//! MAC addresses are written as `ip link` writes them (`02:00:00:00:00:01`),
//! not as smoltcp's `Display` does (`02-00-00-00-00-01`): they are copied
//! between the two.

use std::fmt;
use std::time::Duration;

use udpkit::smoltcp::wire::EthernetAddress;

/// Parses `text` as a duration: seconds (`2`, `0.5`) or a number with a unit
/// (`500ms`, `2s`, `1m30s`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(seconds) = bare_seconds(text) {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("'{text}' seconds is too long a duration"));
    }
    humantime::parse_duration(text).map_err(|e| {
        format!("'{text}' is not a duration ({e}): give seconds (2, 0.5) or a unit (500ms, 1m30s)")
    })
}

/// `text` as a number of seconds when it is digits with at most one decimal
/// point and nothing else (no sign, exponent, `inf` or `nan`, which `f64`'s
/// parser would take).
fn bare_seconds(text: &str) -> Option<f64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let bare = digits(whole) && digits(fraction) && whole.len() + fraction.len() > 0;
    bare.then(|| text.parse().ok()).flatten()
}

/// A MAC address as `ip link` writes it: `02:00:00:00:00:01`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mac(pub EthernetAddress);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0 .0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_is_written_as_ip_link_writes_it_and_read_back() {
        let mac = EthernetAddress([0x02, 0, 0, 0xab, 0x0c, 0xff]);
        let text = Mac(mac).to_string();
        assert_eq!(text, "02:00:00:ab:0c:ff");
        assert_eq!(text.parse::<EthernetAddress>(), Ok(mac));
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.25"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse_duration("3."), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(" 30 "), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1024"), Ok(Duration::from_secs(1024)));
    }

    #[test]
    fn units_as_before() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2 s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn what_is_no_duration_is_refused_with_an_example() {
        for text in [
            "", ".", "-1", "+2", "1e3", "inf", "nan", "two", "2x", "1.2.3", "s",
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains("500ms"), "{text:?}: {error}");
        }
        let error = parse_duration(&"9".repeat(30)).expect_err("too long");
        assert!(error.contains("too long"), "{error}");
    }
}
