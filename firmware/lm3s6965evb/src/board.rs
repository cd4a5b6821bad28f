//! The LM3S6965 evaluation board as the core's [`udpkit::Board`] and the
//! runtime's [`Platform`]: the chip's Ethernet controller as the network
//! device, SysTick as the monotonic clock, general-purpose timer 0 to wake
//! up at the stack's next deadline, UART0 as the console, and the interrupt
//! vector table.
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
use static_cell::ConstStaticCell;
use stellaris_enet::{Bus, Reg, StellarisEnet};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::{Board, Config, UnixTime};
use udpkit_runtime::{splitmix64, MemoryUse, Platform};

use crate::{memory, uart};

/// The system clock once [`start_system_clock`] has run: the PLL's 200 MHz
/// divided by 4, the chip's top speed. CPU, SysTick, timers and UART.
pub const SYSCLK_HZ: u32 = 50_000_000;
const CYCLES_PER_MICROSECOND: u32 = SYSCLK_HZ / 1_000_000;

/// Where the Ethernet controller sits.
pub const ENET_BASE: usize = 0x4004_8000;

/// The device interrupts this port uses, by their line number.
#[derive(Debug, Clone, Copy)]
#[repr(u16)]
pub enum Irq {
    Uart0 = 5,
    Timer0A = 19,
    Ethernet = 42,
}

// SAFETY: the numbers are the LM3S6965's interrupt lines (below its 48).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self as u16
    }
}

fn write_register(address: usize, value: u32) {
    // SAFETY: every caller passes an aligned register of this chip.
    unsafe { write_volatile(address as *mut u32, value) }
}

fn read_register(address: usize) -> u32 {
    // SAFETY: as in `write_register`.
    unsafe { read_volatile(address as *const u32) }
}

// --- The system clock and the peripherals' clocks ------------------------------

/// System control: the clock configuration (RCC), the raw interrupt status
/// (RIS, bit 6: the PLL locked) and its clear (MISC), the run-mode clock
/// gates (RCGC1: UART0 bit 0, timer 0 bit 16; RCGC2: GPIO A bit 0, the
/// Ethernet MAC bit 28 and PHY bit 30).
const SYSCTL_RIS: usize = 0x400F_E050;
const SYSCTL_MISC: usize = 0x400F_E058;
const SYSCTL_RCC: usize = 0x400F_E060;
const SYSCTL_RCGC1: usize = 0x400F_E104;
const SYSCTL_RCGC2: usize = 0x400F_E108;
const PLL_LOCKED: u32 = 1 << 6;

/// RCC fields.
mod rcc {
    pub const MOSCDIS: u32 = 1 << 0;
    pub const OSCSRC_MASK: u32 = 0b11 << 4;
    pub const XTAL_MASK: u32 = 0xF << 6;
    /// The EVB's 8 MHz crystal.
    pub const XTAL_8MHZ: u32 = 0xE << 6;
    pub const BYPASS: u32 = 1 << 11;
    pub const PWRDN: u32 = 1 << 13;
    pub const USESYSDIV: u32 = 1 << 22;
    pub const SYSDIV_MASK: u32 = 0xF << 23;
    /// 200 MHz / (3 + 1) = 50 MHz.
    pub const SYSDIV_50MHZ: u32 = 3 << 23;
}

/// GPIO port A: PA0/PA1 are UART0's RX/TX as their alternate function.
const GPIO_A_AFSEL: usize = 0x4000_4420;
const GPIO_A_DEN: usize = 0x4000_451C;

