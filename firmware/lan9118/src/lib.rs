//! A driver for the SMSC (now Microchip) LAN9118 Ethernet controller and its
//! register-compatible siblings (LAN9115..LAN9117, LAN9215, LAN9218, LAN9220,
//! LAN9221), as a smoltcp [`Device`].
//!
//! The chip has its MAC, PHY and 16 kB of packet FIFOs inside; the host sees
//! 32-bit registers on a memory bus (see [`regs`]). Frames come and go
//! through FIFO ports, one status word per frame:
//!
//! - **Receive.** The chip puts each accepted frame in the RX data FIFO and
//!   one status word (length, errors) in the RX status FIFO, and raises RSFL
//!   ("RX status FIFO level"). The driver pops a status, checks it
//!   ([`RxStatus::check`]), and reads the frame's words, or reads them into
//!   nothing when the frame is bad: either way the FIFO stays in step.
//! - **Transmit.** The driver writes TX command A (this buffer: its size and
//!   that it is the first and last of the frame), TX command B (the whole
//!   frame: its length and a tag) and the frame's words to the TX data FIFO;
//!   the chip sends it and later pushes a TX status word, which the driver
//!   pops and checks before the next frame.
//!
//! Interrupts: [`Lan9118::init`] sets the IRQ pin up (active high,
//! push-pull) for RSFL, receive and transmit errors and PHY events. The
//! board's interrupt handler only has to wake its main loop (mask the line
//! or set a flag); the main loop calls [`Lan9118::handle_interrupt`], which
//! acknowledges the chip, and then polls the stack, which takes the frames
//! through the smoltcp [`Device`] interface. All register access happens in
//! the main loop: nothing here needs a lock.
//!
//! The driver reaches the chip through a [`Bus`], which the board implements
//! (usually volatile reads and writes at the chip's base address). So this
//! crate has no `unsafe` and no board knowledge, and its logic is unit tested
//! on the host against a simulated chip.
//!
//! Porting notes for real hardware are marked **Real chip:** below.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod frame;
pub mod regs;

use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use frame::{store_word, FCS_LEN, HEADER_LEN};
pub use frame::{LinkMode, RxError, RxStatus, TxStatus};
pub use regs::Reg;
use regs::{
    fifo_int, hw_cfg, int, irq_cfg, mac, mac_csr_cmd, mii_acc, phy, pmt_ctrl, rx_fifo_inf, tx_cfg,
    tx_fifo_inf,
};

/// How the driver reaches the chip's registers.
///
/// On a memory-mapped chip: volatile 32-bit reads and writes at the base
/// address plus [`Reg::offset`]. Reads of the FIFO ports and status FIFOs
/// have side effects (they pop), so they must not be cached or merged.
pub trait Bus {
    fn read(&mut self, reg: Reg) -> u32;
    fn write(&mut self, reg: Reg, value: u32);
}

/// The largest frame handed to or taken from smoltcp: a 1500-byte payload
/// and the 14-byte Ethernet header (the chip adds and strips the FCS). The
/// driver's default; a board short of RAM may build it for shorter frames
/// (see [`Lan9118`]).
pub const MTU: usize = 1514;

/// The shortest frame a driver may be built for: a 576-byte IPv4 packet
/// (the least every host must take, RFC 791) and the Ethernet header.
pub const MIN_MTU: usize = 576 + HEADER_LEN;

/// Bounded waits: how many register reads before a busy bit counts as stuck.
/// Every wait here ends in microseconds on a working chip (even a PHY reset
/// takes well under this at ~100 ns per read); the bound only turns a dead
/// chip into an error instead of a hang.
const WAIT_READS: u32 = 1_000_000;

/// Frames with errors skipped in one [`Device::receive`] call at most, so
/// a flood of bad frames cannot keep the caller in the driver.
const MAX_SKIPPED_PER_RECEIVE: usize = 16;

/// The PHY interrupt sources enabled (PHY register 30): auto-negotiation
/// complete and link down.
const PHY_INT_AN_COMPLETE: u16 = 1 << 6;
const PHY_INT_LINK_DOWN: u16 = 1 << 4;
const PHY_INT_SOURCE: u8 = 29;
const PHY_INT_MASK: u8 = 30;

