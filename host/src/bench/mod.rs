//! `udpkit bench`: a load generator for any UDP echo service.
//!
//! - ping-pong (the default): one datagram in flight; round-trip times.
//! - rate (`--window W`, or `--rate PPS` paced open loop): sent, received,
//!   loss, echoes/s.
//! - sweep (`--sweep`): rate runs over a list of windows; the highest rate
//!   whose loss stays within `--loss-ok`.
//!
//! Any of them from many hosts at once with `--sources` (see [`sources`]):
//! one socket sends from every source address (each datagram names its
//! own), the datagrams taking turns among them; or from many sockets of one
//! host with `--sockets` (or both: that many ports on each address). A
//! *source* is one (address, port), and the datagrams take turns among all
//! of them the same way.
//!
//! Every reply is checked byte for byte (see [`payload`]), and must come
//! back to the source (address and port) it left from; a reply later than
//! `--loss-ms` counts as lost. `--summarize` instead reads the JSON lines of
//! earlier runs and prints medians and ratios (used by `bench/echo.sh`).

mod cpu;
mod engine;
mod payload;
mod report;
mod sources;
mod stats;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Args;

use crate::bench::engine::{Generator, Plan, Progress, MAX_WINDOW};
use crate::bench::report::{Mode, Report, Run};
use crate::bench::sources::{parse_sources, SourceList, MAX_SOURCES};
use crate::bench::stats::SourceShare;

/// The windows `--sweep` tries by default.
const DEFAULT_WINDOWS: &str = "1,2,4,8,16,32,64,128,256";
/// The most windows one sweep may have.
const MAX_SWEEP: usize = 32;

/// Measure a UDP echo service: round-trip times, echo rate and loss.
#[derive(Args)]
#[command(
    after_help = "Every reply is checked byte for byte (sequence number, send time and a \
    pattern); replies that differ are counted as bad, and the exit status is non-zero when \
    there are any or when nothing comes back at all.\n\n\
    With --sources the load comes from many hosts, the datagrams taking turns among them one \
    by one (datagram n from source n mod N), so the server sees every host all the time, as \
    with that many real clients, and each host gets the same share. One socket sends from \
    all the addresses, in batches, each datagram naming its source (IP_PKTINFO), so many \
    hosts cost this generator no more than one and the rate measures the server. A reply \
    must come back to the address its datagram left from (else it is bad). The addresses \
    must be on an interface of this machine (or network namespace) first, e.g. \
    for i in $(seq 101 200); do ip addr add 192.168.69.$i/24 dev tap0; done\n\n\
    With --sockets N the load comes from N ports of each source address instead of one, \
    taking turns the same way: --sockets 100 alone is one host with 100 clients, a socket \
    each, connected, one datagram per system call (so the generator pays for most of what \
    that costs).\n\n\
    Examples:\n  \
    udpkit bench 192.168.69.1                      # ping-pong: RTT percentiles\n  \
    udpkit bench 192.168.69.1 --window 32 -d 5s    # 32 in flight: echoes/s and loss\n  \
    udpkit bench 192.168.69.1 --rate 50000         # paced at 50k datagrams/s\n  \
    udpkit bench 192.168.69.1 --sweep --size 1024  # highest rate with loss <= 0.1 %\n  \
    udpkit bench 127.0.0.1:10007 --json            # one line of JSON\n  \
    udpkit bench 192.168.69.1 --sweep --sources 192.168.69.101-200  # from 100 hosts\n  \
    udpkit bench 192.168.69.1 --sweep --sockets 100  # from 100 sockets of one host\n  \
    udpkit bench --summarize runs.jsonl            # medians/ratios of many --json runs\n\n\
    bench/echo.sh compares udpkit on a TAP with the kernel backend in network namespaces."
)]
pub struct BenchArgs {
    /// The echo service: HOST or HOST:PORT (port 7 when not given).
    #[arg(value_name = "HOST[:PORT]", required_unless_present = "summarize")]
    target: Option<String>,

