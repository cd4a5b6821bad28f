//! What `udpkit bench` prints: one report per invocation (a human table, or
//! one line of JSON), and the summary of many such reports (medians across
//! repetitions, and ratios between two stacks) that `bench/echo.sh` prints.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bench::cpu::CpuUse;
use crate::bench::stats::{best_sustainable, peak, Counts, RttSummary, SourceShare, Spread};

/// A run during which other tasks used more than this much CPU (percent of
/// one CPU) is flagged as noisy in summaries.
pub const NOISY_PCT: f64 = 15.0;

/// The targets the summary reports against (not asserted anywhere).
pub const TARGET_RATE_RATIO: f64 = 1.2;
pub const TARGET_LATENCY_RATIO: f64 = 1.1;
/// Many hosts against one: the highest echo rate within the loss budget
/// with N hosts over that with one host (see [`Scaling`]).
pub const TARGET_HOSTS_RATIO: f64 = 0.9;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// One datagram in flight: round-trip times.
    PingPong,
    /// A window of datagrams in flight, or a paced rate: echo rate and loss.
    Rate,
    /// Rate runs over a list of windows: the highest rate within the loss budget.
    Sweep,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::PingPong => "ping-pong",
            Mode::Rate => "rate",
            Mode::Sweep => "sweep",
        }
    }
}

/// One run of the load generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Datagrams in flight at most.
    pub window: u64,
    /// The paced rate asked for (datagrams/s), if any.
    pub rate: Option<f64>,
    pub duration_s: f64,
    pub counts: Counts,
    pub loss_pct: f64,
    /// Correct, on-time replies per second.
    pub echoes_per_s: f64,
    pub sent_per_s: f64,
    /// ICMP errors (port unreachable) seen.
    pub refused: u64,
    /// Sends the kernel did not take.
    pub send_errors: u64,
    pub rtt_us: RttSummary,
    pub cpu_pct: CpuUse,
    /// With several sources (sockets: many addresses, or many sockets of
    /// one): how the on-time replies were shared among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_source: Option<SourceShare>,
}

/// What reports written before `--sources` and `--sockets` existed had: one
/// source address, one socket.
fn one() -> usize {
    1
}

/// `100 source addresses`, `1 source address (100 sockets)`,
/// `10 source addresses (4 sockets each)`.
fn sources_text(sources: usize, sockets: usize) -> String {
    let addresses = format!(
        "{sources} source address{}",
        if sources == 1 { "" } else { "es" }
    );
    match (sources, sockets) {
        (_, 1) => addresses,
        (1, k) => format!("{addresses} ({k} sockets)"),
        (_, k) => format!("{addresses} ({k} sockets each)"),
    }
}

/// Everything one invocation of `udpkit bench` measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub tool: String,
    pub version: String,
    /// A name for what was measured (`--label`), the target by default.
    pub label: String,
    pub target: String,
    /// How many source addresses the load came from (`--sources`), taking
    /// turns datagram by datagram.
    #[serde(default = "one")]
    pub sources: usize,
    /// How many sockets each source address had (`--sockets`): the load
    /// came from `sources * sockets` sockets in all.
    #[serde(default = "one")]
    pub sockets: usize,
    pub mode: Mode,
    pub size: usize,
    pub loss_ms: f64,
    pub loss_ok_pct: f64,
    /// The CPU the generator was pinned to.
    pub cpu: Option<usize>,
    pub runs: Vec<Run>,
    /// Sweep: the run with the highest rate within the loss budget.
    pub best: Option<usize>,
    /// Sweep: the run with the highest rate.
    pub peak: Option<usize>,
}

impl Report {
    /// Picks `best` and `peak` among the runs.
    pub fn choose(&mut self) {
        let figures: Vec<(f64, f64)> = self
            .runs
            .iter()
            .map(|r| (r.echoes_per_s, r.loss_pct))
            .collect();
        self.best = best_sustainable(&figures, self.loss_ok_pct);
        self.peak = peak(&figures);
    }

    pub fn bad(&self) -> u64 {
        self.runs.iter().map(|r| r.counts.bad).sum()
    }

    pub fn received(&self) -> u64 {
        self.runs.iter().map(|r| r.counts.received).sum()
    }

