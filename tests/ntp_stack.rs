//! NTP through the whole core, frames in and frames out: the NTP server and
//! the SNTP client on a real [`Stack`] over an in-memory smoltcp device,
//! with time and daytime beside them, fed Ethernet/ARP/IPv4/UDP frames
//! built with `smoltcp::wire`, and every frame sent parsed back.
//!
//! Nothing here touches a real network: the device is two queues in memory,
//! the clocks are advanced by hand, and the upstream NTP server is this
//! file answering the client's request frames.

mod support;

use support::*;
use udpkit::services::ntp::NtpServer;
use udpkit::services::{daytime, time};
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{ArpOperation, ArpRepr, EthernetAddress, IpAddress, Ipv4Address};
use udpkit::sntp::{SntpClient, SntpConfig, DEFAULT_LOCAL_PORT, MIN_INTERVAL};
use udpkit::wire::ntp::{kiss, Leap, Mode, NtpShort, NtpTimestamp};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::{
    ClockSource, Config, Discard, ServiceId, ServiceStats, SocketBuffers, Stack, UnixTime,
};

/// The upstream NTP server of the SNTP client.
const UPSTREAM_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x05]);
const UPSTREAM_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 5);
const NTP: u16 = 123;

/// 2026-11-23 15:04:05.25 UTC, a Monday.
const WALL: UnixTime = UnixTime::new(1_795_446_245, 250_000_000);

// ---------------------------------------------------------------------------
// A stack with NTP on an in-memory board.

/// The monotonic clock at boot.
fn boot() -> Instant {
    Instant::from_secs(1000)
}

/// The true time on `board` now: [`WALL`] at boot, run on with the
/// monotonic clock (whether or not the board's wall clock tells it).
fn true_wall(board: &MemoryBoard) -> UnixTime {
    after(WALL, board.now - boot())
}

type Buffers = SocketBuffers<8, 4096>;

struct Net {
    board: MemoryBoard,
    stack: Stack<'static>,
    ntp: ServiceId,
    time: ServiceId,
    sntp: Option<ServiceId>,
}

impl Net {
    /// NTP, time and daytime on a board with `wall` (or none) from `source`;
    /// with an SNTP client of `UPSTREAM_IP` when `sntp` is given.
    fn new(wall: Option<UnixTime>, source: ClockSource, sntp: Option<SntpConfig>) -> Net {
        init_logging();
        // A wall clock, when the board has one, runs with its monotonic
        // clock from `wall` at boot.
        let mut board = MemoryBoard {
            wall,
            wall_running_since: Some(boot()),
            source,
            ..memory_board(boot())
        };

        let mut stack = leaked_stack(&Config::default(), &mut board, 4, neighbor_table());
        let ntp = stack
            .add_service(leak(NtpServer::new()), NTP, leak(Buffers::new()).queues())
            .unwrap();
        let time = stack
            .add_service(
                leak(time::Time),
                time::DEFAULT_PORT,
                leak(Buffers::new()).queues(),
            )
            .unwrap();
        stack
            .add_service(
                leak(daytime::Daytime),
                daytime::DEFAULT_PORT,
                leak(Buffers::new()).queues(),
            )
            .unwrap();
        let sntp = sntp.map(|config| {
            stack
                .add_service(
                    leak(SntpClient::new(config)),
                    DEFAULT_LOCAL_PORT,
                    leak(Buffers::new()).queues(),
                )
                .unwrap()
        });
        Net {
            board,
            stack,
            ntp,
            time,
            sntp,
        }
    }

    fn poll(&mut self) -> Option<Duration> {
        self.stack.poll(&mut self.board)
    }

    fn exchange(&mut self, frame: Vec<u8>) -> Vec<UdpOut> {
        inject(&mut self.board, &frame);
        self.poll();
        self.sent()
    }

