//! The clients: one request, a bounded wait, a few retries.
//!
//! The tutorials' clients block forever on `recvfrom` when a datagram is
//! lost; these wait `--timeout` per attempt, retry `--retries` times, and
//! then say so. That loop is [`ask`], written once: the simple clients,
//! `udpkit ntp` and the chat's join all go through it, and differ only in
//! what they send and which reply they take.

pub mod chat;
pub mod discover;
pub mod ntp;
pub mod simple;

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Args;

use crate::text::parse_duration;

/// How long to wait and how often to retry.
#[derive(Args, Clone, Copy)]
pub struct Patience {
    /// How long to wait for each reply: seconds (2, 0.5) or with a unit
    /// (500ms, 1m).
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,

    /// How many times to resend when no reply comes.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub retries: u32,
}

impl Patience {
    /// The server `host`:`port`, asked with this patience.
    pub fn target(self, host: String, port: u16) -> Target {
        Target {
            host,
            port,
            timeout: self.timeout,
            retries: self.retries,
        }
    }
}

/// Where and how patiently to ask.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub timeout: Duration,
    pub retries: u32,
}

impl Target {
    fn address(&self) -> Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve '{}'", self.host))?
            .next()
            .with_context(|| format!("'{}' has no address", self.host))
    }

    /// A UDP socket connected to the target. Connected, it only sees
    /// datagrams from the server, and learns from ICMP when nothing listens
    /// there; `listener` names what should have ("NTP server"), for that
    /// error.
    pub fn connect(&self, listener: &'static str) -> Result<Server> {
        let address = self.address()?;
        let local: SocketAddr = if address.is_ipv4() {
            "0.0.0.0:0".parse()?
        } else {
            "[::]:0".parse()?
        };
        let socket = UdpSocket::bind(local).context("cannot open a UDP socket")?;
        socket
            .connect(address)
            .with_context(|| format!("cannot reach {address}"))?;
        Ok(Server {
            socket,
            address,
            listener,
        })
    }
}

/// A UDP socket connected to one server.
pub struct Server {
    pub socket: UdpSocket,
    pub address: SocketAddr,
    /// What should listen there, for the error when nothing does.
    listener: &'static str,
}

impl Server {
    /// Sends `datagram`; an ICMP port unreachable from an earlier one is
    /// the error that nothing listens there.
    pub fn send(&self, datagram: &[u8]) -> Result<()> {
        match self.socket.send(datagram) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(self.refused()),
            Err(e) => Err(e).with_context(|| format!("sending to {}", self.address)),
        }
    }

    /// Waits up to `within` (not zero) for a datagram into `buffer`: its
    /// length, or `None` when none came.
    pub fn receive(&self, buffer: &mut [u8], within: Duration) -> Result<Option<usize>> {
        self.socket.set_read_timeout(Some(within))?;
        match self.socket.recv(buffer) {
            Ok(len) => Ok(Some(len)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Err(self.refused()),
            Err(e) => Err(e).with_context(|| format!("receiving from {}", self.address)),
        }
    }

    /// The error for an ICMP port unreachable from the server.
    pub fn refused(&self) -> anyhow::Error {
        anyhow::anyhow!(
            "{} refused the datagram: no {} listens on that port",
            self.address,
            self.listener
        )
    }
}

/// What listening for a reply brought.
pub enum Heard<T> {
    /// The reply asked for: done.
    Answer(T),
    /// Something else (a late reply, another line): listen on until the
    /// attempt's time is up.
    Other,
    /// Nothing within the time given.
    Nothing,
}

/// The clients' one way of asking: `send` (attempt, attempts), then
/// `listen` until it brings an answer or `timeout` has passed since the
/// send; then again, `retries` more times. `Ok(None)`: no attempt brought
/// an answer. Both get `state`, so that each may change it.
pub fn ask<S, T>(
    timeout: Duration,
    retries: u32,
    state: &mut S,
    mut send: impl FnMut(&mut S, u32, u32) -> Result<()>,
    mut listen: impl FnMut(&mut S, Duration) -> Result<Heard<T>>,
) -> Result<Option<T>> {
    let attempts = retries.saturating_add(1);
    for attempt in 1..=attempts {
        send(state, attempt, attempts)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match listen(state, left)? {
                Heard::Answer(answer) => return Ok(Some(answer)),
                Heard::Other => {}
                Heard::Nothing => break,
            }
        }
    }
    Ok(None)
}

/// Sends `request` and returns the first reply for which `accept` is true,
/// resending after each `timeout`, `retries` times.
pub fn exchange(
    target: &Target,
    request: &[u8],
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>> {
    let server = target.connect("service")?;
    let address = server.address;
    let mut buffer = vec![0u8; 65_536];
    let mut unexpected = 0;
    let reply = ask(
        target.timeout,
        target.retries,
        &mut (&mut buffer, &mut unexpected),
        |_, attempt, attempts| {
            if attempt > 1 {
                log::info!("no reply from {address} yet; retrying ({attempt}/{attempts})");
            }
            server.send(request)
        },
        |(buffer, unexpected), left| {
            Ok(match server.receive(buffer, left)? {
                Some(len) if accept(&buffer[..len]) => Heard::Answer(buffer[..len].to_vec()),
                Some(_) => {
                    **unexpected += 1;
                    Heard::Other
                }
                None => Heard::Nothing,
            })
        },
    )?;
    if let Some(reply) = reply {
        return Ok(reply);
    }
    let attempts = target.retries.saturating_add(1);
    let mut message = format!(
        "no reply from {address} after {attempts} attempt(s) of {} each",
        humantime::format_duration(target.timeout)
    );
    if unexpected > 0 {
        message.push_str(&format!(
            " ({unexpected} reply(ies) did not match the request)"
        ));
    }
    anyhow::bail!(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback that answers the second request only: the
    /// first is "lost", the answer comes on the retry, and a reply that
    /// is not accepted is listened past.
    #[test]
    fn exchange_retries_and_skips_replies_it_does_not_accept() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 64];
            let (_, _) = server.recv_from(&mut buffer).unwrap();
            let (len, from) = server.recv_from(&mut buffer).unwrap();
            server.send_to(b"not this", from).unwrap();
            server.send_to(&buffer[..len], from).unwrap();
        });
        let target = Target {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_millis(300),
            retries: 2,
        };
        let reply = exchange(&target, b"ping", |reply| reply == b"ping").unwrap();
        assert_eq!(reply, b"ping");
        thread.join().unwrap();
    }

    #[test]
    fn no_answer_after_every_attempt_says_how_many() {
        // A bound socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = Target {
            host: "127.0.0.1".into(),
            port: silent.local_addr().unwrap().port(),
            timeout: Duration::from_millis(50),
            retries: 1,
        };
        let error = exchange(&target, b"x", |_| true).unwrap_err().to_string();
        assert!(error.contains("after 2 attempt(s) of 50ms each"), "{error}");
    }

    #[test]
    fn a_port_nobody_listens_on_is_refused() {
        // Bound, then closed: nothing listens on the port any more.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = Target {
            host: "127.0.0.1".into(),
            port,
            timeout: Duration::from_millis(200),
            retries: 1,
        };
        let error = exchange(&target, b"x", |_| true).unwrap_err().to_string();
        assert!(error.contains("no service listens on that port"), "{error}");
    }
}
