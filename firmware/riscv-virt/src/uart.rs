//! The virt board's UART, an NS16550A at 0x1000_0000 (byte-wide registers,
//! PLIC interrupt 10), as the console: the runtime's log and report go out
//! on it, and single-key commands come in.
//!
//! Transmit is polled (wait until the holding register is empty, bounded);
//! receive raises the "data available" interrupt, which only wakes the
//! main loop from `wfi`: the loop reads the byte.

use core::ptr::{read_volatile, write_volatile};

const BASE: usize = 0x1000_0000;
/// The UART's line on the PLIC.
pub const IRQ: u32 = 10;

/// Receive buffer (read) / transmit holding register (write); with
/// LCR.DLAB the divisor's low byte.
const RBR_THR: usize = 0;
/// Interrupt enable; with LCR.DLAB the divisor's high byte. Bit 0: data
/// available.
const IER: usize = 1;
const IER_RX_AVAILABLE: u8 = 1 << 0;
/// FIFO control (write): enable, clear both.
const FCR: usize = 2;
const FCR_ENABLE_AND_CLEAR: u8 = 0b111;
/// Line control: 8 data bits, no parity, 1 stop bit; bit 7 DLAB.
const LCR: usize = 3;
const LCR_8N1: u8 = 0b11;
const LCR_DLAB: u8 = 1 << 7;
/// Modem control: DTR, RTS, and OUT2, which gates the interrupt line on
/// PC-style boards (QEMU's model ignores it; real 16550s need it).
const MCR: usize = 4;
const MCR_DTR_RTS_OUT2: u8 = 0b1011;
/// Line status: bit 0 data ready, bit 5 transmit holding register empty.
const LSR: usize = 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// The input clock of the virt board's UART (its device tree says 3.6864
/// MHz); the divisor for 115200 baud is 2. QEMU ignores it.
const CLOCK_HZ: u32 = 3_686_400;
const BAUD: u32 = 115_200;

fn read(offset: usize) -> u8 {
    // SAFETY: a register of the virt board's UART; volatile, because
    // reading RBR pops the received byte.
    unsafe { read_volatile((BASE + offset) as *const u8) }
}

fn write(offset: usize, value: u8) {
    // SAFETY: as in `read`.
    unsafe { write_volatile((BASE + offset) as *mut u8, value) }
}

/// Sets the UART up: 115200 baud 8N1, FIFOs on, an interrupt when a byte
/// arrives. Idempotent (the panic handler calls it again in case the panic
/// came first).
pub fn init() {
    let divisor = CLOCK_HZ / (16 * BAUD);
    write(IER, 0);
    write(LCR, LCR_DLAB);
    write(RBR_THR, divisor as u8);
    write(IER, (divisor >> 8) as u8);
    write(LCR, LCR_8N1);
    write(FCR, FCR_ENABLE_AND_CLEAR);
    write(MCR, MCR_DTR_RTS_OUT2);
    write(IER, IER_RX_AVAILABLE);
}

fn write_byte(byte: u8) {
    udpkit_runtime::console::wait_for_transmitter(
        || read(LSR) & LSR_THR_EMPTY != 0,
        crate::board::monotonic_micros,
    );
    write(RBR_THR, byte);
}

/// The next received byte, if one is waiting. Reading it also lowers the
/// UART's interrupt line once the FIFO is empty.
pub fn read_byte() -> Option<u8> {
    (read(LSR) & LSR_DATA_READY != 0).then(|| read(RBR_THR))
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
