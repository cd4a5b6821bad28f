//! The smallest port of udpkit: a [`Board`] over an in-memory device.
//!
//! It runs a [`Stack`] with echo and daytime, hands it one Ethernet frame
//! carrying a UDP datagram to the echo port, polls once, and decodes the
//! frame that comes out. No network is touched: the "wire" is two queues.
//!
//! ```text
//! cargo run --example loopback
//! ```
//!
//! A real port differs in its `Board` and its loop: `host/src/tap.rs` moves
//! the frames through a Linux TAP device, and `host/src/serve.rs` sleeps in
//! `poll(2)` until a frame arrives or the delay `Stack::poll` returned runs
//! out.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use udpkit::services::{daytime, echo};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpProtocol, Ipv4Address,
    Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use udpkit::{Board, Config, NeighborSlot, SocketBuffers, Stack, UnixTime};

/// Frames to the stack wait in `rx`; frames from it collect in `tx`.
#[derive(Default)]
struct MemoryDevice {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let result = f(&mut frame);
        self.0.push(frame);
        result
    }
}

impl Device for MemoryDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514; // a 1500-byte IP packet and its Ethernet header
        caps
    }
}

/// The board: the device, a monotonic clock and the system's wall clock.
struct LoopbackBoard {
    device: MemoryDevice,
    now: Instant,
}

impl Board for LoopbackBoard {
    type Device = MemoryDevice;

    fn device(&mut self) -> &mut MemoryDevice {
        &mut self.device
    }

    fn now(&mut self) -> Instant {
        self.now
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(UnixTime::new(
            since_epoch.as_secs(),
            since_epoch.subsec_nanos(),
        ))
    }

    fn entropy_seed(&mut self) -> u64 {
        0x1dea
    }
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
    let mut board = LoopbackBoard {
        device: MemoryDevice::default(),
        now: Instant::from_secs(0),
    };

    // What the stack borrows is declared before it. A microcontroller
    // port keeps all of this in statics.
    let (mut echo, mut echo_buffers) = (echo::Echo, SocketBuffers::<4, 4096>::new());
    let (mut daytime, mut daytime_buffers) = (daytime::Daytime, SocketBuffers::<4, 2048>::new());
    let mut sockets = [SocketStorage::EMPTY; 2];
    let mut neighbors = [NeighborSlot::EMPTY; 8];
    let mut stack = Stack::new(&config, &mut board, &mut sockets, &mut neighbors);
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
        board.device.rx.push_back(frame);
        board.now += udpkit::smoltcp::time::Duration::from_millis(1);
        let delay = stack.poll(&mut board);
        if board.device.tx.is_empty() {
            return Err(format!("no reply from port {port}"));
        }
        for frame in board.device.tx.drain(..) {
            println!("out: {}", describe(&frame)?);
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
