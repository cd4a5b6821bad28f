//! The bodies of udpkit's fuzz targets, with their invariant checks: one
//! function per target, taking the fuzzer's bytes.
//!
//! The targets in `fuzz/` (cargo-fuzz, libFuzzer) are one-liners that call
//! these, and `cargo test` replays each target's checked-in corpus
//! (`fuzz/corpus/TARGET/`) through the very same functions
//! (`tests/fuzz_corpus.rs`), so a regression the fuzzer once found fails
//! the normal test run, without nightly or cargo-fuzz.
//!
//! A broken invariant is a panic with a message that says which: that is
//! what libFuzzer reports as a crash, and what fails the replay test.
//!
//! | target | what it drives | beyond "no panic" |
//! | --- | --- | --- |
//! | [`wire_ntp`] | `wire::ntp` | every 48 bytes parse; emit writes them back byte for byte |
//! | [`wire_discovery`] | `wire::discovery` | what parses is written back and reads the same |
//! | [`wire_chat_command`] | `wire::chat::Command` | round trip, `buffer_len` = emitted length = `Display` |
//! | [`wire_chat_server_line`] | `wire::chat::ServerLine` | the same, and no control character leaves |
//! | [`chat`] | `services::chat::Chat`, several members, time moved by the input | tables bounded, counters consistent, lines only to members or the asker, rate limits, strangers' bytes |
//! | [`sntp`] | `sntp::SntpClient`, arbitrary replies, clock jumps | no reply accepted unless it answers the pending request; requests 15 s apart |
//! | [`stack`] | a whole `Stack`, every service, IPv4 and IPv6, frame sequences | every frame sent parses with its checksums, from our addresses, to no broadcast or loop-guard port, and no amplification |
//!
//! Inputs are read with [`Input`]: a byte stream that yields zeros once
//! exhausted, so every input, however short, is a valid program.

pub mod chat;
pub mod frames;
pub mod outbox;
pub mod seeds;
pub mod sntp;
pub mod stack;
pub mod wire;

pub use self::chat::chat;
pub use self::sntp::sntp;
pub use self::stack::stack;
pub use self::wire::{wire_chat_command, wire_chat_server_line, wire_discovery, wire_ntp};

/// The body of a fuzz target.
pub type Target = fn(&[u8]);

/// Every target, by the name of its directory in `fuzz/corpus/` and of its
/// binary in `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Target); 7] = [
    ("wire_ntp", wire_ntp),
    ("wire_discovery", wire_discovery),
    ("wire_chat_command", wire_chat_command),
    ("wire_chat_server_line", wire_chat_server_line),
    ("chat", chat),
    ("sntp", sntp),
    ("stack", stack),
];

/// The fuzzer's bytes, read front to back; zeros once they run out.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, or 0.
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    /// The next two bytes, big-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// The next four bytes, big-endian.
    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// The next eight bytes, big-endian.
    pub fn u64(&mut self) -> u64 {
        (u64::from(self.u32()) << 32) | u64::from(self.u32())
    }

    /// One of `choices`, picked by the next byte.
    pub fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        let at = usize::from(self.u8()) % choices.len();
        choices[at]
    }

    /// Up to `len` next bytes (fewer if the input ends first).
    pub fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(len.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// A length byte, then that many bytes.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let len = usize::from(self.u8());
        self.bytes(len)
    }

    /// A two-byte length (at most `max`), then that many bytes.
    pub fn long_bytes(&mut self, max: usize) -> &'a [u8] {
        let len = usize::from(self.u16()) % (max + 1);
        self.bytes(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_reads_zeros_once_it_runs_out() {
        let mut input = Input::new(&[1, 2, 3]);
        assert_eq!(input.u16(), 0x0102);
        assert_eq!(input.bytes(5), &[3]);
        assert!(input.is_empty());
        assert_eq!(input.u32(), 0);
        assert_eq!(input.pick(&['a', 'b']), 'a');
    }
}
