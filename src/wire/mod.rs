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

/// Writes `n` in decimal, at least `width` (up to 20) characters wide,
/// padded in front with `pad` (`b' '` or `b'0'`).
///
/// The text formats write their numbers with this and [`write_hex`] (or
/// [`Digits`]), not with `write!`: `core::fmt`'s machinery (its
/// formatter, padding, the integers' `Display`) is kilobytes of flash on a
/// board, and an image without logging links none of it
/// (firmware/README.md, Footprint).
#[cfg(any(feature = "discovery", feature = "daytime"))]
pub(crate) fn write_decimal(
    out: &mut dyn fmt::Write,
    n: u64,
    width: usize,
    pad: u8,
) -> fmt::Result {
    out.write_str(Digits::new::<10>(n, width, pad).as_str())
}

/// Writes `n` in lowercase hexadecimal, at least `width` (up to 20)
/// digits wide, padded in front with zeros (as `{:0width$x}` does).
#[cfg(feature = "discovery")]
pub(crate) fn write_hex(out: &mut dyn fmt::Write, n: u64, width: usize) -> fmt::Result {
    out.write_str(Digits::new::<16>(n, width, b'0').as_str())
}

/// A number written in base `RADIX` (10 or 16): its digits at the right
/// of a buffer that holds the longest (the 20 decimal digits of a `u64`),
/// the rest of its width `pad`.
#[cfg(any(feature = "chat", feature = "discovery", feature = "daytime"))]
pub(crate) struct Digits {
    text: [u8; 20],
    start: usize,
}

#[cfg(any(feature = "chat", feature = "discovery", feature = "daytime"))]
impl Digits {
    /// `n` in base `RADIX`, at least `width` (up to 20) characters wide.
    pub(crate) fn new<const RADIX: u32>(n: u64, width: usize, pad: u8) -> Digits {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [pad; 20];
        let mut rest = n;
        let mut len = 0;
        for slot in text.iter_mut().rev() {
            // In 32-bit divisions (see `div_rem`).
            let (quotient, digit) = crate::clock::div_rem::<RADIX>(rest);
            *slot = DIGITS.get(digit as usize).copied().unwrap_or(b'?');
            rest = quotient;
            len += 1;
            if rest == 0 {
                break;
            }
        }
        Digits {
            text,
            start: text.len() - len.max(width).min(text.len()),
        }
    }

    /// The number's text.
    pub(crate) fn as_str(&self) -> &str {
        core::str::from_utf8(self.text.get(self.start..).unwrap_or(&[])).unwrap_or("")
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

    /// The numbers of the text formats, as `core::fmt` writes them.
    #[cfg(all(feature = "daytime", feature = "discovery"))]
    #[test]
    fn numbers_are_written_as_core_fmt_writes_them() {
        use std::format;
        use std::string::String;
        let samples = [
            0,
            1,
            7,
            9,
            10,
            42,
            99,
            100,
            255,
            1000,
            65_535,
            1 << 32,
            u64::MAX,
        ];
        for n in samples {
            let mut text = String::new();
            write_decimal(&mut text, n, 0, b' ').unwrap();
            assert_eq!(text, format!("{n}"));
            for (width, pad) in [(2, b' '), (2, b'0'), (4, b'0'), (20, b'0')] {
                let mut text = String::new();
                write_decimal(&mut text, n, width, pad).unwrap();
                let expected = match pad {
                    b' ' => format!("{n:>width$}"),
                    _ => format!("{n:0width$}"),
                };
                assert_eq!(text, expected, "{n} in {width} with {:?}", pad as char);
            }
            for width in [0, 1, 2, 4] {
                let mut text = String::new();
                write_hex(&mut text, n, width).unwrap();
                assert_eq!(text, format!("{n:0width$x}"));
            }
        }
        // A writer that is full stops the number.
        let mut buffer = [0u8; 2];
        assert!(write_decimal(&mut SliceWriter::new(&mut buffer), 123, 0, b' ').is_err());
    }
}
