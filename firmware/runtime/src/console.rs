//! The console, a board's UART: `log` output with the time since boot,
//! single-key commands (`s` a report of every counter, `p` a panic on
//! purpose), the wall clock's coming and going, and what a panic handler
//! prints.
//!
//! Without the `console` feature nothing logs and nothing here uses
//! `core::fmt`: the clock line, a short `s` report (each service's
//! counts, the RAM) and the panic report are plain text ([`Text`]), and a
//! panic prints its message only when it is a plain text, and where it
//! happened.

#[cfg(feature = "console")]
use core::fmt::{self, Write};
#[cfg(feature = "console")]
use core::marker::PhantomData;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use udpkit::smoltcp::time::Instant;
#[cfg(feature = "console")]
use udpkit::Discard;
use udpkit::{ClockSource, UnixTime};

use crate::storage::BoardStack;

pub use crate::text::Text;
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
#[cfg(feature = "console")]
pub struct Console<P>(PhantomData<fn() -> P>);

#[cfg(feature = "console")]
impl<P: Platform> Console<P> {
    /// The board's console.
    pub const fn new() -> Console<P> {
        Console(PhantomData)
    }
}

#[cfg(feature = "console")]
impl<P: Platform> Default for Console<P> {
    fn default() -> Console<P> {
        Console::new()
    }
}

#[cfg(feature = "console")]
impl<P: Platform> Write for Console<P> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        P::console_write(s);
        Ok(())
    }
}

/// `log` to the console: `[   12.345] INFO  target: message`, the time in
/// seconds since boot. Logging happens in the main loop only (interrupt
/// handlers never log), so nothing interleaves.
#[cfg(feature = "console")]
struct Logger<P>(PhantomData<fn() -> P>);

#[cfg(feature = "console")]
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
#[cfg(feature = "console")]
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

/// Writes the board's banner (there is no logger without the `console`
/// feature: nothing logs). Call it once the console and the clock run.
#[cfg(not(feature = "console"))]
pub fn start_logging<P: Platform + 'static>() {
    Text::<P>::new()
        .str("udpkit ")
        .str(env!("CARGO_PKG_VERSION"))
        .str(" on ")
        .str(P::NAME)
        .str(": ")
        .str(P::DESCRIPTION)
        .str("\n");
}

/// What a key typed on the console does.
pub fn command<P: Platform>(key: u8, stack: &BoardStack<'_>, board: &mut P) {
    match key {
        b's' | b'S' => report(stack, board),
        b'p' | b'P' => panic!("panic requested on the console"),
        b'\r' | b'\n' | b' ' => {}
        _ => {
            Text::<P>::new().str("keys: s = report, p = panic (test the panic report)\n");
        }
    }
}

