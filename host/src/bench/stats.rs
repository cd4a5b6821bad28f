//! The statistics of `udpkit bench`: round-trip times in a histogram, the
//! fate of every datagram sent (on time, late, duplicated), the choice of a
//! sweep's best window, and medians across repetitions.
//!
//! Nothing here reads a clock or touches a socket: times are nanoseconds
//! handed in by the caller, so every rule is unit tested.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Round-trip times, in nanoseconds, with 3 significant digits from 1 ns to
/// 100 s (a reply slower than that is recorded as 100 s).
pub struct Latency {
    histogram: Histogram<u64>,
}

const LATENCY_MAX_NS: u64 = 100_000_000_000;

impl Latency {
    pub fn new() -> Latency {
        Latency {
            // Valid bounds (1 <= low, high >= 2 * low, 3 digits): cannot fail.
            histogram: Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
                .expect("valid histogram bounds"),
        }
    }

    pub fn record(&mut self, rtt_ns: u64) {
        self.histogram
            .saturating_record(rtt_ns.clamp(1, LATENCY_MAX_NS));
    }

    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary in microseconds; all zero without samples.
    pub fn summary(&self) -> RttSummary {
        let h = &self.histogram;
        if h.is_empty() {
            return RttSummary::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        RttSummary {
            samples: h.len(),
            min_us: us(h.min()),
            avg_us: h.mean() / 1000.0,
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
        }
    }
}

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

/// Round-trip times of one run, in microseconds. Percentiles are within
/// 0.1 % of the exact sample (the histogram's resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RttSummary {
    pub samples: u64,
    pub min_us: f64,
    pub avg_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

/// What became of the datagrams of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Datagrams sent.
    pub sent: u64,
    /// Correct replies that came within the loss deadline (one per datagram).
    pub received: u64,
    /// Datagrams with no correct reply within the deadline (late included).
    /// Only final once every datagram is settled.
    pub lost: u64,
    /// Correct replies that came after their deadline (their datagram is lost).
    pub late: u64,
    /// Correct replies to a datagram already answered.
    pub duplicate: u64,
    /// Replies that are not byte for byte a datagram we sent.
    pub bad: u64,
}

