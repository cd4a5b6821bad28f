//! The load generator: one connected UDP socket, datagrams stamped with a
//! sequence number and their send time, batched system calls, and a ledger
//! of what is in flight.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use super::payload::{tagged, untag, Pattern, HEADER, WARM_UP};
use super::stats::{Counts, Latency, Ledger, ReplyKind, RttSummary};
use super::sys::{self, Batch, CpuSnapshot, CpuUse};

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
}

impl Outcome {
    pub fn echoes_per_s(&self) -> f64 {
        self.counts.received as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    pub fn sent_per_s(&self) -> f64 {
        self.counts.sent as f64 / self.duration.as_secs_f64().max(1e-9)
    }
}

/// A load generator connected to one echo service.
pub struct Generator {
    /// Owns `fd`.
    _socket: UdpSocket,
    fd: RawFd,
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
    /// A socket connected to `target` for `size`-byte payloads.
    pub fn connect(target: SocketAddr, size: usize, server_pid: Option<u32>) -> Result<Generator> {
        let local: SocketAddr = if target.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let socket = UdpSocket::bind(local).context("cannot open a UDP socket")?;
        socket
            .connect(target)
            .with_context(|| format!("cannot reach {target}"))?;
        let fd = socket.as_raw_fd();
        sys::set_buffers(fd, 8 << 20);
        sys::set_receive_timeout(fd, RECEIVE_TICK).context("setting the receive timeout")?;
        sys::tight_timers();
        Ok(Generator {
            _socket: socket,
            fd,
            target,
            pattern: Pattern::new(size.max(HEADER)),
            tx: Batch::new(SEND_BATCH, size.max(HEADER)),
            // Room for a reply longer than ours, so that it shows as bad.
            rx: Batch::new(RECEIVE_BATCH, size.max(HEADER) + 64),
            epoch: Instant::now(),
            server_pid,
            run: 0,
        })
    }

    pub fn target(&self) -> SocketAddr {
        self.target
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
    pub fn warm_up(&mut self, pings: u32, timeout: Duration) -> Result<u32> {
        let size = self.pattern.size();
        let mut answered = 0;
        let mut refused = 0;
        let mut bad = 0;
        for k in 0..u64::from(pings.max(1)) {
            let seq = WARM_UP | k;
            let stamp = self.now_ns();
            self.pattern.fill(self.tx.buffer_mut(0), seq, stamp);
            match self.tx.send(self.fd, 1, size) {
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => refused += 1,
                _ => {}
            }
            let deadline = Instant::now() + timeout;
            'wait: while Instant::now() < deadline {
                match self.rx.receive(self.fd, true) {
                    Ok(n) => {
                        for i in 0..n {
                            match self.pattern.check(self.rx.received(i)) {
                                Some(s) if s.seq == seq && s.sent_ns == stamp => {
                                    answered += 1;
                                    break 'wait;
                                }
                                Some(s) if s.seq & WARM_UP != 0 => {} // an earlier one, late
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
                "{} answered, but {bad} of its replies were not byte-for-byte copies: \
                 not an echo service?",
                self.target
            );
        }
        Ok(answered)
    }

    /// Drops whatever is queued on the socket (late warm-up replies).
    fn drain(&mut self) {
        while let Ok(n) = self.rx.receive(self.fd, false) {
            if n == 0 {
                break;
            }
        }
    }

    /// Runs `plan`, calling `progress` a few times a second.
    pub fn run(&mut self, plan: &Plan, progress: &mut dyn FnMut(&Progress)) -> Result<Outcome> {
        let size = self.pattern.size();
        let window = plan.window.clamp(1, MAX_WINDOW);
        let loss_ns = plan.loss.as_nanos() as u64;
        let mut ledger = Ledger::new(LEDGER_CAPACITY, loss_ns);
        self.run += 1;
        let run = self.run;
        let mut latency = Latency::new();
        self.drain();
        let (mut refused, mut send_errors) = (0u64, 0u64);

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
                    let k = (allow as usize).min(SEND_BATCH);
                    let stamp = self.now_ns();
                    let first = ledger.next_seq();
                    for j in 0..k {
                        let seq = tagged(run, first + j as u64);
                        self.pattern.fill(self.tx.buffer_mut(j), seq, stamp);
                    }
                    match self.tx.send(self.fd, k, size) {
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
                                    return Err(e)
                                        .with_context(|| format!("sending to {}", self.target))
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
            let mut wait = !may_send && ledger.outstanding() > 0;
            if may_send {
                if let Some(interval) = interval_ns {
                    let due_at = start + (ledger.next_seq() as f64 * interval) as u64;
                    if due_at > now {
                        let pause = Duration::from_nanos(due_at - now).min(RECEIVE_TICK);
                        sys::wait_readable(self.fd, pause);
                    }
                }
            }
            loop {
                match self.rx.receive(self.fd, wait) {
                    Ok(n) => {
                        let arrived = self.now_ns();
                        for i in 0..n {
                            match self.pattern.check(self.rx.received(i)) {
                                // A late reply of the warm-up or of an earlier
                                // run (its deadline long past): not this run's.
                                Some(s) if s.seq & WARM_UP != 0 || untag(s.seq).0 != run => {}
                                Some(s) => {
                                    let seq = untag(s.seq).1;
                                    if let ReplyKind::OnTime(rtt) =
                                        ledger.reply(seq, s.sent_ns, arrived)
                                    {
                                        latency.record(rtt);
                                        last_rx = arrived;
                                    }
                                }
                                None => ledger.bad(),
                            }
                        }
                        if n < self.rx.capacity() {
                            break;
                        }
                        wait = false;
                    }
                    Err(e) => {
                        match e.raw_os_error() {
                            Some(libc::ECONNREFUSED) => {
                                refused += 1;
                                wait = false;
                                continue;
                            }
                            Some(libc::EAGAIN) | Some(libc::EINTR) => {}
                            _ => {
                                return Err(e)
                                    .with_context(|| format!("receiving from {}", self.target))
                            }
                        }
                        break;
                    }
                }
            }

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
        })
    }
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
                while !flag.load(Ordering::Relaxed) {
                    let Ok((len, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    n += 1;
                    let reply = &mut buf[..len];
                    match fault {
                        Fault::Drop(k) if n % k == 0 => continue,
                        Fault::Mangle(k) if n % k == 0 => reply[len - 1] ^= 0x40,
                        Fault::Twice => {
                            let _ = socket.send_to(reply, from);
                        }
                        _ => {}
                    }
                    let _ = socket.send_to(reply, from);
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
        let echo = Echo::start(fault);
        let mut generator = Generator::connect(echo.address, size, None).unwrap();
        generator.warm_up(3, Duration::from_millis(500)).unwrap();
        generator.run(&plan, &mut |_| {}).unwrap()
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
    fn a_silent_target_is_an_error() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut generator = Generator::connect(silent.local_addr().unwrap(), 64, None).unwrap();
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
        let mut generator = Generator::connect(address, 64, None).unwrap();
        let error = generator
            .warm_up(200, Duration::from_millis(100))
            .unwrap_err()
            .to_string();
        assert!(error.contains("refused"), "{error}");
    }
}