    /// Every frame sent since the last call: UDP datagrams parsed, ARP
    /// requests answered for the upstream server (in the next poll).
    fn sent(&mut self) -> Vec<UdpOut> {
        let mut datagrams = Vec::new();
        for frame in take_sent(&mut self.board) {
            match parse(&frame) {
                Out::Udp(udp) => datagrams.push(udp),
                Out::Arp(
                    _,
                    ArpRepr::EthernetIpv4 {
                        operation: ArpOperation::Request,
                        target_protocol_addr,
                        ..
                    },
                ) if target_protocol_addr == UPSTREAM_IP => {
                    inject(&mut self.board, &arp_reply_from_upstream());
                }
                other => panic!("unexpected frame {other:?}"),
            }
        }
        datagrams
    }

    /// Sends `payload` from the peer's client port to `port`; returns what
    /// came back (every datagram must be to the peer, from `port`).
    fn ask(&mut self, port: u16, payload: &[u8]) -> Vec<Vec<u8>> {
        self.exchange(udp_from_peer(port, payload))
            .into_iter()
            .map(|d| {
                assert_eq!((d.src(), d.dst()), ((OUR_IP, port), (PEER_IP, CLIENT_PORT)));
                d.payload
            })
            .collect()
    }

    /// One NTP request from the peer: the reply, parsed.
    fn ask_ntp(&mut self, transmit: NtpTimestamp) -> NtpRepr {
        let mut request = [0u8; 48];
        NtpRepr {
            poll: 7,
            ..NtpRepr::client_request(transmit)
        }
        .emit(&mut NtpPacket::new_unchecked(&mut request[..]));
        let replies = self.ask(NTP, &request);
        assert_eq!(replies.len(), 1, "one reply to an NTP request");
        let packet = NtpPacket::new_checked(&replies[0][..]).expect("48 bytes");
        assert_eq!(replies[0].len(), 48);
        NtpRepr::parse(&packet).unwrap()
    }

    fn stats(&self, id: ServiceId) -> ServiceStats {
        *self.stack.stats(id).unwrap()
    }

    /// Polls until the SNTP client's request to the upstream server comes
    /// out (answering ARP for it on the way); returns it.
    fn upstream_request(&mut self) -> NtpRepr {
        for _ in 0..3 {
            self.poll();
            let mut sent = self.sent();
            if let Some(d) = sent.pop() {
                assert!(sent.is_empty());
                assert_eq!(d.src(), (OUR_IP, DEFAULT_LOCAL_PORT));
                assert_eq!(d.dst(), (UPSTREAM_IP, NTP));
                assert_eq!(d.payload.len(), 48);
                return NtpRepr::parse(&NtpPacket::new_checked(&d.payload[..]).unwrap()).unwrap();
            }
        }
        panic!("no request to the upstream server");
    }

    /// The upstream server's reply to `request`, stamped with the true
    /// time (plus `server_error`), into the stack.
    fn upstream_reply(&mut self, request: &NtpRepr, tweak: impl FnOnce(&mut NtpRepr)) {
        let now = NtpTimestamp::from_unix(true_wall(&self.board));
        let mut reply = NtpRepr {
            leap: Leap::NoWarning,
            version: 4,
            mode: Mode::Server,
            stratum: 2,
            poll: request.poll,
            precision: -20,
            root_delay: NtpShort::from_duration(Duration::from_millis(10)),
            root_dispersion: NtpShort::from_duration(Duration::from_millis(5)),
            reference_id: [10, 0, 0, 1],
            reference_timestamp: now,
            origin_timestamp: request.transmit_timestamp,
            receive_timestamp: now,
            transmit_timestamp: now,
        };
        tweak(&mut reply);
        let mut payload = [0u8; 48];
        reply.emit(&mut NtpPacket::new_unchecked(&mut payload[..]));
        let frame = udp(
            (UPSTREAM_MAC, OUR_MAC),
            (UPSTREAM_IP, NTP),
            (OUR_IP, DEFAULT_LOCAL_PORT),
            &payload,
        );
        let sent = self.exchange(frame);
        assert!(sent.is_empty(), "the client never answers: {sent:?}");
    }
}

// ---------------------------------------------------------------------------
// Frames, beside the shared ones.

