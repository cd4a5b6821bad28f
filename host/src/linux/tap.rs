//! A TAP interface as smoltcp's network device: the Linux side of the
//! link that udpkit's own stack is the other end of.
//!
//! Opening one also sets it up (when asked to create it) and explains each
//! way attaching can fail, since that is where most first runs stop.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use tun_tap::{Iface, Mode};
use udpkit::smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use udpkit::smoltcp::time::Instant;

use crate::linux::netif;

/// The largest frame a TAP with the usual 1500-byte MTU carries.
const FRAME_SIZE: usize = 1514;

/// A TAP interface as a smoltcp [`Device`]. Frames are read into one buffer
/// and written from another; each read or write is one system call.
pub struct TapDevice {
    iface: Iface,
    rx: Vec<u8>,
    tx: Vec<u8>,
    mtu: usize,
    /// Whether we created the interface (and closing it removes it).
    created: bool,
    counts: TapCounts,
}

/// Frames through the TAP, as Linux counts them on its side of it
/// (`ip -s link`: what Linux sent, udpkit read; and the other way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TapCounts {
    /// Frames read from the TAP.
    pub read: u64,
    /// Frames written to the TAP.
    pub written: u64,
    /// Frames whose write failed (not in `written`).
    pub write_errors: u64,
}

/// How to get a TAP.
pub struct TapSetup<'a> {
    pub name: &'a str,
    /// Create the interface if it does not exist.
    pub create: bool,
    /// The address the Linux side gets when we create the interface.
    pub host_address: &'a str,
    /// Its IPv6 address, if any.
    pub host_address_v6: Option<&'a str>,
}

impl TapDevice {
    /// Attaches to the TAP `setup.name`, creating and configuring it first if
    /// it is missing and `setup.create` allows.
    pub fn open(setup: &TapSetup<'_>) -> Result<TapDevice> {
        let name = setup.name;
        // The kernel knows the interfaces of our namespace; /sys/class/net
        // may show another's (see crate::linux::netif).
        let exists = netif::index(name)
            .with_context(|| format!("cannot look up network interface '{name}'"))?
            .is_some();
        if !exists && !setup.create {
            bail!(
                "there is no network interface '{name}'.\n\
                 Let udpkit create it (as root):  sudo udpkit serve --create\n\
                 or create a persistent one for your user first:\n  \
                 sudo ip tuntap add name {name} mode tap user $USER\n  \
                 sudo ip addr add {host} dev {name}\n  \
                 sudo ip link set {name} up",
                host = setup.host_address
            );
        }
        let iface =
            Iface::without_packet_info(name, Mode::Tap).map_err(|e| attach_error(name, e))?;
        iface
            .set_non_blocking()
            .with_context(|| format!("cannot make {name} non-blocking"))?;
        let created = !exists;
        if created {
            log::info!("created TAP {name}; it goes away when udpkit exits");
            configure_host_side(name, setup.host_address, setup.host_address_v6)?;
        } else {
            if setup.create {
                log::info!(
                    "TAP {name} exists: udpkit uses it as it is (--create configures only \
                     a TAP it creates) and leaves it in place on exit"
                );
            }
            if !netif::is_up(name).unwrap_or(true) {
                log::warn!(
                    "{name} is down: nothing will arrive until `sudo ip link set {name} up`"
                );
            }
        }
        let mtu = match netif::mtu(name) {
            Ok(mtu) => mtu,
            Err(e) => {
                log::warn!("cannot read the MTU of {name} ({e}); taking 1500");
                1500
            }
        };
        log::info!("{name}: MTU {mtu}");
        Ok(TapDevice {
            iface,
            rx: vec![0; FRAME_SIZE.max(mtu + 14)],
            tx: vec![0; FRAME_SIZE.max(mtu + 14)],
            mtu,
            created,
            counts: TapCounts::default(),
        })
    }

    pub fn name(&self) -> &str {
        self.iface.name()
    }

    pub fn created(&self) -> bool {
        self.created
    }

