//! The pure part of the driver: what the status words say and what the
//! command words must be. No register access here, so all of it is unit
//! tested on the host.

use crate::regs::{phy, rx_status, tx_cmd_a, tx_cmd_b, tx_status};

/// The Ethernet frame check sequence the chip leaves at the end of every
/// received frame.
pub const FCS_LEN: usize = 4;

/// An Ethernet header: a frame must have at least this much to be passed on.
pub const HEADER_LEN: usize = 14;

/// The longest frame this driver handles, FCS included: 1500 bytes of
/// payload, the 14-byte header, a 4-byte VLAN tag and the FCS. The chip flags
/// longer ones (`TOO_LONG`) anyway.
pub const MAX_FRAME_WITH_FCS: usize = 1500 + HEADER_LEN + 4 + FCS_LEN;

/// How many 32-bit FIFO words carry `bytes` bytes (with no start offset
/// and 4-byte end alignment, as this driver configures both FIFOs).
pub const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

/// One RX status word, as popped from `RX_STATUS_FIFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxStatus(pub u32);

/// Why a received frame was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxError {
    /// The FCS did not match: corrupted on the wire.
    Crc,
    /// Shorter than the 64-byte minimum on the wire (a collision fragment).
    Runt,
    /// Longer than [`MAX_FRAME_WITH_FCS`], or flagged too long by the chip.
    TooLong,
    /// A late collision, an MII error or a receive watchdog timeout.
    Link,
    /// The chip's address filter rejected it (only with `MAC_CR.RXALL`).
    Filtered,
    /// Too short to hold an Ethernet header and the FCS.
    Truncated,
}

impl RxError {
    /// Every error, in the order of [`RxError::index`].
    pub const ALL: [RxError; 6] = [
        RxError::Crc,
        RxError::Runt,
        RxError::TooLong,
        RxError::Link,
        RxError::Filtered,
        RxError::Truncated,
    ];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn name(self) -> &'static str {
        match self {
            RxError::Crc => "crc",
            RxError::Runt => "runt",
            RxError::TooLong => "too long",
            RxError::Link => "link",
            RxError::Filtered => "filtered",
            RxError::Truncated => "truncated",
        }
    }
}

impl RxStatus {
    /// The frame's length in bytes, the FCS included.
    pub const fn length_with_fcs(self) -> usize {
        ((self.0 >> rx_status::LENGTH_SHIFT) & rx_status::LENGTH_MASK) as usize
    }

    /// How many words the frame occupies in the RX data FIFO: all of them
    /// must be read (or fast-forwarded) before the next frame's.
    pub const fn fifo_words(self) -> usize {
        words_for(self.length_with_fcs())
    }

    pub const fn is_broadcast(self) -> bool {
        self.0 & rx_status::BROADCAST != 0
    }

    pub const fn is_multicast(self) -> bool {
        self.0 & rx_status::MULTICAST != 0
    }

    /// Whether the frame is to be passed on; if so, its length without the
    /// FCS. The most specific error wins when several bits are set.
    pub const fn check(self) -> Result<usize, RxError> {
        let s = self.0;
        let length = self.length_with_fcs();
        if s & rx_status::FILTER_FAIL != 0 {
            return Err(RxError::Filtered);
        }
        if s & rx_status::CRC_ERROR != 0 {
            return Err(RxError::Crc);
        }
        if s & rx_status::RUNT != 0 {
            return Err(RxError::Runt);
        }
        if s & rx_status::TOO_LONG != 0 || length > MAX_FRAME_WITH_FCS {
            return Err(RxError::TooLong);
        }
        if s & (rx_status::LATE_COLLISION | rx_status::MII_ERROR | rx_status::WATCHDOG_TIMEOUT) != 0
        {
            return Err(RxError::Link);
        }
        // The summary bit without any of the bits above: still an error.
        if s & rx_status::ERROR != 0 {
            return Err(RxError::Link);
        }
        if length < HEADER_LEN + FCS_LEN {
            return Err(RxError::Truncated);
        }
        // LENGTH_ERROR is not checked: it compares an 802.3 length field
        // with the data, and an Ethernet II type field is no length.
        Ok(length - FCS_LEN)
    }
}

