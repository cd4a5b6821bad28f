//! The stack: a smoltcp interface, one UDP socket per service, and the loop
//! that moves datagrams between them.
//!
//! [`Stack::poll`] is the whole runtime. Each call:
//! 1. takes up to `batch` frames from the device (ARP, ICMP echo and UDP are
//!    handled by smoltcp; UDP lands in the services' sockets), where `batch`
//!    is how many full-size datagrams the smallest socket receive queue holds
//!    (in slots and in bytes), so no socket can overflow within a batch;
//! 2. hands every queued datagram to its service, after the loop guard and a
//!    routability check, and queues the replies; before each datagram it
//!    makes sure the socket's transmit queue has room for the most the
//!    service may send at once ([`Service::burst`]), transmitting first if
//!    needed, so a chat's fan-out is never lost to our own buffers;
//! 3. transmits everything queued, and repeats while the device has frames;
//! 4. runs due service timers, and unclogs any transmit queue that has been
//!    stuck (see [`STALL_LIMIT`]);
//! 5. returns how long the port may sleep before the next call.
//!
//! With DHCP ([`Stack::enable_dhcp`]), each call also takes the DHCP
//! client's news once, after the frames: a lease that comes, changes or
//! goes readdresses the interface and the services (see [`dhcp`]).

use core::cell::Cell;

use smoltcp::iface::{Config as IfaceConfig, Interface, PollIngressSingleResult, PollResult};
use smoltcp::iface::{SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::Device;
use smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::socket::AnySocket;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address, Ipv4Cidr,
};
#[cfg(feature = "ipv6")]
use smoltcp::wire::{Ipv6Address, Ipv6Cidr};

use crate::board::Board;
use crate::board::ClockSource;
use crate::clock::UnixTime;
#[cfg(feature = "dhcp")]
use crate::dhcp::{self, DhcpClient, DhcpStats, DhcpStorage, Ipv4Setting, Lease};
use crate::guard;
use crate::neighbor::{
    LearningDevice, NeighborLearning, NeighborSlot, NeighborStats, MAX_ADDRESSES, MAX_FRAME,
};
use crate::service::{Burst, Outbox, Request, SendError, Service, Uses};

/// How many services one stack runs at most.
pub const MAX_SERVICES: usize = 12;

/// The largest UDP payload handled: a 1500-byte IPv4 packet less its
/// 20-byte IP and 8-byte UDP headers. Larger datagrams would need IP
/// fragmentation, which the stack does not do.
pub const MAX_PAYLOAD: usize = 1472;

/// The largest UDP payload over IPv6: its header is 40 bytes.
#[cfg(feature = "ipv6")]
pub const MAX_PAYLOAD_IPV6: usize = 1452;

/// The largest UDP payload to `to` in one unfragmented 1500-byte packet.
pub fn max_payload_to(to: IpAddress) -> usize {
    match to {
        IpAddress::Ipv4(_) => MAX_PAYLOAD,
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(_) => MAX_PAYLOAD_IPV6,
    }
}

/// Ethernet, IPv4 and UDP headers: what a frame holds beside an IPv4
/// datagram's payload.
const IPV4_OVERHEAD: usize = 14 + 20 + 8;
/// Ethernet, IPv6 and UDP headers.
#[cfg(feature = "ipv6")]
const IPV6_OVERHEAD: usize = 14 + 40 + 8;

/// The shortest frame a stack may be built for (see [`Stack::new_sized`]):
/// room for the 576-byte IPv4 datagram every host must take (RFC 791) and
/// its Ethernet header.
pub const MIN_FRAME: usize = 576 + 14;

/// The largest UDP payload to `to` in a frame of at most `frame` bytes.
/// A stack's frame is at most [`MAX_FRAME`] (its `SIZES_FIT`), so this is
/// never more than [`max_payload_to`]; for the 1514-byte frame, the same.
fn max_payload_in(frame: usize, to: IpAddress) -> usize {
    frame.saturating_sub(match to {
        IpAddress::Ipv4(_) => IPV4_OVERHEAD,
        #[cfg(feature = "ipv6")]
        IpAddress::Ipv6(_) => IPV6_OVERHEAD,
    })
}

/// The largest UDP payload to any destination in a frame of at most
/// `frame` bytes: a timer's datagrams may go to either family.
fn max_payload_any_in(frame: usize) -> usize {
    #[cfg(feature = "ipv6")]
    let overhead = IPV6_OVERHEAD;
    #[cfg(not(feature = "ipv6"))]
    let overhead = IPV4_OVERHEAD;
    frame.saturating_sub(overhead)
}

/// A transmit queue that stays non-empty this long is reset. smoltcp keeps a
/// datagram it cannot deliver (its next hop never answers ARP) at the head of
/// the queue, where it blocks every later reply of that service; this
/// drops it, and whatever queued behind it, instead.
pub const STALL_LIMIT: Duration = Duration::from_secs(3);

/// Network settings of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Our MAC address on the link.
    pub mac: EthernetAddress,
    /// Our IPv4 address and subnet (unless DHCP gives one: see
    /// [`Stack::enable_dhcp`]).
    pub address: Ipv4Cidr,
    /// An IPv4 default route; without one, only on-link peers are answered.
    /// With DHCP, the lease's router instead.
    pub gateway: Option<Ipv4Address>,
    /// Our global (or unique local) IPv6 address and prefix, if any (with
    /// the `ipv6` feature).
    #[cfg(feature = "ipv6")]
    pub ipv6: Option<Ipv6Cidr>,
    /// Our link-local IPv6 address, if any. IPv6 peers are answered when
    /// they are on the link of one of our IPv6 prefixes.
    #[cfg(feature = "ipv6")]
    pub ipv6_link_local: Option<Ipv6Cidr>,
}

impl Config {
    /// Every address of ours, IPv4 first.
    pub fn cidrs(&self) -> heapless::Vec<IpCidr, MAX_ADDRESSES> {
        let mut cidrs = heapless::Vec::new();
        let _ = cidrs.push(IpCidr::Ipv4(self.address));
        #[cfg(feature = "ipv6")]
        for v6 in [self.ipv6, self.ipv6_link_local].into_iter().flatten() {
            let _ = cidrs.push(IpCidr::Ipv6(v6));
        }
        cidrs
    }
}

impl Default for Config {
    /// The addresses smoltcp's examples use, so their habits carry over:
    /// 192.168.69.1/24, fdaa::1/64 and fe80::1/64 (with the `ipv6`
    /// feature) with MAC 02:00:00:00:00:01, no gateway.
    fn default() -> Config {
        Config {
            mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x01]),
            address: Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24),
            gateway: None,
            #[cfg(feature = "ipv6")]
            ipv6: Some(Ipv6Cidr::new(
                Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1),
                64,
            )),
            #[cfg(feature = "ipv6")]
            ipv6_link_local: Some(Ipv6Cidr::new(
                Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
                64,
            )),
        }
    }
}

/// Counters of one service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// Datagrams taken from the socket.
    pub received: u64,
    /// Datagrams queued for sending.
    pub sent: u64,
    /// Not answered: refused by the loop guard, by [`Refusal::index`](crate::guard::Refusal::index).
    pub refused: [u64; 3],
    /// Not answered: the service discarded it, by [`Discard::index`](crate::Discard::index).
    pub discarded: [u64; 4],
    /// Not answered: the sender is off-link and there is no gateway.
    pub unroutable: u64,
    /// Not answered: larger than [`MAX_PAYLOAD`] (or than the stack's
    /// frames hold, [`Stack::new_sized`]).
    pub oversized: u64,
    /// Datagrams a service tried to send that could not be queued.
    pub send_failed: u64,
    /// Times the transmit queue was reset after [`STALL_LIMIT`].
    pub stall_resets: u64,
}