    /// The frames through the TAP so far.
    pub fn counts(&self) -> TapCounts {
        self.counts
    }
}

impl AsRawFd for TapDevice {
    fn as_raw_fd(&self) -> RawFd {
        self.iface.as_raw_fd()
    }
}

fn attach_error(name: &str, error: io::Error) -> anyhow::Error {
    match error.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => anyhow::anyhow!(
            "no permission to attach to TAP '{name}' ({error}).\n\
             Attaching needs CAP_NET_ADMIN: run it with sudo (sudo udpkit serve ...),\n\
             or create the TAP for your user once:  sudo ip tuntap add name {name} mode tap user $USER"
        ),
        Some(libc::EBUSY) => anyhow::anyhow!(
            "TAP '{name}' is busy: another process is attached to it (only one can be)"
        ),
        Some(libc::ENOENT) | Some(libc::ENODEV) => anyhow::anyhow!(
            "cannot open /dev/net/tun ({error}): load the tun module (sudo modprobe tun)"
        ),
        // What TUNSETIFF says to a name held by another kind of interface.
        Some(libc::EINVAL) => anyhow::anyhow!(
            "cannot attach to '{name}' ({error}): an interface of that name exists and is \
             not a TAP (a TUN, a veth, a bridge, ...); give --tap the name of a TAP, or a \
             free name with --create"
        ),
        _ => anyhow::anyhow!("cannot attach to TAP '{name}': {error}"),
    }
}

/// Gives the Linux side of a TAP we created its address and brings it up.
fn configure_host_side(name: &str, host_address: &str, host_v6: Option<&str>) -> Result<()> {
    ip(&["addr", "add", host_address, "dev", name])?;
    // `nodad`: the address is usable at once instead of after a second of
    // duplicate detection on a link that has only udpkit on it.
    let v6 = match host_v6 {
        Some(v6) => match ip(&["-6", "addr", "add", v6, "dev", name, "nodad"]) {
            Ok(()) => format!(" and {v6}"),
            Err(e) => {
                log::warn!("no IPv6 on the Linux side ({e:#}); is IPv6 disabled here?");
                String::new()
            }
        },
        None => String::new(),
    };
    ip(&["link", "set", name, "up"])?;
    log::info!("{name}: Linux side is {host_address}{v6}, link up");
    Ok(())
}

/// Runs `ip ARGS`, with its complaint as the error.
fn ip(args: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (package iproute2) to configure the TAP")?;
    if !output.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Device for TapDevice {
    type RxToken<'a> = TapRxToken<'a>;
    type TxToken<'a> = TapTxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(TapRxToken<'_>, TapTxToken<'_>)> {
        match self.iface.recv(&mut self.rx) {
            Ok(len) => {
                self.counts.read += 1;
                Some((
                    TapRxToken(self.rx.get(..len)?),
                    TapTxToken {
                        iface: &self.iface,
                        buffer: &mut self.tx,
                        counts: &mut self.counts,
                    },
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => {
                log::warn!("reading {}: {e}", self.iface.name());
                None
            }
        }
    }

    fn transmit(&mut self, _: Instant) -> Option<TapTxToken<'_>> {
        Some(TapTxToken {
            iface: &self.iface,
            buffer: &mut self.tx,
            counts: &mut self.counts,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu + 14;
        caps
    }
}

pub struct TapRxToken<'a>(&'a [u8]);

impl phy::RxToken for TapRxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

pub struct TapTxToken<'a> {
    iface: &'a Iface,
    buffer: &'a mut Vec<u8>,
    counts: &'a mut TapCounts,
}

impl phy::TxToken for TapTxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        if self.buffer.len() < len {
            self.buffer.resize(len, 0);
        }
        let frame = &mut self.buffer[..len];
        let result = f(frame);
        match self.iface.send(frame) {
            Ok(_) => self.counts.written += 1,
            Err(e) => {
                self.counts.write_errors += 1;
                log::debug!("writing {}: {e}", self.iface.name());
            }
        }
        result
    }
}
