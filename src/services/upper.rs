//! Upper: replies with the datagram in ASCII upper case.
//!
//! The first UDP server of many networking courses (Kurose & Ross's
//! `UDPServer.py` on port 12000): a client sends a line, the server sends it
//! back capitalised. Bytes outside ASCII pass through untouched, so UTF-8
//! text stays valid.

use crate::service::{Discard, Outbox, Request, Service, Uses};

/// The port the textbook client uses.
pub const DEFAULT_PORT: u16 = 12000;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "upper";

/// Writes `input` upper-cased (ASCII only) into `output`, which must be as
/// long as `input`.
pub fn to_upper(input: &[u8], output: &mut [u8]) {
    for (out, byte) in output.iter_mut().zip(input) {
        *out = byte.to_ascii_uppercase();
    }
}

/// The upper service: each datagram back through [`to_upper`]. It has no
/// state.
#[derive(Debug, Default)]
pub struct Upper;

impl Service for Upper {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses::NOTHING
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        let reply = out.reserve(request.from, request.payload.len())?;
        to_upper(request.payload, reply);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, CLIENT};

    #[test]
    fn upper_cases_ascii_and_keeps_everything_else() {
        let (verdict, sent) = exchange(&mut Upper, "hello, wörld 42!\n".as_bytes(), None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, "HELLO, WöRLD 42!\n".as_bytes().to_vec())]);
    }

    #[test]
    fn binary_bytes_pass_through() {
        let input = [0u8, 0x61, 0xff, 0x7a, 0x80];
        let (_, sent) = exchange(&mut Upper, &input, None);
        assert_eq!(sent[0].1, [0u8, 0x41, 0xff, 0x5a, 0x80]);
    }
}
