//! udpkit on QEMU's mps2-an385 board: an Arm Cortex-M3 with an SMSC LAN9118
//! Ethernet controller (a LAN9220 on the real FPGA board).
//!
//! The same core and services as the Linux host, on 192.168.69.1/24 (and
//! fdaa::1/64, fe80::1/64) with MAC 02:00:00:00:00:01: echo (7), daytime
//! (13), time (37), NTP (123), upper (12000), hello (12001), chat (5555)
//! and discovery (5550, announced twice at boot), and ping.
//!
//! The board has no wall clock (no RTC): the core's SNTP client (local port
//! 1123) takes the wall clock from an NTP server, 192.168.69.100:123 (the
//! Linux side of the TAP) unless `UDPKIT_SNTP_SERVER` said otherwise at
//! build time (see build.rs). It asks at boot, then after 15 s, 30 s and
//! every 60 s until the server answers, and every 1024 s once it has. Until
//! then daytime and time stay silent and NTP answers with a kiss-o'-death
//! (`INIT`); from then on they tell the time, NTP at the server's stratum
//! + 1. The UART logs when the clock is set (and if it is ever lost).
//!
//! Everything is allocated statically (see [`take_storage`]), within the RAM of a
//! small MCU (64 KiB, see memory.x). The main loop polls the stack and
//! sleeps with `wfi` until the NIC, the console, SysTick or the wake-up
//! timer interrupts; an idle board wakes twice a second.
//!
//! Console (UART0, 115200 baud): `s` prints a report (counters, stack
//! high-water mark), `p` panics on purpose (to see the panic report), any
//! other key lists these.

#![no_std]
#![no_main]

mod board;
mod memory;
mod panic;
mod uart;

use core::fmt::Write;
use core::mem::MaybeUninit;
use core::ptr::addr_of_mut;
use core::sync::atomic::{AtomicBool, Ordering};

