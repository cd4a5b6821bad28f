//! The LAN9118 register map: the system control and status registers (CSRs)
//! at byte offsets from the chip's base address, the MAC registers reached
//! indirectly through `MAC_CSR_CMD`/`MAC_CSR_DATA`, and the registers of the
//! internal PHY reached through the MAC's `MII_ACC`/`MII_DATA`.
//!
//! Names and bit positions follow the SMSC LAN9118 datasheet's register
//! description; the LAN9220/9221 and LAN9115-9117 use the same map.
//! Everything is 32 bits wide and little endian.

/// A system control and status register: its byte offset from the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reg {
    /// Receive data FIFO port (0x00..0x1C all alias it): each read pops one
    /// 32-bit word of the frame at the head of the RX data FIFO.
    RxDataFifo = 0x00,
    /// Transmit data FIFO port (0x20..0x3C all alias it): TX command A,
    /// TX command B, then the frame's words.
    TxDataFifo = 0x20,
    /// Pops one RX status word (one per received frame, see [`rx_status`]).
    RxStatusFifo = 0x40,
    /// Reads the head RX status word without popping it.
    RxStatusFifoPeek = 0x44,
    /// Pops one TX status word (one per sent frame, see [`tx_status`]).
    TxStatusFifo = 0x48,
    TxStatusFifoPeek = 0x4C,
    /// Chip ID (31:16, e.g. 0x0118 or 0x9220) and revision (15:0).
    IdRev = 0x50,
    /// Interrupt pin configuration, see [`irq_cfg`].
    IrqCfg = 0x54,
    /// Interrupt status, write 1 to clear, see [`int`].
    IntSts = 0x58,
    /// Interrupt enable, same bits as `INT_STS`.
    IntEn = 0x5C,
    /// Always reads 0x8765_4321: checks the bus and its byte order.
    ByteTest = 0x64,
    /// FIFO level interrupt thresholds, see [`fifo_int`].
    FifoInt = 0x68,
    /// Receive configuration, see [`rx_cfg`].
    RxCfg = 0x6C,
    /// Transmit configuration, see [`tx_cfg`].
    TxCfg = 0x70,
    /// Hardware configuration and soft reset, see [`hw_cfg`].
    HwCfg = 0x74,
    /// RX datapath control: fast-forward past a frame, see [`rx_dp_ctrl`].
    RxDpCtrl = 0x78,
    /// RX FIFO fill levels, see [`rx_fifo_inf`].
    RxFifoInf = 0x7C,
    /// TX FIFO fill levels, see [`tx_fifo_inf`].
    TxFifoInf = 0x80,
    /// Power management; its READY bit says the chip is out of reset.
    PmtCtrl = 0x84,
    GpioCfg = 0x88,
    GptCfg = 0x8C,
    GptCnt = 0x90,
    WordSwap = 0x98,
    /// A free-running 25 MHz counter.
    FreeRun = 0x9C,
    /// Frames dropped because the RX FIFO was full (clears on read).
    RxDrop = 0xA0,
    /// Indirect access to the MAC registers, see [`mac_csr_cmd`] and [`mac`].
    MacCsrCmd = 0xA4,
    MacCsrData = 0xA8,
    /// Automatic flow control configuration.
    AfcCfg = 0xAC,
    E2pCmd = 0xB0,
    E2pData = 0xB4,
}

impl Reg {
    /// The byte offset from the chip's base address.
    pub const fn offset(self) -> usize {
        self as usize
    }
}

/// The value `BYTE_TEST` always reads.
pub const BYTE_TEST_VALUE: u32 = 0x8765_4321;

/// `IRQ_CFG`: how the IRQ pin behaves.
pub mod irq_cfg {
    /// Interrupt de-assertion interval (31:24), in units of 10 µs.
    pub const INT_DEAS_SHIFT: u32 = 24;
    /// Read only: the master interrupt, set while any enabled interrupt is.
    pub const IRQ_INT: u32 = 1 << 12;
    /// Drive the IRQ pin at all.
    pub const IRQ_EN: u32 = 1 << 8;
    /// 1: active high (0: active low).
    pub const IRQ_POL: u32 = 1 << 4;
    /// 1: push-pull (0: open drain).
    pub const IRQ_TYPE: u32 = 1 << 0;
}

