//! An in-memory smoltcp device: two rings of frames.
//!
//! A [`FrameRing`] is a queue of whole Ethernet frames, each stored in one
//! piece after its length, in a byte buffer the caller owns or lends
//! (`[u8; N]`, `&mut [u8]`, `Vec<u8>`): nothing is allocated per frame, so a
//! benchmark measures the stack and not the allocator, and a `no_std`
//! binary without an allocator can use it. Frames take the room they need,
//! so a ring holds a thousand short frames or a 64 KiB one alike.
//!
//! The stack receives from [`MemoryDevice::rx`] in place (the token lends
//! the frame's bytes) and transmits into room reserved on
//! [`MemoryDevice::tx`], so a frame is copied only by whoever puts it in or
//! takes it out.

use core::fmt;

use udpkit::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;

/// The largest frame the device sends (its MTU): a 1500-byte IP packet and
/// its 14-byte Ethernet header, as on a TAP or an Ethernet controller. A
/// test may put longer frames on `rx`, as a faulty link would deliver them.
pub const MAX_FRAME: usize = 1514;

/// The bytes before each frame in a ring: its length, in native order.
const HEADER: usize = core::mem::size_of::<usize>();

/// Why a frame did not go into a [`FrameRing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// Not enough room until frames are taken off.
    Full,
    /// A frame of this many bytes does not fit even in the empty ring.
    TooLong(usize),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full => write!(f, "the ring of frames is full"),
            RingError::TooLong(len) => {
                write!(f, "a frame of {len} bytes is longer than the ring")
            }
        }
    }
}

/// A first-in first-out queue of frames in the byte buffer `S`.
///
/// The frames lie in at most two runs, each frame in one piece: from
/// `head` to `end`, then, once the buffer's end was reached, from 0 to
/// `wrapped_end` (a bip buffer).
pub struct FrameRing<S> {
    buffer: S,
    /// Where the oldest frame's header starts.
    head: usize,
    /// The end of the run that starts at `head`.
    end: usize,
    /// The end of the second run, from 0, when there is one.
    wrapped_end: Option<usize>,
    /// How many frames the ring holds.
    len: usize,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> FrameRing<S> {
    /// An empty ring in `buffer`; each frame takes its length and 8 bytes
    /// (4 on a 32-bit target).
    pub fn new(buffer: S) -> FrameRing<S> {
        FrameRing {
            buffer,
            head: 0,
            end: 0,
            wrapped_end: None,
            len: 0,
        }
    }

    /// The size of its buffer in bytes.
    pub fn capacity(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// How many frames it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a frame of `len` bytes and returns its bytes to be written
    /// in place (their old content is whatever the buffer held).
    pub fn enqueue(&mut self, len: usize) -> Result<&mut [u8], RingError> {
        let buffer = self.buffer.as_mut();
        let need = len.saturating_add(HEADER);
        if need > buffer.len() {
            return Err(RingError::TooLong(len));
        }
        let at = match self.wrapped_end {
            None if buffer.len() - self.end >= need => {
                self.end += need;
                self.end - need
            }
            // No room before the buffer's end: start the second run.
            None if self.head >= need => {
                self.wrapped_end = Some(need);
                0
            }
            Some(wrapped_end) if self.head - wrapped_end >= need => {
                self.wrapped_end = Some(wrapped_end + need);
                wrapped_end
            }
            _ => return Err(RingError::Full),
        };
        let (length, bytes) = buffer
            .get_mut(at..)
            .and_then(<[u8]>::split_first_chunk_mut::<HEADER>)
            .ok_or(RingError::Full)?;
        *length = len.to_ne_bytes();
        self.len += 1;
        bytes.get_mut(..len).ok_or(RingError::Full)
    }

    /// Appends a copy of `frame`.
    pub fn push(&mut self, frame: &[u8]) -> Result<(), RingError> {
        self.enqueue(frame.len())?.copy_from_slice(frame);
        Ok(())
    }

    /// Takes the oldest frame off; its bytes stay valid until the ring is
    /// used again.
    pub fn pop(&mut self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let (len, bytes) = frame_at(self.buffer.as_ref(), self.head)?;
        self.len -= 1;
        self.head += HEADER + len;
        if self.head >= self.end {
            // The first run is done: the second, if any, takes its place.
            self.head = 0;
            self.end = self.wrapped_end.take().unwrap_or(0);
        }
        bytes.get(..len)
    }

    /// The frames it holds, oldest first, left in place.
    pub fn iter(&self) -> Frames<'_> {
        Frames {
            buffer: self.buffer.as_ref(),
            at: self.head,
            end: self.end,
            wrapped_end: self.wrapped_end,
        }
    }

    /// Forgets every frame it holds.
    pub fn clear(&mut self) {
        self.head = 0;
        self.end = 0;
        self.wrapped_end = None;
        self.len = 0;
    }
}

/// The length of the frame whose header is at `at`, and the buffer from
/// its first byte on.
fn frame_at(buffer: &[u8], at: usize) -> Option<(usize, &[u8])> {
    let (length, bytes) = buffer.get(at..)?.split_first_chunk::<HEADER>()?;
    Some((usize::from_ne_bytes(*length), bytes))
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> fmt::Debug for FrameRing<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "FrameRing({} frames in {} bytes)",
            self.len,
            self.capacity()
        )
    }
}

