//! A driver for the Ethernet controller of Texas Instruments' Stellaris
//! microcontrollers (LM3S6965, LM3S6911, LM3S8962, ...: the MAC with its
//! 10/100 PHY inside the chip), as a smoltcp [`Device`].
//!
//! The controller is simple: a 2 KB RX FIFO and a 2 KB TX FIFO behind one
//! data register (`MACDATA`), read and written a 32-bit word at a time,
//! each frame behind a 2-byte length (see [`frame`] for the layout):
//!
//! - **Receive.** The MAC puts each accepted frame (ours, broadcast, and
//!   every multicast frame if `AMUL` is on) in the RX FIFO, counts it in
//!   `MACNP` and raises `RXINT`. The driver reads the first word, checks the
//!   length ([`RxHeader::check`]), then reads exactly the frame's words,
//!   into its buffer or into nothing when the frame is unusable: either way
//!   the FIFO stays in step. A length no frame can have means the driver
//!   has lost its place: it empties the FIFO (`RSTFIFO`) rather than read
//!   on. Frames to multicast groups nobody joined are dropped here
//!   ([`AddressFilter`]): the MAC has no multicast filter.
//! - **Transmit.** One frame at a time: when `MACTR.NEWTX` reads 0 the FIFO
//!   is free; the driver writes the length word and the frame's words and
//!   sets `NEWTX`. The MAC pads short frames and appends the FCS.
//!
//! Interrupts: [`StellarisEnet::init`] unmasks RX, RX errors, RX overruns,
//! TX errors and the PHY's. The board's handler only wakes its main loop
//! (masks the line, sets a flag); the loop calls
//! [`StellarisEnet::handle_interrupt`], which acknowledges the MAC, and
//! then polls the stack, which takes the frames through the smoltcp
//! [`Device`] interface. All register access happens in the main loop.
//!
//! The driver reaches the controller through a [`Bus`], which the board
//! implements (volatile reads and writes at the controller's base). So this
//! crate has no `unsafe` and no board knowledge, and its logic is unit
//! tested on the host against a simulated controller.
//!
//! Notes for real chips (QEMU's model of the controller skips them) are
//! marked **Real chip:** below.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod frame;
pub mod regs;

use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

pub use frame::{AddressFilter, LinkMode, RxError, RxHeader, TooManyGroups, MTU};
pub use regs::Reg;
use regs::{int, mctl, phy, rctl, tctl, tr};

/// How the driver reaches the controller's registers.
///
/// On the chip: volatile 32-bit reads and writes at the base address plus
/// [`Reg::offset`]. Reads of `MACDATA` pop the RX FIFO and writes push the
/// TX FIFO, so accesses must not be cached, merged or reordered.
pub trait Bus {
    fn read(&mut self, reg: Reg) -> u32;
    fn write(&mut self, reg: Reg, value: u32);
}

/// Room for the longest frame passed on, with its length field and FCS, in
/// whole words.
const RX_BUFFER: usize = frame::words_for(frame::MAX_RX_FIELD) * 4;

/// The interrupts the driver unmasks.
pub const ENABLED_INTERRUPTS: u32 =
    int::RX | int::RX_ERROR | int::RX_OVERRUN | int::TX_ERROR | int::PHY;

/// Bounded waits: how many register reads before a busy bit counts as stuck.
/// An MII transaction takes 64 MDC cycles (~26 µs at 2.5 MHz) and a frame
/// leaves in at most 1.2 ms at 10 Mbit/s: far below this at one read per
/// ~100 ns. The bound only turns a dead controller into an error.
const WAIT_READS: u32 = 100_000;

/// Frames skipped (errors, not for us) in one [`Device::receive`] call at
/// most, so a flood cannot keep the caller in the driver.
const MAX_SKIPPED_PER_RECEIVE: usize = 16;

/// The PHY interrupts enabled (MR17): auto-negotiation complete, link change.
const PHY_INTERRUPTS: u16 = phy::mr17::AN_COMPLETE | phy::mr17::LINK_CHANGE;

