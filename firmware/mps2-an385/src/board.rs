//! The mps2-an385 board as the core's [`udpkit::Board`] and the runtime's
//! [`Platform`]: its LAN9118 as the network device, SysTick as the
//! monotonic clock, CMSDK timer 0 to wake up at the stack's next deadline,
//! UART0 as the console, and the interrupt vector table.
//!
//! Everything an interrupt handler does here is to note that something
//! happened (and, for the NIC, to mask its level-triggered line); the main
//! loop does the work. So no driver state is shared with a handler.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::scb::VectActive;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{NVIC, SCB, SYST};
use cortex_m_rt::exception;
use lan9118::{Bus, Lan9118, Reg};
use static_cell::ConstStaticCell;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::{Board, Config, UnixTime};
use udpkit_runtime::{splitmix64, MemoryUse, Platform};

use crate::{memory, uart};

/// The board's one clock: CPU, SysTick and the APB peripherals.
pub const SYSCLK_HZ: u32 = 25_000_000;
const CYCLES_PER_MICROSECOND: u32 = SYSCLK_HZ / 1_000_000;

/// Where the LAN9118 (a LAN9220 on the real board) sits.
pub const LAN9118_BASE: usize = 0x4020_0000;

/// The device interrupts this port uses, by their line number.
#[derive(Debug, Clone, Copy)]
#[repr(u16)]
pub enum Irq {
    Uart0Rx = 0,
    Timer0 = 8,
    Ethernet = 13,
}

// SAFETY: the numbers are the AN385's interrupt lines (below its 32).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

// --- Interrupt handlers and the vector table --------------------------------

/// Set by the handlers, taken by the main loop.
static NIC_EVENT: AtomicBool = AtomicBool::new(false);
static CONSOLE_EVENT: AtomicBool = AtomicBool::new(false);

/// The LAN9118's line stays asserted until the chip is acknowledged, which
/// the main loop does ([`Platform::handle_events`]); until then the line is
/// masked so the handler does not run again and again.
extern "C" fn ethernet_handler() {
    NVIC::mask(Irq::Ethernet);
    NIC_EVENT.store(true, Ordering::Release);
}

extern "C" fn uart0_rx_handler() {
    crate::uart::acknowledge_rx_interrupt();
    CONSOLE_EVENT.store(true, Ordering::Release);
}

/// Timer 0 fired: the stack's deadline has come. Waking up is all it is for.
extern "C" fn timer0_handler() {
    wake_timer::stop();
}

extern "C" fn unexpected_handler() {
    match SCB::vect_active() {
        VectActive::Interrupt { irqn } => {
            udpkit_runtime::fail!("unexpected interrupt", "unexpected interrupt {irqn}")
        }
        other => udpkit_runtime::fail!("unexpected exception", "unexpected exception {other:?}"),
    }
}

/// One entry of the device part of the vector table.
#[derive(Clone, Copy)]
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// The AN385's 32 device interrupt vectors (cortex-m-rt's `device` feature
/// places them after the core exceptions).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static __INTERRUPTS: [Vector; 32] = {
    let mut table = [Vector {
        handler: unexpected_handler,
    }; 32];
    table[Irq::Uart0Rx as usize] = Vector {
        handler: uart0_rx_handler,
    };
    table[Irq::Timer0 as usize] = Vector {
        handler: timer0_handler,
    };
    table[Irq::Ethernet as usize] = Vector {
        handler: ethernet_handler,
    };
    table
};

// --- The monotonic clock: SysTick -------------------------------------------

/// SysTick wraps every half second: the longest round period below its
/// 24-bit limit at 25 MHz (0.67 s), so an idle board wakes twice a second.
const TICK_CYCLES: u32 = SYSCLK_HZ / 2;
const TICK_MICROS: u64 = 500_000;

/// Half seconds since boot (wraps after 68 years).
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Whether SysTick's counter has been seen loaded (non-zero) yet. Started
/// from 0, it reads 0 until it loads the reload value, on its first clock
/// on a real chip, but in QEMU only once the emulator gets round to its
/// timer, which can take the whole boot. That 0 is no period's end.
static LOADED: AtomicBool = AtomicBool::new(false);

