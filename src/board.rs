//! The portable trait: everything the core needs from a board.

use smoltcp::phy::Device;
use smoltcp::time::Instant;

use crate::clock::UnixTime;
use crate::ntp::ClockSource;

/// What a port provides: a network device, clocks and a bit of entropy.
///
/// The host implements it over a Linux TAP and the system clocks; a
/// microcontroller port over its Ethernet controller, a timer and (when it
/// has one) an RTC or a time synced from the network. Nothing else in the
/// core is board-specific.
pub trait Board {
    /// The Ethernet device frames come from and go to.
    type Device: Device;

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
