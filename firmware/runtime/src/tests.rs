//! The runtime on the host, on the core's in-memory board: the start-up
//! from the catalog, discovery's directory, a datagram answered, the SNTP
//! start-up setting the clock, and the console, all through the loop's
//! [`turn`] as a board runs it. Frames are built and parsed with
//! `smoltcp::wire`; nothing touches a real network.
//!
//! The storage can be taken once per process, so one test drives the whole
//! start-up; the pure helpers have tests of their own.

use std::collections::VecDeque;
use std::string::String;
use std::vec::Vec;

use udpkit::catalog::CATALOG;
use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpAddress, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use udpkit::wire::discovery::{Field, ReplyPacket, ServiceEntry};
use udpkit::wire::ntp::{Leap, Mode, NtpShort, NtpTimestamp};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::{Board, Config, UnixTime};
use udpkit_testing::{MemoryBoard, MemoryDevice};

use super::*;
use crate::console::ClockWatch;
use crate::storage::{StackStorage, Storage};

std::thread_local! {
    /// What the test board's console printed from this test's thread (the
    /// log included, which is written where it is logged): each test reads
    /// its own, untouched by the others running beside them, which a
    /// console shared by all once broke in the middle of a line.
    static THREAD_CONSOLE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// What `write` prints through [`Text`] on the test board.
fn text_of(write: impl FnOnce(Text<TestBoard>) -> Text<TestBoard>) -> String {
    THREAD_CONSOLE.with(|c| c.borrow_mut().clear());
    write(Text::new());
    THREAD_CONSOLE.with(|c| c.borrow().clone())
}

/// Everything this thread printed on the test board's console.
fn console_text() -> String {
    THREAD_CONSOLE.with(|c| c.borrow().clone())
}

/// The console's text after byte `from`.
fn console_since(from: usize) -> String {
    console_text().get(from..).unwrap_or("").to_string()
}

/// The core's in-memory board as a [`Platform`], recording what the loop
/// asks of it.
struct TestBoard {
    memory: MemoryBoard<Vec<u8>>,
    keys: VecDeque<u8>,
    events_handled: usize,
    slept_until: Vec<Option<Instant>>,
}

impl Board for TestBoard {
    type Device = MemoryDevice<Vec<u8>>;

    fn device(&mut self) -> &mut Self::Device {
        self.memory.device()
    }

    fn now(&mut self) -> Instant {
        self.memory.now()
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        self.memory.wall_clock()
    }

    fn entropy_seed(&mut self) -> u64 {
        self.memory.entropy_seed()
    }
}

impl Platform for TestBoard {
    const NAME: &'static str = "test-board";
    const NIC: &'static str = "memory";
    const DESCRIPTION: &'static str = "the core's in-memory device";

    fn console_write(text: &str) {
        THREAD_CONSOLE.with(|c| c.borrow_mut().push_str(text));
    }

    fn uptime_micros() -> u64 {
        0
    }

    fn memory_use() -> MemoryUse {
        MemoryUse {
            static_ram: 100,
            stack_used: 20,
            stack_size: 30,
        }
    }

    fn handle_events(&mut self) {
        self.events_handled += 1;
    }

    fn console_key(&mut self) -> Option<u8> {
        self.keys.pop_front()
    }

    fn sleep_until(&mut self, deadline: Option<Instant>) {
        self.slept_until.push(deadline);
    }

    fn report(&mut self, out: &mut dyn core::fmt::Write) {
        let _ = writeln!(
            out,
            "nic: memory, {} frames waiting",
            self.memory.device.rx.len()
        );
    }
}

const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x64]);
const NTP_PORT: u16 = 123;
/// 2027-01-15 08:00:00 UTC.
const TRUE_TIME: UnixTime = UnixTime::from_secs(1_800_000_000);

fn caps() -> ChecksumCapabilities {
    ChecksumCapabilities::default()
}