/// Runs the chip at 50 MHz from the PLL (the EVB's 8 MHz crystal) and
/// clocks the peripherals this port uses. First thing at boot: it came up
/// on the 12 MHz internal oscillator (QEMU: 12.5 MHz). QEMU models exactly
/// the divider (its "PLL" is always 200 MHz) and the lock bit.
pub fn start_system_clock() {
    // As the datasheet orders it: bypass the PLL while changing it, then
    // the crystal as the source and the PLL powered, then the divider,
    // and once the PLL has locked, use it.
    let mut value = read_register(SYSCTL_RCC) | rcc::BYPASS;
    value &= !rcc::USESYSDIV;
    write_register(SYSCTL_RCC, value);
    value &= !(rcc::MOSCDIS | rcc::OSCSRC_MASK | rcc::XTAL_MASK | rcc::PWRDN);
    value |= rcc::XTAL_8MHZ;
    write_register(SYSCTL_MISC, PLL_LOCKED);
    write_register(SYSCTL_RCC, value);
    value = (value & !rcc::SYSDIV_MASK) | rcc::SYSDIV_50MHZ | rcc::USESYSDIV;
    write_register(SYSCTL_RCC, value);
    // The PLL locks within 0.5 ms; bounded, and a PLL that never locks
    // leaves the chip running on the crystal (slow clocks, not a hang).
    let locked = (0..100_000).any(|_| read_register(SYSCTL_RIS) & PLL_LOCKED != 0);
    if locked {
        write_register(SYSCTL_RCC, value & !rcc::BYPASS);
    }
    write_register(
        SYSCTL_RCGC1,
        read_register(SYSCTL_RCGC1) | (1 << 0) | (1 << 16),
    );
    write_register(
        SYSCTL_RCGC2,
        read_register(SYSCTL_RCGC2) | (1 << 0) | (1 << 28) | (1 << 30),
    );
    // A peripheral's registers answer a few cycles after its clock starts.
    cortex_m::asm::delay(16);
    write_register(GPIO_A_AFSEL, read_register(GPIO_A_AFSEL) | 0b11);
    write_register(GPIO_A_DEN, read_register(GPIO_A_DEN) | 0b11);
}

// --- Interrupt handlers and the vector table --------------------------------

/// Set by the handlers, taken by the main loop.
static NIC_EVENT: AtomicBool = AtomicBool::new(false);
static CONSOLE_EVENT: AtomicBool = AtomicBool::new(false);

/// The controller's line stays asserted until it is acknowledged, which
/// the main loop does ([`Platform::handle_events`]); until then the line is
/// masked so the handler does not run again and again.
extern "C" fn ethernet_handler() {
    NVIC::mask(Irq::Ethernet);
    NIC_EVENT.store(true, Ordering::Release);
}

extern "C" fn uart0_handler() {
    uart::acknowledge_rx_interrupt();
    CONSOLE_EVENT.store(true, Ordering::Release);
}

/// Timer 0 fired: the stack's deadline has come. Waking up is all it is for.
extern "C" fn timer0a_handler() {
    wake_timer::stop();
}

extern "C" fn unexpected_handler() {
    match SCB::vect_active() {
        VectActive::Interrupt { irqn } => panic!("unexpected interrupt {irqn}"),
        other => panic!("unexpected exception {other:?}"),
    }
}

/// One entry of the device part of the vector table.
#[derive(Clone, Copy)]
#[repr(C)]
pub union Vector {
    handler: unsafe extern "C" fn(),
    reserved: usize,
}

/// The LM3S6965's device interrupt vectors (cortex-m-rt's `device` feature
/// places them after the core exceptions).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
pub static __INTERRUPTS: [Vector; 48] = {
    let mut table = [Vector {
        handler: unexpected_handler,
    }; 48];
    table[Irq::Uart0 as usize] = Vector {
        handler: uart0_handler,
    };
    table[Irq::Timer0A as usize] = Vector {
        handler: timer0a_handler,
    };
    table[Irq::Ethernet as usize] = Vector {
        handler: ethernet_handler,
    };
    table
};

// --- The monotonic clock: SysTick -------------------------------------------

/// SysTick wraps every quarter second: its 24-bit counter holds at most
/// 0.33 s at 50 MHz. (QEMU does not connect SysTick's reference clock on
/// this board, so it runs on the core clock, as here.)
const TICK_CYCLES: u32 = SYSCLK_HZ / 4;
const TICK_MICROS: u64 = 250_000;

/// Quarter seconds since boot (wraps after 34 years).
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Whether SysTick's counter has been seen loaded (non-zero) yet: QEMU
/// loads it only once it gets round to its timer, and until then reads 0,
/// which is no period's end.
static LOADED: AtomicBool = AtomicBool::new(false);

