//! Everything the firmware keeps: allocated statically, sized at compile
//! time, handed out once.
//!
//! Each kind of storage is a `static` cell of [`static_cell`] (the pattern
//! embassy's examples use): a [`ConstStaticCell`] for what is all zeros or
//! tiny at compile time (the queues' payload bytes, the stateless
//! services), a [`StaticCell`] for what is built at boot (the queues'
//! datagram slots, the socket set, the neighbor table, the chat,
//! discovery, the SNTP client, the stack). Taking one gives a `&'static
//! mut` to it, once; a second take panics, so no two references to one
//! static can exist, and no `static mut` is needed.
//!
//! Nothing here is .data, whose initial values are copied from flash: the
//! payload bytes are zeros (.bss), and what has other initial values (an
//! empty slot, socket or neighbor is not all zeros) is filled in at boot,
//! which costs a few loops of code instead of 6.4 KiB of flash for the
//! full image. (udpkit's `SocketBuffers` keeps slots and bytes together,
//! and a `static` of it would put every payload byte in flash.)

//! The sizes are the image's size class ([`sizes`](crate::sizes)): with
//! `ram-64k` they fit a small MCU's 64 KiB of RAM with the stack beside
//! them (see firmware/README.md for the budget): one datagram of up to
//! 1472 bytes in flight per service, a chat of 16 members in 4 rooms, a
//! neighbor table of 24 hosts; with `ram-16k`, 548-byte datagrams, a chat
//! of 4, 12 hosts.
//!
//! Each service's storage is there only with its cargo feature (this
//! crate's features follow the core's): a build without the chat has
//! neither its queues nor its tables.

use static_cell::{ConstStaticCell, StaticCell};
use udpkit::catalog::CATALOG;
#[cfg(feature = "chat")]
use udpkit::services::chat::{self, Chat, ChatLimits};
#[cfg(feature = "daytime")]
use udpkit::services::daytime;
#[cfg(feature = "discard")]
use udpkit::services::discard;
#[cfg(feature = "discovery")]
use udpkit::services::discovery::{self, Discovery};
#[cfg(feature = "echo")]
use udpkit::services::echo;
#[cfg(feature = "hello")]
use udpkit::services::hello;
#[cfg(feature = "ntp")]
use udpkit::services::ntp::{self, NtpServer};
#[cfg(feature = "time")]
use udpkit::services::time;
#[cfg(feature = "upper")]
use udpkit::services::upper;
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
#[cfg(feature = "sntp")]
use udpkit::sntp::SntpClient;
#[cfg(feature = "dhcp")]
use udpkit::DhcpStorage;
use udpkit::{NeighborSlot, Service, Stack};

#[cfg(feature = "chat")]
pub use crate::sizes::{CHAT_MEMBERS, CHAT_MESSAGE, CHAT_ROOMS};
pub use crate::sizes::{FRAME, NEIGHBOR_SLOTS};
#[allow(unused_imports)] // Which of them an image uses depends on its services.
use crate::sizes::{LONG_BYTES, LONG_SLOTS, SHORT_BYTES, SHORT_SLOTS, TEXT_BYTES};

/// The SNTP client's socket: one with the `sntp` feature.
pub const SNTP_SOCKETS: usize = if cfg!(feature = "sntp") { 1 } else { 0 };

/// Services on a board, and so sockets: the catalog's and the SNTP client.
pub const SERVICES: usize = CATALOG.len() + SNTP_SOCKETS;

/// Services of the catalog that want a detour (the chat): one more socket
/// each.
pub const DETOURS: usize = {
    let mut detours = 0;
    let mut i = 0;
    while i < CATALOG.len() {
        if CATALOG[i].needs.detour {
            detours += 1;
        }
        i += 1;
    }
    detours
};

/// The DHCP client's socket: one with the `dhcp` feature.
pub const DHCP_SOCKETS: usize = if cfg!(feature = "dhcp") { 1 } else { 0 };

/// Sockets: one per service, one per detour (transmit only), and the DHCP
/// client's.
pub const SOCKETS: usize = SERVICES + DETOURS + DHCP_SOCKETS;

/// The services the stack has slots for: this image's (at least one, for
/// an image built with none).
pub const STACK_SERVICES: usize = if SERVICES == 0 { 1 } else { SERVICES };