/// Why [`StellarisEnet::init`] or a PHY access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// An MII management transaction (`MACMCTL.START`) never finished: the
    /// controller is not clocked (`RCGC2`), or the divider is wrong.
    PhyTimeout,
    /// More multicast groups than the filter holds.
    TooManyGroups(TooManyGroups),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::PhyTimeout => f.write_str(
                "PHY access timed out (is the Ethernet controller clocked, RCGC2 EMAC0 and EPHY0?)",
            ),
            InitError::TooManyGroups(e) => e.fmt(f),
        }
    }
}

/// What [`StellarisEnet::init`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipInfo {
    /// The MAC address the controller held before the driver wrote its own
    /// (QEMU puts its `-nic ...,mac=` there; on a real board it is 0 until
    /// software writes the one from the flash's USER0/USER1 registers).
    pub previous_mac: [u8; 6],
    /// The negotiated link, if the PHY reports one already.
    pub link: Option<LinkMode>,
}

/// Counters, for a port to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames passed to the stack, and their bytes (without FCS).
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Frames skipped, by [`RxError::index`].
    pub rx_errors: [u64; 3],
    /// Frames to someone else or to a group nobody joined.
    pub rx_filtered: u64,
    /// Times the RX FIFO was emptied after a corrupt length.
    pub rx_fifo_resets: u64,
    /// Frames the MAC lost to a full RX FIFO (`FOV`) or received with an
    /// error (`RXER`), as interrupts counted.
    pub rx_overruns: u64,
    pub rx_mac_errors: u64,
    /// Frames sent, and their bytes.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames the MAC refused (`TXER`).
    pub tx_errors: u64,
    /// Times smoltcp wanted to send and the previous frame was still
    /// going (it retries later).
    pub tx_busy: u64,
    /// Frames dropped: the TX FIFO stayed busy, or a frame the MAC cannot
    /// send (shorter than a header).
    pub tx_dropped: u64,
    /// Interrupts handled.
    pub interrupts: u64,
    /// PHY interrupts: link changes and completed auto-negotiations.
    pub link_events: u64,
}

impl Stats {
    pub fn rx_errors_total(&self) -> u64 {
        self.rx_errors.iter().sum()
    }
}

/// The part of the driver a transmit token needs: the bus and TX state.
struct Port<B> {
    bus: B,
    tx: [u8; MTU],
    stats: Stats,
}

/// A Stellaris Ethernet controller behind bus `B`, as a smoltcp [`Device`].
pub struct StellarisEnet<B> {
    port: Port<B>,
    rx: [u8; RX_BUFFER],
    filter: AddressFilter,
    /// The link as last seen, as plain fields (0 Mbit/s: down) rather than
    /// an `Option`: with a zero-sized bus a new driver is all zero bytes,
    /// so a `static` of it costs no flash (it goes to .bss).
    link_mbps: u16,
    link_full_duplex: bool,
}

impl<B: Bus> StellarisEnet<B> {
    /// The driver for the controller behind `bus`; call
    /// [`StellarisEnet::init`] before anything else. `const`, so it can
    /// live in a `static`.
    pub const fn new(bus: B) -> Self {
        StellarisEnet {
            port: Port {
                bus,
                tx: [0; MTU],
                stats: Stats {
                    rx_frames: 0,
                    rx_bytes: 0,
                    rx_errors: [0; 3],
                    rx_filtered: 0,
                    rx_fifo_resets: 0,
                    rx_overruns: 0,
                    rx_mac_errors: 0,
                    tx_frames: 0,
                    tx_bytes: 0,
                    tx_errors: 0,
                    tx_busy: 0,
                    tx_dropped: 0,
                    interrupts: 0,
                    link_events: 0,
                },
            },
            rx: [0; RX_BUFFER],
            filter: AddressFilter::EMPTY,
            link_mbps: 0,
            link_full_duplex: false,
        }
    }

