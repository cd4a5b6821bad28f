//! The core's own ceiling: echo round trips per second on one core over an
//! in-memory device, no system calls, for the udpkit [`Stack`] and for a bare
//! smoltcp `Interface` with one UDP socket and the usual echo loop, on the
//! very same device, in the same run.
//!
//! ```text
//! cargo bench --bench core_echo                    # the figures (~8 s)
//! cargo bench --bench core_echo -- --all-services  # also: a Stack with all six services
//! cargo bench --bench core_echo -- --rounds 9 --secs 0.5 --json
//! cargo bench --bench core_echo -- --only udpkit   # one variant, e.g. under perf
//! cargo bench --bench core_echo -- --case 64x1      # one payload size x in flight
//! cargo bench --bench core_echo -- --hosts 100     # the requests from 100 hosts in turn
//! ```
//!
//! Instructions per echo, steadier than seconds on a busy machine:
//! `valgrind --tool=callgrind target/release/deps/core_echo-* --only udpkit --case 64x1`
//! runs the smoke check (2,048 echoes) of that case alone.
//!
//! Each round trip is an Ethernet frame carrying a UDP datagram to the echo
//! port, put on the device's receive ring, a poll, and the reply taken off
//! its transmit ring and checked (its payload byte for byte, every reply;
//! all headers and checksums, on the first of each measurement). "In flight"
//! is how many request frames wait on the ring per poll: 1 is ping-pong, 32
//! a burst. With `--hosts N` the requests come from N hosts (MAC and IP
//! addresses) in turn, each in both variants' neighbor cache (an ARP
//! request of each first), and every reply must go back to its own host:
//! what a room of machines costs the core, with no system call or kernel
//! in the figures. Each figure is the median [min..max] of several rounds, the
//! variants interleaved round by round. The ratio udpkit/smoltcp is the
//! median of each round's own ratio (the two variants measured back to
//! back), not the ratio of the medians: on a shared or virtual machine the
//! speed drifts from round to round, and a pair sees the same drift.
//!
//! Without `--bench` (as `cargo test` runs it) it is a smoke check: a few
//! thousand verified round trips per variant, no figures.

use std::time::{Duration, Instant as StdInstant, SystemTime, UNIX_EPOCH};

use udpkit::services::{chat, daytime, echo, hello, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::socket::udp::{self, PacketBuffer, PacketMetadata};
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, HardwareAddress, IpCidr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    UdpPacket, UdpRepr,
};
use udpkit::{Config, NeighborSlot, SocketBuffers, Stack, StackStorage, UnixTime, MAX_PAYLOAD};
use udpkit_testing::{MemoryBoard, MemoryDevice, MAX_FRAME};

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_PORT: u16 = 40000;
/// The most hosts `--hosts` takes: 192.168.69.100 to .253.
const MAX_HOSTS: usize = 154;
const ECHO_PORT: u16 = echo::DEFAULT_PORT;

/// Datagram slots of every socket queue, in both variants.
const SLOTS: usize = 64;
const ETH_IP_UDP: usize = 14 + 20 + 8;

// ---------------------------------------------------------------------------
// The in-memory device of every core test (udpkit-testing): two rings in
// preallocated buffers, so that neither variant pays for an allocation per
// frame.

type Device = MemoryDevice<Vec<u8>>;

/// Each ring has room for as many full-size frames as a socket queue has
/// datagram slots.
fn device() -> Device {
    let bytes = SLOTS * (MAX_FRAME + 4);
    MemoryDevice::new(vec![0; bytes], vec![0; bytes])
}

fn inject(device: &mut Device, frame: &[u8]) {
    device.rx.push(frame).expect("room on the receive ring");
}

/// The monotonic clock both variants read once per poll, as the host does.
fn now_since(epoch: StdInstant) -> Instant {
    Instant::from_micros(epoch.elapsed().as_micros() as i64)
}

/// The system's wall clock, as the Linux port reads it.
fn system_time() -> UnixTime {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is after 1970");
    UnixTime::new(since_epoch.as_secs(), since_epoch.subsec_nanos())
}

// ---------------------------------------------------------------------------
// Frames.