/// The interrupts the driver enables.
pub const ENABLED_INTERRUPTS: u32 =
    int::RSFL | int::RXE | int::TXE | int::RXDF_INT | int::TDFO | int::PHY_INT;

/// Why [`Lan9118::init`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` did not read 0x87654321: no chip at this address, or the
    /// bus is misconfigured (width, byte order, timing).
    NoChip { byte_test: u32 },
    /// The soft reset (`HW_CFG.SRST`) never finished.
    ResetTimeout,
    /// `PMT_CTRL.READY` never came up.
    NotReady,
    /// An indirect MAC register access stayed busy.
    MacTimeout,
    /// A PHY register access (through the MAC's MII port) stayed busy.
    PhyTimeout,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::NoChip { byte_test } => write!(
                f,
                "no LAN9118 found: BYTE_TEST reads {byte_test:#010x}, not 0x87654321"
            ),
            InitError::ResetTimeout => f.write_str("soft reset did not finish"),
            InitError::NotReady => f.write_str("chip not ready after reset"),
            InitError::MacTimeout => f.write_str("MAC register access timed out"),
            InitError::PhyTimeout => f.write_str("PHY register access timed out"),
        }
    }
}

/// What [`Lan9118::init`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipInfo {
    /// `ID_REV` bits 31:16: 0x0118 for a LAN9118, 0x9220 for a LAN9220...
    pub id: u16,
    pub revision: u16,
    /// The negotiated link, if auto-negotiation has completed already.
    pub link: Option<LinkMode>,
}

/// Counters, for a port to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames passed to the stack, and their bytes (without FCS).
    pub rx_frames: u64,
    pub rx_bytes: u64,
    /// Frames received with errors and skipped, by [`RxError::index`].
    pub rx_errors: [u64; 6],
    /// Frames the chip dropped because its RX FIFO was full.
    pub rx_dropped: u64,
    /// Frames sent, and their bytes.
    pub tx_frames: u64,
    pub tx_bytes: u64,
    /// Frames the chip reported as failed (TX status error summary).
    pub tx_errors: u64,
    /// Times smoltcp wanted to send and the TX FIFO had no room (it
    /// retries later).
    pub tx_busy: u64,
    /// Frames dropped because the TX FIFO stayed full (a stuck chip).
    pub tx_dropped: u64,
    /// Interrupts handled, and the FIFO errors among them (RXE, TXE, TDFO).
    pub interrupts: u64,
    pub fifo_errors: u64,
    /// PHY events: link changes and completed auto-negotiations.
    pub link_events: u64,
}

impl Stats {
    pub fn rx_errors_total(&self) -> u64 {
        self.rx_errors.iter().sum()
    }
}

/// The part of the driver a transmit token needs: the bus and TX state.
struct Port<B, const FRAME: usize> {
    bus: B,
    tx: [u8; FRAME],
    tag: u16,
    stats: Stats,
}

/// A LAN9118 behind bus `B`, as a smoltcp [`Device`], for frames of up to
/// `FRAME` bytes without the FCS ([`MIN_MTU`] to [`MTU`], the default):
/// its receive and transmit buffers are that long, smoltcp is told that
/// MTU, and a longer frame from the wire is dropped and counted
/// ([`RxError::TooLong`]). A board with little RAM builds it for shorter
/// frames (two buffers of 590 bytes instead of 1514) and the stack for the
/// same.
pub struct Lan9118<B, const FRAME: usize = MTU> {
    port: Port<B, FRAME>,
    /// The frame received last; the FCS after a frame of `FRAME` bytes is
    /// left out.
    rx: [u8; FRAME],
    /// The link as last seen, as plain fields (0 Mbit/s: down) rather than
    /// an `Option`: with a zero-sized bus, a new driver is all zero bytes,
    /// so a `static` of it costs no flash (it goes to .bss).
    link_mbps: u16,
    link_full_duplex: bool,
    /// The multicast hash filter set (`HASHH`, `HASHL`); all zeros: no
    /// multicast group.
    hash_high: u32,
    hash_low: u32,
}

