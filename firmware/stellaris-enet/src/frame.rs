//! The pure part of the driver: the FIFO's frame layout, the MAC address
//! registers, the address filter and the PHY's link report. No register
//! access here, so all of it is unit tested on the host.
//!
//! **The FIFO layout.** Both FIFOs carry a frame behind a 2-byte length, in
//! 32-bit words, little endian:
//!
//! ```text
//! RX word 0: length (15:0, counts itself, the frame and its FCS), frame[0], frame[1]
//! RX word 1: frame[2..6] ... then the 4-byte FCS, the last word zero-padded
//! TX word 0: frame length - 14 (15:0: the payload only), frame[0], frame[1]
//! TX word 1: frame[2..6] ... the last word padded (the MAC appends the FCS)
//! ```

use crate::regs::phy;

/// The Ethernet header: a frame must have at least this much to be passed on.
pub const HEADER_LEN: usize = 14;

/// The frame check sequence the MAC leaves at the end of a received frame.
pub const FCS_LEN: usize = 4;

/// The length field at the start of a frame in either FIFO.
pub const LENGTH_FIELD: usize = 2;

/// The largest frame handed to or taken from smoltcp: a 1500-byte payload
/// and the 14-byte header (the MAC appends and checks the FCS).
pub const MTU: usize = 1514;

/// The RX FIFO's size: no length field can be larger on a working chip.
pub const RX_FIFO_BYTES: usize = 2048;

/// The largest RX length field of a frame this driver passes on.
pub const MAX_RX_FIELD: usize = LENGTH_FIELD + MTU + FCS_LEN;

/// The smallest: a header and the FCS.
pub const MIN_RX_FIELD: usize = LENGTH_FIELD + HEADER_LEN + FCS_LEN;

/// How many 32-bit FIFO words carry `bytes` bytes.
pub const fn words_for(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

/// The first word of a frame in the RX FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxHeader(pub u32);

/// Why a received frame was not passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxError {
    /// Shorter than an Ethernet header and its FCS.
    Runt,
    /// Longer than [`MTU`] (a VLAN tag, a jumbo frame): smoltcp could not
    /// use it.
    TooLong,
    /// A length no frame can have (0..3, or more than the FIFO holds): the
    /// driver has lost its place in the FIFO, which must be emptied.
    Corrupt,
}

impl RxError {
    /// Every error, in the order of [`RxError::index`].
    pub const ALL: [RxError; 3] = [RxError::Runt, RxError::TooLong, RxError::Corrupt];

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn name(self) -> &'static str {
        match self {
            RxError::Runt => "runt",
            RxError::TooLong => "too long",
            RxError::Corrupt => "corrupt length",
        }
    }
}

impl RxHeader {
    /// The length field: the frame, its FCS and the field itself, in bytes.
    pub const fn field(self) -> usize {
        (self.0 & 0xFFFF) as usize
    }

    /// The words the frame takes in the FIFO, this first one included.
    pub const fn fifo_words(self) -> usize {
        words_for(self.field())
    }

    /// The frame's length (without the FCS) if the driver passes it on.
    /// `Runt` and `TooLong` frames are skipped by reading their
    /// [`RxHeader::fifo_words`]; after `Corrupt` the FIFO must be emptied,
    /// as nothing says where the next frame starts.
    pub const fn check(self) -> Result<usize, RxError> {
        let field = self.field();
        if field < LENGTH_FIELD + FCS_LEN || field > RX_FIFO_BYTES {
            Err(RxError::Corrupt)
        } else if field < MIN_RX_FIELD {
            Err(RxError::Runt)
        } else if field > MAX_RX_FIELD {
            Err(RxError::TooLong)
        } else {
            Ok(field - LENGTH_FIELD - FCS_LEN)
        }
    }
}

/// The first TX FIFO word of `frame`: its payload length (the 14-byte
/// header not counted) and its first two bytes. `None` for a frame the MAC
/// cannot send: shorter than a header or longer than [`MTU`].
pub fn tx_first_word(frame: &[u8]) -> Option<u32> {
    if frame.len() > MTU {
        return None;
    }
    let payload = frame.len().checked_sub(HEADER_LEN)?;
    let (&a, &b) = (frame.first()?, frame.get(1)?);
    Some(payload as u32 | u32::from(a) << 16 | u32::from(b) << 24)
}

/// The TX FIFO words a frame of `len` bytes takes, with its length field.
pub const fn tx_fifo_words(len: usize) -> usize {
    words_for(LENGTH_FIELD + len)
}

/// `MACIA0` and `MACIA1` for `mac` (first byte in bits 7:0 of `MACIA0`).
pub const fn mac_address_registers(mac: [u8; 6]) -> (u32, u32) {
    (
        u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        u32::from_le_bytes([mac[4], mac[5], 0, 0]),
    )
}

/// The MAC address in `MACIA0` and `MACIA1`.
pub const fn mac_address_from_registers(ia0: u32, ia1: u32) -> [u8; 6] {
    let [a, b, c, d] = ia0.to_le_bytes();
    let [e, f, _, _] = ia1.to_le_bytes();
    [a, b, c, d, e, f]
}

