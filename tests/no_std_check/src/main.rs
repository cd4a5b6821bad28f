//! The udpkit core in a `#![no_std]` binary with no allocator.
//!
//! It builds a [`Stack`] with every server service (echo, daytime, time,
//! upper, hello, chat, NTP, discovery) on an in-memory device,
//! answers an ARP request and an echo datagram through it, and exits with
//! status 0 when both answers are right (another status names the check that
//! failed). Building it at all is the proof that the core needs neither
//! `std` nor `alloc`; running it shows the result works.

#![no_std]
#![no_main]

use core::ffi::{c_char, c_int};
use core::panic::PanicInfo;

use udpkit::services::discovery::{Discovery, ReplyRepr, ServiceEntry};
use udpkit::services::{chat, daytime, discovery, echo, hello, ntp, time, upper};
use udpkit::smoltcp::iface::SocketStorage;
use udpkit::smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame, EthernetProtocol,
    EthernetRepr, IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};
use udpkit::{Board, Config, NeighborSlot, SocketBuffers, Stack, UnixTime};

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

const MAX_FRAME: usize = 1514;

/// One Ethernet frame in a fixed buffer.
#[derive(Clone, Copy)]
struct Frame {
    bytes: [u8; MAX_FRAME],
    len: usize,
}

impl Frame {
    const EMPTY: Frame = Frame {
        bytes: [0; MAX_FRAME],
        len: 0,
    };

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A device with room for one frame in each direction.
struct MemoryDevice {
    rx: Option<Frame>,
    tx: Frame,
    sent: usize,
}

struct RxToken(Frame);

struct TxToken<'a> {
    frame: &'a mut Frame,
    sent: &'a mut usize,
}

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0.as_slice())
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        // smoltcp never asks for more than the MTU below.
        self.frame.len = len;
        *self.sent += 1;
        f(&mut self.frame.bytes[..len])
    }
}

impl Device for MemoryDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.take()?;
        let tx = TxToken {
            frame: &mut self.tx,
            sent: &mut self.sent,
        };
        Some((RxToken(frame), tx))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            frame: &mut self.tx,
            sent: &mut self.sent,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = MAX_FRAME;
        caps
    }
}

struct MemoryBoard {
    device: MemoryDevice,
    now: Instant,
}

impl Board for MemoryBoard {
    type Device = MemoryDevice;

    fn device(&mut self) -> &mut MemoryDevice {
        &mut self.device
    }

    fn now(&mut self) -> Instant {
        self.now
    }

    fn wall_clock(&mut self) -> Option<UnixTime> {
        Some(UnixTime::from_secs(1_795_446_245))
    }

    fn entropy_seed(&mut self) -> u64 {
        1
    }
}

const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const OUR_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 1);
const PEER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);
const PEER_IP: Ipv4Address = Ipv4Address::new(192, 168, 69, 100);
const PAYLOAD: &[u8] = b"no_std";

fn ethernet(frame: &mut Frame, ethertype: EthernetProtocol, payload_len: usize) {
    frame.len = 14 + payload_len;
    EthernetRepr {
        src_addr: PEER_MAC,
        dst_addr: OUR_MAC,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut frame.bytes[..]));
}

fn arp_request() -> Frame {
    let mut frame = Frame::EMPTY;
    let arp = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: PEER_MAC,
        source_protocol_addr: PEER_IP,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: OUR_IP,
    };
    ethernet(&mut frame, EthernetProtocol::Arp, arp.buffer_len());
    arp.emit(&mut ArpPacket::new_unchecked(&mut frame.bytes[14..]));
    frame
}

fn echo_request() -> Frame {
    let mut frame = Frame::EMPTY;
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
    ethernet(
        &mut frame,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + ip.payload_len,
    );
    let mut packet = Ipv4Packet::new_unchecked(&mut frame.bytes[14..]);
    ip.emit(&mut packet, &caps);
    udp.emit(
        &mut UdpPacket::new_unchecked(packet.payload_mut()),
        &PEER_IP.into(),
        &OUR_IP.into(),
        PAYLOAD.len(),
        |payload| payload.copy_from_slice(PAYLOAD),
        &caps,
    );
    frame
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

/// One frame in, one poll: the frame the stack sent, if exactly one.
fn exchange<'f>(
    stack: &mut Stack<'_>,
    board: &'f mut MemoryBoard,
    frame: Frame,
) -> Option<&'f [u8]> {
    board.device.rx = Some(frame);
    board.device.sent = 0;
    board.now += udpkit::smoltcp::time::Duration::from_millis(10);
    stack.poll(board);
    (board.device.sent == 1).then_some(board.device.tx.as_slice())
}

fn run() -> c_int {
    let mut board = MemoryBoard {
        device: MemoryDevice {
            rx: None,
            tx: Frame::EMPTY,
            sent: 0,
        },
        now: Instant::from_secs(1),
    };
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
    let Ok(mut discovery) = Discovery::new(&ReplyRepr {
        name: "no-std-check",
        mac: Some(config.mac),
        addresses: &cidrs,
        services: &directory,
    }) else {
        return 6;
    };
    let mut discovery_buffers = SocketBuffers::<4, 2048>::new();
    // Everything the stack borrows is declared before it.
    let mut sockets = [SocketStorage::EMPTY; 8];
    let mut neighbors = [NeighborSlot::EMPTY; 8];
    let mut stack = Stack::new(&config, &mut board, &mut sockets, &mut neighbors);
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

    if !exchange(&mut stack, &mut board, arp_request()).is_some_and(is_arp_reply) {
        return 3;
    }
    if !exchange(&mut stack, &mut board, echo_request()).is_some_and(is_echo_reply) {
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
