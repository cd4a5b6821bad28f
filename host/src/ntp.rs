//! NTP on the host: the host clock as an NTP source, the core's SNTP
//! client as the stack's clock (`serve --sntp-server`), and `udpkit ntp`, a
//! query-only SNTP client.
//!
//! Nothing here sets, steps or slews the machine's clock: the clients only
//! read what a server says, and the server only reads the clock.

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use udpkit::board::precision_from_nanos;
use udpkit::clock::{from_unix_nanos, unix_nanos};
use udpkit::smoltcp::socket::udp::PacketBuffer;
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint, Ipv4Address};
use udpkit::sntp::{check_reply, offset_and_delay, ReplyError, SntpClient, SntpConfig};
use udpkit::wire::ntp::{self, Leap, NtpTimestamp};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::{Board, ClockSource, Stack, UnixTime};

use crate::client::Target;

/// `serve --sntp-server`: where the stack's wall clock comes from.
#[derive(Debug, Clone, Copy)]
pub struct SntpOptions {
    pub server: SocketAddrV4,
    /// Time between requests once synced.
    pub interval: std::time::Duration,
    /// The local port the client sends from.
    pub local_port: u16,
}

/// Adds the core's SNTP client for `options` to `stack`, on `queues`; `us`
/// is the stack's address, for the log.
pub fn start_client(
    stack: &mut Stack<'static>,
    board: &mut impl Board,
    options: SntpOptions,
    us: Ipv4Address,
    queues: (PacketBuffer<'static>, PacketBuffer<'static>),
) -> Result<()> {
    let server = IpAddress::Ipv4(*options.server.ip());
    let interval = udpkit::smoltcp::time::Duration::from_millis(
        options.interval.as_millis().min(u128::from(u32::MAX)) as u64,
    );
    let config = SntpConfig {
        server: IpEndpoint::new(server, options.server.port()),
        interval,
        // Failures back off from 15 s to the interval.
        max_backoff: interval,
        ..SntpConfig::new(server, board.entropy_seed())
    };
    let client = Box::leak(Box::new(SntpClient::new(config)));
    let port = options.local_port;
    stack
        .add_service(client, port, queues)
        .map_err(|e| anyhow::anyhow!("cannot start the SNTP client on port {port}: {e}"))?;
    log::info!(
        "{:<9} udp {us}:{port:<5}  the wall clock, from the NTP server {} (not the host's clock)",
        "sntp",
        options.server
    );
    Ok(())
}

/// The host's clock as the NTP server describes it.
///
/// A local clock, served as chrony's `local` directive serves one: stratum
/// 10, reference `LOCL`. Whether the host's clock is itself synchronized
/// (by chronyd, ntpd or systemd-timesyncd) and to what stratum is not ours
/// to know, so we claim no better than that. The precision is measured:
/// the shortest step between two readings of the system clock, and no
/// finer than a microsecond, the resolution of the stack's monotonic clock
/// that carries the wall clock forward between readings.
pub fn host_clock_source() -> ClockSource {
    static SOURCE: OnceLock<ClockSource> = OnceLock::new();
    *SOURCE.get_or_init(|| ClockSource {
        precision: precision_from_nanos(clock_step_nanos().max(1_000)),
        ..ClockSource::LOCAL
    })
}

/// The shortest non-zero step seen between consecutive readings of the
/// system clock: its resolution, or the cost of reading it.
fn clock_step_nanos() -> u64 {
    let mut shortest = u64::MAX;
    let mut previous = SystemTime::now();
    for _ in 0..2_000 {
        let now = SystemTime::now();
        if let Ok(step) = now.duration_since(previous) {
            let nanos = step.as_nanos() as u64;
            if nanos > 0 {
                shortest = shortest.min(nanos);
            }
        }
        previous = now;
    }
    shortest
}

/// The system clock as Unix time.
pub fn system_time() -> Option<UnixTime> {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(UnixTime::new(
        since_epoch.as_secs(),
        since_epoch.subsec_nanos(),
    ))
}

/// What one exchange with a server says.
#[derive(Debug, Clone)]
pub struct Report {
    pub server: SocketAddr,
    pub reply: NtpRepr,
    /// The server's clock minus ours, seconds.
    pub offset: f64,
    /// Round-trip delay, seconds.
    pub delay: f64,
    /// The server's transmit timestamp.
    pub server_time: UnixTime,
}

impl Report {
    /// The report as `udpkit ntp` prints it.
    pub fn text(&self) -> String {
        let r = &self.reply;
        let reference = match ntp::ascii_id(&r.reference_id) {
            Some(text) if r.stratum <= 1 || text == "LOCL" => text.to_string(),
            _ => {
                let [a, b, c, d] = r.reference_id;
                format!("{a}.{b}.{c}.{d}")
            }
        };
        let leap = match r.leap {
            Leap::NoWarning => "none",
            Leap::InsertSecond => "insert a second today",
            Leap::DeleteSecond => "delete a second today",
            Leap::Unsynchronized => "unsynchronized",
        };
        let when = UNIX_EPOCH
            + std::time::Duration::new(self.server_time.secs, self.server_time.subsec_nanos());
        format!(
            "server {}: stratum {}, reference {reference}, version {}, leap {leap}\n\
             time {}\n\
             offset {:+.6} s, delay {:.6} s\n\
             precision 2^{} s, root delay {:.6} s, root dispersion {:.6} s\n",
            self.server,
            r.stratum,
            r.version,
            humantime::format_rfc3339_micros(when),
            self.offset,
            self.delay,
            r.precision,
            r.root_delay.to_duration().total_micros() as f64 / 1e6,
            r.root_dispersion.to_duration().total_micros() as f64 / 1e6,
        )
    }
}