    /// Payload bytes per datagram (at least 16; above 1472 the datagrams
    /// are IP-fragmented, which udpkit does not answer).
    #[arg(long, short, default_value_t = 64, value_name = "BYTES",
          value_parser = clap::value_parser!(u16).range(16..=65507))]
    size: u16,

    /// Rate mode: keep W datagrams in flight (a new one per reply or loss).
    #[arg(long, short, value_name = "W", conflicts_with = "sweep",
          value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW))]
    window: Option<u64>,

    /// Rate mode, open loop: send PPS datagrams per second (at most
    /// --window in flight, 65536 if not given).
    #[arg(long, value_name = "PPS", conflicts_with = "sweep", value_parser = parse_rate)]
    rate: Option<f64>,

    /// Sweep: a rate run per window of --windows; reports the highest echo
    /// rate with loss <= --loss-ok.
    #[arg(long)]
    sweep: bool,

    /// The windows of --sweep, in the order run.
    #[arg(long, value_name = "W,W,...", value_delimiter = ',', default_value = DEFAULT_WINDOWS,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WINDOW))]
    windows: Vec<u64>,

    /// Each run (each window of a sweep) sends for at most this long.
    #[arg(long, short, default_value = "2s", value_name = "DURATION",
          value_parser = crate::text::parse_duration)]
    duration: Duration,

    /// Each run sends at most N datagrams.
    #[arg(long, short = 'n', default_value_t = 10_000_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// A reply later than this many milliseconds counts as lost.
    #[arg(long, default_value_t = 50.0, value_name = "MS", value_parser = parse_loss_ms)]
    loss_ms: f64,

    /// Sweep: the highest loss, in percent, a rate may have to count.
    #[arg(long, default_value_t = 0.1, value_name = "PCT")]
    loss_ok: f64,

    /// Datagrams exchanged one by one before measuring (ARP, wake-ups).
    #[arg(long, default_value_t = 200, value_name = "N")]
    warmup: u32,

    /// Send from these local addresses, taking turns datagram by datagram
    /// (see below): a comma-separated list of addresses and ranges
    /// FIRST-LAST, e.g. 192.168.69.10-192.168.69.109, 192.168.69.10-109 (the
    /// last byte only) or fdaa::10-fdaa::6d; at most 4096 in all, of the
    /// target's family. Without it: from the address the kernel picks.
    #[arg(long, value_name = "LIST", value_parser = parse_sources)]
    sources: Option<SourceList>,

    /// Send from N ports on each source address (a socket each), taking
    /// turns datagram by datagram like --sources; at most 4096 sources in
    /// all.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=MAX_SOURCES as i64))]
    sockets: u16,

    /// Pin the load generator to this CPU.
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,

    /// The server's process ID: also report its CPU use, and other tasks'
    /// (a busy machine disturbs the figures).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,

    /// A name for the results (e.g. udpkit, kernel); the target by default.
    #[arg(long, value_name = "NAME")]
    label: Option<String>,

    /// Print the results as one line of JSON, and a one-line digest on
    /// standard error (with --summarize: the summary as JSON).
    #[arg(long)]
    json: bool,

    /// No progress display, even on a terminal, and no digest with --json.
    #[arg(long, short)]
    quiet: bool,

    /// Measure nothing: read the JSON lines of earlier runs from FILE and
    /// print the medians [min..max] and the ratios to --baseline.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "window", "rate", "sweep", "sources", "sockets"])]
    summarize: Option<PathBuf>,

    /// With --summarize: the label the others are compared with.
    #[arg(long, default_value = "kernel", value_name = "LABEL")]
    baseline: String,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !(1.0..=100_000_000.0).contains(&rate) {
        return Err("the rate must be between 1 and 100000000 datagrams/s".into());
    }
    Ok(rate)
}

fn parse_loss_ms(text: &str) -> Result<f64, String> {
    let ms: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of milliseconds"))?;
    if !(0.001..=60_000.0).contains(&ms) {
        return Err("the loss deadline must be between 0.001 and 60000 ms".into());
    }
    Ok(ms)
}