/// The `s` report: every counter, the clock and the memory use.
#[cfg(feature = "console")]
pub fn report<P: Platform>(stack: &BoardStack<'_>, board: &mut P) {
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
#[cfg(feature = "console")]
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

/// For a board's panic handler: where, the uptime, and the message if it
/// is a plain text (a formatted one would need `core::fmt`, which an image
/// without the `console` feature leaves out), then [`report_stop`]. Writes
/// only to the console; the board stops itself afterwards.
#[cfg(not(feature = "console"))]
pub fn report_panic<P: Platform>(info: &PanicInfo<'_>) {
    let text = uptime(Text::<P>::new().str("\n!!! PANIC at ")).str(" s: panicked");
    let text = match info.location() {
        Some(place) => text
            .str(" at ")
            .str(place.file())
            .str(":")
            .number(u64::from(place.line()))
            .str(":")
            .number(u64::from(place.column())),
        None => text,
    };
    text.str(":\n")
        .str(info.message().as_str().unwrap_or("(a formatted message)"))
        .str("\n");
    report_stop::<P>();
}

/// The last line before a board stops (after a panic or a fault): how
/// deep the stack went, a hint whether it overflowed.
pub fn report_stop<P: Platform>() {
    let memory = P::memory_use();
    Text::<P>::new()
        .str("!!! stack: ")
        .number(memory.stack_used as u64)
        .str(" of ")
        .number(memory.stack_size as u64)
        .str(" bytes used at most; stopping\n");
}

/// The time since boot as `12.345`.
#[cfg(not(feature = "console"))]
fn uptime<P: Platform>(text: Text<P>) -> Text<P> {
    let (secs, micros) = udpkit::clock::div_rem::<1_000_000>(P::uptime_micros());
    text.number(secs)
        .str(".")
        .digits(u64::from(micros / 1000), 3)
}

/// The `s` report of an image without the `console` feature: each
/// service's datagrams received and sent, and the memory use.
#[cfg(not(feature = "console"))]
pub fn report<P: Platform>(stack: &BoardStack<'_>, _board: &mut P) {
    let text = uptime(Text::<P>::new().str("--- report at ")).str(" s ---\n");
    for (service, port, s) in stack.services() {
        text.str("service ")
            .str(service.name())
            .str(" port ")
            .number(u64::from(port))
            .str(": received ")
            .number(s.received)
            .str(" sent ")
            .number(s.sent)
            .str("\n");
    }
    let memory = P::memory_use();
    Text::<P>::new()
        .str("ram: ")
        .number(memory.static_ram as u64)
        .str(" bytes static; stack high-water ")
        .number(memory.stack_used as u64)
        .str(" of ")
        .number(memory.stack_size as u64)
        .str(" bytes\n--- end of report ---\n");
}

/// The wall clock the stack uses: the SNTP client's, once it has synced
/// (the boards have none of their own).
fn wall_clock(stack: &BoardStack<'_>, now: Instant) -> Option<(UnixTime, ClockSource)> {
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

    pub(crate) fn check<P: Platform>(&mut self, stack: &BoardStack<'_>, now: Instant) {
        match (self.set, wall_clock(stack, now)) {
            (false, Some((wall, source))) => {
                self.set = true;
                clock_set::<P>(wall, source);
            }
            (true, None) => {
                self.set = false;
                clock_lost::<P>();
            }
            _ => {}
        }
    }
}

#[cfg(feature = "console")]
// `P` for the plain-text variant's console.
#[allow(clippy::extra_unused_type_parameters)]
fn clock_set<P: Platform>(wall: UnixTime, source: ClockSource) {
    log::info!(
        "clock: set to {} by SNTP from {SNTP_SERVER}, stratum {} here: \
         time, daytime and ntp answer",
        DateText(wall),
        source.stratum
    );
}

#[cfg(feature = "console")]
// `P` for the plain-text variant's console.
#[allow(clippy::extra_unused_type_parameters)]
fn clock_lost<P: Platform>() {
    log::warn!(
        "clock: lost (no good reply from {SNTP_SERVER} for too long): \
         time, daytime and ntp stop answering"
    );
}

/// The clock line of an image without the `console` feature: as the
/// full image logs it, without the log's time and level.
#[cfg(not(feature = "console"))]
fn clock_set<P: Platform>(wall: UnixTime, source: ClockSource) {
    let c = wall.to_civil();
    Text::<P>::new()
        .str("clock: set to ")
        .number(c.year)
        .str("-")
        .digits(u64::from(c.month), 2)
        .str("-")
        .digits(u64::from(c.day), 2)
        .str(" ")
        .digits(u64::from(c.hour), 2)
        .str(":")
        .digits(u64::from(c.minute), 2)
        .str(":")
        .digits(u64::from(c.second), 2)
        .str(" UTC by SNTP from ")
        .endpoint(SNTP_SERVER)
        .str(", stratum ")
        .number(u64::from(source.stratum))
        .str(" here: time, daytime and ntp answer\n");
}

#[cfg(not(feature = "console"))]
fn clock_lost<P: Platform>() {
    Text::<P>::new()
        .str("clock: lost (no good reply from ")
        .endpoint(SNTP_SERVER)
        .str(" for too long): time, daytime and ntp stop answering\n");
}

/// A time as `2026-11-23 15:04:05 UTC`.
#[cfg(feature = "console")]
struct DateText(UnixTime);

#[cfg(feature = "console")]
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
#[cfg(feature = "console")]
pub(crate) struct MacText(pub [u8; 6]);

#[cfg(feature = "console")]
impl fmt::Display for MacText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}
