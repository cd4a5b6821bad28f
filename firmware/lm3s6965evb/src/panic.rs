//! What happens when things go wrong: a panic or a fault is reported on the
//! console (message, where, uptime, stack use: the runtime's report), then
//! the board stops: with the `semihosting` feature QEMU exits with status
//! 1, without it the chip resets (what a board in the field should do).

use core::panic::PanicInfo;

use cortex_m_rt::{exception, ExceptionFrame};
use udpkit_runtime::Text;

use crate::board::Lm3s6965;
use crate::uart;

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    cortex_m::interrupt::disable();
    // The panic may have come before the console was set up.
    uart::init();
    udpkit_runtime::report_panic::<Lm3s6965>(info);
    stop()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    uart::init();
    Text::<Lm3s6965>::new()
        .str("\n!!! HARD FAULT at pc ")
        .hex(frame.pc())
        .str(" (lr ")
        .hex(frame.lr())
        .str(", xpsr ")
        .hex(frame.xpsr())
        .str(")\n");
    udpkit_runtime::report_stop::<Lm3s6965>();
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