/// TX command A for a frame sent as one buffer of `len` bytes: first and
/// last segment, no data offset, 4-byte end alignment, no interrupt.
pub const fn tx_command_a(len: usize) -> u32 {
    tx_cmd_a::FIRST_SEGMENT | tx_cmd_a::LAST_SEGMENT | (len as u32 & tx_cmd_a::BUFFER_SIZE_MASK)
}

/// TX command B for a frame of `len` bytes tagged `tag`; the chip appends
/// the FCS and pads short frames to the 64-byte minimum.
pub const fn tx_command_b(tag: u16, len: usize) -> u32 {
    ((tag as u32) << tx_cmd_b::TAG_SHIFT) | (len as u32 & tx_cmd_b::FRAME_LENGTH_MASK)
}

/// How many bytes of TX data FIFO a frame of `len` bytes takes: the two
/// command words and the data rounded up to whole words.
pub const fn tx_fifo_bytes(len: usize) -> usize {
    8 + words_for(len) * 4
}

/// One TX status word, as popped from `TX_STATUS_FIFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStatus(pub u32);

impl TxStatus {
    /// The tag given in TX command B.
    pub const fn tag(self) -> u16 {
        (self.0 >> tx_status::TAG_SHIFT) as u16
    }

    pub const fn is_error(self) -> bool {
        self.0 & tx_status::ERROR != 0
    }
}

/// `MAC_ADDRH` and `MAC_ADDRL` for `mac`: the address is stored little
/// endian, byte 0 in `ADDRL` bits 7:0, byte 5 in `ADDRH` bits 15:8.
pub const fn mac_address_registers(mac: [u8; 6]) -> (u32, u32) {
    let high = u32::from_le_bytes([mac[4], mac[5], 0, 0]);
    let low = u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]);
    (high, low)
}

/// The bit of the 64-bit multicast hash filter (`HASHH`:`HASHL`) that
/// passes frames to `group`: the top six bits of the address's Ethernet
/// CRC-32 (bits fed least significant first, no final inversion), as the
/// chip computes it. Bit 5 of the result picks `HASHH`, the rest the bit in
/// it.
pub const fn multicast_hash_bit(group: [u8; 6]) -> u32 {
    const POLYNOMIAL: u32 = 0x04C1_1DB7;
    let mut crc = u32::MAX;
    let mut i = 0;
    while i < group.len() {
        let mut byte = group[i];
        let mut bit = 0;
        while bit < 8 {
            let carry = (crc >> 31) ^ (byte as u32 & 1);
            crc <<= 1;
            if carry != 0 {
                crc ^= POLYNOMIAL;
            }
            byte >>= 1;
            bit += 1;
        }
        i += 1;
    }
    crc >> 26
}

/// `MAC_HASHH` and `MAC_HASHL` passing frames to every address of
/// `groups`. A hash filter is not exact: a few other groups (one in 64,
/// by their hash) pass too.
pub fn multicast_hash_filter(groups: &[[u8; 6]]) -> (u32, u32) {
    let (mut high, mut low) = (0, 0);
    for group in groups {
        let bit = multicast_hash_bit(*group);
        if bit & 0x20 != 0 {
            high |= 1 << (bit & 0x1F);
        } else {
            low |= 1 << (bit & 0x1F);
        }
    }
    (high, low)
}

/// What auto-negotiation settled on: the best mode both sides advertise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMode {
    pub mbps: u16,
    pub full_duplex: bool,
}

/// The link mode from our advertisement (`ANAR`) and the partner's
/// (`ANLPAR`), by the 802.3 priority order; `None` if they share none.
pub const fn resolve_link_mode(ours: u16, partners: u16) -> Option<LinkMode> {
    let common = ours & partners;
    let (mbps, full_duplex) = if common & phy::an::TX_100_FULL != 0 {
        (100, true)
    } else if common & phy::an::TX_100_HALF != 0 {
        (100, false)
    } else if common & phy::an::T_10_FULL != 0 {
        (10, true)
    } else if common & phy::an::T_10_HALF != 0 {
        (10, false)
    } else {
        return None;
    };
    Some(LinkMode { mbps, full_duplex })
}

