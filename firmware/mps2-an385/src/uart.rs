//! UART0 of the board, an Arm CMSDK APB UART, as the console: the
//! runtime's log and report go out on it, and single-key commands come in.
//!
//! Transmit is polled (wait while the one-byte TX buffer is full), receive
//! raises UART0's RX interrupt, whose handler only wakes the main loop.

use core::ptr::{read_volatile, write_volatile};

use crate::board::{monotonic_micros, SYSCLK_HZ};

/// UART0's registers.
const BASE: usize = 0x4000_4000;
const DATA: usize = 0x00;
/// STATE: bit 0 TX buffer full, bit 1 RX buffer full.
const STATE: usize = 0x04;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
/// CTRL: bit 0 TX enable, bit 1 RX enable, bit 3 RX interrupt enable.
const CTRL: usize = 0x08;
const CTRL_TX_ENABLE: u32 = 1 << 0;
const CTRL_RX_ENABLE: u32 = 1 << 1;
const CTRL_RX_INTERRUPT: u32 = 1 << 3;
/// INTSTATUS on read, INTCLEAR on write: bit 1 RX interrupt.
const INTCLEAR: usize = 0x0C;
const INT_RX: u32 = 1 << 1;
/// Baud rate divider: PCLK / baud rate (at least 16).
const BAUDDIV: usize = 0x10;

const BAUD: u32 = 115_200;

fn read(offset: usize) -> u32 {
    // SAFETY: an aligned register of UART0, which exists on this board;
    // volatile, because reads of DATA pop the RX buffer.
    unsafe { read_volatile((BASE + offset) as *const u32) }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { write_volatile((BASE + offset) as *mut u32, value) }
}

/// Sets the UART up: 115200 baud, transmitter and receiver on, an
/// interrupt per received byte. Idempotent (the panic handler calls it
/// again in case the panic came first).
pub fn init() {
    write(BAUDDIV, SYSCLK_HZ / BAUD);
    write(CTRL, CTRL_TX_ENABLE | CTRL_RX_ENABLE | CTRL_RX_INTERRUPT);
}

fn write_byte(byte: u8) {
    udpkit_runtime::console::wait_for_transmitter(
        || read(STATE) & STATE_TX_FULL == 0,
        monotonic_micros,
    );
    write(DATA, u32::from(byte));
}

/// The next received byte, if one is waiting.
pub fn read_byte() -> Option<u8> {
    (read(STATE) & STATE_RX_FULL != 0).then(|| read(DATA) as u8)
}

/// The RX interrupt: clear it and wake the main loop, which reads the byte.
pub fn acknowledge_rx_interrupt() {
    write(INTCLEAR, INT_RX);
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