/// The stack of this image: slots for its services, frames of the size
/// class's [`FRAME`] bytes (the NIC's MTU: a board builds its driver for
/// the same).
pub type BoardStack<'a> = Stack<'a, STACK_SERVICES, FRAME>;
/// The storage [`BoardStack`] borrows for its big parts: in a static of
/// its own, so that the stack is small to build.
pub type StackParts = udpkit::StackStorage<FRAME>;
/// The chat's limits: this size class's members, rooms and longest message.
#[cfg(feature = "chat")]
const CHAT_LIMITS: ChatLimits = ChatLimits {
    max_members: CHAT_MEMBERS,
    max_rooms: CHAT_ROOMS,
    max_message: CHAT_MESSAGE,
    ..ChatLimits::DEFAULT
};
/// The chat's longest line with those limits (`ChatLimits::longest_line`:
/// the welcome to a room of every member, or the help), the size of the
/// one line it holds on the stack at a time.
#[cfg(feature = "chat")]
const CHAT_LINE: usize = CHAT_LIMITS.longest_line();
/// The most one datagram or timer makes the chat send to members other
/// than the one it answers (`ChatLimits::fan_out_bytes`): a message
/// relayed to every other member, 7 × 303 bytes in the lean image.
#[cfg(feature = "chat")]
const CHAT_FAN_OUT: usize = CHAT_LIMITS.fan_out_bytes();
/// Chat's transmit queue holds the most one datagram or timer makes
/// (`Chat::burst`, checked by the stack at start): a message relayed to
/// every member, its sender's echo included, 8 × 303 bytes in the lean
/// image.
#[cfg(feature = "chat")]
const CHAT_QUEUE: usize = CHAT_LIMITS.burst_bytes();
/// Chat's receive queue: the stack takes one frame at a time here (the
/// echo queue holds one full-size datagram), so one datagram of any size,
/// or a few short ones.
#[cfg(feature = "chat")]
use crate::sizes::CHAT_RECEIVE;
#[cfg(feature = "chat")]
const CHAT_RECEIVE_SLOTS: usize = 4;

/// Discovery's queues: room for `udpkit discover`'s request, padded to the
/// longest reply, and for the reply (the size class's).
#[cfg(feature = "discovery")]
use crate::sizes::DISCOVERY_BYTES as DISCOVERY_QUEUE;

// A padded request that did not fit would be dropped before discovery sees it.
#[cfg(feature = "discovery")]
const _: () = assert!(
    discovery::PADDED_REQUEST_LEN <= DISCOVERY_QUEUE && discovery::MAX_REPLY <= DISCOVERY_QUEUE
);

/// Datagram slots of one service's receive and transmit queue.
type Slots<const N: usize> = [[PacketMetadata; N]; 2];
/// Payload bytes of one service's receive and transmit queue.
type Bytes<const N: usize> = [[u8; N]; 2];

/// A service's receive and transmit queues.
pub type Queues = (PacketBuffer<'static>, PacketBuffer<'static>);

/// A service's datagram slots, N for each queue: filled at boot (see
/// the top of this file).
const fn slots<const N: usize>() -> StaticCell<Slots<N>> {
    StaticCell::new()
}

/// A service's payload bytes, N for each queue: zeros, so .bss.
const fn bytes<const N: usize>() -> ConstStaticCell<Bytes<N>> {
    ConstStaticCell::new([[0; N]; 2])
}

// Each service's queues: SLOTS datagrams in BYTES payload bytes each way,
// slots and bytes in statics of their own (see the top of this file), as
// the size class says. Echo, upper and hello carry a datagram of the
// largest size (1472 bytes, or 548 in 590-byte frames; upper and hello
// lines of 320 bytes in `ram-32k`); daytime, time and
// NTP only short ones (a longer request is dropped; NTP's are 48 bytes, 68
// with a MAC); chat's transmit queue must hold its worst fan-out at once.
// Discovery's requests are a few bytes (`udpkit discover` pads its own to
// 681), and its reply (about 270 bytes here) fits its transmit queue. The
// SNTP client sends and receives 48-byte packets, one at a time.
#[cfg(feature = "echo")]
static ECHO_SLOTS: StaticCell<Slots<LONG_SLOTS>> = slots();
#[cfg(feature = "echo")]
static ECHO_BYTES: ConstStaticCell<Bytes<LONG_BYTES>> = bytes();
#[cfg(feature = "echo")]
static ECHO: ConstStaticCell<echo::Echo> = ConstStaticCell::new(echo::Echo);

