//! The load generator: UDP sockets, datagrams stamped with a sequence
//! number and their send time, batched system calls, and a ledger of what
//! is in flight.
//!
//! A *source* is an (address, port) the server sees datagrams from. With
//! several (many addresses, `--sources`, or many sockets on each,
//! `--sockets`) the datagrams take turns: datagram `n` of a run (and warm-up
//! exchange `n`) leaves from source `n % sources`, so the server sees every
//! sender in every stretch of traffic, as it would with that many real
//! clients, rather than one sender's burst after another's. A reply must
//! come back to the source its datagram left from; one that comes back to
//! another host, or to another port of the same host, is counted as bad.
//!
//! Many addresses cost the generator no more than one: one socket (per
//! `--sockets`) serves them all, bound to the wildcard address, each
//! datagram of a `sendmmsg` batch given its source address by a
//! `*_PKTINFO` control message, and each reply's destination read back
//! the same way. So a many-hosts run measures the server, not the client:
//! with a socket per address, each datagram took a system call of its own
//! and the replies an `epoll` round, and the kernel's own echo lost a
//! quarter of its rate to that. Many sockets of one address (`--sockets`
//! alone) are still that: a socket each, connected, one datagram per call.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::bench::cpu::{CpuSnapshot, CpuUse};
use crate::bench::payload::{tagged, untag, Pattern, Stamp, HEADER, WARM_UP};
use crate::bench::stats::{Counts, Latency, Ledger, ReplyKind, RttSummary};
use crate::linux::poll::{self, Poller};
use crate::linux::process;
use crate::linux::socket::{self, Batch};

/// Datagrams per `sendmmsg`.
const SEND_BATCH: usize = 32;
/// Datagrams per `recvmmsg`.
const RECEIVE_BATCH: usize = 64;
/// A blocking receive returns after this long at the latest, so deadlines
/// and the end of a run are noticed.
const RECEIVE_TICK: Duration = Duration::from_millis(1);
/// Datagrams the ledger tracks at once: in flight, or answered but newer than
/// the oldest in flight. At 1 M datagrams/s and a 50 ms deadline a single
/// loss holds 50 000 behind it.
pub const LEDGER_CAPACITY: usize = 1 << 17;
/// The most a window may be.
pub const MAX_WINDOW: u64 = 1 << 16;
/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// One run: how much to send, and how.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// At most this many datagrams in flight.
    pub window: u64,
    /// Open loop: send at this rate (datagrams/s), `window` permitting.
    pub rate: Option<f64>,
    /// Stop sending after this long...
    pub duration: Duration,
    /// ... or after this many datagrams, whichever comes first.
    pub count: u64,
    /// A reply later than this counts as lost.
    pub loss: Duration,
}

/// Where a run is, for a progress display.
pub struct Progress {
    pub elapsed: Duration,
    pub counts: Counts,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub counts: Counts,
    pub rtt: RttSummary,
    /// From the first send to the last reply (or send, if later).
    pub duration: Duration,
    /// ICMP errors (port unreachable) reported on the socket.
    pub refused: u64,
    /// Sends the kernel did not take (its buffers full).
    pub send_errors: u64,
    pub cpu: CpuUse,
    /// Correct, on-time replies per source, in the generator's order (see
    /// [`Generator::connect`]).
    pub received_by_source: Vec<u64>,
}

