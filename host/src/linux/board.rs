//! The host as the core's [`Board`]: what `udpkit serve` hands the stack.
//!
//! The board is generic over its device so that the TAP can be wrapped by
//! serve's fault injector and capture without the port knowing of them.

use udpkit::smoltcp::phy::Device;
use udpkit::smoltcp::time::Instant;
use udpkit::{Board, ClockSource, UnixTime};

use crate::linux::clock;
use crate::linux::tap::TapDevice;

/// The host as a [`Board`]: a TAP (bare, or behind the fault injector and
/// the capture of `serve --drop/--pcap`), `CLOCK_MONOTONIC` and the system
/// clock.
pub struct HostBoard<D = TapDevice> {
    pub device: D,
    started: std::time::Instant,
    /// Whether the system clock is the wall clock; without it the board has
    /// none, as a board without an RTC (`serve --sntp-server`).
    pub system_clock: bool,
}

impl<D: Device> HostBoard<D> {
    pub fn new(device: D) -> HostBoard<D> {
        HostBoard {
            device,
            started: std::time::Instant::now(),
            system_clock: true,
        }
    }
}

impl<D: Device> Board for HostBoard<D> {
    type Device = D;

    fn device(&mut self) -> &mut D {
        &mut self.device
    }

    fn now(&mut self) -> Instant {
        Instant::from_micros(self.started.elapsed().as_micros() as i64)
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        if !self.system_clock {
            return None;
        }
        clock::system_time()
    }

    fn clock_source(&mut self) -> ClockSource {
        clock::host_clock_source()
    }

    fn entropy_seed(&mut self) -> u64 {
        clock::entropy_seed()
    }
}