/// Host `i` of the requests: 02:00:00:00:00:(02 + i), 192.168.69.(100 + i).
#[derive(Clone, Copy)]
struct Peer {
    mac: EthernetAddress,
    ip: Ipv4Address,
}

fn peer(i: usize) -> Peer {
    assert!(i < MAX_HOSTS, "at most {MAX_HOSTS} hosts");
    Peer {
        mac: EthernetAddress([0x02, 0, 0, 0, 0, 0x02 + i as u8]),
        ip: Ipv4Address::new(192, 168, 69, 100 + i as u8),
    }
}

/// One request of each of `hosts` hosts, all with `payload`.
fn requests(hosts: usize, payload: &[u8]) -> Vec<Vec<u8>> {
    (0..hosts)
        .map(|i| request_frame(peer(i), payload))
        .collect()
}

/// An Ethernet frame with a UDP datagram from `peer` to our echo port.
fn request_frame(peer: Peer, payload: &[u8]) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    let udp = UdpRepr {
        src_port: PEER_PORT,
        dst_port: ECHO_PORT,
    };
    let ip = Ipv4Repr {
        src_addr: peer.ip,
        dst_addr: OUR_IP,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; 14 + ip.buffer_len() + ip.payload_len];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: peer.mac,
        dst_addr: OUR_MAC,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let mut packet = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut packet, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &peer.ip.into(),
        &OUR_IP.into(),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &caps,
    );
    frame
}

/// An ARP request from `peer` for our address: it puts the peer in the
/// neighbor cache of either variant.
fn arp_frame(peer: Peer) -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: peer.mac,
        source_protocol_addr: peer.ip,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: OUR_IP,
    };
    let mut frame = vec![0; 14 + arp.buffer_len()];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: peer.mac,
        dst_addr: EthernetAddress::BROADCAST,
        ethertype: EthernetProtocol::Arp,
    }
    .emit(&mut eth);
    arp.emit(&mut ArpPacket::new_unchecked(eth.payload_mut()));
    frame
}

/// The cheap check of every reply: its length, addresses, ports and payload
/// (back to the request's sender).
fn quick_check(reply: &[u8], request: &[u8]) -> bool {
    reply.len() == request.len()
        && bytes::<6>(reply, 0) == bytes::<6>(request, 6)
        && reply[12..14] == [0x08, 0x00]
        && reply[14 + 9] == 17
        && bytes::<4>(reply, 14 + 16) == bytes::<4>(request, 14 + 12)
        && reply[14 + 20..14 + 22] == ECHO_PORT.to_be_bytes()
        && reply[14 + 22..14 + 24] == PEER_PORT.to_be_bytes()
        && reply[ETH_IP_UDP..] == request[ETH_IP_UDP..]
}

/// The `N` bytes of `frame` at `at`, as an array: compared in a load or
/// two, where slices of a length known only at run time call `bcmp`.
fn bytes<const N: usize>(frame: &[u8], at: usize) -> [u8; N] {
    frame[at..at + N].try_into().expect("a frame this long")
}

