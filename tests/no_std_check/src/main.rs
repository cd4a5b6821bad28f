//! The udpkit core in a `#![no_std]` binary with no allocator.
//!
//! It builds a [`Stack`] with every server service (echo, daytime, time,
//! upper, hello, chat, NTP, discovery) on the in-memory board of the
//! core's tests (`udpkit-testing`, its rings in arrays here), answers an
//! ARP request and an echo datagram through it, and exits with status 0
//! when both answers are right (another status names the check that
//! failed). Building it at all is the proof that the core, and the test
//! board with it, need neither `std` nor `alloc`; running it shows the
//! result works.

#![no_std]
#![no_main]

use core::ffi::{c_char, c_int};
use core::panic::PanicInfo;

use udpkit::services::discovery::{Discovery, ServiceEntry};
use udpkit::services::{chat, daytime, discovery, echo, hello, ntp, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::phy::ChecksumCapabilities;
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use udpkit::{Config, NeighborSlot, SocketBuffers, Stack, StackStorage, UnixTime};
use udpkit_testing::{MemoryBoard, MemoryDevice};

unsafe extern "C" {
    /// From the C library the binary links for its start-up code.
    fn abort() -> !;
}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    // SAFETY: abort(3) has no preconditions.
    unsafe { abort() }
}

/// The precompiled `core` of a host target is built to unwind, and its
/// unwind tables name this personality routine even though nothing here
/// unwinds (`panic = "abort"`). `std` would define it; this binary has none.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// The board of the core's tests, on rings in arrays.
type TestBoard = MemoryBoard<[u8; 4096]>;

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const PAYLOAD: &[u8] = b"no_std";

/// Writes an Ethernet header from the peer to us into `frame`, whose
/// payload is `payload_len` bytes; the frame's length.
fn ethernet(frame: &mut [u8], ethertype: EthernetProtocol, payload_len: usize) -> usize {
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut *frame));
    14 + payload_len
}

/// An ARP request of the peer for our address, into `frame`; its length.
fn arp_request(frame: &mut [u8]) -> usize {
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: PEER_MAC,
        source_protocol_addr: PEER_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: OUR_IP,
    };
    let len = ethernet(frame, EthernetProtocol::Arp, arp.buffer_len());
    arp.emit(&mut ArpPacket::new_unchecked(&mut frame[14..]));
    len
}

/// A datagram of [`PAYLOAD`] from the peer to our echo port, into `frame`;
/// its length.
fn echo_request(frame: &mut [u8]) -> usize {
    let caps = ChecksumCapabilities::default();
    let udp = UdpRepr {
        src_port: 40000,
        dst_port: echo::DEFAULT_PORT,
    };
    let ip = Ipv4Repr {
        src_addr: PEER_IP,
        dst_addr: OUR_IP,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + PAYLOAD.len(),
        hop_limit: 64,
    };
    let len = ethernet(
        frame,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + ip.payload_len,
    );
    let mut packet = Ipv4Packet::new_unchecked(&mut frame[14..]);
    ip.emit(&mut packet, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &PEER_IP.into(),
        &OUR_IP.into(),
        PAYLOAD.len(),
        |payload| payload.copy_from_slice(PAYLOAD),
        &caps,
    );
    len
}

/// Our ARP reply to the peer, if `frame` is one.
fn is_arp_reply(frame: &[u8]) -> bool {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(packet) = ArpPacket::new_checked(eth.payload()) else {
        return false;
    };
    eth.dst_addr() == PEER_MAC
        && ArpRepr::parse(&packet).is_ok_and(|arp| {
            arp == ArpRepr::EthernetIpv4 {
                operation: ArpOperation::Reply,
                source_hardware_addr: OUR_MAC,
                source_protocol_addr: OUR_IP,
                target_hardware_addr: PEER_MAC,
                target_protocol_addr: PEER_IP,
            }
        })
}

/// The echo of [`PAYLOAD`] to the peer, if `frame` is one.
fn is_echo_reply(frame: &[u8]) -> bool {
    let caps = ChecksumCapabilities::default();
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let Ok(packet) = Ipv4Packet::new_checked(eth.payload()) else {
        return false;
    };
    let Ok(ip) = Ipv4Repr::parse(&packet, &caps) else {
        return false;
    };
    let Ok(udp) = UdpPacket::new_checked(packet.payload()) else {
        return false;
    };
    let valid = UdpRepr::parse(&udp, &ip.src_addr.into(), &ip.dst_addr.into(), &caps);
    eth.dst_addr() == PEER_MAC
        && ip.src_addr == OUR_IP
        && ip.dst_addr == PEER_IP
        && valid.is_ok_and(|r| r.src_port == echo::DEFAULT_PORT && r.dst_port == 40000)
        && udp.payload() == PAYLOAD
}

