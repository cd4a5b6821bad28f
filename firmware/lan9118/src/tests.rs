//! The driver against a simulated chip: a register file with FIFOs, the
//! indirect MAC registers and the PHY behind them, as the datasheet (and
//! QEMU's model) describe them.

use std::collections::VecDeque;
use std::vec::Vec;

use smoltcp::phy::{Device, RxToken as _, TxToken as _};
use smoltcp::time::Instant;

use super::*;
use crate::regs::rx_status as rs;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

/// What the simulated chip does wrong, for the failure tests.
#[derive(Default, Clone, Copy)]
struct Faults {
    byte_test: Option<u32>,
    reset_stuck: bool,
}

#[derive(Default)]
struct FakeChip {
    faults: Faults,
    hw_cfg: u32,
    irq_cfg: u32,
    int_sts: u32,
    int_en: u32,
    fifo_int: u32,
    rx_cfg: u32,
    tx_cfg: u32,
    mac_csr_data: u32,
    mac_regs: [u32; 16],
    phy_regs: [u16; 32],
    rx_status: VecDeque<u32>,
    rx_data: VecDeque<u32>,
    rx_underflows: usize,
    /// Every word written to the TX data FIFO.
    tx_words: Vec<u32>,
    tx_status: VecDeque<u32>,
    tx_free: u32,
    rx_drop: u32,
    resets: usize,
}

impl FakeChip {
    fn new() -> FakeChip {
        let mut chip = FakeChip {
            tx_free: 4608,
            ..FakeChip::default()
        };
        chip.reset();
        chip
    }

    fn reset(&mut self) {
        self.resets += 1;
        self.hw_cfg = if self.faults.reset_stuck {
            hw_cfg::SRST
        } else {
            0x0005_0004
        };
        self.int_sts = 0;
        self.int_en = 0;
        self.mac_regs[mac::MAC_CR as usize] = mac::cr::PRMS;
        self.mac_regs[mac::HASHH as usize] = 0;
        self.mac_regs[mac::HASHL as usize] = 0;
        self.rx_status.clear();
        self.rx_data.clear();
        // After a PHY reset: link up, auto-negotiation complete, partner
        // 100 full / 10 full / 10 half (as QEMU's PHY says).
        self.phy_regs[phy::BSR as usize] = 0x7809 | phy::bsr::LINK_UP | phy::bsr::AN_COMPLETE;
        self.phy_regs[phy::ANLPAR as usize] = 0x0F71;
    }

    /// Queues a received frame: `frame` plus a 4-byte FCS, with `bits` in
    /// its status word, as the chip lays it out.
    fn receive(&mut self, frame: &[u8], bits: u32) {
        let mut bytes = frame.to_vec();
        bytes.extend_from_slice(&[0xFC, 0xFC, 0xFC, 0xFC]);
        for chunk in bytes.chunks(4) {
            self.rx_data.push_back(frame::load_word(chunk));
        }
        self.rx_status
            .push_back(((bytes.len() as u32) << rs::LENGTH_SHIFT) | bits);
        self.int_sts |= int::RSFL;
    }

    /// The frames written to the TX FIFO, parsed back from the command
    /// words: (tag, frame).
    fn sent_frames(&self) -> Vec<(u16, Vec<u8>)> {
        let mut frames = Vec::new();
        let mut words = self.tx_words.iter().copied();
        while let Some(a) = words.next() {
            let b = words.next().expect("command B after command A");
            assert_eq!(a & (tx_cmd_a_bits()), tx_cmd_a_bits(), "one-buffer frame");
            let len = (a & 0x7FF) as usize;
            assert_eq!((b & 0x7FF) as usize, len, "frame length = buffer size");
            let mut frame = Vec::new();
            for _ in 0..frame::words_for(len) {
                frame.extend_from_slice(&words.next().expect("data word").to_le_bytes());
            }
            frame.truncate(len);
            frames.push(((b >> 16) as u16, frame));
        }
        frames
    }

