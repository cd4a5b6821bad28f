//! Hello: the greeting server of the Python `socket` tutorials.
//!
//! A datagram `NAME` gets `Hello NAME!\n`; the datagram `exit` gets
//! `Good bye!\n`. A trailing line ending (what `nc -u` and `input()` send)
//! is not part of the name.

use crate::service::{Discard, Outbox, Request, Service, Uses};
use crate::wire::strip_line_ending;

/// Next to [`upper`](super::upper)'s port, so the tutorial servers sit together.
pub const DEFAULT_PORT: u16 = 12001;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "hello";

const PREFIX: &[u8] = b"Hello ";
const SUFFIX: &[u8] = b"!\n";
const GOOD_BYE: &[u8] = b"Good bye!\n";

/// The greeting for `payload` in at most `limit` bytes, in its parts: a
/// name too long is cut short so the greeting still fits.
fn greeting(payload: &[u8], limit: usize) -> [&[u8]; 3] {
    let name = strip_line_ending(payload);
    if name == b"exit" {
        return [GOOD_BYE, b"", b""];
    }
    let room = limit.saturating_sub(PREFIX.len() + SUFFIX.len());
    [PREFIX, name.get(..room).unwrap_or(name), SUFFIX]
}

/// Writes the reply to `payload` into `out` and returns its length. A name
/// too long for `out` is cut short so the greeting still fits.
pub fn reply(payload: &[u8], out: &mut [u8]) -> usize {
    write_parts(&greeting(payload, out.len()), out)
}

/// Writes `parts` into `out`, each whole, in order, until one does not fit,
/// and returns the length written.
fn write_parts(parts: &[&[u8]; 3], out: &mut [u8]) -> usize {
    let mut written = 0;
    for part in parts {
        let Some(dest) = out.get_mut(written..written + part.len()) else {
            break;
        };
        dest.copy_from_slice(part);
        written += part.len();
    }
    written
}

/// The hello service: each datagram gets its [`reply`]. It has no state.
#[derive(Debug, Default)]
pub struct Hello;

impl Service for Hello {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses::NOTHING
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        // Written in place in the transmit queue: no copy of a greeting as
        // long as the largest datagram on the stack (on a board it made
        // this the deepest call of a poll).
        let parts = greeting(request.payload, out.max_payload());
        let len = parts.iter().map(|part| part.len()).sum();
        // Every part fits in any datagram longer than the good-bye.
        write_parts(&parts, out.reserve(request.from, len)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, CLIENT};

    fn answer(payload: &[u8]) -> std::vec::Vec<u8> {
        let (verdict, mut sent) = exchange(&mut Hello, payload, None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, CLIENT);
        sent.remove(0).1
    }

    #[test]
    fn greets_by_name_without_the_line_ending() {
        assert_eq!(answer(b"alice"), b"Hello alice!\n");
        assert_eq!(answer(b"alice\n"), b"Hello alice!\n");
        assert_eq!(answer(b"bob\r\n"), b"Hello bob!\n");
        assert_eq!(answer(b""), b"Hello !\n");
    }

    #[test]
    fn says_good_bye_to_exit() {
        assert_eq!(answer(b"exit"), b"Good bye!\n");
        assert_eq!(answer(b"exit\n"), b"Good bye!\n");
        assert_eq!(answer(b"exit now"), b"Hello exit now!\n");
    }

    #[test]
    fn a_name_too_long_is_cut_so_the_greeting_fits() {
        let name = [b'x'; 1472];
        let reply = answer(&name);
        assert_eq!(reply.len(), 1472);
        assert!(reply.starts_with(b"Hello xxx"));
        assert!(reply.ends_with(b"xx!\n"));
    }

    #[test]
    fn reply_into_a_tiny_buffer_never_overruns() {
        for size in 0..12 {
            let mut out = std::vec![0u8; size];
            let len = reply(b"somebody", &mut out);
            assert!(len <= size);
        }
        let mut out = [0u8; 12];
        let len = reply(b"somebody", &mut out);
        assert_eq!(&out[..len], b"Hello some!\n");
    }
}
