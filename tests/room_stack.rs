//! A room of machines: many distinct hosts of the link at once, each
//! answered without waiting for ARP or neighbor discovery, with a neighbor
//! table as large as the host's and with one far smaller than the crowd.
//!
//! Every host has its own IP and MAC address; every reply must reach the
//! right MAC. Nothing answers ARP here, so a reply that waited for it would
//! never come.

mod support;

use support::*;
use udpkit::services::chat::{self, Chat, ChatLimits};
use udpkit::services::echo;
use udpkit::smoltcp::time::{Duration, Instant};
use udpkit::smoltcp::wire::{EthernetAddress, IpAddress, Ipv4Address, Ipv6Address};
use udpkit::{Config, ServiceId, SocketBuffers, Stack};

const ECHO: u16 = echo::DEFAULT_PORT;
const CHAT: u16 = chat::DEFAULT_PORT;

/// Host `n` of the room: its MAC and its IPv4 and IPv6 addresses.
fn host(n: u16) -> (EthernetAddress, Ipv4Address, Ipv6Address) {
    (
        EthernetAddress([0x02, 0x10, 0, 0, (n >> 8) as u8, n as u8]),
        Ipv4Address::new(192, 168, 69, 0)
            .to_bits()
            .wrapping_add(2 + u32::from(n))
            .into(),
        Ipv6Address::new(0xfdaa, 0, 0, 0, 0, 0, 0x1000, n),
    )
}

struct Room {
    board: MemoryBoard,
    stack: Stack<'static>,
    echo: ServiceId,
    chat: ServiceId,
}

impl Room {
    /// Echo and a 32-member chat, with a neighbor table of `slots` slots.
    /// The config is a /22 so that 256 hosts fit beside us.
    fn new(slots: usize) -> Room {
        init_logging();
        let mut board = memory_board(Instant::from_secs(1000));
        let config = Config {
            address: udpkit::smoltcp::wire::Ipv4Cidr::new(OUR_IP, 22),
            ..Config::default()
        };

        let mut stack = leaked_stack(&config, &mut board, 4, neighbor_table_of(slots));
        let echo = stack
            .add_service(
                leak(echo::Echo),
                ECHO,
                leak(SocketBuffers::<64, 98304>::new()).queues(),
            )
            .unwrap();
        let chat = stack
            .add_service(
                leak(Chat::<32, 8>::new(ChatLimits::default())),
                CHAT,
                leak(SocketBuffers::<64, 32768>::new()).queues(),
            )
            .unwrap();
        stack
            .set_detour(chat, leak(SocketBuffers::<64, 32768>::new()).queues())
            .unwrap();
        Room {
            board,
            stack,
            echo,
            chat,
        }
    }

    fn push(&mut self, frame: Vec<u8>) {
        inject(&mut self.board, &frame);
    }

    fn poll(&mut self) {
        self.stack.poll(&mut self.board);
    }

    fn sent(&mut self) -> Vec<Vec<u8>> {
        take_sent(&mut self.board)
    }

    fn udp4(&mut self, n: u16, port: u16, payload: &[u8]) {
        let (mac, ip, _) = host(n);
        let frame = udp((mac, OUR_MAC), (ip, CLIENT_PORT), (OUR_IP, port), payload);
        self.push(frame);
    }

    fn udp6(&mut self, n: u16, port: u16, payload: &[u8]) {
        let (mac, _, ip) = host(n);
        let frame = udp6((mac, OUR_MAC), (ip, CLIENT_PORT), (OUR_V6, port), payload);
        self.push(frame);
    }
}

