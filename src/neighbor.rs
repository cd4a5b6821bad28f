//! Neighbors: every on-link host that sends us a frame is answered at once,
//! however many send at the same moment, without waiting for ARP or
//! neighbor discovery.
//!
//! smoltcp fills its neighbor cache only from ARP and neighbor discovery
//! packets, and the cache is small (`IFACE_NEIGHBOR_CACHE_COUNT`, fixed when
//! smoltcp is built; 8 by default). A reply to a host it does not know waits
//! at the head of its socket's queue while smoltcp asks, at most one question
//! a second for the whole interface, and everything queued behind it waits
//! too. That happens when:
//! - a peer's entry expired (60 s after it was learned) but the peer still
//!   knows us: its next datagram or ping arrives from an "unknown" neighbor
//!   (smoltcp #597, #1101, #594);
//! - more hosts talk to us at once than the cache holds: each new one evicts
//!   another, whose reply then waits (a room of 30 machines lost most of
//!   their replies this way);
//! - a line of the chat goes to a member quiet for minutes.
//!
//! Yet every frame names its sender's MAC address. This module keeps those
//! names and teaches them to smoltcp just in time, through smoltcp's own
//! code: a synthetic "lesson" frame addressed to us (an ARP reply for IPv4,
//! an unsolicited neighbor advertisement for IPv6: sender IP -> sender MAC).
//!
//! - **The table** ([`NeighborSlot`], storage the port gives the stack, so a
//!   host can keep hundreds and a board a few dozen) holds the IP and MAC of
//!   every on-link unicast sender, least recently seen evicted first, looked
//!   up by hash. Only three quarters of the slots are filled, and no more than
//!   smoltcp's cache holds.
//! - **On the way in**, [`LearningDevice`] wraps the port's [`Device`]: before
//!   a frame from a sender smoltcp may not know (new, moved, taught over
//!   [`RETEACH_AFTER`] ago, or before smoltcp's cache was last emptied), it
//!   hands smoltcp the lesson, then the frame. Ping replies, which smoltcp
//!   sends while it reads the request, find the MAC.
//! - **On the way out**, every datagram a service queues names its next hop
//!   ([`NeighborLearning::expect`]); before the stack transmits, each such
//!   neighbor that smoltcp may not know is taught again. A reply never meets
//!   an empty cache entry, so no socket is ever held up by a neighbor we
//!   know, whatever the crowd.
//! - **smoltcp's cache never overflows**: its evictions would undo lessons
//!   behind our back, and nothing tells which. Every lesson and every ARP or
//!   neighbor discovery packet handed to smoltcp is counted as an entry it
//!   may have gained; before the count could pass the cache's size, the
//!   stack empties the cache (a new *epoch*) while no datagram depends on
//!   it, and the neighbors of queued datagrams are taught again. Teaching is
//!   then exact: a neighbor taught in this epoch, less than
//!   [`RETEACH_AFTER`] ago, is in smoltcp's cache.
//!
//! A neighbor not in the table (never heard from, evicted by a larger crowd,
//! or silent for [`FORGET_AFTER`]) is resolved the usual way, by ARP or
//! neighbor discovery, and counted ([`NeighborStats::unresolved`]).
//!
//! The learned entry is what ARP or neighbor discovery would have told us
//! anyway if the peer is honest; a peer that lies can equally lie in those,
//! which smoltcp accepts unsolicited, so this adds no new way to poison the
//! cache. A host that is gone keeps its last MAC address for up to
//! [`FORGET_AFTER`]: datagrams to it are lost on the wire instead of
//! waiting for an answer that never comes.
//!
//! The same wrapper drops IPv6 frames to addresses that are not ours, which
//! smoltcp 0.14 would accept, and those from our own addresses, which it
//! would answer (see `NeighborLearning::is_foreign`).
//!
//! Without the `ipv6` feature, all of it is IPv4 only: lessons are ARP
//! replies, and nothing of neighbor discovery is built.

use core::cell::Cell;

#[cfg(feature = "ipv6")]
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::phy::{self, Device, DeviceCapabilities, PacketMeta};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpCidr, Ipv4Address, Ipv4Packet,
};
#[cfg(feature = "ipv6")]
use smoltcp::wire::{
    Icmpv6Packet, Icmpv6Repr, IpProtocol, Ipv6Address, Ipv6Packet, Ipv6Repr, NdiscNeighborFlags,
    NdiscRepr, IPV6_LINK_LOCAL_ALL_NODES,
};

/// The largest Ethernet frame (without FCS) the stack handles: a 1500-byte
/// IP packet plus the 14-byte header.
pub const MAX_FRAME: usize = 1514;

/// How many neighbors smoltcp's cache holds: `IFACE_NEIGHBOR_CACHE_COUNT`,
/// chosen when smoltcp is built (its `iface-neighbor-cache-count-N`
/// features). The table never holds more.
pub const SMOLTCP_NEIGHBOR_CACHE: usize = smoltcp::config::IFACE_NEIGHBOR_CACHE_COUNT;

/// A neighbor taught this long ago is taught again before smoltcp relies on
/// it: smoltcp keeps an entry 60 s after it was filled.
pub const RETEACH_AFTER: Duration = Duration::from_secs(30);

/// A neighbor silent this long is no longer vouched for: datagrams to it are
/// resolved by ARP or neighbor discovery again. Longer than the chat keeps
/// an idle member (5 minutes by default).
pub const FORGET_AFTER: Duration = Duration::from_secs(600);

/// How many neighbors of queued datagrams are listed one by one; past that,
/// the table itself is searched for them.
const QUEUED_LIST: usize = queued_list(SMOLTCP_NEIGHBOR_CACHE);

/// [`QUEUED_LIST`] for a smoltcp cache of `cache` entries: a neighbor is
/// listed once while its datagram waits, and the table holds at most half
/// of the cache, so on a board (a cache of up to 128) a list of that many
/// never runs over, and is no longer than it needs to be (17 bytes an
/// entry); 64 at most.
const fn queued_list(cache: usize) -> usize {
    let table = cache / 2;
    if table < 64 {
        table
    } else {
        64
    }
}

/// An ARP reply: Ethernet 14 + ARP 28.
const ARP_FRAME_LEN: usize = 14 + 28;
/// A neighbor advertisement: Ethernet 14 + IPv6 40 + ICMPv6 NA 24 + the
/// target link-layer address option 8.
#[cfg(feature = "ipv6")]
const NA_FRAME_LEN: usize = 14 + 40 + 24 + 8;

/// The largest lesson: a neighbor advertisement, or without IPv6 an ARP
/// reply.
#[cfg(feature = "ipv6")]
const LESSON_LEN: usize = NA_FRAME_LEN;
#[cfg(not(feature = "ipv6"))]
const LESSON_LEN: usize = ARP_FRAME_LEN;

/// Our own addresses a stack can have: IPv4, IPv6 global and link-local.
#[cfg(feature = "ipv6")]
pub const MAX_ADDRESSES: usize = 3;
/// Our own addresses a stack can have: IPv4.
#[cfg(not(feature = "ipv6"))]
pub const MAX_ADDRESSES: usize = 1;

// smoltcp's interface must hold them all (its `iface-max-addr-count-N`).
const _: () = assert!(MAX_ADDRESSES <= smoltcp::config::IFACE_MAX_ADDR_COUNT);

/// One slot of the neighbor table. A port gives the stack an array of them
/// (`[NeighborSlot::EMPTY; N]`), 48 to 64 bytes each; three quarters of the
/// slots are used, at most [`SMOLTCP_NEIGHBOR_CACHE`].
#[derive(Debug, Clone, Copy)]
pub struct NeighborSlot(Option<Neighbor>);

impl NeighborSlot {
    /// A slot holding no neighbor: what a table starts as.
    pub const EMPTY: NeighborSlot = NeighborSlot(None);
}

/// What the table knows of one neighbor.
#[derive(Debug, Clone, Copy)]
struct Neighbor {
    ip: IpAddress,
    mac: EthernetAddress,
    /// When a frame from it was last seen.
    seen: Instant,
    /// The table's frame count then: orders neighbors seen within one poll,
    /// whose `seen` is the same.
    seen_order: u64,
    /// When smoltcp was last taught it, and in which epoch; `None`: not
    /// taught since it was learned (from an ARP packet, say).
    taught: Option<(Instant, u32)>,
    /// A datagram to it waits for its lesson.
    queued: bool,
}

/// Counters of the neighbor layer, shown by ports beside the services'.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// Lessons handed to smoltcp: neighbors taught from their own frames
    /// or before a datagram to them left.
    pub taught: u64,
    /// Neighbors dropped from a full table to make room for a new one.
    pub evicted: u64,
    /// Datagrams queued to an on-link neighbor the table does not know:
    /// they wait for ARP or neighbor discovery unless smoltcp knows it.
    pub unresolved: u64,
    /// ARP requests and neighbor solicitations sent.
    pub resolutions: u64,
    /// Times smoltcp's neighbor cache was emptied before it could overflow.
    pub cache_flushes: u64,
    /// IPv6 frames dropped because they were addressed to none of our
    /// addresses or groups, or came from one of our addresses; and IPv4
    /// frames from our IPv4 address.
    pub foreign: u64,
}

/// The `N` bytes of `frame` at `at`, if it has them.
fn bytes_at<const N: usize>(frame: &[u8], at: usize) -> Option<[u8; N]> {
    frame.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The frame that teaches smoltcp a neighbor: an ARP reply for IPv4, a
/// neighbor advertisement for IPv6.
#[derive(Debug, Clone, Copy)]
pub struct Lesson {
    frame: [u8; LESSON_LEN],
    len: usize,
}

impl Lesson {
    fn bytes(&self) -> &[u8] {
        self.frame.get(..self.len).unwrap_or(&[])
    }
}

/// The neighbors, an open-addressing hash table over the port's slots.
struct Table<'a> {
    slots: &'a mut [NeighborSlot],
    len: usize,
    /// How many neighbors it holds at most.
    max_len: usize,
    seed: u32,
}

