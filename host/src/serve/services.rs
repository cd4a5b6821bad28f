//! The core's services as `serve` builds them, by their catalog line.
//!
//! Both backends build services here, so that a service added to the core
//! and its catalog needs one more line in this file and nowhere else in
//! the host (discovery, which lists the others, is built by
//! [`crate::serve::discovery`]).

use anyhow::{bail, Result};
use udpkit::catalog::ServiceInfo;
use udpkit::service::Service;
use udpkit::services::{chat, daytime, discard, discovery, echo, hello, ntp, time, upper};
use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
use udpkit::MAX_PAYLOAD;

/// Datagram slots in each socket queue. A load generator keeps up to this
/// many datagrams in flight without loss in our own buffers.
const QUEUE_SLOTS: usize = 256;

/// The service called `kind.name`; discovery, which needs the directory of
/// the others, is built by [`crate::serve::discovery::service`].
pub fn make_service(kind: ServiceInfo, chat_limits: chat::ChatLimits) -> Result<Box<dyn Service>> {
    Ok(match kind.name {
        echo::NAME => Box::new(echo::Echo),
        discard::NAME => Box::new(discard::Discard::new()),
        daytime::NAME => Box::new(daytime::Daytime),
        time::NAME => Box::new(time::Time),
        ntp::NAME => Box::new(ntp::NtpServer::new()),
        upper::NAME => Box::new(upper::Upper),
        hello::NAME => Box::new(hello::Hello),
        chat::NAME => Box::new(chat::Chat::<64, 16>::new(chat_limits)),
        other => bail!(
            "no service called {other} can be built here{}",
            if other == discovery::NAME {
                " (discovery is built from the directory of the others)"
            } else {
                ""
            }
        ),
    })
}

/// A socket queue of [`QUEUE_SLOTS`] datagrams, leaked: the stack lives
/// as long as the process.
pub fn queue() -> PacketBuffer<'static> {
    PacketBuffer::new(
        vec![PacketMetadata::EMPTY; QUEUE_SLOTS].leak(),
        vec![0u8; QUEUE_SLOTS * MAX_PAYLOAD].leak(),
    )
}
