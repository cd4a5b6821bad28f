//! Everything the firmware keeps: allocated statically, sized at compile
//! time, handed out once.
//!
//! Each kind of storage is a `static` cell of [`static_cell`] (the pattern
//! embassy's examples use): a [`ConstStaticCell`] for what has a value at
//! compile time (the queues, the socket set, the neighbor table, the
//! stateless services), a [`StaticCell`] for what is built at boot (the
//! chat, discovery, the SNTP client, the stack). Taking one gives a
//! `&'static mut` to it, once; a second take panics, so no two references
//! to one static can exist, and no `static mut` is needed.
//!
//! The queues' payload bytes are kept apart from their datagram slots on
//! purpose: the bytes are all zeros, so they go to .bss and cost no flash;
//! a slot's initial value is not all zeros, so the slots are .data, copied
//! from flash at boot. (udpkit's `SocketBuffers` keeps the two together,
//! and a `static` of it would put every payload byte in flash too.)
//!
//! The sizes fit a small MCU's 64 KiB of RAM with the stack beside them
//! (see firmware/README.md for the budget): one datagram of up to 1472
//! bytes in flight per service, a chat of 16 members in 4 rooms, a neighbor
//! table of 24 hosts.

use static_cell::{ConstStaticCell, StaticCell};
use udpkit::catalog::CATALOG;
use udpkit::services::chat::{self, Chat, ChatLimits};
use udpkit::services::discovery::{self, Discovery};
use udpkit::services::ntp::{self, NtpServer};
use udpkit::services::{daytime, discard, echo, hello, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
use udpkit::sntp::SntpClient;
use udpkit::{DhcpStorage, NeighborSlot, Service, Stack};

/// Services on a board, and so sockets: the catalog's and the SNTP client.
pub const SERVICES: usize = CATALOG.len() + 1;

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

/// Chat members at once: a room of 16 hosts, each in the chat. Each needs
/// room in chat's queues for a relayed line (see the chat queues below).
pub const CHAT_MEMBERS: usize = 16;
/// Chat rooms at once.
pub const CHAT_ROOMS: usize = 4;
/// Longest chat message.
pub const CHAT_MESSAGE: usize = 200;
/// One message relayed to every other member: its text and the most
/// `[room] <nick> ` around it can take (names of up to 48 bytes), 15 × 304
/// bytes.
const CHAT_FAN_OUT: usize = (CHAT_MEMBERS - 1) * (CHAT_MESSAGE + chat::RELAY_OVERHEAD);
/// Chat's transmit queue holds the most one datagram makes (`Chat::burst`,
/// checked by the stack at start): a fan-out and one line of its own.
const CHAT_QUEUE: usize = CHAT_FAN_OUT + chat::LINE_CAP;
/// Chat's receive queue: the stack takes one frame at a time here (the
/// echo queue holds one full-size datagram), so one datagram of any size,
/// or a few short ones.
const CHAT_RECEIVE: usize = 2048;
const CHAT_RECEIVE_SLOTS: usize = 4;

/// Slots of the neighbor table: 24 neighbors, a classroom of hosts and the
/// chat's members among them. smoltcp's cache holds twice as many (its
/// `iface-neighbor-cache-count-64` feature, this crate's Cargo.toml): room
/// for the lessons of a batch beside them.
pub const NEIGHBOR_SLOTS: usize = 32;

/// Discovery's queues: room for `udpkit discover`'s request, padded to the
/// longest reply, and for the reply.
const DISCOVERY_QUEUE: usize = 1024;

// A padded request that did not fit would be dropped before discovery sees it.
const _: () = assert!(
    discovery::PADDED_REQUEST_LEN <= DISCOVERY_QUEUE && discovery::MAX_REPLY <= DISCOVERY_QUEUE
);

/// Datagram slots of one service's receive and transmit queue.
type Slots<const N: usize> = [[PacketMetadata; N]; 2];
/// Payload bytes of one service's receive and transmit queue.
type Bytes<const N: usize> = [[u8; N]; 2];

/// A service's receive and transmit queues.
pub type Queues = (PacketBuffer<'static>, PacketBuffer<'static>);

/// The queues' datagram slots, per service. Each queue holds SLOTS
/// datagrams in BYTES payload bytes (see [`Payloads`]).
struct QueueSlots {
    echo: Slots<4>,
    /// Discard only receives: no transmit slots.
    discard: [PacketMetadata; 4],
    daytime: Slots<2>,
    time: Slots<2>,
    ntp: Slots<2>,
    upper: Slots<4>,
    hello: Slots<4>,
    chat_rx: [PacketMetadata; CHAT_RECEIVE_SLOTS],
    /// A line to every member but one, and one more.
    chat_tx: [PacketMetadata; CHAT_MEMBERS],
    /// The chat's detour transmits only: no receive slots.
    chat_detour: [PacketMetadata; CHAT_MEMBERS],
    discovery: Slots<2>,
    sntp: Slots<2>,
}

/// The queues' payload bytes, per service. Echo, upper and hello must carry
/// a 1472-byte datagram; daytime, time and NTP only short ones (a longer
/// request is dropped; NTP's are 48 bytes, 68 with a MAC); chat's transmit
/// queue must hold its worst fan-out at once. Discovery's requests are a
/// few bytes (`udpkit discover` pads its own to 681), and its reply (about
/// 270 bytes here) fits its transmit queue. The SNTP client sends and
/// receives 48-byte packets, one at a time.
struct Payloads {
    echo: Bytes<2048>,
    /// A datagram of any size, to be counted.
    discard: [u8; 2048],
    daytime: Bytes<256>,
    time: Bytes<256>,
    ntp: Bytes<256>,
    upper: Bytes<2048>,
    hello: Bytes<2048>,
    chat_rx: [u8; CHAT_RECEIVE],
    chat_tx: [u8; CHAT_QUEUE],
    /// Lines to chat members that may be gone (see `Stack::set_detour`):
    /// after a silence of 45 s every member counts as such, so it holds a
    /// whole fan-out; what does not fit is dropped and counted.
    chat_detour: [u8; CHAT_FAN_OUT],
    discovery: Bytes<DISCOVERY_QUEUE>,
    sntp: Bytes<128>,
}

const fn slots<const N: usize>() -> Slots<N> {
    [[PacketMetadata::EMPTY; N]; 2]
}

const fn bytes<const N: usize>() -> Bytes<N> {
    [[0; N]; 2]
}

static SOCKET_SET: ConstStaticCell<[SocketStorage<'static>; SOCKETS]> =
    ConstStaticCell::new([SocketStorage::EMPTY; SOCKETS]);
static NEIGHBORS: ConstStaticCell<[NeighborSlot; NEIGHBOR_SLOTS]> =
    ConstStaticCell::new([NeighborSlot::EMPTY; NEIGHBOR_SLOTS]);
static QUEUE_SLOTS: ConstStaticCell<QueueSlots> = ConstStaticCell::new(QueueSlots {
    echo: slots(),
    discard: [PacketMetadata::EMPTY; 4],
    daytime: slots(),
    time: slots(),
    ntp: slots(),
    upper: slots(),
    hello: slots(),
    chat_rx: [PacketMetadata::EMPTY; CHAT_RECEIVE_SLOTS],
    chat_tx: [PacketMetadata::EMPTY; CHAT_MEMBERS],
    chat_detour: [PacketMetadata::EMPTY; CHAT_MEMBERS],
    discovery: slots(),
    sntp: slots(),
});
static PAYLOADS: ConstStaticCell<Payloads> = ConstStaticCell::new(Payloads {
    echo: bytes(),
    discard: [0; 2048],
    daytime: bytes(),
    time: bytes(),
    ntp: bytes(),
    upper: bytes(),
    hello: bytes(),
    chat_rx: [0; CHAT_RECEIVE],
    chat_tx: [0; CHAT_QUEUE],
    chat_detour: [0; CHAT_FAN_OUT],
    discovery: bytes(),
    sntp: bytes(),
});
static ECHO: ConstStaticCell<echo::Echo> = ConstStaticCell::new(echo::Echo);
static DISCARD: ConstStaticCell<discard::Discard> = ConstStaticCell::new(discard::Discard::new());
static DAYTIME: ConstStaticCell<daytime::Daytime> = ConstStaticCell::new(daytime::Daytime);
static TIME: ConstStaticCell<time::Time> = ConstStaticCell::new(time::Time);
static NTP: ConstStaticCell<NtpServer> = ConstStaticCell::new(NtpServer::new());
static UPPER: ConstStaticCell<upper::Upper> = ConstStaticCell::new(upper::Upper);
static HELLO: ConstStaticCell<hello::Hello> = ConstStaticCell::new(hello::Hello);
static CHAT: StaticCell<Chat<CHAT_MEMBERS, CHAT_ROOMS>> = StaticCell::new();
static DISCOVERY: StaticCell<Discovery> = StaticCell::new();
static SNTP: StaticCell<SntpClient> = StaticCell::new();
static STACK: StaticCell<Stack<'static>> = StaticCell::new();
/// The DHCP client's copy of the server's last message (zeros: .bss).
#[cfg(feature = "dhcp")]
static DHCP: ConstStaticCell<DhcpStorage> = ConstStaticCell::new(DhcpStorage::new());

/// The chat, built in its static (in a function of its own: its
/// temporary leaves the stack when it returns).
#[inline(never)]
fn new_chat() -> &'static mut Chat<CHAT_MEMBERS, CHAT_ROOMS> {
    CHAT.init(Chat::new(ChatLimits {
        max_members: CHAT_MEMBERS,
        max_rooms: CHAT_ROOMS,
        max_message: CHAT_MESSAGE,
        ..ChatLimits::default()
    }))
}

/// The receive and transmit queues over one service's slots and bytes.
fn queues<const S: usize, const B: usize>(
    slots: &'static mut Slots<S>,
    bytes: &'static mut Bytes<B>,
) -> Queues {
    let [rx_slots, tx_slots] = slots;
    let [rx_bytes, tx_bytes] = bytes;
    (
        PacketBuffer::new(&mut rx_slots[..], &mut rx_bytes[..]),
        PacketBuffer::new(&mut tx_slots[..], &mut tx_bytes[..]),
    )
}

/// A server of the catalog, ready to add to the stack: the service and its
/// queues.
pub type Server = (&'static mut dyn Service, Queues);

/// The services' storage, by the catalog's names.
pub struct Servers {
    /// The servers of the catalog but discovery; each taken once
    /// ([`Servers::take_server`]).
    servers: [Option<(&'static str, Server)>; CATALOG.len() - 1],
    /// The chat's detour, taken by [`Servers::take_detour`].
    chat_detour: Option<Queues>,
    /// Discovery's queues, taken by [`Servers::take_directory_queues`].
    discovery_queues: Option<Queues>,
}

/// The stack's storage, taken.
pub struct StackStorage {
    /// The socket set's storage.
    pub sockets: &'static mut [SocketStorage<'static>; SOCKETS],
    /// The neighbor table.
    pub neighbors: &'static mut [NeighborSlot; NEIGHBOR_SLOTS],
    /// The stack, once its sockets and device are known.
    pub stack: &'static StaticCell<Stack<'static>>,
    /// The DHCP client's storage, with the `dhcp` feature.
    pub dhcp: Option<&'static mut DhcpStorage>,
}

impl StackStorage {
    /// The stack's storage. Once: a second call panics.
    pub fn take() -> StackStorage {
        StackStorage {
            sockets: SOCKET_SET.take(),
            neighbors: NEIGHBORS.take(),
            stack: &STACK,
            #[cfg(feature = "dhcp")]
            dhcp: Some(DHCP.take()),
            #[cfg(not(feature = "dhcp"))]
            dhcp: None,
        }
    }
}

/// The services' storage, taken: what
/// [`services::start`](crate::services::start) adds to the stack.
pub struct Storage {
    /// The services of the catalog, each taken once by name.
    pub servers: Servers,
    /// Discovery, once its directory is known.
    pub discovery: &'static StaticCell<Discovery>,
    /// The SNTP client's queues.
    pub sntp_queues: Queues,
    /// The SNTP client, once its seed is known.
    pub sntp: &'static StaticCell<SntpClient>,
}

impl Storage {
    /// The services' storage. Once: a second call panics (each static is
    /// handed out only once).
    #[inline(never)]
    pub fn take() -> Storage {
        let QueueSlots {
            echo: echo_slots,
            discard: discard_slots,
            daytime: daytime_slots,
            time: time_slots,
            ntp: ntp_slots,
            upper: upper_slots,
            hello: hello_slots,
            chat_rx: chat_rx_slots,
            chat_tx: chat_tx_slots,
            chat_detour: chat_detour_slots,
            discovery: discovery_slots,
            sntp: sntp_slots,
        } = QUEUE_SLOTS.take();
        let Payloads {
            echo: echo_bytes,
            discard: discard_bytes,
            daytime: daytime_bytes,
            time: time_bytes,
            ntp: ntp_bytes,
            upper: upper_bytes,
            hello: hello_bytes,
            chat_rx: chat_rx_bytes,
            chat_tx: chat_tx_bytes,
            chat_detour: chat_detour_bytes,
            discovery: discovery_bytes,
            sntp: sntp_bytes,
        } = PAYLOADS.take();
        let chat: &'static mut dyn Service = new_chat();
        Storage {
            servers: Servers {
                servers: [
                    Some((echo::NAME, (ECHO.take(), queues(echo_slots, echo_bytes)))),
                    Some((
                        discard::NAME,
                        (
                            DISCARD.take(),
                            (
                                PacketBuffer::new(&mut discard_slots[..], &mut discard_bytes[..]),
                                PacketBuffer::new(&mut [][..], &mut [][..]),
                            ),
                        ),
                    )),
                    Some((
                        daytime::NAME,
                        (DAYTIME.take(), queues(daytime_slots, daytime_bytes)),
                    )),
                    Some((time::NAME, (TIME.take(), queues(time_slots, time_bytes)))),
                    Some((ntp::NAME, (NTP.take(), queues(ntp_slots, ntp_bytes)))),
                    Some((
                        upper::NAME,
                        (UPPER.take(), queues(upper_slots, upper_bytes)),
                    )),
                    Some((
                        hello::NAME,
                        (HELLO.take(), queues(hello_slots, hello_bytes)),
                    )),
                    Some((
                        chat::NAME,
                        (
                            chat,
                            (
                                PacketBuffer::new(&mut chat_rx_slots[..], &mut chat_rx_bytes[..]),
                                PacketBuffer::new(&mut chat_tx_slots[..], &mut chat_tx_bytes[..]),
                            ),
                        ),
                    )),
                ],
                chat_detour: Some((
                    PacketBuffer::new(&mut [][..], &mut [][..]),
                    PacketBuffer::new(&mut chat_detour_slots[..], &mut chat_detour_bytes[..]),
                )),
                discovery_queues: Some(queues(discovery_slots, discovery_bytes)),
            },
            discovery: &DISCOVERY,
            sntp_queues: queues(sntp_slots, sntp_bytes),
            sntp: &SNTP,
        }
    }
}

impl Servers {
    /// The server the catalog calls `name`, if this firmware has storage
    /// for it and it was not taken yet.
    pub fn take_server(&mut self, name: &str) -> Option<Server> {
        let slot = self
            .servers
            .iter_mut()
            .find(|slot| matches!(slot, Some((n, _)) if *n == name))?;
        slot.take().map(|(_, server)| server)
    }

    /// The queues of the service called `name` that is built from the
    /// directory of the others (discovery), if this firmware has it.
    pub fn take_directory_queues(&mut self, name: &str) -> Option<Queues> {
        if name == discovery::NAME {
            self.discovery_queues.take()
        } else {
            None
        }
    }

    /// The detour queues of the server called `name`, if it has one.
    pub fn take_detour(&mut self, name: &str) -> Option<Queues> {
        if name == chat::NAME {
            self.chat_detour.take()
        } else {
            None
        }
    }
}