impl Outcome {
    pub fn echoes_per_s(&self) -> f64 {
        self.counts.received as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    pub fn sent_per_s(&self) -> f64 {
        self.counts.sent as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// A socket the load leaves from: connected to the target and bound to one
/// address (one source), or bound to the wildcard address and unconnected
/// (a source per address of [`Turns::addresses`]).
struct Sender {
    /// Owns `fd`.
    _socket: UdpSocket,
    fd: RawFd,
    /// The address and port it is bound to (the address the kernel picked,
    /// when connected from the wildcard address).
    local: SocketAddr,
}

/// Which source is which: source `s` is address `s % per_socket` of socket
/// `s / per_socket`.
#[derive(Clone)]
struct Turns {
    /// The source addresses; with one address per socket, the sockets'.
    addresses: Vec<IpAddr>,
    /// Sources per socket: all of `addresses` (one socket serves them all),
    /// or 1 (a socket each).
    per_socket: usize,
    /// Sources in all.
    total: usize,
}

impl Turns {
    /// The source datagram `n` (of a run, or of the warm-up) leaves from.
    fn source_of(&self, n: u64) -> usize {
        (n % self.total as u64) as usize
    }

    fn socket_of(&self, source: usize) -> usize {
        source / self.per_socket
    }

    /// The address `source` sends from: `None` when its socket is bound to
    /// it (connected), so the datagram needs no address of its own.
    fn address_of(&self, source: usize) -> Option<IpAddr> {
        (self.per_socket > 1).then(|| self.addresses[source % self.per_socket])
    }

    /// Whether a reply that came to socket `socket`, at address `to`, came
    /// back to `source`.
    fn reached(&self, source: usize, socket: usize, to: Option<IpAddr>) -> bool {
        self.socket_of(source) == socket && (self.per_socket == 1 || to == self.address_of(source))
    }

    /// How many datagrams from `first` on may go in one system call: those
    /// of the same socket, at most `most`.
    fn run_from(&self, first: u64, most: usize) -> usize {
        match (self.total, self.per_socket) {
            (1, _) => most,
            (_, 1) => 1,
            (_, n) => most.min(n - self.source_of(first) % n),
        }
    }
}

/// A load generator connected to one echo service.
pub struct Generator {
    /// At least one.
    senders: Vec<Sender>,
    turns: Turns,
    /// With more than one sender: which sockets have replies.
    poller: Option<Poller>,
    /// Scratch for the poller's answers.
    ready: Vec<usize>,
    target: SocketAddr,
    pattern: Pattern,
    tx: Batch,
    rx: Batch,
    epoch: Instant,
    server_pid: Option<u32>,
    /// Tags the sequence numbers of the current run.
    run: u64,
}

impl Generator {
    /// Sockets for `size`-byte payloads to `target`: `sockets_each` sources
    /// on each address of `sources` (which must be on an interface
    /// already), or on whatever address the kernel picks when `sources` is
    /// empty. With one address, each source is a socket bound to it and
    /// connected; with several, each of `sockets_each` sockets (a port of
    /// its own) sends from all of them.
    ///
    /// They take turns in the order: the first port of every address, in
    /// the order given, then the second of every address, and so on, so
    /// that consecutive datagrams come from different hosts when there are
    /// several.
    pub fn connect(
        target: SocketAddr,
        sources: &[IpAddr],
        sockets_each: usize,
        size: usize,
        server_pid: Option<u32>,
    ) -> Result<Generator> {
        let unspecified: IpAddr = if target.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        let addresses = if sources.is_empty() {
            &[unspecified][..]
        } else {
            sources
        };
        if let Some(other) = addresses.iter().find(|a| a.is_ipv4() != target.is_ipv4()) {
            bail!(
                "source address {other} and target {target} are of different families: \
                 give {} sources",
                if target.is_ipv4() { "IPv4" } else { "IPv6" }
            );
        }
        if sockets_each == 0 {
            bail!("at least one socket per source address is needed");
        }
        let shared = addresses.len() > 1;
        let socket_count = if shared {
            sockets_each
        } else {
            addresses.len().saturating_mul(sockets_each)
        };
        // The sockets, the epoll descriptor, and what else is open.
        process::allow_open_files(socket_count as u64 + 64)?;
        // Thousands of sockets at 8 MiB each would pin gigabytes: the
        // buffers are shared out, with 256 KiB each at least.
        let buffer = ((64 << 20) / socket_count).clamp(256 << 10, 8 << 20) as i32;
        let mut senders = Vec::with_capacity(socket_count);
        if shared {
            // Each address is checked as a connected socket would be, so a
            // missing one is named before anything is sent.
            for &address in addresses {
                bind_source(address, target)?;
            }
        }
        for k in 0..socket_count {
            // Unconnected, a shared socket hears of no ICMP errors: a closed
            // port shows as no reply at all, not as refused.
            let socket = if shared {
                let socket = UdpSocket::bind(SocketAddr::new(unspecified, 0))
                    .context("cannot open a UDP socket")?;
                socket::receive_destinations(socket.as_raw_fd(), target.is_ipv6())
                    .context("asking for the replies' destination addresses (IP_PKTINFO)")?;
                socket
            } else {
                bind_source(addresses[k % addresses.len()], target)?
            };
            let fd = socket.as_raw_fd();
            socket::set_buffers(fd, buffer);
            socket::set_receive_timeout(fd, RECEIVE_TICK).context("setting the receive timeout")?;
            let local = socket
                .local_addr()
                .unwrap_or(SocketAddr::new(unspecified, 0));
            senders.push(Sender {
                _socket: socket,
                fd,
                local,
            });
        }
        let poller = if senders.len() > 1 {
            let fds: Vec<RawFd> = senders.iter().map(|s| s.fd).collect();
            Some(Poller::new(&fds).context("cannot watch the sockets (epoll)")?)
        } else {
            None
        };
        let turns = Turns {
            addresses: addresses.to_vec(),
            per_socket: if shared { addresses.len() } else { 1 },
            total: addresses.len().saturating_mul(sockets_each),
        };
        let (tx, rx) = if shared {
            (
                Batch::addressed(SEND_BATCH, size.max(HEADER)),
                Batch::addressed(RECEIVE_BATCH, size.max(HEADER) + 64),
            )
        } else {
            (
                Batch::new(SEND_BATCH, size.max(HEADER)),
                // Room for a reply longer than ours, so that it shows as bad.
                Batch::new(RECEIVE_BATCH, size.max(HEADER) + 64),
            )
        };
        process::tight_timers();
        Ok(Generator {
            senders,
            turns,
            poller,
            ready: Vec::new(),
            target,
            pattern: Pattern::new(size.max(HEADER)),
            tx,
            rx,
            epoch: Instant::now(),
            server_pid,
            run: 0,
        })
    }

    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// How many sources ((address, port) pairs) the load comes from, all
    /// addresses together.
    pub fn source_count(&self) -> usize {
        self.turns.total
    }

    /// How many distinct addresses (hosts, as the server sees them) the
    /// load comes from.
    pub fn address_count(&self) -> usize {
        self.turns.addresses.len()
    }

    /// How many sources (ports) each source address has.
    pub fn sockets_per_address(&self) -> usize {
        self.turns.total / self.turns.addresses.len().max(1)
    }

    /// Where `source` sends from, for messages: its address and port.
    fn local_of(&self, source: usize) -> SocketAddr {
        let local = self.senders[self.turns.socket_of(source)].local;
        match self.turns.address_of(source) {
            Some(address) => SocketAddr::new(address, local.port()),
            None => local,
        }
    }

    /// Puts `count` datagrams from source `first` on in the send batch's
    /// first buffers (stamped with `seq(j)` and `stamp`) and sends them on
    /// their (one) socket.
    fn send(
        &mut self,
        first: usize,
        count: usize,
        seq: impl Fn(usize) -> u64,
        stamp: u64,
    ) -> std::io::Result<usize> {
        for j in 0..count {
            self.pattern.fill(self.tx.buffer_mut(j), seq(j), stamp);
            if let Some(from) = self.turns.address_of(first + j) {
                self.tx.address(j, self.target, from);
            }
        }
        let fd = self.senders[self.turns.socket_of(first)].fd;
        self.tx.send(fd, count, self.pattern.size())
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn refused_error(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "{} refused the datagrams (ICMP port unreachable): no service listens on that port",
            self.target
        )
    }

    /// Exchanges `pings` datagrams one at a time (each waiting up to
    /// `timeout`), so that ARP is resolved and both sides are awake before
    /// measuring. Fails when nothing comes back.
    ///
    /// With several sources (sockets) the exchanges take turns among them,
    /// each source at least once (so `pings` is raised to the number of
    /// sources); sources that get no reply at all are logged.
    pub fn warm_up(&mut self, pings: u32, timeout: Duration) -> Result<u32> {
        let size = self.pattern.size();
        let mut answered = 0;
        let mut answered_by = vec![0u32; self.turns.total];
        let mut refused = 0;
        let mut bad = 0;
        let pings = u64::from(pings.max(1)).max(self.turns.total as u64);
        for k in 0..pings {
            let seq = WARM_UP | k;
            let source = self.turns.source_of(k);
            let socket = self.turns.socket_of(source);
            let fd = self.senders[socket].fd;
            let stamp = self.now_ns();
            match self.send(source, 1, |_| seq, stamp) {
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => refused += 1,
                _ => {}
            }
            let deadline = Instant::now() + timeout;
            'wait: while Instant::now() < deadline {
                match self.rx.receive(fd, true) {
                    Ok(n) => {
                        for i in 0..n {
                            let to = self.rx.received_at(i);
                            match self.pattern.check(self.rx.received(i)) {
                                Some(s)
                                    if s.seq == seq
                                        && s.sent_ns == stamp
                                        && self.turns.reached(source, socket, to) =>
                                {
                                    answered += 1;
                                    answered_by[source] += 1;
                                    break 'wait;
                                }
                                // An earlier one of this source's, late.
                                Some(s)
                                    if s.seq & WARM_UP != 0
                                        && s.seq != seq
                                        && self.turns.reached(
                                            self.turns.source_of(s.seq & !WARM_UP),
                                            socket,
                                            to,
                                        ) => {}
                                // Altered, or another source's: misdirected.
                                _ => bad += 1,
                            }
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                        refused += 1;
                        break 'wait;
                    }
                    Err(_) => {}
                }
            }
            if answered == 0 && refused >= 3 {
                return Err(self.refused_error());
            }
            // Nobody answers: say so after ten tries rather than all of them.
            if answered == 0 && k >= 9 {
                break;
            }
        }
        if answered == 0 {
            let mut message = format!(
                "no reply from {} (warm-up datagrams of {size} bytes, {} each): \
                 is an echo service running there, and is it reachable?",
                self.target,
                humantime::format_duration(timeout)
            );
            if bad > 0 {
                message.push_str(&format!(
                    " ({bad} reply(ies) came back altered: not an echo service?)"
                ));
            }
            bail!(message);
        }
        if bad > 0 {
            bail!(
                "{} answered, but {bad} of its replies were not byte-for-byte copies \
                 (or came back to another source address or port than the one that sent them): \
                 not an echo service?",
                self.target
            );
        }
        // One source per address: the address says which; with more, the port too.
        let one_each = self.turns.total == self.turns.addresses.len();
        let silent: Vec<String> = answered_by
            .iter()
            .enumerate()
            .filter(|(_, &n)| n == 0)
            .map(|(source, _)| {
                let local = self.local_of(source);
                if one_each {
                    local.ip().to_string()
                } else {
                    local.to_string()
                }
            })
            .collect();
        if !silent.is_empty() {
            log::warn!(
                "{} of {} {} got no reply during the warm-up ({}{}); measuring anyway",
                silent.len(),
                self.turns.total,
                if one_each {
                    "source addresses"
                } else {
                    "sockets"
                },
                silent[..silent.len().min(5)].join(", "),
                if silent.len() > 5 { ", ..." } else { "" }
            );
        }
        Ok(answered)
    }

    /// Drops whatever is queued on the sockets (late warm-up replies).
    fn drain(&mut self) {
        for sender in &self.senders {
            while let Ok(n) = self.rx.receive(sender.fd, false) {
                if n == 0 {
                    break;
                }
            }
        }
    }

    /// Takes the replies queued on the sockets, waiting up to
    /// [`RECEIVE_TICK`] for the first when `wait`, and calls `on_reply` with
    /// the socket each came back to and the address it came to (when the
    /// socket is unconnected), what it carries (`None`: not a correct
    /// payload) and when it arrived (the generator's clock, ns). Returns the
    /// ICMP errors (port unreachable) seen.
    fn receive(&mut self, wait: bool, on_reply: &mut OnReply<'_>) -> Result<u64> {
        let Some(poller) = &mut self.poller else {
            // One socket: a blocking receive is the wait (no extra system call).
            return self.take_replies(0, wait, on_reply);
        };
        let timeout = if wait { RECEIVE_TICK } else { Duration::ZERO };
        poller
            .wait(&mut self.ready, timeout)
            .context("waiting for replies (epoll)")?;
        let mut refused = 0;
        let ready = std::mem::take(&mut self.ready);
        for &source in &ready {
            refused += self.take_replies(source, false, on_reply)?;
        }
        self.ready = ready;
        Ok(refused)
    }

    /// [`Generator::receive`] on one socket.
    fn take_replies(
        &mut self,
        socket: usize,
        mut wait: bool,
        on_reply: &mut OnReply<'_>,
    ) -> Result<u64> {
        let fd = self.senders[socket].fd;
        let mut refused = 0;
        loop {
            match self.rx.receive(fd, wait) {
                Ok(n) => {
                    let arrived = self.now_ns();
                    for i in 0..n {
                        let stamp = self.pattern.check(self.rx.received(i));
                        on_reply(socket, self.rx.received_at(i), stamp, arrived);
                    }
                    if n < self.rx.capacity() {
                        return Ok(refused);
                    }
                    wait = false;
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::ECONNREFUSED) => {
                        refused += 1;
                        wait = false;
                    }
                    Some(libc::EAGAIN) | Some(libc::EINTR) => return Ok(refused),
                    _ => {
                        return Err(e).with_context(|| {
                            format!(
                                "receiving from {} on {}",
                                self.target, self.senders[socket].local
                            )
                        })
                    }
                },
            }
        }
    }

    /// Runs `plan`, calling `progress` a few times a second.
    pub fn run(&mut self, plan: &Plan, progress: &mut dyn FnMut(&Progress)) -> Result<Outcome> {
        let window = plan.window.clamp(1, MAX_WINDOW);
        let loss_ns = plan.loss.as_nanos() as u64;
        let mut ledger = Ledger::new(LEDGER_CAPACITY, loss_ns);
        self.run += 1;
        let run = self.run;
        let mut latency = Latency::new();
        self.drain();
        let (mut refused, mut send_errors) = (0u64, 0u64);
        let mut received_by_source = vec![0u64; self.turns.total];
        // The replies' check needs it while the generator receives.
        let turns = self.turns.clone();

        let cpu_before = CpuSnapshot::take(self.server_pid);
        let wall_start = Instant::now();
        let start = self.now_ns();
        let stop_sending = start.saturating_add(plan.duration.as_nanos() as u64);
        let (mut last_tx, mut last_rx) = (start, start);
        let mut next_progress = start + PROGRESS_EVERY.as_nanos() as u64;
        let interval_ns = plan.rate.map(|r| 1e9 / r);

        loop {
            let now = self.now_ns();
            let sending = ledger.next_seq() < plan.count && now < stop_sending;
            // 1. Send what the window, the count and the pace allow.
            if sending {
                let mut allow = (window.saturating_sub(ledger.outstanding()))
                    .min(plan.count - ledger.next_seq())
                    .min(ledger.room());
                if let Some(interval) = interval_ns {
                    let due = ((now - start) as f64 / interval) as u64 + 1;
                    allow = allow.min(due.saturating_sub(ledger.next_seq()));
                }
                while allow > 0 {
                    // Sources take turns per datagram: a batch holds the
                    // datagrams of one socket's sources in a row.
                    let first = ledger.next_seq();
                    let k = self.turns.run_from(first, (allow as usize).min(SEND_BATCH));
                    let stamp = self.now_ns();
                    let source = self.turns.source_of(first);
                    match self.send(source, k, |j| tagged(run, first + j as u64), stamp) {
                        Ok(n) => {
                            for _ in 0..n {
                                ledger.sent(stamp);
                            }
                            last_tx = stamp;
                            allow -= n as u64;
                            if n < k {
                                send_errors += 1;
                                break;
                            }
                        }
                        Err(e) => {
                            match e.raw_os_error() {
                                Some(libc::ECONNREFUSED) => refused += 1,
                                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => {
                                    send_errors += 1
                                }
                                _ => {
                                    return Err(e).with_context(|| {
                                        format!(
                                            "sending to {} from {}",
                                            self.target,
                                            self.local_of(source)
                                        )
                                    })
                                }
                            }
                            break;
                        }
                    }
                }
            }

            // 2. Receive. Block (for RECEIVE_TICK at most) when nothing may
            // be sent now; when paced, sleep until the next datagram is due
            // unless a reply comes first.
            let now = self.now_ns();
            let may_send = ledger.next_seq() < plan.count
                && now < stop_sending
                && ledger.outstanding() < window
                && ledger.has_room();
            let wait = !may_send && ledger.outstanding() > 0;
            if may_send {
                if let Some(interval) = interval_ns {
                    let due_at = start + (ledger.next_seq() as f64 * interval) as u64;
                    if due_at > now {
                        let pause = Duration::from_nanos(due_at - now).min(RECEIVE_TICK);
                        let fd = self.poller.as_ref().map_or(self.senders[0].fd, Poller::fd);
                        poll::wait_readable(fd, pause);
                    }
                }
            }
            refused += self.receive(wait, &mut |socket, to, stamp, arrived| {
                match stamp {
                    // A late reply of the warm-up or of an earlier run (its
                    // deadline long past): not this run's.
                    Some(s) if s.seq & WARM_UP != 0 || untag(s.seq).0 != run => {}
                    Some(s) => {
                        let seq = untag(s.seq).1;
                        let source = turns.source_of(seq);
                        if !turns.reached(source, socket, to) {
                            // A copy, but delivered to another source (host
                            // or port) than the sender: not an echo.
                            ledger.bad();
                        } else if let ReplyKind::OnTime(rtt) = ledger.reply(seq, s.sent_ns, arrived)
                        {
                            latency.record(rtt);
                            received_by_source[source] += 1;
                            last_rx = arrived;
                        }
                    }
                    None => ledger.bad(),
                }
            })?;

            // 3. Settle what ran out of time; report; stop when all is settled.
            let now = self.now_ns();
            ledger.expire(now);
            if now >= next_progress {
                next_progress = now + PROGRESS_EVERY.as_nanos() as u64;
                progress(&Progress {
                    elapsed: Duration::from_nanos(now - start),
                    counts: ledger.counts(),
                });
            }
            let done_sending = ledger.next_seq() >= plan.count || now >= stop_sending;
            if done_sending && ledger.outstanding() == 0 {
                break;
            }
            if refused >= 3 && ledger.counts().received == 0 {
                return Err(self.refused_error());
            }
        }
        let wall = wall_start.elapsed();
        let cpu = cpu_before.usage_until(&CpuSnapshot::take(self.server_pid), wall);
        let end = last_rx.max(last_tx);
        Ok(Outcome {
            counts: ledger.counts(),
            rtt: latency.summary(),
            duration: Duration::from_nanos(end.saturating_sub(start).max(1)),
            refused,
            send_errors,
            cpu,
            received_by_source,
        })
    }
}

/// What [`Generator::receive`] calls for each reply: the socket it came to,
/// the address it came to (unconnected sockets), what it carries and when.
type OnReply<'a> = dyn FnMut(usize, Option<IpAddr>, Option<Stamp>, u64) + 'a;

/// A UDP socket bound to `address` (any port) and connected to `target`,
/// with errors that say what to do.
fn bind_source(address: IpAddr, target: SocketAddr) -> Result<UdpSocket> {
    let socket = match UdpSocket::bind(SocketAddr::new(address, 0)) {
        Ok(socket) => socket,
        Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => {
            let prefix = if address.is_ipv4() { 24 } else { 64 };
            let nodad = if address.is_ipv4() { "" } else { " nodad" };
            bail!(
                "cannot send from {address}: no interface of this network namespace has that \
                 address{}; add it to an interface first, e.g. \
                 `ip addr add {address}/{prefix} dev IFACE{nodad}` (IFACE: the interface \
                 toward {})",
                if address.is_ipv6() {
                    " (or it is still tentative: duplicate address detection)"
                } else {
                    ""
                },
                target.ip()
            );
        }
        Err(e) if address.is_unspecified() => {
            return Err(e).context("cannot open a UDP socket");
        }
        Err(e) => return Err(e).with_context(|| format!("cannot bind a UDP socket to {address}")),
    };
    socket.connect(target).with_context(|| {
        if address.is_unspecified() {
            format!("cannot reach {target}")
        } else {
            format!("cannot reach {target} from {address}")
        }
    })?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// What the test echo server does to the `n`-th datagram (from 1).
    #[derive(Clone, Copy)]
    enum Fault {
        None,
        /// Drops every k-th.
        Drop(u64),
        /// Flips a payload byte in every k-th.
        Mangle(u64),
        /// Answers every datagram twice.
        Twice,
        /// Sends every k-th reply to the previous datagram's sender instead
        /// (when that is another socket: address or port).
        Misdirect(u64),
    }

    /// An echo server on 127.0.0.1 in a thread; stops when dropped.
    struct Echo {
        address: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Echo {
        fn start(fault: Fault) -> Echo {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let address = socket.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread = std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                let mut n = 0u64;
                let mut previous: Option<SocketAddr> = None;
                while !flag.load(Ordering::Relaxed) {
                    let Ok((len, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    n += 1;
                    let reply = &mut buf[..len];
                    let mut to = from;
                    match fault {
                        Fault::Drop(k) if n % k == 0 => continue,
                        Fault::Mangle(k) if n % k == 0 => reply[len - 1] ^= 0x40,
                        Fault::Twice => {
                            let _ = socket.send_to(reply, from);
                        }
                        Fault::Misdirect(k) if n % k == 0 => {
                            to = previous.filter(|p| *p != from).unwrap_or(from)
                        }
                        _ => {}
                    }
                    previous = Some(from);
                    let _ = socket.send_to(reply, to);
                }
            });
            Echo {
                address,
                stop,
                thread: Some(thread),
            }
        }
    }

    impl Drop for Echo {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn plan(window: u64, count: u64) -> Plan {
        Plan {
            window,
            rate: None,
            duration: Duration::from_secs(10),
            count,
            loss: Duration::from_millis(500),
        }
    }

    fn run(fault: Fault, size: usize, plan: Plan) -> Outcome {
        run_from(&[], fault, size, plan)
    }

    fn run_from(sources: &[IpAddr], fault: Fault, size: usize, plan: Plan) -> Outcome {
        run_from_sockets(sources, 1, fault, size, plan)
    }

    /// A run from `sockets_each` sockets on each address of `sources`.
    fn run_from_sockets(
        sources: &[IpAddr],
        sockets_each: usize,
        fault: Fault,
        size: usize,
        plan: Plan,
    ) -> Outcome {
        let echo = Echo::start(fault);
        let mut generator =
            Generator::connect(echo.address, sources, sockets_each, size, None).unwrap();
        let addresses = sources.len().max(1);
        assert_eq!(generator.address_count(), addresses);
        assert_eq!(generator.sockets_per_address(), sockets_each);
        assert_eq!(generator.source_count(), addresses * sockets_each);
        generator.warm_up(3, Duration::from_millis(500)).unwrap();
        generator.run(&plan, &mut |_| {}).unwrap()
    }

    /// 127.0.0.2 to 127.0.0.(1 + n): loopback addresses any Linux machine
    /// can bind (all of 127/8 is on `lo`), so no interface is configured.
    fn loopback_sources(n: u8) -> Vec<IpAddr> {
        (2..2 + n).map(|b| IpAddr::from([127, 0, 0, b])).collect()
    }

    #[test]
    fn ping_pong_gets_every_reply_back() {
        let o = run(Fault::None, 64, plan(1, 200));
        let c = o.counts;
        assert_eq!(
            (c.sent, c.received, c.lost, c.bad, c.duplicate),
            (200, 200, 0, 0, 0)
        );
        assert_eq!(o.rtt.samples, 200);
        assert!(o.rtt.min_us > 0.0 && o.rtt.p50_us <= o.rtt.p99_us && o.rtt.p99_us <= o.rtt.max_us);
        assert!(o.echoes_per_s() > 0.0);
    }

    #[test]
    fn a_window_keeps_many_in_flight() {
        let o = run(Fault::None, 1024, plan(16, 1000));
        let c = o.counts;
        assert_eq!((c.sent, c.received, c.lost, c.bad), (1000, 1000, 0, 0));
    }

    #[test]
    fn the_count_and_the_duration_both_end_a_run() {
        let mut p = plan(4, u64::MAX);
        p.duration = Duration::from_millis(100);
        let o = run(Fault::None, 64, p);
        assert!(o.counts.sent > 0);
        assert_eq!(o.counts.sent, o.counts.received + o.counts.lost);
        assert!(o.duration < Duration::from_secs(2), "{:?}", o.duration);
    }

    #[test]
    fn pacing_holds_the_rate() {
        let mut p = plan(64, 100);
        p.rate = Some(2000.0);
        let o = run(Fault::None, 64, p);
        assert_eq!(o.counts.received, 100);
        // 100 datagrams at 2000/s take about 50 ms: never much less.
        assert!(o.duration >= Duration::from_millis(45), "{:?}", o.duration);
    }

    #[test]
    fn dropped_datagrams_are_lost_after_the_deadline() {
        let mut p = plan(4, 200);
        p.loss = Duration::from_millis(150);
        let o = run(Fault::Drop(10), 64, p);
        let c = o.counts;
        // The warm-up's 3 datagrams count in the server's numbering.
        assert_eq!(c.sent, 200);
        assert_eq!(c.received + c.lost, 200);
        assert!((19..=21).contains(&c.lost), "{c:?}");
        assert_eq!(c.bad, 0);
    }

    #[test]
    fn altered_replies_are_bad_and_their_datagrams_lost() {
        let mut p = plan(4, 200);
        p.loss = Duration::from_millis(150);
        let o = run(Fault::Mangle(5), 64, p);
        let c = o.counts;
        assert!((39..=41).contains(&c.bad), "{c:?}");
        assert_eq!(c.lost, c.bad, "{c:?}");
        assert_eq!(c.received + c.lost, 200);
    }

    #[test]
    fn duplicates_are_counted_apart() {
        let o = run(Fault::Twice, 64, plan(1, 100));
        let c = o.counts;
        assert_eq!((c.received, c.lost, c.bad), (100, 0, 0));
        // The last duplicate may still be on its way when the run ends.
        assert!((99..=100).contains(&c.duplicate), "{c:?}");
    }

    #[test]
    fn sources_take_turns_and_each_gets_its_own_replies() {
        let sources = loopback_sources(4);
        for window in [1, 16] {
            let o = run_from(&sources, Fault::None, 64, plan(window, 400));
            let c = o.counts;
            assert_eq!((c.sent, c.received, c.lost, c.bad), (400, 400, 0, 0));
            assert_eq!(
                o.received_by_source,
                [100, 100, 100, 100],
                "window {window}"
            );
        }
        // Paced, too.
        let mut p = plan(64, 200);
        p.rate = Some(4000.0);
        let o = run_from(&sources, Fault::None, 64, p);
        assert_eq!(o.received_by_source, [50, 50, 50, 50]);
    }

    #[test]
    fn one_source_counts_its_replies_too() {
        let o = run_from(&loopback_sources(1), Fault::None, 64, plan(4, 100));
        assert_eq!(o.received_by_source, [100]);
        let o = run(Fault::None, 64, plan(4, 100));
        assert_eq!(o.received_by_source, [100]);
    }

    #[test]
    fn a_reply_to_another_source_is_bad_and_its_datagram_lost() {
        let mut p = plan(1, 200);
        p.loss = Duration::from_millis(100);
        let o = run_from(&loopback_sources(3), Fault::Misdirect(10), 64, p);
        let c = o.counts;
        // Every 10th of the server's datagrams (the warm-up's 3 included)
        // goes to the previous sender: 20 of the run's.
        assert!((19..=21).contains(&c.bad), "{c:?}");
        assert_eq!(c.lost, c.bad, "{c:?}");
        assert_eq!(c.received + c.lost, 200);
        assert_eq!(o.received_by_source.iter().sum::<u64>(), c.received);
    }

    #[test]
    fn sockets_of_one_address_take_turns_like_addresses() {
        // Five sockets on 127.0.0.2, each on a port of its own.
        let one = loopback_sources(1);
        for window in [1, 16] {
            let o = run_from_sockets(&one, 5, Fault::None, 64, plan(window, 500));
            let c = o.counts;
            assert_eq!((c.sent, c.received, c.lost, c.bad), (500, 500, 0, 0));
            assert_eq!(o.received_by_source, [100; 5], "window {window}");
        }
        // From the address the kernel picks, too.
        let o = run_from_sockets(&[], 3, Fault::None, 64, plan(8, 300));
        assert_eq!(o.received_by_source, [100, 100, 100]);
    }

    #[test]
    fn sockets_are_distinct_ports_in_turns_across_addresses() {
        let echo = Echo::start(Fault::None);
        let generator =
            Generator::connect(echo.address, &loopback_sources(2), 3, 64, None).unwrap();
        let locals: Vec<SocketAddr> = (0..generator.source_count())
            .map(|s| generator.local_of(s))
            .collect();
        assert_eq!(locals.len(), 6);
        // Three sockets, each sending from both addresses.
        assert_eq!(generator.senders.len(), 3);
        // First socket of each address, then the second of each, ...
        let ips: Vec<IpAddr> = locals.iter().map(|l| l.ip()).collect();
        let (a, b) = (IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3]));
        assert_eq!(ips, [a, b, a, b, a, b]);
        let mut distinct = locals.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 6, "{locals:?}");
    }

    #[test]
    fn a_reply_to_another_socket_of_the_same_address_is_bad() {
        let mut p = plan(1, 200);
        p.loss = Duration::from_millis(100);
        let o = run_from_sockets(&loopback_sources(1), 3, Fault::Misdirect(10), 64, p);
        let c = o.counts;
        // Every 10th of the server's datagrams goes to the previous
        // sender: the same address, another port.
        assert!((19..=21).contains(&c.bad), "{c:?}");
        assert_eq!(c.lost, c.bad, "{c:?}");
        assert_eq!(c.received + c.lost, 200);
        assert_eq!(o.received_by_source.iter().sum::<u64>(), c.received);
    }

    #[test]
    fn many_addresses_share_a_socket_and_send_in_batches() {
        let echo = Echo::start(Fault::None);
        let generator =
            Generator::connect(echo.address, &loopback_sources(4), 1, 64, None).unwrap();
        assert_eq!(generator.senders.len(), 1);
        let turns = &generator.turns;
        // A batch runs to the last address of its socket, at most `most`.
        assert_eq!(turns.run_from(0, 32), 4);
        assert_eq!(turns.run_from(6, 32), 2);
        assert_eq!(turns.run_from(1, 2), 2);
        let a = |b| Some(IpAddr::from([127, 0, 0, b]));
        assert_eq!(turns.address_of(5), a(3));
        assert!(turns.reached(1, 0, a(3)));
        assert!(!turns.reached(1, 0, a(2)), "another address");
        assert!(!turns.reached(1, 0, None), "no address");
        assert!(!turns.reached(1, 1, a(3)), "another socket");
        // Two ports on each of two addresses: two sockets, the first port of
        // both addresses first.
        let generator =
            Generator::connect(echo.address, &loopback_sources(2), 2, 64, None).unwrap();
        let turns = &generator.turns;
        assert_eq!((generator.senders.len(), turns.total), (2, 4));
        assert_eq!([0, 1, 2, 3].map(|s| turns.socket_of(s)), [0, 0, 1, 1]);
        assert_eq!(turns.run_from(1, 32), 1);
        assert_eq!(turns.run_from(2, 32), 2);
        assert!(turns.reached(3, 1, a(3)) && !turns.reached(3, 0, a(3)));
    }

    #[test]
    fn sockets_of_one_address_each_send_alone() {
        let echo = Echo::start(Fault::None);
        let generator =
            Generator::connect(echo.address, &loopback_sources(1), 3, 64, None).unwrap();
        let turns = &generator.turns;
        assert_eq!((generator.senders.len(), turns.total), (3, 3));
        // Connected: no address of their own, one datagram per call.
        assert_eq!(turns.address_of(1), None);
        assert_eq!(turns.run_from(1, 32), 1);
        assert!(turns.reached(2, 2, None) && !turns.reached(2, 1, None));
        // One socket: the whole batch.
        let generator = Generator::connect(echo.address, &[], 1, 64, None).unwrap();
        assert_eq!(generator.turns.run_from(7, 32), 32);
    }

    #[test]
    fn no_sockets_is_refused() {
        let echo = Echo::start(Fault::None);
        let error = Generator::connect(echo.address, &[], 0, 64, None)
            .err()
            .expect("zero sockets")
            .to_string();
        assert!(error.contains("at least one socket"), "{error}");
    }

    #[test]
    fn a_source_on_no_interface_says_how_to_add_it() {
        // 192.0.2.1 (TEST-NET-1) is on no interface: bind fails, nothing is sent.
        let echo = Echo::start(Fault::None);
        let sources = [IpAddr::from([127, 0, 0, 2]), IpAddr::from([192, 0, 2, 1])];
        let error = Generator::connect(echo.address, &sources, 1, 64, None)
            .err()
            .expect("192.0.2.1 is not bindable")
            .to_string();
        assert!(error.contains("cannot send from 192.0.2.1"), "{error}");
        assert!(error.contains("add it to an interface first"), "{error}");
        assert!(error.contains("ip addr add 192.0.2.1/24 dev"), "{error}");
    }

    #[test]
    fn sources_of_the_other_family_are_refused() {
        let echo = Echo::start(Fault::None);
        let error = Generator::connect(echo.address, &["::1".parse().unwrap()], 1, 64, None)
            .err()
            .expect("an IPv6 source for an IPv4 target")
            .to_string();
        assert!(error.contains("different families"), "{error}");
    }

    #[test]
    fn a_silent_target_is_an_error() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut generator =
            Generator::connect(silent.local_addr().unwrap(), &[], 1, 64, None).unwrap();
        let error = generator
            .warm_up(200, Duration::from_millis(10))
            .unwrap_err()
            .to_string();
        assert!(error.contains("no reply from"), "{error}");
    }

    #[test]
    fn a_closed_port_is_refused() {
        let address = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let mut generator = Generator::connect(address, &[], 1, 64, None).unwrap();
        let error = generator
            .warm_up(200, Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(error.contains("refused"), "{error}");
    }
}