/// The frame `build` writes in, one poll: the frame the stack sent, if
/// exactly one.
fn exchange<'b>(
    stack: &mut Stack<'_>,
    board: &'b mut TestBoard,
    build: fn(&mut [u8]) -> usize,
) -> Option<&'b [u8]> {
    let mut frame = [0u8; 128];
    let len = build(&mut frame);
    board.device.rx.push(frame.get(..len)?).ok()?;
    board.device.tx.clear();
    board.now += udpkit::smoltcp::time::Duration::from_millis(10);
    stack.poll(board);
    if board.device.tx.len() != 1 || board.device.tx_dropped != 0 {
        return None;
    }
    board.device.tx.pop()
}

fn run() -> c_int {
    let device = MemoryDevice::new([0; 4096], [0; 4096]);
    let mut board: TestBoard = MemoryBoard::new(device, Instant::from_secs(1));
    board.wall = Some(UnixTime::from_secs(1_795_446_245));
    let (mut echo, mut echo_buffers) = (echo::Echo, SocketBuffers::<4, 4096>::new());
    let (mut daytime, mut daytime_buffers) = (daytime::Daytime, SocketBuffers::<4, 2048>::new());
    let (mut time, mut time_buffers) = (time::Time, SocketBuffers::<4, 2048>::new());
    let (mut upper, mut upper_buffers) = (upper::Upper, SocketBuffers::<4, 4096>::new());
    let (mut hello, mut hello_buffers) = (hello::Hello, SocketBuffers::<4, 4096>::new());
    let chat_limits = chat::ChatLimits {
        max_members: 4,
        ..chat::ChatLimits::default()
    };
    let (mut chat, mut chat_buffers) = (
        chat::Chat::<4, 2>::new(chat_limits),
        SocketBuffers::<8, 4096>::new(),
    );
    let (mut ntp, mut ntp_buffers) = (ntp::NtpServer::new(), SocketBuffers::<4, 1024>::new());
    let config = Config::default();
    let cidrs = config.cidrs();
    let directory = [
        ServiceEntry {
            name: "echo",
            port: echo::DEFAULT_PORT,
        },
        ServiceEntry {
            name: "chat",
            port: chat::DEFAULT_PORT,
        },
    ];
    let Ok(mut discovery) = Discovery::new("no-std-check", Some(config.mac), &cidrs, &directory) else {
        return 6;
    };
    let mut discovery_buffers = SocketBuffers::<4, 2048>::new();
    // Everything the stack borrows is declared before it.
    let mut sockets = [SocketStorage::EMPTY; 8];
    let mut neighbors = [NeighborSlot::EMPTY; 8];
    let mut buffers = StackStorage::new();
    let mut stack = Stack::new(
        &config,
        &mut board,
        &mut sockets,
        &mut neighbors,
        &mut buffers,
    );
    let added = [
        stack.add_service(&mut echo, echo::DEFAULT_PORT, echo_buffers.queues()),
        stack.add_service(
            &mut daytime,
            daytime::DEFAULT_PORT,
            daytime_buffers.queues(),
        ),
        stack.add_service(&mut time, time::DEFAULT_PORT, time_buffers.queues()),
        stack.add_service(&mut upper, upper::DEFAULT_PORT, upper_buffers.queues()),
        stack.add_service(&mut hello, hello::DEFAULT_PORT, hello_buffers.queues()),
        stack.add_service(&mut chat, chat::DEFAULT_PORT, chat_buffers.queues()),
        stack.add_service(&mut ntp, ntp::DEFAULT_PORT, ntp_buffers.queues()),
        stack.add_service(
            &mut discovery,
            discovery::DEFAULT_PORT,
            discovery_buffers.queues(),
        ),
    ];
    if added.iter().any(Result::is_err) {
        return 2;
    }

    if !exchange(&mut stack, &mut board, arp_request).is_some_and(is_arp_reply) {
        return 3;
    }
    if !exchange(&mut stack, &mut board, echo_request).is_some_and(is_echo_reply) {
        return 4;
    }
    if stack.poll(&mut board).is_some() {
        return 5;
    }
    0
}

/// Called by the C runtime's `_start`.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    run()
}