    /// The sockets the load came from, all addresses together.
    pub fn socket_total(&self) -> usize {
        self.sources.saturating_mul(self.sockets)
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "udpkit bench {} ({}): {}-byte payloads from {}, {}, replies later than {} ms are lost",
            self.target,
            self.label,
            self.size,
            sources_text(self.sources, self.sockets),
            self.mode.name(),
            self.loss_ms
        );
        match self.mode {
            Mode::PingPong | Mode::Rate => {
                for run in &self.runs {
                    render_run(&mut out, run, self.socket_total(), self.sockets > 1);
                }
            }
            Mode::Sweep => self.render_sweep(&mut out),
        }
        if self.bad() > 0 {
            let _ = writeln!(
                out,
                "WARNING: {} replies were not byte-for-byte copies of what was sent",
                self.bad()
            );
        }
        out
    }

    /// One line: what a script shows while it runs.
    pub fn digest(&self) -> String {
        let mut what = format!("{} {} B {}", self.label, self.size, self.mode.name());
        match (self.sources, self.sockets) {
            (1, 1) => {}
            (n, 1) => {
                let _ = write!(what, ", {n} sources");
            }
            (1, k) => {
                let _ = write!(what, ", {k} sockets");
            }
            (n, k) => {
                let _ = write!(what, ", {n} sources × {k} sockets");
            }
        }
        let bad = self.bad();
        let main = match self.mode {
            Mode::Sweep => match self.best.and_then(|b| self.runs.get(b)) {
                Some(run) => format!(
                    "max {:.0} echoes/s with loss <= {} % (window {})",
                    run.echoes_per_s, self.loss_ok_pct, run.window
                ),
                None => format!("no window kept loss <= {} %", self.loss_ok_pct),
            },
            Mode::PingPong | Mode::Rate => match self.runs.first() {
                Some(run) => format!(
                    "{:.0} echoes/s, loss {:.3} %, RTT p50 {:.1} µs, p99 {:.1} µs",
                    run.echoes_per_s, run.loss_pct, run.rtt_us.p50_us, run.rtt_us.p99_us
                ),
                None => "no run".to_string(),
            },
        };
        format!("{what}: {main}, {bad} bad")
    }

    fn render_sweep(&self, out: &mut String) {
        let total = self.socket_total();
        let many = total > 1;
        let _ = writeln!(
            out,
            "{:>7} {:>10} {:>10} {:>8} {:>10} {:>9} {:>9} {:>9} {:>5} {:>8}{}",
            "window",
            "sent",
            "received",
            "loss %",
            "echoes/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "bad",
            "srv CPU%",
            if many {
                format!(" {:>9}", "answered")
            } else {
                String::new()
            }
        );
        for (i, run) in self.runs.iter().enumerate() {
            let mark = if Some(i) == self.best { " <- best" } else { "" };
            let answered = match run.per_source {
                Some(share) if many => {
                    format!(" {:>9}", format!("{}/{total}", share.answered))
                }
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "{:>7} {:>10} {:>10} {:>8.3} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>5} {:>8}{answered}{mark}",
                run.window,
                run.counts.sent,
                run.counts.received,
                run.loss_pct,
                run.echoes_per_s,
                run.rtt_us.p50_us,
                run.rtt_us.p99_us,
                run.rtt_us.p999_us,
                run.counts.bad,
                run.cpu_pct
                    .server_pct
                    .map_or("-".to_string(), |p| format!("{p:.0}")),
            );
        }
        match self.best {
            Some(b) => {
                let run = &self.runs[b];
                let _ = writeln!(
                    out,
                    "highest rate with loss <= {} %: {:.0} echoes/s (window {}, loss {:.3} %)",
                    self.loss_ok_pct, run.echoes_per_s, run.window, run.loss_pct
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "no window kept loss at or below {} %",
                    self.loss_ok_pct
                );
            }
        }
        if let Some(p) = self.peak.filter(|&p| Some(p) != self.best) {
            let run = &self.runs[p];
            let _ = writeln!(
                out,
                "peak: {:.0} echoes/s (window {}, loss {:.3} %)",
                run.echoes_per_s, run.window, run.loss_pct
            );
        }
    }
}

/// One run of a ping-pong or rate report, from `total` sources (sockets),
/// called sockets when `sockets` (several on an address), else sources.
fn render_run(out: &mut String, run: &Run, total: usize, sockets: bool) {
    let c = &run.counts;
    let pace = run
        .rate
        .map_or(String::new(), |r| format!(", paced at {r:.0}/s"));
    let _ = writeln!(
        out,
        "  window {}{pace}, {:.2} s: sent {}, received {}, lost {} ({:.3} %), late {}, duplicate {}, bad {}",
        run.window, run.duration_s, c.sent, c.received, c.lost, run.loss_pct, c.late, c.duplicate, c.bad
    );
    let r = &run.rtt_us;
    let _ = writeln!(
        out,
        "  round trip µs: min {:.1}  avg {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
        r.min_us, r.avg_us, r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us
    );
    let mut cpu = format!("generator {:.0} %", run.cpu_pct.generator_pct);
    if let Some(s) = run.cpu_pct.server_pct {
        let _ = write!(cpu, ", server {s:.0} %");
    }
    if let Some(o) = run.cpu_pct.others_pct {
        let _ = write!(cpu, ", other tasks {o:.0} %");
    }
    let _ = writeln!(
        out,
        "  echoes/s {:.0} (sent/s {:.0}); CPU: {cpu}{}{}",
        run.echoes_per_s,
        run.sent_per_s,
        if run.refused > 0 {
            format!("; ICMP refused {}", run.refused)
        } else {
            String::new()
        },
        if run.send_errors > 0 {
            format!("; send errors {}", run.send_errors)
        } else {
            String::new()
        },
    );
    if let Some(share) = run.per_source.filter(|_| total > 1) {
        let (many, one) = if sockets {
            ("sockets", "socket")
        } else {
            ("sources", "source")
        };
        let _ = writeln!(
            out,
            "  {many}: {} of {total} answered; on-time replies per {one}: {}..{}",
            share.answered, share.min, share.max
        );
    }
}