impl<B: Bus, const FRAME: usize> Lan9118<B, FRAME> {
    /// Checked when a driver is made: a frame from [`MIN_MTU`] to [`MTU`].
    const FRAME_FITS: () = assert!(
        FRAME >= MIN_MTU && FRAME <= MTU,
        "the LAN9118 driver's frames are 590 to 1514 bytes"
    );

    /// The driver for the chip behind `bus`; call [`Lan9118::init`] before
    /// anything else. `const`, so it can live in a `static`.
    pub const fn new(bus: B) -> Self {
        #[allow(clippy::let_unit_value)] // Evaluating it is the check.
        let () = Self::FRAME_FITS;
        Lan9118 {
            port: Port {
                bus,
                tx: [0; FRAME],
                tag: 0,
                stats: Stats {
                    rx_frames: 0,
                    rx_bytes: 0,
                    rx_errors: [0; 6],
                    rx_dropped: 0,
                    tx_frames: 0,
                    tx_bytes: 0,
                    tx_errors: 0,
                    tx_busy: 0,
                    tx_dropped: 0,
                    interrupts: 0,
                    fifo_errors: 0,
                    link_events: 0,
                },
            },
            rx: [0; FRAME],
            link_mbps: 0,
            link_full_duplex: false,
            hash_high: 0,
            hash_low: 0,
        }
    }

    /// Resets and configures the chip: MAC address `mac`, only frames to it
    /// and to broadcast accepted (multicast groups are added by
    /// [`Lan9118::accept_multicast`]), receiver and transmitter on,
    /// interrupts enabled. Does not wait for the link.
    pub fn init(&mut self, mac: [u8; 6]) -> Result<ChipInfo, InitError> {
        // 1. Is there a chip, and does the bus work? BYTE_TEST is readable
        //    even before the chip is ready, and its fixed pattern shows a
        //    wrong byte order or bus width at once.
        let byte_test = self.read(Reg::ByteTest);
        if byte_test != regs::BYTE_TEST_VALUE {
            return Err(InitError::NoChip { byte_test });
        }
        let id_rev = self.read(Reg::IdRev);

        // 2. Soft reset: everything but the PHY back to defaults, FIFOs
        //    emptied. SRST reads 1 until the reset is done, then READY in
        //    PMT_CTRL says the registers may be used.
        //    Real chip: after power-up, wait for READY before this step too.
        self.write(Reg::HwCfg, hw_cfg::SRST);
        if !self.wait(Reg::HwCfg, hw_cfg::SRST, 0) {
            return Err(InitError::ResetTimeout);
        }
        if !self.wait(Reg::PmtCtrl, pmt_ctrl::READY, pmt_ctrl::READY) {
            return Err(InitError::NotReady);
        }
        // The reset emptied the hash filter.
        self.hash_high = 0;
        self.hash_low = 0;

        // 3. FIFO split: 5 kB for TX (the default; room for three full
        //    frames), the rest of the 16 kB for RX. MBO must be written as 1.
        self.write(Reg::HwCfg, hw_cfg::MBO | (5 << hw_cfg::TX_FIF_SZ_SHIFT));

        // 4. The PHY: reset it, advertise every 10/100 mode, and start
        //    auto-negotiation. Its result arrives later as a PHY interrupt
        //    (handled in `handle_interrupt`), which sets the MAC's duplex.
        self.phy_write(phy::BCR, phy::bcr::RESET)?;
        let mut reset_done = false;
        // Each try is a few MAC register accesses: some milliseconds in
        // all, far more than a PHY reset takes.
        for _ in 0..10_000 {
            if self.phy_read(phy::BCR)? & phy::bcr::RESET == 0 {
                reset_done = true;
                break;
            }
        }
        if !reset_done {
            return Err(InitError::PhyTimeout);
        }
        self.phy_write(phy::ANAR, phy::an::ALL_10_100)?;
        self.phy_write(phy::BCR, phy::bcr::AN_ENABLE | phy::bcr::RESTART_AN)?;
        self.phy_write(PHY_INT_MASK, PHY_INT_AN_COMPLETE | PHY_INT_LINK_DOWN)?;

        // 5. Our MAC address. The chip may have loaded one from its EEPROM;
        //    the port's configured address wins.
        let (high, low) = frame::mac_address_registers(mac);
        self.mac_write(mac::ADDRH, high)?;
        self.mac_write(mac::ADDRL, low)?;

        // 6. The FIFOs: frames start at a word boundary with no offset and
        //    end on a 4-byte boundary (RX_CFG = 0), so a frame of n bytes
        //    is exactly ceil(n / 4) words. Transmitter on.
        self.write(Reg::RxCfg, 0);
        self.write(Reg::TxCfg, tx_cfg::TX_ON);

        // 7. The MAC: receive and transmit, with perfect filtering (our
        //    address, plus broadcast for ARP), i.e. PRMS (on after reset)
        //    off; multicast groups come later (`accept_multicast`). Full
        //    duplex until auto-negotiation says otherwise.
        let link = self.read_link()?;
        self.set_link(link);
        self.set_mac_mode(link.is_none_or(|l| l.full_duplex))?;

        // 8. Interrupts, last, once everything they report is set up:
        //    RSFL as soon as one RX status waits (level 0), the pin active
        //    high and push-pull (QEMU's model needs exactly this, 0x111, or
        //    its line is inverted), pending ones cleared, ours enabled.
        //    Real chip: INT_DEAS (31:24) can space interrupts out (in 10 µs
        //    units); 0 is fine for an interrupt-wakes-the-loop design.
        self.write(Reg::FifoInt, 0x48 << fifo_int::TX_DATA_AVAILABLE_SHIFT);
        self.write(
            Reg::IrqCfg,
            irq_cfg::IRQ_EN | irq_cfg::IRQ_POL | irq_cfg::IRQ_TYPE,
        );
        self.write(Reg::IntSts, u32::MAX);
        self.write(Reg::IntEn, ENABLED_INTERRUPTS);
        self.settle();

        Ok(ChipInfo {
            id: (id_rev >> 16) as u16,
            revision: id_rev as u16,
            link,
        })
    }

