//! udpkit on QEMU's mps2-an385 board: an Arm Cortex-M3 with an SMSC LAN9118
//! Ethernet controller (a LAN9220 on the real FPGA board).
//!
//! The services, their storage, the loop, the console and the SNTP
//! start-up are the shared firmware runtime's (`udpkit_runtime`): this
//! board gives it the hardware ([`board::An385`], a [`udpkit_runtime::Platform`]):
//!
//! - `board.rs`: the LAN9118 on the memory bus, SysTick as the monotonic
//!   clock, timer 0 for the deadline, `wfi` sleep, the interrupt vectors;
//! - `uart.rs`: UART0 as the console;
//! - `mem.rs`: with the `small-mem` feature, `memcpy`, `memmove` and
//!   `memset` small rather than fast (the smallest image's);
//! - `div.rs`: with it too, the 64-bit division, small rather than fast;
//! - `memory.rs`: the stack painted at boot and its high-water mark;
//! - `panic.rs`: the panic and fault report, then QEMU exits (or the chip
//!   resets);
//! - `memory.x`: the memory map, within a small MCU's budget.
//!
//! The network settings are the core's defaults: 192.168.69.1/24,
//! fdaa::1/64 and fe80::1/64, MAC 02:00:00:00:00:01.

#![no_std]
#![no_main]

mod board;
#[cfg(feature = "small-mem")]
mod div;
#[cfg(feature = "small-mem")]
mod mem;
mod memory;
mod panic;
mod uart;

use cortex_m_rt::entry;
use udpkit::Config;

use board::An385;

#[entry]
fn main() -> ! {
    // First, before anything uses much stack: mark the free stack.
    let noise = memory::paint_stack();
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    board::start_clock(core.SYST);
    uart::init();
    udpkit_runtime::start_logging::<An385>();
    #[cfg(feature = "division-check")]
    udpkit_runtime::Text::<An385>::new()
        .str("division check: ")
        .number(div::check())
        .str(" quotients and remainders right\n");

    let config = Config::default();
    let board = match An385::start(&config, noise) {
        Ok(board) => board,
        Err(error) => udpkit_runtime::fail!(
            "Ethernet controller not started",
            "Ethernet controller: {error}"
        ),
    };
    udpkit_runtime::run(board, config)
}
