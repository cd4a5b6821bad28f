//! `udpkit serve`: the core's services on a TAP, with udpkit's own stack,
//! or on the kernel's UDP sockets.
//!
//! The two backends share the command line ([`args`]), the building of
//! services ([`services`]) and the counters printed on exit ([`counters`]);
//! what only the TAP has (faults, capture, SNTP as the wall clock) sits
//! between the TAP and the stack as layers of the same [`link::Link`].

mod args;
mod capture;
mod counters;
mod discovery;
mod faults;
mod kernel;
mod link;
mod services;
mod sntp;
mod tap;

use anyhow::{bail, Result};

use crate::serve::args::Backend;
pub use crate::serve::args::ServeArgs;

/// Serves what `args` ask for until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    let backend = args.backend;
    let bind = args.bind;
    let options = args::options(args)?;
    if backend == Backend::Kernel && (!options.faults.is_none() || options.pcap.is_some()) {
        bail!(
            "--drop, --corrupt, --delay and --pcap work on the TAP's frames: they need \
             --backend tap"
        );
    }
    if backend == Backend::Kernel && options.dhcp.is_some() {
        bail!("--dhcp runs on udpkit's own stack (--backend tap); the kernel backend uses the host's addresses");
    }
    if backend == Backend::Kernel && options.sntp.is_some() {
        bail!(
            "--sntp-server runs on udpkit's own stack (--backend tap); \
             the kernel backend serves the host's clock"
        );
    }
    match backend {
        Backend::Tap => tap::run(options),
        Backend::Kernel => kernel::run(kernel::KernelOptions {
            bind,
            services: options.services,
            chat_limits: options.chat_limits,
            discovery: options.discovery,
        }),
    }
}
