//! The console, a board's UART: `log` output with the time since boot,
//! single-key commands (`s` a report of every counter, `p` a panic on
//! purpose), the wall clock's coming and going, and what a panic handler
//! prints.

use core::fmt::{self, Write};
use core::marker::PhantomData;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use udpkit::smoltcp::time::Instant;
use udpkit::{ClockSource, Discard, Stack, UnixTime};

use crate::{Platform, SNTP_SERVER};

/// How long a UART's next byte may wait for room in its transmitter. A
/// byte takes 87 µs at 115200 baud; in QEMU the transmitter drains as
/// fast as whoever reads the console takes the bytes, which a loaded host
/// held up for over 50 ms (bytes of the boot log were lost). A second is
/// far beyond any working UART and is paid once by a dead one.
pub const TRANSMIT_PATIENCE_MICROS: u64 = 1_000_000;

/// A transmitter stayed full for [`TRANSMIT_PATIENCE_MICROS`]: taken for
/// broken, and not waited for again until it has room.
static TRANSMITTER_STUCK: AtomicBool = AtomicBool::new(false);

/// Waits until a board's UART can take a byte (`has_room`), by the clock
/// (`now_micros`) rather than by a count of reads, which is milliseconds
/// on a fast host and next to nothing on a loaded one, where bytes were
/// lost. At most [`TRANSMIT_PATIENCE_MICROS`], and not at all while the
/// UART is taken for broken, so that a dead console costs the logger one
/// wait, not one per byte.
pub fn wait_for_transmitter(mut has_room: impl FnMut() -> bool, now_micros: fn() -> u64) {
    if has_room() {
        TRANSMITTER_STUCK.store(false, Ordering::Relaxed);
        return;
    }
    if TRANSMITTER_STUCK.load(Ordering::Relaxed) {
        return;
    }
    let start = now_micros();
    while !has_room() {
        if now_micros().saturating_sub(start) > TRANSMIT_PATIENCE_MICROS {
            TRANSMITTER_STUCK.store(true, Ordering::Relaxed);
            return;
        }
    }
}

/// The console as a [`fmt::Write`]: text goes to
/// [`Platform::console_write`]. Usable anywhere, the panic handler
/// included.
pub struct Console<P>(PhantomData<fn() -> P>);

impl<P: Platform> Console<P> {
    /// The board's console.
    pub const fn new() -> Console<P> {
        Console(PhantomData)
    }
}

impl<P: Platform> Default for Console<P> {
    fn default() -> Console<P> {
        Console::new()
    }
}

impl<P: Platform> Write for Console<P> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        P::console_write(s);
        Ok(())
    }
}

/// `log` to the console: `[   12.345] INFO  target: message`, the time in
/// seconds since boot. Logging happens in the main loop only (interrupt
/// handlers never log), so nothing interleaves.
struct Logger<P>(PhantomData<fn() -> P>);

impl<P: Platform> log::Log for Logger<P> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let micros = P::uptime_micros();
        let _ = writeln!(
            Console::<P>::new(),
            "[{:>5}.{:03}] {:<5} {}: {}",
            micros / 1_000_000,
            (micros / 1000) % 1000,
            record.level(),
            record.target(),
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Sends `log` to the board's console (info and above) and logs the
/// board's banner. Call it once the console and the clock run, before
/// anything logs. A logger can be set only once: later calls log the
/// banner and change nothing else.
pub fn start_logging<P: Platform + 'static>() {
    // A zero-sized value: `&` of it is a promoted `'static` constant.
    let _ = log::set_logger(&Logger::<P>(PhantomData));
    log::set_max_level(log::LevelFilter::Info);
    log::info!(
        "udpkit {} on {}: {}",
        env!("CARGO_PKG_VERSION"),
        P::NAME,
        P::DESCRIPTION
    );
}

/// What a key typed on the console does.
pub fn command<P: Platform>(key: u8, stack: &Stack<'_>, board: &mut P) {
    match key {
        b's' | b'S' => report(stack, board),
        b'p' | b'P' => panic!("panic requested on the console"),
        b'\r' | b'\n' | b' ' => {}
        _ => {
            let _ = writeln!(
                Console::<P>::new(),
                "keys: s = report, p = panic (test the panic report)"
            );
        }
    }
}

