//! What every udpkit board shares: the firmware around the core.
//!
//! A board gives the runtime its hardware through one trait, [`Platform`]
//! (on top of the core's [`udpkit::Board`]: the network device, the
//! monotonic clock, the entropy seed), and the runtime does the rest:
//!
//! - **Storage** ([`storage`]): every socket queue, the neighbor table, the
//!   services and the stack in `static`s handed out once, with
//!   [`static_cell`] (no `static mut`), sized at compile time for a small
//!   MCU (64 KiB of RAM).
//! - **Services** ([`services`]): the servers of the core's catalog
//!   ([`udpkit::catalog::CATALOG`]), each on its default port, discovery
//!   last with the directory of what started, and the SNTP client that
//!   gives a board without a clock its wall clock (`UDPKIT_SNTP_SERVER` at
//!   build time, see build.rs).
//! - **The loop** ([`run`]): acknowledge the board's interrupts, poll the
//!   stack, handle console keys, then sleep until the stack's next
//!   deadline or an interrupt.
//! - **The console** ([`console`]): `log` with the time since boot, the `s`
//!   report, the `p` panic, and the panic report a board's panic handler
//!   prints. Without the `console` feature (the smallest image) no `log`
//!   and no `core::fmt`: plain text ([`text`]) for the boot lines, the
//!   clock, a short report and the panic's place.
//!
//! A board's `main` is then: set up the clock and the console, call
//! [`start_logging`], build its NIC and its [`Platform`], and call [`run`].
//!
//! `no_std`, heap-free and without `unsafe`, like the core; it compiles on
//! the host too, where its tests run on the core's in-memory board.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod console;
pub mod services;
pub mod sizes;
pub mod storage;
pub mod text;

use udpkit::smoltcp::time::Instant;
use udpkit::Config;

use storage::BoardStack;

#[cfg(feature = "console")]
pub use console::Console;
pub use console::{report_panic, report_stop, start_logging};
pub use text::Text;

#[cfg(feature = "console")]
#[doc(hidden)]
pub mod __private {
    pub use log;
}

/// `log::info!` with the `console` feature; without it nothing (no
/// logger, no formatting). For a board's own lines: `udpkit_runtime::info!`.
#[cfg(feature = "console")]
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::__private::log::info!($($arg)+) };
}

/// `log::info!` with the `console` feature; without it nothing (no
/// logger, no formatting). For a board's own lines: `udpkit_runtime::info!`.
#[cfg(not(feature = "console"))]
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        if false {
            let _ = ::core::format_args!($($arg)+);
        }
    };
}

/// `log::warn!` with the `console` feature; without it nothing.
#[cfg(feature = "console")]
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::__private::log::warn!($($arg)+) };
}

/// `log::warn!` with the `console` feature; without it nothing.
#[cfg(not(feature = "console"))]
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        if false {
            let _ = ::core::format_args!($($arg)+);
        }
    };
}

/// Stops the firmware on a fault of its own build or hardware (a size
/// that does not fit, a missing controller; never network input):
/// `fail!("short text", "message {with} {arguments}", ...)` panics with the
/// formatted message, or, without the `console` feature, with the short
/// text, which the panic handler prints without `core::fmt`.
#[cfg(feature = "console")]
#[macro_export]
macro_rules! fail {
    ($short:literal, $($message:tt)+) => { ::core::panic!($($message)+) };
}

/// Stops the firmware on a fault of its own build or hardware (a size
/// that does not fit, a missing controller; never network input):
/// `fail!("short text", "message {with} {arguments}", ...)` panics with the
/// formatted message, or, without the `console` feature, with the short
/// text, which the panic handler prints without `core::fmt`.
#[cfg(not(feature = "console"))]
#[macro_export]
macro_rules! fail {
    ($short:literal, $($message:tt)+) => {{
        if false {
            let _ = ::core::format_args!($($message)+);
        }
        ::core::panic!($short)
    }};
}

// SNTP_SERVER, from build.rs.
include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// What a board gives the runtime beyond [`udpkit::Board`] (its network
/// device, monotonic clock and entropy): its name, a console, a way to
/// wait for the next event, and its memory. Everything else is shared.
///
/// The functions without `self` are called from where no board object
/// is at hand: the logger and the panic handler.
pub trait Platform: udpkit::Board {
    /// The board's name: discovery's device name and the logs'.
    const NAME: &'static str;
    /// The network controller, as the logs name it (`ready on lan9118`).
    const NIC: &'static str;
    /// One line about the hardware for the boot log
    /// (`Cortex-M3 at 25 MHz, LAN9118 Ethernet`).
    const DESCRIPTION: &'static str;

    /// Writes `text` to the console (a UART), `\n` as the terminal wants
    /// it. Never blocks without a bound: a broken UART must not hang the
    /// logger.
    fn console_write(text: &str);

