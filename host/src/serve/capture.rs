//! `serve --pcap FILE`: every frame the stack receives and sends, in the
//! libpcap format tcpdump and Wireshark read, written by smoltcp's
//! [`PcapWriter`] into a [`Capture`].
//!
//! The capture sits between the stack and the fault injector
//! ([`crate::serve::faults`]): it shows the frames as the stack saw them, incoming
//! ones after `--drop`/`--corrupt`/`--delay`, outgoing ones before. (A
//! `tcpdump -i tap0` on the Linux side shows the other end of the faults.)

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context as _, Result};
use udpkit::smoltcp::phy::{Device, PcapSink, PcapWriter};
use udpkit::smoltcp::time::Instant;

use crate::linux::clock::system_time;
use crate::serve::link::Link;

/// Where captured frames go: a file, or nowhere. Clones share the file, so
/// the serve loop keeps one to flush while smoltcp's [`PcapWriter`] writes
/// through another.
#[derive(Clone)]
pub struct Capture(Rc<RefCell<CaptureFile>>);

struct CaptureFile {
    path: PathBuf,
    /// `None` without a file, and after a write failed.
    out: Option<BufWriter<File>>,
    frames: u64,
    /// Why the capture stopped early, if it did.
    failed: Option<String>,
}

impl Capture {
    /// A capture into `path`, created or truncated.
    pub fn create(path: &Path) -> Result<Capture> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the capture file {}", path.display()))?;
        Ok(Capture(Rc::new(RefCell::new(CaptureFile {
            path: path.to_owned(),
            out: Some(BufWriter::with_capacity(1 << 16, file)),
            frames: 0,
            failed: None,
        }))))
    }

    /// A capture that writes nothing (faults without `--pcap`).
    pub fn none() -> Capture {
        Capture(Rc::new(RefCell::new(CaptureFile {
            path: PathBuf::new(),
            out: None,
            frames: 0,
            failed: None,
        })))
    }

    pub fn path(&self) -> PathBuf {
        self.0.borrow().path.clone()
    }

    /// Writes out what is buffered, so that the file is whole whenever the
    /// server sleeps (and `tcpdump -r` can read it while udpkit runs).
    pub fn flush(&self) {
        let mut file = self.0.borrow_mut();
        let result = match file.out.as_mut() {
            Some(out) => out.flush(),
            None => return,
        };
        if let Err(e) = result {
            file.fail(e);
        }
    }

    /// Frames captured so far.
    #[cfg(test)]
    pub fn frames(&self) -> u64 {
        self.0.borrow().frames
    }

    pub fn print_counters(&self) {
        self.flush();
        let file = self.0.borrow();
        if file.path.as_os_str().is_empty() {
            return;
        }
        let stopped = match &file.failed {
            Some(why) => format!(" (stopped early: {why})"),
            None => String::new(),
        };
        eprintln!(
            "capture: {} frames to {}{stopped}",
            file.frames,
            file.path.display()
        );
    }
}

impl CaptureFile {
    fn write(&mut self, data: &[u8]) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.write_all(data) {
                self.fail(e);
            }
        }
    }

    /// Stops capturing after an error (a full disk must not stop the
    /// services, nor smoltcp's own sink, which panics on one).
    fn fail(&mut self, error: std::io::Error) {
        log::warn!(
            "capture to {} stopped after {} frames: {error}",
            self.path.display(),
            self.frames
        );
        self.failed = Some(error.to_string());
        self.out = None;
    }
}

impl PcapSink for Capture {
    fn write(&mut self, data: &[u8]) {
        self.0.borrow_mut().write(data);
    }

    /// A frame, stamped with the wall clock (smoltcp's timestamps count from
    /// udpkit's start).
    fn packet(&mut self, _: Instant, packet: &[u8]) {
        let mut file = self.0.borrow_mut();
        if file.out.is_none() {
            return;
        }
        let (secs, micros) = system_time().map_or((0, 0), |t| (t.secs, t.subsec_nanos() / 1000));
        let length = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let captured = length.min(self.max_packet_size());
        let mut header = [0u8; 16];
        let fields = [secs as u32, micros, captured, length];
        for (chunk, field) in header.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_ne_bytes());
        }
        file.write(&header);
        file.write(packet.get(..captured as usize).unwrap_or(packet));
        if file.out.is_some() {
            file.frames += 1;
        }
    }
}

impl<D: Link> Link for PcapWriter<D, Capture> {
    fn fd(&self) -> RawFd {
        self.get_ref().fd()
    }

    fn next_due(&self) -> Option<Instant> {
        self.get_ref().next_due()
    }

    fn toggle_faults(&mut self) -> Option<bool> {
        self.get_mut().toggle_faults()
    }

    fn print_counters(&self) {
        self.get_ref().print_counters();
    }
}

/// `device` with every frame it passes captured into `capture`.
pub fn capture<D: Device>(device: D, capture: Capture) -> PcapWriter<D, Capture> {
    PcapWriter::new(device, capture, udpkit::smoltcp::phy::PcapMode::Both)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::faults::queues::Queues;
    use udpkit::smoltcp::phy::{RxToken as _, TxToken as _};

    #[test]
    fn frames_both_ways_are_written_as_pcap() {
        let dir = std::env::temp_dir().join(format!("udpkit-capture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("frames.pcap");
        let sink = Capture::create(&path).unwrap();
        let mut device = capture(Queues::default(), sink.clone());
        let frame: Vec<u8> = (0..60).collect();
        let token = device.transmit(Instant::ZERO).unwrap();
        token.consume(frame.len(), |buffer| buffer.copy_from_slice(&frame));
        device.get_mut().incoming.push_back(frame.clone());
        let (rx, _tx) = device.receive(Instant::ZERO).unwrap();
        rx.consume(|bytes| assert_eq!(bytes, &frame[..]));
        sink.flush();
        assert_eq!(sink.frames(), 2);

        let bytes = std::fs::read(&path).unwrap();
        let word = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
        assert_eq!(word(0), 0xa1b2_c3d4, "libpcap magic");
        assert_eq!(word(20), 1, "link type Ethernet");
        assert_eq!(bytes.len(), 24 + 2 * (16 + 60));
        for record in [24, 24 + 16 + 60] {
            assert_eq!((word(record + 8), word(record + 12)), (60, 60));
            assert!(word(record) > 1_700_000_000, "wall-clock seconds");
            assert_eq!(&bytes[record + 16..record + 16 + 60], &frame[..]);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
