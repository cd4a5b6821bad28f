//! UART0 of the board, an Arm CMSDK APB UART, as the console: `log` output
//! goes out on it, and single-key commands come in (see `main.rs`).
//!
//! Transmit is polled (wait while the one-byte TX buffer is full), receive
//! raises UART0's RX interrupt, whose handler only wakes the main loop.

use core::fmt::{self, Write};
use core::ptr::{read_volatile, write_volatile};

use crate::board::{self, SYSCLK_HZ};

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
    // The TX buffer holds one byte; at 115200 baud it drains in ~87 µs
    // (in QEMU at once). Bounded, so a broken UART cannot hang the logger.
    for _ in 0..100_000 {
        if read(STATE) & STATE_TX_FULL == 0 {
            break;
        }
    }
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

/// The console as a `fmt::Write`: `\n` goes out as `\r\n` for terminals.
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                write_byte(b'\r');
            }
            write_byte(byte);
        }
        Ok(())
    }
}

/// `log` to the console: `[   12.345] INFO  target: message`, the time
/// in seconds since boot. Logging happens in the main loop only (interrupt
/// handlers never log), so nothing interleaves.
pub struct Logger;

pub static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let micros = board::monotonic_micros();
        let _ = writeln!(
            Console,
            "[{:>5}.{:03}] {:<5} {}: {}",
            micros / 1_000_000,
            (micros / 1000) % 1000,
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}