    fn mac_access(&mut self, command: u32) {
        let index = (command & 0xFF) as usize;
        if command & mac_csr_cmd::READ != 0 {
            self.mac_csr_data = self.mac_regs[index];
        } else {
            self.mac_regs[index] = self.mac_csr_data;
            if index == mac::MII_ACC as usize {
                self.mii_access(self.mac_csr_data);
            }
        }
    }

    fn mii_access(&mut self, command: u32) {
        assert_eq!(
            (command >> 11) & 0x1F,
            1,
            "the internal PHY is at address 1"
        );
        let reg = ((command >> 6) & 0x1F) as usize;
        if command & mii_acc::WRITE != 0 {
            let value = self.mac_regs[mac::MII_DATA as usize] as u16;
            if reg == phy::BCR as usize && value & phy::bcr::RESET != 0 {
                self.phy_regs[phy::BCR as usize] = 0x3000;
            } else {
                self.phy_regs[reg] = value;
            }
        } else {
            self.mac_regs[mac::MII_DATA as usize] = u32::from(self.phy_regs[reg]);
            if reg == PHY_INT_SOURCE as usize {
                self.phy_regs[reg] = 0;
            }
        }
        // Done at once: clear the busy bit.
        self.mac_regs[mac::MII_ACC as usize] &= !mii_acc::BUSY;
    }
}

fn tx_cmd_a_bits() -> u32 {
    regs::tx_cmd_a::FIRST_SEGMENT | regs::tx_cmd_a::LAST_SEGMENT
}

impl Bus for FakeChip {
    fn read(&mut self, reg: Reg) -> u32 {
        match reg {
            Reg::ByteTest => self.faults.byte_test.unwrap_or(regs::BYTE_TEST_VALUE),
            Reg::IdRev => 0x0118_0001,
            Reg::HwCfg => self.hw_cfg,
            Reg::PmtCtrl => pmt_ctrl::READY,
            Reg::IrqCfg => self.irq_cfg,
            Reg::IntSts => self.int_sts,
            Reg::IntEn => self.int_en,
            Reg::FifoInt => self.fifo_int,
            Reg::RxCfg => self.rx_cfg,
            Reg::TxCfg => self.tx_cfg,
            Reg::MacCsrCmd => 0,
            Reg::MacCsrData => self.mac_csr_data,
            Reg::RxFifoInf => {
                ((self.rx_status.len() as u32) << 16) | (self.rx_data.len() as u32 * 4)
            }
            Reg::RxStatusFifo => self.rx_status.pop_front().unwrap_or(0),
            Reg::RxDataFifo => self.rx_data.pop_front().unwrap_or_else(|| {
                self.rx_underflows += 1;
                0
            }),
            Reg::TxFifoInf => ((self.tx_status.len() as u32) << 16) | self.tx_free,
            Reg::TxStatusFifo => self.tx_status.pop_front().unwrap_or(0),
            Reg::RxDrop => std::mem::take(&mut self.rx_drop),
            Reg::FreeRun => 12345,
            other => panic!("unexpected read of {other:?}"),
        }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        match reg {
            Reg::HwCfg if value & hw_cfg::SRST != 0 => self.reset(),
            Reg::HwCfg => self.hw_cfg = value,
            Reg::IrqCfg => self.irq_cfg = value,
            Reg::IntSts => self.int_sts &= !value,
            Reg::IntEn => self.int_en = value,
            Reg::FifoInt => self.fifo_int = value,
            Reg::RxCfg => self.rx_cfg = value,
            Reg::TxCfg => self.tx_cfg = value,
            Reg::MacCsrData => self.mac_csr_data = value,
            Reg::MacCsrCmd => self.mac_access(value),
            Reg::TxDataFifo => self.tx_words.push(value),
            other => panic!("unexpected write of {value:#x} to {other:?}"),
        }
    }
}