impl<'a> Table<'a> {
    fn new(slots: &'a mut [NeighborSlot], seed: u32) -> Table<'a> {
        for slot in slots.iter_mut() {
            *slot = NeighborSlot::EMPTY;
        }
        // Linear probing stays short while a quarter of the slots is free;
        // smoltcp's cache keeps room for as many lessons again (see
        // `NeighborLearning::cache_is_short_of`).
        let max_len = (slots.len() - slots.len() / 4).min(SMOLTCP_NEIGHBOR_CACHE / 2);
        Table {
            slots,
            len: 0,
            max_len,
            seed,
        }
    }

    /// The slot where the search for `ip` starts. The seed, drawn from the
    /// board's entropy, keeps a sender from choosing addresses that collide.
    fn home(&self, ip: &IpAddress) -> usize {
        let mut hash = self.seed;
        let mut mix = |word: u32| {
            hash = (hash ^ word).wrapping_mul(0x9e37_79b1).rotate_left(15);
        };
        match ip {
            IpAddress::Ipv4(v4) => mix(u32::from_be_bytes(v4.octets())),
            #[cfg(feature = "ipv6")]
            IpAddress::Ipv6(v6) => {
                for chunk in v6.octets().chunks_exact(4) {
                    mix(chunk
                        .iter()
                        .fold(0u32, |word, byte| word << 8 | u32::from(*byte)));
                }
            }
        }
        ((u64::from(hash) * self.slots.len() as u64) >> 32) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 >= self.slots.len() {
            0
        } else {
            i + 1
        }
    }

    fn find(&self, ip: &IpAddress) -> Option<usize> {
        let mut i = self.home(ip);
        for _ in 0..self.slots.len() {
            match self.slots.get(i)?.0 {
                None => return None,
                Some(n) if n.ip == *ip => return Some(i),
                Some(_) => i = self.next(i),
            }
        }
        None
    }

    fn get(&self, i: usize) -> Option<&Neighbor> {
        self.slots.get(i).and_then(|slot| slot.0.as_ref())
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Neighbor> {
        self.slots.get_mut(i).and_then(|slot| slot.0.as_mut())
    }

    /// Adds `neighbor` (not in the table), evicting the one seen least
    /// recently if the table is full; `None` when it cannot (no slots, or
    /// every neighbor has a datagram waiting). Returns its slot and whether
    /// another was evicted.
    fn insert(&mut self, neighbor: Neighbor) -> Option<(usize, bool)> {
        let mut evicted = false;
        if self.len >= self.max_len {
            let victim = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| slot.0.filter(|n| !n.queued).map(|n| (i, n.seen_order)))
                .min_by_key(|(_, order)| *order)?
                .0;
            self.remove(victim);
            evicted = true;
        }
        let mut i = self.home(&neighbor.ip);
        for _ in 0..self.slots.len() {
            let slot = self.slots.get_mut(i)?;
            if slot.0.is_none() {
                slot.0 = Some(neighbor);
                self.len += 1;
                return Some((i, evicted));
            }
            i = self.next(i);
        }
        None
    }

    /// Empties slot `i`, moving later entries of its probe run back so that
    /// every entry stays reachable from its home slot.
    fn remove(&mut self, mut i: usize) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.0.take().is_none() {
            return;
        }
        self.len -= 1;
        let mut j = i;
        for _ in 0..self.slots.len() {
            j = self.next(j);
            let Some(Some(entry)) = self.slots.get(j).map(|slot| slot.0) else {
                return;
            };
            let home = self.home(&entry.ip);
            // An entry whose home lies cyclically in (i, j] stays put.
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if stays {
                continue;
            }
            if let Some(hole) = self.slots.get_mut(i) {
                hole.0 = Some(entry);
            }
            if let Some(moved) = self.slots.get_mut(j) {
                moved.0 = None;
            }
            i = j;
        }
    }

    fn queued_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.0.is_some_and(|n| n.queued))
            .map(|(i, _)| i)
    }
}

/// The stack's one frame-sized buffer, lent by the port
/// ([`StackStorage`](crate::stack::StackStorage)) and used for two things
/// at different times: the frame a [`LearningDevice`] holds back while its
/// sender's lesson goes into smoltcp first, and the copy of the request a
/// service reads ([`FrameBuffer::lend`]).
///
/// A held frame goes to smoltcp at the device's next `receive`, and the
/// stack keeps receiving until it has, so the buffer is free again once
/// the frames are taken in; it stays held only if the port's device has
/// no transmit token to go with it (smoltcp takes no frame without one),
/// and the datagrams then wait in their sockets for the next poll. The
/// bytes are lent by moving them out: while they are lent, nothing else
/// can reach them, and the device takes no frame in (it hands smoltcp
/// lessons only); a held frame can only be handed to smoltcp.
pub struct FrameBuffer<'a, const FRAME: usize = MAX_FRAME> {
    state: FrameState<'a, FRAME>,
}

