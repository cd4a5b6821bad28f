//! udpkit: classic UDP services on smoltcp, with no heap and no std.
//!
//! The same code answers `nc -u` on a Linux TAP and on a microcontroller's
//! Ethernet port. This crate is the portable core; a port (the `udpkit` host
//! binary, a firmware image) supplies a [`Board`] and calls [`Stack::poll`].
//!
//! # The layers, bottom up
//!
//! - **[`Board`]** — the one trait a port implements: a smoltcp
//!   [`Device`](smoltcp::phy::Device) that moves Ethernet frames, a monotonic
//!   clock, an optional wall clock (and its [`ClockSource`], what the NTP
//!   server says about it) and an entropy seed.
//! - **[`neighbor`]** — wraps the board's device and keeps a table (sized
//!   by the port) of every on-link host that sent a frame, teaching smoltcp
//!   each one's MAC address before its frame and before any datagram to it
//!   leaves: the first ping after a quiet minute is answered, a room of
//!   hundreds of hosts sending at once is answered without one ARP request,
//!   and a datagram to a host only ARP can find waits on the service's
//!   detour, never ahead of the others. It also drops IPv6 frames to
//!   addresses that are not ours.
//! - **smoltcp's `Interface`** — Ethernet, ARP, IPv4, ICMP echo and UDP,
//!   and IPv6 with neighbor discovery and ICMPv6 echo (the `ipv6` feature,
//!   on by default; without it everything IPv6 here compiles out). It
//!   answers ping by itself and queues each UDP datagram on the socket bound
//!   to its port (datagrams to the subnet broadcast address included).
//! - **[`Stack`]** — owns the interface and one UDP socket per service, on
//!   storage the caller provides (statics on a microcontroller), and runs the
//!   poll loop: frames in, datagrams to services, replies out, timers, and
//!   how long the port may sleep.
//! - **[`guard`]** — the inetd rules that keep two services from talking to
//!   each other forever and a forged source from turning us into a reflector.
//! - **[`Service`]** — the protocol logic of one port, bytes in and
//!   datagrams out through an [`Outbox`], with no socket in sight.
//! - **[`services`]** — echo (RFC 862), discard (RFC 863), daytime
//!   (RFC 867), time (RFC 868), NTP (RFC 5905), the tutorial servers
//!   `upper` and `hello`, a multi-user `chat`, and `discovery` (who is on
//!   this link).
//! - **[`catalog`]** — every service once: its name, standard port, a line
//!   of help and what it needs from the port (the wall clock, a detour, the
//!   directory of the others). Ports pick their services from it.
//! - **[`wire`]** — the wire formats of NTP, discovery and the chat, each
//!   defined once with `parse` and `emit` (smoltcp's `Packet`/`Repr`
//!   pattern), no panic on any input: the services and the clients read and
//!   write their datagrams there.
//! - **[`sntp`]** — an SNTP client (RFC 4330) that gives a board without a
//!   wall clock the time of an NTP server; the stack uses it as the wall
//!   clock once synced.
//! - **[`dhcp`]** — the IPv4 address from the link's DHCP server, for a
//!   port without a fixed one ([`Stack::enable_dhcp`], smoltcp's DHCPv4
//!   client): the stack readdresses the interface, the neighbor layer and
//!   the services ([`Service::addresses_changed`]) as leases come and go,
//!   and logs them.
//!
//! # A port in a few lines
//!
//! A port implements [`Board`] for its hardware, gives the [`Stack`] storage
//! for its sockets and services, and polls it in a loop, sleeping in between
//! for as long as [`Stack::poll`] allows or until a frame arrives:
//!
//! ```text
//! let (mut echo, mut echo_buffers) = (Echo, SocketBuffers::<16, 8192>::new());
//! let mut sockets = [SocketStorage::EMPTY; 1];
//! let mut neighbors = [NeighborSlot::EMPTY; 16];
//! let mut buffers = StackStorage::new();
//! let mut stack = Stack::new(&Config::default(), &mut board, &mut sockets, &mut neighbors,
//!     &mut buffers);
//! stack.add_service(&mut echo, echo::DEFAULT_PORT, echo_buffers.queues())?;
//! loop {
//!     let delay = stack.poll(&mut board);
//!     board.sleep_until_frame_or(delay); // poll(2) on a TAP, `wfi` on an MCU
//! }
//! ```
//!
//! `examples/loopback.rs` is that port whole, runnable with
//! `cargo run --example loopback`: the in-memory `Board` of the core's tests
//! (the `udpkit-testing` crate in `testing/`, a smoltcp `Device` over two
//! rings of frames and clocks set by hand), a stack with echo and daytime,
//! one request frame in and the reply frame out, decoded. The Linux host
//! binary is the full-size port: `host/src/linux/board.rs` is its `Board`
//! over a TAP device and `host/src/serve/tap.rs` its poll loop; the
//! firmware's is `firmware/runtime` with one short file per board.
//!
//! # Cargo features
//!
//! All on by default; a port that builds only what it runs turns the
//! defaults off and names its own (the firmware's smallest image:
//! `echo`, `time`, `sntp`):
//!
//! - `echo`, `discard`, `daytime`, `time`, `ntp`, `upper`, `hello`, `chat`,
//!   `discovery`: the services; one left out is neither compiled nor in the
//!   [`catalog`].
//! - `sntp`: the SNTP client, a wall clock for a board without one.
//! - `dhcp`: the DHCPv4 client and smoltcp's DHCP socket.
//! - `ipv6`: IPv6, neighbor discovery and ICMPv6 in smoltcp and here.
//! - `log`: log messages through the `log` crate (smoltcp's too); without
//!   it there are none, and no formatting for them in the image.
//!
//! firmware/README.md has what each costs on a Cortex-M3.
//!
//! # Guarantees
//!
//! No allocation, no `unsafe`, no panic on anything the network sends: every
//! length read from a packet is checked, every table has a size fixed at
//! compile time or at construction, and whatever does not fit is dropped and
//! counted in [`ServiceStats`].

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

// First: the other modules use its macros.
#[macro_use]
mod macros;

pub mod board;
pub mod catalog;
pub mod clock;
#[cfg(feature = "dhcp")]
pub mod dhcp;
pub mod guard;
pub mod neighbor;
pub mod service;
pub mod services;
#[cfg(feature = "sntp")]
pub mod sntp;
pub mod stack;
// The tests that read what was logged need a logger to read it from.
#[cfg(all(test, feature = "log"))]
mod test_log;
pub mod wire;

pub use board::{Board, ClockSource};
pub use clock::{CivilTime, UnixTime};
#[cfg(feature = "dhcp")]
pub use dhcp::{DhcpStats, DhcpStorage, Lease};
pub use neighbor::{NeighborSlot, NeighborStats};
pub use service::{Burst, Discard, Outbox, Request, SendError, Service, Uses};
pub use stack::{
    AddServiceError, Config, ServiceId, ServiceStats, SocketBuffers, Stack, StackStorage,
    MAX_PAYLOAD,
};

/// smoltcp, re-exported so ports use the very version the core is built on.
pub use smoltcp;