    /// Configures the controller: MAC address `mac`, only frames to it and
    /// to broadcast accepted (multicast groups are added by
    /// [`StellarisEnet::accept_multicast`]), both FIFOs emptied, receiver
    /// and transmitter on, interrupts unmasked. `sysclk_hz`: the system
    /// clock, for the MII management clock. Does not wait for the link.
    ///
    /// Real chip: the board must first clock the controller and its PHY
    /// (`RCGC2` bits EMAC0 and EPHY0) and wait a few cycles.
    pub fn init(&mut self, mac: [u8; 6], sysclk_hz: u32) -> Result<ChipInfo, InitError> {
        // 1. Quiet: nothing interrupts while the controller is set up, and
        //    what was pending is forgotten.
        self.write(Reg::Im, 0);
        self.write(Reg::RisIack, int::ALL);

        // 2. Receiver and transmitter off, the RX FIFO emptied.
        self.write(Reg::Rctl, rctl::BADCRC | rctl::RSTFIFO);
        self.write(Reg::Tctl, 0);

        // 3. The MII management clock, then the PHY: its interrupts on for
        //    link changes, and the link as it is now.
        self.write(Reg::Mdv, frame::mii_divider(sysclk_hz));
        self.phy_write(phy::MR17, PHY_INTERRUPTS << phy::mr17::ENABLE_SHIFT)?;
        let link = self.read_link()?;
        self.set_link(link);

        // 4. Our MAC address. The controller may hold another (QEMU's);
        //    the port's configured address wins.
        let previous_mac =
            frame::mac_address_from_registers(self.read(Reg::Ia0), self.read(Reg::Ia1));
        let (ia0, ia1) = frame::mac_address_registers(mac);
        self.write(Reg::Ia0, ia0);
        self.write(Reg::Ia1, ia1);
        self.filter.set_mac(mac);

        // 5. Transmit only when told (MACTR), not at a FIFO threshold: the
        //    driver writes whole frames. Padding and FCS by the MAC; full
        //    duplex unless the PHY says otherwise.
        self.write(Reg::Thr, regs::THR_OFF);
        self.write(Reg::Tctl, self.tx_control());

        // 6. Receive: our address and broadcast (not promiscuous), frames
        //    with a bad FCS rejected by the MAC.
        self.write(Reg::Rctl, self.rx_control());

        // 7. Interrupts, last, once everything they report is set up.
        self.write(Reg::RisIack, int::ALL);
        self.write(Reg::Im, ENABLED_INTERRUPTS);

        Ok(ChipInfo { previous_mac, link })
    }

    /// Accepts frames to the multicast MAC addresses `groups` too: the MAC
    /// lets every multicast frame in (`AMUL`, it has no multicast filter),
    /// the driver passes on only these. IPv6 needs this: a neighbor
    /// solicitation for one of our addresses goes to its solicited-node
    /// group (33:33:ff:xx:xx:xx), never to our MAC address. Replaces the
    /// groups set before; an empty list turns multicast off again. Call
    /// after [`StellarisEnet::init`].
    pub fn accept_multicast(&mut self, groups: &[[u8; 6]]) -> Result<(), InitError> {
        self.filter
            .set_groups(groups)
            .map_err(InitError::TooManyGroups)?;
        self.write(Reg::Rctl, self.rx_control());
        Ok(())
    }

    fn rx_control(&self) -> u32 {
        let multicast = if self.filter.wants_multicast() {
            rctl::AMUL
        } else {
            0
        };
        rctl::RXEN | rctl::BADCRC | multicast
    }

    fn tx_control(&self) -> u32 {
        let duplex = match self.link() {
            Some(link) if !link.full_duplex => 0,
            _ => tctl::DUPLEX,
        };
        tctl::TXEN | tctl::PADEN | tctl::CRC | duplex
    }

    /// Acknowledges whatever the controller interrupted for and returns
    /// the `MACRIS` bits handled. Call it from the main loop after the
    /// interrupt woke it, before polling the stack: a frame arriving after
    /// the acknowledgement raises the interrupt again, so none is missed.
    pub fn handle_interrupt(&mut self) -> u32 {
        let pending = self.read(Reg::RisIack) & ENABLED_INTERRUPTS;
        if pending == 0 {
            return 0;
        }
        // Write 1 to clear; the frames themselves are taken by polling.
        self.write(Reg::RisIack, pending);
        let stats = &mut self.port.stats;
        stats.interrupts += 1;
        if pending & int::RX_OVERRUN != 0 {
            stats.rx_overruns += 1;
            log::warn!("stellaris: RX FIFO full, a frame was lost");
        }
        if pending & int::RX_ERROR != 0 {
            stats.rx_mac_errors += 1;
        }
        if pending & int::TX_ERROR != 0 {
            stats.tx_errors += 1;
            log::warn!("stellaris: the MAC refused a frame (TXER)");
        }
        if pending & int::PHY != 0 {
            self.port.stats.link_events += 1;
            // Reading MR17 clears the PHY's interrupt.
            if self.phy_read(phy::MR17).is_ok() {
                self.update_link();
            }
        }
        pending
    }