/// The peer: the SNTP server of this build (192.168.69.100 unless
/// `UDPKIT_SNTP_SERVER` said otherwise), which also sends the test's
/// requests.
fn peer_ip() -> Ipv4Address {
    match SNTP_SERVER.addr {
        IpAddress::Ipv4(ip) => ip,
        other => panic!("this test needs an IPv4 SNTP server, and this build has {other}"),
    }
}

/// A UDP datagram from the peer to us in an Ethernet frame.
fn udp_to_us(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr { src_port, dst_port };
    let ip = Ipv4Repr {
        src_addr: peer_ip(),
        dst_addr: OUR_IP,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let eth = EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype: EthernetProtocol::Ipv4,
    };
    let mut frame = vec![0; eth.buffer_len() + ip.buffer_len() + ip.payload_len];
    let mut eth_frame = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut eth_frame);
    let mut packet = Ipv4Packet::new_unchecked(eth_frame.payload_mut());
    ip.emit(&mut packet, &caps());
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &peer_ip().into(),
        &OUR_IP.into(),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &caps(),
    );
    frame
}

/// The peer's answer to an ARP request for it.
fn arp_reply() -> Vec<u8> {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Reply,
        source_hardware_addr: PEER_MAC,
        source_protocol_addr: peer_ip(),
        target_hardware_addr: OUR_MAC,
        target_protocol_addr: OUR_IP,
    };
    let eth = EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype: EthernetProtocol::Arp,
    };
    let mut frame = vec![0; eth.buffer_len() + arp.buffer_len()];
    let mut eth_frame = EthernetFrame::new_unchecked(&mut frame[..]);
    eth.emit(&mut eth_frame);
    arp.emit(&mut ArpPacket::new_unchecked(eth_frame.payload_mut()));
    frame
}

/// A UDP datagram we sent: destination, source port, payload.
#[derive(Debug)]
struct Sent {
    to: (Ipv4Address, u16),
    from_port: u16,
    payload: Vec<u8>,
}

/// Takes what the stack sent: its UDP datagrams (checksums verified), and
/// whether it asked ARP for the peer.
fn take_sent(board: &mut TestBoard) -> (Vec<Sent>, bool) {
    assert_eq!(board.memory.device.tx_dropped, 0, "frames lost");
    let mut datagrams = Vec::new();
    let mut asked_arp = false;
    for frame in board.memory.device.tx.iter() {
        let eth_frame = EthernetFrame::new_checked(frame).expect("an Ethernet frame");
        assert_eq!(eth_frame.src_addr(), OUR_MAC);
        match eth_frame.ethertype() {
            EthernetProtocol::Arp => {
                let packet = ArpPacket::new_checked(eth_frame.payload()).expect("ARP");
                if let Ok(ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Request,
                    target_protocol_addr,
                    ..
                }) = ArpRepr::parse(&packet)
                {
                    asked_arp |= target_protocol_addr == peer_ip();
                }
            }
            EthernetProtocol::Ipv4 => {
                let packet = Ipv4Packet::new_checked(eth_frame.payload()).expect("IPv4");
                let ip = Ipv4Repr::parse(&packet, &caps()).expect("a valid IPv4 header");
                if ip.next_header != IpProtocol::Udp {
                    continue;
                }
                let udp = UdpPacket::new_checked(packet.payload()).expect("UDP");
                let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps())
                    .expect("a valid UDP checksum");
                assert_eq!(ip.src_addr, OUR_IP);
                datagrams.push(Sent {
                    to: (ip.dst_addr, repr.dst_port),
                    from_port: repr.src_port,
                    payload: udp.payload().to_vec(),
                });
            }
            _ => {}
        }
    }
    board.memory.device.tx.clear();
    (datagrams, asked_arp)
}