/// `INT_STS` and `INT_EN` bits.
pub mod int {
    pub const SW_INT: u32 = 1 << 31;
    pub const TXSTOP_INT: u32 = 1 << 25;
    pub const RXSTOP_INT: u32 = 1 << 24;
    pub const RXDFH_INT: u32 = 1 << 23;
    pub const TX_IOC: u32 = 1 << 21;
    pub const RXD_INT: u32 = 1 << 20;
    pub const GPT_INT: u32 = 1 << 19;
    pub const PHY_INT: u32 = 1 << 18;
    pub const PME_INT: u32 = 1 << 17;
    /// TX status FIFO overflow.
    pub const TXSO: u32 = 1 << 16;
    /// Receive watchdog timeout (a frame longer than 2 kB).
    pub const RWT: u32 = 1 << 15;
    /// Receiver error: e.g. the RX data FIFO was read past a frame's end.
    pub const RXE: u32 = 1 << 14;
    /// Transmitter error: e.g. a malformed TX command.
    pub const TXE: u32 = 1 << 13;
    /// TX data FIFO underrun.
    pub const TDFU: u32 = 1 << 11;
    /// TX data FIFO overrun: words written without room for them.
    pub const TDFO: u32 = 1 << 10;
    /// TX data FIFO has the room set in `FIFO_INT` free.
    pub const TDFA: u32 = 1 << 9;
    pub const TSFF: u32 = 1 << 8;
    pub const TSFL: u32 = 1 << 7;
    /// A received frame was dropped (RX FIFO full).
    pub const RXDF_INT: u32 = 1 << 6;
    pub const RDFL: u32 = 1 << 5;
    pub const RSFF: u32 = 1 << 4;
    /// RX status FIFO level: more statuses (frames) waiting than
    /// `FIFO_INT`'s RX status level. With level 0: "a frame arrived".
    pub const RSFL: u32 = 1 << 3;
}

/// `FIFO_INT`: thresholds of the FIFO level interrupts.
pub mod fifo_int {
    pub const TX_DATA_AVAILABLE_SHIFT: u32 = 24;
    pub const TX_STATUS_LEVEL_SHIFT: u32 = 16;
    /// RSFL fires when more than this many RX statuses wait (7:0).
    pub const RX_STATUS_LEVEL_MASK: u32 = 0xFF;
}

/// `RX_CFG`.
pub mod rx_cfg {
    /// End alignment of each frame's data (31:30): 0 = 4 bytes.
    pub const END_ALIGN_SHIFT: u32 = 30;
    /// Discard everything in the RX FIFOs.
    pub const RX_DUMP: u32 = 1 << 15;
    /// Bytes of padding before each frame's data (12:8).
    pub const RXDOFF_SHIFT: u32 = 8;
}

/// `TX_CFG`.
pub mod tx_cfg {
    /// Discard everything in the TX status FIFO.
    pub const TXS_DUMP: u32 = 1 << 15;
    /// Discard everything in the TX data FIFO.
    pub const TXD_DUMP: u32 = 1 << 14;
    /// Let the TX status FIFO overflow (statuses are then lost, not waited for).
    pub const TXSAO: u32 = 1 << 2;
    /// Enable the transmitter.
    pub const TX_ON: u32 = 1 << 1;
    pub const STOP_TX: u32 = 1 << 0;
}

/// `HW_CFG`.
pub mod hw_cfg {
    /// Must be written as one.
    pub const MBO: u32 = 1 << 20;
    /// TX FIFO size in kB (19:16), data and status together; the RX FIFO
    /// gets the rest of the 16 kB. 5 is the reset default.
    pub const TX_FIF_SZ_SHIFT: u32 = 16;
    /// Soft reset; reads 1 until the reset is done.
    pub const SRST: u32 = 1 << 0;
}

/// `RX_DP_CTRL`.
pub mod rx_dp_ctrl {
    /// Skip the rest of the current frame; reads 1 until done. Only for
    /// frames of at least 4 words; shorter ones are read out instead.
    pub const RX_FFWD: u32 = 1 << 31;
}

/// `RX_FIFO_INF`.
pub mod rx_fifo_inf {
    /// RX status words waiting (23:16): one per received frame.
    pub const fn status_used(value: u32) -> u32 {
        (value >> 16) & 0xFF
    }
    /// Bytes waiting in the RX data FIFO (15:0).
    pub const fn data_used(value: u32) -> u32 {
        value & 0xFFFF
    }
}