/// Every UDP datagram in `frames`: (destination MAC, destination IP, payload);
/// panics on anything else (an ARP request, a neighbor solicitation).
fn datagrams(frames: &[Vec<u8>]) -> Vec<(EthernetAddress, IpAddress, Vec<u8>)> {
    frames
        .iter()
        .map(|frame| match (parse(frame), parse6(frame)) {
            (Out::Udp(udp), _) => (
                udp.eth.dst_addr,
                IpAddress::Ipv4(udp.ip.dst_addr),
                udp.payload,
            ),
            (
                _,
                Out6::Udp {
                    eth_dst,
                    dst,
                    payload,
                    ..
                },
            ) => (eth_dst, IpAddress::Ipv6(dst.0), payload),
            (other, other6) => panic!("not a datagram: {other:?} / {other6:?}"),
        })
        .collect()
}

/// The one request from each of `hosts` hosts, all in the device before one
/// poll, each answered once, to its own MAC and address.
fn echo_from_every_host(room: &mut Room, hosts: u16, ipv6: bool) {
    for n in 0..hosts {
        let payload = format!("hello from {n}");
        if ipv6 {
            room.udp6(n, ECHO, payload.as_bytes());
        } else {
            room.udp4(n, ECHO, payload.as_bytes());
        }
    }
    room.poll();
    let mut replies = datagrams(&room.sent());
    replies.sort_by(|a, b| a.2.cmp(&b.2));
    let mut expected: Vec<_> = (0..hosts)
        .map(|n| {
            let (mac, v4, v6) = host(n);
            let ip = if ipv6 {
                IpAddress::Ipv6(v6)
            } else {
                IpAddress::Ipv4(v4)
            };
            (mac, ip, format!("hello from {n}").into_bytes())
        })
        .collect();
    expected.sort_by(|a, b| a.2.cmp(&b.2));
    assert_eq!(replies.len(), expected.len());
    assert!(replies == expected, "a reply went astray");
    assert_eq!(room.stack.stats(room.echo).unwrap().stall_resets, 0);
}

#[test]
fn two_hundred_fifty_six_hosts_at_once_are_each_answered_over_ipv4() {
    let mut room = Room::new(512);
    echo_from_every_host(&mut room, 256, false);
    let stats = room.stack.neighbor_stats();
    assert_eq!((stats.resolutions, stats.unresolved), (0, 0), "{stats:?}");
    // And again: the table knows them all now.
    echo_from_every_host(&mut room, 256, false);
}

#[test]
fn two_hundred_fifty_six_hosts_at_once_are_each_answered_over_ipv6() {
    let mut room = Room::new(512);
    echo_from_every_host(&mut room, 256, true);
    let stats = room.stack.neighbor_stats();
    assert_eq!((stats.resolutions, stats.unresolved), (0, 0), "{stats:?}");
}

#[test]
fn a_table_far_smaller_than_the_crowd_still_answers_everyone() {
    // 16 slots hold 12 neighbors: the stack takes the crowd in batches of
    // six, and each batch's senders are answered before the next evicts them.
    let mut room = Room::new(16);
    assert_eq!(room.stack.neighbors().1, 12);
    echo_from_every_host(&mut room, 256, false);
    echo_from_every_host(&mut room, 256, true);
    let stats = room.stack.neighbor_stats();
    assert!(stats.evicted >= 500, "{stats:?}");
    assert_eq!((stats.resolutions, stats.unresolved), (0, 0), "{stats:?}");
    // 512 senders taught, each an entry of smoltcp's cache of 512: the
    // stack emptied it before it could overflow.
    assert!(stats.cache_flushes >= 1, "{stats:?}");
}

#[test]
fn hosts_of_both_families_mixed_in_one_batch_are_each_answered() {
    let mut room = Room::new(512);
    for n in 0..128 {
        room.udp4(n, ECHO, format!("four {n}").as_bytes());
        room.udp6(n + 128, ECHO, format!("six {n}").as_bytes());
    }
    room.poll();
    let replies = datagrams(&room.sent());
    assert_eq!(replies.len(), 256);
    for (mac, ip, payload) in replies {
        let text = String::from_utf8(payload).unwrap();
        let (family, n) = text.split_once(' ').unwrap();
        let n: u16 = n.parse().unwrap();
        let (want_mac, v4, v6) = host(if family == "six" { n + 128 } else { n });
        assert_eq!(mac, want_mac);
        match ip {
            IpAddress::Ipv4(ip) => assert_eq!((family, ip), ("four", v4)),
            IpAddress::Ipv6(ip) => assert_eq!((family, ip), ("six", v6)),
        }
    }
}