    /// Microseconds since boot, on the clock [`udpkit::Board::now`] reads:
    /// the logs' timestamps.
    fn uptime_micros() -> u64;

    /// RAM use: the statics and the stack's deepest use so far.
    fn memory_use() -> MemoryUse;

    /// Called before each poll of the stack: acknowledge whatever
    /// interrupted (the NIC's interrupt line), so that it can interrupt
    /// again.
    fn handle_events(&mut self);

    /// A key typed on the console, if one is waiting.
    fn console_key(&mut self) -> Option<u8>;

    /// Sleeps until `deadline` (on the [`udpkit::Board::now`] clock;
    /// `None`: no deadline) or an interrupt, whichever comes first, with
    /// the CPU halted (`wfi`). Returns at once when the deadline has passed
    /// or an event is already pending: no event may be slept through.
    fn sleep_until(&mut self, deadline: Option<Instant>);

    /// The board's own lines of the `s` report: its NIC's counters.
    fn report(&mut self, out: &mut dyn core::fmt::Write);
}

/// How much RAM the firmware uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes of statics (.data, .bss).
    pub static_ram: usize,
    /// The stack's deepest use since boot, in bytes.
    pub stack_used: usize,
    /// The room the stack has, in bytes.
    pub stack_size: usize,
}

/// Starts the services of the catalog on `board` with `config` and runs
/// them for good: acknowledge the board's interrupts, poll the stack, log
/// when the wall clock is set, answer console keys, and sleep until the
/// stack's next deadline or an interrupt.
pub fn run<P: Platform>(mut board: P, config: Config) -> ! {
    // The start-up first, from this small frame: the loop's frame (its
    // report and log formatting) is not on the stack while the start-up's
    // big temporaries are.
    let stack = services::start(&mut board, &config);
    serve(board, stack)
}

/// The loop, for good.
#[inline(never)]
fn serve<P: Platform>(mut board: P, stack: &mut BoardStack<'static>) -> ! {
    let memory = P::memory_use();
    crate::info!(
        "ram: {} bytes static, stack {} of {} bytes used so far",
        memory.static_ram,
        memory.stack_used,
        memory.stack_size
    );
    let mut clock = console::ClockWatch::new();
    loop {
        turn(&mut board, stack, &mut clock);
    }
}

/// One turn of the loop: acknowledge the board's interrupts, poll the
/// stack, note the wall clock's coming or going, answer the keys typed,
/// then sleep until the stack's next deadline or an interrupt.
fn turn<P: Platform>(board: &mut P, stack: &mut BoardStack<'_>, clock: &mut console::ClockWatch) {
    board.handle_events();
    let delay = stack.poll(board);
    let now = board.now();
    clock.check::<P>(stack, now);
    while let Some(key) = board.console_key() {
        console::command(key, stack, board);
    }
    board.sleep_until(delay.map(|delay| now + delay));
}

/// The multicast MAC addresses a NIC's filter must let through for the
/// stack: IPv6's ([`ipv6_multicast_groups`]), or none in an image built
/// without the `ipv6` feature (IPv4 needs only our MAC address and
/// broadcast).
#[cfg(feature = "ipv6")]
pub fn multicast_groups(config: &Config) -> [[u8; 6]; 3] {
    ipv6_multicast_groups(config)
}

/// The multicast MAC addresses a NIC's filter must let through for the
/// stack: none, as this image has no IPv6 (IPv4 needs only our MAC
/// address and broadcast).
#[cfg(not(feature = "ipv6"))]
pub fn multicast_groups(_config: &Config) -> [[u8; 6]; 0] {
    []
}

/// The multicast MAC addresses IPv6 needs (RFC 2464), for a NIC's
/// filter: all-nodes (33:33:00:00:00:01: router advertisements, ...) and
/// the solicited-node group of each of our IPv6 addresses (33:33:ff and
/// its last three bytes), where a neighbor asks for our MAC address.
/// Without them the filter drops every neighbor solicitation, and no IPv6
/// host can reach the board. Unused entries repeat all-nodes.
#[cfg(feature = "ipv6")]
pub fn ipv6_multicast_groups(config: &Config) -> [[u8; 6]; 3] {
    let mut groups = [[0x33, 0x33, 0, 0, 0, 0x01]; 3];
    let ours = [config.ipv6, config.ipv6_link_local];
    for (group, cidr) in groups[1..].iter_mut().zip(ours) {
        if let Some(cidr) = cidr {
            let [.., a, b, c] = cidr.address().octets();
            *group = [0x33, 0x33, 0xff, a, b, c];
        }
    }
    groups
}

/// A 64-bit mixer (splitmix64's): spreads every bit of `x` over the
/// result. For seeds from what little entropy a board has.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
