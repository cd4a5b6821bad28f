//! The host's clocks as the core wants them.
//!
//! Reading the system clock as the core's [`UnixTime`] happens in the
//! board, the kernel backend, the pcap capture and the NTP client; it is
//! written here once so that they all agree on what "before 1970" means
//! and on the clock that the NTP server describes.
//!
//! Nothing here sets, steps or slews the machine's clock.

use std::io::Read as _;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use udpkit::board::precision_from_nanos;
use udpkit::clock::unix_nanos;
use udpkit::{ClockSource, UnixTime};

/// The system clock as Unix time; `None` when it reads before 1970.
pub fn system_time() -> Option<UnixTime> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(UnixTime::new(
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
    ))
}

/// The host's clock as the NTP server describes it.
///
/// A local clock, served as chrony's `local` directive serves one: stratum
/// 10, reference `LOCL`. Whether the host's clock is itself synchronized
/// (by chronyd, ntpd or systemd-timesyncd) and to what stratum is not ours
/// to know, so we claim no better than that. The precision is measured:
/// the shortest step between two readings of the system clock, and no
/// finer than a microsecond, the resolution of the stack's monotonic clock
/// that carries the wall clock forward between readings.
pub fn host_clock_source() -> ClockSource {
    static SOURCE: OnceLock<ClockSource> = OnceLock::new();
    *SOURCE.get_or_init(|| ClockSource {
        precision: precision_from_nanos(clock_step_nanos().max(1_000)),
        ..ClockSource::LOCAL
    })
}

/// The shortest non-zero step seen between consecutive readings of the
/// system clock: its resolution, or the cost of reading it.
fn clock_step_nanos() -> u64 {
    let mut shortest = u64::MAX;
    let mut previous = SystemTime::now();
    for _ in 0..2_000 {
        let now = SystemTime::now();
        if let Ok(step) = now.duration_since(previous) {
            let nanos = step.as_nanos() as u64;
            if nanos > 0 {
                shortest = shortest.min(nanos);
            }
        }
        previous = now;
    }
    shortest
}

/// 8 bytes of the kernel's randomness (the time, should that fail).
pub fn entropy_seed() -> u64 {
    let mut seed = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut seed)) {
        Ok(()) => u64::from_ne_bytes(seed),
        Err(_) => system_time()
            .and_then(unix_nanos)
            .map_or(0x5eed, |nanos| nanos as u64),
    }
}

/// The local time of day as (hour, minute), in the machine's time zone;
/// `None` when the C library cannot tell.
pub fn local_hour_minute() -> Option<(u8, u8)> {
    // SAFETY: time(NULL) only returns the time. localtime_r reads `now` and
    // writes `tm`, both locals that live through the call, and is thread
    // safe (unlike localtime); an all-zero tm is a valid value to overwrite.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return None;
        }
        Some((tm.tm_hour as u8, tm.tm_min as u8))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_clock_is_a_local_source_with_a_measured_precision() {
        let source = host_clock_source();
        assert_eq!((source.stratum, source.reference_id), (10, *b"LOCL"));
        // A microsecond or coarser, and not coarser than a (VM's) tick.
        assert!((-19..=-5).contains(&source.precision), "{source:?}");
        assert!(source.is_synchronized());
    }

    #[test]
    fn the_system_time_is_after_this_code_was_written() {
        let now = system_time().expect("the clock reads after 1970");
        // 2026-01-01.
        assert!(now.secs > 1_767_225_600, "{now:?}");
        assert!(now.subsec_nanos() < 1_000_000_000);
    }

    #[test]
    fn the_local_time_of_day_is_a_time_of_day() {
        let (hour, minute) = local_hour_minute().expect("localtime_r");
        assert!(hour < 24 && minute < 60, "{hour}:{minute}");
    }
}