#[exception]
fn SysTick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the monotonic clock; first thing at boot, so that even the first
/// log line has its time.
pub fn start_clock(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(TICK_CYCLES - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Microseconds since boot: whole half seconds counted by the SysTick
/// handler plus the cycles SysTick has counted down since. Never goes
/// back, whenever it is read (see the cases below).
pub fn monotonic_micros() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut ticks = TICKS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        let cycles = if SCB::is_pendst_pending() {
            // SysTick wrapped but its handler has not run yet (interrupts
            // are off here): count that wrap, and re-read the counter,
            // which may have been read just before the wrap. Still 0: the
            // wrap itself, the new period just begun.
            ticks = ticks.wrapping_add(1);
            match SYST::get_current() {
                0 => 0,
                current => TICK_CYCLES - 1 - current,
            }
        } else if current != 0 {
            LOADED.store(true, Ordering::Relaxed);
            TICK_CYCLES - 1 - current
        } else if LOADED.load(Ordering::Relaxed) {
            // The end of a period, its interrupt not raised yet (QEMU
            // raises it when it runs its timer, possibly late).
            TICK_CYCLES - 1
        } else {
            // Not loaded yet: nothing has elapsed.
            0
        };
        u64::from(ticks) * TICK_MICROS + u64::from(cycles / CYCLES_PER_MICROSECOND)
    })
}

// --- The wake-up timer: CMSDK APB timer 0 ------------------------------------

/// A one-shot alarm for the stack's next deadline. Timer 0 counts down at
/// 25 MHz from VALUE and interrupts at zero (32 bits: up to 171 s ahead;
/// a later deadline just wakes the loop early, which then sleeps again).
mod wake_timer {
    use super::*;

    const BASE: usize = 0x4000_0000;
    /// CTRL: bit 0 enable, bit 3 interrupt enable.
    const CTRL: usize = 0x0;
    const CTRL_ENABLE: u32 = 1 << 0;
    const CTRL_INTERRUPT: u32 = 1 << 3;
    const VALUE: usize = 0x4;
    const RELOAD: usize = 0x8;
    /// INTSTATUS on read, INTCLEAR on write.
    const INTCLEAR: usize = 0xC;

    fn write(offset: usize, value: u32) {
        // SAFETY: an aligned register of timer 0, which exists on this board.
        unsafe { write_volatile((BASE + offset) as *mut u32, value) }
    }

    pub fn start(after: Duration) {
        let cycles = after
            .total_micros()
            .saturating_mul(u64::from(CYCLES_PER_MICROSECOND))
            .clamp(1, u64::from(u32::MAX)) as u32;
        write(CTRL, 0);
        write(INTCLEAR, 1);
        write(RELOAD, cycles);
        write(VALUE, cycles);
        write(CTRL, CTRL_ENABLE | CTRL_INTERRUPT);
    }

    pub fn stop() {
        write(CTRL, 0);
        write(INTCLEAR, 1);
    }
}

// --- The LAN9118 on the board's memory bus ----------------------------------

/// The LAN9118's registers as plain 32-bit memory-mapped I/O at
/// [`LAN9118_BASE`]. Zero-sized (the address is a constant), so a driver
/// `static` is all zeros and costs no flash.
pub struct Mmio {
    _private: (),
}

impl Mmio {
    /// # Safety
    /// Only one `Mmio` may exist: the driver owning it must be the only
    /// code that touches the chip.
    pub const unsafe fn new() -> Mmio {
        Mmio { _private: () }
    }
}

impl Bus for Mmio {
    fn read(&mut self, reg: Reg) -> u32 {
        // SAFETY: the chip is at LAN9118_BASE on this board and its
        // registers are aligned words; volatile, as FIFO reads pop.
        unsafe { read_volatile((LAN9118_BASE + reg.offset()) as *const u32) }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((LAN9118_BASE + reg.offset()) as *mut u32, value) }
    }
}

pub type Nic = Lan9118<Mmio, { udpkit_runtime::storage::FRAME }>;

// --- The board ---------------------------------------------------------------

/// The NIC, handed out once (see [`An385::start`]). Its `Mmio` is zero-sized
/// and the driver's buffers start as zeros, so this is .bss: no flash.
static NIC: ConstStaticCell<Nic> =
    // SAFETY (of the Mmio): this is the only one, owned by the only driver.
    ConstStaticCell::new(Nic::new(unsafe { Mmio::new() }));

/// The board as the core and the runtime see it.
pub struct An385 {
    nic: &'static mut Nic,
    seed: u64,
}