    /// Acknowledges whatever the chip raised its interrupt for and returns
    /// the `INT_STS` bits handled. Call it from the main loop after the
    /// interrupt woke it, before polling the stack: a frame arriving after
    /// the acknowledgement raises the interrupt again, so none is missed.
    pub fn handle_interrupt(&mut self) -> u32 {
        let pending = self.read(Reg::IntSts) & ENABLED_INTERRUPTS;
        if pending == 0 {
            return 0;
        }
        // Write 1 to clear; the RX frames themselves are taken by polling.
        self.write(Reg::IntSts, pending);
        self.settle();
        let stats = &mut self.port.stats;
        stats.interrupts += 1;
        if pending & (int::RXE | int::TXE | int::TDFO) != 0 {
            stats.fifo_errors += 1;
            log::warn!("lan9118: FIFO error, INT_STS {pending:#010x}");
        }
        if pending & int::RXDF_INT != 0 {
            // RX_DROP counts the frames lost to a full RX FIFO; it clears
            // on read.
            let dropped = self.read(Reg::RxDrop);
            self.port.stats.rx_dropped += u64::from(dropped);
        }
        if pending & int::PHY_INT != 0 {
            self.port.stats.link_events += 1;
            // Reading the PHY's interrupt source register clears it.
            if self.phy_read(PHY_INT_SOURCE).is_ok() {
                self.update_link();
            }
        }
        pending
    }

    /// Whether received frames are waiting in the RX FIFO.
    pub fn frames_waiting(&mut self) -> bool {
        rx_fifo_inf::status_used(self.read(Reg::RxFifoInf)) > 0
    }

    /// The link as last seen (`None`: down or still negotiating).
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

    /// The chip's free-running 25 MHz counter (`FREE_RUN`): a timing
    /// source for entropy.
    pub fn free_running_counter(&mut self) -> u32 {
        self.read(Reg::FreeRun)
    }

