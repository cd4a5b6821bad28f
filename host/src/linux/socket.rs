//! Socket options and batched system calls the standard library lacks:
//! `sendmmsg`/`recvmmsg` for the load generator (with each datagram's
//! source address chosen by `IP_PKTINFO`/`IPV6_PKTINFO`, and each reply's
//! destination read back the same way), buffer sizes and receive timeouts
//! on raw descriptors, and `SO_BINDTODEVICE` for discovery on one link.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd as _, RawFd};
use std::time::Duration;

use anyhow::{bail, Result};

/// Room for one control message: an `in6_pktinfo` (the larger of the two),
/// in 8-byte words so that its `cmsghdr` is aligned.
const CONTROL_WORDS: usize = 8;
// SAFETY: CMSG_SPACE is arithmetic on its argument.
const _: () = assert!(
    unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::in6_pktinfo>() as u32) } as usize
        <= CONTROL_WORDS * 8
);

/// Each message's own addresses, for an unconnected socket: where it goes
/// and which of this machine's addresses it leaves from (a `*_PKTINFO`
/// control message); on receive, where it came from and which address it
/// came to.
struct Addressing {
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL_WORDS]>,
}

/// `count` buffers of `len` bytes for `sendmmsg`/`recvmmsg`, with their
/// message headers. The headers point into the buffers, which are allocated
/// once and never move.
pub struct Batch {
    len: usize,
    data: Vec<u8>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
    /// With [`Batch::addressed`].
    addressing: Option<Addressing>,
}