/// Chat lines delivered in `frames`, as (host number, line).
fn chat_deliveries(frames: &[Vec<u8>]) -> Vec<(u16, String)> {
    datagrams(frames)
        .into_iter()
        .map(|(mac, ip, payload)| {
            let n = u16::from_be_bytes([mac.0[4], mac.0[5]]);
            let (_, v4, v6) = host(n);
            assert!(
                ip == IpAddress::Ipv4(v4) || ip == IpAddress::Ipv6(v6),
                "{ip} at {mac}"
            );
            (n, String::from_utf8(payload).unwrap())
        })
        .collect()
}

/// Every member says one line; each must reach all the others, and come
/// back to its sender (the chat's echo).
fn everyone_says_a_line(room: &mut Room, members: u16, round: &str) {
    for n in 0..members {
        room.udp4(n, CHAT, format!("{round} from m{n}\n").as_bytes());
    }
    room.poll();
    let lines = chat_deliveries(&room.sent());
    for n in 0..members {
        let heard = lines
            .iter()
            .filter(|(to, line)| *to == n && line.contains(round))
            .count();
        let own = format!("{round} from m{n}\n");
        let echoed = lines
            .iter()
            .filter(|(to, line)| *to == n && line.ends_with(&own))
            .count();
        if heard != usize::from(members) || echoed != 1 {
            let got: Vec<_> = lines
                .iter()
                .filter(|(to, l)| *to == n && l.contains(round))
                .map(|(_, l)| l.clone())
                .collect();
            let (chat, _, st) = room.stack.services().find(|(_, p, _)| *p == CHAT).unwrap();
            let mut c = Vec::new();
            chat.counters(&mut |k, v| c.push((k, v)));
            panic!(
                "m{n} in {round}: {got:?}\n{st:?}\n{c:?}\n{:?}",
                room.stack.neighbor_stats()
            );
        }
    }
}

fn chat_room(slots: usize) {
    let mut room = Room::new(slots);
    for n in 0..32 {
        room.udp4(n, CHAT, format!("/nick m{n}\n").as_bytes());
    }
    room.poll();
    let joins = chat_deliveries(&room.sent());
    // Each member is welcomed, and hears of everyone who joined after it.
    for n in 0..32u16 {
        let heard = joins.iter().filter(|(to, _)| *to == n).count();
        assert_eq!(heard, 1 + (31 - usize::from(n)), "m{n}");
    }
    // The first line after the joins, and two more rounds.
    for round in ["round 1", "round 2", "round 3"] {
        everyone_says_a_line(&mut room, 32, round);
    }
    // Quiet for 70 s: smoltcp would have forgotten every MAC address.
    room.board.now += Duration::from_secs(70);
    room.poll();
    everyone_says_a_line(&mut room, 32, "after the silence");
    let chat_stats = room.stack.stats(room.chat).unwrap();
    assert_eq!((chat_stats.send_failed, chat_stats.stall_resets), (0, 0));
    let stats = room.stack.neighbor_stats();
    assert_eq!((stats.resolutions, stats.unresolved), (0, 0), "{stats:?}");
}

#[test]
fn a_full_chat_room_of_32_hosts_hears_every_line_even_after_a_quiet_minute() {
    chat_room(512);
}

#[test]
fn a_full_chat_room_of_32_hosts_works_with_a_board_sized_table() {
    // 48 slots: 36 neighbors, the 32 members and a batch beside them.
    chat_room(48);
}
