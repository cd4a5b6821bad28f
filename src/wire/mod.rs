//! The wire formats udpkit speaks: one module per format, each the one
//! definition that both ends of the protocol use.
//!
//! As in smoltcp's `wire` module, a format has up to two levels:
//!
//! - a **`Packet`**, a view over the bytes of a received or outgoing
//!   datagram with an accessor (and, for binary formats, a setter) per
//!   field: [`ntp::Packet`], [`discovery::ReplyPacket`];
//! - a **`Repr`**, what the datagram means, as a plain value: parsed from
//!   the bytes with `parse` and written back with `emit`:
//!   [`ntp::Repr`], [`discovery::RequestRepr`], [`discovery::ReplyRepr`].
//!
//! The modules know nothing of sockets, services or clients: the server
//! and the client of a protocol both read and write its datagrams here, so
//! the two cannot drift apart, and each format is the natural target of a
//! fuzzer.
//!
//! - [`ntp`]: the NTP header (RFC 5905), binary.
//!
//! # No panics, on any input
//!
//! Every byte parsed here comes from the network, so these rules hold for
//! every format, and each module's tests check them:
//!
//! - **`parse` never panics**, whatever the bytes: every length is checked
//!   before it is used, slices are taken with `get`, numbers are read with
//!   checked or saturating arithmetic, and text is checked to be UTF-8
//!   before it is looked at. What is not a valid datagram is an [`Error`],
//!   never a panic and never a partial value.
//! - **A `Packet`'s accessors never panic**, not even on a buffer shorter
//!   than the format needs (`new_unchecked`): they read zeros and write
//!   nothing. `new_checked` is how untrusted bytes are wrapped: once its
//!   length check passed, every accessor reads real bytes.
//! - **`emit` never panics**: it writes into the buffer it is given and
//!   fails cleanly when that is too small. `buffer_len` says how long a
//!   buffer must be.
//! - **What `emit` writes, `parse` reads back** as the same `Repr`, for
//!   every `Repr` a sender builds within the format's limits (each module
//!   says which, and tests it); and whatever `parse` accepts, `emit` writes
//!   back in a form that `parse` reads as the same `Repr` again.

#![warn(missing_docs)]

use core::fmt;

pub mod ntp;

pub use self::ntp::{Packet as NtpPacket, Repr as NtpRepr};

/// The bytes are not a valid datagram of the format: too short, not the
/// right text, a field out of range. Deliberately without detail, as in
/// smoltcp: a datagram that is not valid is dropped (and counted), never
/// explained to its possibly forged sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("malformed or truncated datagram")
    }
}

impl core::error::Error for Error {}

/// The result of parsing or emitting a datagram.
pub type Result<T> = core::result::Result<T, Error>;
