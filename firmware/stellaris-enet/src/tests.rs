//! The driver against a simulated controller: the MAC's registers, the
//! RX FIFO of whole frames behind their length word, the TX FIFO sent on
//! `MACTR`, and the PHY behind the MII management registers, as the
//! datasheet (and QEMU's model) describe them.

use std::collections::VecDeque;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

use smoltcp::phy::{Device, RxToken as _, TxToken as _};
use smoltcp::time::Instant;

use super::*;

const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const SYSCLK_HZ: u32 = 50_000_000;

#[derive(Default)]
struct FakeController {
    ris: u32,
    im: u32,
    rctl: u32,
    tctl: u32,
    thr: u32,
    mdv: u32,
    ia0: u32,
    ia1: u32,
    mctl: u32,
    mtxd: u32,
    mrxd: u32,
    phy_regs: [u16; 32],
    /// MII transactions that stay busy (a controller without its clock).
    mii_stuck: bool,
    /// The RX FIFO: each frame's words, length word first.
    rx_frames: VecDeque<VecDeque<u32>>,
    /// Reads of MACDATA with no frame in the FIFO (QEMU: "RX underflow").
    rx_underflows: usize,
    fifo_resets: usize,
    /// The TX FIFO's words since the last send.
    tx_words: Vec<u32>,
    /// Frames sent: the words of each, length word first.
    sent: Vec<Vec<u32>>,
    /// MACTR.NEWTX reads 1 (a frame still going) this many more times.
    tx_busy_reads: usize,
    /// MACTR.NEWTX reads 1 for good after this many more reads.
    tx_stuck_after_reads: Option<usize>,
}

impl FakeController {
    fn new() -> FakeController {
        FakeController {
            // QEMU's reset values, and its NIC's default MAC in MACIA.
            rctl: rctl::BADCRC,
            im: int::ALL,
            thr: 0x3F,
            mdv: 0x80,
            ia0: 0x1200_5452,
            ia1: 0x5634,
            ..FakeController::default()
        }
    }

    /// Queues a received frame: `frame` with its length word and a 4-byte
    /// FCS, as the MAC lays it out.
    fn receive(&mut self, frame: &[u8]) {
        let field = (frame.len() + 6) as u16;
        let mut bytes = field.to_le_bytes().to_vec();
        bytes.extend_from_slice(frame);
        bytes.extend_from_slice(&[0xFC; 4]);
        self.receive_raw(bytes.chunks(4).map(frame::load_word).collect());
    }

    /// Queues the words of a frame as given, length word first.
    fn receive_raw(&mut self, words: Vec<u32>) {
        self.rx_frames.push_back(words.into());
        self.ris |= int::RX;
    }

    /// The frames sent, parsed back from the FIFO words.
    fn sent_frames(&self) -> Vec<Vec<u8>> {
        self.sent
            .iter()
            .map(|words| {
                let payload = (words[0] & 0xFFFF) as usize;
                let mut bytes = Vec::new();
                for word in words {
                    bytes.extend_from_slice(&word.to_le_bytes());
                }
                bytes[2..2 + payload + 14].to_vec()
            })
            .collect()
    }

    fn mii(&mut self, command: u32) {
        if self.mii_stuck {
            self.mctl = command;
            return;
        }
        let reg = ((command >> mctl::REGADR_SHIFT) & 0x1F) as usize;
        if command & mctl::WRITE != 0 {
            self.phy_regs[reg] = self.mtxd as u16;
        } else {
            self.mrxd = u32::from(self.phy_regs[reg]);
            if reg == phy::MR17 as usize {
                // The status half clears on read.
                self.phy_regs[reg] &= 0xFF00;
            }
        }
        self.mctl = command & !mctl::START;
    }
}

