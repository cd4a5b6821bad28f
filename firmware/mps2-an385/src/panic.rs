//! What happens when things go wrong: a panic or a fault is reported on the
//! console (message, where, uptime, stack use), then the board stops: with
//! the `semihosting` feature QEMU exits with status 1, without it the chip
//! resets (what a board in the field should do).

use core::fmt::Write;
use core::panic::PanicInfo;

use cortex_m_rt::{exception, ExceptionFrame};

use crate::uart::{self, Console};
use crate::{board, memory};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    // The panic may have come before the console was set up.
    uart::init();
    let micros = board::monotonic_micros();
    let _ = writeln!(
        Console,
        "\n!!! PANIC at {}.{:03} s: {info}",
        micros / 1_000_000,
        (micros / 1000) % 1000
    );
    report_stack_and_stop()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    uart::init();
    let _ = writeln!(
        Console,
        "\n!!! HARD FAULT at pc {:#010x} (lr {:#010x}, xpsr {:#010x})",
        frame.pc(),
        frame.lr(),
        frame.xpsr()
    );
    report_stack_and_stop()
}

fn report_stack_and_stop() -> ! {
    let stack = memory::stack_usage();
    let _ = writeln!(
        Console,
        "!!! stack: {} of {} bytes used at most; stopping",
        stack.used, stack.size
    );
    stop()
}

fn stop() -> ! {
    #[cfg(feature = "semihosting")]
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    #[cfg(not(feature = "semihosting"))]
    cortex_m::peripheral::SCB::sys_reset();
    #[allow(unreachable_code)]
    loop {
        cortex_m::asm::wfi();
    }
}