/// `MACMDV` for a system clock of `sysclk_hz`: the smallest divider that
/// keeps the MII management clock at or below 2.5 MHz.
pub const fn mii_divider(sysclk_hz: u32) -> u32 {
    let divider = sysclk_hz.div_ceil(2 * 2_500_000).saturating_sub(1);
    if divider > 0xFF {
        0xFF
    } else {
        divider
    }
}

/// A negotiated link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkMode {
    pub mbps: u16,
    pub full_duplex: bool,
}

/// The link the PHY reports: `None` while it is down or negotiating (MR1),
/// else its speed and duplex (MR18).
pub const fn link_mode(mr1: u16, mr18: u16) -> Option<LinkMode> {
    if mr1 & phy::mr1::LINK == 0 || mr1 & phy::mr1::AN_COMPLETE == 0 {
        return None;
    }
    Some(LinkMode {
        mbps: if mr18 & phy::mr18::RATE_100 != 0 {
            100
        } else {
            10
        },
        full_duplex: mr18 & phy::mr18::DUPLEX != 0,
    })
}

/// How many multicast groups the filter holds.
pub const MAX_GROUPS: usize = 8;

/// The destination addresses the driver passes on: ours, broadcast and
/// the accepted multicast groups. The MAC itself filters only unicast
/// (ours) and lets every multicast frame through (`MACRCTL.AMUL`: it has
/// no multicast filter), so this filter drops the groups nobody joined,
/// as a multicast hash filter would in hardware. All zeros: nothing yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressFilter {
    mac: [u8; 6],
    groups: [[u8; 6]; MAX_GROUPS],
    group_count: u8,
}

/// More groups than [`MAX_GROUPS`] asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyGroups {
    pub asked: usize,
}

impl core::fmt::Display for TooManyGroups {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{} multicast groups asked for, the filter holds {MAX_GROUPS}",
            self.asked
        )
    }
}

impl AddressFilter {
    pub const EMPTY: AddressFilter = AddressFilter {
        mac: [0; 6],
        groups: [[0; 6]; MAX_GROUPS],
        group_count: 0,
    };

    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.mac = mac;
    }

    /// Accepts exactly `groups` (multicast MAC addresses) besides our
    /// address and broadcast, replacing the groups set before.
    pub fn set_groups(&mut self, groups: &[[u8; 6]]) -> Result<(), TooManyGroups> {
        if groups.len() > MAX_GROUPS {
            return Err(TooManyGroups {
                asked: groups.len(),
            });
        }
        self.groups = [[0; 6]; MAX_GROUPS];
        for (slot, group) in self.groups.iter_mut().zip(groups) {
            *slot = *group;
        }
        self.group_count = groups.len() as u8;
        Ok(())
    }

    /// Whether any multicast group is accepted (the MAC must then let
    /// multicast frames in).
    pub fn wants_multicast(&self) -> bool {
        self.group_count > 0
    }

    /// Whether a frame to `destination` is for us.
    pub fn accepts(&self, destination: [u8; 6]) -> bool {
        destination == self.mac
            || destination == [0xFF; 6]
            || self
                .groups
                .iter()
                .take(usize::from(self.group_count))
                .any(|group| *group == destination)
    }
}

/// Stores `word`'s bytes, little endian, at the start of `out` (as many
/// as fit).
pub fn store_word(word: u32, out: &mut [u8]) {
    for (slot, byte) in out.iter_mut().zip(word.to_le_bytes()) {
        *slot = byte;
    }
}

/// Up to four bytes as a little-endian word, zero-padded.
pub fn load_word(chunk: &[u8]) -> u32 {
    let mut bytes = [0u8; 4];
    store_word_bytes(chunk, &mut bytes);
    u32::from_le_bytes(bytes)
}