impl Bus for FakeController {
    fn read(&mut self, reg: Reg) -> u32 {
        match reg {
            Reg::RisIack => self.ris,
            Reg::Im => self.im,
            Reg::Rctl => self.rctl,
            Reg::Tctl => self.tctl,
            Reg::Data => {
                let Some(frame) = self.rx_frames.front_mut() else {
                    self.rx_underflows += 1;
                    return 0;
                };
                let word = frame.pop_front().unwrap_or(0);
                if frame.is_empty() {
                    self.rx_frames.pop_front();
                }
                word
            }
            Reg::Ia0 => self.ia0,
            Reg::Ia1 => self.ia1,
            Reg::Thr => self.thr,
            Reg::Mctl => self.mctl,
            Reg::Mdv => self.mdv,
            Reg::Mrxd => self.mrxd,
            Reg::Np => self.rx_frames.len() as u32,
            Reg::Tr => {
                if let Some(left) = self.tx_stuck_after_reads.as_mut() {
                    if *left == 0 {
                        return tr::NEWTX;
                    }
                    *left -= 1;
                }
                if self.tx_busy_reads > 0 {
                    self.tx_busy_reads -= 1;
                    tr::NEWTX
                } else {
                    0
                }
            }
            other => panic!("unexpected read of {other:?}"),
        }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        match reg {
            Reg::RisIack => self.ris &= !value,
            Reg::Im => self.im = value,
            Reg::Rctl => {
                if value & rctl::RSTFIFO != 0 {
                    assert_eq!(value & rctl::RXEN, 0, "the receiver off to empty the FIFO");
                    self.rx_frames.clear();
                    self.fifo_resets += 1;
                }
                self.rctl = value & !rctl::RSTFIFO;
            }
            Reg::Tctl => self.tctl = value,
            Reg::Data => self.tx_words.push(value),
            Reg::Ia0 => self.ia0 = value,
            Reg::Ia1 => self.ia1 = value & 0xFFFF,
            Reg::Thr => self.thr = value,
            Reg::Mctl => self.mii(value),
            Reg::Mdv => self.mdv = value,
            Reg::Mtxd => self.mtxd = value & 0xFFFF,
            Reg::Tr => {
                assert_eq!(value, tr::NEWTX);
                assert_eq!(self.tctl & tctl::TXEN, tctl::TXEN, "transmitter on");
                self.sent.push(std::mem::take(&mut self.tx_words));
            }
            other => panic!("unexpected write of {value:#x} to {other:?}"),
        }
    }
}

fn ready_driver() -> StellarisEnet<FakeController> {
    let mut nic = StellarisEnet::new(FakeController::new());
    nic.init(MAC, SYSCLK_HZ).expect("init");
    nic
}

fn chip(nic: &mut StellarisEnet<FakeController>) -> &mut FakeController {
    &mut nic.port.bus
}

/// Takes one frame through the smoltcp interface.
fn receive(nic: &mut StellarisEnet<FakeController>) -> Option<Vec<u8>> {
    let (rx, _tx) = nic.receive(Instant::ZERO)?;
    Some(rx.consume(|frame| frame.to_vec()))
}

/// A frame of `len` bytes to `destination`.
fn frame_to(destination: [u8; 6], len: usize) -> Vec<u8> {
    let mut frame: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
    frame[..6].copy_from_slice(&destination);
    frame
}

fn frame_of(len: usize) -> Vec<u8> {
    frame_to(MAC, len)
}