impl An385 {
    /// Starts the NIC (its MAC address and filter from `config`) and
    /// enables the interrupts. `noise`: whatever entropy the caller
    /// collected (the old RAM contents). Call [`start_clock`] first.
    /// Once: a second call panics (the NIC is taken).
    pub fn start(config: &Config, noise: u64) -> Result<An385, lan9118::InitError> {
        let nic = NIC.take();
        let mac = config.mac.0;
        let chip = nic.init(mac)?;
        udpkit_runtime::info!(
            "lan9118: chip {:04x} revision {}, link {}",
            chip.id,
            chip.revision,
            match chip.link {
                Some(l) if l.full_duplex => "up, full duplex",
                Some(_) => "up, half duplex",
                None => "negotiating",
            }
        );
        // IPv6 needs its multicast groups through the MAC filter (an
        // IPv4-only image has none).
        nic.accept_multicast(&udpkit_runtime::multicast_groups(config))?;
        // No hardware random number generator on this board: mix what
        // differs between boots. The NIC's free-running 25 MHz counter and
        // SysTick depend on how long booting took (in QEMU: on the host),
        // the old RAM contents are noise on real SRAM after power-up, and
        // the MAC differs per board. Enough for smoltcp's port numbers and
        // IDs; not for cryptography.
        let mut seed =
            noise ^ u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]);
        for sample in [
            nic.free_running_counter(),
            SYST::get_current(),
            nic.free_running_counter(),
        ] {
            seed = splitmix64(seed ^ u64::from(sample));
        }
        // SAFETY: the handlers only touch atomics and their own device's
        // interrupt registers; unmasking cannot break a critical section
        // (none is active here).
        unsafe {
            NVIC::unmask(Irq::Ethernet);
            NVIC::unmask(Irq::Uart0Rx);
            NVIC::unmask(Irq::Timer0);
        }
        Ok(An385 { nic, seed })
    }
}

impl Board for An385 {
    type Device = Nic;

    fn device(&mut self) -> &mut Nic {
        self.nic
    }

    fn now(&mut self) -> Instant {
        Instant::from_micros(monotonic_micros() as i64)
    }

    /// No RTC: the wall clock is the runtime's SNTP client's, which the
    /// stack uses when the board has none. Until it has synced, time and
    /// daytime stay silent, as RFC 868 asks of a host that does not know
    /// the time, and NTP answers with a kiss-o'-death.
    fn wall_clock(&mut self) -> Option<UnixTime> {
        None
    }

    fn entropy_seed(&mut self) -> u64 {
        self.seed
    }
}

impl Platform for An385 {
    const NAME: &'static str = "mps2-an385";
    const NIC: &'static str = "lan9118";
    const DESCRIPTION: &'static str = "Cortex-M3 at 25 MHz, LAN9118 Ethernet";

    fn console_write(text: &str) {
        uart::write_str(text);
    }

    fn uptime_micros() -> u64 {
        monotonic_micros()
    }

    fn memory_use() -> MemoryUse {
        let stack = memory::stack_usage();
        MemoryUse {
            static_ram: memory::static_ram(),
            stack_used: stack.used,
            stack_size: stack.size,
        }
    }

    /// If the NIC interrupted: acknowledge the chip, then let its line
    /// interrupt again.
    fn handle_events(&mut self) {
        if NIC_EVENT.swap(false, Ordering::Acquire) {
            self.nic.handle_interrupt();
            // SAFETY: as in `start`.
            unsafe { NVIC::unmask(Irq::Ethernet) };
        }
    }

    /// The UART's next byte, read only after its RX interrupt said one
    /// came (a register read per loop saved).
    fn console_key(&mut self) -> Option<u8> {
        if !CONSOLE_EVENT.swap(false, Ordering::Acquire) {
            return None;
        }
        let key = uart::read_byte();
        if key.is_some() {
            // More may be waiting: look again before sleeping.
            CONSOLE_EVENT.store(true, Ordering::Release);
        }
        key
    }

    /// Sleeps (`wfi`) until an interrupt: a frame, a console byte, SysTick,
    /// or the wake-up timer set for `deadline`.
    fn sleep_until(&mut self, deadline: Option<Instant>) {
        let delay = match deadline {
            Some(deadline) => {
                let now = self.now();
                if deadline <= now {
                    return;
                }
                Some(deadline - now)
            }
            None => None,
        };
        // With interrupts masked (PRIMASK), check that nothing is pending,
        // then WFI: a pending interrupt still ends WFI, and its handler runs
        // when `free` unmasks. An event between the check and WFI is thus
        // never slept through.
        cortex_m::interrupt::free(|_| {
            if NIC_EVENT.load(Ordering::Acquire)
                || CONSOLE_EVENT.load(Ordering::Acquire)
                || self.nic.frames_waiting()
            {
                return;
            }
            match delay {
                Some(delay) => wake_timer::start(delay),
                None => wake_timer::stop(),
            }
            cortex_m::asm::wfi();
        });
    }

    /// The LAN9118's counters.
    fn report(&mut self, out: &mut dyn core::fmt::Write) {
        let n = self.nic.stats();
        let _ = writeln!(
            out,
            "nic: rx {} frames {} bytes, bad {}, dropped {}; tx {} frames {} bytes, \
             failed {}, busy {}, dropped {}; interrupts {}, fifo errors {}, link events {}",
            n.rx_frames,
            n.rx_bytes,
            n.rx_errors_total(),
            n.rx_dropped,
            n.tx_frames,
            n.tx_bytes,
            n.tx_errors,
            n.tx_busy,
            n.tx_dropped,
            n.interrupts,
            n.fifo_errors,
            n.link_events
        );
    }
}