/// The full check: every header parsed and every checksum verified, and
/// the reply addressed to the sender of `request`.
fn full_check(reply: &[u8], request: &[u8], payload: &[u8]) -> Result<(), String> {
    let caps = ChecksumCapabilities::default();
    // The sender's addresses, read as the quick check does: in a few
    // instructions (callgrind counts every reply's full check).
    let (sent_mac, sent_ip) = (
        EthernetAddress(bytes::<6>(request, 6)),
        Ipv4Address::from(bytes::<4>(request, 14 + 12)),
    );
    let eth = EthernetFrame::new_checked(reply).map_err(|e| format!("Ethernet: {e}"))?;
    if eth.dst_addr() != sent_mac || eth.src_addr() != OUR_MAC {
        return Err(format!("MACs {} -> {}", eth.src_addr(), eth.dst_addr()));
    }
    let packet = Ipv4Packet::new_checked(eth.payload()).map_err(|e| format!("IPv4: {e}"))?;
    let ip = Ipv4Repr::parse(&packet, &caps).map_err(|e| format!("IPv4: {e}"))?;
    if ip.src_addr != OUR_IP || ip.dst_addr != sent_ip {
        return Err(format!("IP {} -> {}", ip.src_addr, ip.dst_addr));
    }
    let udp = UdpPacket::new_checked(packet.payload()).map_err(|e| format!("UDP: {e}"))?;
    let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps)
        .map_err(|e| format!("UDP: {e}"))?;
    if (repr.src_port, repr.dst_port) != (ECHO_PORT, PEER_PORT) {
        return Err(format!("ports {} -> {}", repr.src_port, repr.dst_port));
    }
    if udp.payload() != payload {
        return Err("the payload came back altered".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The variants.

trait Echoer {
    fn name(&self) -> &'static str;
    fn device(&mut self) -> &mut Device;
    /// One poll: whatever the device holds in, the replies out.
    fn poll(&mut self);
}

fn leak<T>(value: T) -> &'static mut T {
    Box::leak(Box::new(value))
}

type Buffers = SocketBuffers<SLOTS, { SLOTS * MAX_PAYLOAD }>;

/// udpkit's [`Stack`] with echo (and, with `all`, the five other services
/// `udpkit serve` runs by default).
struct UdpkitEcho {
    stack: Stack<'static>,
    board: MemoryBoard<Vec<u8>>,
    epoch: StdInstant,
    name: &'static str,
}

impl UdpkitEcho {
    fn new(all: bool) -> UdpkitEcho {
        let epoch = StdInstant::now();
        // The monotonic clock is set before each poll, as the bare variant
        // reads it; the wall clock runs on from the system's at the start.
        let mut board = MemoryBoard::new(device(), now_since(epoch));
        board.wall = Some(system_time());
        board.wall_running_since = Some(board.now);
        // IPv4 only, like the bare interface: the same work for both.
        let config = Config {
            mac: OUR_MAC,
            address: udpkit::smoltcp::wire::Ipv4Cidr::new(OUR_IP, 24),
            gateway: None,
            ipv6: None,
            ipv6_link_local: None,
        };
        // As many socket slots as sockets, as a port sizes them (smoltcp
        // walks every slot on each poll): one for echo alone, as bare
        // smoltcp has, six with every service.
        let slots = if all { 6 } else { 1 };
        let sockets = Vec::leak((0..slots).map(|_| SocketStorage::EMPTY).collect());
        // The host's table (host/src/serve/tap.rs): batches as large as its.
        let neighbors = leak([NeighborSlot::EMPTY; 512]);
        let mut stack = Stack::new(
            &config,
            &mut board,
            sockets,
            &mut neighbors[..],
            leak(StackStorage::new()),
        );
        stack
            .add_service(leak(echo::Echo), ECHO_PORT, leak(Buffers::new()).queues())
            .expect("echo");
        if all {
            let services: [(&'static mut dyn udpkit::Service, u16); 5] = [
                (leak(daytime::Daytime), daytime::DEFAULT_PORT),
                (leak(time::Time), time::DEFAULT_PORT),
                (leak(upper::Upper), upper::DEFAULT_PORT),
                (leak(hello::Hello), hello::DEFAULT_PORT),
                (
                    leak(chat::Chat::<64, 16>::new(chat::ChatLimits::default())),
                    chat::DEFAULT_PORT,
                ),
            ];
            for (service, port) in services {
                stack
                    .add_service(service, port, leak(Buffers::new()).queues())
                    .expect("service");
            }
        }
        UdpkitEcho {
            stack,
            board,
            epoch,
            name: if all {
                "udpkit Stack, 6 services"
            } else {
                "udpkit Stack"
            },
        }
    }
}

impl Echoer for UdpkitEcho {
    fn name(&self) -> &'static str {
        self.name
    }

    fn device(&mut self) -> &mut Device {
        &mut self.board.device
    }

    fn poll(&mut self) {
        self.board.now = now_since(self.epoch);
        let _ = self.stack.poll(&mut self.board);
    }
}

/// smoltcp alone: an interface, one UDP socket on the echo port, and the
/// loop every smoltcp echo server has: poll, echo every queued datagram,
/// poll again to send, and ask how long it may sleep.
struct BareEcho {
    iface: Interface,
    sockets: SocketSet<'static>,
    handle: SocketHandle,
    device: Device,
    epoch: StdInstant,
    buffer: Vec<u8>,
}

impl BareEcho {
    fn new() -> BareEcho {
        let mut device = device();
        let epoch = StdInstant::now();
        let mut config = IfaceConfig::new(HardwareAddress::Ethernet(OUR_MAC));
        config.random_seed = 0x5eed;
        let mut iface = Interface::new(config, &mut device, now_since(epoch));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(OUR_IP.into(), 24));
        });
        let queue = || {
            PacketBuffer::new(
                vec![PacketMetadata::EMPTY; SLOTS].leak(),
                vec![0u8; SLOTS * MAX_PAYLOAD].leak(),
            )
        };
        let mut socket = udp::Socket::new(queue(), queue());
        socket.bind(ECHO_PORT).expect("bind");
        let mut sockets = SocketSet::new(&mut leak([SocketStorage::EMPTY; 1])[..]);
        let handle = sockets.add(socket);
        BareEcho {
            iface,
            sockets,
            handle,
            device,
            epoch,
            buffer: vec![0; MAX_PAYLOAD],
        }
    }
}

