//! udpkit on TI's Stellaris LM3S6965 evaluation board (QEMU's
//! `lm3s6965evb`): an Arm Cortex-M3 at 50 MHz with 256 KiB of flash, 64 KiB
//! of SRAM and an Ethernet controller (MAC and PHY) of its own.
//!
//! The services, their storage, the loop, the console and the SNTP
//! start-up are the shared firmware runtime's (`udpkit_runtime`): this
//! board gives it the hardware ([`board::Lm3s6965`], a
//! [`udpkit_runtime::Platform`]):
//!
//! - `board.rs`: the system clock (PLL at 50 MHz), the Ethernet controller
//!   on the memory bus, SysTick as the monotonic clock, general-purpose
//!   timer 0 for the deadline, `wfi` sleep, the interrupt vectors;
//! - `uart.rs`: UART0 (a PL011) as the console;
//! - `memory.rs`: the stack painted at boot and its high-water mark;
//! - `panic.rs`: the panic and fault report, then QEMU exits (or the chip
//!   resets);
//! - `memory.x`: the chip's memory map.
//!
//! The network settings are the core's defaults: 192.168.69.1/24,
//! fdaa::1/64 and fe80::1/64, MAC 02:00:00:00:00:01.

#![no_std]
#![no_main]

mod board;
mod memory;
mod panic;
mod uart;

use cortex_m_rt::entry;
use udpkit::Config;

use board::Lm3s6965;

#[entry]
fn main() -> ! {
    // First, before anything uses much stack: mark the free stack.
    let noise = memory::paint_stack();
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    board::start_system_clock();
    board::start_clock(core.SYST);
    uart::init();
    udpkit_runtime::start_logging::<Lm3s6965>();

    let config = Config::default();
    let board = match Lm3s6965::start(&config, noise) {
        Ok(board) => board,
        Err(error) => panic!("Ethernet controller: {error}"),
    };
    udpkit_runtime::run(board, config)
}