/// Discard only receives: no transmit slots; a datagram of any size, to be
/// counted.
#[cfg(feature = "discard")]
static DISCARD_SLOTS: StaticCell<[PacketMetadata; LONG_SLOTS]> = StaticCell::new();
#[cfg(feature = "discard")]
static DISCARD_BYTES: ConstStaticCell<[u8; LONG_BYTES]> = ConstStaticCell::new([0; LONG_BYTES]);
#[cfg(feature = "discard")]
static DISCARD: ConstStaticCell<discard::Discard> = ConstStaticCell::new(discard::Discard::new());

#[cfg(feature = "daytime")]
static DAYTIME_SLOTS: StaticCell<Slots<SHORT_SLOTS>> = slots();
#[cfg(feature = "daytime")]
static DAYTIME_BYTES: ConstStaticCell<Bytes<SHORT_BYTES>> = bytes();
#[cfg(feature = "daytime")]
static DAYTIME: ConstStaticCell<daytime::Daytime> = ConstStaticCell::new(daytime::Daytime);

#[cfg(feature = "time")]
static TIME_SLOTS: StaticCell<Slots<SHORT_SLOTS>> = slots();
#[cfg(feature = "time")]
static TIME_BYTES: ConstStaticCell<Bytes<SHORT_BYTES>> = bytes();
#[cfg(feature = "time")]
static TIME: ConstStaticCell<time::Time> = ConstStaticCell::new(time::Time);

#[cfg(feature = "ntp")]
static NTP_SLOTS: StaticCell<Slots<SHORT_SLOTS>> = slots();
#[cfg(feature = "ntp")]
static NTP_BYTES: ConstStaticCell<Bytes<SHORT_BYTES>> = bytes();
#[cfg(feature = "ntp")]
static NTP: ConstStaticCell<NtpServer> = ConstStaticCell::new(NtpServer::new());

#[cfg(feature = "upper")]
static UPPER_SLOTS: StaticCell<Slots<LONG_SLOTS>> = slots();
#[cfg(feature = "upper")]
static UPPER_BYTES: ConstStaticCell<Bytes<TEXT_BYTES>> = bytes();
#[cfg(feature = "upper")]
static UPPER: ConstStaticCell<upper::Upper> = ConstStaticCell::new(upper::Upper);

#[cfg(feature = "hello")]
static HELLO_SLOTS: StaticCell<Slots<LONG_SLOTS>> = slots();
#[cfg(feature = "hello")]
static HELLO_BYTES: ConstStaticCell<Bytes<TEXT_BYTES>> = bytes();
#[cfg(feature = "hello")]
static HELLO: ConstStaticCell<hello::Hello> = ConstStaticCell::new(hello::Hello);

#[cfg(feature = "chat")]
static CHAT_RX_SLOTS: StaticCell<[PacketMetadata; CHAT_RECEIVE_SLOTS]> = StaticCell::new();
#[cfg(feature = "chat")]
static CHAT_RX_BYTES: ConstStaticCell<[u8; CHAT_RECEIVE]> = ConstStaticCell::new([0; CHAT_RECEIVE]);
/// A line to every member but one, and one more.
#[cfg(feature = "chat")]
static CHAT_TX_SLOTS: StaticCell<[PacketMetadata; CHAT_MEMBERS]> = StaticCell::new();
#[cfg(feature = "chat")]
static CHAT_TX_BYTES: ConstStaticCell<[u8; CHAT_QUEUE]> = ConstStaticCell::new([0; CHAT_QUEUE]);
/// The chat's detour transmits only (no receive slots): lines to members
/// that may be gone (see `Stack::set_detour`). After a silence of 45 s
/// every member counts as such, so it holds a whole fan-out; what does not
/// fit is dropped and counted.
#[cfg(feature = "chat")]
static CHAT_DETOUR_SLOTS: StaticCell<[PacketMetadata; CHAT_MEMBERS]> = StaticCell::new();
#[cfg(feature = "chat")]
static CHAT_DETOUR_BYTES: ConstStaticCell<[u8; CHAT_FAN_OUT]> =
    ConstStaticCell::new([0; CHAT_FAN_OUT]);
#[cfg(feature = "chat")]
static CHAT: StaticCell<Chat<CHAT_MEMBERS, CHAT_ROOMS, CHAT_LINE>> = StaticCell::new();

#[cfg(feature = "discovery")]
static DISCOVERY_SLOTS: StaticCell<Slots<2>> = slots();
#[cfg(feature = "discovery")]
static DISCOVERY_BYTES: ConstStaticCell<Bytes<DISCOVERY_QUEUE>> = bytes();
#[cfg(feature = "discovery")]
static DISCOVERY: StaticCell<Discovery> = StaticCell::new();