/// The frames of a [`FrameRing`], oldest first; see [`FrameRing::iter`].
pub struct Frames<'a> {
    buffer: &'a [u8],
    at: usize,
    end: usize,
    wrapped_end: Option<usize>,
}

impl<'a> Iterator for Frames<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.end {
            self.end = self.wrapped_end.take()?;
            self.at = 0;
        }
        let (len, bytes) = frame_at(self.buffer, self.at)?;
        self.at += HEADER + len;
        bytes.get(..len)
    }
}

/// A smoltcp Ethernet device whose wire is two rings: frames to the stack
/// wait in `rx`, frames from it collect in `tx`.
///
/// A frame the stack sends while `tx` is full is lost and counted in
/// `tx_dropped`, as a NIC whose transmit queue is full drops it: a test
/// that reads `tx` asserts that count is 0, so that a ring too small shows
/// as such and not as a silent stack.
pub struct MemoryDevice<S> {
    /// Frames to the stack, oldest first.
    pub rx: FrameRing<S>,
    /// Frames from the stack, oldest first.
    pub tx: FrameRing<S>,
    /// Frames the stack sent while `tx` was full.
    pub tx_dropped: u64,
    /// Where such a frame is written, and lost.
    spill: [u8; MAX_FRAME],
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> MemoryDevice<S> {
    /// A device with empty rings in the buffers `rx` and `tx`.
    pub fn new(rx: S, tx: S) -> MemoryDevice<S> {
        MemoryDevice {
            rx: FrameRing::new(rx),
            tx: FrameRing::new(tx),
            tx_dropped: 0,
            spill: [0; MAX_FRAME],
        }
    }
}

/// A received frame, lent from `rx`.
pub struct RxToken<'a>(&'a [u8]);