fn store_word_bytes(chunk: &[u8], out: &mut [u8; 4]) {
    for (slot, byte) in out.iter_mut().zip(chunk) {
        *slot = *byte;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_good_frame_is_passed_on_without_its_fcs() {
        // A 60-byte frame: the field counts 2 + 60 + 4.
        let header = RxHeader(66 | 0xAB_CD << 16);
        assert_eq!(header.check(), Ok(60));
        assert_eq!(header.fifo_words(), 17);
        assert_eq!(RxHeader(MAX_RX_FIELD as u32).check(), Ok(MTU));
        assert_eq!(RxHeader(MIN_RX_FIELD as u32).check(), Ok(HEADER_LEN));
    }

    #[test]
    fn lengths_outside_a_frame_are_errors_by_kind() {
        assert_eq!(RxHeader(0).check(), Err(RxError::Corrupt));
        assert_eq!(RxHeader(5).check(), Err(RxError::Corrupt));
        assert_eq!(RxHeader(6).check(), Err(RxError::Runt));
        assert_eq!(RxHeader(19).check(), Err(RxError::Runt));
        assert_eq!(
            RxHeader(MAX_RX_FIELD as u32 + 1).check(),
            Err(RxError::TooLong)
        );
        assert_eq!(
            RxHeader(RX_FIFO_BYTES as u32).check(),
            Err(RxError::TooLong)
        );
        assert_eq!(
            RxHeader(RX_FIFO_BYTES as u32 + 1).check(),
            Err(RxError::Corrupt)
        );
        assert_eq!(RxHeader(0xFFFF).check(), Err(RxError::Corrupt));
        for (i, error) in RxError::ALL.iter().enumerate() {
            assert_eq!(error.index(), i);
            assert!(!error.name().is_empty());
        }
    }

    #[test]
    fn the_tx_length_word_counts_the_payload_only() {
        let frame: Vec<u8> = (1..=60).collect();
        assert_eq!(tx_first_word(&frame), Some(46 | 0x01 << 16 | 0x02 << 24));
        assert_eq!(tx_first_word(&frame[..14]), Some(0x0201_0000));
        assert_eq!(tx_first_word(&frame[..13]), None, "no header");
        assert_eq!(tx_first_word(&[0; MTU + 1]), None, "too long");
        assert_eq!(tx_first_word(&[0; MTU]), Some(1500));
        assert_eq!(tx_fifo_words(60), 16);
        assert_eq!(tx_fifo_words(61), 16);
        assert_eq!(tx_fifo_words(62), 16);
        assert_eq!(tx_fifo_words(63), 17);
    }

    #[test]
    fn the_mac_address_is_stored_little_endian() {
        let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let (ia0, ia1) = mac_address_registers(mac);
        assert_eq!(ia0, 0x3322_1102);
        assert_eq!(ia1, 0x0000_5544);
        assert_eq!(mac_address_from_registers(ia0, ia1 | 0xFFFF_0000), mac);
    }

    #[test]
    fn the_mii_clock_stays_at_most_2_5_mhz() {
        assert_eq!(mii_divider(50_000_000), 9, "50 MHz / 20 = 2.5 MHz");
        assert_eq!(mii_divider(12_500_000), 2, "12.5 MHz / 6 = 2.08 MHz");
        assert_eq!(mii_divider(5_000_000), 0);
        assert_eq!(mii_divider(1_000_000), 0);
        assert_eq!(mii_divider(u32::MAX), 0xFF);
        for hz in [8_000_000, 16_000_000, 20_000_000, 25_000_000, 50_000_000] {
            let mdc = hz / (2 * (mii_divider(hz) + 1));
            assert!(mdc <= 2_500_000, "{hz} Hz: MDC {mdc} Hz");
        }
    }

    #[test]
    fn the_link_comes_from_mr1_and_mr18() {
        let up = phy::mr1::LINK | phy::mr1::AN_COMPLETE;
        assert_eq!(link_mode(0, 0xFFFF), None, "QEMU's PHY reads all zeros");
        assert_eq!(link_mode(phy::mr1::LINK, 0), None, "still negotiating");
        assert_eq!(
            link_mode(up, phy::mr18::DUPLEX | phy::mr18::RATE_100),
            Some(LinkMode {
                mbps: 100,
                full_duplex: true
            })
        );
        assert_eq!(
            link_mode(up, 0),
            Some(LinkMode {
                mbps: 10,
                full_duplex: false
            })
        );
    }

    #[test]
    fn the_filter_passes_ours_broadcast_and_the_groups_only() {
        let mut filter = AddressFilter::EMPTY;
        let ours = [0x02, 0, 0, 0, 0, 1];
        filter.set_mac(ours);
        assert!(filter.accepts(ours));
        assert!(filter.accepts([0xFF; 6]));
        assert!(!filter.accepts([0x02, 0, 0, 0, 0, 2]), "someone else");
        let all_nodes = [0x33, 0x33, 0, 0, 0, 1];
        let solicited = [0x33, 0x33, 0xFF, 0, 0, 1];
        assert!(!filter.accepts(all_nodes));
        assert!(!filter.wants_multicast());
        filter.set_groups(&[all_nodes, solicited]).unwrap();
        assert!(filter.wants_multicast());
        assert!(filter.accepts(all_nodes) && filter.accepts(solicited));
        assert!(
            !filter.accepts([0x33, 0x33, 0xFF, 0, 0, 2]),
            "another group"
        );
        assert!(!filter.accepts([0x01, 0, 0x5E, 0, 0, 0xFB]), "mDNS");
        assert!(!filter.accepts([0; 6]), "an unused slot matches nothing");
        filter.set_groups(&[solicited]).unwrap();
        assert!(!filter.accepts(all_nodes), "replaced");
        assert_eq!(
            filter.set_groups(&[all_nodes; MAX_GROUPS + 1]),
            Err(TooManyGroups {
                asked: MAX_GROUPS + 1
            })
        );
        assert!(filter.accepts(solicited), "unchanged by the failed call");
        filter.set_groups(&[]).unwrap();
        assert!(!filter.wants_multicast());
    }

    #[test]
    fn words_carry_bytes_little_endian() {
        assert_eq!(load_word(&[1, 2, 3, 4]), 0x0403_0201);
        assert_eq!(load_word(&[1, 2]), 0x0000_0201);
        assert_eq!(load_word(&[]), 0);
        let mut out = [0u8; 3];
        store_word(0x0403_0201, &mut out);
        assert_eq!(out, [1, 2, 3]);
    }
}
