//! The register map of the Stellaris Ethernet controller (LM3S6965
//! datasheet, "Ethernet Controller"): the MAC's registers at byte offsets
//! from the controller's base address (0x4004_8000 on the LM3S6965), and
//! the registers of the internal PHY, reached through the MAC's MII
//! management registers (`MACMCTL`, `MACMTXD`, `MACMRXD`).
//!
//! Names and bit positions follow the datasheet. Everything is 32 bits wide
//! and little endian.

/// A MAC register: its byte offset from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reg {
    /// `MACRIS` on read (raw interrupt status, see [`int`]), `MACIACK` on
    /// write (write 1 to clear).
    RisIack = 0x00,
    /// `MACIM`: which interrupts reach the interrupt line, same bits.
    Im = 0x04,
    /// `MACRCTL`: receive control, see [`rctl`].
    Rctl = 0x08,
    /// `MACTCTL`: transmit control, see [`tctl`].
    Tctl = 0x0C,
    /// `MACDATA`: each read pops a word of the RX FIFO, each write pushes
    /// a word to the TX FIFO (see `frame.rs` for the layout of both).
    Data = 0x10,
    /// `MACIA0`: the first four bytes of the MAC address, first in bits 7:0.
    Ia0 = 0x14,
    /// `MACIA1`: the last two bytes of the MAC address.
    Ia1 = 0x18,
    /// `MACTHR`: the TX FIFO level at which the MAC starts sending early;
    /// 0x3F turns that off (a frame goes only when `MACTR` says so).
    Thr = 0x1C,
    /// `MACMCTL`: an MII management transaction, see [`mctl`].
    Mctl = 0x20,
    /// `MACMDV`: the MII management clock divider,
    /// F(MDC) = F(system clock) / (2 × (MDV + 1)), at most 2.5 MHz.
    Mdv = 0x24,
    /// `MACMTXD`: the value an MII write transaction writes.
    Mtxd = 0x2C,
    /// `MACMRXD`: the value an MII read transaction read.
    Mrxd = 0x30,
    /// `MACNP`: how many frames the RX FIFO holds (bits 5:0).
    Np = 0x34,
    /// `MACTR`: bit 0 (`NEWTX`) sends the frame in the TX FIFO, and reads 1
    /// until it has gone.
    Tr = 0x38,
}

impl Reg {
    /// The byte offset from the controller's base address.
    pub const fn offset(self) -> usize {
        self as usize
    }
}

/// `MACRIS`, `MACIACK` and `MACIM` bits.
pub mod int {
    /// A frame was received (`RXINT`).
    pub const RX: u32 = 1 << 0;
    /// A frame could not be sent: its length word was too long (`TXER`).
    pub const TX_ERROR: u32 = 1 << 1;
    /// The TX FIFO is empty: the frame has gone (`TXEMP`).
    pub const TX_EMPTY: u32 = 1 << 2;
    /// A frame was lost: the RX FIFO was full (`FOV`).
    pub const RX_OVERRUN: u32 = 1 << 3;
    /// A frame was received with an error (`RXER`).
    pub const RX_ERROR: u32 = 1 << 4;
    /// An MII management transaction completed (`MDINT`).
    pub const MII_DONE: u32 = 1 << 5;
    /// The PHY interrupted (`PHYINT`): see [`super::phy::MR17`].
    pub const PHY: u32 = 1 << 6;
    /// Every interrupt source.
    pub const ALL: u32 = 0x7F;
}

/// `MACRCTL` bits.
pub mod rctl {
    /// Receiver on.
    pub const RXEN: u32 = 1 << 0;
    /// Accept every multicast frame (the MAC has no multicast filter).
    pub const AMUL: u32 = 1 << 1;
    /// Promiscuous: accept every frame.
    pub const PRMS: u32 = 1 << 2;
    /// Reject frames with a bad FCS.
    pub const BADCRC: u32 = 1 << 3;
    /// Empty the RX FIFO (self-clearing; with the receiver off).
    pub const RSTFIFO: u32 = 1 << 4;
}

/// `MACTCTL` bits.
pub mod tctl {
    /// Transmitter on.
    pub const TXEN: u32 = 1 << 0;
    /// Pad frames shorter than 60 bytes.
    pub const PADEN: u32 = 1 << 1;
    /// Append the FCS.
    pub const CRC: u32 = 1 << 2;
    /// Full duplex. (QEMU's model names bit 3 for it but ignores it.)
    pub const DUPLEX: u32 = 1 << 4;
}

/// `MACMCTL` bits.
pub mod mctl {
    /// Starts the transaction; reads 1 until it is done.
    pub const START: u32 = 1 << 0;
    /// A write (else a read).
    pub const WRITE: u32 = 1 << 1;
    /// The PHY register's number, bits 7:3.
    pub const REGADR_SHIFT: u32 = 3;

    /// The `MACMCTL` value that starts an access to PHY register `reg`.
    pub const fn command(reg: u8, write: bool) -> u32 {
        (((reg & 0x1F) as u32) << REGADR_SHIFT) | if write { WRITE } else { 0 } | START
    }
}

/// `MACTR` bits.
pub mod tr {
    /// Send the frame in the TX FIFO; reads 1 until it has gone.
    pub const NEWTX: u32 = 1 << 0;
}

/// `MACNP`: the frame count's bits.
pub const NP_MASK: u32 = 0x3F;

/// `MACTHR` value that sends a frame only when `MACTR.NEWTX` is set.
pub const THR_OFF: u32 = 0x3F;

/// The registers of the internal PHY (the datasheet's MR0..MR24).
pub mod phy {
    /// Control: reset, auto-negotiation.
    pub const MR0: u8 = 0;
    /// Status: link, auto-negotiation complete. Latched low: read twice
    /// for the current link.
    pub const MR1: u8 = 1;
    /// Interrupt control (enables, 15:8) and status (7:0, clear on read).
    pub const MR17: u8 = 17;
    /// Diagnostic: the negotiated speed and duplex.
    pub const MR18: u8 = 18;

    /// MR1 bits.
    pub mod mr1 {
        pub const LINK: u16 = 1 << 2;
        pub const AN_COMPLETE: u16 = 1 << 5;
    }

    /// MR17 bits: the interrupt enables are the status bits shifted by 8.
    pub mod mr17 {
        /// Auto-negotiation completed.
        pub const AN_COMPLETE: u16 = 1 << 0;
        /// The link went up or down.
        pub const LINK_CHANGE: u16 = 1 << 2;
        /// Enables are in the high byte.
        pub const ENABLE_SHIFT: u16 = 8;
    }

    /// MR18 bits.
    pub mod mr18 {
        /// The link negotiated full duplex.
        pub const DUPLEX: u16 = 1 << 11;
        /// The link negotiated 100 Mbit/s.
        pub const RATE_100: u16 = 1 << 10;
    }
}
