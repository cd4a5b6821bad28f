//! The virtio-net device on the virt board's MMIO bus, as a smoltcp
//! [`Device`]: rcore-os's `virtio-drivers` (its `VirtIONetRaw`, the
//! variant without `alloc`) does the virtio protocol (feature
//! negotiation, the virtqueues, the MMIO transport, legacy and modern);
//! this file gives it memory and buffers, all static:
//!
//! - **DMA pages** ([`StaticHal`]): the crate asks its `Hal` for whole 4 KiB
//!   pages for each virtqueue's rings, two per queue, receive and transmit:
//!   16 KiB in all, taken once at start-up from a static pool of exactly
//!   that size ([`DMA_PAGES`]) and never given back (the device lives for
//!   good). A request beyond the pool gets the crate's `DmaError`, never
//!   memory that is in use. No heap: the pool is the one allocator, and
//!   it is bounded at compile time.
//! - **Frame buffers**, in a static too: [`RX_BUFFERS`] receive buffers the device fills
//!   (each posted to the receive queue, taken back when used, posted
//!   again once smoltcp has read it) and [`TX_BUFFERS`] transmit buffers
//!   (one frame in flight each). Identity-mapped: this board has no IOMMU
//!   and the CPU's view of RAM is the device's, so sharing a buffer is
//!   handing over its address.
//!
//! The device raises its interrupt (through the PLIC) for every used
//! buffer; the board acknowledges it ([`VirtioNet::acknowledge`]) and the
//! loop polls. Nothing is shared with an interrupt handler: there is none.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use static_cell::ConstStaticCell;

use udpkit::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

/// The virt board's eight virtio-mmio slots: 4 KiB apart from 0x10001000,
/// slot `i` on PLIC interrupt `1 + i`. QEMU puts `-device
/// virtio-net-device` in one of them (the last free one first), so the
/// driver looks for it.
pub const VIRTIO_MMIO_BASE: usize = 0x1000_1000;
pub const VIRTIO_MMIO_SLOTS: usize = 8;
pub const VIRTIO_MMIO_SIZE: usize = 0x1000;
const VIRTIO_FIRST_IRQ: u32 = 1;

/// Descriptors per virtqueue: enough for every buffer we post (one each).
const QUEUE_SIZE: usize = 4;
/// Receive buffers posted to the device: one being read by smoltcp while
/// the device fills the other.
pub const RX_BUFFERS: usize = 2;
/// Transmit buffers: a reply can go out while the previous frame is still
/// with the device.
pub const TX_BUFFERS: usize = 2;
/// A buffer: the virtio-net header (10 bytes legacy, 12 modern) and a
/// whole Ethernet frame without FCS (1514). The crate wants at least this
/// for receive buffers (its `MIN_BUFFER_LEN`).
const BUFFER_LEN: usize = 12 + 1514;
/// The largest frame smoltcp may send (no FCS: the device adds none, the
/// TAP wants none).
const MTU: usize = 1514;

/// The DMA pool: the two virtqueues' rings, two pages each (the crate's
/// layout: descriptors and available ring, then the used ring, each
/// page-aligned; the legacy layout needs the same two pages).
const DMA_PAGE_COUNT: usize = 4;

#[repr(C, align(4096))]
struct DmaPages(UnsafeCell<[[u8; PAGE_SIZE]; DMA_PAGE_COUNT]>);

// SAFETY: the pages are handed out by `StaticHal::dma_alloc` only, each
// page once (the bump index below), and only ever accessed through the
// pointer given then.
unsafe impl Sync for DmaPages {}

/// All zeros (.bss): the crate expects zeroed pages, and none is reused.
static DMA_PAGES: DmaPages = DmaPages(UnsafeCell::new([[0; PAGE_SIZE]; DMA_PAGE_COUNT]));
/// Pages handed out so far.
static DMA_TAKEN: AtomicUsize = AtomicUsize::new(0);

/// The crate's hardware abstraction: DMA pages from [`DMA_PAGES`],
/// physical addresses equal to virtual ones.
pub struct StaticHal;

