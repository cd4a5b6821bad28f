//! The services udpkit ships, one module each.
//!
//! Every module holds the protocol logic as plain functions over bytes, a
//! small [`Service`](crate::Service) type that wires it to the stack, its
//! standard port as `DEFAULT_PORT`, and its tests.

pub mod chat;
pub mod daytime;
pub mod discovery;
pub mod echo;
pub mod hello;
pub mod ntp;
pub mod time;
pub mod upper;

/// A datagram without its trailing `\n` or `\r\n`: what `nc -u` and a
/// line-reading client add is not part of the text.
pub fn strip_line_ending(payload: &[u8]) -> &[u8] {
    let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
    payload.strip_suffix(b"\r").unwrap_or(payload)
}