impl ServiceStats {
    /// Datagrams refused by the loop guard, whatever the reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().sum()
    }

    /// Datagrams the service discarded, whatever the reason.
    pub fn discarded_total(&self) -> u64 {
        self.discarded.iter().sum()
    }
}

/// Why a service could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddServiceError {
    /// [`MAX_SERVICES`] or the socket storage given to [`Stack::new`] is used up.
    TooManyServices,
    /// Another service already has the port.
    PortInUse(u16),
    /// Port 0 cannot be bound.
    InvalidPort,
    /// The transmit queue cannot hold what the service may send at once.
    QueueTooSmall(Burst),
}

impl core::fmt::Display for AddServiceError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AddServiceError::TooManyServices => write!(f, "too many services for the stack"),
            AddServiceError::PortInUse(port) => write!(f, "port {port} is already in use"),
            AddServiceError::InvalidPort => write!(f, "port 0 cannot be bound"),
            AddServiceError::QueueTooSmall(burst) => write!(
                f,
                "the transmit queue must hold {} datagrams and {} bytes at once",
                burst.datagrams, burst.bytes
            ),
        }
    }
}

/// A service's socket buffers: a receive and a transmit queue, each a number
/// of datagram slots and a number of payload bytes.
///
/// The stack takes in at most as many frames at a time as the smallest
/// receive queue holds datagrams of [`MAX_PAYLOAD`] bytes: a receive queue
/// with room for fewer than two makes the whole stack take frames one by one.
pub struct SocketBuffers<const SLOTS: usize, const BYTES: usize> {
    rx_meta: [PacketMetadata; SLOTS],
    rx_payload: [u8; BYTES],
    tx_meta: [PacketMetadata; SLOTS],
    tx_payload: [u8; BYTES],
}

impl<const SLOTS: usize, const BYTES: usize> SocketBuffers<SLOTS, BYTES> {
    /// Empty queues (`const`: a port may keep them in a `static`).
    pub const fn new() -> Self {
        SocketBuffers {
            rx_meta: [PacketMetadata::EMPTY; SLOTS],
            rx_payload: [0; BYTES],
            tx_meta: [PacketMetadata::EMPTY; SLOTS],
            tx_payload: [0; BYTES],
        }
    }

    /// The receive and transmit queues, for [`Stack::add_service`].
    pub fn queues(&mut self) -> (PacketBuffer<'_>, PacketBuffer<'_>) {
        (
            PacketBuffer::new(&mut self.rx_meta[..], &mut self.rx_payload[..]),
            PacketBuffer::new(&mut self.tx_meta[..], &mut self.tx_payload[..]),
        )
    }
}

impl<const SLOTS: usize, const BYTES: usize> Default for SocketBuffers<SLOTS, BYTES> {
    fn default() -> Self {
        Self::new()
    }
}

/// What makes a stack big, lent to [`Stack::new`] as the socket storage
/// is: smoltcp's interface (with its neighbor cache: 2.8 KiB on a board
/// with 64 entries) and one buffer of `FRAME` bytes, which holds the
/// frame the neighbor layer holds back while its sender is taught (see
/// [`neighbor`](crate::neighbor)) and, at other times, the copy of the
/// request a service reads ([`FrameBuffer`](crate::neighbor::FrameBuffer)).
/// The stack itself is then small, so building and moving it costs little
/// stack: a board keeps this in a static cell filled at boot
/// ([`StackStorage::new`]'s empty interface is not zeros: as a constant it
/// would be copied from flash), and the interface is built in it, in a
/// frame of its own.
pub struct StackStorage<const FRAME: usize = MAX_FRAME> {
    iface: Option<Interface>,
    frame: [u8; FRAME],
}

impl<const FRAME: usize> StackStorage<FRAME> {
    /// Storage for one stack: no interface yet, a buffer of zeros.
    pub const fn new() -> StackStorage<FRAME> {
        StackStorage {
            iface: None,
            frame: [0; FRAME],
        }
    }
}

impl<const FRAME: usize> Default for StackStorage<FRAME> {
    fn default() -> Self {
        Self::new()
    }
}

/// Identifies a service added to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceId(usize);

struct Slot<'a> {
    service: &'a mut dyn Service,
    port: u16,
    socket: SocketHandle,
    stats: ServiceStats,
    /// Since when the transmit queue has been non-empty at the end of a poll.
    queued_since: Option<Instant>,
    /// Datagrams queued since the transmit queue was last seen empty.
    queued_datagrams: usize,
    /// The most one service call may send, within what the queue can carry.
    burst: Burst,
    /// What the service reads beyond its datagrams.
    uses: Uses,
    /// A second socket on the same port that only transmits: the lane for
    /// datagrams to peers that may be gone ([`Stack::set_detour`]).
    detour: Option<SocketHandle>,
    /// Since when the detour's queue has been non-empty at the end of a poll.
    detour_queued_since: Option<Instant>,
    /// A datagram was queued on the service's socket or detour since the
    /// watchdog last saw both queues empty.
    queued: bool,
    /// What [`Service::poll_at`] said after the timers ran in this poll
    /// (nothing else calls the service until the next poll).
    deadline: Option<Instant>,
    /// The service's timer was due but its queue had no room for a burst:
    /// it runs once the queue drains, which a frame, smoltcp's own retry or
    /// the watchdog brings about, so its deadline must not wake the port.
    timer_waits_for_room: bool,
}

/// The core: a smoltcp interface and the services on it.
///
/// Its own storage is sized by two numbers a port may choose (see
/// [`Stack::new_sized`]): `SERVICES`, the services it runs at most, and
/// `FRAME`, the largest Ethernet frame it takes (its device's MTU). Both
/// default to the most: [`MAX_SERVICES`] and a 1514-byte frame.
pub struct Stack<'a, const SERVICES: usize = MAX_SERVICES, const FRAME: usize = MAX_FRAME> {
    /// smoltcp's interface, in the port's [`StackStorage`].
    iface: &'a mut Interface,
    sockets: SocketSet<'a>,
    socket_room: usize,
    slots: heapless::Vec<Slot<'a>, SERVICES>,
    ports: heapless::Vec<u16, SERVICES>,
    gateway: Option<Ipv4Address>,
    learning: NeighborLearning<'a, FRAME>,
    /// ARP requests and neighbor solicitations sent, counted by the device.
    resolutions: Cell<u64>,
    /// A datagram of no bytes may wait in a transmit queue, where smoltcp's
    /// count of queued bytes does not show it (see [`Wire::flush`]); false
    /// again once smoltcp has nothing to send at all.
    empty_datagrams: Cell<bool>,
    batch: usize,
    wall: WallClock,
    /// What any service uses (the union of their [`Uses`]): if none reads
    /// the wall clock, the board is not asked; if none has timers, no
    /// slot is looked at for them.
    uses: Uses,
    /// The last sender that passed the loop guard and the routability check.
    screened: Option<IpEndpoint>,
    /// The DHCP client, when the IPv4 address comes from DHCP.
    #[cfg(feature = "dhcp")]
    dhcp: Option<DhcpClient>,
}

