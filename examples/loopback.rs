//! The smallest port of udpkit: a [`Board`](udpkit::Board) over an in-memory
//! device.
//!
//! It runs a [`Stack`] with echo and daytime, hands it one Ethernet frame
//! carrying a UDP datagram to each, polls once, and decodes the frame that
//! comes out. No network is touched: the "wire" is two rings in memory.
//!
//! The board is the one the core's tests, benchmark and no_std check run
//! on, `udpkit_testing::MemoryBoard` (testing/src/board.rs and device.rs,
//! a short read): a smoltcp `Device` whose frames sit in two byte buffers,
//! a monotonic clock this example moves by hand, and the system's wall
//! clock running on from start-up.
//!
//! ```text
//! cargo run --example loopback
//! ```
//!
//! A real port differs in its `Board` and its loop: `host/src/linux/board.rs`
//! moves the frames through a Linux TAP device (`host/src/linux/tap.rs`), and
//! `host/src/serve/tap.rs` sleeps in
//! `poll(2)` until a frame arrives or the delay `Stack::poll` returned runs
//! out.

use std::time::{SystemTime, UNIX_EPOCH};

use udpkit::services::{daytime, echo};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Address,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use udpkit::{Config, NeighborSlot, SocketBuffers, Stack, StackStorage, UnixTime};
use udpkit_testing::{MemoryBoard, MemoryDevice};

/// The system's wall clock.
fn system_time() -> Option<UnixTime> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(UnixTime::new(
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
    ))
}

const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const PEER_PORT: u16 = 40000;

/// An Ethernet frame with a UDP datagram from the peer to `to`.
fn udp_frame(to: (EthernetAddress, Ipv4Address, u16), payload: &[u8]) -> Vec<u8> {
    let (dst_mac, dst_ip, dst_port) = to;
    let caps = ChecksumCapabilities::default();
    let udp = UdpRepr {
        src_port: PEER_PORT,
        dst_port,
    };
    let ip = Ipv4Repr {
        src_addr: PEER_IP,
        dst_addr: dst_ip,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut frame = vec![0; 14 + ip.buffer_len() + ip.payload_len];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: dst_mac,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut eth);
    let mut packet = Ipv4Packet::new_unchecked(eth.payload_mut());
    ip.emit(&mut packet, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &PEER_IP.into(),
        &dst_ip.into(),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &caps,
    );
    frame
}

/// Decodes a frame the stack sent, checking every checksum on the way.
fn describe(frame: &[u8]) -> Result<String, String> {
    let caps = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).map_err(|e| format!("Ethernet: {e}"))?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return Ok(format!(
            "{} -> {}: {}",
            eth.src_addr(),
            eth.dst_addr(),
            eth.ethertype()
        ));
    }
    let packet = Ipv4Packet::new_checked(eth.payload()).map_err(|e| format!("IPv4: {e}"))?;
    let ip = Ipv4Repr::parse(&packet, &caps).map_err(|e| format!("IPv4: {e}"))?;
    let udp = UdpPacket::new_checked(packet.payload()).map_err(|e| format!("UDP: {e}"))?;
    let repr = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps)
        .map_err(|e| format!("UDP: {e}"))?;
    Ok(format!(
        "{} -> {}, {}:{} -> {}:{}, {} bytes: {:?}",
        eth.src_addr(),
        eth.dst_addr(),
        ip.src_addr,
        repr.src_port,
        ip.dst_addr,
        repr.dst_port,
        udp.payload().len(),
        String::from_utf8_lossy(udp.payload()),
    ))
}

fn main() -> Result<(), String> {
    let config = Config::default();
    // Room for a few frames each way, in buffers a microcontroller port
    // would keep in statics (its Ethernet controller's descriptors).
    let device = MemoryDevice::new([0u8; 8192], [0u8; 8192]);
    let mut board = MemoryBoard::new(device, Instant::from_secs(0));
    board.wall = system_time();
    board.wall_running_since = Some(board.now);

    // What the stack borrows is declared before it. A microcontroller
    // port keeps all of this in statics.
    let (mut echo, mut echo_buffers) = (echo::Echo, SocketBuffers::<4, 4096>::new());
    let (mut daytime, mut daytime_buffers) = (daytime::Daytime, SocketBuffers::<4, 2048>::new());
    let mut sockets = [SocketStorage::EMPTY; 2];
    let mut neighbors = [NeighborSlot::EMPTY; 8];
    let mut buffers = StackStorage::new();
    let mut stack = Stack::new(
        &config,
        &mut board,
        &mut sockets,
        &mut neighbors,
        &mut buffers,
    );
    stack
        .add_service(&mut echo, echo::DEFAULT_PORT, echo_buffers.queues())
        .map_err(|e| e.to_string())?;
    stack
        .add_service(
            &mut daytime,
            daytime::DEFAULT_PORT,
            daytime_buffers.queues(),
        )
        .map_err(|e| e.to_string())?;
    println!(
        "stack at {}/{} ({}), serving:",
        config.address.address(),
        config.address.prefix_len(),
        config.mac
    );
    for (service, port, _) in stack.services() {
        println!("  {} on UDP port {port}", service.name());
    }

    let us = (config.mac, config.address.address());
    for (port, payload) in [
        (echo::DEFAULT_PORT, &b"hello, udpkit\n"[..]),
        (daytime::DEFAULT_PORT, &b"\n"[..]),
    ] {
        let frame = udp_frame((us.0, us.1, port), payload);
        println!("\nin:  {}", describe(&frame)?);
        board.device.rx.push(&frame).map_err(|e| e.to_string())?;
        board.now += udpkit::smoltcp::time::Duration::from_millis(1);
        let delay = stack.poll(&mut board);
        if board.device.tx.is_empty() {
            return Err(format!("no reply from port {port}"));
        }
        while let Some(frame) = board.device.tx.pop() {
            println!("out: {}", describe(frame)?);
        }
        println!(
            "next poll: {}",
            delay.map_or("when a frame arrives".into(), |d| format!("in {d}"))
        );
    }

    println!();
    for (service, port, stats) in stack.services() {
        println!(
            "{} ({port}): received {}, sent {}",
            service.name(),
            stats.received,
            stats.sent
        );
    }
    Ok(())
}
