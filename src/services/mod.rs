//! The services udpkit ships, one module each.
//!
//! Every module holds the protocol logic as plain functions over bytes, a
//! small [`Service`](crate::Service) type that wires it to the stack, its
//! standard port as `DEFAULT_PORT`, and its tests.

pub mod daytime;
pub mod echo;
pub mod hello;
pub mod time;
pub mod upper;