/// What a [`FrameBuffer`] is doing: one discriminant, read at every
/// receive.
enum FrameState<'a, const FRAME: usize> {
    /// Free: the device may hold a frame back in it.
    Free(&'a mut [u8; FRAME]),
    /// Holds a frame of this length for smoltcp's next receive.
    Held(&'a mut [u8; FRAME], usize),
    /// Lent out ([`FrameBuffer::lend`]) until given back.
    Lent,
}

impl<'a, const FRAME: usize> FrameBuffer<'a, FRAME> {
    /// The buffer `bytes`, holding no frame.
    pub fn new(bytes: &'a mut [u8; FRAME]) -> FrameBuffer<'a, FRAME> {
        FrameBuffer {
            state: FrameState::Free(bytes),
        }
    }

    /// Whether a frame is held back, waiting to go to smoltcp.
    pub fn is_holding(&self) -> bool {
        matches!(self.state, FrameState::Held(..))
    }

    /// The bytes, for other use until [`FrameBuffer::give_back`]; `None`
    /// while a frame is held in them (or they are lent already).
    pub fn lend(&mut self) -> Option<&'a mut [u8; FRAME]> {
        if !matches!(self.state, FrameState::Free(_)) {
            return None;
        }
        match self.take_state() {
            FrameState::Free(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// Takes back the bytes [`FrameBuffer::lend`] lent. (Only they can be
    /// given back: the bytes of a frame held are never lent.)
    pub fn give_back(&mut self, bytes: &'a mut [u8; FRAME]) {
        self.state = FrameState::Free(bytes);
    }

    /// Holds a copy of `frame`; false (nothing held) if it is longer than
    /// the buffer, or the buffer is not free.
    fn hold(&mut self, frame: &[u8]) -> bool {
        let FrameState::Free(bytes) = &mut self.state else {
            return false;
        };
        let Some(copy) = bytes.get_mut(..frame.len()) else {
            return false;
        };
        copy.copy_from_slice(frame);
        if let FrameState::Free(bytes) = self.take_state() {
            self.state = FrameState::Held(bytes, frame.len());
        }
        true
    }

    /// The frame held, which is then no longer held (empty if none was).
    fn take_held(&mut self) -> &[u8] {
        let FrameState::Held(_, len) = self.state else {
            return &[];
        };
        if let FrameState::Held(bytes, _) = self.take_state() {
            self.state = FrameState::Free(bytes);
        }
        match &self.state {
            FrameState::Free(bytes) => bytes.get(..len).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The state, leaving `Lent` in its place (to move the bytes).
    fn take_state(&mut self) -> FrameState<'a, FRAME> {
        core::mem::replace(&mut self.state, FrameState::Lent)
    }
}

/// The state behind [`LearningDevice`]: who we are, whom we know, what
/// smoltcp was taught, and the frame buffer a frame is held back in while
/// a lesson goes first.
///
/// `FRAME` is the largest frame it holds back: the largest the port's
/// device passes ([`MAX_FRAME`] unless a board's NIC takes shorter ones).
/// A longer frame teaches nothing (see `learn`); its sender is resolved by
/// ARP or neighbor discovery when answered.
pub struct NeighborLearning<'a, const FRAME: usize = MAX_FRAME> {
    mac: EthernetAddress,
    cidrs: heapless::Vec<IpCidr, MAX_ADDRESSES>,
    table: Table<'a>,
    /// The stack's frame buffer, lent by the port
    /// ([`StackStorage`](crate::stack::StackStorage)), so that this layer
    /// is small to build and to move.
    pub(crate) frame: FrameBuffer<'a, FRAME>,
    /// A lesson to hand smoltcp before any frame (teaching before a send).
    lesson: Option<Lesson>,
    /// Counts the times smoltcp's cache was emptied.
    epoch: u32,
    /// Entries smoltcp's cache may have gained this epoch (an upper bound).
    fills: usize,
    /// Neighbors of queued datagrams that smoltcp may not know.
    queued: heapless::Vec<IpAddress, QUEUED_LIST>,
    /// More were queued than `queued` lists: search the table.
    queued_overflow: bool,
    /// The slot of the neighbor that matched or was filled last.
    last: usize,
    /// Frames looked at, to order neighbors by when they were last seen.
    frames: u64,
    stats: NeighborStats,
}

impl<'a, const FRAME: usize> NeighborLearning<'a, FRAME> {
    /// Learning for a stack with MAC `mac` and addresses `cidrs` (the first
    /// [`MAX_ADDRESSES`]), its table in `slots`, hashed with `seed`, the
    /// frame it holds back in `frame` (see [`FrameBuffer`]).
    pub fn new(
        mac: EthernetAddress,
        cidrs: &[IpCidr],
        slots: &'a mut [NeighborSlot],
        frame: &'a mut [u8; FRAME],
        seed: u32,
    ) -> NeighborLearning<'a, FRAME> {
        NeighborLearning {
            mac,
            cidrs: cidrs.iter().take(MAX_ADDRESSES).copied().collect(),
            table: Table::new(slots, seed),
            frame: FrameBuffer::new(frame),
            lesson: None,
            epoch: 0,
            fills: 0,
            queued: heapless::Vec::new(),
            queued_overflow: false,
            last: 0,
            frames: 0,
            stats: NeighborStats::default(),
        }
    }

    /// How many neighbors the table holds at most.
    pub fn capacity(&self) -> usize {
        self.table.max_len
    }

    /// How many neighbors it holds now.
    pub fn len(&self) -> usize {
        self.table.len
    }

    /// Whether it holds no neighbor at all.
    pub fn is_empty(&self) -> bool {
        self.table.len == 0
    }

    /// The counters, with `resolutions` as counted by the device.
    pub fn stats(&self) -> NeighborStats {
        self.stats
    }

    /// The MAC address the table has for `ip`.
    pub fn mac_of(&self, ip: IpAddress) -> Option<EthernetAddress> {
        self.table
            .find(&ip)
            .and_then(|i| self.table.get(i))
            .map(|n| n.mac)
    }

    /// Whether smoltcp's cache may fill up while `frames` more frames are
    /// taken in and the datagrams they cause are sent: the stack then
    /// empties it first ([`NeighborLearning::new_epoch`]), when no datagram
    /// depends on it.
    pub fn cache_is_short_of(&self, frames: usize) -> bool {
        // A frame teaches at most its sender, and may be an ARP or neighbor
        // discovery packet that fills an entry of its own; before the
        // datagrams leave, each neighbor is taught at most once an epoch.
        self.fills + 2 * frames + self.table.max_len > SMOLTCP_NEIGHBOR_CACHE
    }

    /// Our addresses are now `cidrs` (the first [`MAX_ADDRESSES`]): a DHCP
    /// lease came or went. Neighbors off the new subnets stay in the table
    /// but are neither taught nor vouched for; they age out.
    ///
    /// smoltcp empties its neighbor cache when its addresses change, and
    /// what the table decided for the old ones (which neighbors are on our
    /// links) no longer holds: a new epoch starts here.
    pub fn set_addresses(&mut self, cidrs: &[IpCidr]) {
        self.cidrs = cidrs.iter().take(MAX_ADDRESSES).copied().collect();
        self.new_epoch();
    }

    /// Starts a new epoch: the stack has just emptied smoltcp's cache.
    pub fn new_epoch(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.fills = 0;
        self.stats.cache_flushes += 1;
    }

    /// Notes that a datagram to `to` is being queued: its next hop is `to`
    /// itself on our links, else the IPv4 `gateway`. False when the next hop
    /// is a neighbor the table does not know: the datagram will wait for
    /// ARP or neighbor discovery (broadcasts need no neighbor: true).
    #[inline]
    pub fn expect_datagram_to(
        &mut self,
        to: IpAddress,
        gateway: Option<Ipv4Address>,
        now: Instant,
    ) -> bool {
        // Most datagrams answer the last sender, an on-link neighbor that
        // smoltcp knows: decided here, inline, in a few instructions.
        if let Some(last) = self.table.get(self.last) {
            if last.ip == to && (last.queued || !needs_lesson(last, self.epoch, now)) {
                return true;
            }
        }
        self.expect_datagram_to_any(to, gateway, now)
    }

    /// [`NeighborLearning::expect_datagram_to`] for every other datagram.
    #[inline(never)]
    fn expect_datagram_to_any(
        &mut self,
        to: IpAddress,
        gateway: Option<Ipv4Address>,
        now: Instant,
    ) -> bool {
        // Replies to many hosts in one batch: a neighbor smoltcp knows is
        // found in the table at once, its address not looked at again (it
        // was when the neighbor was learned, and a change of our addresses
        // starts a new epoch). Only where speed is worth the code (a host):
        // on a board the rest decides the same, and the flash is tight.
        if cfg!(target_pointer_width = "64") {
            let known = self.table.find(&to).and_then(|i| self.table.get(i));
            if known.is_some_and(|n| n.queued || !needs_lesson(n, self.epoch, now)) {
                return true;
            }
        }
        if self.our_address_for(to).is_some() {
            self.expect(to, now)
        } else if let (IpAddress::Ipv4(_), Some(gateway)) = (to, gateway) {
            if to.is_broadcast() || to.is_multicast() {
                return true;
            }
            self.expect(IpAddress::Ipv4(gateway), now)
        } else {
            true
        }
    }

    /// Notes that a datagram to `next_hop` is being queued: if smoltcp may
    /// not know the neighbor, it is taught before the datagram leaves
    /// ([`NeighborLearning::next_queued_lesson`]). False (and counted) when
    /// the table does not know the neighbor, or not lately.
    pub fn expect(&mut self, next_hop: IpAddress, now: Instant) -> bool {
        let index = match self.table.get(self.last) {
            Some(n) if n.ip == next_hop => Some(self.last),
            _ => self.table.find(&next_hop),
        };
        let epoch = self.epoch;
        let Some(neighbor) = index.and_then(|i| self.table.get_mut(i)) else {
            self.stats.unresolved += 1;
            return false;
        };
        if now - neighbor.seen >= FORGET_AFTER {
            self.stats.unresolved += 1;
            return false;
        }
        if neighbor.queued || !needs_lesson(neighbor, epoch, now) {
            return true;
        }
        // Until taught, it is not evicted.
        neighbor.queued = true;
        if self.queued.push(next_hop).is_err() {
            self.queued_overflow = true;
        }
        true
    }

    /// Whether a queued datagram waits for a lesson.
    pub fn has_queued(&self) -> bool {
        !self.queued.is_empty() || self.queued_overflow
    }

    /// Makes the next lesson for a neighbor of a queued datagram the one
    /// smoltcp gets before any frame; false when none is left. Call until
    /// false, letting smoltcp take each lesson, before transmitting.
    pub fn next_queued_lesson(&mut self, now: Instant) -> bool {
        loop {
            let index = match self.queued.pop() {
                Some(ip) => self.table.find(&ip),
                None if self.queued_overflow => match self.table.queued_slots().next() {
                    Some(i) => Some(i),
                    None => {
                        self.queued_overflow = false;
                        return false;
                    }
                },
                None => return false,
            };
            let Some(i) = index else { continue };
            let Some(neighbor) = self.table.get_mut(i) else {
                continue;
            };
            neighbor.queued = false;
            if needs_lesson(neighbor, self.epoch, now) && self.teach(i, now) {
                return true;
            }
        }
    }

    /// Makes the lesson for the neighbor in slot `i` the one smoltcp gets
    /// before any frame, counted as taught now; false if there is none.
    /// The lesson is built in place: on the way in, it waits there while
    /// smoltcp reads it, deep in the stack, and is never copied.
    fn teach(&mut self, i: usize, now: Instant) -> bool {
        let epoch = self.epoch;
        let Some(neighbor) = self.table.get_mut(i) else {
            return false;
        };
        neighbor.taught = Some((now, epoch));
        let (ip, mac) = (neighbor.ip, neighbor.mac);
        self.fills += 1;
        self.stats.taught += 1;
        self.lesson = match (ip, self.our_address_for(ip)) {
            (IpAddress::Ipv4(ip), Some(IpAddress::Ipv4(ours))) => {
                Some(self.arp_reply(ip, mac, ours))
            }
            #[cfg(feature = "ipv6")]
            (IpAddress::Ipv6(ip), Some(IpAddress::Ipv6(ours))) => {
                Some(self.neighbor_advert(ip, mac, ours))
            }
            _ => None,
        };
        self.lesson.is_some()
    }

    /// Hands `f` the lesson that waits (read where it is: a lesson is as
    /// large as a small frame, and `f` is smoltcp at its deepest), which is
    /// then gone.
    #[inline(always)]
    fn give_lesson<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> T {
        let result = f(self.lesson.as_ref().map_or(&[], Lesson::bytes));
        self.lesson = None;
        result
    }

    /// Whether `frame` is one smoltcp must not see: an IPv4 packet from our
    /// own IPv4 address, or an IPv6 packet that `is_foreign_ipv6` refuses.
    /// smoltcp would answer a packet from our own address to itself,
    /// resolving its own address to do so.
    fn is_foreign(&self, frame: &[u8]) -> bool {
        match bytes_at::<2>(frame, 12) {
            Some([0x08, 0x00]) => {
                let src = bytes_at::<4>(frame, 26).map(Ipv4Address::from);
                src.is_some_and(|src| {
                    self.cidrs
                        .iter()
                        .any(|cidr| matches!(cidr, IpCidr::Ipv4(ours) if ours.address() == src))
                })
            }
            #[cfg(feature = "ipv6")]
            Some([0x86, 0xdd]) => self.is_foreign_ipv6(frame),
            _ => false,
        }
    }

    /// Whether `frame`, an IPv6 packet, is to an address that is neither
    /// ours nor a group we are in (all-nodes, the solicited-node group of
    /// one of our addresses), or from one of ours.
    ///
    /// smoltcp 0.14 takes any destination whose last two bytes match one of
    /// its solicited-node groups for that group, and accepts `::1` from the
    /// wire: it would answer a ping to `2001:db8::1` from `2001:db8::1`.
    /// Such frames are dropped here, before smoltcp sees them, and so are
    /// those whose source is one of our addresses (forged, or a duplicate
    /// address): smoltcp would send its ICMPv6 errors and echo replies to
    /// them back to itself, resolving its own address to do so.
    #[cfg(feature = "ipv6")]
    fn is_foreign_ipv6(&self, frame: &[u8]) -> bool {
        let src = frame
            .get(22..38)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(Ipv6Address::from);
        if src.is_some_and(|src| {
            self.cidrs
                .iter()
                .any(|cidr| matches!(cidr, IpCidr::Ipv6(ours) if ours.address() == src))
        }) {
            return true;
        }
        let Some(dst) = frame
            .get(38..54)
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok())
            .map(Ipv6Address::from)
        else {
            // Too short to be a packet: smoltcp drops it.
            return false;
        };
        if dst == IPV6_LINK_LOCAL_ALL_NODES {
            return false;
        }
        !self.cidrs.iter().any(|cidr| match cidr {
            IpCidr::Ipv6(ours) => ours.address() == dst || solicited_node(ours.address()) == dst,
            IpCidr::Ipv4(_) => false,
        })
    }

    /// Looks at a frame on its way in: remembers its sender if it is an
    /// on-link unicast neighbor; true when smoltcp may not know it: its
    /// lesson then waits in `lesson`, to go first.
    fn learn(&mut self, frame: &[u8], now: Instant) -> bool {
        // A frame too large to hold back cannot go in after the lesson, so
        // it teaches nothing; its sender must not be remembered either, or
        // its next (ordinary) frame would not teach smoltcp as it should.
        if frame.len() > FRAME {
            return false;
        }
        self.frames += 1;
        if self.is_last_sender(frame, now) {
            return false;
        }
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return false;
        };
        let (mac, dst_mac) = (eth.src_addr(), eth.dst_addr());
        // IPv6 neighbor solicitations go to a multicast MAC address (and
        // IPv4 broadcasts to the broadcast one).
        if !mac.is_unicast() || (dst_mac != self.mac && !dst_mac.is_multicast()) {
            return false;
        }
        let (ip, header_ok) = match eth.ethertype() {
            EthernetProtocol::Ipv4 => {
                let Ok(packet) = Ipv4Packet::new_checked(eth.payload()) else {
                    return false;
                };
                (IpAddress::Ipv4(packet.src_addr()), packet.verify_checksum())
            }
            #[cfg(feature = "ipv6")]
            EthernetProtocol::Ipv6 => {
                let Ok(packet) = Ipv6Packet::new_checked(eth.payload()) else {
                    return false;
                };
                if is_neighbor_discovery(&packet) {
                    // smoltcp may fill an entry from it.
                    self.fills += 1;
                }
                (IpAddress::Ipv6(packet.src_addr()), true)
            }
            EthernetProtocol::Arp => {
                // smoltcp fills an entry from an ARP packet to us; the
                // table learns the sender too (a gateway, say), but teaches
                // it anew before relying on it.
                self.fills += 1;
                let arp = ArpPacket::new_checked(eth.payload()).and_then(|p| ArpRepr::parse(&p));
                if let Ok(ArpRepr::EthernetIpv4 {
                    source_hardware_addr,
                    source_protocol_addr,
                    ..
                }) = arp
                {
                    let ip = IpAddress::Ipv4(source_protocol_addr);
                    if source_hardware_addr.is_unicast() && self.our_address_for(ip).is_some() {
                        self.remember(ip, source_hardware_addr, now);
                    }
                }
                return false;
            }
            _ => return false,
        };
        // Our address on the sender's link; none: not a neighbor. A header
        // smoltcp will reject must teach nothing.
        if self.our_address_for(ip).is_none() || !header_ok {
            return false;
        }
        let Some((i, moved)) = self.remember(ip, mac, now) else {
            return false;
        };
        self.last = i;
        let Some(neighbor) = self.table.get(i) else {
            return false;
        };
        (moved || needs_lesson(neighbor, self.epoch, now)) && self.teach(i, now)
    }

    /// Records that `ip` is at `mac`, seen now; returns its slot and whether
    /// it is new or moved to another MAC address.
    fn remember(
        &mut self,
        ip: IpAddress,
        mac: EthernetAddress,
        now: Instant,
    ) -> Option<(usize, bool)> {
        if let Some(i) = self.table.find(&ip) {
            let neighbor = self.table.get_mut(i)?;
            let moved = neighbor.mac != mac;
            neighbor.mac = mac;
            neighbor.seen = now;
            neighbor.seen_order = self.frames;
            if moved {
                neighbor.taught = None;
            }
            return Some((i, moved));
        }
        let (i, evicted) = self.table.insert(Neighbor {
            ip,
            mac,
            seen: now,
            seen_order: self.frames,
            taught: None,
            queued: false,
        })?;
        if evicted {
            self.stats.evicted += 1;
        }
        Some((i, true))
    }

    /// Our address on the link `ip` is on, if `ip` is a unicast neighbor
    /// there (not us, not a broadcast, multicast or unspecified address).
    fn our_address_for(&self, ip: IpAddress) -> Option<IpAddress> {
        if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
            return None;
        }
        if self.cidrs.iter().any(|c| c.address() == ip) {
            return None;
        }
        self.cidrs.iter().find_map(|cidr| match (cidr, ip) {
            (IpCidr::Ipv4(c), IpAddress::Ipv4(v4))
                if c.contains_addr(&v4) && Some(v4) != c.broadcast() =>
            {
                Some(cidr.address())
            }
            #[cfg(feature = "ipv6")]
            (IpCidr::Ipv6(c), IpAddress::Ipv6(v6)) if c.contains_addr(&v6) => Some(cidr.address()),
            _ => None,
        })
    }

    /// [`NeighborLearning::learn`]'s common case, decided inline: an IPv4
    /// frame from a neighbor whom smoltcp knows (taught this epoch,
    /// lately), the last sender most often. Its source is a neighbor, so
    /// neither ours nor foreign, and IPv4 has no destinations to screen:
    /// nothing else to look at. (Nor at its length: a frame longer than
    /// `FRAME` from a sender smoltcp knows needs no lesson, and goes to
    /// smoltcp as it is either way.)
    #[inline]
    fn is_fresh_ipv4_sender(&mut self, frame: &[u8], now: Instant) -> bool {
        if bytes_at::<2>(frame, 12) != Some([0x08, 0x00]) {
            return false;
        }
        self.frames += 1;
        // Only where speed is worth the code (a host): on a board's few
        // hosts `learn` decides the same, and the flash is tight.
        if self.is_last_sender(frame, now)
            || (cfg!(target_pointer_width = "64") && self.is_known_ipv4_sender(frame, now))
        {
            return true;
        }
        // `learn` counts the frame again.
        self.frames -= 1;
        false
    }

    /// Whether `frame` comes from the sender of the last one, whom smoltcp
    /// knows: most frames do, and this reads a few bytes where parsing the
    /// headers would cost ten times as much.
    #[inline]
    fn is_last_sender(&mut self, frame: &[u8], now: Instant) -> bool {
        self.is_fresh_sender_at(self.last, frame, now)
    }

    /// Whether an IPv4 `frame` comes from a neighbor of the table whom
    /// smoltcp knows, found by its address: when many hosts take turns,
    /// few frames come from the last sender, and this costs a fifth of
    /// parsing the headers. It is then the last sender.
    #[inline(never)]
    fn is_known_ipv4_sender(&mut self, frame: &[u8], now: Instant) -> bool {
        let Some(source) = bytes_at::<4>(frame, 26) else {
            return false;
        };
        let Some(i) = self.table.find(&IpAddress::Ipv4(Ipv4Address::from(source))) else {
            return false;
        };
        if !self.is_fresh_sender_at(i, frame, now) {
            return false;
        }
        self.last = i;
        true
    }

    /// Whether `frame` comes from the neighbor in slot `i` (its IP source
    /// and MAC address), whom smoltcp knows; if so, it has just been seen.
    #[inline]
    fn is_fresh_sender_at(&mut self, i: usize, frame: &[u8], now: Instant) -> bool {
        let (epoch, frames) = (self.epoch, self.frames);
        let Some(last) = self.table.get_mut(i) else {
            return false;
        };
        // Fixed-size reads: the compiler compares them as words.
        let source_matches = match last.ip {
            IpAddress::Ipv4(ip) => {
                bytes_at::<2>(frame, 12) == Some([0x08, 0x00])
                    && bytes_at::<4>(frame, 26) == Some(ip.octets())
            }
            #[cfg(feature = "ipv6")]
            IpAddress::Ipv6(ip) => {
                bytes_at::<2>(frame, 12) == Some([0x86, 0xdd])
                    && bytes_at::<16>(frame, 22) == Some(ip.octets())
                    // Neighbor discovery is counted by `learn`.
                    && frame.get(20) != Some(&58)
            }
        };
        if !source_matches || bytes_at::<6>(frame, 6) != Some(last.mac.0) {
            return false;
        }
        let fresh = last
            .taught
            .is_some_and(|(at, taught_epoch)| taught_epoch == epoch && now - at < RETEACH_AFTER);
        if fresh {
            last.seen = now;
            last.seen_order = frames;
        }
        fresh
    }

    /// An ARP reply from `ip` at `mac`, to us.
    fn arp_reply(&self, ip: Ipv4Address, mac: EthernetAddress, ours: Ipv4Address) -> Lesson {
        let mut lesson = Lesson {
            frame: [0; LESSON_LEN],
            len: ARP_FRAME_LEN,
        };
        let mut eth = EthernetFrame::new_unchecked(&mut lesson.frame[..ARP_FRAME_LEN]);
        EthernetRepr {
            src_addr: mac,
            dst_addr: self.mac,
            ethertype: EthernetProtocol::Arp,
        }
        .emit(&mut eth);
        ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: mac,
            source_protocol_addr: ip,
            target_hardware_addr: self.mac,
            target_protocol_addr: ours,
        }
        .emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        lesson
    }

    /// An unsolicited neighbor advertisement from `ip` at `mac`, to us,
    /// with the override flag: what the neighbor would have said when asked.
    #[cfg(feature = "ipv6")]
    fn neighbor_advert(&self, ip: Ipv6Address, mac: EthernetAddress, ours: Ipv6Address) -> Lesson {
        let mut lesson = Lesson {
            frame: [0; LESSON_LEN],
            len: NA_FRAME_LEN,
        };
        let advert = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: ip,
            lladdr: Some(mac.into()),
        });
        let ip_repr = Ipv6Repr {
            src_addr: ip,
            dst_addr: ours,
            next_header: IpProtocol::Icmpv6,
            payload_len: advert.buffer_len(),
            // Neighbor discovery accepts only what no router forwarded.
            hop_limit: 255,
        };
        let mut eth = EthernetFrame::new_unchecked(&mut lesson.frame[..]);
        EthernetRepr {
            src_addr: mac,
            dst_addr: self.mac,
            ethertype: EthernetProtocol::Ipv6,
        }
        .emit(&mut eth);
        let mut packet = Ipv6Packet::new_unchecked(eth.payload_mut());
        ip_repr.emit(&mut packet);
        advert.emit(
            &ip,
            &ours,
            &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
            &ChecksumCapabilities::default(),
        );
        lesson
    }
}