fn arp_reply_from_upstream() -> Vec<u8> {
    arp(
        ArpOperation::Reply,
        (UPSTREAM_MAC, UPSTREAM_IP),
        (OUR_MAC, OUR_IP),
        OUR_MAC,
    )
}

/// Nanoseconds from `b` to `a`.
fn nanos_between(a: UnixTime, b: UnixTime) -> i64 {
    let nanos = |t| udpkit::clock::unix_nanos(t).expect("a time before 2262");
    nanos(a) - nanos(b)
}

fn sntp_config() -> SntpConfig {
    SntpConfig {
        interval: Duration::from_secs(64),
        ..SntpConfig::new(IpAddress::Ipv4(UPSTREAM_IP), 99)
    }
}

// ---------------------------------------------------------------------------
// The server.

#[test]
fn a_client_request_gets_a_server_reply_from_the_boards_clock() {
    let gps = ClockSource::primary(*b"GPS\0", -20);
    let mut net = Net::new(Some(WALL), gps, None);
    let transmit = NtpTimestamp(0x0123_4567_89ab_cdef);
    let reply = net.ask_ntp(transmit);
    assert_eq!(reply.mode, Mode::Server);
    assert_eq!(reply.version, 4);
    assert_eq!(reply.leap, Leap::NoWarning);
    assert_eq!(reply.stratum, 1);
    assert_eq!(reply.reference_id, *b"GPS\0");
    assert_eq!(reply.precision, -20);
    assert_eq!(reply.poll, 7);
    assert_eq!(reply.origin_timestamp, transmit);
    let wall = NtpTimestamp::from_unix(WALL);
    assert_eq!(reply.receive_timestamp, wall);
    assert_eq!(reply.transmit_timestamp, wall);
    assert_eq!(net.stats(net.ntp).sent, 1);

    // Half a second later, carried forward by the monotonic clock.
    net.board.now += Duration::from_millis(500);
    let reply = net.ask_ntp(transmit);
    let later = reply.transmit_timestamp.to_unix(WALL).unwrap();
    assert_eq!(nanos_between(later, WALL), 500_000_000);
}

#[test]
fn the_default_source_is_a_local_clock_at_stratum_10() {
    let mut net = Net::new(Some(WALL), ClockSource::LOCAL, None);
    let reply = net.ask_ntp(NtpTimestamp(7));
    assert_eq!((reply.stratum, reply.reference_id), (10, *b"LOCL"));
}

#[test]
fn without_a_wall_clock_the_reply_is_a_kiss_o_death() {
    let mut net = Net::new(None, ClockSource::LOCAL, None);
    let reply = net.ask_ntp(NtpTimestamp(0xfeed));
    assert_eq!(reply.stratum, 0);
    assert_eq!(reply.leap, Leap::Unsynchronized);
    assert_eq!(reply.kiss_code(), Some(kiss::INIT));
    assert_eq!(reply.origin_timestamp, NtpTimestamp(0xfeed));
    assert!(reply.transmit_timestamp.is_zero());
    // Time stays silent, and says why.
    assert!(net.ask(time::DEFAULT_PORT, b"").is_empty());
    assert_eq!(
        net.stats(net.time).discarded[Discard::NoWallClock.index()],
        1
    );
}

#[test]
fn other_modes_and_short_packets_get_nothing_and_are_counted() {
    let mut net = Net::new(Some(WALL), ClockSource::LOCAL, None);
    let mut server_reply = [0u8; 48];
    server_reply[0] = (4 << 3) | 4;
    assert!(net.ask(NTP, &server_reply).is_empty());
    assert!(net.ask(NTP, &[0x23; 47]).is_empty());
    assert!(net.ask(NTP, b"").is_empty());
    assert_eq!(net.stats(net.ntp).discarded[Discard::Malformed.index()], 3);
    assert_eq!(net.stats(net.ntp).sent, 0);
}