    /// Re-reads the PHY and sets the MAC's duplex to match.
    fn update_link(&mut self) {
        let Ok(link) = self.read_link() else {
            return;
        };
        if link != self.link() {
            match link {
                Some(l) => log::info!(
                    "lan9118: link up, {} Mbit/s {} duplex",
                    l.mbps,
                    if l.full_duplex { "full" } else { "half" }
                ),
                None => log::warn!("lan9118: link down"),
            }
            if let Some(l) = link {
                let _ = self.set_mac_mode(l.full_duplex);
            }
            self.set_link(link);
        }
    }

    /// The negotiated link, or `None` while it is down or negotiating.
    fn read_link(&mut self) -> Result<Option<LinkMode>, InitError> {
        let status = self.phy_read(phy::BSR)?;
        if status & phy::bsr::LINK_UP == 0 || status & phy::bsr::AN_COMPLETE == 0 {
            return Ok(None);
        }
        let ours = self.phy_read(phy::ANAR)?;
        let partners = self.phy_read(phy::ANLPAR)?;
        Ok(frame::resolve_link_mode(ours, partners))
    }

    /// Accepts frames to the multicast MAC addresses `groups` too, through
    /// the chip's hash filter (which lets a few other groups through: one
    /// in 64 by their hash). IPv6 needs this: a neighbor solicitation for
    /// one of our addresses goes to its solicited-node group
    /// (33:33:ff:xx:xx:xx), never to our MAC address. Replaces the groups
    /// set before; call after [`Lan9118::init`].
    pub fn accept_multicast(&mut self, groups: &[[u8; 6]]) -> Result<(), InitError> {
        let (high, low) = frame::multicast_hash_filter(groups);
        self.mac_write(mac::HASHH, high)?;
        self.mac_write(mac::HASHL, low)?;
        self.hash_high = high;
        self.hash_low = low;
        let full_duplex = self.mac_read(mac::MAC_CR)? & mac::cr::FDPX != 0;
        self.set_mac_mode(full_duplex)
    }

    /// Sets `MAC_CR`: receiver and transmitter on, the duplex, and the hash
    /// filter for multicast if any group was accepted.
    fn set_mac_mode(&mut self, full_duplex: bool) -> Result<(), InitError> {
        let duplex = if full_duplex { mac::cr::FDPX } else { 0 };
        let multicast = if self.hash_high | self.hash_low != 0 {
            mac::cr::HPFILT
        } else {
            0
        };
        self.mac_write(
            mac::MAC_CR,
            mac::cr::TXEN | mac::cr::RXEN | duplex | multicast,
        )
    }

    /// Takes the next good frame from the RX FIFO into `self.rx`, skipping
    /// (and counting) bad ones; its length, or `None` when none waits.
    fn read_frame(&mut self) -> Option<usize> {
        for _ in 0..MAX_SKIPPED_PER_RECEIVE {
            if !self.frames_waiting() {
                return None;
            }
            // One status per frame, then exactly that frame's words.
            let status = RxStatus(self.read(Reg::RxStatusFifo));
            let words = status.fifo_words();
            // A frame longer than the buffer is too long for this driver.
            let checked = status.check().and_then(|len| {
                if len > FRAME {
                    Err(RxError::TooLong)
                } else {
                    Ok(len)
                }
            });
            match checked {
                Ok(len) => {
                    // The frame fits the buffer; the FCS lands after it, as
                    // far as the buffer goes, and is left out.
                    for i in 0..words {
                        let word = self.read(Reg::RxDataFifo);
                        if let Some(rest) = self.rx.get_mut(i * 4..) {
                            store_word(word, rest);
                        }
                    }
                    // Real chip: RX_FIFO_INF (read next) lags the reads.
                    self.settle();
                    let stats = &mut self.port.stats;
                    stats.rx_frames += 1;
                    stats.rx_bytes += len as u64;
                    debug_assert!(len + FCS_LEN <= words * 4);
                    return Some(len);
                }
                Err(error) => {
                    self.port.stats.rx_errors[error.index()] += 1;
                    log::debug!(
                        "lan9118: dropped a {}-byte frame: {}",
                        status.length_with_fcs(),
                        error.name()
                    );
                    self.discard(words);
                }
            }
        }
        None
    }

