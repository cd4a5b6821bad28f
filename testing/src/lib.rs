//! The in-memory device and board of udpkit's own tests, example,
//! benchmark and no_std check: one definition for all four.
//!
//! - [`MemoryDevice`] is a smoltcp [`Device`](udpkit::smoltcp::phy::Device)
//!   whose "wire" is two [`FrameRing`]s, frames to the stack in `rx` and
//!   frames from it in `tx`, in buffers the caller provides: arrays in a
//!   `no_std` binary, a `Vec` in a test.
//! - [`MemoryBoard`] is a [`Board`](udpkit::Board) around it whose clocks the
//!   caller sets: a monotonic clock that moves only when told, and a wall
//!   clock that is absent, stands still, or runs on with the monotonic one.
//!
//! Like the core it is `no_std`, heap-free and free of `unsafe`: the no_std
//! check proves both at once. Nothing here touches a real network.
//!
//! With the `fuzz` feature (and `std`) it also holds [`fuzz`]: the bodies of
//! the fuzz targets in `fuzz/` and their invariant checks, which
//! `tests/fuzz_corpus.rs` replays on the checked-in corpora.
//!
//! It is a crate of its own rather than a feature of `udpkit`, as
//! `tokio-test` is to tokio and embassy's small crates are to embassy: the
//! core's public API stays what a port needs, and `cargo test` needs no
//! feature to run every test.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "fuzz"))]
extern crate std;

pub mod board;
pub mod device;
#[cfg(feature = "fuzz")]
pub mod fuzz;

pub use board::MemoryBoard;
pub use device::{FrameRing, Frames, MemoryDevice, RingError, MAX_FRAME};