#[cfg(feature = "sntp")]
static SNTP_SLOTS: StaticCell<Slots<2>> = slots();
#[cfg(feature = "sntp")]
static SNTP_BYTES: ConstStaticCell<Bytes<128>> = bytes();
#[cfg(feature = "sntp")]
static SNTP: StaticCell<SntpClient> = StaticCell::new();

static SOCKET_SET: StaticCell<[SocketStorage<'static>; SOCKETS]> = StaticCell::new();
static NEIGHBORS: StaticCell<[NeighborSlot; NEIGHBOR_SLOTS]> = StaticCell::new();
// Zeros in `.bss`: the stack borrows them and is small to build.
// Built at boot: its `None` interface is not all zeros, and a constant of
// it would be copied from flash.
static STACK_PARTS: StaticCell<StackParts> = StaticCell::new();
static STACK: StaticCell<BoardStack<'static>> = StaticCell::new();
/// The DHCP client's copy of the server's last message (zeros: .bss).
#[cfg(feature = "dhcp")]
static DHCP: ConstStaticCell<DhcpStorage> = ConstStaticCell::new(DhcpStorage::new());

/// The chat, built in its static (in a function of its own: its
/// temporary leaves the stack when it returns).
#[cfg(feature = "chat")]
#[inline(never)]
fn new_chat() -> &'static mut Chat<CHAT_MEMBERS, CHAT_ROOMS, CHAT_LINE> {
    CHAT.init(Chat::new(CHAT_LIMITS))
}

/// The receive and transmit queues over one service's slots and bytes.
#[allow(dead_code)] // Not with only discard and the chat, whose queues differ.
fn queues<const S: usize, const B: usize>(
    slots: &'static StaticCell<Slots<S>>,
    bytes: &'static ConstStaticCell<Bytes<B>>,
) -> Queues {
    let [rx_slots, tx_slots] = slots.init_with(|| [[PacketMetadata::EMPTY; S]; 2]);
    let [rx_bytes, tx_bytes] = bytes.take();
    (
        PacketBuffer::new(&mut rx_slots[..], &mut rx_bytes[..]),
        PacketBuffer::new(&mut tx_slots[..], &mut tx_bytes[..]),
    )
}

/// Datagram slots of one queue, filled at boot.
#[allow(dead_code)] // Only discard's and the chat's queues are built so.
fn empty_slots<const N: usize>(
    cell: &'static StaticCell<[PacketMetadata; N]>,
) -> &'static mut [PacketMetadata] {
    cell.init_with(|| [PacketMetadata::EMPTY; N])
}

/// A queue that holds nothing: the side a service never uses.
#[allow(dead_code)] // Only discard and the chat's detour have one.
fn no_queue() -> PacketBuffer<'static> {
    PacketBuffer::new(&mut [][..], &mut [][..])
}

/// A server of the catalog, ready to add to the stack: the service and its
/// queues.
pub type Server = (&'static mut dyn Service, Queues);

/// The services' storage, by the catalog's names: each server's statics
/// are taken when its name is asked for (once: a second take of them
/// panics), so that no table of every server's queues passes through the
/// boot's stack frames (it took 840 bytes of them, twice, in the lean
/// image).
pub struct Servers {
    /// Only [`Storage::take`] makes one.
    _private: (),
}

/// The stack's storage, taken.
pub struct StackStorage {
    /// The socket set's storage.
    pub sockets: &'static mut [SocketStorage<'static>; SOCKETS],
    /// The neighbor table.
    pub neighbors: &'static mut [NeighborSlot; NEIGHBOR_SLOTS],
    /// What makes the stack big (smoltcp's interface, the buffer of the
    /// frame held back and the request's copy), built in place when the
    /// stack is.
    pub parts: &'static mut StackParts,
    /// The stack, once its sockets and device are known.
    pub stack: &'static StaticCell<BoardStack<'static>>,
    /// The DHCP client's storage, with the `dhcp` feature.
    #[cfg(feature = "dhcp")]
    pub dhcp: &'static mut DhcpStorage,
}

impl StackStorage {
    /// The stack's storage. Once: a second call panics. Never inlined: the
    /// empty socket set and neighbor table it fills may pass through its
    /// frame, which is gone before the stack is built.
    #[inline(never)]
    pub fn take() -> StackStorage {
        StackStorage {
            sockets: SOCKET_SET.init_with(|| [SocketStorage::EMPTY; SOCKETS]),
            neighbors: NEIGHBORS.init_with(|| [NeighborSlot::EMPTY; NEIGHBOR_SLOTS]),
            parts: STACK_PARTS.init_with(StackParts::new),
            stack: &STACK,
            #[cfg(feature = "dhcp")]
            dhcp: DHCP.take(),
        }
    }
}