/// The `s` report: every counter, the clock and the memory use.
pub fn report<P: Platform>(stack: &Stack<'_>, board: &mut P) {
    let micros = P::uptime_micros();
    let mut out = Console::<P>::new();
    let _ = writeln!(
        out,
        "--- report at {}.{:03} s ---",
        micros / 1_000_000,
        (micros / 1000) % 1000
    );
    for (service, port, s) in stack.services() {
        let _ = writeln!(
            out,
            "service {} port {port}: received {} sent {} refused {} discarded {} \
             (no-wall-clock {}) unroutable {} oversized {} send-failed {} stalls {}",
            service.name(),
            s.received,
            s.sent,
            s.refused_total(),
            s.discarded_total(),
            s.discarded[Discard::NoWallClock.index()],
            s.unroutable,
            s.oversized,
            s.send_failed,
            s.stall_resets
        );
        let mut first = true;
        service.counters(&mut |name, value| {
            let _ = write!(
                out,
                "{}{name} {value}",
                if first { "  counters: " } else { ", " }
            );
            first = false;
        });
        if !first {
            let _ = writeln!(out);
        }
    }
    board.report(&mut out);
    let neighbor = stack.neighbor_stats();
    let (known, capacity) = stack.neighbors();
    let _ = writeln!(
        out,
        "neighbors: {known} of {capacity}, taught {}, evicted {}, unresolved {}, resolutions {}, cache emptied {}, foreign {}",
        neighbor.taught,
        neighbor.evicted,
        neighbor.unresolved,
        neighbor.resolutions,
        neighbor.cache_flushes,
        neighbor.foreign
    );
    #[cfg(feature = "dhcp")]
    if let Some(dhcp) = stack.dhcp_stats() {
        match stack.dhcp_lease() {
            Some(lease) => {
                let _ = write!(out, "dhcp: holding {lease}");
            }
            None => {
                let _ = write!(out, "dhcp: no lease");
            }
        }
        let _ = writeln!(
            out,
            "; leases {}, renewals {}, lost {}, not used {}",
            dhcp.leases, dhcp.renewals, dhcp.lost, dhcp.refused
        );
    }
    match wall_clock(stack, board.now()) {
        Some((wall, source)) => {
            let _ = writeln!(
                out,
                "clock: {} (SNTP from {SNTP_SERVER}, stratum {})",
                DateText(wall),
                source.stratum
            );
        }
        None => {
            let _ = writeln!(out, "clock: not set (SNTP from {SNTP_SERVER})");
        }
    }
    let memory = P::memory_use();
    let _ = writeln!(
        out,
        "ram: {} bytes static; stack high-water {} of {} bytes",
        memory.static_ram, memory.stack_used, memory.stack_size
    );
    let _ = writeln!(out, "--- end of report ---");
}

/// For a board's panic handler: the message, where, and the uptime, then
/// [`report_stop`]. Writes only to the console; the board stops itself
/// afterwards (exit QEMU, reset the chip).
pub fn report_panic<P: Platform>(info: &PanicInfo<'_>) {
    let micros = P::uptime_micros();
    let _ = writeln!(
        Console::<P>::new(),
        "\n!!! PANIC at {}.{:03} s: {info}",
        micros / 1_000_000,
        (micros / 1000) % 1000
    );
    report_stop::<P>();
}

/// The last line before a board stops (after a panic or a fault): how
/// deep the stack went, a hint whether it overflowed.
pub fn report_stop<P: Platform>() {
    let memory = P::memory_use();
    let _ = writeln!(
        Console::<P>::new(),
        "!!! stack: {} of {} bytes used at most; stopping",
        memory.stack_used,
        memory.stack_size
    );
}

/// The wall clock the stack uses: the SNTP client's, once it has synced
/// (the boards have none of their own).
fn wall_clock(stack: &Stack<'_>, now: Instant) -> Option<(UnixTime, ClockSource)> {
    stack
        .services()
        .find_map(|(service, _, _)| service.wall_clock(now))
}

/// Logs when the wall clock is set, and if it is ever lost (no good reply
/// for about 12 days: its error bound passed 16 s).
pub(crate) struct ClockWatch {
    set: bool,
}

impl ClockWatch {
    pub(crate) fn new() -> ClockWatch {
        ClockWatch { set: false }
    }

    pub(crate) fn check(&mut self, stack: &Stack<'_>, now: Instant) {
        match (self.set, wall_clock(stack, now)) {
            (false, Some((wall, source))) => {
                self.set = true;
                log::info!(
                    "clock: set to {} by SNTP from {SNTP_SERVER}, stratum {} here: \
                     time, daytime and ntp answer",
                    DateText(wall),
                    source.stratum
                );
            }
            (true, None) => {
                self.set = false;
                log::warn!(
                    "clock: lost (no good reply from {SNTP_SERVER} for too long): \
                     time, daytime and ntp stop answering"
                );
            }
            _ => {}
        }
    }
}

/// A time as `2026-11-23 15:04:05 UTC`.
struct DateText(UnixTime);

impl fmt::Display for DateText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.0.to_civil();
        write!(
            f,
            "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

/// A MAC address as `02:00:00:00:00:01`, as the host prints it.
pub(crate) struct MacText(pub [u8; 6]);

impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}
