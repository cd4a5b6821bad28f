//! UART0 of the LM3S6965, an Arm PL011, as the console: the runtime's log
//! and report go out on it, and single-key commands come in.
//!
//! Transmit is polled (wait while the TX holding register is full), receive
//! raises UART0's RX interrupt, whose handler only wakes the main loop. The
//! FIFOs stay off: one byte, one interrupt.

use core::ptr::{read_volatile, write_volatile};

use crate::board::SYSCLK_HZ;

/// UART0's registers.
const BASE: usize = 0x4000_C000;
const DR: usize = 0x000;
/// FR: bit 4 RX empty, bit 5 TX full.
const FR: usize = 0x018;
const FR_RX_EMPTY: u32 = 1 << 4;
const FR_TX_FULL: u32 = 1 << 5;
/// The baud rate divisor: its integer and its fractional part (64ths).
const IBRD: usize = 0x024;
const FBRD: usize = 0x028;
/// LCRH: bits 6:5 word length (3: 8 bits); FIFOs (bit 4) off. Writing it
/// also latches the divisor.
const LCRH: usize = 0x02C;
const LCRH_8_BITS: u32 = 0b11 << 5;
/// CR: bit 0 UART enable, bit 8 TX enable, bit 9 RX enable.
const CR: usize = 0x030;
const CR_ENABLE: u32 = (1 << 0) | (1 << 8) | (1 << 9);
/// IMSC (interrupt mask) and ICR (interrupt clear): bit 4 RX.
const IMSC: usize = 0x038;
const ICR: usize = 0x044;
const INT_RX: u32 = 1 << 4;

const BAUD: u32 = 115_200;

fn read(offset: usize) -> u32 {
    // SAFETY: an aligned register of UART0, which exists on this chip;
    // volatile, because reads of DR pop the received byte.
    unsafe { read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { write_volatile((BASE + offset) as *mut u32, value) }
}

/// Sets the UART up: 115200 baud 8N1, transmitter and receiver on, an
/// interrupt per received byte. Idempotent (the panic handler calls it
/// again in case the panic came first). The board clocks UART0 and hands
/// it pins PA0/PA1 first ([`crate::board::start_system_clock`]).
pub fn init() {
    // The divisor in 64ths: SYSCLK / (16 × baud), rounded.
    let divisor = (SYSCLK_HZ * 4 + BAUD / 2) / BAUD;
    write(CR, 0);
    write(IBRD, divisor >> 6);
    write(FBRD, divisor & 0x3F);
    write(LCRH, LCRH_8_BITS);
    write(IMSC, INT_RX);
    write(CR, CR_ENABLE);
}

fn write_byte(byte: u8) {
    udpkit_runtime::console::wait_for_transmitter(
        || read(FR) & FR_TX_FULL == 0,
        crate::board::monotonic_micros,
    );
    write(DR, u32::from(byte));
}

/// The next received byte, if one is waiting.
pub fn read_byte() -> Option<u8> {
    (read(FR) & FR_RX_EMPTY == 0).then(|| read(DR) as u8)
}

/// The RX interrupt: clear it and wake the main loop, which reads the byte.
pub fn acknowledge_rx_interrupt() {
    write(ICR, INT_RX);
}

/// Writes `text` to the console, `\n` as `\r\n` for terminals.
pub fn write_str(text: &str) {
    for byte in text.bytes() {
        if byte == b'\n' {
            write_byte(b'\r');
        }
        write_byte(byte);
    }
}