/// Nanoseconds since 1970 by the system clock.
fn now_nanos() -> Result<i128> {
    let time = system_time().context("the system clock is before 1970")?;
    Ok(unix_nanos(time))
}

/// Asks the NTP server `target` for the time, once per attempt, and
/// reports the first reply that passes the SNTP checks. Query only: the
/// clock is read, never set.
pub fn query(target: &Target) -> Result<Report> {
    let (socket, server) = target.connect()?;
    let attempts = target.retries.saturating_add(1);
    let mut buffer = [0u8; 1500];
    let mut last_problem = None;
    for attempt in 1..=attempts {
        if attempt > 1 {
            log::info!("no usable reply from {server} yet; retrying ({attempt}/{attempts})");
        }
        // A fresh transmit timestamp per attempt: a late reply to an
        // earlier one fails the origin check instead of skewing the offset.
        let sent = system_time().context("the system clock is before 1970")?;
        let t1 = unix_nanos(sent);
        let transmit = NtpTimestamp::from_unix(sent);
        let mut request = [0u8; ntp::HEADER_LEN];
        NtpRepr::client_request(transmit).emit(&mut NtpPacket::new_unchecked(&mut request[..]));
        match socket.send(&request) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Err(refused(server)),
            Err(e) => return Err(e).with_context(|| format!("sending to {server}")),
        }
        let deadline = std::time::Instant::now() + target.timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            let len = match socket.recv(&mut buffer) {
                Ok(len) => len,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    return Err(refused(server))
                }
                Err(e) => return Err(e).with_context(|| format!("receiving from {server}")),
            };
            let t4 = now_nanos()?;
            let Ok(packet) = NtpPacket::new_checked(&buffer[..len]) else {
                last_problem = Some(format!("a {len}-byte reply is too short for NTP"));
                continue;
            };
            let Ok(reply) = NtpRepr::parse(&packet) else {
                continue;
            };
            match check_reply(&reply, transmit) {
                Ok(()) => return report(server, reply, t1, t4),
                Err(error) if !error.answers_request() => {
                    last_problem = Some(format!("ignored a reply: {error}"));
                }
                Err(ReplyError::Kiss(code)) => {
                    let code = ntp::ascii_id(&code).map_or(format!("{code:?}"), str::to_string);
                    let meaning = match code.as_str() {
                        "INIT" => ": the server does not know the time yet",
                        "RATE" => ": too many requests, ask less often",
                        "DENY" | "RSTR" => ": the server refuses to serve us",
                        _ => "",
                    };
                    bail!("{server} answered with a kiss-o'-death, code {code}{meaning}");
                }
                Err(error) => bail!("{server} answered, but not with a usable time: {error}"),
            }
        }
    }
    let mut message = format!(
        "no usable reply from {server} after {attempts} attempt(s) of {} each",
        humantime::format_duration(target.timeout)
    );
    if let Some(problem) = last_problem {
        message.push_str(&format!(" (last: {problem})"));
    }
    bail!(message)
}

fn report(server: SocketAddr, reply: NtpRepr, t1: i128, t4: i128) -> Result<Report> {
    let pivot = t4;
    let (Some(t2), Some(t3)) = (
        reply.receive_timestamp.to_unix_nanos(pivot),
        reply.transmit_timestamp.to_unix_nanos(pivot),
    ) else {
        bail!("{server} sent timestamps that are no time after 1970");
    };
    let (offset, delay) = offset_and_delay(t1, t2, t3, t4);
    let server_time = from_unix_nanos(t3).context("the server's time is before 1970")?;
    Ok(Report {
        server,
        reply,
        offset: offset as f64 / 1e9,
        delay: delay as f64 / 1e9,
        server_time,
    })
}

fn refused(address: SocketAddr) -> anyhow::Error {
    anyhow::anyhow!("{address} refused the datagram: no NTP server listens on that port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_clock_is_a_local_source_with_a_measured_precision() {
        let source = host_clock_source();
        assert_eq!((source.stratum, source.reference_id), (10, *b"LOCL"));
        // A microsecond or coarser, and not coarser than a (VM's) tick.
        assert!((-19..=-5).contains(&source.precision), "{source:?}");
        assert!(source.is_synchronized());
    }

    #[test]
    fn a_report_reads_like_the_docs_say() {
        let reply = NtpRepr {
            stratum: 2,
            reference_id: [192, 168, 69, 5],
            precision: -19,
            ..NtpRepr::client_request(NtpTimestamp(1))
        };
        let report = Report {
            server: "192.168.69.1:123".parse().unwrap(),
            reply,
            offset: -0.000_25,
            delay: 0.001,
            server_time: UnixTime::new(1_795_446_245, 123_456_000),
        };
        assert_eq!(
            report.text(),
            "server 192.168.69.1:123: stratum 2, reference 192.168.69.5, version 4, leap none\n\
             time 2026-11-23T15:04:05.123456Z\n\
             offset -0.000250 s, delay 0.001000 s\n\
             precision 2^-19 s, root delay 0.000000 s, root dispersion 0.000000 s\n"
        );
    }
}
