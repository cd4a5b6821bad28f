//! Sleeping until a descriptor is readable: `poll(2)` for the serve loops
//! and the discovery client, `ppoll(2)` for the load generator's pacing,
//! `epoll(7)` for its many sockets.
//!
//! Each loop used to carry its own `unsafe` call to `poll` with its own
//! handling of EINTR; here a signal that interrupts the wait is a wake-up
//! like any other (the caller looks at what is ready, and at its signal
//! pipes), and a timeout is a [`Duration`] or none at all.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::time::Duration;

/// Descriptors to wait on together, kept between waits so that a busy loop
/// does not allocate.
pub struct PollSet {
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    /// Waits for data on `fds` (errors and hang-ups are always reported).
    pub fn new(fds: &[RawFd]) -> PollSet {
        PollSet {
            fds: fds
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect(),
        }
    }

    /// Sleeps until a descriptor is readable or broken, a signal arrives, or
    /// `timeout` passes (`None`: no timeout). The timeout is exact to the
    /// nanosecond; callers that want coarser wake-ups round it themselves.
    pub fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        for fd in &mut self.fds {
            fd.revents = 0;
        }
        let timespec = timeout.map(timespec);
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a valid array of pollfd of the length passed,
        // exclusively borrowed for the whole call; `timespec_ptr` is null
        // (no timeout) or points to a timespec that outlives the call; no
        // signal mask is passed.
        let ready = unsafe {
            libc::ppoll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                timespec_ptr,
                std::ptr::null(),
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        Ok(())
    }

    /// Whether descriptor `i` (its place in `new`'s list) has data.
    pub fn readable(&self, i: usize) -> bool {
        self.fds
            .get(i)
            .is_some_and(|fd| fd.revents & libc::POLLIN != 0)
    }

    /// Whether descriptor `i` reported an error, a hang-up, or is not open.
    pub fn broken(&self, i: usize) -> bool {
        self.fds
            .get(i)
            .is_some_and(|fd| fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0)
    }
}

/// Waits until `fd` is readable or `timeout` passed (nanosecond precision).
/// Errors are left to the read that follows.
pub fn wait_readable(fd: RawFd, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = timespec(timeout);
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
}

fn timespec(duration: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: duration.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: duration.subsec_nanos() as libc::c_long,
    }
}

/// Readiness of many sockets at once (epoll), for a generator with many
/// sockets (source addresses, or sockets of one address).
pub struct Poller {
    epoll: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl Poller {
    /// Watches `fds` for data (and errors); a ready one is reported by its
    /// index in `fds`.
    pub fn new(fds: &[RawFd]) -> io::Result<Poller> {
        // SAFETY: epoll_create1 has no preconditions.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        for (i, &fd) in fds.iter().enumerate() {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: both descriptors are open; `event` is valid for the call.
            if unsafe { libc::epoll_ctl(raw, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(Poller {
            epoll,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; fds.len().clamp(1, 256)],
        })
    }

    /// The epoll descriptor itself: readable while any socket is.
    pub fn fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    /// Fills `ready` with the indices of the sockets that have data or an
    /// error, waiting up to `timeout` (whole milliseconds, rounded up) for
    /// the first when none has.
    pub fn wait(&mut self, ready: &mut Vec<usize>, timeout: Duration) -> io::Result<()> {
        ready.clear();
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        // SAFETY: `events` has room for the count passed.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::EINTR) {
                Ok(())
            } else {
                Err(e)
            };
        }
        ready.extend(self.events[..n as usize].iter().map(|e| e.u64 as usize));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn the_poll_set_tells_which_socket_has_data_and_times_out() {
        let sockets: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let fds: Vec<RawFd> = sockets.iter().map(|s| s.as_raw_fd()).collect();
        let mut set = PollSet::new(&fds);
        let started = std::time::Instant::now();
        set.wait(Some(Duration::from_millis(20))).unwrap();
        assert!(started.elapsed() >= Duration::from_millis(20));
        assert!(!set.readable(0) && !set.readable(1) && !set.broken(0));
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender
            .send_to(b"x", sockets[1].local_addr().unwrap())
            .unwrap();
        set.wait(Some(Duration::from_secs(5))).unwrap();
        assert!(!set.readable(0));
        assert!(set.readable(1));
        // No such descriptor: not readable, not broken.
        assert!(!set.readable(7) && !set.broken(7));
    }

    #[test]
    fn the_poller_names_the_sockets_with_data() {
        let sockets: Vec<UdpSocket> = (0..3)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let fds: Vec<RawFd> = sockets.iter().map(|s| s.as_raw_fd()).collect();
        let mut poller = Poller::new(&fds).unwrap();
        let mut ready = vec![99];
        poller.wait(&mut ready, Duration::ZERO).unwrap();
        assert!(ready.is_empty());
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in [2, 0] {
            sender
                .send_to(b"x", sockets[i].local_addr().unwrap())
                .unwrap();
        }
        // Loopback delivery is immediate, but wait a little all the same.
        let mut seen = Vec::new();
        for _ in 0..100 {
            poller.wait(&mut ready, Duration::from_millis(10)).unwrap();
            seen.extend(ready.iter().copied());
            seen.sort_unstable();
            seen.dedup();
            if seen.len() == 2 {
                break;
            }
        }
        assert_eq!(seen, [0, 2]);
    }
}