/// Copies FIFO word `word` (little endian: the first byte in bits 7:0) to
/// `out`, as many bytes as fit.
pub fn store_word(word: u32, out: &mut [u8]) {
    let bytes = word.to_le_bytes();
    let n = out.len().min(4);
    out[..n].copy_from_slice(&bytes[..n]);
}

/// The FIFO word carrying `chunk` (1 to 4 bytes), zero padded.
pub fn load_word(chunk: &[u8]) -> u32 {
    let mut bytes = [0u8; 4];
    let n = chunk.len().min(4);
    bytes[..n].copy_from_slice(&chunk[..n]);
    u32::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::regs::rx_status as rs;

    fn status(len_with_fcs: u32, bits: u32) -> RxStatus {
        RxStatus((len_with_fcs << rs::LENGTH_SHIFT) | bits)
    }

    #[test]
    fn multicast_groups_hash_as_the_chip_does() {
        // Values from the CRC the chip (and QEMU's model, and Linux's
        // smsc911x driver) uses: ether_crc(6, address) >> 26.
        let all_nodes = [0x33, 0x33, 0, 0, 0, 0x01];
        let solicited_node_of_1 = [0x33, 0x33, 0xFF, 0, 0, 0x01];
        assert_eq!(multicast_hash_bit(all_nodes), 62);
        assert_eq!(multicast_hash_bit(solicited_node_of_1), 29);
        assert_eq!(multicast_hash_bit([0x01, 0x00, 0x5E, 0, 0, 0x01]), 31);
        assert_eq!(multicast_hash_bit([0x33, 0x33, 0, 0, 0, 0x16]), 6);
        assert_eq!(
            multicast_hash_filter(&[all_nodes, solicited_node_of_1]),
            (1 << 30, 1 << 29)
        );
        assert_eq!(multicast_hash_filter(&[]), (0, 0));
    }

    #[test]
    fn a_good_frame_is_passed_on_without_its_fcs() {
        // A minimum Ethernet frame: 60 bytes + FCS, Ethernet II.
        let s = status(64, rs::FRAME_TYPE);
        assert_eq!(s.length_with_fcs(), 64);
        assert_eq!(s.fifo_words(), 16);
        assert_eq!(s.check(), Ok(60));
        // A full-size one.
        assert_eq!(status(1518, rs::FRAME_TYPE).check(), Ok(1514));
        // With a VLAN tag.
        assert_eq!(status(1522, 0).check(), Ok(1518));
    }

    #[test]
    fn odd_lengths_round_up_to_whole_words() {
        // An ARP request as a TAP sends it, unpadded: 42 bytes + FCS.
        let s = status(46, rs::BROADCAST | rs::FRAME_TYPE);
        assert_eq!(s.fifo_words(), 12);
        assert!(s.is_broadcast());
        assert!(!s.is_multicast());
        assert_eq!(s.check(), Ok(42));
        for (len, words) in [(18, 5), (19, 5), (20, 5), (21, 6), (1517, 380), (1518, 380)] {
            assert_eq!(status(len, 0).fifo_words(), words, "length {len}");
        }
    }

    #[test]
    fn the_length_field_is_fourteen_bits() {
        // Bits 31:30 are not part of the length.
        let s = RxStatus((0x3FFF << 16) | (1 << 31));
        assert_eq!(s.length_with_fcs(), 0x3FFF);
        assert_eq!(s.check(), Err(RxError::TooLong));
    }

    #[test]
    fn errors_are_reported_by_kind() {
        assert_eq!(
            status(64, rs::ERROR | rs::CRC_ERROR).check(),
            Err(RxError::Crc)
        );
        assert_eq!(status(40, rs::ERROR | rs::RUNT).check(), Err(RxError::Runt));
        assert_eq!(
            status(1600, rs::ERROR | rs::TOO_LONG).check(),
            Err(RxError::TooLong)
        );
        assert_eq!(
            status(1523, 0).check(),
            Err(RxError::TooLong),
            "longer than a VLAN frame"
        );
        assert_eq!(
            status(64, rs::ERROR | rs::LATE_COLLISION).check(),
            Err(RxError::Link)
        );
        assert_eq!(status(64, rs::MII_ERROR).check(), Err(RxError::Link));
        assert_eq!(status(64, rs::WATCHDOG_TIMEOUT).check(), Err(RxError::Link));
        assert_eq!(
            status(64, rs::ERROR).check(),
            Err(RxError::Link),
            "summary bit alone"
        );
        assert_eq!(status(64, rs::FILTER_FAIL).check(), Err(RxError::Filtered));
        assert_eq!(status(17, 0).check(), Err(RxError::Truncated));
        assert_eq!(status(0, 0).check(), Err(RxError::Truncated));
    }

    #[test]
    fn harmless_bits_do_not_drop_a_frame() {
        // A length error is about 802.3 length fields; dribbling bits are
        // not counted as an error by the chip either.
        assert_eq!(
            status(64, rs::LENGTH_ERROR | rs::DRIBBLING | rs::MULTICAST).check(),
            Ok(60)
        );
    }

    #[test]
    fn error_names_and_indices_agree() {
        for (i, e) in RxError::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(!e.name().is_empty());
        }
    }

    #[test]
    fn tx_commands_describe_one_buffer_frames() {
        let a = tx_command_a(42);
        assert_eq!(a & 0x7FF, 42);
        assert_ne!(a & tx_cmd_a::FIRST_SEGMENT, 0);
        assert_ne!(a & tx_cmd_a::LAST_SEGMENT, 0);
        assert_eq!(a & tx_cmd_a::INTERRUPT_ON_COMPLETION, 0);
        assert_eq!((a >> 16) & 0x1F, 0, "no data offset");
        assert_eq!((a >> 24) & 0x3, 0, "4-byte end alignment");
        assert_eq!(a, 0x0000_302A);
        assert_eq!(tx_command_b(0xBEEF, 1514), 0xBEEF_05EA);
        assert_eq!(tx_fifo_bytes(42), 8 + 44);
        assert_eq!(tx_fifo_bytes(1514), 8 + 1516);
    }

    #[test]
    fn tx_status_has_the_tag_and_the_error_summary() {
        let ok = TxStatus(0x1234_0000);
        assert_eq!(ok.tag(), 0x1234);
        assert!(!ok.is_error());
        let lost = TxStatus(0x0001_0000 | tx_status::ERROR | tx_status::NO_CARRIER);
        assert_eq!(lost.tag(), 1);
        assert!(lost.is_error());
    }

    #[test]
    fn the_mac_address_is_stored_little_endian() {
        assert_eq!(
            mac_address_registers([0x02, 0, 0, 0, 0, 0x01]),
            (0x0000_0100, 0x0000_0002)
        );
        assert_eq!(
            mac_address_registers([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
            (0x0000_5634, 0x1200_5452)
        );
    }

    #[test]
    fn the_link_mode_is_the_best_common_one() {
        use crate::regs::phy::an::*;
        let full = |mbps| {
            Some(LinkMode {
                mbps,
                full_duplex: true,
            })
        };
        let half = |mbps| {
            Some(LinkMode {
                mbps,
                full_duplex: false,
            })
        };
        assert_eq!(resolve_link_mode(ALL_10_100, ALL_10_100), full(100));
        // QEMU's PHY model reports partner 0x0F71: 100 full, 10 full and
        // half, the 802.3 selector and a few more bits.
        assert_eq!(resolve_link_mode(ALL_10_100, 0x0F71), full(100));
        assert_eq!(
            resolve_link_mode(ALL_10_100, TX_100_HALF | T_10_FULL),
            half(100)
        );
        assert_eq!(resolve_link_mode(ALL_10_100, T_10_FULL), full(10));
        assert_eq!(resolve_link_mode(ALL_10_100, T_10_HALF), half(10));
        assert_eq!(resolve_link_mode(T_10_HALF, TX_100_FULL), None);
    }

    #[test]
    fn words_carry_bytes_little_endian() {
        assert_eq!(load_word(&[1, 2, 3, 4]), 0x0403_0201);
        assert_eq!(load_word(&[0xAA]), 0x0000_00AA);
        let mut out = [0u8; 3];
        store_word(0x0403_0201, &mut out);
        assert_eq!(out, [1, 2, 3]);
        let mut out = [0u8; 4];
        store_word(load_word(&[9, 8, 7, 6]), &mut out);
        assert_eq!(out, [9, 8, 7, 6]);
    }
}