/// `TX_FIFO_INF`.
pub mod tx_fifo_inf {
    /// TX status words waiting (23:16): one per frame sent.
    pub const fn status_used(value: u32) -> u32 {
        (value >> 16) & 0xFF
    }
    /// Free bytes in the TX data FIFO (15:0).
    pub const fn data_free(value: u32) -> u32 {
        value & 0xFFFF
    }
}

/// `PMT_CTRL`.
pub mod pmt_ctrl {
    /// Set once the chip is out of reset and its registers can be used.
    pub const READY: u32 = 1 << 0;
}

/// `MAC_CSR_CMD`: one indirect access to a MAC register.
pub mod mac_csr_cmd {
    /// Start the access; reads 1 until it is done.
    pub const BUSY: u32 = 1 << 31;
    /// 1: read into `MAC_CSR_DATA`; 0: write `MAC_CSR_DATA`.
    pub const READ: u32 = 1 << 30;
    /// The command word for an access to MAC register `index`.
    pub const fn command(index: u8, read: bool) -> u32 {
        BUSY | if read { READ } else { 0 } | index as u32
    }
}

/// The MAC registers, by index, and their bits.
pub mod mac {
    /// MAC control.
    pub const MAC_CR: u8 = 1;
    /// Our MAC address, bytes 4 and 5.
    pub const ADDRH: u8 = 2;
    /// Our MAC address, bytes 0 to 3.
    pub const ADDRL: u8 = 3;
    /// The multicast hash filter, bits 63:32 and 31:0 (see
    /// [`multicast_hash_bit`](crate::frame::multicast_hash_bit)); used
    /// while `MAC_CR.HPFILT` is set.
    pub const HASHH: u8 = 4;
    pub const HASHL: u8 = 5;
    /// Access to a PHY register, see [`mii_acc`](super::mii_acc).
    pub const MII_ACC: u8 = 6;
    pub const MII_DATA: u8 = 7;
    pub const FLOW: u8 = 8;

    /// `MAC_CR` bits.
    pub mod cr {
        /// Receive all frames, whatever their destination.
        pub const RXALL: u32 = 1 << 31;
        pub const LOOPBK: u32 = 1 << 21;
        /// Full duplex.
        pub const FDPX: u32 = 1 << 20;
        /// Pass all multicast frames.
        pub const MCPAS: u32 = 1 << 19;
        /// Promiscuous (the reset value).
        pub const PRMS: u32 = 1 << 18;
        pub const INVFILT: u32 = 1 << 17;
        pub const PASSBAD: u32 = 1 << 16;
        /// Hash-only filtering.
        pub const HO: u32 = 1 << 15;
        /// Multicast frames by the hash filter (`HASHH`:`HASHL`) instead
        /// of by our address (which no multicast frame matches).
        pub const HPFILT: u32 = 1 << 13;
        /// Set: do NOT receive broadcast frames (ARP needs them).
        pub const BCAST: u32 = 1 << 11;
        pub const PADSTR: u32 = 1 << 8;
        /// Enable the transmitter.
        pub const TXEN: u32 = 1 << 3;
        /// Enable the receiver.
        pub const RXEN: u32 = 1 << 2;
    }
}

/// The MAC's `MII_ACC` register: one access to a PHY register.
pub mod mii_acc {
    /// The PHY inside the LAN9118 answers at this address.
    pub const INTERNAL_PHY: u8 = 1;
    /// Write `MII_DATA` to the PHY register (else: read it into `MII_DATA`).
    pub const WRITE: u32 = 1 << 1;
    /// Start the access; reads 1 until it is done.
    pub const BUSY: u32 = 1 << 0;
    /// The command word for an access to register `reg` of PHY `phy`.
    pub const fn command(phy: u8, reg: u8, write: bool) -> u32 {
        ((phy as u32 & 0x1F) << 11)
            | ((reg as u32 & 0x1F) << 6)
            | if write { WRITE } else { 0 }
            | BUSY
    }
}

/// The standard (IEEE 802.3 clause 22) registers of the internal PHY.
pub mod phy {
    /// Basic control.
    pub const BCR: u8 = 0;
    /// Basic status.
    pub const BSR: u8 = 1;
    /// Auto-negotiation advertisement.
    pub const ANAR: u8 = 4;
    /// Auto-negotiation link partner ability.
    pub const ANLPAR: u8 = 5;

    pub mod bcr {
        pub const RESET: u16 = 1 << 15;
        pub const LOOPBACK: u16 = 1 << 14;
        pub const AN_ENABLE: u16 = 1 << 12;
        pub const RESTART_AN: u16 = 1 << 9;
    }