    /// Whether received frames are waiting in the RX FIFO.
    pub fn frames_waiting(&mut self) -> bool {
        self.read(Reg::Np) & regs::NP_MASK > 0
    }

    /// The link as last seen (`None`: down, negotiating, or a PHY that
    /// reports nothing, as QEMU's).
    pub fn link(&self) -> Option<LinkMode> {
        (self.link_mbps != 0).then_some(LinkMode {
            mbps: self.link_mbps,
            full_duplex: self.link_full_duplex,
        })
    }

    fn set_link(&mut self, link: Option<LinkMode>) {
        self.link_mbps = link.map_or(0, |l| l.mbps);
        self.link_full_duplex = link.is_some_and(|l| l.full_duplex);
    }

    pub fn stats(&self) -> &Stats {
        &self.port.stats
    }

    /// Re-reads the PHY and sets the MAC's duplex to match.
    fn update_link(&mut self) {
        let Ok(link) = self.read_link() else {
            return;
        };
        if link != self.link() {
            match link {
                Some(l) => log::info!(
                    "stellaris: link up, {} Mbit/s {} duplex",
                    l.mbps,
                    if l.full_duplex { "full" } else { "half" }
                ),
                None => log::warn!("stellaris: link down"),
            }
            self.set_link(link);
            self.write(Reg::Tctl, self.tx_control());
        }
    }

    /// The negotiated link, or `None` while it is down or negotiating.
    fn read_link(&mut self) -> Result<Option<LinkMode>, InitError> {
        // MR1's link bit latches low: the second read is the current state.
        let _ = self.phy_read(phy::MR1)?;
        let status = self.phy_read(phy::MR1)?;
        let diagnostic = self.phy_read(phy::MR18)?;
        Ok(frame::link_mode(status, diagnostic))
    }

    /// Takes the next good frame for us from the RX FIFO into `self.rx`,
    /// skipping (and counting) the others; its length, or `None` when none
    /// waits.
    fn read_frame(&mut self) -> Option<usize> {
        for _ in 0..MAX_SKIPPED_PER_RECEIVE {
            if !self.frames_waiting() {
                return None;
            }
            let header = RxHeader(self.read(Reg::Data));
            let len = match header.check() {
                Ok(len) => len,
                Err(error) => {
                    self.port.stats.rx_errors[error.index()] += 1;
                    log::debug!(
                        "stellaris: dropped a frame: {} (length field {})",
                        error.name(),
                        header.field()
                    );
                    if error == RxError::Corrupt {
                        self.reset_rx_fifo();
                        return None;
                    }
                    self.discard(header.fifo_words() - 1);
                    continue;
                }
            };
            // `check` bounds the length by MAX_RX_FIELD, so every word of
            // the frame fits the buffer: the length field and the FCS
            // around the frame are read too, and left out.
            let mut words = self.rx.chunks_exact_mut(4).take(header.fifo_words());
            if let Some(first) = words.next() {
                frame::store_word(header.0, first);
            }
            for chunk in words {
                frame::store_word(self.port.bus.read(Reg::Data), chunk);
            }
            let start = frame::LENGTH_FIELD;
            let destination = match self.rx.get(start..start + 6) {
                Some(&[a, b, c, d, e, f]) => [a, b, c, d, e, f],
                _ => [0; 6],
            };
            if !self.filter.accepts(destination) {
                self.port.stats.rx_filtered += 1;
                continue;
            }
            let stats = &mut self.port.stats;
            stats.rx_frames += 1;
            stats.rx_bytes += len as u64;
            return Some(len);
        }
        None
    }

    /// Skips `words` words of the frame at the head of the RX FIFO.
    fn discard(&mut self, words: usize) {
        for _ in 0..words {
            let _ = self.read(Reg::Data);
        }
    }