/// Whether smoltcp may not know `neighbor`: not taught this epoch, or too
/// long ago.
fn needs_lesson(neighbor: &Neighbor, epoch: u32, now: Instant) -> bool {
    match neighbor.taught {
        Some((at, taught_epoch)) => taught_epoch != epoch || now - at >= RETEACH_AFTER,
        None => true,
    }
}

/// Whether `packet` is ICMPv6 neighbor discovery (router and neighbor
/// solicitations and advertisements, redirects), from which smoltcp may
/// fill a neighbor entry.
#[cfg(feature = "ipv6")]
fn is_neighbor_discovery(packet: &Ipv6Packet<&[u8]>) -> bool {
    packet.next_header() == IpProtocol::Icmpv6
        && packet
            .payload()
            .first()
            .is_some_and(|kind| (133..=137).contains(kind))
}

/// The solicited-node multicast group of `address` (RFC 4291 2.7.1):
/// `ff02::1:ff00:0/104` and its last 24 bits.
#[cfg(feature = "ipv6")]
fn solicited_node(address: Ipv6Address) -> Ipv6Address {
    let [.., a, b, c] = address.octets();
    Ipv6Address::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, a, b, c])
}

/// The longest frame [`is_resolution`] can be true of: a neighbor
/// solicitation with its source link-layer address option (Ethernet 14,
/// IPv6 40, the solicitation 24, the option 8); an ARP request is 42.
const MAX_RESOLUTION_FRAME: usize = 86;