impl Counts {
    /// Lost, in percent of the datagrams sent.
    pub fn loss_pct(&self) -> f64 {
        if self.sent == 0 {
            0.0
        } else {
            100.0 * self.lost as f64 / self.sent as f64
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Outstanding,
    Received,
    Lost,
}

/// What a reply turned out to be, for [`Ledger::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// On time: its round-trip time in nanoseconds.
    OnTime(u64),
    /// After its deadline: its datagram counts as lost.
    Late,
    /// Its datagram was already answered.
    Duplicate,
    /// Not a datagram of ours (never sent, or its send time does not match):
    /// counted as bad.
    Unknown,
}

/// The datagrams in flight: for every sequence number, when it was sent and
/// what became of it, in a ring of fixed size allocated once.
///
/// Sequence numbers are sent in order from 0. The ring holds the newest
/// `capacity` of them; [`Ledger::has_room`] is false while the oldest
/// unsettled one would be overwritten, so the sender waits (at most the
/// loss deadline) rather than forget a datagram.
pub struct Ledger {
    sent_at: Vec<u64>,
    fate: Vec<Fate>,
    mask: u64,
    /// The oldest sequence number not yet settled (or `next`).
    head: u64,
    /// The next sequence number to send.
    next: u64,
    outstanding: u64,
    loss_ns: u64,
    counts: Counts,
}

impl Ledger {
    /// A ledger for at least `capacity` datagrams in flight (rounded up to a
    /// power of two); a datagram unanswered after `loss_ns` is lost.
    pub fn new(capacity: usize, loss_ns: u64) -> Ledger {
        let capacity = capacity.max(2).next_power_of_two();
        Ledger {
            sent_at: vec![0; capacity],
            fate: vec![Fate::Lost; capacity],
            mask: capacity as u64 - 1,
            head: 0,
            next: 0,
            outstanding: 0,
            loss_ns,
            counts: Counts::default(),
        }
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    /// The sequence number the next datagram gets.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// How many more datagrams may be sent before the ring is full.
    pub fn room(&self) -> u64 {
        (self.mask + 1) - (self.next - self.head)
    }

    pub fn has_room(&self) -> bool {
        self.room() > 0
    }

    /// Records that datagram `next_seq()` left at `now_ns`; returns its
    /// sequence number.
    pub fn sent(&mut self, now_ns: u64) -> u64 {
        debug_assert!(self.has_room());
        let seq = self.next;
        let i = (seq & self.mask) as usize;
        self.sent_at[i] = now_ns;
        self.fate[i] = Fate::Outstanding;
        self.next += 1;
        self.outstanding += 1;
        self.counts.sent += 1;
        seq
    }

    /// When datagram `seq` was sent, if the ledger still knows it.
    #[cfg(test)]
    pub fn sent_at(&self, seq: u64) -> Option<u64> {
        self.known(seq)
            .then(|| self.sent_at[(seq & self.mask) as usize])
    }

    fn known(&self, seq: u64) -> bool {
        seq < self.next && self.next - seq <= self.mask + 1
    }

    /// Records a reply to `seq` that carried `stamp_ns` (the send time the
    /// datagram carried) and arrived at `now_ns`.
    pub fn reply(&mut self, seq: u64, stamp_ns: u64, now_ns: u64) -> ReplyKind {
        if seq >= self.next {
            self.counts.bad += 1;
            return ReplyKind::Unknown;
        }
        if !self.known(seq) {
            // So old that its slot was reused: it was settled long ago, and
            // anything that old is past its deadline.
            self.counts.late += 1;
            return ReplyKind::Late;
        }
        let i = (seq & self.mask) as usize;
        if self.sent_at[i] != stamp_ns {
            self.counts.bad += 1;
            return ReplyKind::Unknown;
        }
        match self.fate[i] {
            Fate::Received => {
                self.counts.duplicate += 1;
                ReplyKind::Duplicate
            }
            Fate::Lost => {
                self.counts.late += 1;
                ReplyKind::Late
            }
            Fate::Outstanding => {
                let rtt = now_ns.saturating_sub(stamp_ns);
                self.outstanding -= 1;
                if rtt > self.loss_ns {
                    self.fate[i] = Fate::Lost;
                    self.counts.lost += 1;
                    self.counts.late += 1;
                    ReplyKind::Late
                } else {
                    self.fate[i] = Fate::Received;
                    self.counts.received += 1;
                    ReplyKind::OnTime(rtt)
                }
            }
        }
    }

    /// Counts a reply that is not a correct copy of anything we sent.
    pub fn bad(&mut self) {
        self.counts.bad += 1;
    }

    /// Declares lost every datagram whose deadline passed by `now_ns`;
    /// returns how many.
    pub fn expire(&mut self, now_ns: u64) -> u64 {
        let mut expired = 0;
        while self.head < self.next {
            let i = (self.head & self.mask) as usize;
            if self.fate[i] == Fate::Outstanding {
                if now_ns.saturating_sub(self.sent_at[i]) <= self.loss_ns {
                    break;
                }
                self.fate[i] = Fate::Lost;
                self.outstanding -= 1;
                self.counts.lost += 1;
                expired += 1;
            }
            self.head += 1;
        }
        expired
    }

    /// When the oldest datagram in flight runs out of time, if any is.
    #[cfg(test)]
    pub fn next_deadline(&self) -> Option<u64> {
        (self.head..self.next)
            .map(|seq| (seq & self.mask) as usize)
            .find(|&i| self.fate[i] == Fate::Outstanding)
            .map(|i| self.sent_at[i] + self.loss_ns)
    }
}

/// How the correct, on-time replies of a run were shared among its source
/// addresses: how many got any, and the fewest and most one got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceShare {
    /// Sources with at least one reply.
    pub answered: usize,
    /// Replies of the source that got the fewest.
    pub min: u64,
    /// Replies of the source that got the most.
    pub max: u64,
}

impl SourceShare {
    /// From the replies of each source; `None` without sources.
    pub fn of(received_by_source: &[u64]) -> Option<SourceShare> {
        Some(SourceShare {
            answered: received_by_source.iter().filter(|&&n| n > 0).count(),
            min: *received_by_source.iter().min()?,
            max: *received_by_source.iter().max()?,
        })
    }
}

/// The run a sweep reports: the highest echo rate whose loss is at most
/// `loss_ok_pct`. Returns its index, or `None` when every run lost more.
/// Ties go to the smaller index (the smaller window, as the sweep runs them
/// in order).
pub fn best_sustainable(runs: &[(f64, f64)], loss_ok_pct: f64) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &(rate, loss)) in runs.iter().enumerate() {
        if loss <= loss_ok_pct && best.is_none_or(|b| rate > runs[b].0) {
            best = Some(i);
        }
    }
    best
}

