//! What happens when things go wrong: a panic or an exception is reported
//! on the console (message, where, uptime, stack use: the runtime's
//! report), then the board stops: with the `qemu-exit` feature QEMU exits
//! with status 1 (the virt board's test device), without it the hart
//! halts in `wfi` with every interrupt off (a watchdog would reset a chip
//! in the field).

use core::panic::PanicInfo;
use core::ptr::write_volatile;

use udpkit_runtime::Text;

use crate::board::Virt;
use crate::uart;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // The panic may have come before the console was set up.
    uart::init();
    udpkit_runtime::report_panic::<Virt>(info);
    stop()
}

/// Every exception (riscv-rt's `ExceptionHandler`): an illegal
/// instruction, a misaligned or faulting access, ... Interrupts never trap
/// here (`mstatus.MIE` stays off, see board.rs).
#[export_name = "ExceptionHandler"]
fn exception_handler(frame: &riscv_rt::TrapFrame) -> ! {
    uart::init();
    Text::<Virt>::new()
        .str("\n!!! EXCEPTION ")
        .number(riscv::register::mcause::read().bits() as u64)
        .str(" at pc ")
        .hex(riscv::register::mepc::read() as u32)
        .str(" (mtval ")
        .hex(riscv::register::mtval::read() as u32)
        .str(", ra ")
        .hex(frame.ra as u32)
        .str(")\n");
    udpkit_runtime::report_stop::<Virt>();
    stop()
}

/// The virt board's test device ("sifive,test0"): writing 0x3333 with an
/// exit code in the upper half ends QEMU with that code.
const FINISHER: usize = 0x0010_0000;
const FINISHER_FAIL: u32 = 0x3333;

fn stop() -> ! {
    if cfg!(feature = "qemu-exit") {
        // SAFETY: the test device's one register; QEMU exits on the write.
        unsafe { write_volatile(FINISHER as *mut u32, FINISHER_FAIL | (1 << 16)) };
    }
    // SAFETY: interrupts off for good, then halt: nothing wakes it but a
    // reset.
    unsafe { riscv::register::mie::write(riscv::register::mie::Mie::from_bits(0)) };
    loop {
        riscv::asm::wfi();
    }
}
