//! An [`Outbox`] that keeps what a service sends, for the service-level
//! targets.

use std::vec;
use std::vec::Vec;

use udpkit::smoltcp::wire::IpEndpoint;
use udpkit::{Outbox, SendError};

/// Every datagram sent: its destination, its bytes, and whether it took
/// the detour.
pub struct RecordingOutbox {
    /// What was sent, in order.
    pub sent: Vec<(IpEndpoint, Vec<u8>, bool)>,
    max_payload: usize,
}

impl RecordingOutbox {
    /// An empty outbox taking datagrams of up to `max_payload` bytes.
    pub fn new(max_payload: usize) -> RecordingOutbox {
        RecordingOutbox {
            sent: Vec::new(),
            max_payload,
        }
    }

    fn push(&mut self, to: IpEndpoint, len: usize, detour: bool) -> Result<&mut [u8], SendError> {
        if len > self.max_payload {
            return Err(SendError::TooLarge);
        }
        self.sent.push((to, vec![0; len], detour));
        Ok(&mut self.sent.last_mut().expect("just pushed").1)
    }
}

impl Outbox for RecordingOutbox {
    fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn reserve(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.push(to, len, false)
    }

    fn reserve_detour(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.push(to, len, true)
    }
}