#[test]
fn the_catalog_starts_and_the_loop_serves_it() {
    start_logging::<TestBoard>();
    let device = MemoryDevice::new(vec![0; 1 << 16], vec![0; 1 << 16]);
    let mut board = TestBoard {
        memory: MemoryBoard::new(device, Instant::from_secs(0)),
        keys: VecDeque::new(),
        events_handled: 0,
        slept_until: Vec::new(),
    };
    let config = Config::default();
    let stack = services::start(&mut board, &config);

    // Every service of the catalog on its default port, in the catalog's
    // order, then the SNTP client.
    let started: Vec<(&str, u16)> = stack
        .services()
        .map(|(service, port, _)| (service.name(), port))
        .collect();
    let mut expected: Vec<(&str, u16)> = CATALOG
        .iter()
        .map(|info| (info.name, info.default_port))
        .collect();
    expected.push(("sntp", udpkit::sntp::DEFAULT_LOCAL_PORT));
    assert_eq!(started, expected);
    // The storage is handed out once.
    // (The panics are expected: their messages are kept off the output.)
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let second_takes = [
        std::panic::catch_unwind(StackStorage::take).is_err(),
        std::panic::catch_unwind(Storage::take).is_err(),
    ];
    std::panic::set_hook(hook);
    assert_eq!(second_takes, [true, true], "a second take panics");

    // The boot log: the banner, a line per service with its summary, the
    // SNTP server, and the ready line.
    let boot = console_text();
    assert!(
        boot.contains("udpkit 0.1.0 on test-board: the core's in-memory device"),
        "{boot}"
    );
    for info in CATALOG {
        let line = format!("{:<8} udp 192.168.69.1:{:<5}", info.name, info.default_port);
        assert!(
            boot.lines()
                .any(|l| l.contains(&line) && l.contains(info.summary)),
            "no {line:?} with its summary in\n{boot}"
        );
    }
    assert!(
        boot.contains(&format!(
            "the wall clock, from the NTP server {SNTP_SERVER}"
        )),
        "{boot}"
    );
    let ready = format!(
        "ready on memory as 192.168.69.1/24 (MAC 02:00:00:00:00:01): {} services, ping answered",
        CATALOG.len()
    );
    assert!(boot.contains(&ready), "{boot}");

    // The first turn: the board's events acknowledged, discovery announces
    // the directory to the subnet's broadcast address, the SNTP client
    // asks ARP for its server, and the loop sleeps until the next deadline.
    let mut clock = ClockWatch::new();
    turn(&mut board, stack, &mut clock);
    assert_eq!(board.events_handled, 1);
    let deadline = board.slept_until.last().copied().flatten();
    assert!(
        deadline.is_some_and(|d| d > board.memory.now && d <= board.memory.now + Duration::from_secs(1)),
        "the next announcement is due within a second: {deadline:?}"
    );
    let (sent, asked_arp) = take_sent(&mut board);
    assert!(asked_arp, "the SNTP client's server resolved");
    let announcement = sent
        .iter()
        .find(|d| d.to == (Ipv4Address::new(192, 168, 69, 255), 5550))
        .unwrap_or_else(|| panic!("no announcement in {sent:?}"));
    assert_eq!(announcement.from_port, 5550);
    let reply = ReplyPacket::new_checked(&announcement.payload).expect("a discovery reply");
    assert_eq!(reply.name(), Some("test-board"));
    let listed: Vec<ServiceEntry<'_>> = reply
        .fields()
        .filter_map(|field| match field {
            Field::Service(entry) => Some(entry),
            _ => None,
        })
        .collect();
    let catalog: Vec<ServiceEntry<'_>> = CATALOG
        .iter()
        .map(|info| ServiceEntry {
            name: info.name,
            port: info.default_port,
        })
        .collect();
    assert_eq!(listed, catalog, "the directory is the catalog");
    assert!(reply.fields().any(|f| f == Field::Mac(OUR_MAC)));

    // The server answers ARP: the SNTP request goes out.
    board.memory.device.rx.push(&arp_reply()).expect("room");
    board.memory.now += Duration::from_millis(1);
    turn(&mut board, stack, &mut clock);
    let (sent, _) = take_sent(&mut board);
    let request = sent
        .iter()
        .find(|d| d.to == (peer_ip(), SNTP_SERVER.port))
        .unwrap_or_else(|| panic!("no SNTP request in {sent:?}"));
    assert_eq!(request.from_port, udpkit::sntp::DEFAULT_LOCAL_PORT);
    let request = NtpRepr::parse(&NtpPacket::new_checked(&request.payload[..]).expect("NTP"))
        .expect("an NTP request");
    assert_eq!(request.mode, Mode::Client);

    // Echo, through the loop.
    board
        .memory
        .device
        .rx
        .push(&udp_to_us(40000, 7, b"hello runtime"))
        .expect("room");
    turn(&mut board, stack, &mut clock);
    let (sent, _) = take_sent(&mut board);
    assert!(
        sent.iter().any(|d| d.to == (peer_ip(), 40000)
            && d.from_port == 7
            && d.payload == b"hello runtime"),
        "no echo in {sent:?}"
    );

    // The server's reply sets the wall clock, and the loop logs it.
    let now = NtpTimestamp::from_unix(TRUE_TIME);
    let reply = NtpRepr {
        leap: Leap::NoWarning,
        version: 4,
        mode: Mode::Server,
        stratum: 2,
        poll: request.poll,
        precision: -20,
        root_delay: NtpShort::from_duration(Duration::from_millis(10)),
        root_dispersion: NtpShort::from_duration(Duration::from_millis(5)),
        reference_id: [192, 168, 69, 7],
        reference_timestamp: now,
        origin_timestamp: request.transmit_timestamp,
        receive_timestamp: now,
        transmit_timestamp: now,
    };
    let mut payload = [0u8; 48];
    reply.emit(&mut NtpPacket::new_unchecked(&mut payload[..]));
    board
        .memory
        .device
        .rx
        .push(&udp_to_us(
            NTP_PORT,
            udpkit::sntp::DEFAULT_LOCAL_PORT,
            &payload,
        ))
        .expect("room");
    let from = console_text().len();
    turn(&mut board, stack, &mut clock);
    let synced = console_since(from);
    assert!(
        synced.contains(&format!(
            "clock: set to 2027-01-15 08:00:00 UTC by SNTP from {SNTP_SERVER}, stratum 3 here"
        )),
        "{synced}"
    );

    // Console keys: `s` prints the report, with the board's own line.
    let from = console_text().len();
    board.keys.extend(*b"s?");
    turn(&mut board, stack, &mut clock);
    let report = console_since(from);
    for line in [
        "--- report at 0.000 s ---",
        "service echo port 7: received 1 sent 1 refused 0",
        "service sntp port 1123: received 1 sent 1",
        "nic: memory, 0 frames waiting",
        "neighbors: 1 of 24",
        "clock: 2027-01-15 08:00:00 UTC (SNTP from",
        "ram: 100 bytes static; stack high-water 20 of 30 bytes",
        "--- end of report ---",
        "keys: s = report, p = panic",
    ] {
        assert!(report.contains(line), "no {line:?} in\n{report}");
    }
    for info in CATALOG {
        let line = format!("service {} port {}:", info.name, info.default_port);
        assert!(report.contains(&line), "no {line:?} in\n{report}");
    }
    assert!(board.keys.is_empty());
}