/// `HOST`, `HOST:PORT`, `IPV4`, `IPV4:PORT`, `[IPV6]:PORT` or `IPV6`.
fn resolve(target: &str) -> Result<SocketAddr> {
    let address = resolve_any(target)?;
    if address.port() == 0 {
        bail!("port 0 cannot be a target");
    }
    Ok(address)
}

fn resolve_any(target: &str) -> Result<SocketAddr> {
    let default_port = udpkit::services::echo::DEFAULT_PORT;
    if let Ok(address) = target.parse::<SocketAddr>() {
        return Ok(address);
    }
    if let Ok(ip) = target.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .ok()
                .with_context(|| format!("'{port}' is not a port number (1-65535)"))?,
        ),
        None => (target, default_port),
    };
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve '{host}'"))?
        .next()
        .with_context(|| format!("'{host}' has no address"))
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let Some(file) = &args.summarize {
        return summarize(file, &args.baseline, args.json);
    }
    let target = args.target.as_deref().unwrap_or_default();
    let address = resolve(target)?;
    let size = usize::from(args.size);
    if size > 1472 {
        log::warn!(
            "{size}-byte payloads need IP fragmentation; udpkit's stack does not answer them"
        );
    }
    if args.sweep && args.windows.len() > MAX_SWEEP {
        bail!("--windows: at most {MAX_SWEEP} windows per sweep");
    }
    if !(0.0..=100.0).contains(&args.loss_ok) {
        bail!("--loss-ok is a percentage (0 to 100)");
    }
    if let Some(cpu) = args.cpu {
        crate::linux::process::pin_to_cpu(cpu)?;
    }
    let mode = if args.sweep {
        Mode::Sweep
    } else if args.window.is_some() || args.rate.is_some() {
        Mode::Rate
    } else {
        Mode::PingPong
    };
    let loss = Duration::from_secs_f64(args.loss_ms / 1000.0);
    let plans: Vec<Plan> = match mode {
        Mode::PingPong => vec![plan(&args, 1, None, loss)],
        Mode::Rate => vec![plan(
            &args,
            args.window
                .unwrap_or(if args.rate.is_some() { MAX_WINDOW } else { 1 }),
            args.rate,
            loss,
        )],
        Mode::Sweep => args
            .windows
            .iter()
            .map(|&w| plan(&args, w, None, loss))
            .collect(),
    };

    let sources = args.sources.as_ref().map_or(&[][..], |s| &s.0[..]);
    let sockets = usize::from(args.sockets);
    check_socket_total(sources.len().max(1), sockets)?;
    let mut generator = Generator::connect(address, sources, sockets, size, args.server_pid)?;
    generator.warm_up(args.warmup, Duration::from_millis(200))?;

    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut runs = Vec::new();
    for plan in &plans {
        let what = match (mode, plan.rate) {
            (Mode::PingPong, _) => "ping-pong".to_string(),
            (_, Some(rate)) => format!("{rate:.0}/s"),
            (_, None) => format!("window {}", plan.window),
        };
        let mut progress = |p: &Progress| {
            if show_progress {
                let c = &p.counts;
                let secs = p.elapsed.as_secs_f64().max(1e-9);
                eprint!(
                    "\r\x1b[K{what}: {:.1} s, sent {}, received {} ({:.0}/s), lost {}, bad {}",
                    secs,
                    c.sent,
                    c.received,
                    c.received as f64 / secs,
                    c.lost,
                    c.bad
                );
            }
        };
        let outcome = generator.run(plan, &mut progress)?;
        if show_progress {
            eprint!("\r\x1b[K");
        }
        let counts = outcome.counts;
        let per_source = if generator.source_count() > 1 {
            SourceShare::of(&outcome.received_by_source)
        } else {
            None
        };
        runs.push(Run {
            window: plan.window,
            rate: plan.rate,
            duration_s: outcome.duration.as_secs_f64(),
            counts,
            loss_pct: counts.loss_pct(),
            echoes_per_s: outcome.echoes_per_s(),
            sent_per_s: outcome.sent_per_s(),
            refused: outcome.refused,
            send_errors: outcome.send_errors,
            rtt_us: outcome.rtt,
            cpu_pct: outcome.cpu,
            per_source,
        });
    }
    let mut report = Report {
        tool: "udpkit bench".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        label: args.label.clone().unwrap_or_else(|| target.to_string()),
        target: generator.target().to_string(),
        sources: generator.address_count(),
        sockets: generator.sockets_per_address(),
        mode,
        size,
        loss_ms: args.loss_ms,
        loss_ok_pct: args.loss_ok,
        cpu: args.cpu,
        runs,
        best: None,
        peak: None,
    };
    if mode == Mode::Sweep {
        report.choose();
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
        if !args.quiet {
            eprintln!("{}", report.digest());
        }
    } else {
        write!(out, "{}", report.render())?;
    }
    out.flush()?;
    if report.received() == 0 {
        bail!(
            "no reply from {} came back during the measurement",
            report.target
        );
    }
    if report.bad() > 0 {
        bail!(
            "{} replies from {} were not byte-for-byte copies of what was sent",
            report.bad(),
            report.target
        );
    }
    Ok(())
}