// SAFETY: `dma_alloc` returns zeroed, page-aligned memory that nothing
// else uses (each page of the pool once), and the addresses it and
// `share` return are what the device must use (no IOMMU, no address
// translation: M-mode runs on physical addresses).
unsafe impl Hal for StaticHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let taken = DMA_TAKEN.fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
            taken
                .checked_add(pages)
                .filter(|&end| end <= DMA_PAGE_COUNT)
        });
        match taken {
            Ok(first) => {
                let base = DMA_PAGES.0.get().cast::<u8>();
                // SAFETY: `first + pages` is within the pool (checked above).
                let start = unsafe { base.add(first * PAGE_SIZE) };
                log::debug!(
                    "virtio: DMA pages {first}..{} of {DMA_PAGE_COUNT}",
                    first + pages
                );
                (
                    start as usize as PhysAddr,
                    NonNull::new(start).unwrap_or(NonNull::dangling()),
                )
            }
            Err(taken) => {
                log::error!(
                    "virtio: {pages} DMA pages asked for, {} of {DMA_PAGE_COUNT} left",
                    DMA_PAGE_COUNT - taken
                );
                // Address 0: the crate's sign of a failed allocation.
                (0, NonNull::dangling())
            }
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, _vaddr: NonNull<u8>, _pages: usize) -> i32 {
        // Only when a queue is dropped, which the board never does; the
        // pages stay taken (a new queue would get fresh ones or none).
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.cast::<u8>().as_ptr() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

type Raw = VirtIONetRaw<StaticHal, MmioTransport<'static>, QUEUE_SIZE>;

/// Why the device could not be started.
#[derive(Debug)]
pub enum StartError {
    /// No virtio-net device in any of the MMIO slots (QEMU without
    /// `-device virtio-net-device,...`).
    NoDevice,
    /// The crate's error while negotiating and setting up the queues.
    Virtio(virtio_drivers::Error),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::NoDevice => write!(
                f,
                "no virtio-net device in the {VIRTIO_MMIO_SLOTS} virtio-mmio slots at \
                 {VIRTIO_MMIO_BASE:#x} (QEMU: -device virtio-net-device,netdev=...)"
            ),
            StartError::Virtio(error) => write!(f, "virtio: {error}"),
        }
    }
}

/// Counters for the `s` report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Used buffers the crate refused (a header missing) or frames longer
    /// than the MTU: dropped.
    pub rx_errors: u64,
    /// Receive buffers the device could not be given back (the queue
    /// refused): each leaves one buffer fewer.
    pub rx_repost_errors: u64,
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames the device did not take (queue full, crate error): dropped.
    pub tx_errors: u64,
    /// Times smoltcp wanted to send while every transmit buffer was with
    /// the device (it retries at its next poll).
    pub tx_busy: u64,
    /// Interrupts acknowledged.
    pub interrupts: u64,
}

/// A receive buffer and where it is.
struct RxSlot {
    buffer: [u8; BUFFER_LEN],
    /// The device's token while the buffer is posted.
    posted: Option<u16>,
    /// A frame waiting for smoltcp: its start and length in `buffer`.
    frame: Option<(usize, usize)>,
}

/// A transmit buffer and the frame the device is sending from it.
struct TxSlot {
    buffer: [u8; BUFFER_LEN],
    /// The device's token and the length handed over, while in flight.
    in_flight: Option<(u16, usize)>,
}

/// The frame buffers, in a static: the device keeps their addresses
/// while they are posted, so they must never move (a buffer on the stack,
/// moved with its driver, would have the device write received frames
/// over whatever took its place). All zeros: .bss.
struct Buffers {
    rx: [RxSlot; RX_BUFFERS],
    tx: [TxSlot; TX_BUFFERS],
}

static BUFFERS: ConstStaticCell<Buffers> = ConstStaticCell::new(Buffers {
    rx: [const {
        RxSlot {
            buffer: [0; BUFFER_LEN],
            posted: None,
            frame: None,
        }
    }; RX_BUFFERS],
    tx: [const {
        TxSlot {
            buffer: [0; BUFFER_LEN],
            in_flight: None,
        }
    }; TX_BUFFERS],
});