impl Echoer for BareEcho {
    fn name(&self) -> &'static str {
        "bare smoltcp"
    }

    fn device(&mut self) -> &mut Device {
        &mut self.device
    }

    fn poll(&mut self) {
        let now = now_since(self.epoch);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        let socket = self.sockets.get_mut::<udp::Socket>(self.handle);
        while let Ok((len, meta)) = socket.recv_slice(&mut self.buffer) {
            let _ = socket.send_slice(&self.buffer[..len], meta);
        }
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        let _ = self.iface.poll_delay(now, &self.sockets);
    }
}

// ---------------------------------------------------------------------------
// Measuring.

/// Puts the peers in the neighbor cache and checks one echo of each in full.
fn warm_up(e: &mut dyn Echoer, requests: &[Vec<u8>], payload: &[u8]) {
    for (i, request) in requests.iter().enumerate() {
        inject(e.device(), &arp_frame(peer(i)));
        e.poll();
        while e.device().tx.pop().is_some() {}
        inject(e.device(), request);
        e.poll();
        let reply = e.device().tx.pop().map(<[u8]>::to_vec);
        match reply {
            Some(reply) => {
                if let Err(problem) = full_check(&reply, request, payload) {
                    panic!("{}: bad reply to host {i}: {problem}", e.name());
                }
            }
            None => panic!("{}: no reply to host {i}'s first request", e.name()),
        }
        while e.device().tx.pop().is_some() {}
    }
    // Twice more every host, so that the measurement sees the steady state:
    // udpkit counts each ARP request as an entry smoltcp's cache may have
    // gained, and after many hosts' it empties the cache and teaches them
    // all again (see `udpkit::neighbor`), once.
    for _ in 0..2 {
        for request in requests {
            inject(e.device(), request);
            e.poll();
            let reply = e.device().tx.pop();
            assert!(
                reply.is_some_and(|reply| quick_check(reply, request)),
                "{}: no reply or a bad one in the warm-up",
                e.name()
            );
            while e.device().tx.pop().is_some() {}
        }
    }
}

/// Round trips per second for `limit`, or for `trips` round trips, the
/// requests taking turns, after a [`warm_up`]. Never inlined: callgrind
/// counts its instructions (the module's doc).
#[inline(never)]
fn measure(
    e: &mut dyn Echoer,
    requests: &[Vec<u8>],
    payload: &[u8],
    in_flight: usize,
    limit: Duration,
    trips: Option<u64>,
) -> f64 {
    let name = e.name();
    let mut done = 0u64;
    let mut first = true;
    let cpu_start = thread_cpu_time();
    let mut iterations = 0u64;
    // The next request to send, and the one the next reply answers.
    let (mut next, mut answered) = (0, 0);
    loop {
        for _ in 0..in_flight {
            inject(e.device(), &requests[next]);
            next = following(next, requests.len());
        }
        e.poll();
        let mut got = 0;
        while let Some(reply) = e.device().tx.pop() {
            let request = &requests[answered];
            answered = following(answered, requests.len());
            if first || trips.is_some() {
                if let Err(problem) = full_check(reply, request, payload) {
                    panic!("{}: bad reply: {problem}", name);
                }
                first = false;
            } else if !quick_check(reply, request) {
                panic!("{}: bad reply ({} bytes)", name, reply.len());
            }
            got += 1;
        }
        assert_eq!(
            got, in_flight,
            "{}: {in_flight} requests, {got} replies",
            name
        );
        assert_eq!(e.device().tx_dropped, 0, "{}: transmit ring overflow", name);
        done += got as u64;
        iterations += 1;
        match trips {
            Some(n) if done >= n => break,
            Some(_) => {}
            None if iterations % 64 == 0 && thread_cpu_time() - cpu_start >= limit => break,
            None => {}
        }
    }
    done as f64 / (thread_cpu_time() - cpu_start).as_secs_f64()
}