fn ready_driver() -> Lan9118<FakeChip> {
    let mut nic = Lan9118::new(FakeChip::new());
    nic.init(MAC).expect("init");
    nic.port.bus.tx_words.clear();
    nic
}

fn chip(nic: &mut Lan9118<FakeChip>) -> &mut FakeChip {
    &mut nic.port.bus
}

/// Takes one frame through the smoltcp interface.
fn receive(nic: &mut Lan9118<FakeChip>) -> Option<Vec<u8>> {
    let (rx, _tx) = nic.receive(Instant::ZERO)?;
    Some(rx.consume(|frame| frame.to_vec()))
}

fn frame_of(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}

#[test]
fn init_configures_the_chip() {
    let mut nic = Lan9118::new(FakeChip::new());
    let info = nic.init(MAC).expect("init");
    assert_eq!(info.id, 0x0118);
    assert_eq!(info.revision, 1);
    assert_eq!(
        info.link,
        Some(LinkMode {
            mbps: 100,
            full_duplex: true
        })
    );
    let chip = chip(&mut nic);
    assert_eq!(chip.resets, 2, "the driver soft-reset the chip once");
    assert_eq!(chip.mac_regs[mac::ADDRL as usize], 0x0000_0002);
    assert_eq!(chip.mac_regs[mac::ADDRH as usize], 0x0000_0100);
    let cr = chip.mac_regs[mac::MAC_CR as usize];
    assert_eq!(cr, mac::cr::TXEN | mac::cr::RXEN | mac::cr::FDPX);
    assert_eq!(cr & mac::cr::PRMS, 0, "not promiscuous");
    assert_eq!(cr & mac::cr::BCAST, 0, "broadcast (ARP) received");
    assert_eq!(chip.irq_cfg, 0x111, "enabled, active high, push-pull");
    assert_eq!(chip.int_en, ENABLED_INTERRUPTS);
    assert_ne!(
        chip.int_en & int::RSFL,
        0,
        "an interrupt per received frame"
    );
    assert_eq!(chip.fifo_int & 0xFF, 0, "RSFL from the first status on");
    assert_eq!(chip.tx_cfg, tx_cfg::TX_ON);
    assert_eq!(chip.rx_cfg, 0, "no offset, 4-byte alignment");
    assert_eq!(chip.hw_cfg & hw_cfg::MBO, hw_cfg::MBO);
    assert_eq!(chip.phy_regs[phy::ANAR as usize], phy::an::ALL_10_100);
    assert_eq!(
        chip.phy_regs[phy::BCR as usize],
        phy::bcr::AN_ENABLE | phy::bcr::RESTART_AN
    );
    assert_eq!(chip.phy_regs[PHY_INT_MASK as usize], 0x50);
}

#[test]
fn init_reports_a_missing_chip() {
    let mut fake = FakeChip::new();
    fake.faults.byte_test = Some(0x4321_8765);
    let mut nic = Lan9118::new(fake);
    assert_eq!(
        nic.init(MAC),
        Err(InitError::NoChip {
            byte_test: 0x4321_8765
        })
    );
    assert_eq!(chip(&mut nic).resets, 1, "nothing touched");
}

#[test]
fn init_gives_up_on_a_stuck_reset() {
    let mut fake = FakeChip::new();
    fake.faults.reset_stuck = true;
    let mut nic: Lan9118<FakeChip> = Lan9118::new(fake);
    assert_eq!(nic.init(MAC), Err(InitError::ResetTimeout));
}

