//! An in-memory smoltcp device: two rings of frames.
//!
//! A [`FrameRing`] is a queue of whole Ethernet frames in fixed slots of
//! [`MAX_FRAME`] bytes, on storage the caller owns or lends (`[Frame; N]`,
//! `&mut [Frame]`, `Vec<Frame>`): nothing is allocated per frame, so a
//! benchmark measures the stack and not the allocator, and a `no_std`
//! binary without an allocator can use it.
//!
//! The stack receives from [`MemoryDevice::rx`] in place (the token lends
//! the slot) and transmits into a slot of [`MemoryDevice::tx`] reserved
//! for it, so a frame is copied only by whoever puts it in or takes it out.

use core::fmt;

use udpkit::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;

/// The largest frame the device carries: a 1500-byte IP packet and its
/// 14-byte Ethernet header, as on a TAP or an Ethernet controller.
pub const MAX_FRAME: usize = 1514;

/// One slot of a [`FrameRing`]: a frame of up to [`MAX_FRAME`] bytes.
#[derive(Clone, Copy)]
pub struct Frame {
    /// At most [`MAX_FRAME`].
    len: usize,
    bytes: [u8; MAX_FRAME],
}

impl Frame {
    /// An empty slot, to fill a ring's storage with.
    pub const EMPTY: Frame = Frame {
        len: 0,
        bytes: [0; MAX_FRAME],
    };

    /// The frame's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({} bytes)", self.len)
    }
}

/// Why a frame did not go into a [`FrameRing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// Every slot holds a frame.
    Full,
    /// The frame (of this many bytes) is longer than [`MAX_FRAME`].
    TooLong(usize),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Full => write!(f, "the ring of frames is full"),
            RingError::TooLong(len) => {
                write!(f, "a frame of {len} bytes is longer than {MAX_FRAME}")
            }
        }
    }
}

/// A first-in first-out queue of frames in the fixed slots of `S`.
pub struct FrameRing<S> {
    slots: S,
    /// The slot of the oldest frame.
    head: usize,
    /// How many frames the ring holds, from `head` on (wrapping).
    len: usize,
}

impl<S: AsRef<[Frame]> + AsMut<[Frame]>> FrameRing<S> {
    /// An empty ring with a slot for each element of `slots`.
    pub fn new(slots: S) -> FrameRing<S> {
        FrameRing {
            slots,
            head: 0,
            len: 0,
        }
    }

    /// How many frames it can hold.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// How many frames it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every slot holds a frame.
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity()
    }

    /// Appends a frame of `len` bytes and returns its bytes to be written
    /// in place (their old content is whatever the slot held).
    pub fn enqueue(&mut self, len: usize) -> Result<&mut [u8], RingError> {
        if len > MAX_FRAME {
            return Err(RingError::TooLong(len));
        }
        let slots = self.slots.as_mut();
        if self.len >= slots.len() {
            return Err(RingError::Full);
        }
        let tail = wrap(self.head + self.len, slots.len());
        let slot = slots.get_mut(tail).ok_or(RingError::Full)?;
        self.len += 1;
        slot.len = len;
        slot.bytes.get_mut(..len).ok_or(RingError::TooLong(len))
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
        let slots = self.slots.as_ref();
        let head = self.head;
        self.head = wrap(head + 1, slots.len());
        self.len -= 1;
        slots.get(head).map(Frame::as_bytes)
    }

    /// The frames it holds, oldest first, left in place.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let slots = self.slots.as_ref();
        let (before, from_head) = slots.split_at(self.head.min(slots.len()));
        from_head
            .iter()
            .chain(before)
            .take(self.len)
            .map(Frame::as_bytes)
    }

    /// Forgets every frame it holds.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

impl<S: AsRef<[Frame]> + AsMut<[Frame]>> fmt::Debug for FrameRing<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameRing({} of {})", self.len, self.capacity())
    }
}