/// One stack at one payload size, over all repetitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    pub size: usize,
    /// Source addresses of its runs (hosts, as the server sees them).
    #[serde(default = "one")]
    pub sources: usize,
    /// Sockets on each of those addresses.
    #[serde(default = "one")]
    pub sockets: usize,
    /// Highest echo rate with loss within the budget, per sweep (0 when no
    /// window was within it).
    pub max_rate: Option<Spread>,
    /// The windows that gave it, per sweep.
    pub max_rate_windows: Vec<Option<u64>>,
    /// Highest echo rate whatever the loss.
    pub peak_rate: Option<Spread>,
    /// The server's CPU use at the highest rate within the budget.
    pub server_cpu_at_max: Option<Spread>,
    pub pp_p50_us: Option<Spread>,
    pub pp_p99_us: Option<Spread>,
    pub pp_p999_us: Option<Spread>,
    pub pp_avg_us: Option<Spread>,
    pub sweeps: usize,
    pub ping_pongs: usize,
    pub bad: u64,
    /// Runs during which other tasks used more than [`NOISY_PCT`] of a CPU.
    pub noisy_runs: usize,
}

/// One stack against the baseline at one payload size, from the medians.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    pub label: String,
    pub baseline: String,
    pub size: usize,
    /// Both sides measured from this many source addresses...
    #[serde(default = "one")]
    pub sources: usize,
    /// ... with this many sockets each.
    #[serde(default = "one")]
    pub sockets: usize,
    pub max_rate: Option<f64>,
    pub pp_p50: Option<f64>,
    pub pp_p99: Option<f64>,
}

/// One figure of one stack at one payload size (an echo rate, medians)
/// under the three loads of a [`Scaling`], and the ratios between them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ThreeLoads {
    /// From one socket of one host.
    pub one: Option<f64>,
    /// From `n` sockets of one host (distinct ports).
    pub sockets: Option<f64>,
    /// From `n` hosts (one socket sends from all of them).
    pub hosts: Option<f64>,
    /// `hosts / one`: what many hosts cost, the figure the target is about.
    /// The load generator sends from many addresses as cheaply as from one
    /// (see the engine), so this is mostly the server's: its neighbors, and
    /// Linux delivering replies to many addresses.
    pub hosts_over_one: Option<f64>,
    /// `sockets / one`: what many client sockets cost, with one host: the
    /// load generator's side (a system call per datagram), and Linux
    /// delivering the replies to that many sockets; nothing of the server's
    /// neighbors.
    pub sockets_over_one: Option<f64>,
    /// `hosts / sockets`: many hosts over as many sockets of one host.
    pub hosts_over_sockets: Option<f64>,
}

impl ThreeLoads {
    fn of(one: Option<Spread>, sockets: Option<Spread>, hosts: Option<Spread>) -> ThreeLoads {
        ThreeLoads {
            one: one.map(|s| s.median),
            sockets: sockets.map(|s| s.median),
            hosts: hosts.map(|s| s.median),
            hosts_over_one: over(&hosts, &one),
            sockets_over_one: over(&sockets, &one),
            hosts_over_sockets: over(&hosts, &sockets),
        }
    }
}

/// One stack at one payload size under three loads: from one host (one
/// socket), from `n` sockets of one host, and from `n` hosts, the datagrams
/// taking turns among the sources in both. Many hosts against one is what a
/// room of machines costs the server; many sockets of one host, what many
/// clients behind one address cost (the load generator pays for most of
/// that: a socket each, one datagram per system call).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    pub label: String,
    pub size: usize,
    /// Hosts of the many-hosts load, sockets of the many-sockets load.
    pub n: usize,
    /// Highest echo rate within the loss budget.
    pub max_rate: ThreeLoads,
    /// Highest echo rate whatever the loss.
    pub peak_rate: ThreeLoads,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub loss_ok_pct: Option<f64>,
    pub rows: Vec<Row>,
    pub ratios: Vec<Ratio>,
    /// One host, many sockets of one host and many hosts, per stack, size
    /// and number of them.
    #[serde(default)]
    pub scaling: Vec<Scaling>,
}

