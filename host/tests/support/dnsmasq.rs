//! dnsmasq as the DHCP server of a test: on `tap0` of the test's
//! namespace only (`--interface=tap0 --bind-interfaces`), no DNS
//! (`--port=0`), its lease file and log in the test's scratch directory,
//! under `timeout`, stopped on drop.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{scratch, wait_bounded, Netns};

/// The tool and its Debian package (the program alone, without the
/// system service of the `dnsmasq` package).
pub const TOOL: (&str, &str) = ("dnsmasq", "dnsmasq-base");

/// The Linux side of the TAP: dnsmasq's address, and the router it names.
pub const HOST_IP: &str = "192.168.69.100";
pub const HOST_CIDR: &str = "192.168.69.100/24";

/// dnsmasq in `ns`, serving `first`..`last` on tap0 with 2-minute leases
/// (its shortest), itself as the router; no DNS. Killed on drop (and with
/// the namespace in any case).
pub struct Dnsmasq {
    child: Child,
    log: PathBuf,
}

impl Dnsmasq {
    pub fn start(ns: &Netns, first: &str, last: &str) -> Dnsmasq {
        let log = scratch(ns.dir(), "dnsmasq.log");
        let leases = scratch(ns.dir(), "dnsmasq.leases");
        let pid = scratch(ns.dir(), "dnsmasq.pid");
        let argv = [
            "timeout".to_string(),
            "-k".into(),
            "2".into(),
            "200".into(),
            "dnsmasq".into(),
            "--no-daemon".into(),
            "--conf-file=/dev/null".into(),
            // Root stays root inside the namespace: the lease file in the
            // scratch directory stays writable.
            "--user=root".into(),
            "--port=0".into(),
            "--interface=tap0".into(),
            "--bind-interfaces".into(),
            format!("--dhcp-range={first},{last},255.255.255.0,2m"),
            // A request for an address outside the range gets a NAK.
            "--dhcp-authoritative".into(),
            format!("--dhcp-leasefile={}", leases.display()),
            format!("--pid-file={}", pid.display()),
            "--log-dhcp".into(),
        ];
        let child = ns
            .command(&argv)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("dnsmasq log"))
            .spawn()
            .expect("start dnsmasq");
        let mut dnsmasq = Dnsmasq { child, log };
        // Up when it says so.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dnsmasq.log().contains("DHCP, IP range") {
            if let Ok(Some(status)) = dnsmasq.child.try_wait() {
                panic!("dnsmasq exited ({status}):\n{}", dnsmasq.log());
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq never started:\n{}",
                dnsmasq.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
        dnsmasq
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to `timeout`, which passes it on to dnsmasq and exits when
    /// dnsmasq has (a SIGKILL would leave dnsmasq running, still serving
    /// its old range); true when both are gone within 10 s.
    fn terminate(&mut self) -> bool {
        if self.child.try_wait().ok().flatten().is_some() {
            return true;
        }
        // SAFETY: plain kill(2) to our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        wait_bounded(&mut self.child, Duration::from_secs(10)).is_some()
    }

    pub fn stop(mut self) {
        assert!(self.terminate(), "dnsmasq did not stop");
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        if !self.terminate() {
            // The namespace's guard kills whatever is left in it.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("--- dnsmasq ---\n{}", self.log());
        }
    }
}