impl<'a> Stack<'a> {
    /// Builds the interface on `board`'s device; `sockets` is the storage for
    /// one socket per service (and per detour), `neighbors` the table of
    /// on-link hosts (see [`neighbor`](crate::neighbor)): three quarters of
    /// its slots hold a neighbor, at most
    /// [`SMOLTCP_NEIGHBOR_CACHE`](crate::neighbor::SMOLTCP_NEIGHBOR_CACHE).
    /// Size it for the hosts that talk at once and the chat's members.
    /// `storage` holds what makes a stack big ([`StackStorage`]: smoltcp's
    /// interface and a frame-sized buffer), lent like the rest so that
    /// the stack itself stays small.
    ///
    /// Up to [`MAX_SERVICES`] services, frames up to 1514 bytes: a port
    /// with less RAM chooses with [`Stack::new_sized`].
    pub fn new<B: Board>(
        config: &Config,
        board: &mut B,
        sockets: &'a mut [SocketStorage<'a>],
        neighbors: &'a mut [NeighborSlot],
        storage: &'a mut StackStorage,
    ) -> Stack<'a> {
        Stack::new_sized(config, board, sockets, neighbors, storage)
    }
}

impl<'a, const SERVICES: usize, const FRAME: usize> Stack<'a, SERVICES, FRAME> {
    /// Checked when a stack is built: a frame from [`MIN_FRAME`] to
    /// 1514 bytes, and room for a service.
    const SIZES_FIT: () = assert!(
        FRAME >= MIN_FRAME && FRAME <= MAX_FRAME && SERVICES >= 1 && SERVICES <= MAX_SERVICES,
        "a stack's frames are 590 to 1514 bytes, and it runs 1 to MAX_SERVICES services"
    );

    /// The largest UDP payload over IPv4 this stack takes or sends: its
    /// frame less the headers ([`MAX_PAYLOAD`] in a 1514-byte frame, the
    /// largest `FRAME` may be).
    pub const MAX_PAYLOAD: usize = FRAME - IPV4_OVERHEAD;

