//! The services udpkit ships, one module each.
//!
//! Every module holds the protocol logic as plain functions over bytes, a
//! small [`Service`](crate::Service) type that wires it to the stack, its
//! standard port as `DEFAULT_PORT`, and its tests.

#[cfg(feature = "chat")]
pub mod chat;
#[cfg(feature = "daytime")]
pub mod daytime;
#[cfg(feature = "discard")]
pub mod discard;
#[cfg(feature = "discovery")]
pub mod discovery;
#[cfg(feature = "echo")]
pub mod echo;
#[cfg(feature = "hello")]
pub mod hello;
#[cfg(feature = "ntp")]
pub mod ntp;
#[cfg(feature = "time")]
pub mod time;
#[cfg(feature = "upper")]
pub mod upper;

/// Bytes per second of [`ExcessBudget`]: what a service may send to
/// unproven sources beyond what they sent it, on average. A forger gains at
/// most this much traffic a second from a device: no amplifier worth using.
pub const EXCESS_BYTES_PER_SECOND: u32 = 1024;

/// Bytes of [`ExcessBudget`] at once: a room of 32 people who all type
/// `/nick` in the same second are each welcomed (a welcome lists the room,
/// a few hundred bytes), as are a dozen `DISCOVER`s from older clients.
pub const EXCESS_BYTES_BURST: u32 = 16 * 1024;

/// Answers to sources that have not proven their address, and how udpkit
/// stays out of amplification attacks.
///
/// A UDP source address can be forged: whatever a service sends to a source
/// that has not shown it receives what we send (a chat stranger, any
/// `DISCOVER` sender) may land on a victim that asked for nothing. A rate
/// limit bounds how often that happens, not how much each request is worth
/// to an attacker: a 5-byte `/help` answered with 500 bytes is a tenfold
/// amplifier for whoever forges it.
///
/// So such answers are no larger than their request: a forger gets out of
/// udpkit no more bytes than it puts in. A small allowance beyond that is
/// shared by all those sources, a token bucket of bytes
/// ([`EXCESS_BYTES_PER_SECOND`], at most [`EXCESS_BYTES_BURST`] at once),
/// so that a person typing into `nc` still gets the occasional answer
/// longer than the line: an answer larger than its request takes the excess
/// from it, whole or not at all, and when it is dry the answer is not sent
/// (the service counts that). Per service, the bytes sent to unproven
/// sources are at most the bytes they sent plus that allowance, however
/// many sources are forged. Each service keeps its own budget (the stack
/// has no shared state between services), so a device with chat and
/// discovery has twice the allowance.
#[derive(Debug, Clone, Copy)]
pub struct ExcessBudget {
    /// In thousandths of a byte.
    bytes: MilliBucket,
}

impl Default for ExcessBudget {
    fn default() -> ExcessBudget {
        ExcessBudget::new()
    }
}

impl ExcessBudget {
    const FULL: u64 = EXCESS_BYTES_BURST as u64 * 1000;

    /// A full budget.
    pub const fn new() -> ExcessBudget {
        ExcessBudget {
            bytes: MilliBucket::full(Self::FULL),
        }
    }

    /// Whether an answer of `answer` bytes to a request of `request` bytes
    /// may be sent at `now`; if so, its excess over the request is taken.
    pub fn cover(&mut self, now: smoltcp::time::Instant, request: usize, answer: usize) -> bool {
        let excess = (answer.saturating_sub(request) as u64).saturating_mul(1000);
        self.bytes
            .take(now, Self::FULL, EXCESS_BYTES_PER_SECOND, excess)
    }
}

/// A token bucket in thousandths of a token, so a refill needs no
/// division: [`ExcessBudget`]'s bytes, discovery's replies. One copy of
/// its arithmetic for both (a board's flash).
#[derive(Debug, Clone, Copy)]
pub(crate) struct MilliBucket {
    milli_tokens: u64,
    /// `None` until first used: the bucket starts full whatever the clock.
    refilled_at: Option<smoltcp::time::Instant>,
}

impl MilliBucket {
    /// A bucket of `full` thousandths.
    pub(crate) const fn full(full: u64) -> MilliBucket {
        MilliBucket {
            milli_tokens: full,
            refilled_at: None,
        }
    }

    /// Refills the bucket at `per_second` tokens a second, up to `full`
    /// thousandths, then takes `milli_tokens` thousandths if it holds
    /// that many (and none if not).
    #[inline(never)]
    pub(crate) fn take(
        &mut self,
        now: smoltcp::time::Instant,
        full: u64,
        per_second: u32,
        milli_tokens: u64,
    ) -> bool {
        if let Some(at) = self.refilled_at.filter(|&at| now > at) {
            let refill = crate::clock::total_millis(now - at).saturating_mul(u64::from(per_second));
            self.milli_tokens = self.milli_tokens.saturating_add(refill).min(full);
        }
        // A clock that goes back neither refills nor panics.
        if self.refilled_at.is_none_or(|at| now > at) {
            self.refilled_at = Some(now);
        }
        if milli_tokens > self.milli_tokens {
            return false;
        }
        self.milli_tokens -= milli_tokens;
        true
    }

    /// Puts back `milli_tokens` thousandths taken, up to `full`.
    #[cfg(feature = "discovery")]
    pub(crate) fn give_back(&mut self, full: u64, milli_tokens: u64) {
        self.milli_tokens = self.milli_tokens.saturating_add(milli_tokens).min(full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::time::{Duration, Instant};

    #[test]
    fn the_excess_budget_covers_a_burst_then_the_rate() {
        let mut budget = ExcessBudget::new();
        let t0 = Instant::from_secs(10);
        // Answers no larger than their request never need it.
        assert!((0..10_000).all(|_| budget.cover(t0, 100, 100)));
        assert!(budget.cover(t0, 1000, 10));
        // The burst, then nothing; a refused answer takes nothing.
        let burst = EXCESS_BYTES_BURST as usize;
        assert!(!budget.cover(t0, 0, burst + 1));
        assert!(budget.cover(t0, 10, 10 + burst - 1));
        assert!(!budget.cover(t0, 10, 12));
        assert!(budget.cover(t0, 10, 11));
        assert!(!budget.cover(t0, 10, 11));
        assert!(budget.cover(t0, 10, 10));
        // The rate: a quarter of a second brings back a quarter's bytes.
        let rate = EXCESS_BYTES_PER_SECOND as usize;
        let later = t0 + Duration::from_millis(250);
        assert!(!budget.cover(later, 0, rate / 4 + 1));
        assert!(budget.cover(later, 0, rate / 4));
        assert!(!budget.cover(later, 0, 1), "the same time refills once");
        // A long silence refills to the burst, no more.
        let much_later = t0 + Duration::from_secs(3600);
        assert!(!budget.cover(much_later, 0, burst + 1));
        assert!(budget.cover(much_later, 0, burst));
        // A clock that goes back neither refills nor panics.
        assert!(!budget.cover(t0, 0, 1));
    }
}
