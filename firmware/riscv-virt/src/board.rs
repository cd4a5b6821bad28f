//! QEMU's RISC-V `virt` board as the core's [`udpkit::Board`] and the
//! runtime's [`Platform`]: the virtio-net device as the network device,
//! the CLINT's `mtime` (10 MHz) as the monotonic clock and its `mtimecmp`
//! to wake up at the stack's next deadline, the PLIC for the NIC's and the
//! UART's interrupts, the NS16550A UART as the console.
//!
//! **No interrupt handler at all.** Interrupts stay globally off
//! (`mstatus.MIE` is never set); only `mie` enables the machine timer
//! and external (PLIC) interrupts. `wfi` resumes when an interrupt enabled
//! in `mie` is pending, whatever `mstatus.MIE` says (the privileged spec's
//! rule, which QEMU follows), so the loop sleeps in `wfi` and, woken,
//! does the work itself: claim and complete at the PLIC, acknowledge the
//! device. An event between the last look and `wfi` stays pending and
//! ends `wfi` at once: none is slept through, and nothing is shared with
//! a handler.

use core::ptr::{read_volatile, write_volatile};

use udpkit::smoltcp::time::Instant;
use udpkit::{Board, Config, UnixTime};
use udpkit_runtime::{splitmix64, MemoryUse, Platform};

use crate::net::{self, VirtioNet};
use crate::{memory, uart};

fn write_register(address: usize, value: u32) {
    // SAFETY: every caller passes an aligned register of the virt board.
    unsafe { write_volatile(address as *mut u32, value) }
}

fn read_register(address: usize) -> u32 {
    // SAFETY: as in `write_register`.
    unsafe { read_volatile(address as *const u32) }
}

// --- The clock: the CLINT's mtime and mtimecmp --------------------------------

/// The CLINT (core-local interruptor): `mtime`, a 64-bit counter at 10 MHz
/// on the virt board (its device tree's `timebase-frequency`), and hart 0's
/// `mtimecmp`: the machine timer interrupt is pending while `mtime >=
/// mtimecmp`.
mod clint {
    pub const MTIMECMP: usize = 0x0200_4000;
    pub const MTIME: usize = 0x0200_BFF8;
    pub const TICKS_PER_MICROSECOND: u64 = 10;
}

/// `mtime`, read as two 32-bit halves (RV32): the high half again after
/// the low one, and once more if it changed meanwhile (the low half
/// wrapped between the reads).
fn mtime() -> u64 {
    loop {
        let high = read_register(clint::MTIME + 4);
        let low = read_register(clint::MTIME);
        if read_register(clint::MTIME + 4) == high {
            return (u64::from(high) << 32) | u64::from(low);
        }
    }
}

/// Sets `mtimecmp`, without a moment where the half-written value lies in
/// the past (which would raise the interrupt early): the high half to its
/// maximum first, then the low half, then the real high half.
fn set_mtimecmp(ticks: u64) {
    write_register(clint::MTIMECMP + 4, u32::MAX);
    write_register(clint::MTIMECMP, ticks as u32);
    write_register(clint::MTIMECMP + 4, (ticks >> 32) as u32);
}

/// Microseconds since QEMU started the board (`mtime` starts at 0 then;
/// on a real chip, at reset). Wraps after 58,000 years.
pub fn monotonic_micros() -> u64 {
    mtime() / clint::TICKS_PER_MICROSECOND
}

// --- The PLIC -----------------------------------------------------------------

/// The platform-level interrupt controller: every source's priority, and
/// for context 0 (hart 0 in M-mode) the enable bits, the priority
/// threshold and the claim/complete register.
mod plic {
    pub const BASE: usize = 0x0C00_0000;
    pub const PRIORITY: usize = BASE;
    pub const ENABLE_CONTEXT_0: usize = BASE + 0x2000;
    pub const THRESHOLD_CONTEXT_0: usize = BASE + 0x20_0000;
    pub const CLAIM_CONTEXT_0: usize = BASE + 0x20_0004;
}

/// Lets `irq` interrupt context 0: priority 1 (above the threshold 0).
fn plic_enable(irq: u32) {
    write_register(plic::PRIORITY + 4 * irq as usize, 1);
    let word = plic::ENABLE_CONTEXT_0 + 4 * (irq / 32) as usize;
    write_register(word, read_register(word) | (1 << (irq % 32)));
}

// --- The board -----------------------------------------------------------------

/// The board as the core and the runtime see it.
pub struct Virt {
    nic: VirtioNet,
    seed: u64,
}

