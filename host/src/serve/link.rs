//! The device as the serve loop sees it: smoltcp's [`Device`] plus what
//! the loop sleeps on and reports.
//!
//! The TAP of the Linux port and serve's own layers over it (faults,
//! capture) all implement it, so the loop is written once for the bare TAP
//! and for any stack of layers; the port itself knows nothing of them.

use std::os::fd::{AsRawFd as _, RawFd};

use udpkit::smoltcp::phy::Device;
use udpkit::smoltcp::time::Instant;

use crate::linux::tap::TapDevice;

/// What the serve loop needs of its device beyond smoltcp's [`Device`]: the
/// TAP, bare or behind the layers of `serve --drop/--pcap` ([`crate::serve::faults`],
/// [`crate::serve::capture`]).
pub trait Link: Device {
    /// The TAP's file descriptor, to sleep on.
    fn fd(&self) -> RawFd;

    /// When the link itself has frames due (delayed ones), besides the
    /// stack's own timers.
    fn next_due(&self) -> Option<Instant> {
        None
    }

    /// Pauses or resumes the faults: `Some(true)` when they are on now,
    /// `None` when there are none.
    fn toggle_faults(&mut self) -> Option<bool> {
        None
    }

    /// Prints the frame counters, to stderr.
    fn print_counters(&self);
}

impl Link for TapDevice {
    fn fd(&self) -> RawFd {
        self.as_raw_fd()
    }

    fn print_counters(&self) {
        let c = self.counts();
        eprintln!(
            "{}: {} frames read, {} written, {} write errors",
            self.name(),
            c.read,
            c.written,
            c.write_errors
        );
    }
}