/// `addresses` with `sockets` each make at most [`MAX_SOURCES`] sources.
fn check_socket_total(addresses: usize, sockets: usize) -> Result<()> {
    let total = addresses.saturating_mul(sockets);
    if total > MAX_SOURCES {
        bail!(
            "--sockets {sockets} on each of {addresses} source addresses makes {total} sources; \
             at most {MAX_SOURCES} in all: give fewer sockets or fewer addresses"
        );
    }
    Ok(())
}

fn plan(args: &BenchArgs, window: u64, rate: Option<f64>, loss: Duration) -> Plan {
    Plan {
        window,
        rate,
        duration: args.duration,
        count: args.count,
        loss,
    }
}

fn summarize(file: &PathBuf, baseline: &str, json: bool) -> Result<()> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    let mut reports = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let report: Report = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{}: not a line of `udpkit bench --json`",
                file.display(),
                i + 1
            )
        })?;
        reports.push(report);
    }
    if reports.is_empty() {
        bail!("{}: no results in it", file.display());
    }
    let summary = report::summarize(&reports, baseline);
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    } else {
        write!(out, "{}", summary.render())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_duration_takes_bare_seconds_and_units() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let duration = |text: &str| {
            <Cli as clap::Parser>::try_parse_from(["bench", "h", "--duration", text])
                .map(|cli| cli.args.duration)
                .map_err(|e| e.to_string())
        };
        assert_eq!(duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert!(duration("later").is_err());
    }

    #[test]
    fn targets_with_and_without_ports() {
        assert_eq!(
            resolve("192.168.69.1").unwrap(),
            "192.168.69.1:7".parse().unwrap()
        );
        assert_eq!(
            resolve("192.168.69.1:10007").unwrap(),
            "192.168.69.1:10007".parse().unwrap()
        );
        assert_eq!(resolve("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(resolve("::1").unwrap(), "[::1]:7".parse().unwrap());
        assert_eq!(resolve("localhost:7").unwrap().port(), 7);
        assert!(resolve("192.168.69.1:0").is_err());
        assert!(resolve("192.168.69.1:echo").is_err());
    }

    #[test]
    fn sockets_and_addresses_make_at_most_max_sources_sources() {
        assert!(check_socket_total(1, 1).is_ok());
        assert!(check_socket_total(1, MAX_SOURCES).is_ok());
        assert!(check_socket_total(64, 64).is_ok());
        assert!(check_socket_total(MAX_SOURCES, 1).is_ok());
        let error = check_socket_total(100, 41).unwrap_err().to_string();
        assert!(
            error.contains("--sockets 41 on each of 100 source addresses makes 4100 sources"),
            "{error}"
        );
        assert!(error.contains("at most 4096"), "{error}");
        assert!(check_socket_total(usize::MAX, 2).is_err());
    }
}