    /// [`Stack::new`] for a port that sizes the stack's own storage: at
    /// most `SERVICES` services (one slot each, 192 bytes on a 32-bit MCU),
    /// and frames of at most `FRAME` bytes ([`MIN_FRAME`] to 1514), the
    /// MTU of the port's device (with its 14-byte header): the buffer that
    /// holds the frame held back while its sender is taught (see
    /// [`neighbor`](crate::neighbor)), and at other times the copy of the
    /// request a service reads, is that long, and
    /// datagrams are at most `FRAME` less their headers
    /// ([`Stack::MAX_PAYLOAD`] over IPv4). A device that passes longer
    /// frames still works: their senders are resolved by ARP or neighbor
    /// discovery when answered, and their datagrams are not answered
    /// (counted as oversized). A size out of range fails to compile.
    pub fn new_sized<B: Board>(
        config: &Config,
        board: &mut B,
        sockets: &'a mut [SocketStorage<'a>],
        neighbors: &'a mut [NeighborSlot],
        storage: &'a mut StackStorage<FRAME>,
    ) -> Stack<'a, SERVICES, FRAME> {
        #[allow(clippy::let_unit_value)] // Evaluating it is the check.
        let () = Self::SIZES_FIT;
        let seed = board.entropy_seed();
        let cidrs = config.cidrs();
        let StackStorage { iface, frame } = storage;
        let iface = build_interface(iface, config, &cidrs, board, seed);
        let socket_room = sockets.len();
        let learning =
            NeighborLearning::new(config.mac, &cidrs, neighbors, frame, (seed >> 32) as u32);
        // The senders of one batch must all fit in the table, beside the
        // neighbors it already holds (a chat's members).
        let batch = (learning.capacity() / 4).max(1);
        Stack {
            iface,
            sockets: SocketSet::new(sockets),
            socket_room,
            slots: heapless::Vec::new(),
            ports: heapless::Vec::new(),
            gateway: config.gateway,
            learning,
            resolutions: Cell::new(0),
            empty_datagrams: Cell::new(false),
            batch,
            wall: WallClock::default(),
            uses: Uses::NOTHING,
            screened: None,
            #[cfg(feature = "dhcp")]
            dhcp: None,
        }
    }

    /// Sockets taken so far: one per service and detour, and the DHCP
    /// client's.
    fn sockets_used(&self) -> usize {
        let detours = self.slots.iter().filter(|s| s.detour.is_some()).count();
        #[cfg(feature = "dhcp")]
        let dhcp = usize::from(self.dhcp.is_some());
        #[cfg(not(feature = "dhcp"))]
        let dhcp = 0;
        self.slots.len() + detours + dhcp
    }

    /// Takes the IPv4 address from DHCP from now on: drops the configured
    /// IPv4 address and gateway, and starts smoltcp's DHCPv4 client on a
    /// socket of its own (one slot of the socket storage given to
    /// [`Stack::new`]), which broadcasts its DISCOVER in the next poll. See
    /// [`dhcp`] for what follows a lease. Call it before
    /// adding the services: smoltcp then finds the client first among the
    /// sockets, for each UDP packet, and the services start with the
    /// addresses they will have ([`Stack::addresses`]).
    #[cfg(feature = "dhcp")]
    pub fn enable_dhcp(&mut self, storage: &'a mut DhcpStorage) -> Result<(), AddServiceError> {
        if self.dhcp.is_some() || self.sockets_used() >= self.socket_room {
            return Err(AddServiceError::TooManyServices);
        }
        let handle = self.sockets.add(dhcp::socket(storage));
        self.dhcp = Some(DhcpClient {
            handle,
            max_lease: None,
            lease: None,
            stats: DhcpStats::default(),
        });
        self.set_ipv4(Ipv4Setting {
            address: None,
            router: None,
        });
        log_info!("dhcp: asking the link's DHCP server for an IPv4 address");
        Ok(())
    }

    /// Caps the leases DHCP gives (`None`: as the server says), so that a
    /// lease is renewed sooner: for trying renewals, or to notice a change
    /// of network sooner. Nothing without [`Stack::enable_dhcp`].
    #[cfg(feature = "dhcp")]
    pub fn set_dhcp_max_lease(&mut self, max: Option<Duration>) {
        if let Some(client) = self.dhcp.as_mut() {
            client.max_lease = max;
            self.sockets
                .get_mut::<smoltcp::socket::dhcpv4::Socket>(client.handle)
                .set_max_lease_duration(max);
        }
    }

    /// The DHCP lease held now; `None` without one (or without DHCP).
    #[cfg(feature = "dhcp")]
    pub fn dhcp_lease(&self) -> Option<&Lease> {
        self.dhcp.as_ref().and_then(|client| client.lease.as_ref())
    }

    /// The DHCP client's counters; `None` without DHCP.
    #[cfg(feature = "dhcp")]
    pub fn dhcp_stats(&self) -> Option<DhcpStats> {
        self.dhcp.as_ref().map(|client| client.stats)
    }

    /// Our addresses now, IPv4 (if any) first.
    pub fn addresses(&self) -> &[IpCidr] {
        self.iface.ip_addrs()
    }

    /// Gives the interface `setting` for IPv4 (outside a poll).
    #[cfg(feature = "dhcp")]
    fn set_ipv4(&mut self, setting: Ipv4Setting) {
        readdress(self.iface, &mut self.learning, &mut self.slots, setting);
        self.gateway = setting.router;
        self.screened = None;
    }

    /// Binds `service` to `port` with the given receive and transmit queues
    /// (see [`SocketBuffers::queues`]).
    pub fn add_service(
        &mut self,
        service: &'a mut dyn Service,
        port: u16,
        (rx, tx): (PacketBuffer<'a>, PacketBuffer<'a>),
    ) -> Result<ServiceId, AddServiceError> {
        if port == 0 {
            return Err(AddServiceError::InvalidPort);
        }
        if self.ports.contains(&port) {
            return Err(AddServiceError::PortInUse(port));
        }
        if self.slots.is_full() || self.sockets_used() >= self.socket_room {
            return Err(AddServiceError::TooManyServices);
        }
        let mut socket = udp::Socket::new(rx, tx);
        // No datagram can be larger than the queue, so a burst of few
        // datagrams needs no more room than that.
        let largest = Self::MAX_PAYLOAD.min(socket.payload_send_capacity());
        let declared = service.burst();
        let burst = Burst {
            datagrams: declared.datagrams,
            bytes: declared
                .bytes
                .min(declared.datagrams.saturating_mul(largest)),
        };
        if socket.packet_send_capacity() < burst.datagrams
            || socket.payload_send_capacity() < burst.bytes
        {
            return Err(AddServiceError::QueueTooSmall(declared));
        }
        socket
            .bind(port)
            .map_err(|_| AddServiceError::InvalidPort)?;
        self.batch = self.batch.min(datagram_room(&socket, Self::MAX_PAYLOAD));
        let handle = self.sockets.add(socket);
        let id = ServiceId(self.slots.len());
        let uses = service.uses();
        self.uses = Uses {
            wall_clock: self.uses.wall_clock || uses.wall_clock,
            timers: self.uses.timers || uses.timers,
        };
        let slot = Slot {
            service,
            port,
            socket: handle,
            stats: ServiceStats::default(),
            queued_since: None,
            queued_datagrams: 0,
            burst,
            uses,
            detour: None,
            detour_queued_since: None,
            deadline: None,
            timer_waits_for_room: false,
            queued: false,
        };
        // Both have room: checked against `slots.is_full()` above.
        let _ = self.slots.push(slot);
        let _ = self.ports.push(port);
        // A new port is one more the loop guard refuses as a source.
        self.screened = None;
        log_debug!("udpkit: {} bound to UDP port {}", self.slots.len(), port);
        Ok(id)
    }

    /// Gives service `id` a detour: a second socket on its port, with the
    /// given queues, that only transmits. Datagrams the service sends with
    /// [`Outbox::reserve_detour`] (to peers that may be gone) go there, so
    /// that a peer that never answers ARP cannot hold up the replies to the
    /// others; the watchdog ([`STALL_LIMIT`]) clears the detour alone. The
    /// receive queue is never used: smoltcp hands each datagram to the first
    /// socket on its port, the service's own. Without a detour such
    /// datagrams share the service's queue.
    pub fn set_detour(
        &mut self,
        id: ServiceId,
        (rx, tx): (PacketBuffer<'a>, PacketBuffer<'a>),
    ) -> Result<(), AddServiceError> {
        if self.sockets_used() >= self.socket_room {
            return Err(AddServiceError::TooManyServices);
        }
        let Some(slot) = self.slots.get_mut(id.0) else {
            return Err(AddServiceError::TooManyServices);
        };
        if slot.detour.is_some() {
            return Err(AddServiceError::PortInUse(slot.port));
        }
        let mut socket = udp::Socket::new(rx, tx);
        socket
            .bind(slot.port)
            .map_err(|_| AddServiceError::InvalidPort)?;
        slot.detour = Some(self.sockets.add(socket));
        Ok(())
    }

    /// Every service, its port and the stack's counters for it.
    pub fn services(
        &self,
    ) -> impl Iterator<Item = (&dyn Service, u16, &ServiceStats)> + use<'_, 'a, SERVICES, FRAME>
    {
        self.slots
            .iter()
            .map(|slot| (&*slot.service as &dyn Service, slot.port, &slot.stats))
    }

    /// The counters of one service.
    pub fn stats(&self, id: ServiceId) -> Option<&ServiceStats> {
        self.slots.get(id.0).map(|slot| &slot.stats)
    }

    /// The neighbor layer's counters (see [`neighbor`](crate::neighbor)).
    pub fn neighbor_stats(&self) -> NeighborStats {
        NeighborStats {
            resolutions: self.resolutions.get(),
            ..self.learning.stats()
        }
    }

    /// How many neighbors the table holds now, and at most.
    pub fn neighbors(&self) -> (usize, usize) {
        (self.learning.len(), self.learning.capacity())
    }

    /// Does all work that is due and returns how long the port may sleep
    /// before calling again; it must call earlier when a frame arrives.
    /// `None`: nothing is due until a frame arrives.
    pub fn poll<B: Board>(&mut self, board: &mut B) -> Option<Duration> {
        let now = board.now();
        // The clock's source is lent to the services: most polls read
        // none, and a constant would be copied into every poll's context.
        let source;
        let (wall, clock) = match self.uses.wall_clock {
            false => (None, &ClockSource::UNSYNCHRONIZED),
            true => {
                let (wall, clock) = match self.wall.read(now, || board.wall_clock()) {
                    Some(wall) => (Some(wall), board.clock_source()),
                    None => self.service_wall_clock(now),
                };
                source = clock;
                (wall, &source)
            }
        };
        let mut device = LearningDevice {
            inner: board.device(),
            learning: &mut self.learning,
            resolutions: &self.resolutions,
        };
        let mut wire = Wire {
            iface: self.iface,
            sockets: &mut self.sockets,
            device: &mut device,
            empty_datagrams: &self.empty_datagrams,
            now,
        };
        // DHCP's lease changes the gateway.
        #[cfg_attr(not(feature = "dhcp"), allow(unused_mut))]
        let mut context = Context {
            ports: &self.ports,
            gateway: self.gateway,
            now,
            wall,
            clock,
        };
        wire.iface.poll_maintenance(now);
        // A frame still held back from the last poll goes in alone first:
        // the datagrams that came before it still wait in their sockets,
        // and a whole batch more could overflow a queue.
        let mut batch = match wire.device.learning.frame.is_holding() {
            true => 0,
            false => self.batch,
        };
        // Whether a frame is still held back (no transmit token came for it).
        let held_back = loop {
            // Every datagram queued so far has left: smoltcp's cache may be
            // emptied now if the batch could overflow it.
            if wire.device.learning.cache_is_short_of(self.batch) {
                wire.forget_neighbors();
            }
            let frames = wire.ingress(batch);
            // The buffer still holds a frame only if the device had no
            // transmit token to give it to smoltcp with: the datagrams
            // taken in wait in their sockets for the next poll. Lent to
            // the services, the device takes no frame until it is back.
            let Some(request) = wire.device.learning.frame.lend() else {
                break true;
            };
            for slot in self.slots.iter_mut() {
                serve(slot, &mut wire, &context, request, &mut self.screened);
            }
            wire.flush();
            wire.device.learning.frame.give_back(request);
            if frames < batch {
                break false;
            }
            batch = self.batch;
        };
        if wire.device.learning.cache_is_short_of(0) {
            wire.forget_neighbors();
        }
        // The DHCP client's news, once a poll: every datagram queued so
        // far has left, and the timers below run with the new addresses
        // (discovery announces itself on the new subnet at once).
        #[cfg(feature = "dhcp")]
        if let Some(setting) = self
            .dhcp
            .as_mut()
            .and_then(|client| client.check(wire.sockets, now))
        {
            readdress(wire.iface, wire.device.learning, &mut self.slots, setting);
            self.gateway = setting.router;
            context.gateway = setting.router;
            self.screened = None;
            // The DHCP client may have a message to send at once.
            wire.flush();
        }
        if self.uses.timers {
            let mut ticked = false;
            for slot in self.slots.iter_mut().filter(|slot| slot.uses.timers) {
                slot.timer_waits_for_room = false;
                slot.deadline = slot.service.poll_at();
                if slot.deadline.is_some_and(|at| at <= now) {
                    ticked |= run_timers(slot, &mut wire, &context);
                }
            }
            if ticked {
                wire.flush();
            }
        }
        if held_back {
            // The frame held back, and the datagrams before it: the next
            // poll, at once, takes them (and watches the queues).
            return Some(Duration::ZERO);
        }
        self.watch_and_schedule(now)
    }

    /// For a board without a wall clock: the first one a service keeps
    /// (the SNTP client, once synced), and its source.
    fn service_wall_clock(&self, now: Instant) -> (Option<UnixTime>, ClockSource) {
        match self.slots.iter().find_map(|s| s.service.wall_clock(now)) {
            Some((wall, source)) => (Some(wall), source),
            None => (None, ClockSource::UNSYNCHRONIZED),
        }
    }

    /// Resets every transmit queue that has stayed non-empty for
    /// [`STALL_LIMIT`], and returns how long the port may sleep: until
    /// smoltcp's next deadline, a service's timer, or a watchdog's. One pass
    /// over the services, as this runs after every poll.
    fn watch_and_schedule(&mut self, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = None;
        let mut consider = |deadline: Instant| {
            next = Some(next.map_or(deadline, |n| n.min(deadline)));
        };
        for slot in self.slots.iter_mut() {
            if slot.queued && unclog(slot, &mut self.sockets, now) {
                if let Some(since) = slot.queued_since {
                    consider(since + STALL_LIMIT);
                }
                if let Some(since) = slot.detour_queued_since {
                    consider(since + STALL_LIMIT);
                }
            }
            if !slot.timer_waits_for_room {
                if let Some(at) = slot.deadline {
                    consider(at);
                }
            }
        }
        // After the watchdog: a reset queue has nothing left to send.
        match self.iface.poll_at(now, &self.sockets) {
            Some(at) => consider(at),
            // Every transmit queue is empty, datagrams of no bytes too.
            None => self.empty_datagrams.set(false),
        }
        next.map(|at| if at > now { at - now } else { Duration::ZERO })
    }
}

