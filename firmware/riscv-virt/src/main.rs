//! udpkit on QEMU's RISC-V `virt` board: a 32-bit RISC-V hart (RV32IMAC,
//! machine mode, no firmware underneath: `-bios none`) with virtio-net
//! over MMIO. The third board, the first that is not an Arm: the core and
//! the runtime are the same.
//!
//! The services, their storage, the loop, the console and the SNTP
//! start-up are the shared firmware runtime's (`udpkit_runtime`): this
//! board gives it the hardware ([`board::Virt`], a
//! [`udpkit_runtime::Platform`]):
//!
//! - `board.rs`: the CLINT's `mtime` as the monotonic clock, `mtimecmp` for
//!   the deadline, the PLIC, `wfi` sleep without interrupt handlers;
//! - `net.rs`: the virtio-net device (rcore-os's `virtio-drivers`) with
//!   static DMA pages and frame buffers, as a smoltcp `Device`;
//! - `uart.rs`: the NS16550A UART as the console;
//! - `memory.rs`: the stack painted at boot and its high-water mark;
//! - `panic.rs`: the panic and exception report, then QEMU exits (or the
//!   hart halts);
//! - `memory.x`: a small MCU's memory in the board's RAM.
//!
//! The network settings are the core's defaults: 192.168.69.1/24,
//! fdaa::1/64 and fe80::1/64, MAC 02:00:00:00:00:01.

#![no_std]
#![no_main]

mod board;
mod memory;
mod net;
mod panic;
mod uart;

use udpkit::Config;

use board::Virt;

#[riscv_rt::entry]
fn main() -> ! {
    // First, before anything uses much stack: mark the free stack.
    let noise = memory::paint_stack();
    uart::init();
    udpkit_runtime::start_logging::<Virt>();

    let config = Config::default();
    let board = match Virt::start(&config, noise) {
        Ok(board) => board,
        Err(error) => panic!("virtio-net: {error}"),
    };
    udpkit_runtime::run(board, config)
}