/// `i` (below twice `capacity`) as a slot index: cheaper than `%`.
fn wrap(i: usize, capacity: usize) -> usize {
    if i >= capacity {
        i - capacity
    } else {
        i
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
    spill: Frame,
}

impl<S: AsRef<[Frame]> + AsMut<[Frame]>> MemoryDevice<S> {
    /// A device with empty rings on the slots `rx` and `tx`.
    pub fn new(rx: S, tx: S) -> MemoryDevice<S> {
        MemoryDevice {
            rx: FrameRing::new(rx),
            tx: FrameRing::new(tx),
            tx_dropped: 0,
            spill: Frame::EMPTY,
        }
    }
}

/// A received frame, lent from its slot in `rx`.
pub struct RxToken<'a>(&'a [u8]);

/// A slot of `tx` for one frame.
pub struct TxToken<'a, S> {
    ring: &'a mut FrameRing<S>,
    spill: &'a mut Frame,
    dropped: &'a mut u64,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl<S: AsRef<[Frame]> + AsMut<[Frame]>> phy::TxToken for TxToken<'_, S> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        match self.ring.enqueue(len) {
            Ok(frame) => f(frame),
            Err(_) => {
                *self.dropped += 1;
                // smoltcp asks for at most the MTU, MAX_FRAME.
                f(&mut self.spill.bytes[..len.min(MAX_FRAME)])
            }
        }
    }
}

impl<S: AsRef<[Frame]> + AsMut<[Frame]>> Device for MemoryDevice<S> {
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

    fn frames<S: AsRef<[Frame]> + AsMut<[Frame]>>(ring: &FrameRing<S>) -> Vec<Vec<u8>> {
        ring.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn a_ring_gives_its_frames_back_in_order_across_the_wrap() {
        let mut ring = FrameRing::new([Frame::EMPTY; 3]);
        assert_eq!((ring.len(), ring.capacity()), (0, 3));
        ring.push(b"one").unwrap();
        ring.push(b"two").unwrap();
        assert_eq!(ring.pop(), Some(&b"one"[..]));
        ring.push(b"three").unwrap();
        ring.push(b"four").unwrap();
        assert!(ring.is_full());
        assert_eq!(ring.push(b"five"), Err(RingError::Full));
        assert_eq!(frames(&ring), [&b"two"[..], b"three", b"four"]);
        assert_eq!(ring.pop(), Some(&b"two"[..]));
        assert_eq!(ring.pop(), Some(&b"three"[..]));
        assert_eq!(ring.pop(), Some(&b"four"[..]));
        assert_eq!(ring.pop(), None);
        assert!(ring.is_empty());
    }

    #[test]
    fn a_ring_takes_a_full_size_frame_and_refuses_a_longer_one() {
        let mut ring = FrameRing::new(std::vec![Frame::EMPTY; 2]);
        let full = [0xa5; MAX_FRAME];
        ring.push(&full).unwrap();
        assert_eq!(
            ring.push(&[0; MAX_FRAME + 1]),
            Err(RingError::TooLong(MAX_FRAME + 1))
        );
        assert_eq!(ring.len(), 1);
        assert_eq!(ring.pop(), Some(&full[..]));
        ring.push(b"").unwrap();
        assert_eq!(ring.pop(), Some(&b""[..]));
    }

    #[test]
    fn clear_empties_a_ring() {
        let mut slots = [Frame::EMPTY; 2];
        let mut ring = FrameRing::new(&mut slots[..]);
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
        let mut device = MemoryDevice::new([Frame::EMPTY; 2], [Frame::EMPTY; 2]);
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
        let mut device = MemoryDevice::new([Frame::EMPTY; 1], [Frame::EMPTY; 1]);
        for payload in [&b"kept"[..], b"lost"] {
            let tx = device.transmit(Instant::ZERO).unwrap();
            tx.consume(4, |frame| frame.copy_from_slice(payload));
        }
        assert_eq!(frames(&device.tx), [b"kept"]);
        assert_eq!(device.tx_dropped, 1);
    }
}
