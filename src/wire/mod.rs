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
//!   [`ntp::Repr`], [`discovery::RequestRepr`], [`discovery::ReplyRepr`],
//!   [`chat::Command`], [`chat::ServerLine`].
//!
//! The modules know nothing of sockets, services or clients: the server
//! and the client of a protocol both read and write its datagrams here, so
//! the two cannot drift apart, and each format is the natural target of a
//! fuzzer.
//!
//! - [`ntp`]: the NTP header (RFC 5905), binary.
//! - [`discovery`]: `DISCOVER` and the directory a device answers with, text.
//! - [`chat`]: the lines a chat client sends ([`chat::Command`]) and those
//!   the server sends ([`chat::ServerLine`]), text.
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

#[cfg(feature = "chat")]
pub mod chat;
#[cfg(feature = "discovery")]
pub mod discovery;
pub mod ntp;

#[cfg(feature = "chat")]
pub use self::chat::{Command as ChatCommand, ServerLine as ChatServerLine};
#[cfg(feature = "discovery")]
pub use self::discovery::{
    ReplyPacket as DiscoveryReplyPacket, ReplyRepr as DiscoveryReplyRepr,
    RequestRepr as DiscoveryRequestRepr,
};
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

/// A text datagram without its trailing `\n` or `\r\n`: what `nc -u` and a
/// line-reading client add is not part of the text. One line ending at
/// most: `"a\r\r\n"` is `"a\r"`.
pub fn strip_line_ending(payload: &[u8]) -> &[u8] {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    payload.strip_suffix(b"\r").unwrap_or(payload)
}

#[cfg(any(feature = "chat", feature = "discovery"))]
/// A [`fmt::Write`] into a byte slice: how the text formats emit without
/// an allocator. It fails, and writes nothing more, once the slice is full.
pub(crate) struct SliceWriter<'b> {
    buffer: &'b mut [u8],
    len: usize,
}

#[cfg(any(feature = "chat", feature = "discovery"))]
impl<'b> SliceWriter<'b> {
    /// A writer that fills `buffer` from its start.
    pub(crate) fn new(buffer: &'b mut [u8]) -> SliceWriter<'b> {
        SliceWriter { buffer, len: 0 }
    }

    /// The bytes written so far.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(any(feature = "chat", feature = "discovery"))]
impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let room = self.buffer.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(any(feature = "chat", feature = "discovery"))]
/// A [`fmt::Write`] that only counts: a text format's `buffer_len`.
#[derive(Default)]
pub(crate) struct Counter(usize);

#[cfg(any(feature = "chat", feature = "discovery"))]
impl Counter {
    /// The bytes counted so far.
    pub(crate) fn len(&self) -> usize {
        self.0
    }
}

#[cfg(any(feature = "chat", feature = "discovery"))]
impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 = self.0.saturating_add(s.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn the_error_says_what_is_wrong_without_detail() {
        use std::string::ToString;
        assert_eq!(Error.to_string(), "malformed or truncated datagram");
    }

    #[test]
    fn one_line_ending_is_stripped() {
        assert_eq!(strip_line_ending(b"a\n"), b"a");
        assert_eq!(strip_line_ending(b"a\r\n"), b"a");
        assert_eq!(strip_line_ending(b"a\r"), b"a");
        assert_eq!(strip_line_ending(b"a\r\r\n"), b"a\r");
        assert_eq!(strip_line_ending(b"a\n\n"), b"a\n");
        assert_eq!(strip_line_ending(b""), b"");
    }

    #[test]
    fn the_slice_writer_stops_at_the_end_of_its_slice() {
        let mut buffer = [0u8; 5];
        let mut writer = SliceWriter::new(&mut buffer);
        assert!(writer.write_str("abc").is_ok());
        assert!(writer.write_str("def").is_err(), "three more do not fit");
        assert!(writer.write_str("de").is_ok());
        assert_eq!(writer.len(), 5);
        assert_eq!(&buffer, b"abcde");
        let mut counter = Counter::default();
        let _ = write!(counter, "{}-{}", 12, 34);
        assert_eq!(counter.len(), 5);
    }
}