#[test]
fn init_configures_the_controller() {
    let mut nic = StellarisEnet::new(FakeController::new());
    let info = nic.init(MAC, SYSCLK_HZ).expect("init");
    assert_eq!(info.previous_mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(info.link, None, "the fake PHY reports no link, as QEMU's");
    let chip = chip(&mut nic);
    assert_eq!((chip.ia0, chip.ia1), (0x0000_0002, 0x0000_0100));
    assert_eq!(chip.rctl, rctl::RXEN | rctl::BADCRC, "ours and broadcast");
    assert_eq!(chip.rctl & rctl::PRMS, 0, "not promiscuous");
    assert_eq!(chip.fifo_resets, 1, "the RX FIFO emptied");
    assert_eq!(
        chip.tctl,
        tctl::TXEN | tctl::PADEN | tctl::CRC | tctl::DUPLEX
    );
    assert_eq!(chip.thr, regs::THR_OFF, "sent on MACTR only");
    assert_eq!(chip.mdv, 9, "MDC 2.5 MHz at 50 MHz");
    assert_eq!(chip.im, ENABLED_INTERRUPTS);
    assert_eq!(chip.im & int::TX_EMPTY, 0, "no interrupt per frame sent");
    assert_eq!(
        chip.phy_regs[phy::MR17 as usize],
        (phy::mr17::AN_COMPLETE | phy::mr17::LINK_CHANGE) << 8
    );
}

#[test]
fn init_reads_the_link_and_its_duplex() {
    let mut fake = FakeController::new();
    fake.phy_regs[phy::MR1 as usize] = phy::mr1::LINK | phy::mr1::AN_COMPLETE;
    fake.phy_regs[phy::MR18 as usize] = phy::mr18::RATE_100;
    let mut nic = StellarisEnet::new(fake);
    let info = nic.init(MAC, SYSCLK_HZ).expect("init");
    assert_eq!(
        info.link,
        Some(LinkMode {
            mbps: 100,
            full_duplex: false
        })
    );
    assert_eq!(chip(&mut nic).tctl & tctl::DUPLEX, 0, "half duplex");
}

#[test]
fn init_reports_an_unclocked_phy() {
    let mut fake = FakeController::new();
    fake.mii_stuck = true;
    let mut nic = StellarisEnet::new(fake);
    assert_eq!(nic.init(MAC, SYSCLK_HZ), Err(InitError::PhyTimeout));
    assert!(InitError::PhyTimeout.to_string().contains("RCGC2"));
}

#[test]
fn a_phy_interrupt_sets_the_duplex_the_link_negotiated() {
    let mut nic = ready_driver();
    let c = chip(&mut nic);
    c.phy_regs[phy::MR1 as usize] = phy::mr1::LINK | phy::mr1::AN_COMPLETE;
    c.phy_regs[phy::MR18 as usize] = phy::mr18::RATE_100;
    c.phy_regs[phy::MR17 as usize] |= phy::mr17::AN_COMPLETE;
    c.ris |= int::PHY;
    assert_eq!(nic.handle_interrupt(), int::PHY);
    assert_eq!(
        nic.link(),
        Some(LinkMode {
            mbps: 100,
            full_duplex: false
        })
    );
    let c = chip(&mut nic);
    assert_eq!(c.tctl & tctl::DUPLEX, 0);
    assert_eq!(c.phy_regs[phy::MR17 as usize] & 0xFF, 0, "acknowledged");
    assert_eq!(c.ris, 0);
    // Full duplex after renegotiating.
    c.phy_regs[phy::MR18 as usize] = phy::mr18::RATE_100 | phy::mr18::DUPLEX;
    c.ris |= int::PHY;
    nic.handle_interrupt();
    assert_eq!(chip(&mut nic).tctl & tctl::DUPLEX, tctl::DUPLEX);
    assert_eq!(nic.stats().link_events, 2);
}

#[test]
fn interrupts_are_acknowledged_and_counted() {
    let mut nic = ready_driver();
    assert_eq!(nic.handle_interrupt(), 0, "nothing pending");
    chip(&mut nic).ris = int::RX | int::RX_OVERRUN | int::RX_ERROR | int::TX_ERROR | int::TX_EMPTY;
    assert_eq!(
        nic.handle_interrupt(),
        int::RX | int::RX_OVERRUN | int::RX_ERROR | int::TX_ERROR
    );
    assert_eq!(chip(&mut nic).ris, int::TX_EMPTY, "only the enabled ones");
    let stats = nic.stats();
    assert_eq!(stats.interrupts, 1);
    assert_eq!(stats.rx_overruns, 1);
    assert_eq!(stats.rx_mac_errors, 1);
    assert_eq!(stats.tx_errors, 1);
}

#[test]
fn frames_of_every_length_come_out_whole_and_in_step() {
    let mut nic = ready_driver();
    // Every remainder mod 4, the shortest and the longest.
    let lengths = [14, 42, 60, 61, 62, 63, 64, 333, 1513, MTU];
    for &len in &lengths {
        chip(&mut nic).receive(&frame_of(len));
    }
    assert!(nic.frames_waiting());
    for &len in &lengths {
        assert_eq!(receive(&mut nic), Some(frame_of(len)), "{len} bytes");
    }
    assert_eq!(receive(&mut nic), None);
    assert!(!nic.frames_waiting());
    assert_eq!(chip(&mut nic).rx_underflows, 0, "never read past a frame");
    let stats = nic.stats();
    assert_eq!(stats.rx_frames, lengths.len() as u64);
    assert_eq!(stats.rx_bytes, lengths.iter().sum::<usize>() as u64);
}

#[test]
fn runts_and_long_frames_are_skipped_and_the_next_frame_is_whole() {
    let mut nic = ready_driver();
    let c = chip(&mut nic);
    c.receive(&frame_of(10)); // shorter than a header
    c.receive(&frame_of(1518)); // a VLAN-tagged full frame: too long
    c.receive(&frame_of(2030)); // the longest the FIFO holds
    c.receive(&frame_of(100));
    assert_eq!(receive(&mut nic), Some(frame_of(100)));
    let stats = nic.stats();
    assert_eq!(stats.rx_errors[RxError::Runt.index()], 1);
    assert_eq!(stats.rx_errors[RxError::TooLong.index()], 2);
    assert_eq!(stats.rx_errors_total(), 3);
    assert_eq!(stats.rx_fifo_resets, 0);
    assert_eq!(chip(&mut nic).rx_underflows, 0);
}

#[test]
fn a_corrupt_length_empties_the_fifo_instead_of_reading_on() {
    for field in [0u32, 3, 2049, 0xFFFF] {
        let mut nic = ready_driver();
        let c = chip(&mut nic);
        c.receive_raw(vec![field | 0xAAAA_0000, 1, 2, 3]);
        c.receive(&frame_of(100));
        assert_eq!(receive(&mut nic), None, "field {field}");
        let c = chip(&mut nic);
        assert_eq!(c.fifo_resets, 2, "init's and this one");
        assert!(c.rx_frames.is_empty());
        assert_eq!(c.rctl, rctl::RXEN | rctl::BADCRC, "receiving again");
        assert_eq!(nic.stats().rx_errors[RxError::Corrupt.index()], 1);
        assert_eq!(nic.stats().rx_fifo_resets, 1);
        // The next frame is read in step.
        chip(&mut nic).receive(&frame_of(77));
        assert_eq!(receive(&mut nic), Some(frame_of(77)));
    }
}

#[test]
fn frames_for_others_and_for_unjoined_groups_are_dropped() {
    let mut nic = ready_driver();
    let all_nodes = [0x33, 0x33, 0, 0, 0, 1];
    let solicited = [0x33, 0x33, 0xFF, 0, 0, 1];
    let c = chip(&mut nic);
    c.receive(&frame_to([0x02, 0, 0, 0, 0, 2], 60)); // someone else's (QEMU does not filter)
    c.receive(&frame_to(solicited, 86)); // no group joined yet
    c.receive(&frame_to([0xFF; 6], 42)); // broadcast: ARP
    assert_eq!(receive(&mut nic), Some(frame_to([0xFF; 6], 42)));
    assert_eq!(nic.stats().rx_filtered, 2);

    nic.accept_multicast(&[all_nodes, solicited]).unwrap();
    assert_eq!(
        chip(&mut nic).rctl,
        rctl::RXEN | rctl::BADCRC | rctl::AMUL,
        "multicast let in by the MAC"
    );
    let c = chip(&mut nic);
    c.receive(&frame_to([0x33, 0x33, 0xFF, 0, 0, 9], 86)); // another group
    c.receive(&frame_to(solicited, 86));
    c.receive(&frame_to(all_nodes, 70));
    assert_eq!(receive(&mut nic), Some(frame_to(solicited, 86)));
    assert_eq!(receive(&mut nic), Some(frame_to(all_nodes, 70)));
    assert_eq!(nic.stats().rx_filtered, 3);

    assert_eq!(
        nic.accept_multicast(&[all_nodes; 9]),
        Err(InitError::TooManyGroups(TooManyGroups { asked: 9 }))
    );
    nic.accept_multicast(&[]).unwrap();
    assert_eq!(chip(&mut nic).rctl & rctl::AMUL, 0);
}

#[test]
fn a_flood_of_unusable_frames_returns_to_the_caller() {
    let mut nic = ready_driver();
    for _ in 0..40 {
        chip(&mut nic).receive(&frame_to([0x02, 9, 9, 9, 9, 9], 60));
    }
    assert_eq!(receive(&mut nic), None, "gives up after a batch");
    assert_eq!(nic.stats().rx_filtered, MAX_SKIPPED_PER_RECEIVE as u64);
    assert!(nic.frames_waiting(), "the rest waits for the next poll");
}

#[test]
fn a_frame_is_sent_behind_its_payload_length() {
    let mut nic = ready_driver();
    for len in [42, 60, 61, 62, 63, 1400, MTU] {
        let frame = frame_to([0xFF; 6], len);
        let token = nic.transmit(Instant::ZERO).expect("room");
        token.consume(len, |buf| buf.copy_from_slice(&frame));
        let c = chip(&mut nic);
        let words = c.sent.last().unwrap().clone();
        assert_eq!(words.len(), frame::tx_fifo_words(len), "{len} bytes");
        assert_eq!(words[0] & 0xFFFF, (len - 14) as u32, "the payload's length");
        assert_eq!(c.sent_frames().last().unwrap(), &frame);
    }
    assert_eq!(nic.stats().tx_frames, 7);
}

#[test]
fn no_token_while_the_previous_frame_is_going() {
    let mut nic = ready_driver();
    chip(&mut nic).tx_busy_reads = 1;
    assert!(nic.transmit(Instant::ZERO).is_none());
    assert_eq!(nic.stats().tx_busy, 1);
    assert!(nic.transmit(Instant::ZERO).is_some());
}

#[test]
fn a_stuck_transmitter_drops_the_frame_instead_of_hanging() {
    let mut nic = ready_driver();
    // Free when asked for a token, busy for good from then on.
    chip(&mut nic).tx_stuck_after_reads = Some(1);
    let token = nic.transmit(Instant::ZERO).expect("room");
    token.consume(60, |buf| buf.fill(1));
    assert_eq!(nic.stats().tx_dropped, 1);
    assert!(chip(&mut nic).sent.is_empty());
}

#[test]
fn a_frame_shorter_than_a_header_is_not_sent() {
    let mut nic = ready_driver();
    let token = nic.transmit(Instant::ZERO).expect("room");
    token.consume(10, |buf| buf.fill(1));
    assert_eq!(nic.stats().tx_dropped, 1);
    assert!(chip(&mut nic).sent.is_empty());
}

#[test]
fn a_reply_goes_out_through_the_token_of_its_request() {
    let mut nic = ready_driver();
    chip(&mut nic).receive(&frame_of(60));
    let (rx, tx) = nic.receive(Instant::ZERO).expect("a frame");
    let request = rx.consume(|frame| frame.to_vec());
    tx.consume(request.len(), |buf| {
        buf.copy_from_slice(&request);
        buf[..6].fill(0xFF);
    });
    let sent = chip(&mut nic).sent_frames();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][6..], request[6..]);
}