/// smoltcp's interface on `board`'s device, with our addresses and default
/// route, built in `slot` (a stack built again in the same storage gets a
/// new one). Never inlined: smoltcp builds the interface through
/// temporaries on the stack (2.8 KiB each on a board), which are then in
/// this frame alone, gone once the stack is built, and never in the frame
/// of the port's function that builds the stack.
#[inline(never)]
fn build_interface<'i, B: Board>(
    slot: &'i mut Option<Interface>,
    config: &Config,
    cidrs: &[IpCidr],
    board: &mut B,
    seed: u64,
) -> &'i mut Interface {
    let mut iface_config = IfaceConfig::new(HardwareAddress::Ethernet(config.mac));
    iface_config.random_seed = seed;
    let now = board.now();
    let iface = slot.insert(Interface::new(iface_config, board.device(), now));
    iface.update_ip_addrs(|addrs| {
        // smoltcp is built to hold MAX_ADDRESSES addresses.
        for cidr in cidrs {
            let _ = addrs.push(*cidr);
        }
    });
    if let Some(gateway) = config.gateway {
        // The table holds at least one route: this cannot fail.
        let _ = iface.routes_mut().add_default_ipv4_route(gateway);
    }
    iface
}

/// Gives `iface` the IPv4 address and default route of `setting` (none:
/// IPv4 gone), the IPv6 addresses unchanged, and tells whatever keeps a
/// copy of our addresses: the neighbor layer, and every service.
#[cfg(feature = "dhcp")]
fn readdress<const FRAME: usize>(
    iface: &mut Interface,
    learning: &mut NeighborLearning<'_, FRAME>,
    slots: &mut [Slot<'_>],
    setting: Ipv4Setting,
) {
    iface.update_ip_addrs(|addrs| {
        addrs.retain(|cidr| !matches!(cidr, IpCidr::Ipv4(_)));
        if let Some(address) = setting.address {
            // IPv4 first, as `Config::cidrs` has it; the IPv4 address that
            // was there was removed, so there is room.
            let _ = addrs.insert(0, IpCidr::Ipv4(address));
        }
    });
    // Changing the addresses emptied smoltcp's neighbor cache: a new epoch.
    learning.set_addresses(iface.ip_addrs());
    let routes = iface.routes_mut();
    routes.remove_default_ipv4_route();
    if let Some(router) = setting.router {
        // The default route was just removed: there is room.
        let _ = routes.add_default_ipv4_route(router);
    }
    for slot in slots.iter_mut() {
        slot.service.addresses_changed(iface.ip_addrs());
    }
}

/// How many datagrams of `largest` bytes (the stack's largest) `socket`'s
/// receive queue holds: its slots or its bytes, whichever run out first,
/// and at least one.
///
/// Counting slots alone is not enough: 16 slots of an 8 KiB queue hold only
/// five full-size datagrams, and a batch of 16 would drop the rest.
fn datagram_room(socket: &udp::Socket<'_>, largest: usize) -> usize {
    let by_bytes = socket.payload_recv_capacity() / largest.max(1);
    socket.packet_recv_capacity().min(by_bytes).max(1)
}

/// How often the board's wall clock is read; in between, the wall clock
/// is carried forward by the monotonic clock.
pub const WALL_CLOCK_SAMPLE: Duration = Duration::from_secs(1);

// `WallClock::read` carries the clock forward by less than a second.
const _: () = assert!(WALL_CLOCK_SAMPLE.total_micros() <= 1_000_000);

/// The board's wall clock, read at most every [`WALL_CLOCK_SAMPLE`].
///
/// Reading it is a system call on Linux (a few percent of a busy echo
/// loop), and nearly no datagram needs it. Carrying it forward by the
/// monotonic clock is as accurate as reading it, to the drift between the
/// two over a second (parts per million); a step of the wall clock shows
/// within a second.
#[derive(Debug, Default)]
struct WallClock {
    /// When the board was last asked, and what it said.
    sample: Option<(Instant, Option<UnixTime>)>,
}

impl WallClock {
    fn read(&mut self, now: Instant, ask: impl FnOnce() -> Option<UnixTime>) -> Option<UnixTime> {
        match self.sample {
            Some((at, wall)) if now >= at && now - at < WALL_CLOCK_SAMPLE => {
                // Less than a second since the sample: no division needed.
                let since_nanos = (now - at).total_micros() as u32 * 1000;
                wall.map(|w| {
                    let nanos = w.subsec_nanos() + since_nanos;
                    match nanos.checked_sub(1_000_000_000) {
                        Some(next_second) => UnixTime::new(w.secs + 1, next_second),
                        None => UnixTime::new(w.secs, nanos),
                    }
                })
            }
            _ => {
                let wall = ask();
                self.sample = Some((now, wall));
                wall
            }
        }
    }
}

/// The interface, its sockets and the device, for the length of one poll.
struct Wire<'w, 'd, 'a, 'n, D: Device, const FRAME: usize> {
    iface: &'w mut Interface,
    sockets: &'w mut SocketSet<'a>,
    device: &'w mut LearningDevice<'d, 'n, D, FRAME>,
    /// The stack's `empty_datagrams`, set by the outboxes.
    empty_datagrams: &'w Cell<bool>,
    now: Instant,
}

impl<D: Device, const FRAME: usize> Wire<'_, '_, '_, '_, D, FRAME> {
    /// Takes up to `max` frames from the device, and then the frame held
    /// back (if any) once its lesson is in, so that the frame buffer is
    /// free again unless the device has no transmit token for it; returns
    /// how many frames smoltcp got (lessons count).
    fn ingress(&mut self, max: usize) -> usize {
        let mut frames = 0;
        // A frame held back is taken past `max`: its lesson was counted.
        while frames < max || self.device.learning.frame.is_holding() {
            match self
                .iface
                .poll_ingress_single(self.now, self.device, self.sockets)
            {
                PollIngressSingleResult::None => break,
                _ => frames += 1,
            }
        }
        frames
    }

    /// Transmits everything the sockets have queued that can go now, after
    /// teaching smoltcp the neighbors it may not know. Inlined into its
    /// callers on the host (called, it cost an echo 27 instructions);
    /// boards keep one copy (flash).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    fn flush(&mut self) {
        self.teach_queued_neighbors();
        // Each pass sends at most one datagram of each socket, and says
        // whether it sent any: the loop ends with a pass that sends
        // nothing. Most flushes have one datagram a socket to send, and
        // that last pass, finding every queue empty, cost an echo about 60
        // instructions: after the first pass, a look at the queues says
        // whether another is needed. (After the first only: a burst would
        // pay for a look at every pass, more than for the last one.)
        if self.iface.poll_egress(self.now, self.device, self.sockets) == PollResult::None
            || !self.may_hold_datagrams()
        {
            return;
        }
        while self.iface.poll_egress(self.now, self.device, self.sockets) != PollResult::None {}
    }

    /// Whether a socket may hold a datagram to send: a UDP socket with
    /// bytes queued, any socket after a datagram of no bytes was queued
    /// (smoltcp counts bytes, not datagrams), or a socket of another kind
    /// (the DHCP client), which keeps its own counsel.
    fn may_hold_datagrams(&self) -> bool {
        self.empty_datagrams.get()
            || self.sockets.iter().any(|(_, socket)| {
                udp::Socket::downcast(socket).is_none_or(|udp| udp.send_queue() != 0)
            })
    }

    /// Empties smoltcp's neighbor cache before it could overflow (see
    /// [`neighbor`](crate::neighbor)): a new epoch.
    fn forget_neighbors(&mut self) {
        self.iface.update_ip_addrs(|_| {});
        self.device.learning.new_epoch();
    }

    /// Hands smoltcp a lesson for each neighbor of a datagram queued since
    /// the last transmission that it may not know.
    fn teach_queued_neighbors(&mut self) {
        if !self.device.learning.has_queued() {
            return;
        }
        while self.device.learning.next_queued_lesson(self.now) {
            self.iface
                .poll_ingress_single(self.now, self.device, self.sockets);
        }
    }
}

