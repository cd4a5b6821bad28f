//! The system calls of the load generator: batched sends and receives
//! (`sendmmsg`/`recvmmsg`), socket options, CPU pinning, and CPU time
//! accounting from `/proc`.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::time::Duration;

use anyhow::{Context as _, Result};

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

/// Waits until `fd` is readable or `timeout` passed (nanosecond precision).
pub fn wait_readable(fd: RawFd, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
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

/// Makes room for at least `needed` open files (the soft limit raised
/// toward the hard one); fails when the hard limit is below that.
pub fn allow_open_files(needed: u64) -> Result<()> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error()).context("reading the open files limit");
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        anyhow::bail!(
            "{needed} open files are needed (a socket per source address, or --sockets per \
             address) but at most {} are allowed (ulimit -Hn): use fewer sources or sockets, \
             or raise the limit",
            limit.rlim_max
        );
    }
    limit.rlim_cur = needed;
    // SAFETY: `limit` is a valid rlimit, within the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("raising the open files limit to {needed}"));
    }
    Ok(())
}

/// Timers of this thread fire on time, not up to 50 µs late (the default
/// slack), which matters for pacing.
pub fn tight_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and affects this thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Runs this thread on CPU `cpu` only.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it
    // (checked against CPU_SETSIZE first).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            anyhow::bail!("CPU {cpu} is out of range");
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("cannot pin the load generator to CPU {cpu}"));
        }
    }
    Ok(())
}

/// The shortest run whose server and machine CPU use is reported.
pub const MIN_TICKED_RUN: Duration = Duration::from_millis(500);

/// A snapshot of CPU time: the machine's, ours, and a server's.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    /// Time the machine spent running tasks (user, nice, system), in ticks.
    machine_ticks: u64,
    /// Our own CPU time, in microseconds.
    self_us: u64,
    /// The server's CPU time, in ticks, if it could be read.
    server_ticks: Option<u64>,
}

/// CPU use during a run, in percent of one CPU (200 % = two CPUs busy).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    /// The load generator.
    pub generator_pct: f64,
    /// The server (`--server-pid`), if known.
    pub server_pct: Option<f64>,
    /// Every other task on the machine: above a few percent, the run was
    /// disturbed. Only known with the server's PID.
    pub others_pct: Option<f64>,
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn machine_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    parse_proc_stat(&stat).unwrap_or(0)
}

/// User + nice + system ticks of all CPUs from `/proc/stat`.
fn parse_proc_stat(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.len() == 3).then(|| f.iter().sum())
}

/// utime + stime of a process from `/proc/PID/stat`.
fn parse_pid_stat(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of the file, utime 14 and stime 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn self_cpu_us() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

impl CpuSnapshot {
    pub fn take(server_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            machine_ticks: machine_ticks(),
            self_us: self_cpu_us(),
            server_ticks: server_pid.and_then(|pid| {
                parse_pid_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
            }),
        }
    }

    /// CPU use between `self` and `later`, `wall` apart. The server's and
    /// the machine's are counted in clock ticks (usually 10 ms): over less
    /// than [`MIN_TICKED_RUN`] they would be mostly rounding, and are left out.
    pub fn usage_until(&self, later: &CpuSnapshot, wall: Duration) -> CpuUse {
        let wall_us = wall.as_micros().max(1) as f64;
        let tick_us = 1_000_000.0 / clock_ticks() as f64;
        let pct = |us: f64| 100.0 * us / wall_us;
        let generator_us = later.self_us.saturating_sub(self.self_us) as f64;
        let server_us = match (self.server_ticks, later.server_ticks) {
            (Some(a), Some(b)) if wall >= MIN_TICKED_RUN => {
                Some(b.saturating_sub(a) as f64 * tick_us)
            }
            _ => None,
        };
        let machine_us = later.machine_ticks.saturating_sub(self.machine_ticks) as f64 * tick_us;
        CpuUse {
            generator_pct: pct(generator_us),
            server_pct: server_us.map(pct),
            others_pct: server_us.map(|s| pct((machine_us - s - generator_us).max(0.0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_task_time() {
        let stat = "cpu  100 5 50 9000 20 3 7 0 0 0\ncpu0 50 2 25 4500 10 1 3 0 0 0\n";
        assert_eq!(parse_proc_stat(stat), Some(155));
        assert_eq!(parse_proc_stat("intr 1 2 3\n"), None);
    }

    #[test]
    fn pid_stat_with_spaces_in_the_name() {
        let stat = "1234 (udp kit) S 1 1234 1234 0 -1 4194560 100 0 0 0 42 17 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_pid_stat(stat), Some(59));
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn usage_in_percent_of_one_cpu() {
        let ticks = clock_ticks();
        let before = CpuSnapshot {
            machine_ticks: 0,
            self_us: 0,
            server_ticks: Some(0),
        };
        // Over 2 s: the server used 1.5 s, we used 1 s, the machine 3 s.
        let after = CpuSnapshot {
            machine_ticks: 3 * ticks,
            self_us: 1_000_000,
            server_ticks: Some(ticks * 3 / 2),
        };
        let u = before.usage_until(&after, Duration::from_secs(2));
        assert!((u.generator_pct - 50.0).abs() < 1e-6, "{u:?}");
        assert!((u.server_pct.unwrap() - 75.0).abs() < 1.0, "{u:?}");
        assert!((u.others_pct.unwrap() - 25.0).abs() < 1.0, "{u:?}");
        let no_server = CpuSnapshot {
            server_ticks: None,
            ..after
        };
        let u = before.usage_until(&no_server, Duration::from_secs(2));
        assert_eq!((u.server_pct, u.others_pct), (None, None));
        // Too short to count in ticks.
        let u = before.usage_until(&after, Duration::from_millis(100));
        assert_eq!((u.server_pct, u.others_pct), (None, None));
        assert!(u.generator_pct > 0.0);
    }

    #[test]
    fn the_poller_names_the_sockets_with_data() {
        use std::net::UdpSocket;
        use std::os::fd::AsRawFd;
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
