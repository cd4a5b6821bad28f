//! The sizes of what the firmware keeps, by size class: one of the
//! runtime's cargo features `ram-64k` (a default feature), `ram-32k` and
//! `ram-16k`, chosen by the image (a board's default features, or
//! `--features udpkit-runtime/ram-32k` with `--no-default-features`).
//!
//! A class sets everything that costs RAM beside the services' own
//! state: the largest frame (the NIC's buffers, the stack's buffer for
//! the held-back frame and the request copy, and so the largest
//! datagram), each service's
//! queues, the neighbor table and smoltcp's neighbor cache (a smoltcp
//! cargo feature, which one build can have only one of: the class turns it
//! on, see Cargo.toml), and the chat's tables. Exactly one class is built:
//! none, or two, fails to compile, as does a class that cannot carry a
//! service of the image (discovery's padded requests in 590-byte frames).
//!
//! The sizes of the default class are what the room test measures against
//! (`host/tests/firmware.rs` reads `CHAT_MEMBERS` and `CHAT_MESSAGE` of
//! `mod ram_64k` here, and those of `mod ram_32k` for the lean image).

#[cfg(any(
    all(feature = "ram-64k", feature = "ram-32k"),
    all(feature = "ram-64k", feature = "ram-16k"),
    all(feature = "ram-32k", feature = "ram-16k"),
))]
compile_error!("udpkit-runtime: choose one size class, `ram-64k`, `ram-32k` or `ram-16k`, not two");

#[cfg(not(any(feature = "ram-64k", feature = "ram-32k", feature = "ram-16k")))]
compile_error!(
    "udpkit-runtime: choose a size class: `ram-64k` (a default feature), `ram-32k` or \
     `ram-16k` (with --no-default-features, add `udpkit-runtime/ram-64k`, \
     `udpkit-runtime/ram-32k` or `udpkit-runtime/ram-16k`)"
);

#[cfg(all(feature = "ram-16k", feature = "discovery"))]
compile_error!(
    "udpkit-runtime: discovery needs the `ram-64k` or `ram-32k` size class: its requests are \
     padded to 681 bytes, more than a `ram-16k` frame of 590 bytes carries"
);

/// A board with 64 KiB of RAM or more: 1514-byte frames (1472-byte
/// datagrams), a room of 16 to 24 hosts at once, a chat of 16 members.
#[cfg(any(
    feature = "ram-64k",
    not(any(feature = "ram-32k", feature = "ram-16k"))
))]
#[allow(dead_code)] // Each image uses the sizes of its services.
mod ram_64k {
    /// The largest Ethernet frame, without FCS: a 1500-byte IP packet.
    pub const FRAME: usize = 1514;
    /// Neighbor table slots: 24 neighbors (three quarters), a classroom of
    /// hosts and the chat's members among them. smoltcp's cache holds 64
    /// (`iface-neighbor-cache-count-64`): room for the lessons of a batch
    /// beside them.
    pub const NEIGHBOR_SLOTS: usize = 32;
    /// Echo, upper, hello and discard: datagram slots of each queue...
    pub const LONG_SLOTS: usize = 4;
    /// ... and payload bytes: one 1472-byte datagram in flight or a few
    /// short ones.
    pub const LONG_BYTES: usize = 2048;
    /// Upper's and hello's payload bytes (their slots are `LONG_SLOTS`):
    /// as echo's.
    pub const TEXT_BYTES: usize = LONG_BYTES;
    /// Daytime, time and NTP: datagram slots of each queue...
    pub const SHORT_SLOTS: usize = 2;
    /// ... and payload bytes: short requests (NTP's are 48 bytes, 68 with
    /// a MAC) and short replies.
    pub const SHORT_BYTES: usize = 256;
    /// Chat members at once: a room of 16 hosts, each in the chat.
    pub const CHAT_MEMBERS: usize = 16;
    /// Chat rooms at once.
    pub const CHAT_ROOMS: usize = 4;
    /// Longest chat message.
    pub const CHAT_MESSAGE: usize = 200;
    /// Chat's receive queue: one datagram of any size, or a few short ones.
    pub const CHAT_RECEIVE: usize = 2048;
    /// Discovery's queues, each way: `udpkit discover`'s request, padded to
    /// the longest reply (681 bytes), or the reply.
    pub const DISCOVERY_BYTES: usize = 1024;
}

