//! What `udpkit bench` puts in its datagrams, and how it checks the replies.
//!
//! Layout of a payload of `size` bytes (at least [`HEADER`]):
//!
//! | bytes | what |
//! |---|---|
//! | 0..8 | sequence number, little endian: the run's tag above bit [`RUN_SHIFT`], [`WARM_UP`] set during warm-up |
//! | 8..16 | send time, nanoseconds of the generator's monotonic clock, little endian |
//! | 16.. | a pattern that depends on the sequence number and the byte's position |
//!
//! A reply is correct when it has exactly `size` bytes, its pattern is the
//! one of its sequence number, and its send time is the one the generator
//! recorded for that number: byte for byte what was sent.

/// Bytes before the pattern: sequence number and send time.
pub const HEADER: usize = 16;

/// Set in the sequence number of warm-up datagrams, so that a late warm-up
/// reply is never mistaken for a measured one.
pub const WARM_UP: u64 = 1 << 63;

/// The sequence number's bits above this one tag the run (each window of a
/// sweep is a run), so that a late reply from an earlier run is recognised
/// as such; the bits below number the datagrams of one run.
pub const RUN_SHIFT: u32 = 40;

/// The sequence number of datagram `seq` of run `run`.
pub fn tagged(run: u64, seq: u64) -> u64 {
    ((run << RUN_SHIFT) & !WARM_UP) | (seq & ((1 << RUN_SHIFT) - 1))
}

/// The run and the datagram number of a (non-warm-up) sequence number.
pub fn untag(seq: u64) -> (u64, u64) {
    ((seq & !WARM_UP) >> RUN_SHIFT, seq & ((1 << RUN_SHIFT) - 1))
}

/// The pattern of one payload size.
pub struct Pattern {
    size: usize,
    /// The pattern before it is mixed with the sequence number.
    base: Vec<u8>,
}

/// A well-formed reply: the sequence number and the send time it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub seq: u64,
    pub sent_ns: u64,
}

/// A 64-bit mix of the sequence number (splitmix64), so that neighbouring
/// datagrams differ in every pattern word.
fn key(seq: u64) -> u64 {
    let mut z = seq.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Pattern {
    /// The pattern of `size`-byte payloads; `size` must be at least [`HEADER`].
    pub fn new(size: usize) -> Pattern {
        assert!(size >= HEADER, "payloads have at least {HEADER} bytes");
        let base = (0..size)
            .map(|i| (i as u32).wrapping_mul(151).wrapping_add(7) as u8)
            .collect();
        Pattern { size, base }
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Writes the payload of datagram `seq` sent at `sent_ns` into `buf`
    /// (exactly `size` bytes).
    pub fn fill(&self, buf: &mut [u8], seq: u64, sent_ns: u64) {
        debug_assert_eq!(buf.len(), self.size);
        buf[..8].copy_from_slice(&seq.to_le_bytes());
        buf[8..16].copy_from_slice(&sent_ns.to_le_bytes());
        let k = key(seq);
        let kb = k.to_le_bytes();
        let body = &mut buf[HEADER..];
        let base = &self.base[HEADER..];
        let mut out = body.chunks_exact_mut(8);
        let mut src = base.chunks_exact(8);
        for (o, b) in (&mut out).zip(&mut src) {
            let word = u64::from_le_bytes(b.try_into().expect("8 bytes")) ^ k;
            o.copy_from_slice(&word.to_le_bytes());
        }
        for ((o, b), k) in out.into_remainder().iter_mut().zip(src.remainder()).zip(kb) {
            *o = b ^ k;
        }
    }

    /// Whether `reply` is a correct payload of this size, and if so the
    /// sequence number and send time it carries (still to be compared with
    /// the ones recorded).
    pub fn check(&self, reply: &[u8]) -> Option<Stamp> {
        if reply.len() != self.size {
            return None;
        }
        let seq = u64::from_le_bytes(reply[..8].try_into().ok()?);
        let sent_ns = u64::from_le_bytes(reply[8..16].try_into().ok()?);
        let k = key(seq);
        let kb = k.to_le_bytes();
        let body = &reply[HEADER..];
        let base = &self.base[HEADER..];
        let mut got = body.chunks_exact(8);
        let mut want = base.chunks_exact(8);
        let mut diff = 0u64;
        for (g, w) in (&mut got).zip(&mut want) {
            let g = u64::from_le_bytes(g.try_into().ok()?);
            let w = u64::from_le_bytes(w.try_into().ok()?) ^ k;
            diff |= g ^ w;
        }
        for ((g, w), k) in got.remainder().iter().zip(want.remainder()).zip(kb) {
            diff |= u64::from(g ^ (w ^ k));
        }
        (diff == 0).then_some(Stamp { seq, sent_ns })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filled_payload_checks_out_at_every_size() {
        for size in [16, 17, 23, 24, 64, 100, 1024, 1472] {
            let pattern = Pattern::new(size);
            let mut buf = vec![0u8; size];
            for seq in [0, 1, 2, 12345, WARM_UP | 3] {
                pattern.fill(&mut buf, seq, 987_654_321);
                assert_eq!(
                    pattern.check(&buf),
                    Some(Stamp {
                        seq,
                        sent_ns: 987_654_321
                    }),
                    "size {size} seq {seq}"
                );
            }
        }
    }

    #[test]
    fn every_single_flipped_byte_is_caught() {
        let pattern = Pattern::new(61);
        let mut buf = vec![0u8; 61];
        pattern.fill(&mut buf, 42, 7);
        for i in HEADER..61 {
            let mut bad = buf.clone();
            bad[i] ^= 0x01;
            assert_eq!(pattern.check(&bad), None, "byte {i}");
        }
        // A changed sequence number no longer matches its pattern.
        let mut bad = buf.clone();
        bad[0] ^= 1;
        assert_eq!(pattern.check(&bad), None);
    }

    #[test]
    fn wrong_lengths_and_reversed_payloads_are_bad() {
        let pattern = Pattern::new(64);
        let mut buf = vec![0u8; 64];
        pattern.fill(&mut buf, 9, 9);
        assert_eq!(pattern.check(&buf[..63]), None);
        let mut longer = buf.clone();
        longer.push(0);
        assert_eq!(pattern.check(&longer), None);
        let reversed: Vec<u8> = buf.iter().rev().copied().collect();
        assert_eq!(pattern.check(&reversed), None);
        // Another datagram's payload under this one's header.
        let mut other = vec![0u8; 64];
        pattern.fill(&mut other, 10, 9);
        other[..8].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(pattern.check(&other), None);
    }

    #[test]
    fn run_tags_round_trip_and_never_look_like_warm_up() {
        for (run, seq) in [(0, 0), (1, 0), (7, 123_456), ((1 << 23) - 1, (1 << 40) - 1)] {
            let tagged = tagged(run, seq);
            assert_eq!(tagged & WARM_UP, 0);
            assert_eq!(untag(tagged), (run, seq));
        }
        assert_ne!(tagged(1, 5), tagged(2, 5));
    }

    #[test]
    fn neighbouring_datagrams_differ_everywhere_in_the_pattern() {
        let pattern = Pattern::new(64);
        let (mut a, mut b) = (vec![0u8; 64], vec![0u8; 64]);
        pattern.fill(&mut a, 100, 0);
        pattern.fill(&mut b, 101, 0);
        let same = a[HEADER..]
            .chunks(8)
            .zip(b[HEADER..].chunks(8))
            .filter(|(x, y)| x == y)
            .count();
        assert_eq!(same, 0);
    }
}