/// What every service call of one poll shares.
struct Context<'c> {
    ports: &'c [u16],
    gateway: Option<Ipv4Address>,
    now: Instant,
    wall: Option<UnixTime>,
    clock: &'c ClockSource,
}

/// Whether `slot`'s transmit queue can take a whole burst of its service
/// now, transmitting what is queued first if that is what it takes.
fn make_room<D: Device, const FRAME: usize>(
    slot: &mut Slot<'_>,
    wire: &mut Wire<'_, '_, '_, '_, D, FRAME>,
) -> bool {
    if has_room(slot, wire.sockets) {
        return true;
    }
    wire.flush();
    let socket = wire.sockets.get_mut::<udp::Socket>(slot.socket);
    queue_has_room(slot.burst, &mut slot.queued_datagrams, socket)
}

/// Whether `slot` can take a burst without transmitting first: its queue
/// has room, and its detour (if any) is empty. The detour's room is not
/// waited for (it may be stuck behind a peer that is gone), but while it
/// drains, it is drained before it could overflow: after a quiet minute
/// every line of a chat takes it.
fn has_room(slot: &mut Slot<'_>, sockets: &mut SocketSet<'_>) -> bool {
    let (Some(socket), detour) = sockets_of(sockets, slot.socket, slot.detour) else {
        return false;
    };
    queues_have_room(
        slot.burst,
        &mut slot.queued_datagrams,
        socket,
        detour.as_deref(),
    )
}

/// [`has_room`] on sockets at hand: the detour (if any) is empty and
/// `socket` can take `burst`. Inlined on the host, as `queue_has_room` is
/// (serve's check before each run: 9 instructions an echo); boards keep
/// the calls (flash).
#[cfg_attr(target_pointer_width = "64", inline)]
fn queues_have_room(
    burst: Burst,
    queued_datagrams: &mut usize,
    socket: &udp::Socket<'_>,
    detour: Option<&udp::Socket<'_>>,
) -> bool {
    detour.is_none_or(|d| d.send_queue() == 0) && queue_has_room(burst, queued_datagrams, socket)
}

/// Whether `socket`, with `queued_datagrams` queued since it was last seen
/// empty, can take `burst`.
#[cfg_attr(target_pointer_width = "64", inline)]
fn queue_has_room(burst: Burst, queued_datagrams: &mut usize, socket: &udp::Socket<'_>) -> bool {
    let queued_bytes = socket.send_queue();
    if queued_bytes == 0 {
        // Checked by `add_service`: an empty queue holds a burst.
        *queued_datagrams = 0;
        return true;
    }
    // A datagram that does not fit before the end of the ring is put at
    // its start, and the bytes skipped count as used: allow for one such
    // skip (less than the largest datagram), and for its metadata slot.
    let free_bytes = socket.payload_send_capacity().saturating_sub(queued_bytes);
    let free_slots = socket
        .packet_send_capacity()
        .saturating_sub(*queued_datagrams);
    free_slots > burst.datagrams && free_bytes >= burst.bytes + burst.bytes.min(MAX_PAYLOAD)
}

/// Hands every datagram queued on `slot`'s socket to its service, as long as
/// its transmit queue has room for the answers.
///
/// One outbox serves datagram after datagram while the queue keeps room for
/// the next burst; when it runs short, what is queued is transmitted first.
///
/// Called, not inlined, on boards (32-bit targets): inlined, its locals
/// (the outbox, the request) stayed in the poll's frame while smoltcp's
/// ingress ran under it, 400 bytes deeper at the deepest point of a poll
/// in the lean image. On the host the call cost 1.5 % more instructions
/// an echo.
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn serve<D: Device, const FRAME: usize>(
    slot: &mut Slot<'_>,
    wire: &mut Wire<'_, '_, '_, '_, D, FRAME>,
    context: &Context<'_>,
    request: &mut [u8; FRAME],
    screened: &mut Option<IpEndpoint>,
) {
    // Whether what was queued has just been transmitted to make room: the
    // detour's room is then not waited for (see `has_room`).
    let mut flushed = false;
    loop {
        let Wire {
            iface,
            sockets,
            device,
            empty_datagrams,
            ..
        } = &mut *wire;
        let (Some(socket), detour) = sockets_of(sockets, slot.socket, slot.detour) else {
            return;
        };
        if !socket.can_recv() {
            return;
        }
        // `make_room`, on the sockets at hand. Just transmitted: the
        // detour's room is not waited for.
        let room = queues_have_room(
            slot.burst,
            &mut slot.queued_datagrams,
            socket,
            detour.as_deref().filter(|_| !flushed),
        );
        if !room {
            if flushed {
                // The rest waits in the receive queue for a later poll.
                return;
            }
            wire.flush();
            flushed = true;
            continue;
        }
        flushed = false;
        let Slot {
            service,
            stats,
            queued_datagrams,
            queued,
            burst,
            ..
        } = &mut *slot;
        let mut outbox = SocketOutbox {
            socket,
            detour,
            reply_from: None,
            // Set for each request below.
            max_payload: 0,
            stats,
            queued_datagrams,
            queued,
            empty_datagrams,
            neighbors: &mut *device.learning,
            gateway: context.gateway,
            now: context.now,
        };
        loop {
            let Ok((payload, meta)) = outbox.socket.recv() else {
                return;
            };
            outbox.stats.received += 1;
            let from = meta.endpoint;
            // No larger reply can go back in one of our frames (nor can a
            // larger request arrive in one: a longer frame came through a
            // device with a larger MTU than the stack was built for).
            let largest = max_payload_in(FRAME, from.addr);
            let Some(request_payload) = request
                .get_mut(..payload.len())
                .filter(|_| payload.len() <= largest)
            else {
                outbox.stats.oversized += 1;
                log_debug!(
                    "{}: {} bytes from {from}: too large",
                    service.name(),
                    payload.len()
                );
                continue;
            };
            // The sender of the last datagram that passed is let through
            // again at once: most datagrams come from it, and the checks
            // cannot change their verdict (the ports and addresses are fixed).
            if *screened != Some(from) {
                let own = iface.ip_addrs();
                // A client's replies come from service ports (NTP's 123), and
                // it answers none of them: see `Service::guarded`.
                let guarded = service.guarded();
                let guard = match guarded {
                    true => guard::check(from, context.ports, own),
                    false => Ok(()),
                };
                if let Err(refusal) = guard {
                    outbox.stats.refused[refusal.index()] += 1;
                    log_debug!(
                        "{}: not answering {from}: {}",
                        service.name(),
                        refusal.name()
                    );
                    continue;
                }
                let on_link = own.iter().any(|c| c.contains_addr(&from.addr));
                let routed = context.gateway.is_some() && matches!(from.addr, IpAddress::Ipv4(_));
                if !on_link && !routed {
                    outbox.stats.unroutable += 1;
                    log_debug!(
                        "{}: not answering {from}: off-link and no gateway",
                        service.name()
                    );
                    continue;
                }
                if guarded {
                    *screened = Some(from);
                }
            }
            request_payload.copy_from_slice(payload);
            // smoltcp always says where a datagram went; our own address is
            // the honest answer if it ever did not.
            let to = meta
                .local_address
                .or_else(|| iface.ipv4_addr().map(IpAddress::Ipv4))
                .unwrap_or(from.addr);
            // Answer from the address the request went to, unless that was
            // a broadcast: then smoltcp picks our address on that subnet.
            outbox.reply_from = meta
                .local_address
                .filter(|a| iface.has_ip_addr(*a))
                .map(|local| (from.addr, local));
            outbox.max_payload = largest;
            let request = Request {
                from,
                to,
                payload: request_payload,
                now: context.now,
                wall: context.wall,
                clock: *context.clock,
            };
            if let Err(discard) = service.on_datagram(&request, &mut outbox) {
                outbox.stats.discarded[discard.index()] += 1;
                log_debug!(
                    "{}: not answering {from}: {}",
                    service.name(),
                    discard.name()
                );
            }
            if !outbox.socket.can_recv() {
                return;
            }
            // Room for the next burst as the queues are, or transmit first.
            if !outbox.has_room_for(*burst) {
                break;
            }
        }
    }
}

