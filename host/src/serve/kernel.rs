//! `udpkit serve --backend kernel`: the same services on the kernel's own
//! UDP sockets.
//!
//! No TAP, no root (with ports above 1023), no smoltcp: the service code and
//! the loop guard are the core's, the sockets are Linux's. It is handy for
//! developing a service, and it is the baseline the benchmark compares the
//! TAP path against: same services, other stack.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::time::Duration;

use anyhow::{Context as _, Result};
use udpkit::catalog::ServiceInfo;
use udpkit::guard;
use udpkit::service::{Outbox, Request, SendError, Service};
use udpkit::smoltcp::time::Instant;
use udpkit::smoltcp::wire::{IpAddress, IpEndpoint};
use udpkit::{Discard, ServiceStats, MAX_PAYLOAD};

use crate::linux::clock::{host_clock_source, system_time};
use crate::linux::poll::PollSet;
use crate::linux::signals::SignalPipe;
use crate::serve::counters::print_counters;
use crate::serve::discovery;
use crate::serve::services::make_service;

/// One service on its own kernel socket.
struct Endpoint {
    service: Box<dyn Service>,
    port: u16,
    socket: UdpSocket,
    /// The address the socket is bound to, for `Request::to` (asking the
    /// kernel per datagram would cost a system call each).
    local: Option<IpAddress>,
    stats: ServiceStats,
}

pub struct KernelOptions {
    pub bind: IpAddr,
    pub services: Vec<(ServiceInfo, u16)>,
    pub chat_limits: udpkit::services::chat::ChatLimits,
    pub discovery: discovery::DiscoveryOptions,
}

pub fn run(options: KernelOptions) -> Result<()> {
    let mut endpoints = Vec::new();
    for &(kind, port) in &options.services {
        let address = SocketAddr::new(options.bind, port);
        let socket = UdpSocket::bind(address).map_err(|e| bind_error(address, e))?;
        socket.set_nonblocking(true)?;
        log::info!("{:<9} udp {address:<21}  {}", kind.name, kind.summary);
        let local = socket
            .local_addr()
            .ok()
            .and_then(to_endpoint)
            .map(|e| e.addr);
        endpoints.push(Endpoint {
            service: match kind.needs.directory {
                // The kernel's addresses; no MAC, and no announcements (a
                // broadcast needs SO_BROADCAST, and which link?).
                true => discovery::service(
                    &options.discovery,
                    None,
                    &discovery::local_addresses(options.bind),
                    &options.services,
                    (0, port),
                )?,
                false => make_service(kind, options.chat_limits)?,
            },
            port,
            socket,
            local,
            stats: ServiceStats::default(),
        });
    }
    let ports: Vec<u16> = endpoints.iter().map(|e| e.port).collect();
    let signals = SignalPipe::stop()?;
    let started = std::time::Instant::now();
    let now = || Instant::from_micros(started.elapsed().as_micros() as i64);
    log::info!(
        "ready on the kernel's UDP sockets at {}: {} service(s); Ctrl-C stops",
        options.bind,
        endpoints.len()
    );

    let mut request_buffer = vec![0u8; 65_536];
    let mut reply_buffer = vec![0u8; MAX_PAYLOAD];
    let fds: Vec<_> = endpoints
        .iter()
        .map(|e| e.socket.as_raw_fd())
        .chain([signals.fd()])
        .collect();
    let mut sleep = PollSet::new(&fds);
    loop {
        let mut timeout: Option<Duration> = None;
        for endpoint in &mut endpoints {
            let mut outbox =
                KernelOutbox::new(&endpoint.socket, &mut reply_buffer, &mut endpoint.stats);
            for _ in 0..64 {
                let now = now();
                match endpoint.service.poll_at() {
                    Some(at) if at <= now => {
                        endpoint.service.on_tick(now, system_time(), &mut outbox)
                    }
                    Some(at) => {
                        // Whole milliseconds, rounded up, as the TAP loop.
                        let due = Duration::from_millis((at - now).total_micros().div_ceil(1000));
                        timeout = Some(timeout.map_or(due, |t| t.min(due)));
                        break;
                    }
                    None => break,
                }
            }
            outbox.flush();
        }
        sleep.wait(timeout).context("poll on the service sockets")?;
        if sleep.readable(endpoints.len()) {
            break;
        }
        for (i, endpoint) in endpoints.iter_mut().enumerate() {
            if sleep.readable(i) {
                drain(
                    endpoint,
                    &ports,
                    &mut request_buffer,
                    &mut reply_buffer,
                    now(),
                );
            }
        }
    }
    log::info!("stopping");
    print_counters(
        endpoints
            .iter()
            .map(|e| (&*e.service as &dyn Service, e.port, &e.stats)),
    );
    Ok(())
}