#[test]
fn a_request_from_source_port_123_is_refused_by_the_loop_guard() {
    let mut net = Net::new(Some(WALL), ClockSource::LOCAL, None);
    let mut request = [0u8; 48];
    NtpRepr::client_request(NtpTimestamp(1)).emit(&mut NtpPacket::new_unchecked(&mut request[..]));
    let frame = udp((PEER_MAC, OUR_MAC), (PEER_IP, NTP), (OUR_IP, NTP), &request);
    assert!(net.exchange(frame).is_empty());
    assert_eq!(net.stats(net.ntp).refused_total(), 1);
}

// ---------------------------------------------------------------------------
// The SNTP client.

#[test]
fn the_sntp_client_gives_a_board_without_a_clock_the_time() {
    let mut net = Net::new(None, ClockSource::LOCAL, Some(sntp_config()));
    // At boot: nothing tells the time yet.
    let request = net.upstream_request();
    assert_eq!((request.mode, request.version), (Mode::Client, 4));
    assert!(net.ask(time::DEFAULT_PORT, b"").is_empty());
    assert!(net.ask(daytime::DEFAULT_PORT, b"").is_empty());
    assert_eq!(net.ask_ntp(NtpTimestamp(3)).stratum, 0, "a kiss-o'-death");

    // The reply arrives 4 ms later, from port 123, past the loop guard.
    net.board.now += Duration::from_millis(4);
    net.upstream_reply(&request, |_| {});
    let sntp = net.stats(net.sntp.unwrap());
    assert_eq!(sntp.refused_total(), 0);

    // Time and daytime answer now...
    net.board.now += Duration::from_secs(10);
    let time = net.ask(time::DEFAULT_PORT, b"");
    assert_eq!(time.len(), 1);
    let truth = true_wall(&net.board);
    let told = time::decode(time[0].clone().try_into().unwrap());
    assert!(told.secs.abs_diff(truth.secs) <= 1, "{told:?} vs {truth:?}");
    let daytime = net.ask(daytime::DEFAULT_PORT, b"");
    assert_eq!(daytime[0], daytime::format(truth).as_bytes());

    // ... and NTP, at the upstream's stratum + 1, with its address as
    // reference, to within the 4 ms round trip's asymmetry.
    let reply = net.ask_ntp(NtpTimestamp(5));
    assert_eq!(reply.stratum, 3);
    assert_eq!(reply.reference_id, UPSTREAM_IP.octets());
    assert_eq!(reply.leap, Leap::NoWarning);
    assert_eq!(reply.precision, -19);
    let served = reply.transmit_timestamp.to_unix(truth).unwrap();
    assert!(
        nanos_between(served, truth).abs() <= 2_000_000,
        "{served:?} vs {truth:?}"
    );
    // Root delay: the upstream's 10 ms plus our 4 ms round trip.
    let delay = reply.root_delay.to_duration();
    assert!(
        (Duration::from_millis(14)..Duration::from_micros(14_100)).contains(&delay),
        "{delay}"
    );
    // The reference time is when the reply arrived.
    let reference = reply.reference_timestamp.to_unix(truth).unwrap();
    assert!(nanos_between(truth, reference) > 9_000_000_000);
}

#[test]
fn the_sntp_client_asks_again_every_interval_and_never_within_15_s() {
    let mut net = Net::new(None, ClockSource::LOCAL, Some(sntp_config()));
    let boot = net.board.now;
    let mut requests = vec![];
    let mut answered = 0;
    // Ten minutes in 250 ms steps, polling as a port does; the upstream
    // answers every other request.
    while net.board.now < boot + Duration::from_secs(600) {
        let delay = net.poll();
        for d in net.sent() {
            assert_eq!(d.dst(), (UPSTREAM_IP, NTP));
            requests.push(net.board.now);
            let request = NtpRepr::parse(&NtpPacket::new_checked(&d.payload[..]).unwrap()).unwrap();
            if requests.len() % 2 == 1 {
                net.board.now += Duration::from_millis(2);
                net.upstream_reply(&request, |_| {});
                answered += 1;
            }
        }
        // A frame waiting (the upstream's ARP reply) wakes the port at
        // once; otherwise it sleeps as long as the stack allows, in steps.
        if net.board.device.rx.is_empty() {
            let step = Duration::from_millis(250);
            net.board.now += delay.map_or(step, |d| d.min(step).max(Duration::from_millis(1)));
        }
    }
    assert!(answered >= 2);
    for pair in requests.windows(2) {
        assert!(pair[1] - pair[0] >= MIN_INTERVAL, "{pair:?}");
    }
    // A good reply: the next one an interval later; a timeout: 15 s later.
    let gaps: Vec<u64> = requests.windows(2).map(|p| (p[1] - p[0]).secs()).collect();
    assert_eq!(gaps[..4], [64, 15, 64, 15], "{gaps:?}");
    let sntp = net.stats(net.sntp.unwrap());
    assert_eq!(sntp.sent as usize, requests.len());
}

