//! Socket options and batched system calls the standard library lacks:
//! `sendmmsg`/`recvmmsg` for the load generator, buffer sizes and receive
//! timeouts on raw descriptors, and `SO_BINDTODEVICE` for discovery on one
//! link.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd as _, RawFd};
use std::time::Duration;

use anyhow::{bail, Result};

/// `count` buffers of `len` bytes for `sendmmsg`/`recvmmsg`, with their
/// message headers. The headers point into the buffers, which are allocated
/// once and never move.
pub struct Batch {
    len: usize,
    data: Vec<u8>,
    iovecs: Vec<libc::iovec>,
    headers: Vec<libc::mmsghdr>,
}

impl Batch {
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
        }
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
}
