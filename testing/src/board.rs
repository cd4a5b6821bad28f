//! A board on a [`MemoryDevice`] whose clocks the caller sets.

use udpkit::clock::{from_unix_nanos, unix_nanos};
use udpkit::smoltcp::time::Instant;
use udpkit::{Board, ClockSource, UnixTime};

use crate::device::MemoryDevice;

/// A [`Board`] whose monotonic clock moves only when the caller moves it,
/// and whose wall clock is absent, stands still, or runs on with the
/// monotonic clock: a test sets the time an answer must tell, a benchmark
/// sets `now` from its own clock before each poll.
pub struct MemoryBoard<S> {
    /// The device.
    pub device: MemoryDevice<S>,
    /// The monotonic clock.
    pub now: Instant,
    /// The wall clock, `None` for a board without one. It stands still
    /// where it is set unless `wall_running_since` is given.
    pub wall: Option<UnixTime>,
    /// When set, `wall` is the wall clock's reading at this instant, and it
    /// runs on with the monotonic clock from there.
    pub wall_running_since: Option<Instant>,
    /// What the board says of its wall clock.
    pub source: ClockSource,
    /// smoltcp's random seed.
    pub seed: u64,
}

impl<S> MemoryBoard<S> {
    /// A board on `device` at `now`, without a wall clock, its source a
    /// local clock (the trait's default).
    pub fn new(device: MemoryDevice<S>, now: Instant) -> MemoryBoard<S> {
        MemoryBoard {
            device,
            now,
            wall: None,
            wall_running_since: None,
            source: ClockSource::LOCAL,
            seed: 0x5eed,
        }
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> Board for MemoryBoard<S> {
    type Device = MemoryDevice<S>;

    fn device(&mut self) -> &mut MemoryDevice<S> {
        &mut self.device
    }

    fn now(&mut self) -> Instant {
        self.now
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        let wall = self.wall?;
        match self.wall_running_since {
            Some(since) => {
                let elapsed = self.now.total_micros() - since.total_micros();
                from_unix_nanos(unix_nanos(wall)?.checked_add(elapsed.checked_mul(1000)?)?)
            }
            None => Some(wall),
        }
    }

    fn clock_source(&mut self) -> ClockSource {
        self.source
    }

    fn entropy_seed(&mut self) -> u64 {
        self.seed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udpkit::smoltcp::time::Duration;

    fn board() -> MemoryBoard<[u8; 64]> {
        let device = MemoryDevice::new([0; 64], [0; 64]);
        MemoryBoard::new(device, Instant::from_secs(1000))
    }

    #[test]
    fn a_new_board_has_no_wall_clock_and_a_local_source() {
        let mut board = board();
        assert_eq!(board.now(), Instant::from_secs(1000));
        assert_eq!(board.wall_clock(), None);
        assert_eq!(board.clock_source(), ClockSource::LOCAL);
    }

    #[test]
    fn a_wall_clock_stands_still_unless_it_runs_since_an_instant() {
        let mut board = board();
        board.wall = Some(UnixTime::new(1_795_446_245, 750_000_000));
        board.now += Duration::from_secs(5);
        assert_eq!(
            board.wall_clock(),
            Some(UnixTime::new(1_795_446_245, 750_000_000))
        );
        board.wall_running_since = Some(Instant::from_secs(1000));
        board.now += Duration::from_millis(500);
        // 5.5 s after the instant it ran from.
        assert_eq!(
            board.wall_clock(),
            Some(UnixTime::new(1_795_446_251, 250_000_000))
        );
    }
}