#[test]
fn half_duplex_partner_sets_the_mac_to_half_duplex() {
    let mut fake = FakeChip::new();
    fake.reset();
    let mut nic = Lan9118::new(fake);
    nic.init(MAC).expect("init");
    // The link renegotiates with a 100 half-duplex partner.
    let c = chip(&mut nic);
    c.phy_regs[phy::ANLPAR as usize] = phy::an::TX_100_HALF;
    c.phy_regs[PHY_INT_SOURCE as usize] = PHY_INT_AN_COMPLETE;
    c.int_sts |= int::PHY_INT;
    assert_eq!(nic.handle_interrupt(), int::PHY_INT);
    assert_eq!(
        nic.link(),
        Some(LinkMode {
            mbps: 100,
            full_duplex: false
        })
    );
    let c = chip(&mut nic);
    assert_eq!(c.mac_regs[mac::MAC_CR as usize] & mac::cr::FDPX, 0);
    assert_eq!(c.phy_regs[PHY_INT_SOURCE as usize], 0, "PHY source read");
    assert_eq!(nic.stats().link_events, 1);
}

#[test]
fn multicast_groups_pass_the_hash_filter_whatever_the_duplex() {
    let mut nic = ready_driver();
    let all_nodes = [0x33, 0x33, 0, 0, 0, 0x01];
    let solicited_node_of_1 = [0x33, 0x33, 0xFF, 0, 0, 0x01];
    nic.accept_multicast(&[all_nodes, solicited_node_of_1])
        .expect("accept_multicast");
    let c = chip(&mut nic);
    assert_eq!(c.mac_regs[mac::HASHH as usize], 1 << 30);
    assert_eq!(c.mac_regs[mac::HASHL as usize], 1 << 29);
    let cr = c.mac_regs[mac::MAC_CR as usize];
    assert_eq!(
        cr,
        mac::cr::TXEN | mac::cr::RXEN | mac::cr::FDPX | mac::cr::HPFILT,
        "the duplex kept, multicast by hash"
    );
    // A renegotiation to half duplex keeps the filter on.
    c.phy_regs[phy::ANLPAR as usize] = phy::an::TX_100_HALF;
    c.phy_regs[PHY_INT_SOURCE as usize] = PHY_INT_AN_COMPLETE;
    c.int_sts |= int::PHY_INT;
    nic.handle_interrupt();
    let cr = chip(&mut nic).mac_regs[mac::MAC_CR as usize];
    assert_eq!(cr, mac::cr::TXEN | mac::cr::RXEN | mac::cr::HPFILT);
    // No groups: exact filtering again.
    nic.accept_multicast(&[]).expect("accept_multicast");
    let c = chip(&mut nic);
    assert_eq!(
        c.mac_regs[mac::MAC_CR as usize],
        mac::cr::TXEN | mac::cr::RXEN
    );
    assert_eq!(
        c.mac_regs[mac::HASHH as usize] | c.mac_regs[mac::HASHL as usize],
        0
    );
    // A new init starts without groups.
    nic.accept_multicast(&[all_nodes])
        .expect("accept_multicast");
    nic.init(MAC).expect("init");
    let cr = chip(&mut nic).mac_regs[mac::MAC_CR as usize];
    assert_eq!(cr & mac::cr::HPFILT, 0);
}

#[test]
fn no_frame_no_token() {
    let mut nic = ready_driver();
    assert!(!nic.frames_waiting());
    assert!(receive(&mut nic).is_none());
}

#[test]
fn frames_arrive_whole_in_order_without_fcs() {
    let mut nic = ready_driver();
    // 42: an unpadded ARP from a TAP; 60: minimum; 61..63: every end
    // alignment; 1514: full size.
    let lengths = [42, 60, 61, 62, 63, 1514];
    for len in lengths {
        chip(&mut nic).receive(&frame_of(len), rs::FRAME_TYPE);
    }
    assert!(nic.frames_waiting());
    for len in lengths {
        assert_eq!(receive(&mut nic), Some(frame_of(len)), "{len} bytes");
    }
    assert!(receive(&mut nic).is_none());
    let c = chip(&mut nic);
    assert!(c.rx_data.is_empty(), "every word read");
    assert_eq!(c.rx_underflows, 0, "never read past a frame");
    assert_eq!(nic.stats().rx_frames, lengths.len() as u64);
    assert_eq!(nic.stats().rx_bytes, lengths.iter().sum::<usize>() as u64);
}