    /// Skips the `words` words of the frame at the head of the RX data FIFO.
    /// Real chip: for 4 words or more, `RX_DP_CTRL.RX_FFWD` skips them
    /// faster (write it, then wait for it to read 0); reading them out, as
    /// here, is always correct and is what QEMU's model handles best.
    fn discard(&mut self, words: usize) {
        for _ in 0..words {
            let _ = self.read(Reg::RxDataFifo);
        }
        self.settle();
    }

    fn read(&mut self, reg: Reg) -> u32 {
        self.port.bus.read(reg)
    }

    fn write(&mut self, reg: Reg, value: u32) {
        self.port.bus.write(reg, value)
    }

    /// Real chip: the datasheet's "read after write" rules ask for a short
    /// delay between writing some registers (INT_STS, INT_EN, IRQ_CFG, ...)
    /// and reading registers they affect, given in the datasheet as a
    /// number of BYTE_TEST reads: reading it is a harmless way to wait one
    /// bus cycle. Four cover the cases this driver runs into.
    fn settle(&mut self) {
        for _ in 0..4 {
            let _ = self.read(Reg::ByteTest);
        }
    }

    /// Waits until `reg & mask == want`, at most [`WAIT_READS`] reads.
    fn wait(&mut self, reg: Reg, mask: u32, want: u32) -> bool {
        (0..WAIT_READS).any(|_| self.read(reg) & mask == want)
    }

    /// Writes MAC register `index` through MAC_CSR_DATA and MAC_CSR_CMD.
    fn mac_write(&mut self, index: u8, value: u32) -> Result<(), InitError> {
        if !self.wait(Reg::MacCsrCmd, mac_csr_cmd::BUSY, 0) {
            return Err(InitError::MacTimeout);
        }
        self.write(Reg::MacCsrData, value);
        self.write(Reg::MacCsrCmd, mac_csr_cmd::command(index, false));
        if !self.wait(Reg::MacCsrCmd, mac_csr_cmd::BUSY, 0) {
            return Err(InitError::MacTimeout);
        }
        Ok(())
    }

    /// Reads MAC register `index`: the command, then MAC_CSR_DATA once
    /// the access is no longer busy.
    fn mac_read(&mut self, index: u8) -> Result<u32, InitError> {
        if !self.wait(Reg::MacCsrCmd, mac_csr_cmd::BUSY, 0) {
            return Err(InitError::MacTimeout);
        }
        self.write(Reg::MacCsrCmd, mac_csr_cmd::command(index, true));
        if !self.wait(Reg::MacCsrCmd, mac_csr_cmd::BUSY, 0) {
            return Err(InitError::MacTimeout);
        }
        Ok(self.read(Reg::MacCsrData))
    }

    fn wait_mii_idle(&mut self) -> Result<(), InitError> {
        for _ in 0..1000 {
            if self.mac_read(mac::MII_ACC)? & mii_acc::BUSY == 0 {
                return Ok(());
            }
        }
        Err(InitError::PhyTimeout)
    }

    /// Reads PHY register `reg`: MII_ACC (a MAC register) starts the
    /// access, MII_DATA (another) has the value when it is done.
    fn phy_read(&mut self, reg: u8) -> Result<u16, InitError> {
        self.wait_mii_idle()?;
        let command = mii_acc::command(mii_acc::INTERNAL_PHY, reg, false);
        self.mac_write(mac::MII_ACC, command)?;
        self.wait_mii_idle()?;
        Ok(self.mac_read(mac::MII_DATA)? as u16)
    }

    /// Writes PHY register `reg`: MII_DATA first, then MII_ACC.
    fn phy_write(&mut self, reg: u8, value: u16) -> Result<(), InitError> {
        self.wait_mii_idle()?;
        self.mac_write(mac::MII_DATA, u32::from(value))?;
        let command = mii_acc::command(mii_acc::INTERNAL_PHY, reg, true);
        self.mac_write(mac::MII_ACC, command)?;
        self.wait_mii_idle()
    }
}