/// The services' storage, taken: what
/// [`services::start`](crate::services::start) adds to the stack.
pub struct Storage {
    /// The services of the catalog, each taken once by name.
    pub servers: Servers,
    /// Discovery, once its directory is known.
    #[cfg(feature = "discovery")]
    pub discovery: &'static StaticCell<Discovery>,
    /// The SNTP client's queues.
    #[cfg(feature = "sntp")]
    pub sntp_queues: Queues,
    /// The SNTP client, once its seed is known.
    #[cfg(feature = "sntp")]
    pub sntp: &'static StaticCell<SntpClient>,
}

impl Storage {
    /// The services' storage. Each static is handed out once: a second
    /// call panics where it takes one again (the SNTP client's queues
    /// here, a server's when [`Servers::take_server`] is asked for it).
    #[inline(never)]
    pub fn take() -> Storage {
        Storage {
            servers: Servers { _private: () },
            #[cfg(feature = "discovery")]
            discovery: &DISCOVERY,
            #[cfg(feature = "sntp")]
            sntp_queues: queues(&SNTP_SLOTS, &SNTP_BYTES),
            #[cfg(feature = "sntp")]
            sntp: &SNTP,
        }
    }
}

impl Servers {
    /// The server the catalog calls `name`, if this firmware has storage
    /// for it. Each once: a second take of one name panics.
    pub fn take_server(&mut self, name: &str) -> Option<Server> {
        // In the catalog's order.
        #[cfg(feature = "echo")]
        if name == echo::NAME {
            return Some((ECHO.take(), queues(&ECHO_SLOTS, &ECHO_BYTES)));
        }
        #[cfg(feature = "discard")]
        if name == discard::NAME {
            return Some((
                DISCARD.take(),
                (
                    PacketBuffer::new(empty_slots(&DISCARD_SLOTS), &mut DISCARD_BYTES.take()[..]),
                    no_queue(),
                ),
            ));
        }
        #[cfg(feature = "daytime")]
        if name == daytime::NAME {
            return Some((DAYTIME.take(), queues(&DAYTIME_SLOTS, &DAYTIME_BYTES)));
        }
        #[cfg(feature = "time")]
        if name == time::NAME {
            return Some((TIME.take(), queues(&TIME_SLOTS, &TIME_BYTES)));
        }
        #[cfg(feature = "ntp")]
        if name == ntp::NAME {
            return Some((NTP.take(), queues(&NTP_SLOTS, &NTP_BYTES)));
        }
        #[cfg(feature = "upper")]
        if name == upper::NAME {
            return Some((UPPER.take(), queues(&UPPER_SLOTS, &UPPER_BYTES)));
        }
        #[cfg(feature = "hello")]
        if name == hello::NAME {
            return Some((HELLO.take(), queues(&HELLO_SLOTS, &HELLO_BYTES)));
        }
        #[cfg(feature = "chat")]
        if name == chat::NAME {
            return Some((
                new_chat(),
                (
                    PacketBuffer::new(empty_slots(&CHAT_RX_SLOTS), &mut CHAT_RX_BYTES.take()[..]),
                    PacketBuffer::new(empty_slots(&CHAT_TX_SLOTS), &mut CHAT_TX_BYTES.take()[..]),
                ),
            ));
        }
        let _ = name;
        None
    }

    /// The queues of the service called `name` that is built from the
    /// directory of the others (discovery), if this firmware has it. Once.
    pub fn take_directory_queues(&mut self, name: &str) -> Option<Queues> {
        #[cfg(feature = "discovery")]
        if name == discovery::NAME {
            return Some(queues(&DISCOVERY_SLOTS, &DISCOVERY_BYTES));
        }
        let _ = name;
        None
    }

    /// The detour queues of the server called `name`, if it has one. Once.
    pub fn take_detour(&mut self, name: &str) -> Option<Queues> {
        #[cfg(feature = "chat")]
        if name == chat::NAME {
            return Some((
                no_queue(),
                PacketBuffer::new(
                    empty_slots(&CHAT_DETOUR_SLOTS),
                    &mut CHAT_DETOUR_BYTES.take()[..],
                ),
            ));
        }
        let _ = name;
        None
    }
}
