//! Discard, RFC 863: every datagram is thrown away, and nothing is sent.
//!
//! The receive-only end of the socket tutorials (a client that only sends,
//! a server that only counts), and a sink for load tests: what arrives is
//! counted, in datagrams and in bytes, for the port to show.

use crate::service::{Discard as Verdict, Outbox, Request, Service, Uses};

/// The port RFC 863 assigns.
pub const DEFAULT_PORT: u16 = 9;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "discard";

/// The discard service: it counts what it throws away.
#[derive(Debug, Default)]
pub struct Discard {
    datagrams: u64,
    bytes: u64,
}

impl Discard {
    /// Nothing discarded yet.
    pub const fn new() -> Discard {
        Discard {
            datagrams: 0,
            bytes: 0,
        }
    }

    /// Datagrams discarded so far.
    pub fn datagrams(&self) -> u64 {
        self.datagrams
    }

    /// Payload bytes discarded so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Service for Discard {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses::NOTHING
    }

    fn on_datagram(&mut self, request: &Request<'_>, _out: &mut dyn Outbox) -> Result<(), Verdict> {
        self.datagrams += 1;
        self.bytes += request.payload.len() as u64;
        Ok(())
    }

    /// Nothing is ever sent.
    fn burst(&self) -> crate::service::Burst {
        crate::service::Burst {
            datagrams: 0,
            bytes: 0,
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        report("discarded datagrams", self.datagrams);
        report("discarded bytes", self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::exchange;
    use std::vec::Vec;

    #[test]
    fn counts_every_datagram_and_its_bytes_and_answers_nothing() {
        let mut discard = Discard::new();
        for payload in [&b"hello\n"[..], b"", &[0xff; 1472]] {
            let (verdict, sent) = exchange(&mut discard, payload, None);
            assert_eq!(verdict, Ok(()));
            assert!(sent.is_empty(), "{sent:?}");
        }
        assert_eq!(discard.datagrams(), 3);
        assert_eq!(discard.bytes(), 6 + 1472);
        let mut counters = Vec::new();
        discard.counters(&mut |name, value| counters.push((name, value)));
        assert_eq!(
            counters,
            [("discarded datagrams", 3), ("discarded bytes", 1478)]
        );
        assert_eq!(discard.name(), "discard");
    }
}