/// The request after `i` of `n`, round: no division, whose cost (tens of
/// cycles) would add to both variants alike and flatter their ratio.
fn following(i: usize, n: usize) -> usize {
    if i + 1 >= n {
        0
    } else {
        i + 1
    }
}

/// The CPU time this thread has used. The loop makes no system call and
/// never waits, so on an idle machine it is the wall time; on a busy one it
/// leaves out the time other processes had the core (the cost they add to
/// caches remains, for both variants alike: their rounds interleave).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is, and
    // CLOCK_THREAD_CPUTIME_ID exists on every Linux this runs on.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

fn median(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

fn mega(x: f64) -> String {
    format!("{:.2}M", x / 1e6)
}

struct Options {
    bench: bool,
    rounds: usize,
    secs: f64,
    all: bool,
    json: bool,
    /// Only the variants whose name starts with this.
    only: Option<String>,
    /// Only this (payload size, in flight).
    case: Option<(usize, usize)>,
    /// The requests come from this many hosts in turn.
    hosts: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Options {
        bench: args.iter().any(|a| a == "--bench"),
        rounds: 5,
        secs: 0.2,
        all: args.iter().any(|a| a == "--all-services"),
        json: args.iter().any(|a| a == "--json"),
        only: None,
        case: None,
        hosts: 1,
    };
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let Some(r) = value("--rounds").and_then(|v| v.parse().ok()) {
        o.rounds = r;
    }
    if let Some(s) = value("--secs").and_then(|v| v.parse().ok()) {
        o.secs = s;
    }
    o.only = value("--only");
    o.case = value("--case").map(|case| {
        case.split_once('x')
            .and_then(|(size, in_flight)| Some((size.parse().ok()?, in_flight.parse().ok()?)))
            .unwrap_or_else(|| panic!("--case {case}: expected SIZExIN_FLIGHT, e.g. 64x1"))
    });
    if let Some(hosts) = value("--hosts") {
        o.hosts = hosts
            .parse()
            .ok()
            .filter(|h| (1..=MAX_HOSTS).contains(h))
            .unwrap_or_else(|| panic!("--hosts {hosts}: expected 1 to {MAX_HOSTS}"));
    }
    if args.iter().any(|a| a == "--quick") {
        o.rounds = 3;
        o.secs = 0.05;
    }
    o.rounds = o.rounds.max(1);
    o
}

fn main() {
    let o = options();
    let mut configs = vec![(64usize, 1usize), (64, 32), (1024, 1), (1024, 32)];
    if let Some(case) = o.case {
        configs = vec![case];
    }
    let mut variants: Vec<Box<dyn Echoer>> =
        vec![Box::new(UdpkitEcho::new(false)), Box::new(BareEcho::new())];
    if o.all {
        variants.push(Box::new(UdpkitEcho::new(true)));
    }
    if let Some(only) = &o.only {
        variants.retain(|v| v.name().starts_with(only.as_str()));
        assert!(!variants.is_empty(), "--only {only}: no such variant");
    }
    // The ratio of udpkit's Stack (echo only) to bare smoltcp, when both run.
    let pair = (
        variants.iter().position(|v| v.name() == "udpkit Stack"),
        variants.iter().position(|v| v.name() == "bare smoltcp"),
    );

    if !o.bench {
        // Smoke check (cargo test): every variant echoes correctly, from one
        // host and from a room of 100; with --case or --hosts, that one case
        // alone (under callgrind: its instructions per echo).
        let smoke_hosts = match (o.case, o.hosts) {
            (None, 1) => vec![1, 100],
            (_, hosts) => vec![hosts],
        };
        for &(size, in_flight) in &configs {
            let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 1) as u8).collect();
            for &hosts in &smoke_hosts {
                let requests = requests(hosts, &payload);
                for v in &mut variants {
                    warm_up(v.as_mut(), &requests, &payload);
                    measure(
                        v.as_mut(),
                        &requests,
                        &payload,
                        in_flight,
                        Duration::ZERO,
                        Some(2048),
                    );
                }
            }
        }
        println!(
            "core_echo: smoke check passed, every variant echoed every frame \
             (figures: cargo bench --bench core_echo)"
        );
        return;
    }

    let limit = Duration::from_secs_f64(o.secs);
    println!(
        "core echo over an in-memory device (no system calls), one core: round trips/s, \
         median [min..max] of {} rounds of {:.2} s, variants interleaved; the ratio is \
         the median of the rounds' own{}",
        o.rounds,
        o.secs,
        if o.hosts > 1 {
            format!("; the requests from {} hosts in turn", o.hosts)
        } else {
            String::new()
        }
    );
    let mut header = format!("{:<8} {:>9}", "payload", "in flight");
    for v in &variants {
        let _ = std::fmt::Write::write_fmt(&mut header, format_args!("  {:>26}", v.name()));
    }
    if let (Some(_), Some(_)) = pair {
        header.push_str("  udpkit/smoltcp");
    }
    if !o.json {
        println!("{header}");
    }
    let mut json_rows = Vec::new();
    for &(size, in_flight) in &configs {
        let payload: Vec<u8> = (0..size).map(|i| (i * 7 + 1) as u8).collect();
        let requests = requests(o.hosts, &payload);
        let mut rates = vec![Vec::new(); variants.len()];
        for round in 0..o.rounds {
            // Alternate who goes first, so that neither always runs warm.
            for k in 0..variants.len() {
                let i = (k + round) % variants.len();
                warm_up(variants[i].as_mut(), &requests, &payload);
                let rate = measure(
                    variants[i].as_mut(),
                    &requests,
                    &payload,
                    in_flight,
                    limit,
                    None,
                );
                rates[i].push(rate);
            }
        }
        let ratio = match pair {
            (Some(u), Some(b)) => {
                let mut ratios: Vec<f64> =
                    rates[u].iter().zip(&rates[b]).map(|(u, b)| u / b).collect();
                Some(median(&mut ratios).0)
            }
            _ => None,
        };
        let stats: Vec<(f64, f64, f64)> = rates.iter_mut().map(|r| median(r)).collect();
        if o.json {
            let figures: Vec<String> = variants
                .iter()
                .zip(&stats)
                .map(|(v, s)| {
                    format!(
                        "{{\"variant\":\"{}\",\"median\":{:.0},\"min\":{:.0},\"max\":{:.0}}}",
                        v.name(),
                        s.0,
                        s.1,
                        s.2
                    )
                })
                .collect();
            json_rows.push(format!(
                "{{\"payload\":{size},\"in_flight\":{in_flight},\"hosts\":{},\"round_trips_per_s\":[{}],\"udpkit_over_smoltcp\":{}}}",
                o.hosts,
                figures.join(","),
                ratio.map_or("null".to_string(), |r| format!("{r:.4}"))
            ));
        } else {
            let mut line = format!("{:<8} {:>9}", format!("{size} B"), in_flight);
            for s in &stats {
                let cell = format!("{} [{}..{}]", mega(s.0), mega(s.1), mega(s.2));
                let _ = std::fmt::Write::write_fmt(&mut line, format_args!("  {cell:>26}"));
            }
            if let Some(ratio) = ratio {
                let _ = std::fmt::Write::write_fmt(&mut line, format_args!("  {ratio:>15.2}"));
            }
            println!("{line}");
        }
    }
    if o.json {
        println!(
            "{{\"rounds\":{},\"secs\":{},\"rows\":[{}]}}",
            o.rounds,
            o.secs,
            json_rows.join(",")
        );
    } else {
        if let (Some(_), Some(_)) = pair {
            println!("target: udpkit/smoltcp >= 0.90");
        }
    }
}
