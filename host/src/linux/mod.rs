//! The Linux port: everything udpkit asks of Linux beyond the standard
//! library, and every `unsafe` block of the host with it.
//!
//! The core is `no_std` and forbids `unsafe`; a board port is where the
//! hardware is met. On a host the "hardware" is a TAP device, the system
//! clock, `poll(2)`, signals and the kernel's view of its interfaces, and
//! each is reached through libc. Keeping those calls here, each with the
//! reason it is sound, leaves the server, the clients and the benchmark in
//! safe Rust, and makes this the one place to read when porting udpkit to
//! another Unix. Nothing here knows of `serve`, the clients or the
//! benchmark: they use the port, never the other way round.

pub mod board;
pub mod clock;
pub mod netif;
pub mod poll;
pub mod process;
pub mod signals;
pub mod socket;
pub mod tap;
