//! Signals as bytes on a socket: the one way udpkit learns of them.
//!
//! A signal handler may do next to nothing, so signal-hook's handler only
//! writes a byte; the serve loops poll the other end beside their sockets
//! and TAP, and the chat client reads it on a thread of its own. Either
//! way the signal is handled in ordinary code, after the loop wakes.

use std::io::Read as _;
use std::os::fd::{AsRawFd as _, RawFd};
use std::os::unix::net::UnixStream;

use anyhow::{Context as _, Result};

pub use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use crate::linux::poll::PollSet;

/// Signals delivered as bytes on a socket a loop can poll.
pub struct SignalPipe {
    read: UnixStream,
}

impl SignalPipe {
    /// SIGINT and SIGTERM: stop.
    pub fn stop() -> Result<SignalPipe> {
        SignalPipe::on(&[SIGINT, SIGTERM])
    }

    /// A pipe for `signals`, whose handlers it installs (for the whole
    /// process: the default action, ending it, no longer happens).
    pub fn on(signals: &[i32]) -> Result<SignalPipe> {
        let (read, write) = UnixStream::pair().context("creating the signal pipe")?;
        for &signal in signals {
            signal_hook::low_level::pipe::register(signal, write.try_clone()?)
                .context("installing the signal handler")?;
        }
        read.set_nonblocking(true)?;
        Ok(SignalPipe { read })
    }

    /// The end to poll: readable once a signal arrived.
    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// How many signals arrived since the last call.
    pub fn take(&self) -> usize {
        let mut count = 0;
        let mut bytes = [0u8; 64];
        loop {
            match (&self.read).read(&mut bytes) {
                Ok(0) | Err(_) => return count,
                Ok(n) => count += n,
            }
        }
    }

    /// Sleeps until a signal arrives; how many did.
    pub fn wait(&self) -> usize {
        let mut set = PollSet::new(&[self.fd()]);
        loop {
            let count = self.take();
            if count > 0 {
                return count;
            }
            if set.wait(None).is_err() {
                // Not a descriptor poll takes: never spin.
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SIGUSR1, which nothing else in the unit tests uses, sent to this
    /// process: the pipe counts it, and `wait` returns at once.
    #[test]
    fn a_signal_is_a_byte_on_the_pipe() {
        let pipe = SignalPipe::on(&[SIGUSR1]).unwrap();
        assert_eq!(pipe.take(), 0);
        signal_hook::low_level::raise(SIGUSR1).unwrap();
        assert_eq!(pipe.wait(), 1);
        assert_eq!(pipe.take(), 0);
    }
}