/// Medians and ratios of `reports`, grouped by label, payload size, number
/// of source addresses and sockets per address; ratios are each other label
/// over `baseline` (with as many sources and sockets), and for each label,
/// its loads from many hosts and from as many sockets of one host against
/// each other and against one host.
pub fn summarize(reports: &[Report], baseline: &str) -> Summary {
    // Labels in order of first appearance, then sizes in ascending order.
    let mut labels: Vec<&str> = Vec::new();
    for r in reports {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let mut by_key: BTreeMap<(usize, usize, usize, usize), Vec<&Report>> = BTreeMap::new();
    for r in reports {
        let li = labels.iter().position(|l| *l == r.label).unwrap_or(0);
        by_key
            .entry((li, r.size, r.sources, r.sockets))
            .or_default()
            .push(r);
    }
    let mut rows = Vec::new();
    for ((li, size, sources, sockets), group) in &by_key {
        rows.push(row(labels[*li], *size, *sources, *sockets, group));
    }
    // By size; one host, then many sockets of one host, then many hosts.
    rows.sort_by(|a, b| {
        a.size
            .cmp(&b.size)
            .then(a.sources.cmp(&b.sources))
            .then(a.sockets.cmp(&b.sockets))
            .then(
                labels
                    .iter()
                    .position(|l| *l == a.label)
                    .cmp(&labels.iter().position(|l| *l == b.label)),
            )
    });
    let mut ratios = Vec::new();
    for row in &rows {
        if row.label == baseline {
            continue;
        }
        let Some(base) = rows.iter().find(|b| {
            b.label == baseline
                && b.size == row.size
                && b.sources == row.sources
                && b.sockets == row.sockets
        }) else {
            continue;
        };
        ratios.push(Ratio {
            label: row.label.clone(),
            baseline: baseline.to_string(),
            size: row.size,
            sources: row.sources,
            sockets: row.sockets,
            max_rate: over(&row.max_rate, &base.max_rate),
            pp_p50: over(&row.pp_p50_us, &base.pp_p50_us),
            pp_p99: over(&row.pp_p99_us, &base.pp_p99_us),
        });
    }
    let scaling = scaling(&rows);
    let loss_ok_pct = reports
        .iter()
        .find(|r| r.mode == Mode::Sweep)
        .map(|r| r.loss_ok_pct);
    Summary {
        loss_ok_pct,
        rows,
        ratios,
        scaling,
    }
}

/// The [`Scaling`] of each label, size and `n` that has a row from `n`
/// hosts (a socket each) or from `n` sockets of one host, in the order of
/// `rows`.
fn scaling(rows: &[Row]) -> Vec<Scaling> {
    let mut keys: Vec<(&str, usize, usize)> = Vec::new();
    for r in rows {
        let n = match (r.sources, r.sockets) {
            (n, 1) | (1, n) if n > 1 => n,
            _ => continue,
        };
        let key = (r.label.as_str(), r.size, n);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let find = |label: &str, size: usize, sources: usize, sockets: usize| {
        rows.iter().find(|r| {
            r.label == label && r.size == size && r.sources == sources && r.sockets == sockets
        })
    };
    keys.into_iter()
        .map(|(label, size, n)| {
            let one = find(label, size, 1, 1);
            let sockets = find(label, size, 1, n);
            let hosts = find(label, size, n, 1);
            let figure = |f: fn(&Row) -> Option<Spread>| {
                ThreeLoads::of(one.and_then(f), sockets.and_then(f), hosts.and_then(f))
            };
            Scaling {
                label: label.to_string(),
                size,
                n,
                max_rate: figure(|r| r.max_rate),
                peak_rate: figure(|r| r.peak_rate),
            }
        })
        .collect()
}

/// The ratio of two medians; `None` when either is missing or the second is 0.
fn over(a: &Option<Spread>, b: &Option<Spread>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => Some(a.median / b.median),
        _ => None,
    }
}

fn row(label: &str, size: usize, sources: usize, sockets: usize, group: &[&Report]) -> Row {
    let mut max_rate = Vec::new();
    let mut windows = Vec::new();
    let mut peak_rate = Vec::new();
    let mut cpu = Vec::new();
    let (mut p50, mut p99, mut p999, mut avg) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut sweeps, mut ping_pongs, mut bad, mut noisy) = (0, 0, 0, 0);
    for r in group {
        bad += r.bad();
        noisy += r
            .runs
            .iter()
            .filter(|run| run.cpu_pct.others_pct.is_some_and(|o| o > NOISY_PCT))
            .count();
        match r.mode {
            Mode::Sweep => {
                sweeps += 1;
                let best = r.best.and_then(|b| r.runs.get(b));
                max_rate.push(best.map_or(0.0, |b| b.echoes_per_s));
                windows.push(best.map(|b| b.window));
                if let Some(s) = best.and_then(|b| b.cpu_pct.server_pct) {
                    cpu.push(s);
                }
                if let Some(p) = r.peak.and_then(|p| r.runs.get(p)) {
                    peak_rate.push(p.echoes_per_s);
                }
            }
            Mode::PingPong => {
                for run in r.runs.iter().filter(|run| run.rtt_us.samples > 0) {
                    ping_pongs += 1;
                    p50.push(run.rtt_us.p50_us);
                    p99.push(run.rtt_us.p99_us);
                    p999.push(run.rtt_us.p999_us);
                    avg.push(run.rtt_us.avg_us);
                }
            }
            Mode::Rate => {}
        }
    }
    Row {
        label: label.to_string(),
        size,
        sources,
        sockets,
        max_rate: Spread::of(&max_rate),
        max_rate_windows: windows,
        peak_rate: Spread::of(&peak_rate),
        server_cpu_at_max: Spread::of(&cpu),
        pp_p50_us: Spread::of(&p50),
        pp_p99_us: Spread::of(&p99),
        pp_p999_us: Spread::of(&p999),
        pp_avg_us: Spread::of(&avg),
        sweeps,
        ping_pongs,
        bad,
        noisy_runs: noisy,
    }
}

/// `226.1k`: echoes per second in thousands.
fn kilo(x: f64) -> String {
    format!("{:.1}k", x / 1000.0)
}

fn micros(x: f64) -> String {
    format!("{x:.1}")
}

/// `median [min..max]`, or the median alone when all agree; `-` when none.
fn spread_text(s: &Option<Spread>, f: fn(f64) -> String) -> String {
    match s {
        None => "-".to_string(),
        Some(s) if s.n == 1 || s.min == s.max => f(s.median),
        Some(s) => format!("{} [{}..{}]", f(s.median), f(s.min), f(s.max)),
    }
}

fn ratio_text(r: Option<f64>, target: f64, higher_is_better: bool, verdict: bool) -> String {
    match r {
        None => "-".to_string(),
        Some(r) if !verdict => format!("{r:.2}"),
        Some(r) => {
            let met = if higher_is_better {
                r >= target
            } else {
                r <= target
            };
            format!("{r:.2} {}", if met { "(met)" } else { "(missed)" })
        }
    }
}