/// How many timer calls one service gets per poll: a service whose timers
/// stay due (a bug) cannot keep the stack from returning.
const MAX_TICKS_PER_POLL: usize = 64;

/// Runs `slot`'s timers while they are due (`slot.deadline`, kept up to
/// date here) and its queue has room; true when any ran. Called, not
/// inlined, on boards, as [`serve`] is (72 bytes of the poll's frame).
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn run_timers<D: Device, const FRAME: usize>(
    slot: &mut Slot<'_>,
    wire: &mut Wire<'_, '_, '_, '_, D, FRAME>,
    context: &Context<'_>,
) -> bool {
    let mut ran = false;
    for _ in 0..MAX_TICKS_PER_POLL {
        if slot.deadline.is_none_or(|at| at > context.now) {
            return ran;
        }
        if !make_room(slot, wire) {
            slot.timer_waits_for_room = true;
            return ran;
        }
        ran = true;
        let (Some(socket), detour) = sockets_of(wire.sockets, slot.socket, slot.detour) else {
            return ran;
        };
        let mut outbox = SocketOutbox {
            socket,
            detour,
            reply_from: None,
            max_payload: max_payload_any_in(FRAME),
            stats: &mut slot.stats,
            queued_datagrams: &mut slot.queued_datagrams,
            queued: &mut slot.queued,
            empty_datagrams: wire.empty_datagrams,
            neighbors: &mut *wire.device.learning,
            gateway: context.gateway,
            now: context.now,
        };
        slot.service.on_tick(context.now, context.wall, &mut outbox);
        slot.deadline = slot.service.poll_at();
    }
    ran
}

/// Resets `slot`'s transmit queues (the service's and its detour) if they
/// have stayed non-empty for [`STALL_LIMIT`]; true while either is still
/// non-empty.
#[inline]
fn unclog(slot: &mut Slot<'_>, sockets: &mut SocketSet<'_>, now: Instant) -> bool {
    let service = &*slot.service;
    let (mut queued, reset) = watch_queue(
        sockets,
        &mut slot.socket,
        slot.port,
        &mut slot.queued_since,
        now,
        service,
    );
    if reset {
        slot.stats.stall_resets += 1;
        slot.queued_datagrams = 0;
    }
    if let Some(detour) = slot.detour.as_mut() {
        let (detour_queued, reset) = watch_queue(
            sockets,
            detour,
            slot.port,
            &mut slot.detour_queued_since,
            now,
            service,
        );
        if detour_queued {
            queued = true;
        }
        if reset {
            slot.stats.stall_resets += 1;
        }
    }
    // Both queues empty: nothing to watch until a datagram is queued.
    slot.queued = slot.queued_since.is_some() || slot.detour_queued_since.is_some();
    queued
}

/// Watches the transmit queue of socket `handle`: whether it is not empty,
/// and whether it was reset for staying so since `queued_since` for
/// [`STALL_LIMIT`]. Most polls leave the queues empty: one look at each.
/// Called, not inlined, on boards: once for the service's socket and once
/// for its detour (flash).
#[cfg_attr(target_pointer_width = "64", inline)]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
fn watch_queue(
    sockets: &mut SocketSet<'_>,
    handle: &mut SocketHandle,
    port: u16,
    queued_since: &mut Option<Instant>,
    now: Instant,
    service: &dyn Service,
) -> (bool, bool) {
    if sockets.get_mut::<udp::Socket>(*handle).send_queue() == 0 {
        *queued_since = None;
        return (false, false);
    }
    (
        true,
        unclog_socket(sockets, handle, port, queued_since, now, service),
    )
}

/// Resets the socket `handle`, whose transmit queue is not empty, if it has
/// stayed so since `queued_since` for [`STALL_LIMIT`]; true when it did.
#[cold]
fn unclog_socket(
    sockets: &mut SocketSet<'_>,
    handle: &mut SocketHandle,
    port: u16,
    queued_since: &mut Option<Instant>,
    now: Instant,
    service: &dyn Service,
) -> bool {
    let since = *queued_since.get_or_insert(now);
    if now - since < STALL_LIMIT {
        return false;
    }
    log_warn!(
        "{}: datagrams undeliverable for {} s (their next hop never answered ARP or neighbor discovery): dropping {} queued bytes",
        service.name(),
        STALL_LIMIT.secs(),
        sockets.get_mut::<udp::Socket>(*handle).send_queue()
    );
    // After each unanswered ARP request smoltcp keeps the socket from
    // sending for a second, whatever the destination; that wait is kept
    // beside the socket in the set, not in it, and would hold back the next
    // datagram to a peer that is there. Taking the socket out of the set and
    // putting it back in clears it. (The handle is valid, and `add` has the
    // slot `remove` just freed, the lowest free one, so the service's own
    // socket stays ahead of its detour: neither call can panic.)
    let socket = sockets.remove(*handle);
    *handle = sockets.add(socket);
    let socket = sockets.get_mut::<udp::Socket>(*handle);
    socket.close();
    // Rebinding the port it had a moment ago cannot fail.
    let _ = socket.bind(port);
    *queued_since = None;
    true
}