/// Whether `frame` asks for a neighbor's MAC address: an ARP request or a
/// neighbor solicitation.
fn is_resolution(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x06]) => frame.get(20..22) == Some(&[0, 1][..]),
        #[cfg(feature = "ipv6")]
        Some([0x86, 0xdd]) => frame.get(20) == Some(&58) && frame.get(54) == Some(&135),
        _ => false,
    }
}

/// A port's [`Device`] seen through [`NeighborLearning`].
pub struct LearningDevice<'d, 'a, D: Device, const FRAME: usize = MAX_FRAME> {
    /// The port's own device, which moves the frames.
    pub inner: &'d mut D,
    /// Learns each frame's sender before smoltcp sees the frame.
    pub learning: &'d mut NeighborLearning<'a, FRAME>,
    /// ARP requests and neighbor solicitations sent, counted as they leave.
    pub resolutions: &'d Cell<u64>,
}

impl<'a, D: Device, const FRAME: usize> Device for LearningDevice<'_, 'a, D, FRAME> {
    type RxToken<'b>
        = LearningRxToken<'b, 'a, D::RxToken<'b>, FRAME>
    where
        Self: 'b;
    type TxToken<'b>
        = LearningTxToken<'b, D::TxToken<'b>>
    where
        Self: 'b;

    // Inlined into smoltcp's ingress: returned through memory, the tokens
    // were written field by field and read back whole, a store-forwarding
    // stall that cost the echo path more cycles than its instructions.
    #[inline(always)]
    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let LearningDevice {
            inner,
            learning,
            resolutions,
        } = self;
        let resolutions: &Cell<u64> = resolutions;
        // The lesson stays where it is until smoltcp consumes it: a token
        // the size of a frame would be copied at every receive.
        if learning.lesson.is_some() {
            let tx = inner.transmit(now)?;
            return Some((
                LearningRxToken::Lesson(learning),
                LearningTxToken { tx, resolutions },
            ));
        }
        // While the frame buffer is lent out, no frame is taken in.
        match learning.frame.state {
            FrameState::Free(_) => {}
            FrameState::Held(..) => {
                let tx = inner.transmit(now)?;
                return Some((
                    LearningRxToken::Held(learning),
                    LearningTxToken { tx, resolutions },
                ));
            }
            FrameState::Lent => return None,
        }
        let (rx, tx) = inner.receive(now)?;
        Some((
            LearningRxToken::Live { rx, learning, now },
            LearningTxToken { tx, resolutions },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(now)?;
        Some(LearningTxToken {
            tx,
            resolutions: self.resolutions,
        })
    }

    // smoltcp asks a device for its capabilities only when the interface
    // is made (`Interface::new`, which the stack calls with the board's own
    // device): what the port's device says, unchanged.
    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A frame received through a [`LearningDevice`], or a lesson (a frame
/// that teaches smoltcp a neighbor) given in its place.
pub enum LearningRxToken<'b, 'a, R, const FRAME: usize = MAX_FRAME> {
    /// A frame straight from the port's device.
    Live {
        /// The port device's token for the frame.
        rx: R,
        /// Learns the frame's sender as the frame is consumed.
        learning: &'b mut NeighborLearning<'a, FRAME>,
        /// The time of the poll that received the frame.
        now: Instant,
    },
    /// The frame held back while its sender's lesson went in first.
    Held(&'b mut NeighborLearning<'a, FRAME>),
    /// A lesson before a datagram to a neighbor leaves.
    Lesson(&'b mut NeighborLearning<'a, FRAME>),
}

impl<R: phy::RxToken, const FRAME: usize> phy::RxToken for LearningRxToken<'_, '_, R, FRAME> {
    // Inlined into smoltcp's one caller: called, it took smoltcp's closure
    // by value through memory just written, and stalled on reading it back
    // (store forwarding, 3 % of the core benchmark's time).
    #[inline(always)]
    fn consume<T, F>(self, f: F) -> T
    where
        F: FnOnce(&[u8]) -> T,
    {
        match self {
            LearningRxToken::Live { rx, learning, now } => rx.consume(|frame| {
                // Most frames: IPv4 from the last sender, taught lately.
                if learning.is_fresh_ipv4_sender(frame, now) {
                    return f(frame);
                }
                if learning.is_foreign(frame) {
                    learning.stats.foreign += 1;
                    // An empty frame is no Ethernet frame: smoltcp drops it.
                    return f(&[]);
                }
                if !learning.learn(frame, now) {
                    return f(frame);
                }
                // Too large to hold (and to answer), smoltcp sees it as is;
                // `learn` already refuses such frames. (The device gives
                // no live frame while one is held.)
                if !learning.frame.hold(frame) {
                    learning.lesson = None;
                    return f(frame);
                }
                learning.give_lesson(f)
            }),
            LearningRxToken::Held(learning) => f(learning.frame.take_held()),
            LearningRxToken::Lesson(learning) => learning.give_lesson(f),
        }
    }

    fn meta(&self) -> PacketMeta {
        match self {
            LearningRxToken::Live { rx, .. } => rx.meta(),
            _ => PacketMeta::default(),
        }
    }
}

/// The port's transmit token, counting the neighbor resolutions that leave.
pub struct LearningTxToken<'b, T> {
    tx: T,
    resolutions: &'b Cell<u64>,
}

impl<T: phy::TxToken> phy::TxToken for LearningTxToken<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        // Only a frame small enough to be one is looked at: wrapping
        // smoltcp's closure in ours moves its captures, a cost every
        // datagram would pay.
        if len > MAX_RESOLUTION_FRAME {
            return self.tx.consume(len, f);
        }
        let resolutions = self.resolutions;
        self.tx.consume(len, |frame| {
            let result = f(frame);
            if is_resolution(frame) {
                resolutions.set(resolutions.get() + 1);
            }
            result
        })
    }

    fn set_meta(&mut self, meta: PacketMeta) {
        self.tx.set_meta(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{Ipv4Cidr, Ipv4Repr, Ipv6Cidr};

    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    const OUR_V6: Ipv6Address = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 1);
    const OUR_LINK_LOCAL: Ipv6Address = Ipv6Address::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    impl<const FRAME: usize> NeighborLearning<'_, FRAME> {
        /// [`NeighborLearning::learn`], and the lesson it leaves waiting.
        fn learned(&mut self, frame: &[u8], now: Instant) -> Option<Lesson> {
            self.learn(frame, now).then(|| self.lesson.take()).flatten()
        }

        /// [`NeighborLearning::next_queued_lesson`], and the lesson it
        /// leaves waiting.
        fn queued_lesson(&mut self, now: Instant) -> Option<Lesson> {
            self.next_queued_lesson(now)
                .then(|| self.lesson.take())
                .flatten()
        }
    }

    fn learning_with(slots: usize) -> NeighborLearning<'static> {
        NeighborLearning::new(
            OUR_MAC,
            &[
                IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(192, 168, 69, 1), 24)),
                IpCidr::Ipv6(Ipv6Cidr::new(OUR_V6, 64)),
                IpCidr::Ipv6(Ipv6Cidr::new(OUR_LINK_LOCAL, 64)),
            ],
            std::vec![NeighborSlot::EMPTY; slots].leak(),
            std::boxed::Box::leak(std::boxed::Box::new([0; MAX_FRAME])),
            0x5eed,
        )
    }

    fn learning() -> NeighborLearning<'static> {
        learning_with(64)
    }

    fn ipv6_frame(src_mac: EthernetAddress, src: Ipv6Address) -> std::vec::Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: OUR_V6,
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let mut frame = std::vec![0u8; 14 + ip.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: OUR_MAC,
            ethertype: EthernetProtocol::Ipv6,
        }
        .emit(&mut eth);
        ip.emit(&mut Ipv6Packet::new_unchecked(eth.payload_mut()));
        frame
    }

    #[test]
    fn an_on_link_ipv6_sender_is_taught_as_a_neighbor_advertisement() {
        let mut l = learning();
        for (peer, ours) in [
            (Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100), OUR_V6),
            (
                Ipv6Address::new(0xfe80, 0, 0, 0, 0x1c, 0x2d, 0x3e, 0x4f),
                OUR_LINK_LOCAL,
            ),
        ] {
            let lesson = l
                .learned(&ipv6_frame(PEER_MAC, peer), Instant::from_secs(1))
                .unwrap();
            let eth = EthernetFrame::new_checked(lesson.bytes()).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr()), (PEER_MAC, OUR_MAC));
            let packet = Ipv6Packet::new_checked(eth.payload()).unwrap();
            // The frame is the advertisement and nothing after it.
            assert_eq!(
                lesson.bytes().len(),
                14 + 40 + usize::from(packet.payload_len())
            );
            let ip = Ipv6Repr::parse(&packet).unwrap();
            assert_eq!((ip.src_addr, ip.dst_addr, ip.hop_limit), (peer, ours, 255));
            let icmp = Icmpv6Packet::new_checked(packet.payload()).unwrap();
            let repr = Icmpv6Repr::parse(&peer, &ours, &icmp, &ChecksumCapabilities::default())
                .expect("a valid checksum");
            assert_eq!(
                repr,
                Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
                    flags: NdiscNeighborFlags::OVERRIDE,
                    target_addr: peer,
                    lladdr: Some(PEER_MAC.into()),
                })
            );
        }
        // Off-link, multicast and our own addresses teach nothing.
        for src in [
            Ipv6Address::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
            Ipv6Address::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            OUR_V6,
            Ipv6Address::UNSPECIFIED,
        ] {
            assert!(
                l.learned(&ipv6_frame(PEER_MAC, src), Instant::from_secs(1))
                    .is_none(),
                "{src}"
            );
        }
    }

    fn ipv4_frame(src_mac: EthernetAddress, src: Ipv4Address) -> std::vec::Vec<u8> {
        let ip = Ipv4Repr {
            src_addr: src,
            dst_addr: Ipv4Address::new(192, 168, 69, 1),
            next_header: IpProtocol::Udp,
            payload_len: 0,
            hop_limit: 64,
        };
        let mut frame = std::vec![0u8; 14 + ip.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: src_mac,
            dst_addr: OUR_MAC,
            ethertype: EthernetProtocol::Ipv4,
        }
        .emit(&mut eth);
        ip.emit(
            &mut Ipv4Packet::new_unchecked(eth.payload_mut()),
            &smoltcp::phy::ChecksumCapabilities::default(),
        );
        frame
    }

    #[test]
    fn an_on_link_sender_is_taught_to_smoltcp_as_an_arp_reply() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let lesson = l
            .learned(&ipv4_frame(PEER_MAC, peer), Instant::from_secs(1))
            .unwrap();
        let eth = EthernetFrame::new_checked(lesson.bytes()).unwrap();
        assert_eq!(eth.dst_addr(), OUR_MAC);
        let repr = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(
            repr,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: PEER_MAC,
                source_protocol_addr: peer,
                target_hardware_addr: OUR_MAC,
                target_protocol_addr: Ipv4Address::new(192, 168, 69, 1),
            }
        );
    }

    #[test]
    fn a_known_sender_is_taught_again_only_when_stale_moved_or_forgotten_by_smoltcp() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let frame = ipv4_frame(PEER_MAC, peer);
        assert!(l.learned(&frame, Instant::from_secs(1)).is_some());
        assert!(l.learned(&frame, Instant::from_secs(30)).is_none());
        assert!(l.learned(&frame, Instant::from_secs(31)).is_some(), "stale");
        let moved = ipv4_frame(EthernetAddress([2, 0, 0, 0, 0, 9]), peer);
        assert!(l.learned(&moved, Instant::from_secs(32)).is_some(), "moved");
        assert!(l.learned(&moved, Instant::from_secs(33)).is_none());
        l.new_epoch();
        assert!(
            l.learned(&moved, Instant::from_secs(34)).is_some(),
            "new epoch"
        );
        assert_eq!(l.stats().taught, 4);
        assert_eq!(l.stats().cache_flushes, 1);
    }

    #[test]
    fn hosts_taking_turns_are_each_known_without_parsing_or_a_lesson() {
        let mut l = learning();
        let (a, b) = (
            Ipv4Address::new(192, 168, 69, 100),
            Ipv4Address::new(192, 168, 69, 101),
        );
        let b_mac = EthernetAddress([2, 0, 0, 0, 0, 3]);
        let (from_a, from_b) = (ipv4_frame(PEER_MAC, a), ipv4_frame(b_mac, b));
        assert!(l.learned(&from_a, Instant::from_secs(1)).is_some());
        assert!(l.learned(&from_b, Instant::from_secs(2)).is_some());
        let slot_of = |l: &NeighborLearning<'_>, ip: Ipv4Address| {
            l.table.find(&IpAddress::Ipv4(ip)).expect("in the table")
        };
        // A is not the last sender, yet known at once: seen, and now the last.
        assert!(l.is_fresh_ipv4_sender(&from_a, Instant::from_secs(3)));
        let a_slot = slot_of(&l, a);
        assert_eq!(l.last, a_slot);
        let seen = l.table.get(a_slot).map(|n| (n.seen, n.seen_order));
        assert_eq!(seen, Some((Instant::from_secs(3), l.frames)));
        assert_eq!(l.frames, 3);
        assert!(l.is_fresh_ipv4_sender(&from_b, Instant::from_secs(4)));
        assert_eq!(l.last, slot_of(&l, b));
        // What needs a look (and maybe a lesson) is left to `learn`,
        // uncounted: a sender taught too long ago, one that moved, one never
        // seen, a frame too short to name its sender.
        assert!(
            !l.is_fresh_ipv4_sender(&from_a, Instant::from_secs(31)),
            "stale"
        );
        let moved = ipv4_frame(EthernetAddress([2, 0, 0, 0, 0, 9]), b);
        assert!(
            !l.is_fresh_ipv4_sender(&moved, Instant::from_secs(5)),
            "moved"
        );
        let stranger = ipv4_frame(PEER_MAC, Ipv4Address::new(192, 168, 69, 102));
        assert!(!l.is_fresh_ipv4_sender(&stranger, Instant::from_secs(5)));
        assert!(!l.is_fresh_ipv4_sender(&from_a[..20], Instant::from_secs(5)));
        assert_eq!(l.frames, 4);
        assert_eq!(l.last, slot_of(&l, b));
        // After smoltcp's cache was emptied, every host needs a lesson again.
        l.new_epoch();
        assert!(!l.is_fresh_ipv4_sender(&from_b, Instant::from_secs(6)));
        assert!(!l.is_fresh_ipv4_sender(&from_a, Instant::from_secs(6)));
    }

    #[test]
    fn off_link_broadcast_and_garbage_senders_are_ignored() {
        let mut l = learning();
        let now = Instant::from_secs(1);
        for src in [
            Ipv4Address::new(10, 0, 0, 1),
            Ipv4Address::new(192, 168, 69, 255),
            Ipv4Address::new(192, 168, 69, 1),
            Ipv4Address::new(0, 0, 0, 0),
        ] {
            assert!(
                l.learned(&ipv4_frame(PEER_MAC, src), now).is_none(),
                "{src}"
            );
        }
        let multicast_mac = EthernetAddress([1, 0, 0x5e, 0, 0, 1]);
        let peer = Ipv4Address::new(192, 168, 69, 100);
        assert!(l.learned(&ipv4_frame(multicast_mac, peer), now).is_none());
        let frame = ipv4_frame(PEER_MAC, peer);
        for len in 0..frame.len() {
            // Truncated frames never panic; whatever smoltcp would reject
            // teaches nothing.
            let _ = l.learned(&frame[..len], now);
        }
    }

    #[test]
    fn a_frame_too_large_to_hold_teaches_nothing_and_is_not_remembered() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let mut jumbo = ipv4_frame(PEER_MAC, peer);
        jumbo.resize(MAX_FRAME + 1, 0);
        assert!(l.learned(&jumbo, Instant::from_secs(1)).is_none());
        assert_eq!(l.stats().taught, 0);
        // The sender's next frame, which can be held, teaches smoltcp.
        let frame = ipv4_frame(PEER_MAC, peer);
        assert!(l.learned(&frame, Instant::from_secs(2)).is_some());
    }

    #[test]
    fn a_learning_for_short_frames_holds_one_of_its_size_and_no_longer_one() {
        let mut l: NeighborLearning<'static, 590> = NeighborLearning::new(
            OUR_MAC,
            &[IpCidr::Ipv4(Ipv4Cidr::new(
                Ipv4Address::new(192, 168, 69, 1),
                24,
            ))],
            std::vec![NeighborSlot::EMPTY; 8].leak(),
            std::boxed::Box::leak(std::boxed::Box::new([0; 590])),
            0x5eed,
        );
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let mut long = ipv4_frame(PEER_MAC, peer);
        long.resize(591, 0);
        assert!(l.learned(&long, Instant::from_secs(1)).is_none());
        assert_eq!((l.len(), l.stats().taught), (0, 0));
        let mut longest = ipv4_frame(PEER_MAC, peer);
        longest.resize(590, 0);
        assert!(l.learned(&longest, Instant::from_secs(2)).is_some());
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn the_table_evicts_the_sender_seen_least_recently() {
        // 8 slots hold 6 neighbors.
        let mut l = learning_with(8);
        assert_eq!(l.capacity(), 6);
        let peer = |i: u8| Ipv4Address::new(192, 168, 69, 10 + i);
        for i in 0..6 {
            l.learned(
                &ipv4_frame(PEER_MAC, peer(i)),
                Instant::from_millis(i64::from(i)),
            );
        }
        assert_eq!((l.len(), l.stats().evicted), (6, 0));
        // Peer 0 is heard again: peer 1 is now the one seen longest ago.
        l.learned(&ipv4_frame(PEER_MAC, peer(0)), Instant::from_millis(10));
        l.learned(&ipv4_frame(PEER_MAC, peer(6)), Instant::from_millis(11));
        assert_eq!((l.len(), l.stats().evicted), (6, 1));
        assert!(l.mac_of(IpAddress::Ipv4(peer(1))).is_none());
        for i in [0, 2, 3, 4, 5, 6] {
            assert_eq!(l.mac_of(IpAddress::Ipv4(peer(i))), Some(PEER_MAC), "{i}");
        }
    }

    #[test]
    fn a_neighbor_with_a_datagram_waiting_is_never_evicted() {
        let mut l = learning_with(4);
        let peer = |i: u8| Ipv4Address::new(192, 168, 69, 10 + i);
        let now = Instant::from_secs(1);
        for i in 0..3 {
            l.learned(&ipv4_frame(PEER_MAC, peer(i)), now);
        }
        // smoltcp's cache was emptied: each datagram waits for a lesson.
        l.new_epoch();
        for i in 0..3 {
            l.expect(IpAddress::Ipv4(peer(i)), now);
        }
        // Every neighbor has a datagram queued: a newcomer finds no room.
        assert!(l.learned(&ipv4_frame(PEER_MAC, peer(3)), now).is_none());
        assert!(l.mac_of(IpAddress::Ipv4(peer(3))).is_none());
        while l.queued_lesson(now).is_some() {}
        assert!(l.learned(&ipv4_frame(PEER_MAC, peer(3)), now).is_some());
    }

    #[test]
    fn hundreds_of_neighbors_are_found_after_evictions_and_moves() {
        // The table's probing and removal keep every neighbor reachable.
        let mut l = learning_with(128);
        let peer = |i: u16| Ipv4Address::new(192, 168, 69, (i % 250) as u8 + 2);
        let mac = |i: u16| EthernetAddress([2, 0, 0, 0, (i >> 8) as u8, i as u8]);
        let mut now = Instant::from_secs(1);
        for i in 0..1000u16 {
            now += Duration::from_millis(1);
            l.learned(&ipv4_frame(mac(i), peer(i)), now);
            assert_eq!(l.mac_of(IpAddress::Ipv4(peer(i))), Some(mac(i)));
        }
        assert_eq!(l.len(), l.capacity());
        // The most recent `capacity` distinct senders are all there.
        let capacity = l.capacity() as u16;
        for i in (1000 - capacity)..1000 {
            assert_eq!(l.mac_of(IpAddress::Ipv4(peer(i))), Some(mac(i)), "{i}");
        }
    }

    #[test]
    fn a_queued_datagram_brings_a_lesson_only_when_smoltcp_may_not_know_its_neighbor() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let t0 = Instant::from_secs(1);
        assert!(l.learned(&ipv4_frame(PEER_MAC, peer), t0).is_some());
        // Taught a moment ago: the reply needs no lesson.
        l.expect(IpAddress::Ipv4(peer), t0);
        assert!(!l.has_queued());
        assert!(l.queued_lesson(t0).is_none());
        // A minute later (smoltcp has forgotten it), it does, once.
        let later = t0 + Duration::from_secs(60);
        l.expect(IpAddress::Ipv4(peer), later);
        l.expect(IpAddress::Ipv4(peer), later);
        assert!(l.has_queued());
        let lesson = l.queued_lesson(later).expect("a lesson");
        assert_eq!(
            EthernetFrame::new_checked(lesson.bytes())
                .unwrap()
                .src_addr(),
            PEER_MAC
        );
        assert!(l.queued_lesson(later).is_none());
        // Unknown and long-silent neighbors are counted, not taught.
        l.expect(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 7)), later);
        l.expect(IpAddress::Ipv4(peer), t0 + FORGET_AFTER);
        assert_eq!(l.stats().unresolved, 2);
        assert!(!l.has_queued());
    }

    #[test]
    fn replies_to_hosts_taking_turns_are_each_decided_by_the_table() {
        let mut l = learning();
        let (a, b) = (
            Ipv4Address::new(192, 168, 69, 100),
            Ipv4Address::new(192, 168, 69, 101),
        );
        let t0 = Instant::from_secs(1);
        assert!(l.learned(&ipv4_frame(PEER_MAC, a), t0).is_some());
        let b_mac = EthernetAddress([2, 0, 0, 0, 0, 3]);
        assert!(l.learned(&ipv4_frame(b_mac, b), t0).is_some());
        // A is not the last sender: known and taught, its reply goes as is.
        assert!(l.expect_datagram_to(IpAddress::Ipv4(a), None, t0));
        assert!(!l.has_queued());
        // A minute later both need a lesson, once each, whichever is last.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..2 {
            assert!(l.expect_datagram_to(IpAddress::Ipv4(a), None, later));
            assert!(l.expect_datagram_to(IpAddress::Ipv4(b), None, later));
        }
        assert!(l.queued_lesson(later).is_some());
        assert!(l.queued_lesson(later).is_some());
        assert!(l.queued_lesson(later).is_none());
        // Taught again: no lesson now; once smoltcp's cache was emptied (a
        // new epoch), one again.
        assert!(l.expect_datagram_to(IpAddress::Ipv4(a), None, later));
        assert!(!l.has_queued());
        l.new_epoch();
        assert!(l.expect_datagram_to(IpAddress::Ipv4(a), None, later));
        assert!(l.queued_lesson(later).is_some());
        // Off our link after the addresses changed (a new epoch too): the
        // table no longer speaks for it, and with no gateway there is no
        // neighbor to teach.
        l.set_addresses(&[IpCidr::Ipv4(Ipv4Cidr::new(
            Ipv4Address::new(10, 0, 0, 1),
            24,
        ))]);
        assert!(l.expect_datagram_to(IpAddress::Ipv4(b), None, later));
        assert!(!l.has_queued());
        assert_eq!(l.stats().unresolved, 0);
    }

    #[test]
    fn many_queued_neighbors_are_all_taught_past_the_list() {
        let mut l = learning_with(256);
        let now = Instant::from_secs(1);
        let peer = |i: u8| Ipv4Address::new(192, 168, 69, 2 + i);
        for i in 0..100 {
            l.learned(&ipv4_frame(PEER_MAC, peer(i)), now);
        }
        l.new_epoch();
        for i in 0..100 {
            l.expect(IpAddress::Ipv4(peer(i)), now);
        }
        let mut taught = 0;
        while l.queued_lesson(now).is_some() {
            taught += 1;
        }
        assert_eq!(taught, 100);
        assert!(!l.has_queued());
        for i in 0..100 {
            l.expect(IpAddress::Ipv4(peer(i)), now);
        }
        assert!(!l.has_queued(), "all taught this epoch");
    }

    #[test]
    fn arp_and_neighbor_discovery_count_against_smoltcps_cache() {
        let mut l = learning();
        // 64 slots: 48 neighbors, and as many lessons before datagrams leave.
        let room = (SMOLTCP_NEIGHBOR_CACHE - 48) / 2;
        assert!(!l.cache_is_short_of(room));
        let arp = arp_frame(PEER_MAC, Ipv4Address::new(192, 168, 69, 100));
        assert!(l.learned(&arp, Instant::from_secs(1)).is_none());
        assert!(l.cache_is_short_of(room));
        assert_eq!(
            l.mac_of(IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 100))),
            Some(PEER_MAC),
            "the table learns ARP senders"
        );
    }

    #[test]
    fn resolutions_are_recognised_on_the_way_out() {
        let mut arp_request = std::vec![0u8; 42];
        arp_request[12..14].copy_from_slice(&[0x08, 0x06]);
        arp_request[20..22].copy_from_slice(&[0, 1]);
        assert!(is_resolution(&arp_request));
        arp_request[21] = 2;
        assert!(!is_resolution(&arp_request), "a reply");
        let mut solicit = std::vec![0u8; 86];
        solicit[12..14].copy_from_slice(&[0x86, 0xdd]);
        solicit[20] = 58;
        solicit[54] = 135;
        assert!(is_resolution(&solicit));
        solicit[54] = 136;
        assert!(!is_resolution(&solicit), "an advertisement");
        assert!(!is_resolution(&[]));
    }

    fn neighbor(ip: IpAddress) -> Neighbor {
        Neighbor {
            ip,
            mac: PEER_MAC,
            seen: Instant::from_secs(1),
            seen_order: 0,
            taught: None,
            queued: false,
        }
    }

    #[test]
    fn homes_spread_sequential_addresses_over_the_table() {
        // A room's addresses are sequential: their homes must not bunch
        // up, or every lookup walks a long probe run.
        let mut slots = std::vec![NeighborSlot::EMPTY; 1024];
        let table = Table::new(&mut slots, 0x5eed);
        let homes = |ips: &mut dyn Iterator<Item = IpAddress>| {
            let mut homes: std::vec::Vec<usize> = ips.map(|ip| table.home(&ip)).collect();
            homes.sort_unstable();
            homes.dedup();
            homes.len()
        };
        // 256 addresses into 1024 slots: about 227 distinct homes at random.
        let v4 =
            homes(&mut (0..=255u8).map(|i| IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, i))));
        assert!(v4 >= 200, "{v4} distinct homes of 256 IPv4 addresses");
        let v6 = homes(
            &mut (0..=255u16)
                .map(|i| IpAddress::Ipv6(Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, i))),
        );
        assert!(v6 >= 200, "{v6} distinct homes of 256 IPv6 addresses");
        // Every byte counts, not only the last of each word.
        let high = homes(
            &mut (0..=255u16)
                .map(|i| IpAddress::Ipv6(Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, i << 8))),
        );
        assert!(
            high >= 200,
            "{high} distinct homes of 256 IPv6 addresses (high bytes)"
        );
    }

    #[test]
    fn a_neighbor_that_collided_is_found_after_the_one_at_its_home_leaves() {
        let mut slots = std::vec![NeighborSlot::EMPTY; 8];
        let mut table = Table::new(&mut slots, 0x5eed);
        // Two addresses with the same home: the second lands one further.
        let ip = |i: u8| IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, i));
        let first = ip(2);
        let second = (3..=255)
            .map(ip)
            .find(|other| table.home(other) == table.home(&first))
            .expect("a collision in 8 slots");
        let (at, _) = table.insert(neighbor(first)).unwrap();
        let (next, _) = table.insert(neighbor(second)).unwrap();
        assert_eq!(next, table.next(at));
        table.remove(at);
        // The second moved back into its home slot, where a lookup starts.
        assert_eq!(table.find(&second), Some(at));
        assert_eq!(table.find(&first), None);
        assert_eq!(table.len, 1);
    }

    #[test]
    fn is_empty_until_a_sender_is_learned() {
        let mut l = learning();
        assert!(l.is_empty());
        l.learned(
            &ipv4_frame(PEER_MAC, Ipv4Address::new(192, 168, 69, 100)),
            Instant::from_secs(1),
        );
        assert!(!l.is_empty());
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn broadcasts_and_multicasts_beyond_our_subnet_wait_for_no_gateway() {
        let mut l = learning();
        let gateway = Some(Ipv4Address::new(192, 168, 69, 254));
        let now = Instant::from_secs(1);
        for to in [Ipv4Address::BROADCAST, Ipv4Address::new(224, 0, 0, 251)] {
            assert!(
                l.expect_datagram_to(IpAddress::Ipv4(to), gateway, now),
                "{to}"
            );
        }
        // Unicast off the subnet goes through the gateway, which is unknown.
        let far = IpAddress::Ipv4(Ipv4Address::new(198, 51, 100, 1));
        assert!(!l.expect_datagram_to(far, gateway, now));
        assert_eq!(l.stats().unresolved, 1);
    }

    #[test]
    fn a_reply_to_the_last_sender_after_the_cache_was_emptied_brings_a_lesson() {
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let t0 = Instant::from_secs(1);
        assert!(l.learned(&ipv4_frame(PEER_MAC, peer), t0).is_some());
        // Taught this epoch: the reply goes as it is.
        assert!(l.expect_datagram_to(IpAddress::Ipv4(peer), None, t0));
        assert!(!l.has_queued());
        // smoltcp's cache was emptied: the same reply needs a lesson first.
        l.new_epoch();
        assert!(l.expect_datagram_to(IpAddress::Ipv4(peer), None, t0));
        assert!(l.has_queued());
        let lesson = l.queued_lesson(t0).expect("a lesson");
        let eth = EthernetFrame::new_checked(lesson.bytes()).unwrap();
        assert_eq!(eth.src_addr(), PEER_MAC);
    }

    #[test]
    fn each_lesson_counts_against_smoltcps_cache_until_the_next_epoch() {
        let mut l = learning();
        // 64 slots: 48 neighbors; smoltcp's cache is full once the lessons
        // of this epoch and the table's neighbors would pass its size.
        let room = SMOLTCP_NEIGHBOR_CACHE - 48;
        let mut now = Instant::from_secs(1);
        for i in 0..room {
            assert!(!l.cache_is_short_of(0), "after {i} lessons");
            now += Duration::from_millis(1);
            let peer = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 1, i as u16);
            let mac = EthernetAddress([2, 0, 0, 1, (i >> 8) as u8, i as u8]);
            assert!(l.learned(&ipv6_frame(mac, peer), now).is_some(), "{i}");
        }
        assert_eq!(l.stats().taught, room as u64);
        assert!(!l.cache_is_short_of(0));
        let peer = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 2, 1);
        assert!(l.learned(&ipv6_frame(PEER_MAC, peer), now).is_some());
        assert!(l.cache_is_short_of(0), "one lesson more than it holds");
        // The stack empties smoltcp's cache: a new epoch counts from zero.
        l.new_epoch();
        assert!(!l.cache_is_short_of(0));
    }

    fn arp_frame(source_mac: EthernetAddress, source_ip: Ipv4Address) -> std::vec::Vec<u8> {
        let repr = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: source_mac,
            source_protocol_addr: source_ip,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: Ipv4Address::new(192, 168, 69, 1),
        };
        let mut frame = std::vec![0u8; 14 + repr.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: PEER_MAC,
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        }
        .emit(&mut eth);
        repr.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
        frame
    }

    #[test]
    fn arp_senders_are_remembered_only_when_on_link_and_unicast() {
        let mut l = learning();
        let now = Instant::from_secs(1);
        let on_link = Ipv4Address::new(192, 168, 69, 100);
        let off_link = Ipv4Address::new(198, 51, 100, 7);
        let multicast_mac = EthernetAddress([0x01, 0, 0x5e, 0, 0, 1]);
        assert!(l.learned(&arp_frame(PEER_MAC, off_link), now).is_none());
        assert!(l.learned(&arp_frame(multicast_mac, on_link), now).is_none());
        assert_eq!(l.mac_of(IpAddress::Ipv4(off_link)), None);
        assert_eq!(l.mac_of(IpAddress::Ipv4(on_link)), None);
        assert!(l.is_empty());
        assert!(l.learned(&arp_frame(PEER_MAC, on_link), now).is_none());
        assert_eq!(l.mac_of(IpAddress::Ipv4(on_link)), Some(PEER_MAC));
    }

    #[test]
    fn a_neighbor_solicitation_counts_against_smoltcps_cache() {
        let mut l = learning();
        let room = (SMOLTCP_NEIGHBOR_CACHE - 48) / 2;
        assert!(!l.cache_is_short_of(room));
        // A duplicate address probe: from the unspecified address, so no
        // neighbor is learned or taught from it.
        let solicit = Icmpv6Repr::Ndisc(NdiscRepr::NeighborSolicit {
            target_addr: OUR_V6,
            lladdr: None,
        });
        let solicited = Ipv6Address::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 1);
        let frame = icmpv6_frame(Ipv6Address::UNSPECIFIED, solicited, solicit);
        assert!(l.learned(&frame, Instant::from_secs(1)).is_none());
        assert_eq!(l.stats().taught, 0);
        assert!(
            l.cache_is_short_of(room),
            "smoltcp may fill an entry from it"
        );
    }

    #[test]
    fn multicast_senders_are_no_neighbors_even_inside_a_wide_subnet() {
        // A lease may give a subnet as wide as 128.0.0.0/1, which contains
        // the multicast range: a multicast source is still no neighbor.
        let mut l: NeighborLearning<'_> = NeighborLearning::new(
            OUR_MAC,
            &[IpCidr::Ipv4(Ipv4Cidr::new(
                Ipv4Address::new(192, 168, 69, 1),
                1,
            ))],
            std::vec![NeighborSlot::EMPTY; 16].leak(),
            std::boxed::Box::leak(std::boxed::Box::new([0; MAX_FRAME])),
            0x5eed,
        );
        let now = Instant::from_secs(1);
        let multicast = Ipv4Address::new(224, 0, 0, 251);
        assert!(l.learned(&ipv4_frame(PEER_MAC, multicast), now).is_none());
        assert_eq!(l.mac_of(IpAddress::Ipv4(multicast)), None);
        // A unicast sender of that subnet is one.
        let unicast = Ipv4Address::new(130, 1, 2, 3);
        assert!(l.learned(&ipv4_frame(PEER_MAC, unicast), now).is_some());
        assert_eq!(l.mac_of(IpAddress::Ipv4(unicast)), Some(PEER_MAC));
    }

    #[test]
    fn the_list_of_neighbors_to_teach_holds_as_many_as_the_table_up_to_64() {
        // The table holds at most half of smoltcp's cache.
        assert_eq!(queued_list(8), 4);
        assert_eq!(queued_list(32), 16);
        assert_eq!(queued_list(64), 32);
        assert_eq!(queued_list(126), 63);
        assert_eq!(queued_list(128), 64);
        assert_eq!(queued_list(512), 64);
    }

    #[test]
    fn the_fast_path_lets_the_last_fresh_ipv4_sender_through_and_nothing_else() {
        // The fast path's own answers: a "no" costs only speed (the full
        // path decides the same), a wrong "yes" would skip a lesson.
        let mut l = learning();
        let peer = Ipv4Address::new(192, 168, 69, 100);
        let t0 = Instant::from_secs(1);
        let frame = ipv4_frame(PEER_MAC, peer);
        assert!(l.learned(&frame, t0).is_some());
        let frames = l.frames;
        assert!(l.is_fresh_ipv4_sender(&frame, t0 + Duration::from_secs(1)));
        assert_eq!(l.frames, frames + 1, "counted once");
        // Padding included, whatever its length: from a sender smoltcp
        // knows, a frame too long to hold needs no lesson, and goes to
        // smoltcp as it is either way.
        let mut padded = frame.clone();
        padded.resize(MAX_FRAME, 0);
        assert!(l.is_fresh_ipv4_sender(&padded, t0));
        padded.push(0);
        assert!(l.is_fresh_ipv4_sender(&padded, t0), "too large to hold");
        let frames = l.frames;
        let other_mac = EthernetAddress([2, 0, 0, 0, 0, 9]);
        for other in [
            ipv4_frame(other_mac, peer),
            ipv4_frame(PEER_MAC, Ipv4Address::new(192, 168, 69, 101)),
            arp_frame(PEER_MAC, peer),
        ] {
            assert!(!l.is_fresh_ipv4_sender(&other, t0));
        }
        assert_eq!(
            l.frames, frames,
            "`learn` counts what the fast path does not take"
        );
        // Not once smoltcp may have forgotten it.
        assert!(!l.is_fresh_ipv4_sender(&frame, t0 + RETEACH_AFTER));
        assert!(l.is_fresh_ipv4_sender(&frame, t0 + RETEACH_AFTER - Duration::from_millis(1)));
        l.new_epoch();
        assert!(!l.is_fresh_ipv4_sender(&frame, t0));
    }

    #[test]
    fn the_last_ipv6_sender_is_recognised_but_not_its_neighbor_discovery() {
        let mut l = learning();
        let peer = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100);
        let t0 = Instant::from_secs(1);
        let frame = ipv6_frame(PEER_MAC, peer);
        assert!(l.learned(&frame, t0).is_some());
        assert!(l.is_last_sender(&frame, t0));
        assert!(
            !l.is_fresh_ipv4_sender(&frame, t0),
            "IPv6 takes the full path"
        );
        let mut discovery = frame.clone();
        discovery[20] = 58;
        assert!(!l.is_last_sender(&discovery, t0));
        let mut other = frame.clone();
        other[37] ^= 1;
        assert!(!l.is_last_sender(&other, t0), "another address");
        let mut ipv4_type = frame.clone();
        ipv4_type[12..14].copy_from_slice(&[0x08, 0x00]);
        assert!(!l.is_last_sender(&ipv4_type, t0));
    }

    fn icmpv6_frame(src: Ipv6Address, dst: Ipv6Address, icmp: Icmpv6Repr) -> std::vec::Vec<u8> {
        let ip = Ipv6Repr {
            src_addr: src,
            dst_addr: dst,
            next_header: IpProtocol::Icmpv6,
            payload_len: icmp.buffer_len(),
            hop_limit: 255,
        };
        let mut frame = std::vec![0u8; 14 + ip.buffer_len() + icmp.buffer_len()];
        let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
        EthernetRepr {
            src_addr: PEER_MAC,
            dst_addr: OUR_MAC,
            ethertype: EthernetProtocol::Ipv6,
        }
        .emit(&mut eth);
        let mut packet = Ipv6Packet::new_unchecked(eth.payload_mut());
        ip.emit(&mut packet);
        icmp.emit(
            &src,
            &dst,
            &mut Icmpv6Packet::new_unchecked(packet.payload_mut()),
            &ChecksumCapabilities::default(),
        );
        frame
    }

    #[test]
    fn only_neighbor_discovery_and_lessons_count_as_cache_fills() {
        let mut l = learning();
        let peer = Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0, 0x100);
        let now = Instant::from_secs(1);
        assert!(l.learned(&ipv6_frame(PEER_MAC, peer), now).is_some());
        assert_eq!(l.fills, 1, "the lesson");
        let ping = Icmpv6Repr::EchoRequest {
            ident: 1,
            seq_no: 1,
            data: b"ping",
        };
        l.learned(&icmpv6_frame(peer, OUR_V6, ping), now);
        assert_eq!(l.fills, 1, "a ping is no neighbor discovery");
        let advert = Icmpv6Repr::Ndisc(NdiscRepr::NeighborAdvert {
            flags: NdiscNeighborFlags::OVERRIDE,
            target_addr: peer,
            lladdr: Some(PEER_MAC.into()),
        });
        l.learned(&icmpv6_frame(peer, OUR_V6, advert), now);
        assert_eq!(l.fills, 2, "an advertisement may fill smoltcp's entry");
    }

    #[test]
    fn a_neighbor_that_wrapped_around_the_table_moves_back_to_the_end() {
        let mut slots = std::vec![NeighborSlot::EMPTY; 8];
        let mut table = Table::new(&mut slots, 0x5eed);
        let ip = |i: u8| IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, i));
        // Two addresses whose home is the last slot: the second wraps to 0.
        let mut at_end = (2..=255).map(ip).filter(|a| table.home(a) == 7);
        let (first, second) = (at_end.next().unwrap(), at_end.next().unwrap());
        assert_eq!(table.insert(neighbor(first)).unwrap().0, 7);
        assert_eq!(table.insert(neighbor(second)).unwrap().0, 0);
        table.remove(7);
        assert_eq!(table.find(&second), Some(7));
        assert_eq!(table.find(&first), None);
    }
}
