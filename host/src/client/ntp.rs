//! `udpkit ntp`: a query-only SNTP client.
//!
//! It reads what a server says and how far our clock is from it; nothing
//! here sets, steps or slews the machine's clock.

use std::net::SocketAddr;
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use udpkit::clock::{from_unix_nanos, unix_nanos};
use udpkit::sntp::{check_reply, offset_and_delay, ReplyError};
use udpkit::wire::ntp::{self, Leap, NtpTimestamp};
use udpkit::wire::{NtpPacket, NtpRepr};
use udpkit::UnixTime;

use crate::client::{ask, Heard, Patience, Target};
use crate::linux::clock::system_time;

/// Ask an NTP server (RFC 5905, SNTP) for the time; prints its time, our
/// clock's offset from it, the round-trip delay, its stratum and reference.
/// Query only: the clock of this machine is never set.
#[derive(Args)]
#[command(
    after_help = "The offset is what this machine's clock would need to be moved by to \
                        agree with the server (positive: we are behind). A kiss-o'-death \
                        (stratum 0, e.g. INIT from a server that does not know the time) \
                        is reported as an error.\n\nExample:\n  udpkit ntp 192.168.69.1"
)]
pub struct NtpArgs {
    pub host: String,
    #[arg(long, default_value_t = udpkit::wire::ntp::PORT)]
    pub port: u16,
    #[command(flatten)]
    pub patience: Patience,
}

/// `udpkit ntp`: asks, and prints the report.
pub fn run(args: NtpArgs) -> Result<()> {
    let target = args.patience.target(args.host, args.port);
    print!("{}", query(&target)?.text());
    Ok(())
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
fn now_nanos() -> Result<i64> {
    let time = system_time().context("the system clock is before 1970")?;
    nanos_of(time)
}

/// Nanoseconds since 1970 of a time of the system clock.
fn nanos_of(time: UnixTime) -> Result<i64> {
    unix_nanos(time).context("the system clock is past 2262, where 64-bit nanoseconds end")
}

/// Asks the NTP server `target` for the time, once per attempt, and
/// reports the first reply that passes the SNTP checks. Query only: the
/// clock is read, never set.
pub fn query(target: &Target) -> Result<Report> {
    let server = target.connect("NTP server")?;
    let address = server.address;
    let mut buffer = [0u8; 1500];
    // The attempt's transmit timestamp, as sent and as nanoseconds, and
    // what was wrong with the last reply ignored.
    let mut sent = (NtpTimestamp(0), 0i64);
    let mut last_problem = None;
    let report = ask(
        target.timeout,
        target.retries,
        &mut (&mut sent, &mut last_problem),
        |(sent, _), attempt, attempts| {
            if attempt > 1 {
                log::info!("no usable reply from {address} yet; retrying ({attempt}/{attempts})");
            }
            // A fresh transmit timestamp per attempt: a late reply to an
            // earlier one fails the origin check instead of skewing the
            // offset.
            let now = system_time().context("the system clock is before 1970")?;
            **sent = (NtpTimestamp::from_unix(now), nanos_of(now)?);
            let mut request = [0u8; ntp::HEADER_LEN];
            NtpRepr::client_request(sent.0).emit(&mut NtpPacket::new_unchecked(&mut request[..]));
            server.send(&request)
        },
        |(sent, last_problem), left| {
            let Some(len) = server.receive(&mut buffer, left)? else {
                return Ok(Heard::Nothing);
            };
            let t4 = now_nanos()?;
            let Ok(packet) = NtpPacket::new_checked(&buffer[..len]) else {
                **last_problem = Some(format!("a {len}-byte reply is too short for NTP"));
                return Ok(Heard::Other);
            };
            let Ok(reply) = NtpRepr::parse(&packet) else {
                return Ok(Heard::Other);
            };
            let (transmit, t1) = **sent;
            match check_reply(&reply, transmit) {
                Ok(()) => Ok(Heard::Answer(report(address, reply, t1, t4)?)),
                Err(error) if !error.answers_request() => {
                    **last_problem = Some(format!("ignored a reply: {error}"));
                    Ok(Heard::Other)
                }
                Err(ReplyError::Kiss(code)) => {
                    let code = ntp::ascii_id(&code).map_or(format!("{code:?}"), str::to_string);
                    let meaning = match code.as_str() {
                        "INIT" => ": the server does not know the time yet",
                        "RATE" => ": too many requests, ask less often",
                        "DENY" | "RSTR" => ": the server refuses to serve us",
                        _ => "",
                    };
                    bail!("{address} answered with a kiss-o'-death, code {code}{meaning}");
                }
                Err(error) => bail!("{address} answered, but not with a usable time: {error}"),
            }
        },
    )?;
    if let Some(report) = report {
        return Ok(report);
    }
    let mut message = format!(
        "no usable reply from {address} after {} attempt(s) of {} each",
        target.retries.saturating_add(1),
        humantime::format_duration(target.timeout)
    );
    if let Some(problem) = last_problem {
        message.push_str(&format!(" (last: {problem})"));
    }
    bail!(message)
}

fn report(server: SocketAddr, reply: NtpRepr, t1: i64, t4: i64) -> Result<Report> {
    let pivot = t4;
    let (Some(t2), Some(t3)) = (
        reply.receive_timestamp.to_unix_nanos(pivot),
        reply.transmit_timestamp.to_unix_nanos(pivot),
    ) else {
        bail!("{server} sent timestamps that are no time after 1970");
    };
    let Some((offset, delay)) = offset_and_delay(t1, t2, t3, t4) else {
        bail!("{server} sent timestamps too far from our clock's to compare (292 years apart or more)");
    };
    let server_time = from_unix_nanos(t3).context("the server's time is before 1970")?;
    Ok(Report {
        server,
        reply,
        offset: offset as f64 / 1e9,
        delay: delay as f64 / 1e9,
        server_time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