/// A board with 32 KiB of RAM: every service, IPv6 and discovery, with
/// 1514-byte frames (1472-byte datagrams; IPv6 wants links of 1280 bytes
/// at least), echo's and discard's queues of one datagram of the largest
/// size, upper's, hello's and the chat's of one 320-byte line (four lines
/// of a terminal), a room of 16 hosts at once and a chat of 8.
#[cfg(feature = "ram-32k")]
#[allow(dead_code)] // Each image uses the sizes of its services.
mod ram_32k {
    /// The largest Ethernet frame, without FCS: a 1500-byte IP packet.
    pub const FRAME: usize = 1514;
    /// Neighbor table slots: 16 neighbors, a room of 16 hosts (three
    /// quarters of 22 is 17, and the table holds no more than half of
    /// smoltcp's cache). smoltcp's cache holds 32
    /// (`iface-neighbor-cache-count-32`: 1,288 bytes less than 64): room
    /// for the lessons of a batch beside them. A 17th host at once evicts
    /// the one least recently seen, whose next reply may wait for ARP.
    pub const NEIGHBOR_SLOTS: usize = 22;
    /// Echo, upper, hello and discard: datagram slots of each queue...
    pub const LONG_SLOTS: usize = 2;
    /// ... and payload bytes: one 1472-byte datagram, or a few short ones.
    pub const LONG_BYTES: usize = 1472;
    /// Upper's and hello's payload bytes (their slots are `LONG_SLOTS`):
    /// lines of up to 320 bytes, four lines of an 80-column terminal
    /// (hello's greeting adds 8: it answers names of up to 312). A longer
    /// one gets no answer: smoltcp drops a datagram its queue cannot hold.
    /// It was 600 until issue 13's 32 KiB wanted these 1,120 bytes.
    pub const TEXT_BYTES: usize = 320;
    /// Daytime, time and NTP: datagram slots of each queue...
    pub const SHORT_SLOTS: usize = 2;
    /// ... and payload bytes: an NTP request of 48 bytes, 68 with a MAC,
    /// and another; short replies.
    pub const SHORT_BYTES: usize = 128;
    /// Chat members at once.
    pub const CHAT_MEMBERS: usize = 8;
    /// Chat rooms at once.
    pub const CHAT_ROOMS: usize = 4;
    /// Longest chat message.
    pub const CHAT_MESSAGE: usize = 200;
    /// Chat's receive queue: one line of up to 320 bytes, as upper's. The
    /// longest the chat takes is 256 (`/msg`, a name of 48 bytes, a message
    /// of 200 and CR LF); a longer line up to 320 gets the chat's refusal,
    /// a longer datagram no answer.
    pub const CHAT_RECEIVE: usize = 320;
    /// Discovery's queues, each way: `udpkit discover`'s request, padded to
    /// the longest reply (681 bytes), or the reply.
    pub const DISCOVERY_BYTES: usize = 681;
}

/// A board with 16 KiB of RAM: 590-byte frames (576-byte IPv4 packets,
/// the least every host must take, RFC 791: 548-byte datagrams), 12 hosts
/// at once, a chat of 4. Statics and stack of echo, time and SNTP in 12
/// KiB.
#[cfg(feature = "ram-16k")]
#[allow(dead_code)] // Each image uses the sizes of its services.
mod ram_16k {
    /// The largest Ethernet frame, without FCS: a 576-byte IP packet.
    pub const FRAME: usize = 590;
    /// Neighbor table slots: 12 neighbors (three quarters), and smoltcp's
    /// cache holds 32 (`iface-neighbor-cache-count-32`).
    pub const NEIGHBOR_SLOTS: usize = 16;
    /// Echo, upper, hello and discard: datagram slots of each queue...
    pub const LONG_SLOTS: usize = 2;
    /// ... and payload bytes: one 548-byte datagram each way, or a few
    /// short ones.
    pub const LONG_BYTES: usize = 600;
    /// Upper's and hello's payload bytes (their slots are `LONG_SLOTS`):
    /// as echo's.
    pub const TEXT_BYTES: usize = LONG_BYTES;
    /// Daytime, time and NTP: datagram slots of each queue...
    pub const SHORT_SLOTS: usize = 2;
    /// ... and payload bytes: an NTP request of 48 bytes, 68 with a MAC,
    /// and another; short replies.
    pub const SHORT_BYTES: usize = 128;
    /// Chat members at once.
    pub const CHAT_MEMBERS: usize = 4;
    /// Chat rooms at once.
    pub const CHAT_ROOMS: usize = 2;
    /// Longest chat message.
    pub const CHAT_MESSAGE: usize = 200;
    /// Chat's receive queue: one datagram of the largest size.
    pub const CHAT_RECEIVE: usize = 600;
    /// Discovery's queues (no discovery in this class).
    pub const DISCOVERY_BYTES: usize = 0;
}

#[cfg(all(
    feature = "ram-16k",
    not(any(feature = "ram-64k", feature = "ram-32k"))
))]
pub use ram_16k::*;
#[cfg(all(feature = "ram-32k", not(feature = "ram-64k")))]
pub use ram_32k::*;
#[cfg(any(
    feature = "ram-64k",
    not(any(feature = "ram-32k", feature = "ram-16k"))
))]
pub use ram_64k::*;