    /// Empties the RX FIFO: the receiver off, `RSTFIFO`, the receiver on.
    /// The frames in it are lost; the next one starts in step.
    fn reset_rx_fifo(&mut self) {
        self.port.stats.rx_fifo_resets += 1;
        log::warn!("stellaris: RX FIFO out of step, emptied");
        self.write(Reg::Rctl, rctl::BADCRC);
        self.write(Reg::Rctl, rctl::BADCRC | rctl::RSTFIFO);
        self.write(Reg::Rctl, self.rx_control());
    }

    fn read(&mut self, reg: Reg) -> u32 {
        self.port.bus.read(reg)
    }

    fn write(&mut self, reg: Reg, value: u32) {
        self.port.bus.write(reg, value)
    }

    /// Waits until `MACMCTL.START` reads 0, at most [`WAIT_READS`] reads.
    fn wait_mii(&mut self) -> Result<(), InitError> {
        if (0..WAIT_READS).any(|_| self.read(Reg::Mctl) & mctl::START == 0) {
            Ok(())
        } else {
            Err(InitError::PhyTimeout)
        }
    }

    /// Reads PHY register `reg` through the MII management interface.
    fn phy_read(&mut self, reg: u8) -> Result<u16, InitError> {
        self.wait_mii()?;
        self.write(Reg::Mctl, mctl::command(reg, false));
        self.wait_mii()?;
        Ok(self.read(Reg::Mrxd) as u16)
    }

    /// Writes PHY register `reg`: the value first, then the command.
    fn phy_write(&mut self, reg: u8, value: u16) -> Result<(), InitError> {
        self.wait_mii()?;
        self.write(Reg::Mtxd, u32::from(value));
        self.write(Reg::Mctl, mctl::command(reg, true));
        self.wait_mii()
    }
}

impl<B: Bus> Port<B> {
    /// Whether the TX FIFO is free: the previous frame has gone.
    fn tx_free(&mut self) -> bool {
        self.bus.read(Reg::Tr) & tr::NEWTX == 0
    }

    /// Writes the frame in `self.tx[..len]` to the TX FIFO, its length word
    /// first, and sends it. Waits (boundedly) for the previous frame to
    /// leave first: writing into a FIFO still being sent would garble it.
    fn send(&mut self, len: usize) {
        let frame = self.tx.get(..len).unwrap_or(&[]);
        let Some(first) = frame::tx_first_word(frame) else {
            self.stats.tx_dropped += 1;
            return;
        };
        if !(0..WAIT_READS).any(|_| self.bus.read(Reg::Tr) & tr::NEWTX == 0) {
            self.stats.tx_dropped += 1;
            return;
        }
        self.bus.write(Reg::Data, first);
        for chunk in frame.get(2..).unwrap_or(&[]).chunks(4) {
            self.bus.write(Reg::Data, frame::load_word(chunk));
        }
        self.bus.write(Reg::Tr, tr::NEWTX);
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }
}

impl<B: Bus> Device for StellarisEnet<B> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, B>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_, B>)> {
        let len = self.read_frame()?;
        let start = frame::LENGTH_FIELD;
        Some((
            RxToken(self.rx.get(start..start + len).unwrap_or(&[])),
            TxToken {
                port: &mut self.port,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, B>> {
        if !self.port.tx_free() {
            // The previous frame is still going; smoltcp retries on its
            // next poll.
            self.port.stats.tx_busy += 1;
            return None;
        }
        Some(TxToken {
            port: &mut self.port,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MTU;
        // The TX FIFO holds one frame.
        caps.max_burst_size = Some(1);
        caps
    }
}

/// A received frame, already copied out of the FIFO. (smoltcp may answer
/// it at once, through the [`TxToken`] handed out with it.)
pub struct RxToken<'a>(&'a [u8]);

impl smoltcp::phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// Room for one frame to send; the frame goes to the controller when
/// consumed.
pub struct TxToken<'a, B> {
    port: &'a mut Port<B>,
}

impl<B: Bus> smoltcp::phy::TxToken for TxToken<'_, B> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU it was given.
        let len = len.min(MTU);
        let result = f(&mut self.port.tx[..len]);
        self.port.send(len);
        result
    }
}

#[cfg(test)]
mod tests;