/// Room on `tx` for one frame.
pub struct TxToken<'a, S> {
    ring: &'a mut FrameRing<S>,
    spill: &'a mut [u8; MAX_FRAME],
    dropped: &'a mut u64,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> phy::TxToken for TxToken<'_, S> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        match self.ring.enqueue(len) {
            Ok(frame) => f(frame),
            Err(_) => {
                *self.dropped += 1;
                // smoltcp asks for at most the MTU, MAX_FRAME.
                f(&mut self.spill[..len.min(MAX_FRAME)])
            }
        }
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> Device for MemoryDevice<S> {
    type RxToken<'a>
        = RxToken<'a>
    where
        S: 'a;
    type TxToken<'a>
        = TxToken<'a, S>
    where
        S: 'a;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_, S>)> {
        let MemoryDevice {
            rx,
            tx,
            tx_dropped,
            spill,
        } = self;
        let frame = rx.pop()?;
        let tx = TxToken {
            ring: tx,
            spill,
            dropped: tx_dropped,
        };
        Some((RxToken(frame), tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_, S>> {
        Some(TxToken {
            ring: &mut self.tx,
            spill: &mut self.spill,
            dropped: &mut self.tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phy::{RxToken as _, TxToken as _};
    use std::vec::Vec;

    fn frames<S: AsRef<[u8]> + AsMut<[u8]>>(ring: &FrameRing<S>) -> Vec<Vec<u8>> {
        ring.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn a_ring_gives_its_frames_back_in_order_across_the_wrap() {
        // Room for three frames of 4 bytes and their lengths.
        const ROOM: usize = 3 * (4 + HEADER);
        let mut ring = FrameRing::new([0u8; ROOM]);
        assert_eq!((ring.len(), ring.capacity()), (0, ROOM));
        ring.push(b"one.").unwrap();
        ring.push(b"two.").unwrap();
        assert_eq!(ring.pop(), Some(&b"one."[..]));
        ring.push(b"tri.").unwrap();
        // No room at the end, but before the oldest frame.
        ring.push(b"for.").unwrap();
        assert_eq!(ring.push(b"five"), Err(RingError::Full));
        assert_eq!(frames(&ring), [&b"two."[..], b"tri.", b"for."]);
        assert_eq!(ring.pop(), Some(&b"two."[..]));
        // Room for one frame after "for.", none after "tri.": the second
        // run may not grow into the first.
        ring.push(b"fiv.").unwrap();
        assert_eq!(ring.push(b"six."), Err(RingError::Full));
        assert_eq!(frames(&ring), [&b"tri."[..], b"for.", b"fiv."]);
        assert_eq!(ring.pop(), Some(&b"tri."[..]));
        assert_eq!(ring.pop(), Some(&b"for."[..]));
        assert_eq!(ring.pop(), Some(&b"fiv."[..]));
        assert_eq!(ring.pop(), None);
        assert!(ring.is_empty());
        // Empty, it has all its room again.
        ring.push(&[7; ROOM - HEADER]).unwrap();
        assert_eq!(ring.pop(), Some(&[7; ROOM - HEADER][..]));
    }

    #[test]
    fn a_ring_holds_frames_of_any_length_it_has_room_for() {
        let mut ring = FrameRing::new(std::vec![0u8; 70_000]);
        let jumbo = std::vec![0xa5; 65_541];
        ring.push(&jumbo).unwrap();
        ring.push(b"").unwrap();
        assert_eq!(
            ring.push(&[0; 70_000 - HEADER + 1]),
            Err(RingError::TooLong(70_000 - HEADER + 1))
        );
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.pop(), Some(&jumbo[..]));
        assert_eq!(ring.pop(), Some(&b""[..]));
    }

    #[test]
    fn many_frames_of_changing_lengths_come_back_in_order() {
        let mut ring = FrameRing::new([0u8; 1000]);
        let mut queued = std::collections::VecDeque::new();
        let mut seed = 1u32;
        for n in 0..10_000u32 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let frame: Vec<u8> = (0..seed % 300).map(|i| (i + n) as u8).collect();
            if seed % 3 == 0 || ring.push(&frame).is_err() {
                let popped = ring.pop().map(<[u8]>::to_vec);
                assert_eq!(popped, queued.pop_front());
            } else {
                queued.push_back(frame);
            }
            assert_eq!(ring.len(), queued.len());
            assert!(ring.iter().eq(queued.iter().map(Vec::as_slice)));
        }
    }

    #[test]
    fn clear_empties_a_ring() {
        let mut buffer = [0u8; 2 * (1 + HEADER)];
        let mut ring = FrameRing::new(&mut buffer[..]);
        ring.push(b"a").unwrap();
        ring.push(b"b").unwrap();
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(frames(&ring), Vec::<Vec<u8>>::new());
        ring.push(b"c").unwrap();
        assert_eq!(frames(&ring), [b"c"]);
    }

    #[test]
    fn the_device_lends_received_frames_and_queues_sent_ones() {
        let mut device = MemoryDevice::new([0u8; 64], [0u8; 64]);
        assert!(device.receive(Instant::ZERO).is_none());
        device.rx.push(b"in").unwrap();
        let (rx, tx) = device.receive(Instant::ZERO).unwrap();
        assert_eq!(rx.consume(|frame| frame.to_vec()), b"in");
        tx.consume(3, |frame| frame.copy_from_slice(b"out"));
        assert_eq!(frames(&device.tx), [b"out"]);
        assert_eq!(device.tx_dropped, 0);
        assert_eq!(device.capabilities().max_transmission_unit, MAX_FRAME);
    }

    #[test]
    fn a_frame_sent_to_a_full_ring_is_dropped_and_counted() {
        let mut device = MemoryDevice::new([0u8; 4 + HEADER], [0u8; 4 + HEADER]);
        for payload in [&b"kept"[..], b"lost"] {
            let tx = device.transmit(Instant::ZERO).unwrap();
            tx.consume(4, |frame| frame.copy_from_slice(payload));
        }
        assert_eq!(frames(&device.tx), [b"kept"]);
        assert_eq!(device.tx_dropped, 1);
    }
}