impl Summary {
    /// Markdown tables, ready to paste.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let budget = self
            .loss_ok_pct
            .map_or("the loss budget".to_string(), |p| format!("loss ≤ {p} %"));
        let _ = writeln!(
            out,
            "| stack | payload | max echo/s ({budget}) | window | server CPU % | peak echo/s | ping-pong p50 µs | p99 µs | p99.9 µs | bad | noisy runs |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        for row in &self.rows {
            let windows: Vec<String> = row
                .max_rate_windows
                .iter()
                .map(|w| w.map_or("-".to_string(), |w| w.to_string()))
                .collect();
            let _ = writeln!(
                out,
                "| {}{} | {} B | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                load_suffix(row.sources, row.sockets),
                row.size,
                spread_text(&row.max_rate, kilo),
                if windows.is_empty() {
                    "-".to_string()
                } else {
                    windows.join(",")
                },
                spread_text(&row.server_cpu_at_max, |x| format!("{x:.0}")),
                spread_text(&row.peak_rate, kilo),
                spread_text(&row.pp_p50_us, micros),
                spread_text(&row.pp_p99_us, micros),
                spread_text(&row.pp_p999_us, micros),
                row.bad,
                row.noisy_runs,
            );
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| ratio | payload | max echo/s (target ≥ {TARGET_RATE_RATIO}) | ping-pong p50 (target ≤ {TARGET_LATENCY_RATIO}) | ping-pong p99 (target ≤ {TARGET_LATENCY_RATIO}) |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|");
            for r in &self.ratios {
                // The targets are for one host and one socket; with many
                // the figures stand alone.
                let verdict = r.sources == 1 && r.sockets == 1;
                let _ = writeln!(
                    out,
                    "| {}/{}{} | {} B | {} | {} | {} |",
                    r.label,
                    r.baseline,
                    load_suffix(r.sources, r.sockets),
                    r.size,
                    ratio_text(r.max_rate, TARGET_RATE_RATIO, true, verdict),
                    ratio_text(r.pp_p50, TARGET_LATENCY_RATIO, false, verdict),
                    ratio_text(r.pp_p99, TARGET_LATENCY_RATIO, false, verdict),
                );
            }
        }
        if !self.scaling.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "| many hosts | payload | N | echo/s | 1 host | 1 host, N sockets | N hosts | sockets/1 | hosts/1 (target ≥ {TARGET_HOSTS_RATIO}) | hosts/sockets |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            let rate = |r: Option<f64>| r.map_or("-".to_string(), kilo);
            for s in &self.scaling {
                for (what, figure, verdict) in
                    [("max", &s.max_rate, true), ("peak", &s.peak_rate, false)]
                {
                    let _ = writeln!(
                        out,
                        "| {} | {} B | {} | {what} | {} | {} | {} | {} | {} | {} |",
                        s.label,
                        s.size,
                        s.n,
                        rate(figure.one),
                        rate(figure.sockets),
                        rate(figure.hosts),
                        ratio_text(figure.sockets_over_one, 0.0, true, false),
                        ratio_text(figure.hosts_over_one, TARGET_HOSTS_RATIO, true, verdict),
                        ratio_text(figure.hosts_over_sockets, 0.0, true, false),
                    );
                }
            }
        }
        out
    }
}