#[exception]
fn SysTick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Starts the monotonic clock; at boot, right after the system clock, so
/// that even the first log line has its time.
pub fn start_clock(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(TICK_CYCLES - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Microseconds since boot: whole quarter seconds counted by the SysTick
/// handler plus the cycles SysTick has counted down since. Never goes
/// back, whenever it is read (see mps2-an385's board.rs for the cases).
pub fn monotonic_micros() -> u64 {
    cortex_m::interrupt::free(|_| {
        let mut ticks = TICKS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        let cycles = if SCB::is_pendst_pending() {
            // Wrapped, the handler not run yet: count the wrap and re-read.
            ticks = ticks.wrapping_add(1);
            match SYST::get_current() {
                0 => 0,
                current => TICK_CYCLES - 1 - current,
            }
        } else if current != 0 {
            LOADED.store(true, Ordering::Relaxed);
            TICK_CYCLES - 1 - current
        } else if LOADED.load(Ordering::Relaxed) {
            TICK_CYCLES - 1
        } else {
            0
        };
        u64::from(ticks) * TICK_MICROS + u64::from(cycles / CYCLES_PER_MICROSECOND)
    })
}

// --- The wake-up timer: general-purpose timer 0 ------------------------------

/// A one-shot alarm for the stack's next deadline: timer 0 as one 32-bit
/// timer counting down at 50 MHz, interrupting at zero (up to 85 s ahead;
/// a later deadline just wakes the loop early, which then sleeps again).
mod wake_timer {
    use super::*;

    const BASE: usize = 0x4003_0000;
    /// GPTMCFG: 0, one 32-bit timer.
    const CFG: usize = 0x00;
    /// GPTMTAMR: 1, one-shot.
    const TAMR: usize = 0x04;
    const TAMR_ONE_SHOT: u32 = 0x1;
    /// GPTMCTL: bit 0 TAEN, timer A on.
    const CTL: usize = 0x0C;
    const CTL_TAEN: u32 = 1 << 0;
    /// GPTMIMR and GPTMICR: bit 0, timer A time-out.
    const IMR: usize = 0x18;
    const ICR: usize = 0x24;
    const TIMEOUT: u32 = 1 << 0;
    /// GPTMTAILR: the count to start from.
    const TAILR: usize = 0x28;

    pub fn start(after: Duration) {
        let cycles = after
            .total_micros()
            .saturating_mul(u64::from(CYCLES_PER_MICROSECOND))
            .clamp(1, u64::from(u32::MAX)) as u32;
        write_register(BASE + CTL, 0);
        write_register(BASE + CFG, 0);
        write_register(BASE + TAMR, TAMR_ONE_SHOT);
        write_register(BASE + ICR, TIMEOUT);
        write_register(BASE + TAILR, cycles);
        write_register(BASE + IMR, TIMEOUT);
        write_register(BASE + CTL, CTL_TAEN);
    }

    pub fn stop() {
        write_register(BASE + CTL, 0);
        write_register(BASE + ICR, TIMEOUT);
    }
}

// --- The Ethernet controller on the chip's bus ------------------------------

/// The Ethernet controller's registers as 32-bit memory-mapped I/O at
/// [`ENET_BASE`]. Zero-sized (the address is a constant), so a driver
/// `static` is all zeros and costs no flash.
pub struct Mmio {
    _private: (),
}

impl Mmio {
    /// # Safety
    /// Only one `Mmio` may exist: the driver owning it must be the only
    /// code that touches the controller.
    pub const unsafe fn new() -> Mmio {
        Mmio { _private: () }
    }
}

impl Bus for Mmio {
    fn read(&mut self, reg: Reg) -> u32 {
        // SAFETY: the controller is at ENET_BASE on this chip and its
        // registers are aligned words; volatile, as MACDATA reads pop.
        unsafe { read_volatile((ENET_BASE + reg.offset()) as *const u32) }
    }

    fn write(&mut self, reg: Reg, value: u32) {
        // SAFETY: as in `read`.
        unsafe { write_volatile((ENET_BASE + reg.offset()) as *mut u32, value) }
    }
}

pub type Nic = StellarisEnet<Mmio>;

// --- The board ---------------------------------------------------------------

/// The NIC, handed out once (see [`Lm3s6965::start`]); all zeros: .bss.
static NIC: ConstStaticCell<Nic> =
    // SAFETY (of the Mmio): this is the only one, owned by the only driver.
    ConstStaticCell::new(Nic::new(unsafe { Mmio::new() }));

/// The board as the core and the runtime see it.
pub struct Lm3s6965 {
    nic: &'static mut Nic,
    seed: u64,
}

impl Lm3s6965 {
    /// Starts the Ethernet controller (its MAC address and filter from
    /// `config`) and enables the interrupts. `noise`: whatever entropy the
    /// caller collected (the old RAM contents). Call [`start_system_clock`]
    /// and [`start_clock`] first. Once: a second call panics (the NIC is
    /// taken).
    pub fn start(config: &Config, noise: u64) -> Result<Lm3s6965, stellaris_enet::InitError> {
        let nic = NIC.take();
        let mac = config.mac.0;
        let chip = nic.init(mac, SYSCLK_HZ)?;
        let [a, b, c, d, e, f] = chip.previous_mac;
        log::info!(
            "stellaris: MAC address set (the controller held {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}), link {}",
            match chip.link {
                Some(l) if l.full_duplex => "up, full duplex",
                Some(_) => "up, half duplex",
                None => "not reported yet",
            }
        );
        // IPv6 needs its multicast groups through the filter (an
        // IPv4-only image has none).
        nic.accept_multicast(&udpkit_runtime::multicast_groups(config))?;
        // No hardware random number generator: mix what differs between
        // boots. SysTick depends on how long booting took (in QEMU: on the
        // host), the old RAM contents are noise on real SRAM after
        // power-up, and the MAC differs per board. Enough for smoltcp's
        // port numbers and IDs; not for cryptography.
        let mut seed =
            noise ^ u64::from_le_bytes([mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], 0, 0]);
        for sample in [SYST::get_current(), TICKS.load(Ordering::Relaxed)] {
            seed = splitmix64(seed ^ u64::from(sample));
        }
        // SAFETY: the handlers only touch atomics and their own device's
        // interrupt registers; unmasking cannot break a critical section
        // (none is active here).
        unsafe {
            NVIC::unmask(Irq::Ethernet);
            NVIC::unmask(Irq::Uart0);
            NVIC::unmask(Irq::Timer0A);
        }
        Ok(Lm3s6965 { nic, seed })
    }
}

impl Board for Lm3s6965 {
    type Device = Nic;

    fn device(&mut self) -> &mut Nic {
        self.nic
    }

    fn now(&mut self) -> Instant {
        Instant::from_micros(monotonic_micros() as i64)
    }

    /// The hibernation module's RTC would need a battery; the wall clock is
    /// the runtime's SNTP client's, as on mps2-an385.
    fn wall_clock(&mut self) -> Option<UnixTime> {
        None
    }

    fn entropy_seed(&mut self) -> u64 {
        self.seed
    }
}

impl Platform for Lm3s6965 {
    const NAME: &'static str = "lm3s6965evb";
    const NIC: &'static str = "stellaris-enet";
    const DESCRIPTION: &'static str = "Cortex-M3 at 50 MHz, Stellaris Ethernet";

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

    /// If the NIC interrupted: acknowledge the controller, then let its
    /// line interrupt again.
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

    /// The Ethernet controller's counters.
    fn report(&mut self, out: &mut dyn core::fmt::Write) {
        let n = self.nic.stats();
        let _ = writeln!(
            out,
            "nic: rx {} frames {} bytes, bad {}, filtered {}, fifo resets {}, overruns {}; \
             tx {} frames {} bytes, failed {}, busy {}, dropped {}; interrupts {}, link events {}",
            n.rx_frames,
            n.rx_bytes,
            n.rx_errors_total() + n.rx_mac_errors,
            n.rx_filtered,
            n.rx_fifo_resets,
            n.rx_overruns,
            n.tx_frames,
            n.tx_bytes,
            n.tx_errors,
            n.tx_busy,
            n.tx_dropped,
            n.interrupts,
            n.link_events
        );
    }
}
