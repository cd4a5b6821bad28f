//! Clients for the services: one request, a bounded wait, a few retries.
//!
//! The tutorials' clients block forever on `recvfrom` when a datagram is
//! lost; these wait `timeout` per attempt, retry, and then say so.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

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

    /// A UDP socket connected to the target, and the target's address.
    /// Connected, it only sees datagrams from the server, and learns from
    /// ICMP when nothing listens there.
    pub fn connect(&self) -> Result<(UdpSocket, SocketAddr)> {
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
        Ok((socket, address))
    }
}

/// Sends `request` and returns the first reply for which `accept` is true,
/// resending after each `timeout`, `retries` times.
pub fn exchange(
    target: &Target,
    request: &[u8],
    accept: impl Fn(&[u8]) -> bool,
) -> Result<Vec<u8>> {
    let (socket, address) = target.connect()?;
    socket.set_read_timeout(Some(target.timeout))?;
    let attempts = target.retries.saturating_add(1);
    let mut buffer = vec![0u8; 65_536];
    let mut unexpected = 0;
    for attempt in 1..=attempts {
        if attempt > 1 {
            log::info!("no reply from {address} yet; retrying ({attempt}/{attempts})");
        }
        match socket.send(request) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused(address)?,
            Err(e) => return Err(e).with_context(|| format!("sending to {address}")),
        }
        let deadline = std::time::Instant::now() + target.timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            socket.set_read_timeout(Some(left))?;
            match socket.recv(&mut buffer) {
                Ok(len) => {
                    let reply = &buffer[..len];
                    if accept(reply) {
                        return Ok(reply.to_vec());
                    }
                    unexpected += 1;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => refused(address)?,
                Err(e) => return Err(e).with_context(|| format!("receiving from {address}")),
            }
        }
    }
    let mut message = format!(
        "no reply from {address} after {attempts} attempt(s) of {} each",
        humantime::format_duration(target.timeout)
    );
    if unexpected > 0 {
        message.push_str(&format!(
            " ({unexpected} reply(ies) did not match the request)"
        ));
    }
    bail!(message)
}

fn refused(address: SocketAddr) -> Result<()> {
    bail!("{address} refused the datagram: no service listens on that port")
}