/// Serves every datagram waiting on `endpoint`'s socket.
fn drain(
    endpoint: &mut Endpoint,
    ports: &[u16],
    request_buffer: &mut [u8],
    reply_buffer: &mut [u8],
    now: Instant,
) {
    let wall = system_time();
    loop {
        let (len, from) = match endpoint.socket.recv_from(request_buffer) {
            Ok(received) => received,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                // An ICMP error for an earlier reply; nothing to do about it.
                log::debug!("{}: {e}", endpoint.service.name());
                continue;
            }
        };
        endpoint.stats.received += 1;
        let Some(payload) = request_buffer.get(..len).filter(|p| p.len() <= MAX_PAYLOAD) else {
            endpoint.stats.oversized += 1;
            continue;
        };
        let Some(from_endpoint) = to_endpoint(from) else {
            endpoint.stats.refused[2] += 1;
            continue;
        };
        if let Err(refusal) = guard::check(from_endpoint, ports, &[]) {
            endpoint.stats.refused[refusal.index()] += 1;
            log::debug!(
                "{}: not answering {from}: {}",
                endpoint.service.name(),
                refusal.name()
            );
            continue;
        }
        let request = Request {
            from: from_endpoint,
            to: endpoint.local.unwrap_or(from_endpoint.addr),
            payload,
            now,
            wall,
            clock: host_clock_source(),
        };
        let mut outbox = KernelOutbox::new(&endpoint.socket, reply_buffer, &mut endpoint.stats);
        let verdict = endpoint.service.on_datagram(&request, &mut outbox);
        outbox.flush();
        if let Err(discard) = verdict {
            endpoint.stats.discarded[discard.index()] += 1;
            log::debug!(
                "{}: not answering {from}: {}",
                endpoint.service.name(),
                Discard::name(discard)
            );
        }
    }
}

fn to_endpoint(address: SocketAddr) -> Option<IpEndpoint> {
    match address {
        SocketAddr::V4(v4) => Some(IpEndpoint::new(IpAddress::Ipv4(*v4.ip()), v4.port())),
        // A socket bound to `::` sees IPv4 peers as mapped addresses.
        SocketAddr::V6(v6) => Some(match v6.ip().to_ipv4_mapped() {
            Some(ip) => IpEndpoint::new(IpAddress::Ipv4(ip), v6.port()),
            None => IpEndpoint::new(IpAddress::Ipv6(*v6.ip()), v6.port()),
        }),
    }
}

fn bind_error(address: SocketAddr, error: io::Error) -> anyhow::Error {
    match error.kind() {
        io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot bind {address}: ports below 1024 need root.\n\
             Move the services up with --port-offset 10000 (echo on 10007, ...), or run with sudo"
        ),
        io::ErrorKind::AddrInUse => {
            anyhow::anyhow!("cannot bind {address}: the port is in use (another server, or inetd?)")
        }
        _ => anyhow::anyhow!("cannot bind {address}: {error}"),
    }
}

/// An [`Outbox`] over a kernel socket. A reserved datagram is filled in
/// place and sent on the next `reserve` or on `flush`.
struct KernelOutbox<'s> {
    socket: &'s UdpSocket,
    buffer: &'s mut [u8],
    pending: Option<(SocketAddr, usize)>,
    stats: &'s mut ServiceStats,
}

impl<'s> KernelOutbox<'s> {
    fn new(socket: &'s UdpSocket, buffer: &'s mut [u8], stats: &'s mut ServiceStats) -> Self {
        KernelOutbox {
            socket,
            buffer,
            pending: None,
            stats,
        }
    }

    fn flush(&mut self) {
        let Some((to, len)) = self.pending.take() else {
            return;
        };
        match self.socket.send_to(&self.buffer[..len], to) {
            Ok(_) => self.stats.sent += 1,
            Err(e) => {
                self.stats.send_failed += 1;
                log::debug!("sending {len} bytes to {to}: {e}");
            }
        }
    }
}

impl Outbox for KernelOutbox<'_> {
    fn max_payload(&self) -> usize {
        self.buffer.len()
    }

    fn reserve(&mut self, to: IpEndpoint, len: usize) -> Result<&mut [u8], SendError> {
        self.flush();
        if len > self.buffer.len() {
            self.stats.send_failed += 1;
            return Err(SendError::TooLarge);
        }
        let address = match to.addr {
            IpAddress::Ipv4(ip) => SocketAddr::new(IpAddr::V4(ip), to.port),
            IpAddress::Ipv6(ip) => SocketAddr::new(IpAddr::V6(ip), to.port),
        };
        if to.port == 0 || address.ip().is_unspecified() {
            self.stats.send_failed += 1;
            return Err(SendError::Unaddressable);
        }
        self.pending = Some((address, len));
        Ok(&mut self.buffer[..len])
    }
}