#[test]
fn bad_frames_are_skipped_and_the_fifo_stays_in_step() {
    let mut nic = ready_driver();
    let c = chip(&mut nic);
    c.receive(&frame_of(100), rs::ERROR | rs::CRC_ERROR);
    c.receive(&frame_of(10), 0); // shorter than a header
    c.receive(&frame_of(61), rs::FRAME_TYPE);
    c.receive(&frame_of(1600), rs::ERROR | rs::TOO_LONG);
    c.receive(&frame_of(3), 0); // shorter than a word with FCS
    c.receive(&frame_of(77), rs::BROADCAST);
    assert_eq!(receive(&mut nic), Some(frame_of(61)));
    assert_eq!(receive(&mut nic), Some(frame_of(77)));
    assert!(receive(&mut nic).is_none());
    let c = chip(&mut nic);
    assert!(c.rx_data.is_empty());
    assert_eq!(c.rx_underflows, 0);
    let errors = nic.stats().rx_errors;
    assert_eq!(errors[RxError::Crc.index()], 1);
    assert_eq!(errors[RxError::TooLong.index()], 1);
    assert_eq!(errors[RxError::Truncated.index()], 2);
    assert_eq!(nic.stats().rx_errors_total(), 4);
}

#[test]
fn a_flood_of_bad_frames_does_not_hold_the_caller() {
    let mut nic = ready_driver();
    for _ in 0..(MAX_SKIPPED_PER_RECEIVE + 5) {
        chip(&mut nic).receive(&frame_of(64), rs::ERROR | rs::CRC_ERROR);
    }
    chip(&mut nic).receive(&frame_of(64), 0);
    assert!(
        receive(&mut nic).is_none(),
        "gave up after a bounded number"
    );
    assert_eq!(
        receive(&mut nic),
        Some(frame_of(64)),
        "and continues next time"
    );
}

#[test]
fn frames_go_out_as_command_words_and_data() {
    let mut nic = ready_driver();
    for len in [42, 60, 61, 1514] {
        let token = nic.transmit(Instant::ZERO).expect("room");
        token.consume(len, |buf| buf.copy_from_slice(&frame_of(len)));
    }
    let sent = chip(&mut nic).sent_frames();
    assert_eq!(sent.len(), 4);
    for (i, (len, (tag, frame))) in [42, 60, 61, 1514].iter().zip(&sent).enumerate() {
        assert_eq!(frame, &frame_of(*len));
        assert_eq!(*tag as usize, i + 1, "tags count up");
    }
    // Exactly the words needed: 2 commands + ceil(len / 4) each.
    let words: usize = [42usize, 60, 61, 1514]
        .iter()
        .map(|l| 2 + l.div_ceil(4))
        .sum();
    assert_eq!(chip(&mut nic).tx_words.len(), words);
    assert_eq!(nic.stats().tx_frames, 4);
}

#[test]
fn a_reply_goes_out_through_the_token_of_a_received_frame() {
    let mut nic = ready_driver();
    chip(&mut nic).receive(&frame_of(60), 0);
    let (rx, tx) = nic.receive(Instant::ZERO).expect("frame");
    let request = rx.consume(|f| f.to_vec());
    tx.consume(request.len(), |buf| buf.copy_from_slice(&request));
    assert_eq!(chip(&mut nic).sent_frames(), [(1, frame_of(60))]);
}