/// After a stack's name, where its load came from when not one socket of
/// one host: `, 100 hosts`, `, 1 host, 100 sockets`, `, 10 hosts × 4 sockets`.
fn load_suffix(sources: usize, sockets: usize) -> String {
    match (sources, sockets) {
        (1, 1) => String::new(),
        (n, 1) => format!(", {n} hosts"),
        (1, k) => format!(", 1 host, {k} sockets"),
        (n, k) => format!(", {n} hosts × {k} sockets"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(window: u64, rate: f64, loss_pct: f64, p50: f64, p99: f64) -> Run {
        Run {
            window,
            rate: None,
            duration_s: 1.0,
            counts: Counts {
                sent: 1000,
                received: 1000 - (loss_pct * 10.0) as u64,
                lost: (loss_pct * 10.0) as u64,
                ..Counts::default()
            },
            loss_pct,
            echoes_per_s: rate,
            sent_per_s: rate,
            refused: 0,
            send_errors: 0,
            rtt_us: RttSummary {
                samples: 1000,
                p50_us: p50,
                p99_us: p99,
                ..RttSummary::default()
            },
            cpu_pct: CpuUse {
                generator_pct: 90.0,
                server_pct: Some(95.0),
                others_pct: Some(1.0),
            },
            per_source: None,
        }
    }

    fn report(label: &str, size: usize, mode: Mode, runs: Vec<Run>) -> Report {
        let mut r = Report {
            tool: "udpkit bench".into(),
            version: "0".into(),
            label: label.into(),
            target: "192.168.69.1:7".into(),
            sources: 1,
            sockets: 1,
            mode,
            size,
            loss_ms: 50.0,
            loss_ok_pct: 0.1,
            cpu: None,
            runs,
            best: None,
            peak: None,
        };
        r.choose();
        r
    }

    fn sweep(label: &str, size: usize, best_rate: f64) -> Report {
        report(
            label,
            size,
            Mode::Sweep,
            vec![
                run(1, best_rate / 4.0, 0.0, 0.0, 0.0),
                run(16, best_rate, 0.05, 0.0, 0.0),
                run(64, best_rate * 1.1, 2.0, 0.0, 0.0),
            ],
        )
    }

    fn ping(label: &str, size: usize, p50: f64, p99: f64) -> Report {
        report(
            label,
            size,
            Mode::PingPong,
            vec![run(1, 1.0, 0.0, p50, p99)],
        )
    }

    #[test]
    fn a_sweep_report_names_its_best_and_peak_runs() {
        let r = sweep("udpkit", 64, 200_000.0);
        assert_eq!(r.best, Some(1));
        assert_eq!(r.peak, Some(2));
        let text = r.render();
        assert!(text.contains("200000 echoes/s (window 16"), "{text}");
        assert_eq!(
            r.digest(),
            "udpkit 64 B sweep: max 200000 echoes/s with loss <= 0.1 % (window 16), 0 bad"
        );
        assert!(text.contains("peak: 220000 echoes/s (window 64"), "{text}");
    }

    #[test]
    fn reports_survive_json() {
        let r = sweep("kernel", 1024, 100_000.0);
        let line = serde_json::to_string(&r).unwrap();
        assert!(!line.contains('\n'));
        let back: Report = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert!(line.contains("\"mode\":\"sweep\""), "{line}");
    }

    #[test]
    fn medians_across_repetitions_and_ratios_against_the_baseline() {
        let reports = vec![
            sweep("udpkit", 64, 300_000.0),
            ping("udpkit", 64, 14.0, 20.0),
            sweep("kernel", 64, 200_000.0),
            ping("kernel", 64, 13.0, 22.0),
            sweep("kernel", 64, 250_000.0),
            ping("kernel", 64, 15.0, 18.0),
            sweep("udpkit", 64, 280_000.0),
            ping("udpkit", 64, 16.0, 24.0),
            sweep("udpkit", 64, 320_000.0),
            ping("udpkit", 64, 15.0, 22.0),
            sweep("kernel", 64, 230_000.0),
            ping("kernel", 64, 14.0, 20.0),
            sweep("udpkit", 1024, 100_000.0),
            ping("udpkit", 1024, 20.0, 30.0),
        ];
        let s = summarize(&reports, "kernel");
        // 64 B: udpkit, kernel; 1024 B: udpkit (no kernel row, no ratio).
        let labels: Vec<(&str, usize)> = s.rows.iter().map(|r| (&r.label[..], r.size)).collect();
        assert_eq!(labels, [("udpkit", 64), ("kernel", 64), ("udpkit", 1024)]);
        let u = &s.rows[0];
        let rate = u.max_rate.unwrap();
        assert_eq!(
            (rate.median, rate.min, rate.max, rate.n),
            (300_000.0, 280_000.0, 320_000.0, 3)
        );
        assert_eq!(u.max_rate_windows, [Some(16), Some(16), Some(16)]);
        assert_eq!(u.pp_p50_us.unwrap().median, 15.0);
        assert_eq!(u.pp_p99_us.unwrap().median, 22.0);
        assert_eq!((u.sweeps, u.ping_pongs, u.bad, u.noisy_runs), (3, 3, 0, 0));
        let k = &s.rows[1];
        assert_eq!(k.max_rate.unwrap().median, 230_000.0);
        assert_eq!(k.pp_p50_us.unwrap().median, 14.0);
        assert_eq!(k.pp_p99_us.unwrap().median, 20.0);
        assert_eq!(s.ratios.len(), 1);
        let r = &s.ratios[0];
        assert_eq!(
            (r.label.as_str(), r.baseline.as_str(), r.size),
            ("udpkit", "kernel", 64)
        );
        assert!((r.max_rate.unwrap() - 300.0 / 230.0).abs() < 1e-9);
        assert!((r.pp_p50.unwrap() - 15.0 / 14.0).abs() < 1e-9);
        assert!((r.pp_p99.unwrap() - 22.0 / 20.0).abs() < 1e-9);
        assert_eq!(s.loss_ok_pct, Some(0.1));

        let table = s.render();
        assert!(
            table.contains("| udpkit | 64 B | 300.0k [280.0k..320.0k] | 16,16,16 |"),
            "{table}"
        );
        assert!(
            table.contains("| udpkit/kernel | 64 B | 1.30 (met) | 1.07 (met) | 1.10 (met) |"),
            "{table}"
        );
    }

    #[test]
    fn a_sweep_without_a_sustainable_window_counts_as_zero() {
        let mut lossy = sweep("udpkit", 64, 100_000.0);
        for r in &mut lossy.runs {
            r.loss_pct = 5.0;
        }
        lossy.choose();
        assert_eq!(lossy.best, None);
        let s = summarize(&[lossy, sweep("udpkit", 64, 90_000.0)], "kernel");
        let rate = s.rows[0].max_rate.unwrap();
        assert_eq!((rate.min, rate.max), (0.0, 90_000.0));
        assert_eq!(s.rows[0].max_rate_windows, [None, Some(16)]);
        assert!(s.ratios.is_empty());
        assert!(s.render().contains("| -,16 |"), "{}", s.render());
    }

    /// [`sweep`] from `sources` addresses.
    fn sweep_from(label: &str, size: usize, best_rate: f64, sources: usize) -> Report {
        let mut r = sweep(label, size, best_rate);
        r.sources = sources;
        for run in &mut r.runs {
            run.per_source = Some(SourceShare {
                answered: sources,
                min: 9,
                max: 11,
            });
        }
        r
    }

    #[test]
    fn reports_name_their_sources() {
        let one = sweep("udpkit", 64, 200_000.0);
        assert!(one
            .render()
            .contains("64-byte payloads from 1 source address, sweep"));
        let many = sweep_from("udpkit", 64, 150_000.0, 100);
        let text = many.render();
        assert!(
            text.contains("64-byte payloads from 100 source addresses, sweep"),
            "{text}"
        );
        assert!(text.contains("answered"), "{text}");
        assert!(text.contains("100/100"), "{text}");
        assert!(many
            .digest()
            .starts_with("udpkit 64 B sweep, 100 sources: "));
        let line = serde_json::to_string(&many).unwrap();
        assert!(line.contains("\"sources\":100"), "{line}");
        assert!(line.contains("\"per_source\":{\"answered\":100,\"min\":9,\"max\":11}"));
        assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), many);

        let mut rate = report(
            "udpkit",
            64,
            Mode::Rate,
            vec![run(8, 1000.0, 0.0, 1.0, 2.0)],
        );
        rate.sources = 20;
        rate.runs[0].per_source = Some(SourceShare {
            answered: 19,
            min: 0,
            max: 60,
        });
        let text = rate.render();
        assert!(
            text.contains("sources: 19 of 20 answered; on-time replies per source: 0..60"),
            "{text}"
        );
    }

    #[test]
    fn reports_from_before_sources_read_as_one_source() {
        let line = serde_json::to_string(&sweep("kernel", 64, 1000.0)).unwrap();
        let old = line.replace("\"sources\":1,", "");
        assert_ne!(old, line);
        let back: Report = serde_json::from_str(&old).unwrap();
        assert_eq!(back.sources, 1);
        assert_eq!(back.runs[0].per_source, None);
    }

    /// [`sweep`] from `sockets` sockets on each of `sources` addresses.
    fn sweep_from_sockets(
        label: &str,
        size: usize,
        best_rate: f64,
        sources: usize,
        sockets: usize,
    ) -> Report {
        let mut r = sweep_from(label, size, best_rate, sources * sockets);
        (r.sources, r.sockets) = (sources, sockets);
        r
    }

    #[test]
    fn reports_name_their_sockets() {
        let r = sweep_from_sockets("udpkit", 64, 150_000.0, 1, 100);
        let text = r.render();
        assert!(
            text.contains("64-byte payloads from 1 source address (100 sockets), sweep"),
            "{text}"
        );
        assert!(text.contains("100/100"), "{text}");
        assert!(r.digest().starts_with("udpkit 64 B sweep, 100 sockets: "));
        let line = serde_json::to_string(&r).unwrap();
        assert!(line.contains("\"sources\":1,\"sockets\":100"), "{line}");
        assert_eq!(serde_json::from_str::<Report>(&line).unwrap(), r);

        let both = sweep_from_sockets("udpkit", 64, 150_000.0, 10, 4);
        assert!(both
            .render()
            .contains("from 10 source addresses (4 sockets each), sweep"));
        assert!(both.render().contains("40/40"));
        assert!(both
            .digest()
            .starts_with("udpkit 64 B sweep, 10 sources × 4 sockets: "));

        let mut rate = report(
            "udpkit",
            64,
            Mode::Rate,
            vec![run(8, 1000.0, 0.0, 1.0, 2.0)],
        );
        rate.sockets = 20;
        rate.runs[0].per_source = Some(SourceShare {
            answered: 20,
            min: 50,
            max: 50,
        });
        let text = rate.render();
        assert!(
            text.contains("sockets: 20 of 20 answered; on-time replies per socket: 50..50"),
            "{text}"
        );
    }

    #[test]
    fn reports_from_before_sockets_read_as_one_socket_each() {
        let line = serde_json::to_string(&sweep_from("kernel", 64, 1000.0, 100)).unwrap();
        let old = line.replace("\"sockets\":1,", "");
        assert_ne!(old, line);
        let back: Report = serde_json::from_str(&old).unwrap();
        assert_eq!((back.sources, back.sockets), (100, 1));
    }

    #[test]
    fn many_hosts_against_many_sockets_and_one_host_per_stack() {
        let reports = vec![
            sweep("udpkit", 64, 200_000.0),
            sweep_from_sockets("udpkit", 64, 180_000.0, 1, 100),
            sweep_from("udpkit", 64, 50_000.0, 100),
            sweep("kernel", 64, 100_000.0),
            sweep_from_sockets("kernel", 64, 80_000.0, 1, 100),
            sweep_from("kernel", 64, 72_000.0, 100),
            sweep("udpkit", 64, 220_000.0),
            sweep_from_sockets("udpkit", 64, 160_000.0, 1, 100),
            sweep_from("udpkit", 64, 60_000.0, 100),
        ];
        let s = summarize(&reports, "kernel");
        let keys: Vec<(&str, usize, usize, usize)> = s
            .rows
            .iter()
            .map(|r| (&r.label[..], r.size, r.sources, r.sockets))
            .collect();
        // One host, then many sockets of one host, then many hosts.
        assert_eq!(
            keys,
            [
                ("udpkit", 64, 1, 1),
                ("kernel", 64, 1, 1),
                ("udpkit", 64, 1, 100),
                ("kernel", 64, 1, 100),
                ("udpkit", 64, 100, 1),
                ("kernel", 64, 100, 1)
            ]
        );
        // udpkit against the kernel, each with the same load.
        let ratios: Vec<(usize, usize, f64)> = s
            .ratios
            .iter()
            .map(|r| (r.sources, r.sockets, r.max_rate.unwrap()))
            .collect();
        assert_eq!(
            ratios,
            [
                (1, 1, 2.1),
                (1, 100, 170_000.0 / 80_000.0),
                (100, 1, 55_000.0 / 72_000.0)
            ]
        );
        // Each stack: 100 hosts and 100 sockets against one host, and
        // against each other.
        assert_eq!(s.scaling.len(), 2);
        let u = &s.scaling[0];
        assert_eq!((u.label.as_str(), u.size, u.n), ("udpkit", 64, 100));
        let m = u.max_rate;
        assert_eq!(
            (m.one, m.sockets, m.hosts),
            (Some(210_000.0), Some(170_000.0), Some(55_000.0))
        );
        let near = |x: Option<f64>, y: f64| (x.unwrap() - y).abs() < 1e-9;
        assert!(near(m.hosts_over_one, 55.0 / 210.0));
        assert!(near(m.sockets_over_one, 170.0 / 210.0));
        assert!(near(m.hosts_over_sockets, 55.0 / 170.0));
        // The peak is the 1.1x run of each sweep: the same ratios.
        assert!(near(u.peak_rate.hosts_over_sockets, 55.0 / 170.0));
        assert!(near(u.peak_rate.hosts, 60_500.0));
        let k = &s.scaling[1];
        assert_eq!(k.label, "kernel");
        assert!(near(k.max_rate.hosts_over_one, 0.72));
        assert!(near(k.max_rate.sockets_over_one, 0.8));
        assert!(near(k.max_rate.hosts_over_sockets, 0.9));

        let table = s.render();
        for needle in [
            "| udpkit, 1 host, 100 sockets | 64 B | 170.0k [160.0k..180.0k] |",
            "| udpkit, 100 hosts | 64 B | 55.0k [50.0k..60.0k] |",
            "| udpkit/kernel | 64 B | 2.10 (met) |",
            "| udpkit/kernel, 1 host, 100 sockets | 64 B | 2.1",
            "| udpkit/kernel, 100 hosts | 64 B | 0.76 | - | - |",
            "| N | echo/s | 1 host | 1 host, N sockets | N hosts | sockets/1 | hosts/1 (target ≥ 0.9) | hosts/sockets |",
            "| udpkit | 64 B | 100 | max | 210.0k | 170.0k | 55.0k | 0.81 | 0.26 (missed) | 0.32 |",
            "| udpkit | 64 B | 100 | peak | 231.0k | 187.0k | 60.5k | 0.81 | 0.26 | 0.32 |",
            "| kernel | 64 B | 100 | max | 100.0k | 80.0k | 72.0k | 0.80 | 0.72 (missed) | 0.90 |",
        ] {
            assert!(table.contains(needle), "no `{needle}` in\n{table}");
        }
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);
    }

    #[test]
    fn scaling_with_only_some_of_the_loads() {
        // Many hosts without a many-sockets run (reports from before
        // --sockets), and many sockets without one host.
        let s = summarize(
            &[
                sweep("udpkit", 64, 200_000.0),
                sweep_from("udpkit", 64, 100_000.0, 100),
                sweep_from_sockets("kernel", 1024, 50_000.0, 1, 20),
            ],
            "kernel",
        );
        assert_eq!(s.scaling.len(), 2);
        let u = s.scaling[0].max_rate;
        assert_eq!(u.sockets, None);
        assert_eq!(u.hosts_over_one, Some(0.5));
        assert_eq!((u.sockets_over_one, u.hosts_over_sockets), (None, None));
        let k = &s.scaling[1];
        assert_eq!((k.label.as_str(), k.size, k.n), ("kernel", 1024, 20));
        assert_eq!(k.max_rate.sockets, Some(50_000.0));
        assert_eq!(k.max_rate.one, None);
        let table = s.render();
        assert!(
            table.contains(
                "| udpkit | 64 B | 100 | max | 200.0k | - | 100.0k | - | 0.50 (missed) | - |"
            ),
            "{table}"
        );
        // Many hosts of many sockets each stand alone in the rows.
        let s = summarize(&[sweep_from_sockets("udpkit", 64, 1.0, 10, 4)], "kernel");
        assert!(s.scaling.is_empty());
        assert!(s
            .render()
            .contains("| udpkit, 10 hosts × 4 sockets | 64 B |"));
    }

    #[test]
    fn bad_replies_and_noisy_runs_are_counted() {
        let mut r = ping("kernel", 64, 10.0, 12.0);
        r.runs[0].counts.bad = 3;
        r.runs[0].cpu_pct.others_pct = Some(40.0);
        let s = summarize(&[r], "kernel");
        assert_eq!((s.rows[0].bad, s.rows[0].noisy_runs), (3, 1));
        assert!(s.ratios.is_empty());
    }
}