impl Batch {
    /// For a connected socket: the messages carry no addresses.
    pub fn new(count: usize, len: usize) -> Batch {
        let mut data = vec![0u8; count * len];
        let base = data.as_mut_ptr();
        let mut iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                // SAFETY: i * len is within `data` (count * len bytes).
                iov_base: unsafe { base.add(i * len) }.cast(),
                iov_len: len,
            })
            .collect();
        let iov = iovecs.as_mut_ptr();
        let headers = (0..count)
            .map(|i| {
                // SAFETY: an all-zero mmsghdr is valid (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                // SAFETY: i < count, the length of `iovecs`.
                h.msg_hdr.msg_iov = unsafe { iov.add(i) };
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Batch {
            len,
            data,
            iovecs,
            headers,
            addressing: None,
        }
    }

    /// For an unconnected socket: each message to send is given its
    /// destination and source with [`Batch::address`], and each message
    /// received tells the address it came to ([`Batch::received_at`]; the
    /// socket needs [`receive_destinations`]).
    pub fn addressed(count: usize, len: usize) -> Batch {
        let mut batch = Batch::new(count, len);
        // SAFETY: an all-zero sockaddr_storage is valid (AF_UNSPEC).
        let empty: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut addressing = Addressing {
            names: vec![empty; count],
            controls: vec![[0; CONTROL_WORDS]; count],
        };
        for (i, h) in batch.headers.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&mut addressing.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_control = addressing.controls[i].as_mut_ptr().cast();
        }
        // The vectors' heap buffers, which the headers point into, stay put
        // when the vectors themselves move into the batch.
        batch.addressing = Some(addressing);
        batch.open_addresses();
        batch
    }

    /// Gives every message of an addressed batch its whole room for
    /// addresses again (a receive shrinks them to what came).
    fn open_addresses(&mut self) {
        if self.addressing.is_some() {
            for h in &mut self.headers {
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
                h.msg_hdr.msg_controllen = CONTROL_WORDS * 8;
            }
        }
    }

    /// Addresses message `i` of an addressed batch: it goes to `to` and
    /// leaves from `from`, an address of this machine of the same family.
    pub fn address(&mut self, i: usize, to: SocketAddr, from: IpAddr) {
        let Some(addressing) = &mut self.addressing else {
            panic!("Batch::address on a batch made without addresses");
        };
        let header = &mut self.headers[i].msg_hdr;
        header.msg_namelen = write_socket_address(&mut addressing.names[i], to);
        let control = &mut addressing.controls[i];
        *control = [0; CONTROL_WORDS];
        let (level, kind, data_len) = match from {
            IpAddr::V4(_) => (
                libc::IPPROTO_IP,
                libc::IP_PKTINFO,
                std::mem::size_of::<libc::in_pktinfo>(),
            ),
            IpAddr::V6(_) => (
                libc::IPPROTO_IPV6,
                libc::IPV6_PKTINFO,
                std::mem::size_of::<libc::in6_pktinfo>(),
            ),
        };
        // SAFETY: CMSG_SPACE is arithmetic on its argument.
        header.msg_controllen = unsafe { libc::CMSG_SPACE(data_len as u32) } as usize;
        // SAFETY: the header's control buffer is `control` (8-byte aligned,
        // CONTROL_WORDS * 8 bytes, at least the CMSG_SPACE of either
        // pktinfo), so its first cmsghdr and data are within it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(header);
            (*cmsg).cmsg_level = level;
            (*cmsg).cmsg_type = kind;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as usize;
            let data = libc::CMSG_DATA(cmsg);
            match from {
                IpAddr::V4(a) => {
                    let info = libc::in_pktinfo {
                        ipi_ifindex: 0,
                        // The source address to use.
                        ipi_spec_dst: libc::in_addr {
                            s_addr: u32::from_ne_bytes(a.octets()),
                        },
                        ipi_addr: libc::in_addr { s_addr: 0 },
                    };
                    std::ptr::write_unaligned(data.cast(), info);
                }
                IpAddr::V6(a) => {
                    let info = libc::in6_pktinfo {
                        ipi6_addr: libc::in6_addr {
                            s6_addr: a.octets(),
                        },
                        ipi6_ifindex: 0,
                    };
                    std::ptr::write_unaligned(data.cast(), info);
                }
            }
        }
    }

    /// The address message `i` of the last receive came to (its IP
    /// destination), on an addressed batch whose socket has
    /// [`receive_destinations`]; `None` otherwise.
    pub fn received_at(&self, i: usize) -> Option<IpAddr> {
        self.addressing.as_ref()?;
        let header = &self.headers[i].msg_hdr;
        // SAFETY: the kernel wrote `msg_controllen` bytes of control
        // messages into the header's buffer; CMSG_FIRSTHDR/CMSG_NXTHDR stay
        // within that length, and each data read is within its cmsg_len.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(header);
            while !cmsg.is_null() {
                let data = libc::CMSG_DATA(cmsg);
                match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                    (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                        let info: libc::in_pktinfo = std::ptr::read_unaligned(data.cast());
                        let bytes = info.ipi_addr.s_addr.to_ne_bytes();
                        return Some(Ipv4Addr::from(bytes).into());
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let info: libc::in6_pktinfo = std::ptr::read_unaligned(data.cast());
                        return Some(Ipv6Addr::from(info.ipi6_addr.s6_addr).into());
                    }
                    _ => cmsg = libc::CMSG_NXTHDR(header, cmsg),
                }
            }
        }
        None
    }

    pub fn capacity(&self) -> usize {
        self.headers.len()
    }

    /// Buffer `i`, whole.
    pub fn buffer_mut(&mut self, i: usize) -> &mut [u8] {
        &mut self.data[i * self.len..(i + 1) * self.len]
    }

    /// What message `i` of the last receive brought.
    pub fn received(&self, i: usize) -> &[u8] {
        let n = (self.headers[i].msg_len as usize).min(self.len);
        &self.data[i * self.len..i * self.len + n]
    }

    /// Sends buffers `0..count`, each `len` bytes, on connected socket `fd`
    /// without blocking; returns how many went.
    pub fn send(&mut self, fd: RawFd, count: usize, len: usize) -> io::Result<usize> {
        let count = count.min(self.capacity());
        let len = len.min(self.len);
        for iov in &mut self.iovecs[..count] {
            iov.iov_len = len;
        }
        // SAFETY: the first `count` headers point to valid iovecs over
        // `data`, which outlives the call.
        let sent = unsafe {
            libc::sendmmsg(
                fd,
                self.headers.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(sent as usize)
    }

    /// Receives up to `capacity()` datagrams from `fd`. `wait`: block for
    /// the first (within the socket's receive timeout), then take what is
    /// queued; otherwise never block.
    pub fn receive(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        for iov in &mut self.iovecs {
            iov.iov_len = self.len;
        }
        self.open_addresses();
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: every header points to a valid iovec over `data`, which
        // outlives the call; no timeout is passed.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.headers.as_mut_ptr(),
                self.headers.len() as libc::c_uint,
                flags,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

/// Writes `address` as a `sockaddr_in` or `sockaddr_in6` into `storage`;
/// returns its length.
fn write_socket_address(storage: &mut libc::sockaddr_storage, address: SocketAddr) -> u32 {
    // SAFETY: an all-zero sockaddr_storage is valid.
    *storage = unsafe { std::mem::zeroed() };
    let pointer = (storage as *mut libc::sockaddr_storage).cast::<u8>();
    match address {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe { std::ptr::write(pointer.cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>() as u32
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe { std::ptr::write(pointer.cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>() as u32
        }
    }
}

/// Has the kernel tell, with each datagram `fd` receives, the address it
/// came to (`IP_PKTINFO`, or `IPV6_RECVPKTINFO` for an IPv6 socket).
pub fn receive_destinations(fd: RawFd, ipv6: bool) -> io::Result<()> {
    if ipv6 {
        setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)
    } else {
        setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, 1)
    }
}

fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` is a valid c_int for the length given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Asks for socket buffers of `bytes` each way: past the system's limit
/// when allowed (root), up to it otherwise.
pub fn set_buffers(fd: RawFd, bytes: i32) {
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, libc::SOL_SOCKET, force, bytes).is_err() {
            let _ = setsockopt_int(fd, libc::SOL_SOCKET, plain, bytes);
        }
    }
}

/// How long a blocking receive waits at most.
pub fn set_receive_timeout(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: `tv` is a valid timeval for the length given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SO_BINDTODEVICE: the socket sends on and hears from link `name` only.
pub fn bind_to_device(socket: &UdpSocket, name: &str) -> Result<()> {
    let c_name = crate::linux::netif::c_name(name)?;
    let bytes = c_name.as_bytes_with_nul();
    // SAFETY: setsockopt reads `bytes.len()` bytes from a buffer of that
    // length, on a socket we own.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if result != 0 {
        let error = io::Error::last_os_error();
        bail!(
            "cannot use interface {name}: {error}{}",
            match error.raw_os_error() {
                Some(libc::ENODEV) => " (no such interface)",
                Some(libc::EPERM) => " (this kernel wants CAP_NET_RAW for it)",
                _ => "",
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_buffers_are_disjoint() {
        let mut batch = Batch::new(3, 10);
        for i in 0..3 {
            batch.buffer_mut(i).fill(i as u8 + 1);
        }
        for i in 0..3 {
            assert!(batch.buffer_mut(i).iter().all(|&b| b == i as u8 + 1));
        }
        assert_eq!(batch.capacity(), 3);
    }

    /// Sends from `sources` (each message its own) on one unconnected
    /// socket to a socket bound to `target`, and reads each datagram's
    /// destination back on a socket bound to the wildcard address.
    fn round_trip(wildcard: IpAddr, target: SocketAddr, sources: &[IpAddr]) {
        let receiver = UdpSocket::bind(target).unwrap();
        let target = receiver.local_addr().unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let sender = UdpSocket::bind(SocketAddr::new(wildcard, 0)).unwrap();
        receive_destinations(sender.as_raw_fd(), wildcard.is_ipv6()).unwrap();
        let port = sender.local_addr().unwrap().port();
        let mut tx = Batch::addressed(sources.len(), 8);
        for (i, &from) in sources.iter().enumerate() {
            tx.buffer_mut(i).fill(i as u8);
            tx.address(i, target, from);
        }
        assert_eq!(
            tx.send(sender.as_raw_fd(), sources.len(), 8).unwrap(),
            sources.len()
        );
        // Each arrives from the address it was given, and goes back to it.
        let mut buf = [0u8; 16];
        for (i, &from) in sources.iter().enumerate() {
            let (n, peer) = receiver.recv_from(&mut buf).unwrap();
            assert_eq!(
                (&buf[..n], peer),
                (&[i as u8; 8][..], SocketAddr::new(from, port))
            );
            receiver.send_to(&buf[..n], peer).unwrap();
        }
        let mut rx = Batch::addressed(4, 16);
        let mut seen = Vec::new();
        while seen.len() < sources.len() {
            let n = rx.receive(sender.as_raw_fd(), true).unwrap();
            for i in 0..n {
                seen.push((rx.received(i)[0], rx.received_at(i)));
            }
        }
        let expected: Vec<_> = (0..).zip(sources).map(|(i, &a)| (i, Some(a))).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn an_addressed_batch_sends_from_and_hears_at_each_address_ipv4() {
        // All of 127/8 is on `lo`: no interface is configured.
        let sources: Vec<IpAddr> = (2..7).map(|b| IpAddr::from([127, 0, 0, b])).collect();
        round_trip(
            Ipv4Addr::UNSPECIFIED.into(),
            "127.0.0.1:0".parse().unwrap(),
            &sources,
        );
    }

    #[test]
    fn an_addressed_batch_sends_from_and_hears_at_each_address_ipv6() {
        // ::1 is the one IPv6 loopback address; the control message and the
        // destination read back are still IPv6's.
        let Ok(probe) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 on this machine's loopback
        };
        drop(probe);
        round_trip(
            Ipv6Addr::UNSPECIFIED.into(),
            "[::1]:0".parse().unwrap(),
            &[Ipv6Addr::LOCALHOST.into(); 3],
        );
    }

    #[test]
    fn a_plain_batch_knows_no_destination() {
        let batch = Batch::new(2, 8);
        assert_eq!(batch.received_at(0), None);
    }
}