    pub mod bsr {
        pub const AN_COMPLETE: u16 = 1 << 5;
        pub const LINK_UP: u16 = 1 << 2;
    }

    /// Bits shared by `ANAR` and `ANLPAR`.
    pub mod an {
        pub const TX_100_FULL: u16 = 1 << 8;
        pub const TX_100_HALF: u16 = 1 << 7;
        pub const T_10_FULL: u16 = 1 << 6;
        pub const T_10_HALF: u16 = 1 << 5;
        /// Selector field: IEEE 802.3.
        pub const SELECTOR_802_3: u16 = 0x0001;
        /// What we advertise: every 10/100 mode.
        pub const ALL_10_100: u16 =
            TX_100_FULL | TX_100_HALF | T_10_FULL | T_10_HALF | SELECTOR_802_3;
    }
}

/// The RX status word popped from `RX_STATUS_FIFO`, one per frame.
pub mod rx_status {
    /// The frame failed the address filter (seen only with `MAC_CR.RXALL`).
    pub const FILTER_FAIL: u32 = 1 << 30;
    /// Frame length in bytes (29:16), the 4-byte FCS included.
    pub const LENGTH_SHIFT: u32 = 16;
    pub const LENGTH_MASK: u32 = 0x3FFF;
    /// Error summary: CRC error, runt, frame too long or late collision.
    pub const ERROR: u32 = 1 << 15;
    pub const BROADCAST: u32 = 1 << 13;
    /// An 802.3 length field that does not match the data (not an error for
    /// Ethernet II frames, whose type field is no length).
    pub const LENGTH_ERROR: u32 = 1 << 12;
    /// Shorter than 64 bytes on the wire.
    pub const RUNT: u32 = 1 << 11;
    pub const MULTICAST: u32 = 1 << 10;
    /// Longer than 1518 bytes (1522 with a VLAN tag).
    pub const TOO_LONG: u32 = 1 << 7;
    pub const LATE_COLLISION: u32 = 1 << 6;
    /// 1: Ethernet II (type field), 0: 802.3 (length field).
    pub const FRAME_TYPE: u32 = 1 << 5;
    pub const WATCHDOG_TIMEOUT: u32 = 1 << 4;
    pub const MII_ERROR: u32 = 1 << 3;
    pub const DRIBBLING: u32 = 1 << 2;
    pub const CRC_ERROR: u32 = 1 << 1;
}

/// TX command A, the first word written for a buffer.
pub mod tx_cmd_a {
    /// Raise `TX_IOC` when this buffer has gone out.
    pub const INTERRUPT_ON_COMPLETION: u32 = 1 << 31;
    /// Buffer end alignment (25:24): 0 = 4 bytes.
    pub const END_ALIGN_SHIFT: u32 = 24;
    /// Bytes of padding before the data in the first word (20:16).
    pub const DATA_OFFSET_SHIFT: u32 = 16;
    pub const FIRST_SEGMENT: u32 = 1 << 13;
    pub const LAST_SEGMENT: u32 = 1 << 12;
    /// Bytes in this buffer (10:0).
    pub const BUFFER_SIZE_MASK: u32 = 0x7FF;
}

/// TX command B, the second word: about the whole frame.
pub mod tx_cmd_b {
    /// A tag of our choosing (31:16), returned in the frame's TX status.
    pub const TAG_SHIFT: u32 = 16;
    /// Do not append the FCS.
    pub const ADD_CRC_DISABLE: u32 = 1 << 13;
    /// Do not pad frames shorter than 64 bytes.
    pub const DISABLE_PADDING: u32 = 1 << 12;
    /// Bytes in the whole frame (10:0), FCS not included.
    pub const FRAME_LENGTH_MASK: u32 = 0x7FF;
}

/// The TX status word popped from `TX_STATUS_FIFO`, one per frame sent.
pub mod tx_status {
    pub const TAG_SHIFT: u32 = 16;
    /// Error summary: any of the errors below.
    pub const ERROR: u32 = 1 << 15;
    pub const LOSS_OF_CARRIER: u32 = 1 << 11;
    pub const NO_CARRIER: u32 = 1 << 10;
    pub const LATE_COLLISION: u32 = 1 << 9;
    pub const EXCESSIVE_COLLISIONS: u32 = 1 << 8;
    pub const EXCESSIVE_DEFERRAL: u32 = 1 << 2;
}