#[test]
fn a_full_tx_fifo_defers_sending() {
    let mut nic = ready_driver();
    chip(&mut nic).tx_free = 100;
    assert!(nic.transmit(Instant::ZERO).is_none());
    assert_eq!(nic.stats().tx_busy, 1);
    // A reply token obtained with a frame still cannot overflow the FIFO:
    // the frame is dropped and counted after a bounded wait.
    chip(&mut nic).receive(&frame_of(60), 0);
    let (_rx, tx) = nic.receive(Instant::ZERO).expect("frame");
    tx.consume(200, |buf| buf.fill(1));
    assert!(chip(&mut nic).tx_words.is_empty());
    assert_eq!(nic.stats().tx_dropped, 1);
    chip(&mut nic).tx_free = 4608;
    assert!(nic.transmit(Instant::ZERO).is_some());
}

#[test]
fn tx_statuses_are_collected_and_errors_counted() {
    let mut nic = ready_driver();
    let c = chip(&mut nic);
    c.tx_status.push_back(0x0001_0000);
    c.tx_status
        .push_back(0x0002_0000 | regs::tx_status::ERROR | regs::tx_status::NO_CARRIER);
    assert!(nic.transmit(Instant::ZERO).is_some());
    assert!(chip(&mut nic).tx_status.is_empty(), "all popped");
    assert_eq!(nic.stats().tx_errors, 1);
}

#[test]
fn interrupts_are_acknowledged_and_counted() {
    let mut nic = ready_driver();
    assert_eq!(nic.handle_interrupt(), 0, "nothing pending");
    chip(&mut nic).receive(&frame_of(60), 0);
    let c = chip(&mut nic);
    c.int_sts |= int::RXDF_INT | int::GPT_INT;
    c.rx_drop = 3;
    let handled = nic.handle_interrupt();
    assert_eq!(handled, int::RSFL | int::RXDF_INT, "only enabled ones");
    let c = chip(&mut nic);
    assert_eq!(c.int_sts, int::GPT_INT, "handled bits cleared, others left");
    assert_eq!(nic.stats().rx_dropped, 3);
    assert_eq!(nic.stats().interrupts, 1);
    // The frame itself is still there for the stack to take.
    assert_eq!(receive(&mut nic), Some(frame_of(60)));
}

#[test]
fn capabilities_are_ethernet_with_a_1514_byte_mtu() {
    let nic = ready_driver();
    let caps = nic.capabilities();
    assert_eq!(caps.medium, Medium::Ethernet);
    assert_eq!(caps.max_transmission_unit, 1514);
}

/// A driver built for 590-byte frames (a board short of RAM).
fn small_driver() -> Lan9118<FakeChip, 590> {
    let mut nic = Lan9118::<_, 590>::new(FakeChip::new());
    nic.init(MAC).expect("init");
    nic.port.bus.tx_words.clear();
    nic
}

#[test]
fn a_driver_for_590_byte_frames_passes_them_and_drops_longer_ones() {
    let mut nic = small_driver();
    assert_eq!(nic.capabilities().max_transmission_unit, 590);
    // 590 and 589..587: every end alignment of the FCS past the buffer.
    let c = &mut nic.port.bus;
    for len in [590, 591, 589, 1514, 588, 587] {
        c.receive(&frame_of(len), rs::FRAME_TYPE);
    }
    for len in [590, 589, 588, 587] {
        let (rx, _tx) = nic.receive(Instant::ZERO).expect("a frame");
        assert_eq!(rx.consume(|frame| frame.to_vec()), frame_of(len));
    }
    assert!(nic.receive(Instant::ZERO).is_none());
    let c = &nic.port.bus;
    assert!(
        c.rx_data.is_empty(),
        "every word read, the long frames' too"
    );
    assert_eq!(c.rx_underflows, 0);
    assert_eq!(nic.stats().rx_errors[RxError::TooLong.index()], 2);
    assert_eq!(nic.stats().rx_frames, 4);
    // Its longest frame goes out whole; smoltcp never asks for more.
    let token = nic.transmit(Instant::ZERO).expect("room");
    token.consume(590, |buf| buf.copy_from_slice(&frame_of(590)));
    assert_eq!(nic.port.bus.sent_frames(), [(1, frame_of(590))]);
}