#[test]
fn a_board_with_its_own_clock_keeps_it_over_the_sntp_client() {
    let gps = ClockSource::primary(*b"PPS\0", -24);
    let mut net = Net::new(Some(WALL), gps, Some(sntp_config()));
    let request = net.upstream_request();
    // The upstream is an hour off; the board's clock wins.
    net.board.now += Duration::from_millis(1);
    net.upstream_reply(&request, |r| {
        r.transmit_timestamp.0 += 3600 << 32;
        r.receive_timestamp.0 += 3600 << 32;
    });
    let reply = net.ask_ntp(NtpTimestamp(9));
    assert_eq!((reply.stratum, reply.reference_id), (1, *b"PPS\0"));
    let served = reply.transmit_timestamp.to_unix(WALL).unwrap();
    assert!(nanos_between(served, true_wall(&net.board)).abs() < 1_000);
}

#[test]
fn a_kiss_o_death_from_upstream_leaves_the_board_without_time() {
    let mut net = Net::new(None, ClockSource::LOCAL, Some(sntp_config()));
    let request = net.upstream_request();
    net.upstream_reply(&request, |r| {
        r.stratum = 0;
        r.leap = Leap::Unsynchronized;
        r.reference_id = kiss::DENY;
    });
    assert!(net.ask(time::DEFAULT_PORT, b"").is_empty());
    assert_eq!(net.ask_ntp(NtpTimestamp(3)).stratum, 0);
    // DENY: the client stops; nothing more goes upstream, ever.
    for _ in 0..20 {
        net.board.now += Duration::from_secs(60);
        net.poll();
        assert!(net.sent().is_empty());
    }
}

// ---------------------------------------------------------------------------
// The client's first request: its server's address resolved, and counted.

#[test]
fn the_request_to_an_unknown_upstream_waits_for_arp_and_the_request_is_counted() {
    let mut net = Net::new(None, ClockSource::LOCAL, Some(sntp_config()));
    net.poll();
    let sent = take_sent(&mut net.board);
    assert_eq!(sent.len(), 1, "{sent:?}");
    match parse(&sent[0]) {
        Out::Arp(
            _,
            ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Request,
                target_protocol_addr,
                ..
            },
        ) => assert_eq!(target_protocol_addr, UPSTREAM_IP),
        other => panic!("not an ARP request for the upstream: {other:?}"),
    }
    assert_eq!(net.stack.neighbor_stats().resolutions, 1);
}

#[test]
fn the_request_to_an_unknown_ipv6_upstream_waits_for_a_solicitation_and_it_is_counted() {
    let config = SntpConfig {
        interval: Duration::from_secs(64),
        ..SntpConfig::new(IpAddress::Ipv6(PEER_V6), 99)
    };
    let mut net = Net::new(None, ClockSource::LOCAL, Some(config));
    net.poll();
    let sent = take_sent(&mut net.board);
    assert_eq!(sent.len(), 1, "{sent:?}");
    match parse6(&sent[0]) {
        Out6::NeighborSolicit { target } => assert_eq!(target, PEER_V6),
        other => panic!("not a neighbor solicitation for the upstream: {other:?}"),
    }
    assert_eq!(net.stack.neighbor_stats().resolutions, 1);
}