#[test]
fn capabilities_are_ethernet_with_a_1514_byte_mtu() {
    let nic = StellarisEnet::new(FakeController::new());
    let caps = nic.capabilities();
    assert_eq!(caps.medium, Medium::Ethernet);
    assert_eq!(caps.max_transmission_unit, 1514);
    assert_eq!(caps.max_burst_size, Some(1));
}

/// Whatever the FIFO holds, the driver neither panics nor reads past the
/// frames the controller counts: length words of every value (each frame
/// as many words as its length says, as the MAC writes them, or any number
/// when the length is one the FIFO cannot hold), contents of any bytes,
/// with well-formed frames in between.
#[test]
fn no_fifo_content_makes_the_driver_panic_or_underflow() {
    let mut nic = ready_driver();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..3000 {
        let c = chip(&mut nic);
        if round % 3 == 0 {
            c.receive(&frame_of(14 + (next() % 1501) as usize));
        } else {
            let field = (next() % 0x1_0000) as usize;
            let words = if field <= frame::RX_FIFO_BYTES {
                frame::words_for(field).max(1)
            } else {
                1 + (next() % 600) as usize
            };
            let mut frame: Vec<u32> = (0..words).map(|_| next() as u32).collect();
            frame[0] = (frame[0] & 0xFFFF_0000) | field as u32;
            c.receive_raw(frame);
        }
        while nic.frames_waiting() {
            let _ = receive(&mut nic);
        }
    }
    let stats = *nic.stats();
    assert_eq!(chip(&mut nic).rx_underflows, 0);
    assert!(stats.rx_frames >= 1000, "every good frame: {stats:?}");
    assert!(stats.rx_fifo_resets > 0 && stats.rx_errors_total() > 0);
}