use cortex_m_rt::entry;
use udpkit::services::chat::{self, Chat, ChatLimits};
use udpkit::services::discovery::{self, Discovery, ReplyRepr, ServiceEntry};
use udpkit::services::ntp::{self, NtpServer};
use udpkit::services::{daytime, echo, hello, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::socket::udp::{PacketBuffer, PacketMetadata};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::sntp::{self, SntpClient, SntpConfig};
use udpkit::{Board as _, Config, Discard, NeighborSlot, Service, Stack, UnixTime};

use board::{An385, Mmio, Nic};
use uart::Console;

/// Services on this board, and so sockets: eight servers and the SNTP
/// client.
const SERVICES: usize = 9;
/// Sockets: one per service, and the chat's detour (transmit only).
const SOCKETS_USED: usize = SERVICES + 1;

// SNTP_SERVER, from build.rs.
include!(concat!(env!("OUT_DIR"), "/config.rs"));

/// How often the SNTP client asks once the server has answered.
const SNTP_INTERVAL: Duration = Duration::from_secs(1024);
/// The longest wait between requests while the server does not answer:
/// the client waits 15 s (RFC 4330's minimum), 30 s, then this.
const SNTP_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The name discovery answers with.
const DEVICE_NAME: &str = "mps2-an385";

/// Chat members at once: a room of 16 hosts, each in the chat. Each needs
/// room in chat's queues for a relayed line (see the chat buffers below).
const CHAT_MEMBERS: usize = 16;

/// Slots of the neighbor table: 24 neighbors, a classroom of hosts and the
/// chat's members among them. smoltcp's cache holds twice as many (its
/// `iface-neighbor-cache-count-64` feature, Cargo.toml): room for the
/// lessons of a batch beside them.
const NEIGHBOR_SLOTS: usize = 32;
const CHAT_ROOMS: usize = 4;
/// Longest chat message.
const CHAT_MESSAGE: usize = 200;
/// One message relayed to every other member: its text and up to 40 bytes
/// of `[room] <nick> ` around it, 15 × 240 bytes.
const CHAT_FAN_OUT: usize = (CHAT_MEMBERS - 1) * (CHAT_MESSAGE + 40);
/// Chat's transmit queue holds the most one datagram makes (`Chat::burst`,
/// checked by the stack at start): a fan-out and one line of its own.
const CHAT_QUEUE: usize = CHAT_FAN_OUT + chat::LINE_CAP;
/// Chat's receive queue: the stack takes one frame at a time here (the
/// echo queue holds one full-size datagram), so one datagram of any size,
/// or a few short ones.
const CHAT_RECEIVE: usize = 2048;
const CHAT_RECEIVE_SLOTS: usize = 4;

/// Datagram slots of one service's receive and transmit queue.
type Slots<const N: usize> = [[PacketMetadata; N]; 2];
/// Payload bytes of one service's receive and transmit queue.
type Bytes<const N: usize> = [[u8; N]; 2];

/// The queues' datagram slots, per service. Each queue holds SLOTS
/// datagrams in BYTES payload bytes (see [`Payloads`]).
struct QueueSlots {
    echo: Slots<4>,
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
/// few bytes, and its reply (about 270 bytes here) fits its transmit queue.
/// The SNTP client sends and receives 48-byte packets, one at a time.
///
/// Kept apart from the slots on purpose: this static is all zeros, so it
/// goes to .bss and costs no flash. (udpkit's `SocketBuffers` keeps slots
/// and bytes together, and a slot's initial value is not all zeros, so a
/// `static` of it would be copied from flash at boot.)
struct Payloads {
    echo: Bytes<2048>,
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
    /// Room for `udpkit discover`'s request, padded to the longest reply
    /// (`discovery::PADDED_REQUEST_LEN`, 681 bytes), and for the reply.
    discovery: Bytes<1024>,
    sntp: Bytes<128>,
}

// A padded request that did not fit would be dropped before discovery sees it.
const _: () = assert!(discovery::PADDED_REQUEST_LEN <= 1024 && discovery::MAX_REPLY <= 1024);

const fn slots<const N: usize>() -> Slots<N> {
    [[PacketMetadata::EMPTY; N]; 2]
}

const fn bytes<const N: usize>() -> Bytes<N> {
    [[0; N]; 2]
}

/// The receive and transmit queues over one service's slots and bytes.
fn queues<'a, const S: usize, const B: usize>(
    slots: &'a mut Slots<S>,
    bytes: &'a mut Bytes<B>,
) -> (PacketBuffer<'a>, PacketBuffer<'a>) {
    let [rx_slots, tx_slots] = slots;
    let [rx_bytes, tx_bytes] = bytes;
    (
        PacketBuffer::new(&mut rx_slots[..], &mut rx_bytes[..]),
        PacketBuffer::new(&mut tx_slots[..], &mut tx_bytes[..]),
    )
}

// Everything the firmware keeps, allocated statically and sized at compile
// time. Only `take_storage` touches these.
// SAFETY (of the Mmio): this is the only one, owned by the only driver.
static mut NIC: Nic = Nic::new(unsafe { Mmio::new() });
static mut SOCKETS: [SocketStorage<'static>; SOCKETS_USED] = [SocketStorage::EMPTY; SOCKETS_USED];
static mut NEIGHBORS: [NeighborSlot; NEIGHBOR_SLOTS] = [NeighborSlot::EMPTY; NEIGHBOR_SLOTS];
static mut QUEUE_SLOTS: QueueSlots = QueueSlots {
    echo: slots(),
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
};
static mut PAYLOADS: Payloads = Payloads {
    echo: bytes(),
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
};
static mut ECHO: echo::Echo = echo::Echo;
static mut DAYTIME: daytime::Daytime = daytime::Daytime;
static mut TIME: time::Time = time::Time;
static mut NTP: NtpServer = NtpServer::new();
static mut UPPER: upper::Upper = upper::Upper;
static mut HELLO: hello::Hello = hello::Hello;
static mut CHAT: MaybeUninit<Chat<CHAT_MEMBERS, CHAT_ROOMS>> = MaybeUninit::uninit();
static mut DISCOVERY: MaybeUninit<Discovery> = MaybeUninit::uninit();
static mut SNTP: MaybeUninit<SntpClient> = MaybeUninit::uninit();
static mut STACK: MaybeUninit<Stack<'static>> = MaybeUninit::uninit();

/// The statics above, as references.
struct Storage {
    nic: &'static mut Nic,
    sockets: &'static mut [SocketStorage<'static>; SOCKETS_USED],
    neighbors: &'static mut [NeighborSlot; NEIGHBOR_SLOTS],
    slots: &'static mut QueueSlots,
    payloads: &'static mut Payloads,
    echo: &'static mut echo::Echo,
    daytime: &'static mut daytime::Daytime,
    time: &'static mut time::Time,
    ntp: &'static mut NtpServer,
    upper: &'static mut upper::Upper,
    hello: &'static mut hello::Hello,
    chat: &'static mut MaybeUninit<Chat<CHAT_MEMBERS, CHAT_ROOMS>>,
    discovery: &'static mut MaybeUninit<Discovery>,
    sntp: &'static mut MaybeUninit<SntpClient>,
    stack: &'static mut MaybeUninit<Stack<'static>>,
}

/// The storage, once.
fn take_storage() -> Storage {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(!TAKEN.swap(true, Ordering::AcqRel), "storage taken twice");
    // SAFETY: these are the one and only references ever made to the
    // statics (checked just above), so each is unique for the rest of the
    // program.
    unsafe {
        Storage {
            nic: &mut *addr_of_mut!(NIC),
            sockets: &mut *addr_of_mut!(SOCKETS),
            neighbors: &mut *addr_of_mut!(NEIGHBORS),
            slots: &mut *addr_of_mut!(QUEUE_SLOTS),
            payloads: &mut *addr_of_mut!(PAYLOADS),
            echo: &mut *addr_of_mut!(ECHO),
            daytime: &mut *addr_of_mut!(DAYTIME),
            time: &mut *addr_of_mut!(TIME),
            ntp: &mut *addr_of_mut!(NTP),
            upper: &mut *addr_of_mut!(UPPER),
            hello: &mut *addr_of_mut!(HELLO),
            chat: &mut *addr_of_mut!(CHAT),
            discovery: &mut *addr_of_mut!(DISCOVERY),
            sntp: &mut *addr_of_mut!(SNTP),
            stack: &mut *addr_of_mut!(STACK),
        }
    }
}

#[entry]
fn main() -> ! {
    // First, before anything uses much stack: mark the free stack.
    let noise = memory::paint_stack();
    let Some(core) = cortex_m::Peripherals::take() else {
        panic!("core peripherals taken twice");
    };
    board::start_clock(core.SYST);
    uart::init();
    // A logger can only be set once; this is the only place.
    let _ = log::set_logger(&uart::LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    log::info!(
        "udpkit {} on mps2-an385: Cortex-M3 at {} MHz, LAN9118 Ethernet",
        env!("CARGO_PKG_VERSION"),
        board::SYSCLK_HZ / 1_000_000
    );

    let (mut board, stack) = start(noise);
    let stack_use = memory::stack_usage();
    log::info!(
        "ram: {} bytes static, stack {} of {} bytes used so far",
        memory::static_ram(),
        stack_use.used,
        stack_use.size
    );

    let mut clock = ClockWatch { set: false };
    loop {
        board.service_nic();
        let delay = stack.poll(&mut board);
        clock.check(stack);
        if board.take_console_event() {
            while let Some(byte) = uart::read_byte() {
                console_command(byte, stack, &board);
            }
        }
        board.sleep(delay);
    }
}

/// Brings the board and the stack up. A function of its own, kept out of
/// `main`, so that its big temporaries (the stack is built by value before
/// it moves into its static) are gone from the stack once it returns,
/// instead of staying in `main`'s frame for good.
#[inline(never)]
fn start(noise: u64) -> (An385, &'static mut Stack<'static>) {
    let config = Config::default();
    let Storage {
        nic,
        sockets,
        neighbors,
        slots,
        payloads,
        echo,
        daytime,
        time,
        ntp,
        upper,
        hello,
        chat,
        discovery,
        sntp,
        stack,
    } = take_storage();
    let mut board = match An385::start(nic, config.mac.0, noise) {
        Ok(board) => board,
        Err(error) => panic!("Ethernet controller: {error}"),
    };
    if let Err(error) = board.nic.accept_multicast(&ipv6_groups(&config)) {
        panic!("Ethernet controller: {error}");
    }

    let stack = stack.write(Stack::new(&config, &mut board, sockets, neighbors));
    let chat = chat.write(Chat::new(ChatLimits {
        max_members: CHAT_MEMBERS,
        max_rooms: CHAT_ROOMS,
        max_message: CHAT_MESSAGE,
        ..ChatLimits::default()
    }));
    // The servers; discovery and the SNTP client come after them.
    let services: [(&'static mut dyn Service, u16, _, &str); SERVICES - 2] = [
        (
            echo,
            echo::DEFAULT_PORT,
            queues(&mut slots.echo, &mut payloads.echo),
            "echo (RFC 862)",
        ),
        (
            daytime,
            daytime::DEFAULT_PORT,
            queues(&mut slots.daytime, &mut payloads.daytime),
            "daytime (RFC 867): silent until the clock is set",
        ),
        (
            time,
            time::DEFAULT_PORT,
            queues(&mut slots.time, &mut payloads.time),
            "time (RFC 868): silent until the clock is set",
        ),
        (
            ntp,
            ntp::DEFAULT_PORT,
            queues(&mut slots.ntp, &mut payloads.ntp),
            "NTP (RFC 5905): kiss-o'-death INIT until the clock is set",
        ),
        (
            upper,
            upper::DEFAULT_PORT,
            queues(&mut slots.upper, &mut payloads.upper),
            "upper case",
        ),
        (
            hello,
            hello::DEFAULT_PORT,
            queues(&mut slots.hello, &mut payloads.hello),
            "Hello NAME!",
        ),
        (
            chat,
            chat::DEFAULT_PORT,
            (
                PacketBuffer::new(&mut slots.chat_rx[..], &mut payloads.chat_rx[..]),
                PacketBuffer::new(&mut slots.chat_tx[..], &mut payloads.chat_tx[..]),
            ),
            "chat: /nick NAME to join, /help for more",
        ),
    ];
    // Lines to chat members that may be gone take a lane of their own.
    let mut chat_detour = Some((
        PacketBuffer::new(&mut [][..], &mut [][..]),
        PacketBuffer::new(&mut slots.chat_detour[..], &mut payloads.chat_detour[..]),
    ));
    for (service, port, queues, summary) in services {
        let name = service.name();
        let id = match stack.add_service(service, port, queues) {
            Ok(id) => id,
            Err(error) => panic!("cannot start {name}: {error}"),
        };
        if name == "chat" {
            if let Some(detour) = chat_detour.take() {
                if let Err(error) = stack.set_detour(id, detour) {
                    panic!("cannot start chat's detour: {error}");
                }
            }
        }
        log::info!(
            "{name:<8} udp {}:{port:<5}  {summary}",
            config.address.address()
        );
    }
    // Discovery after the servers: its directory is every service started
    // above, and itself (not the SNTP client, which serves nobody).
    let mut directory = [ServiceEntry {
        name: "discovery",
        port: discovery::DEFAULT_PORT,
    }; SERVICES];
    let mut started = 0;
    for ((service, port, _), entry) in stack.services().zip(directory.iter_mut()) {
        *entry = ServiceEntry {
            name: service.name(),
            port,
        };
        started += 1;
    }
    let repr = ReplyRepr {
        name: DEVICE_NAME,
        mac: Some(config.mac),
        addresses: &config.cidrs(),
        // The services started, and discovery itself after them.
        services: &directory[..(started + 1).min(SERVICES)],
    };
    let discovery = match Discovery::new(&repr) {
        Ok(service) => discovery.write(service.announce(2, discovery::DEFAULT_PORT)),
        Err(error) => panic!("cannot start discovery: {error}"),
    };
    let discovery_queues = queues(&mut slots.discovery, &mut payloads.discovery);
    if let Err(error) = stack.add_service(discovery, discovery::DEFAULT_PORT, discovery_queues) {
        panic!("cannot start discovery: {error}");
    }
    log::info!(
        "{:<8} udp {}:{:<5}  DISCOVER gets {DEVICE_NAME}'s addresses and services",
        "discovery",
        config.address.address(),
        discovery::DEFAULT_PORT
    );

    // The SNTP client: the wall clock of a board without one. Its request
    // nonces from a seed of their own, not smoltcp's.
    let seed = board::splitmix64(board.entropy_seed() ^ u64::from_le_bytes(*b"sntp\0\0\0\0"));
    let sntp = sntp.write(SntpClient::new(SntpConfig {
        server: SNTP_SERVER,
        interval: SNTP_INTERVAL,
        max_backoff: SNTP_MAX_BACKOFF,
        ..SntpConfig::new(SNTP_SERVER.addr, seed)
    }));
    let sntp_queues = queues(&mut slots.sntp, &mut payloads.sntp);
    if let Err(error) = stack.add_service(sntp, sntp::DEFAULT_LOCAL_PORT, sntp_queues) {
        panic!("cannot start the SNTP client: {error}");
    }
    log::info!(
        "{:<8} udp {}:{:<5}  the wall clock, from the NTP server {SNTP_SERVER}",
        "sntp",
        config.address.address(),
        sntp::DEFAULT_LOCAL_PORT
    );
    log::info!(
        "ready on lan9118 as {} (MAC {}): {} services, ping answered; \
         clock not set yet (SNTP); press s for a report",
        config.address,
        MacText(config.mac.0),
        SERVICES - 1
    );
    (board, stack)
}

/// The multicast MAC addresses IPv6 needs (RFC 2464): all-nodes
/// (33:33:00:00:00:01: router advertisements, ...) and the solicited-node
/// group of each of our IPv6 addresses (33:33:ff and its last three bytes),
/// where a neighbor asks for our MAC address. Without them the NIC's filter
/// drops every neighbor solicitation, and no IPv6 host can reach us.
fn ipv6_groups(config: &Config) -> [[u8; 6]; 3] {
    let mut groups = [[0x33, 0x33, 0, 0, 0, 0x01]; 3];
    let ours = [config.ipv6, config.ipv6_link_local];
    for (group, cidr) in groups[1..].iter_mut().zip(ours) {
        if let Some(cidr) = cidr {
            let [.., a, b, c] = cidr.address().octets();
            *group = [0x33, 0x33, 0xff, a, b, c];
        }
    }
    groups
}

/// The wall clock the stack uses: the SNTP client's, once it has synced
/// (the board has none of its own).
fn wall_clock(stack: &Stack<'_>) -> Option<(UnixTime, udpkit::ClockSource)> {
    let now = Instant::from_micros(board::monotonic_micros() as i64);
    stack
        .services()
        .find_map(|(service, _, _)| service.wall_clock(now))
}

/// Logs when the wall clock is set, and if it is ever lost (no good reply
/// for about 12 days: its error bound passed 16 s).
struct ClockWatch {
    set: bool,
}

impl ClockWatch {
    fn check(&mut self, stack: &Stack<'_>) {
        match (self.set, wall_clock(stack)) {
            (false, Some((wall, source))) => {
                self.set = true;
                log::info!(
                    "clock: set to {} by SNTP from {SNTP_SERVER}, stratum {} here: \
                     time, daytime and ntp answer",
                    DateText(wall),
                    source.stratum
                );
            }
            (true, None) => {
                self.set = false;
                log::warn!(
                    "clock: lost (no good reply from {SNTP_SERVER} for too long): \
                     time, daytime and ntp stop answering"
                );
            }
            _ => {}
        }
    }
}

/// A time as `2026-11-23 15:04:05 UTC`.
struct DateText(UnixTime);

impl core::fmt::Display for DateText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = self.0.to_civil();
        write!(
            f,
            "{}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )
    }
}

/// A MAC address as `02:00:00:00:00:01`, as the host prints it.
struct MacText([u8; 6]);

impl core::fmt::Display for MacText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

fn console_command(byte: u8, stack: &Stack<'_>, board: &An385) {
    match byte {
        b's' | b'S' => report(stack, board),
        b'p' | b'P' => panic!("panic requested on the console"),
        b'\r' | b'\n' | b' ' => {}
        _ => {
            let _ = writeln!(
                Console,
                "keys: s = report, p = panic (test the panic report)"
            );
        }
    }
}

/// The `s` report: every counter, and the memory use.
fn report(stack: &Stack<'_>, board: &An385) {
    let micros = board::monotonic_micros();
    let mut out = Console;
    let _ = writeln!(
        out,
        "--- report at {}.{:03} s ---",
        micros / 1_000_000,
        (micros / 1000) % 1000
    );
    for (service, port, s) in stack.services() {
        let _ = writeln!(
            out,
            "service {} port {port}: received {} sent {} refused {} discarded {} \
             (no-wall-clock {}) unroutable {} oversized {} send-failed {} stalls {}",
            service.name(),
            s.received,
            s.sent,
            s.refused_total(),
            s.discarded_total(),
            s.discarded[Discard::NoWallClock.index()],
            s.unroutable,
            s.oversized,
            s.send_failed,
            s.stall_resets
        );
        let mut first = true;
        service.counters(&mut |name, value| {
            let _ = write!(
                out,
                "{}{name} {value}",
                if first { "  counters: " } else { ", " }
            );
            first = false;
        });
        if !first {
            let _ = writeln!(out);
        }
    }
    let n = board.nic.stats();
    let _ = writeln!(
        out,
        "nic: rx {} frames {} bytes, bad {}, dropped {}; tx {} frames {} bytes, \
         failed {}, busy {}, dropped {}; interrupts {}, fifo errors {}, link events {}",
        n.rx_frames,
        n.rx_bytes,
        n.rx_errors_total(),
        n.rx_dropped,
        n.tx_frames,
        n.tx_bytes,
        n.tx_errors,
        n.tx_busy,
        n.tx_dropped,
        n.interrupts,
        n.fifo_errors,
        n.link_events
    );
    let neighbor = stack.neighbor_stats();
    let (known, capacity) = stack.neighbors();
    let _ = writeln!(
        out,
        "neighbors: {known} of {capacity}, taught {}, evicted {}, unresolved {}, resolutions {}, cache emptied {}, foreign {}",
        neighbor.taught,
        neighbor.evicted,
        neighbor.unresolved,
        neighbor.resolutions,
        neighbor.cache_flushes,
        neighbor.foreign
    );
    match wall_clock(stack) {
        Some((wall, source)) => {
            let _ = writeln!(
                out,
                "clock: {} (SNTP from {SNTP_SERVER}, stratum {})",
                DateText(wall),
                source.stratum
            );
        }
        None => {
            let _ = writeln!(out, "clock: not set (SNTP from {SNTP_SERVER})");
        }
    }
    let stack_use = memory::stack_usage();
    let _ = writeln!(
        out,
        "ram: {} bytes static; stack high-water {} of {} bytes",
        memory::static_ram(),
        stack_use.used,
        stack_use.size
    );
    let _ = writeln!(out, "--- end of report ---");
}