/// The virtio-net device with its buffers: a smoltcp [`Device`].
pub struct VirtioNet {
    raw: Raw,
    irq: u32,
    rx: &'static mut [RxSlot; RX_BUFFERS],
    tx: TxState,
}

/// The transmit side apart, so a receive token can borrow a receive
/// buffer while its transmit token borrows this.
struct TxState {
    slots: &'static mut [TxSlot; TX_BUFFERS],
    stats: Stats,
}

impl VirtioNet {
    /// Finds the virtio-net device among the MMIO slots, negotiates with
    /// it, sets up its queues and posts the receive buffers.
    ///
    /// # Safety
    /// Once: the driver must be the only code touching the virtio-mmio
    /// slots.
    pub unsafe fn start() -> Result<VirtioNet, StartError> {
        let (transport, slot) = (0..VIRTIO_MMIO_SLOTS)
            .find_map(|slot| {
                let address = VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE;
                let header = NonNull::new(address as *mut VirtIOHeader)?;
                // SAFETY: a virtio-mmio slot of the virt board (its header
                // and config space, 4 KiB), ours alone (the caller's
                // promise); an empty slot reads device id 0, which `new`
                // refuses.
                let transport = unsafe { MmioTransport::new(header, VIRTIO_MMIO_SIZE) }.ok()?;
                (transport.device_type() == DeviceType::Network).then_some((transport, slot))
            })
            .ok_or(StartError::NoDevice)?;
        log::info!(
            "virtio: net device in slot {slot} at {:#x}, virtio-mmio {:?}",
            VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SIZE,
            transport.version()
        );
        let raw = Raw::new(transport).map_err(StartError::Virtio)?;
        // Taken once (a second start panics here, before touching the
        // buffers the first one posted).
        let Buffers { rx, tx } = BUFFERS.take();
        let mut net = VirtioNet {
            raw,
            irq: VIRTIO_FIRST_IRQ + slot as u32,
            rx,
            tx: TxState {
                slots: tx,
                stats: Stats::default(),
            },
        };
        net.post_receive_buffers();
        if net.rx.iter().all(|slot| slot.posted.is_none()) {
            return Err(StartError::Virtio(virtio_drivers::Error::QueueFull));
        }
        Ok(net)
    }

    /// The device's own MAC address (QEMU's `-device ...,mac=`).
    pub fn device_mac(&self) -> [u8; 6] {
        self.raw.mac_address()
    }

    /// The device's PLIC interrupt.
    pub fn irq(&self) -> u32 {
        self.irq
    }

    /// Acknowledges the device's interrupt, so its line drops.
    pub fn acknowledge(&mut self) {
        self.raw.ack_interrupt();
        self.tx.stats.interrupts += 1;
    }

    /// Whether a received frame waits (used buffers on the receive queue,
    /// or one taken back and not read yet): the loop must not sleep.
    pub fn frames_waiting(&self) -> bool {
        self.raw.poll_receive().is_some() || self.rx.iter().any(|slot| slot.frame.is_some())
    }

    pub fn stats(&self) -> Stats {
        self.tx.stats
    }

    /// Gives the device every receive buffer that is neither posted nor
    /// holding a frame.
    fn post_receive_buffers(&mut self) {
        for slot in self.rx.iter_mut() {
            if slot.posted.is_none() && slot.frame.is_none() {
                // SAFETY: the buffer is not touched again until the device
                // has returned it (`take_received` completes it first).
                match unsafe { self.raw.receive_begin(&mut slot.buffer) } {
                    Ok(token) => slot.posted = Some(token),
                    Err(error) => {
                        self.tx.stats.rx_repost_errors += 1;
                        log::warn!("virtio: receive buffer not posted: {error}");
                    }
                }
            }
        }
    }