impl<B: Bus, const FRAME: usize> Port<B, FRAME> {
    /// Pops every TX status waiting and counts the failed frames.
    /// Real chip: a full TX status FIFO stops the transmitter (unless
    /// `TX_CFG.TXSAO`), so statuses must be taken, not just ignored.
    fn collect_tx_status(&mut self) {
        let waiting = tx_fifo_inf::status_used(self.bus.read(Reg::TxFifoInf));
        for _ in 0..waiting {
            let status = TxStatus(self.bus.read(Reg::TxStatusFifo));
            if status.is_error() {
                self.stats.tx_errors += 1;
                log::debug!("lan9118: frame {} failed: {:#010x}", status.tag(), status.0);
            }
        }
    }

    /// Whether the TX data FIFO has room for a frame of `len` bytes.
    fn has_room(&mut self, len: usize) -> bool {
        let free = tx_fifo_inf::data_free(self.bus.read(Reg::TxFifoInf)) as usize;
        free >= frame::tx_fifo_bytes(len)
    }

    /// Writes the frame in `self.tx[..len]` to the TX data FIFO: command A,
    /// command B, then the data, four bytes a word, the last one padded.
    /// Writing without room would overflow the FIFO (TDFO) and garble the
    /// frame, so it waits for room first, boundedly: the chip sends at
    /// line rate, so room comes within a frame time unless it is stuck.
    fn send(&mut self, len: usize) {
        self.collect_tx_status();
        if !(0..WAIT_READS / 1000).any(|_| self.has_room(len)) {
            self.stats.tx_dropped += 1;
            return;
        }
        self.tag = self.tag.wrapping_add(1);
        self.bus.write(Reg::TxDataFifo, frame::tx_command_a(len));
        self.bus
            .write(Reg::TxDataFifo, frame::tx_command_b(self.tag, len));
        for chunk in self.tx[..len].chunks(4) {
            self.bus.write(Reg::TxDataFifo, frame::load_word(chunk));
        }
        // Real chip: TX_FIFO_INF (read before the next frame) lags the
        // writes.
        for _ in 0..4 {
            let _ = self.bus.read(Reg::ByteTest);
        }
        self.stats.tx_frames += 1;
        self.stats.tx_bytes += len as u64;
    }
}

impl<B: Bus, const FRAME: usize> Device for Lan9118<B, FRAME> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, B, FRAME>
    where
        Self: 'a;

    fn receive(&mut self, _timestamp: Instant) -> Option<(RxToken<'_>, TxToken<'_, B, FRAME>)> {
        let len = self.read_frame()?;
        Some((
            // `read_frame` bounds the length by the buffer.
            RxToken(self.rx.get(..len).unwrap_or(&[])),
            TxToken {
                port: &mut self.port,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<TxToken<'_, B, FRAME>> {
        self.port.collect_tx_status();
        if !self.port.has_room(FRAME) {
            // The chip is still sending earlier frames; smoltcp retries on
            // its next poll.
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
        caps.max_transmission_unit = FRAME;
        // One frame at a time is all the FIFO guarantees room for.
        caps.max_burst_size = Some(1);
        caps
    }
}

/// A received frame, already copied out of the chip. (smoltcp may answer
/// it at once, through the [`TxToken`] handed out with it.)
pub struct RxToken<'a>(&'a [u8]);

impl smoltcp::phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

/// Room for one frame to send; the frame goes to the chip when consumed.
pub struct TxToken<'a, B, const FRAME: usize = MTU> {
    port: &'a mut Port<B, FRAME>,
}

impl<B: Bus, const FRAME: usize> smoltcp::phy::TxToken for TxToken<'_, B, FRAME> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU it was given.
        let len = len.min(FRAME);
        let result = f(&mut self.port.tx[..len]);
        self.port.send(len);
        result
    }
}

#[cfg(test)]
mod tests;