/// The [`Outbox`] of one service: its socket, and its counters.
struct SocketOutbox<'s, 'a, 'n, const FRAME: usize> {
    socket: &'s mut udp::Socket<'a>,
    /// The service's detour, if it has one.
    detour: Option<&'s mut udp::Socket<'a>>,
    /// The request's sender and the address of ours it wrote to: replies to
    /// that sender leave from that address. Datagrams to anyone else leave
    /// from the address smoltcp picks for their destination (a chat relays
    /// an IPv4 member's line to IPv6 members, and a global address's to
    /// link-local ones).
    reply_from: Option<(IpAddress, IpAddress)>,
    /// The largest payload to the request's sender in one of the stack's
    /// frames (`max_payload_in`; from a timer, to either family).
    max_payload: usize,
    stats: &'s mut ServiceStats,
    queued_datagrams: &'s mut usize,
    /// Set when anything is queued, for the watchdog.
    queued: &'s mut bool,
    /// Set when a datagram of no bytes is queued, for [`Wire::flush`].
    empty_datagrams: &'s Cell<bool>,
    /// Told the next hop of every datagram queued, to teach smoltcp before
    /// it leaves.
    neighbors: &'s mut NeighborLearning<'n, FRAME>,
    gateway: Option<Ipv4Address>,
    now: Instant,
}

impl<const FRAME: usize> SocketOutbox<'_, '_, '_, FRAME> {
    /// [`has_room`], on the sockets the outbox holds.
    fn has_room_for(&mut self, burst: Burst) -> bool {
        queues_have_room(
            burst,
            self.queued_datagrams,
            self.socket,
            self.detour.as_deref(),
        )
    }
}

impl<const FRAME: usize> Outbox for SocketOutbox<'_, '_, '_, FRAME> {
    fn max_payload(&self) -> usize {
        self.max_payload.min(self.socket.payload_send_capacity())
    }

    fn reserve(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.queue(&to, len, false)
    }

    // The provided `send` would call `reserve`; this one queues and copies
    // in one call, on the path of every echo (also `queue` takes the
    // endpoint by reference: smaller for boards and no copy of it).
    fn send(&mut self, to: IpEndpoint, payload: &[u8]) -> Result<(), SendError> {
        self.queue_copy(&to, payload)
    }

    // The sender read where `serve` wrote it, in the pieces it wrote: a copy
    // of the endpoint for `send` (a 17-byte address, byte-aligned) was read
    // back in other pieces and stalled on store forwarding, twice an echo.
    fn reply(&mut self, request: &Request<'_>, payload: &[u8]) -> Result<(), SendError> {
        self.queue_copy(&request.from, payload)
    }

    fn reserve_detour(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.queue(&to, len, true)
    }
}

impl<const FRAME: usize> SocketOutbox<'_, '_, '_, FRAME> {
    /// [`SocketOutbox::queue`]s a copy of `payload` to `to`.
    #[inline]
    fn queue_copy(&mut self, to: &IpEndpoint, payload: &[u8]) -> Result<(), SendError> {
        self.queue(to, payload.len(), false)?
            .copy_from_slice(payload);
        Ok(())
    }

    /// Queues a datagram on the service's socket, or on its detour (if it
    /// has one) when `via_detour` or when the next hop must wait for ARP:
    /// there it holds up no reply to a neighbor we know. The detour's room
    /// is not counted: it may be stuck, and what it cannot take is dropped
    /// and counted rather than waited for.
    ///
    /// Inlined into its callers on the host: the call, with its saved
    /// registers and its result returned through memory, cost an echo 23
    /// instructions. Boards keep one copy for its callers (flash).
    #[cfg_attr(target_pointer_width = "64", inline(always))]
    #[cfg_attr(not(target_pointer_width = "64"), inline)]
    fn queue(
        &mut self,
        to: &IpEndpoint,
        len: usize,
        via_detour: bool,
    ) -> Result<&mut [u8], SendError> {
        let known = self
            .neighbors
            .expect_datagram_to(to.addr, self.gateway, self.now);
        let detoured = (via_detour || !known) && self.detour.is_some();
        let socket = match (detoured, self.detour.as_deref_mut()) {
            (true, Some(detour)) => detour,
            _ => &mut *self.socket,
        };
        let local_address = match self.reply_from {
            Some((sender, local)) if sender == to.addr => Some(local),
            _ => None,
        };
        let payload = enqueue(socket, to, len, FRAME, local_address, self.stats)?;
        if !detoured {
            *self.queued_datagrams += 1;
        }
        *self.queued = true;
        if len == 0 {
            self.empty_datagrams.set(true);
        }
        Ok(payload)
    }
}

/// Queues a datagram of `len` bytes to `to` on `socket`, counting it; at
/// most what one of the stack's `frame`-byte frames carries.
#[inline(always)]
fn enqueue<'s>(
    socket: &'s mut udp::Socket<'_>,
    to: &IpEndpoint,
    len: usize,
    frame: usize,
    local_address: Option<IpAddress>,
    stats: &mut ServiceStats,
) -> Result<&'s mut [u8], SendError> {
    if len > max_payload_in(frame, to.addr).min(socket.payload_send_capacity()) {
        stats.send_failed += 1;
        return Err(SendError::TooLarge);
    }
    let meta = UdpMetadata {
        endpoint: *to,
        local_address,
        meta: Default::default(),
    };
    match socket.send(len, meta) {
        Ok(payload) => {
            stats.sent += 1;
            Ok(payload)
        }
        Err(error) => {
            stats.send_failed += 1;
            log_debug!("udp: cannot queue {len} bytes to {to}: {error}");
            Err(match error {
                udp::SendError::BufferFull => SendError::BufferFull,
                udp::SendError::Unaddressable => SendError::Unaddressable,
            })
        }
    }
}

/// A service's socket and its detour, both at once. Inlined on the host
/// (10 instructions an echo); boards keep one copy for its three callers
/// (168 bytes of flash).
#[cfg_attr(target_pointer_width = "64", inline)]
fn sockets_of<'s, 'a>(
    sockets: &'s mut SocketSet<'a>,
    main: SocketHandle,
    detour: Option<SocketHandle>,
) -> (
    Option<&'s mut udp::Socket<'a>>,
    Option<&'s mut udp::Socket<'a>>,
) {
    let Some(detour) = detour else {
        return (Some(sockets.get_mut::<udp::Socket>(main)), None);
    };
    let (mut found_main, mut found_detour) = (None, None);
    for (handle, socket) in sockets.iter_mut() {
        if handle == main {
            found_main = udp::Socket::downcast_mut(socket);
        } else if handle == detour {
            found_detour = udp::Socket::downcast_mut(socket);
        }
    }
    (found_main, found_detour)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn the_wall_clock_is_read_once_a_second_and_carried_forward_between() {
        let reads = Cell::new(0);
        let board = |wall: Option<UnixTime>| {
            reads.set(reads.get() + 1);
            wall
        };
        let mut clock = WallClock::default();
        let t0 = Instant::from_secs(50);
        let first = Some(UnixTime::new(1000, 900_000_000));
        assert_eq!(clock.read(t0, || board(first)), first);
        let later = t0 + Duration::from_millis(250);
        assert_eq!(
            clock.read(later, || board(None)),
            Some(UnixTime::new(1001, 150_000_000)),
            "carried forward, the board not asked"
        );
        assert_eq!(reads.get(), 1);
        // A second on, the board is asked again and a step shows.
        let stepped = Some(UnixTime::from_secs(5000));
        assert_eq!(
            clock.read(t0 + WALL_CLOCK_SAMPLE, || board(stepped)),
            stepped
        );
        assert_eq!(reads.get(), 2);
        // No wall clock stays none, carried forward or not.
        let t1 = t0 + Duration::from_secs(3);
        assert_eq!(clock.read(t1, || board(None)), None);
        assert_eq!(
            clock.read(t1 + Duration::from_millis(10), || board(first)),
            None
        );
        assert_eq!(reads.get(), 3);
    }
}