/// The run with the highest echo rate, whatever its loss.
pub fn peak(runs: &[(f64, f64)]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &(rate, _)) in runs.iter().enumerate() {
        if best.is_none_or(|b| rate > runs[b].0) {
            best = Some(i);
        }
    }
    best
}

/// Median, minimum and maximum of a set of figures (NaN ignored).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Spread {
    /// `None` for an empty set. With an even count the median is the mean of
    /// the two middle figures.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut latency = Latency::new();
        // 1..=1000 µs, once each.
        for us in 1..=1000u64 {
            latency.record(us * 1000);
        }
        let s = latency.summary();
        assert_eq!(s.samples, 1000);
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 1e-9;
        assert!(near(s.min_us, 1.0), "{s:?}");
        assert!(near(s.max_us, 1000.0), "{s:?}");
        assert!(near(s.p50_us, 500.0), "{s:?}");
        assert!(near(s.p90_us, 900.0), "{s:?}");
        assert!(near(s.p99_us, 990.0), "{s:?}");
        assert!(near(s.p999_us, 999.0), "{s:?}");
        assert!(near(s.avg_us, 500.5), "{s:?}");
    }

    #[test]
    fn a_rare_outlier_shows_in_the_tail_only() {
        let mut latency = Latency::new();
        for _ in 0..9990 {
            latency.record(20_000);
        }
        for _ in 0..10 {
            latency.record(5 * MS);
        }
        let s = latency.summary();
        assert!((s.p50_us - 20.0).abs() < 0.05, "{s:?}");
        assert!((s.p99_us - 20.0).abs() < 0.05, "{s:?}");
        assert!((s.p999_us - 20.0).abs() < 0.05, "{s:?}"); // 10 in 10000 is 0.1 %
        assert!((s.max_us - 5000.0).abs() < 5.0, "{s:?}");
    }

    #[test]
    fn no_samples_no_figures() {
        assert_eq!(Latency::new().summary(), RttSummary::default());
        let mut latency = Latency::new();
        latency.record(0); // recorded as 1 ns, not rejected
        latency.record(u64::MAX); // saturates
        assert_eq!(latency.len(), 2);
    }

    #[test]
    fn on_time_late_duplicate_and_unknown_replies() {
        let mut ledger = Ledger::new(8, 50 * MS);
        let a = ledger.sent(0);
        let b = ledger.sent(MS);
        let c = ledger.sent(2 * MS);
        assert_eq!((a, b, c), (0, 1, 2));
        assert_eq!(ledger.outstanding(), 3);
        assert_eq!(ledger.reply(a, 0, 10 * MS), ReplyKind::OnTime(10 * MS));
        assert_eq!(ledger.reply(a, 0, 11 * MS), ReplyKind::Duplicate);
        // b's reply comes 60 ms after it was sent: lost, and counted late.
        assert_eq!(ledger.reply(b, MS, 61 * MS), ReplyKind::Late);
        // A sequence number never sent, and a send time that is not ours.
        assert_eq!(ledger.reply(7, 0, 12 * MS), ReplyKind::Unknown);
        assert_eq!(ledger.reply(c, 3 * MS, 12 * MS), ReplyKind::Unknown);
        assert_eq!(ledger.outstanding(), 1);
        // c never comes back.
        assert_eq!(
            ledger.expire(52 * MS),
            0,
            "exactly at the deadline is on time"
        );
        assert_eq!(ledger.expire(52 * MS + 1), 1);
        // ...and then does: late.
        assert_eq!(ledger.reply(c, 2 * MS, 60 * MS), ReplyKind::Late);
        let counts = ledger.counts();
        assert_eq!(
            counts,
            Counts {
                sent: 3,
                received: 1,
                lost: 2,
                late: 2,
                duplicate: 1,
                bad: 2,
            }
        );
        assert!((counts.loss_pct() - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(ledger.outstanding(), 0);
        assert_eq!(ledger.next_deadline(), None);
    }

    #[test]
    fn a_reply_at_the_deadline_is_on_time() {
        let mut ledger = Ledger::new(4, 50 * MS);
        let s = ledger.sent(MS);
        assert_eq!(ledger.reply(s, MS, 51 * MS), ReplyKind::OnTime(50 * MS));
        assert_eq!(ledger.counts().lost, 0);
    }

    #[test]
    fn expiry_waits_for_the_oldest_and_skips_the_answered() {
        let mut ledger = Ledger::new(8, 10 * MS);
        for t in 0..4 {
            ledger.sent(t * MS);
        }
        // 1 and 2 are answered; 0 and 3 are not.
        ledger.reply(1, MS, 5 * MS);
        ledger.reply(2, 2 * MS, 5 * MS);
        assert_eq!(ledger.next_deadline(), Some(10 * MS));
        assert_eq!(ledger.expire(10 * MS + 1), 1); // 0
        assert_eq!(ledger.next_deadline(), Some(13 * MS));
        assert_eq!(ledger.expire(12 * MS), 0);
        assert_eq!(ledger.expire(13 * MS + 1), 1); // 3
        let counts = ledger.counts();
        assert_eq!((counts.sent, counts.received, counts.lost), (4, 2, 2));
        assert_eq!(counts.loss_pct(), 50.0);
    }

    #[test]
    fn the_ring_never_overwrites_an_unsettled_datagram() {
        let mut ledger = Ledger::new(4, 10 * MS);
        for t in 0..4 {
            assert!(ledger.has_room());
            ledger.sent(t);
        }
        assert_eq!(ledger.room(), 0);
        assert!(!ledger.has_room());
        // Answering a later one frees nothing while the oldest is in flight.
        ledger.reply(1, 1, 100);
        ledger.expire(200);
        assert_eq!(ledger.room(), 0);
        ledger.reply(0, 0, 100);
        ledger.expire(200);
        assert_eq!(ledger.room(), 2);
        ledger.sent(300); // seq 4 reuses seq 0's slot
                          // A reply to seq 0 now is too old to know: late, never a duplicate
                          // mistaken for seq 4.
        assert_eq!(ledger.reply(0, 0, 400), ReplyKind::Late);
        assert_eq!(ledger.sent_at(0), None);
        assert_eq!(ledger.sent_at(4), Some(300));
        assert_eq!(ledger.reply(4, 300, 400), ReplyKind::OnTime(100));
    }

    #[test]
    fn capacity_rounds_up_to_a_power_of_two() {
        assert_eq!(Ledger::new(5, 1).room(), 8);
        assert_eq!(Ledger::new(0, 1).room(), 2);
    }

    #[test]
    fn sweep_picks_the_fastest_run_within_the_loss_budget() {
        // (echoes/s, loss %) per window 1, 2, 4, 8, 16
        let runs = [
            (50_000.0, 0.0),
            (90_000.0, 0.05),
            (150_000.0, 0.1),
            (180_000.0, 0.4),
            (170_000.0, 3.0),
        ];
        assert_eq!(best_sustainable(&runs, 0.1), Some(2));
        assert_eq!(best_sustainable(&runs, 1.0), Some(3));
        assert_eq!(best_sustainable(&runs, 0.0), Some(0));
        assert_eq!(peak(&runs), Some(3));
    }

    #[test]
    fn sweep_with_no_sustainable_run() {
        let runs = [(1000.0, 5.0), (2000.0, 0.2)];
        assert_eq!(best_sustainable(&runs, 0.1), None);
        assert_eq!(peak(&runs), Some(1));
        assert_eq!(best_sustainable(&[], 0.1), None);
        assert_eq!(peak(&[]), None);
    }

    #[test]
    fn sweep_ties_go_to_the_smaller_window() {
        let runs = [(100.0, 0.0), (100.0, 0.0), (90.0, 0.0)];
        assert_eq!(best_sustainable(&runs, 0.1), Some(0));
        assert_eq!(peak(&runs), Some(0));
    }

    #[test]
    fn how_replies_were_shared_among_sources() {
        assert_eq!(
            SourceShare::of(&[5, 0, 7, 6]),
            Some(SourceShare {
                answered: 3,
                min: 0,
                max: 7
            })
        );
        assert_eq!(
            SourceShare::of(&[4]),
            Some(SourceShare {
                answered: 1,
                min: 4,
                max: 4
            })
        );
        assert_eq!(SourceShare::of(&[]), None);
    }

    #[test]
    fn medians_odd_even_and_empty() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.5, 1.0, 4.0, 4));
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[f64::NAN]), None);
        let s = Spread::of(&[7.0, f64::NAN]).unwrap();
        assert_eq!((s.median, s.n), (7.0, 1));
    }
}