impl Virt {
    /// Starts the virtio-net device and the interrupts it and the UART
    /// raise. `noise`: whatever entropy the caller collected (the old RAM
    /// contents). Once.
    pub fn start(config: &Config, noise: u64) -> Result<Virt, net::StartError> {
        // SAFETY: the one call (main's); nothing else touches virtio-mmio.
        let nic = unsafe { VirtioNet::start() }?;
        let device = nic.device_mac();
        let ours = config.mac.0;
        if device != ours {
            // smoltcp sends from the configured address; QEMU's device
            // passes every frame on (no receive filter without the
            // control queue), so this works, but the two should agree.
            let [a, b, c, d, e, f] = device;
            log::warn!(
                "virtio: the device's MAC address is {a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}, \
                 not the configured one (QEMU: -device virtio-net-device,mac=...)"
            );
        }
        // No hardware random number generator (a virtio-rng device would
        // be one): mix what differs between boots. mtime depends on how
        // long QEMU took to get here, the old RAM contents are noise on
        // real SRAM after power-up, and the MAC differs per board.
        let mut seed = noise
            ^ u64::from_le_bytes([ours[0], ours[1], ours[2], ours[3], ours[4], ours[5], 0, 0]);
        seed = splitmix64(seed ^ mtime());

        write_register(plic::THRESHOLD_CONTEXT_0, 0);
        plic_enable(nic.irq());
        plic_enable(uart::IRQ);
        set_mtimecmp(u64::MAX);
        // SAFETY: only `mie` (which interrupts may end `wfi`); `mstatus.MIE`
        // stays off, so no trap is ever taken for them.
        unsafe {
            riscv::register::mie::set_mtimer();
            riscv::register::mie::set_mext();
        }
        Ok(Virt { nic, seed })
    }
}

impl Board for Virt {
    type Device = VirtioNet;

    fn device(&mut self) -> &mut VirtioNet {
        &mut self.nic
    }

    fn now(&mut self) -> Instant {
        Instant::from_micros(monotonic_micros() as i64)
    }

    /// The virt board has a Goldfish RTC, but a real small RISC-V MCU has
    /// none that is set: the wall clock is the runtime's SNTP client's, as
    /// on the other boards.
    fn wall_clock(&mut self) -> Option<UnixTime> {
        None
    }

    fn entropy_seed(&mut self) -> u64 {
        self.seed
    }
}

impl Platform for Virt {
    const NAME: &'static str = "riscv-virt";
    const NIC: &'static str = "virtio-net";
    const DESCRIPTION: &'static str = "RV32IMAC (QEMU virt), virtio-net over MMIO";

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

    /// Claims every pending PLIC interrupt: the NIC's is acknowledged at
    /// the device (its line drops), the UART's needs nothing more (reading
    /// its bytes lowers it, `console_key` does); then completes each, so
    /// the source can interrupt again.
    fn handle_events(&mut self) {
        // Bounded: the PLIC has 96 sources on this board.
        for _ in 0..96 {
            let irq = read_register(plic::CLAIM_CONTEXT_0);
            if irq == 0 {
                break;
            }
            if irq == self.nic.irq() {
                self.nic.acknowledge();
            }
            write_register(plic::CLAIM_CONTEXT_0, irq);
        }
    }

    /// The UART's next byte: a register read per turn of the loop, which
    /// the loop makes only when woken.
    fn console_key(&mut self) -> Option<u8> {
        uart::read_byte()
    }

    /// Sleeps (`wfi`) until the deadline (`mtimecmp`) or a PLIC interrupt:
    /// a frame, a transmit buffer back, a console byte.
    fn sleep_until(&mut self, deadline: Option<Instant>) {
        let ticks = match deadline {
            Some(deadline) => {
                let micros = deadline.total_micros().max(0) as u64;
                let ticks = micros.saturating_mul(clint::TICKS_PER_MICROSECOND);
                if ticks <= mtime() {
                    return;
                }
                ticks
            }
            None => u64::MAX,
        };
        // mtimecmp is an absolute deadline already: no conversion to a
        // delay, no timer to start or stop.
        set_mtimecmp(ticks);
        if self.nic.frames_waiting() {
            return;
        }
        // An interrupt pending now (or arriving from here on) ends `wfi`
        // at once; see the module's documentation.
        riscv::asm::wfi();
    }

    /// The virtio-net device's counters.
    fn report(&mut self, out: &mut dyn core::fmt::Write) {
        let n = self.nic.stats();
        let _ = writeln!(
            out,
            "nic: rx {} frames {} bytes, bad {}, not reposted {}; \
             tx {} frames {} bytes, failed {}, busy {}; interrupts {}",
            n.rx_frames,
            n.rx_bytes,
            n.rx_errors,
            n.rx_repost_errors,
            n.tx_frames,
            n.tx_bytes,
            n.tx_errors,
            n.tx_busy,
            n.interrupts
        );
    }
}