#[cfg(feature = "ipv6")]
#[test]
fn ipv6_groups_are_all_nodes_and_each_addresss_solicited_node_group() {
    let config = Config::default();
    assert_eq!(
        ipv6_multicast_groups(&config),
        [
            [0x33, 0x33, 0, 0, 0, 0x01],
            [0x33, 0x33, 0xff, 0, 0, 0x01],
            [0x33, 0x33, 0xff, 0, 0, 0x01],
        ]
    );
    let ipv4_only = Config {
        ipv6: None,
        ipv6_link_local: None,
        ..config
    };
    assert_eq!(
        ipv6_multicast_groups(&ipv4_only),
        [[0x33, 0x33, 0, 0, 0, 0x01]; 3]
    );
}

#[test]
fn splitmix64_spreads_every_bit() {
    // One bit in flips about half of the output's bits, every time.
    for bit in 0..64 {
        let flipped = (splitmix64(0) ^ splitmix64(1 << bit)).count_ones();
        assert!((16..=48).contains(&flipped), "bit {bit}: {flipped}");
    }
}

/// The fake clock of the transmitter test, moved by its `has_room`.
static FAKE_MICROS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn fake_micros() -> u64 {
    FAKE_MICROS.load(std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn a_uart_is_waited_for_by_the_clock_and_a_dead_one_only_once() {
    use crate::console::{wait_for_transmitter, TRANSMIT_PATIENCE_MICROS};
    use std::sync::atomic::Ordering;
    let tick = |micros: u64| {
        FAKE_MICROS.fetch_add(micros, Ordering::Relaxed);
    };
    // Busy for 30 ms of the clock (however many reads that takes): waited.
    let start = fake_micros();
    let mut reads = 0;
    wait_for_transmitter(
        || {
            reads += 1;
            tick(10);
            fake_micros() - start >= 30_000
        },
        fake_micros,
    );
    assert!(fake_micros() - start >= 30_000 && reads > 100);
    // Never ready: given up after the patience, once...
    let start = fake_micros();
    wait_for_transmitter(
        || {
            tick(10);
            false
        },
        fake_micros,
    );
    let waited = fake_micros() - start;
    assert!((TRANSMIT_PATIENCE_MICROS..TRANSMIT_PATIENCE_MICROS + 100).contains(&waited));
    // ... and not again while it stays stuck: one look, no wait.
    let mut looks = 0;
    wait_for_transmitter(
        || {
            looks += 1;
            false
        },
        fake_micros,
    );
    assert_eq!(looks, 1);
    // Room again: waited for as before.
    wait_for_transmitter(|| true, fake_micros);
    let start = fake_micros();
    wait_for_transmitter(
        || {
            tick(10);
            fake_micros() - start >= 1_000
        },
        fake_micros,
    );
    assert!(fake_micros() - start >= 1_000);
}

#[test]
fn plain_text_numbers_are_what_core_fmt_writes() {
    let mut numbers = vec![0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX];
    numbers.extend((0..64).map(|bit| 1u64 << bit));
    numbers.extend((1..20).map(|digits| 10u64.pow(digits) - 1));
    for n in numbers {
        assert_eq!(text_of(|t| t.number(n)), format!("{n}"));
        assert_eq!(text_of(|t| t.number_padded(n, 5)), format!("{n:<5}"));
        assert_eq!(text_of(|t| t.digits(n, 3)), format!("{n:03}"));
        let word = n as u32;
        assert_eq!(text_of(|t| t.hex(word)), format!("{word:#010x}"));
    }
    assert_eq!(text_of(|t| t.digits(0, 0)), "0");
}

#[test]
fn plain_text_pads_and_writes_addresses_as_core_fmt_does() {
    assert_eq!(text_of(|t| t.padded("echo", 8).str("|")), "echo    |");
    assert_eq!(text_of(|t| t.padded("discovery", 8)), "discovery");
    let cidr = udpkit::smoltcp::wire::Ipv4Cidr::new(OUR_IP, 24);
    assert_eq!(text_of(|t| t.ipv4_cidr(cidr)), format!("{cidr}"));
    for address in [
        Ipv4Address::new(0, 0, 0, 0),
        Ipv4Address::new(255, 255, 255, 255),
        Ipv4Address::new(10, 0, 100, 7),
    ] {
        assert_eq!(text_of(|t| t.ipv4(address)), format!("{address}"));
    }
    let server = udpkit::smoltcp::wire::IpEndpoint::new(IpAddress::Ipv4(peer_ip()), 123);
    assert_eq!(text_of(|t| t.endpoint(server)), format!("{server}"));
    // IPv6 in full, every group without leading zeros.
    let v6: core::net::Ipv6Addr = "fdaa:0:1:ab:abc:ffff:1000:1".parse().unwrap();
    let server =
        udpkit::smoltcp::wire::IpEndpoint::new(IpAddress::from(core::net::IpAddr::V6(v6)), 123);
    assert_eq!(
        text_of(|t| t.endpoint(server)),
        "[fdaa:0:1:ab:abc:ffff:1000:1]:123"
    );
}
