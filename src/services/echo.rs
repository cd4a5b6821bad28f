//! Echo, RFC 862: every datagram goes back to its sender, byte for byte.

use crate::service::{Discard, Outbox, Request, Service, Uses};

/// The port RFC 862 assigns.
pub const DEFAULT_PORT: u16 = 7;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "echo";

/// The echo service. It has no state: the datagram is the whole protocol.
#[derive(Debug, Default)]
pub struct Echo;

impl Service for Echo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses::NOTHING
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        out.reply(request, request.payload)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{exchange, CLIENT};

    #[test]
    fn returns_the_datagram_unchanged_to_its_sender() {
        let (verdict, sent) = exchange(&mut Echo, b"hello\n", None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, b"hello\n".to_vec())]);
    }

    #[test]
    fn is_binary_safe_up_to_the_largest_datagram() {
        let payload: std::vec::Vec<u8> = (0..1472u32).map(|i| (i * 7 + 3) as u8).collect();
        let (verdict, sent) = exchange(&mut Echo, &payload, None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, payload)]);
    }

    #[test]
    fn echoes_an_empty_datagram() {
        let (verdict, sent) = exchange(&mut Echo, b"", None);
        assert_eq!(verdict, Ok(()));
        assert_eq!(sent, [(CLIENT, std::vec![])]);
    }
}