    /// Takes back the buffer the device has filled, if any: the index of
    /// its slot, now holding a frame.
    fn take_received(&mut self) -> Option<usize> {
        if let Some(index) = self.rx.iter().position(|slot| slot.frame.is_some()) {
            return Some(index);
        }
        let token = self.raw.poll_receive()?;
        let index = self.rx.iter().position(|slot| slot.posted == Some(token))?;
        let slot = &mut self.rx[index];
        slot.posted = None;
        // SAFETY: the same buffer `receive_begin` was given with this token.
        match unsafe { self.raw.receive_complete(token, &mut slot.buffer) } {
            Ok((header, length)) if length <= MTU && header + length <= BUFFER_LEN => {
                slot.frame = Some((header, length));
                self.tx.stats.rx_frames += 1;
                self.tx.stats.rx_bytes += length as u64;
                Some(index)
            }
            Ok(_) | Err(_) => {
                self.tx.stats.rx_errors += 1;
                None
            }
        }
    }

    /// Takes back the transmit buffers the device is done with.
    fn reap_transmitted(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let Some(slot) = self
                .tx
                .slots
                .iter_mut()
                .find(|slot| matches!(slot.in_flight, Some((t, _)) if t == token))
            else {
                // Not ours: cannot happen (every token is a slot's); stop
                // rather than spin.
                break;
            };
            let Some((_, length)) = slot.in_flight.take() else {
                break;
            };
            // SAFETY: the same buffer, same length, `transmit_begin` was
            // given with this token.
            if unsafe { self.raw.transmit_complete(token, &slot.buffer[..length]) }.is_err() {
                self.tx.stats.tx_errors += 1;
            }
        }
    }

    fn free_tx_slot(&self) -> Option<usize> {
        self.tx
            .slots
            .iter()
            .position(|slot| slot.in_flight.is_none())
    }
}

impl Device for VirtioNet {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        self.reap_transmitted();
        self.post_receive_buffers();
        let Some(tx_slot) = self.free_tx_slot() else {
            // The reply would have nowhere to go: leave the frame with the
            // device until a transmit buffer is back (its interrupt wakes
            // the loop).
            self.tx.stats.tx_busy += 1;
            return None;
        };
        let index = self.take_received()?;
        let VirtioNet { raw, rx, tx, .. } = self;
        let slot = &mut rx[index];
        Some((
            RxToken { slot },
            TxToken {
                raw,
                tx,
                slot: tx_slot,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_>> {
        self.reap_transmitted();
        let Some(slot) = self.free_tx_slot() else {
            self.tx.stats.tx_busy += 1;
            return None;
        };
        Some(TxToken {
            raw: &mut self.raw,
            tx: &mut self.tx,
            slot,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(TX_BUFFERS);
        caps
    }
}

/// A received frame, read in place; its buffer goes back to the device
/// at the next `receive`.
pub struct RxToken<'a> {
    slot: &'a mut RxSlot,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let (start, length) = self.slot.frame.take().unwrap_or((0, 0));
        let frame = self
            .slot
            .buffer
            .get(start..start + length)
            .unwrap_or_default();
        f(frame)
    }
}

/// A free transmit buffer: the frame is written after the virtio-net
/// header and handed to the device.
pub struct TxToken<'a> {
    raw: &'a mut Raw,
    tx: &'a mut TxState,
    slot: usize,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU it was given.
        let len = len.min(MTU);
        let TxToken { raw, tx, slot } = self;
        let buffer = &mut tx.slots[slot].buffer;
        let header = raw.fill_buffer_header(buffer).unwrap_or(0);
        let result = f(&mut buffer[header..header + len]);
        let total = header + len;
        // SAFETY: the buffer is not touched again until the device has
        // returned it (`reap_transmitted` completes it first).
        match unsafe { raw.transmit_begin(&buffer[..total]) } {
            Ok(token) => {
                tx.slots[slot].in_flight = Some((token, total));
                tx.stats.tx_frames += 1;
                tx.stats.tx_bytes += len as u64;
            }
            Err(error) => {
                tx.stats.tx_errors += 1;
                log::warn!("virtio: frame not sent: {error}");
            }
        }
        result
    }
}
