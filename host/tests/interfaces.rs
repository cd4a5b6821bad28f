//! `udpkit serve` finds its TAP, its state and its MTU by asking the kernel
//! about its own network namespace, not /sys/class/net.
//!
//! The tests run in namespaces made by `unshare --net` and entered with
//! `nsenter --net` (see `support::Netns::unshared`): there /sys still shows
//! the machine's interfaces, so a lookup in /sys finds neither a TAP made in
//! the namespace nor the absence of a machine's interface. Everything they
//! create (TAPs, addresses) is inside those namespaces; every client runs
//! there too.

mod support;

use std::path::Path;

use support::{log_has_line_with, Netns, Out, Server, HOST_CIDR, SERVER_IP, TOOLS};

/// Makes the TAP `name` in `ns` as an administrator would beforehand
/// (`ip tuntap add`), with MTU `mtu`, the Linux side's address and link up.
fn make_tap(ns: &Netns, name: &str, mtu: u32) {
    ns.ip(&["tuntap", "add", "dev", name, "mode", "tap"]).ok();
    ns.ip(&["link", "set", name, "mtu", &mtu.to_string()]).ok();
    ns.ip(&["addr", "add", HOST_CIDR, "dev", name]).ok();
    ns.ip(&["link", "set", name, "up"]).ok();
}

/// Asserts the machine's own /sys/class/net (which this test process sees)
/// has no interface `name`: /sys alone would say there is no such TAP.
#[track_caller]
fn assert_unknown_to_sysfs(name: &str) {
    assert!(
        !Path::new("/sys/class/net").join(name).exists(),
        "the machine has an interface called {name}; this test needs the name for its own TAP"
    );
}

/// `nc -u` in `ns`: sends `input` to the server's `port`, returns what came
/// back (one datagram, waiting at most 2 s).
fn nc(ns: &Netns, port: u16, input: &[u8]) -> Out {
    ns.run(&[
        "timeout",
        "-k",
        "2",
        "5",
        "nc",
        "-u",
        "-W1",
        "-w2",
        SERVER_IP,
        &port.to_string(),
    ])
    .stdin(input)
    .out()
}

#[track_caller]
fn nc_expect_echo(ns: &Netns, input: &[u8]) {
    let out = nc(ns, 7, input);
    assert!(
        out.stdout == input,
        "sent {} bytes to echo, got {} back; {}",
        input.len(),
        out.stdout.len(),
        out.describe()
    );
}

/// The value of column `column` in the row of service `service` of the
/// counters table `serve` prints on exit.
#[track_caller]
fn counter(log: &str, service: &str, column: &str) -> u64 {
    let mut lines = log.lines().skip_while(|l| !l.starts_with("service "));
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_else(|| panic!("no counters table; log:\n{log}"))
        .split_whitespace()
        .collect();
    let at = header
        .iter()
        .position(|c| *c == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    let row: Vec<&str> = lines
        .find(|l| l.split_whitespace().next() == Some(service))
        .unwrap_or_else(|| panic!("no row for {service}; log:\n{log}"))
        .split_whitespace()
        .collect();
    row.get(at)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number in column {column} of {row:?}"))
}

#[test]
fn serve_attaches_to_a_tap_made_in_an_unshare_namespace_and_reads_its_mtu() {
    let Some(ns) = Netns::unshared("serve_attaches_to_a_tap_in_an_unshare_namespace", TOOLS) else {
        return;
    };
    const TAP: &str = "udpkpre0";
    assert_unknown_to_sysfs(TAP);
    make_tap(&ns, TAP, 1400);

    // No --create: the TAP must be found in the namespace.
    let mut server = Server::start(&ns, &["--tap", TAP]);
    let log = server.log();
    assert!(
        log_has_line_with(&log, &[TAP, "MTU", "1400"]),
        "no line with the TAP's MTU 1400; log:\n{log}"
    );
    assert!(
        !log.contains("created TAP") && !log.contains("is down"),
        "the TAP was there and up; log:\n{log}"
    );
    nc_expect_echo(&ns, b"in the namespace\n");
    // The largest datagram a 1400-byte MTU carries whole, and its echo.
    let largest: Vec<u8> = (0..1400 - 28).map(|i| b'a' + (i % 26) as u8).collect();
    nc_expect_echo(&ns, &largest);

    let status = server.stop(libc::SIGTERM);
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM; log:\n{log}");
    // Not udpkit's: it stays, as it was.
    let addr = ns.ip(&["addr", "show", TAP]).ok();
    assert!(
        addr.stdout_str().contains(&format!("inet {HOST_CIDR} "))
            && addr.stdout_str().contains(" mtu 1400 "),
        "{}",
        addr.describe()
    );
}

/// A jumbo MTU: udpkit reads frames as large as the TAP's MTU, so a
/// 4000-byte datagram reaches the stack whole and is counted as too large
/// to answer (beyond MAX_PAYLOAD), instead of being cut to 1514 bytes and
/// lost as a broken frame.
#[test]
fn a_jumbo_mtu_sizes_the_frames_udpkit_reads() {
    let Some(ns) = Netns::unshared("a_jumbo_mtu_sizes_the_frames_udpkit_reads", TOOLS) else {
        return;
    };
    const TAP: &str = "udpkjumbo0";
    assert_unknown_to_sysfs(TAP);
    make_tap(&ns, TAP, 9000);
    let mut server = Server::start(&ns, &["--tap", TAP]);
    let log = server.log();
    assert!(
        log_has_line_with(&log, &[TAP, "MTU", "9000"]),
        "no line with the TAP's MTU 9000; log:\n{log}"
    );

    let big = vec![b'j'; 4000];
    let out = nc(&ns, 7, &big);
    assert!(
        out.stdout.is_empty(),
        "a 4000-byte datagram is beyond what udpkit answers; {}",
        out.describe()
    );
    nc_expect_echo(&ns, b"after the jumbo one\n");

    let status = server.stop(libc::SIGTERM);
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM; log:\n{log}");
    assert_eq!(counter(&log, "echo", "oversized"), 1, "log:\n{log}");
}

/// `--create` with a TAP that is there already: udpkit uses it as it is
/// (its address, its MTU), says so, and leaves it in place on exit.
#[test]
fn create_uses_a_tap_that_exists_as_it_is() {
    let Some(ns) = Netns::unshared("create_uses_a_tap_that_exists_as_it_is", TOOLS) else {
        return;
    };
    const TAP: &str = "udpkboth0";
    assert_unknown_to_sysfs(TAP);
    make_tap(&ns, TAP, 1500);
    let mut server = Server::start(&ns, &["--create", "--tap", TAP]);
    let log = server.log();
    assert!(
        !log.contains("created TAP"),
        "the TAP existed: nothing was created; log:\n{log}"
    );
    assert!(
        log_has_line_with(&log, &["TAP", TAP, "exists", "as", "it", "is"]),
        "no line saying the existing TAP is used as it is; log:\n{log}"
    );
    nc_expect_echo(&ns, b"reused\n");

    let status = server.stop(libc::SIGTERM);
    let log = server.log();
    assert_eq!(status.code(), Some(0), "exit after SIGTERM; log:\n{log}");
    assert!(!log.contains(&format!("removing TAP {TAP}")), "log:\n{log}");
    let addr = ns.ip(&["addr", "show", TAP]).ok();
    let text = addr.stdout_str();
    assert_eq!(
        text.matches(" inet ").count(),
        1,
        "the existing TAP keeps its one IPv4 address: {}",
        addr.describe()
    );
    assert!(
        text.contains(&format!("inet {HOST_CIDR} ")),
        "{}",
        addr.describe()
    );
}

/// What `serve` says about an interface it cannot use, in a namespace whose
/// /sys is the machine's.
#[test]
fn serve_refuses_what_is_not_a_tap_of_its_namespace() {
    let Some(ns) = Netns::unshared("serve_refuses_what_is_not_a_tap_of_its_namespace", TOOLS)
    else {
        return;
    };
    let serve = |args: &[&str]| -> Out {
        let mut argv = vec![support::BIN, "serve"];
        argv.extend_from_slice(args);
        ns.timed(10, &argv).out()
    };

    // A name the namespace does not have.
    let out = serve(&["--tap", "udpknone0"]);
    assert!(
        !out.success()
            && out
                .stderr_str()
                .contains("there is no network interface 'udpknone0'"),
        "{}",
        out.describe()
    );

    // The namespace's own loopback exists and is no TAP.
    let out = serve(&["--tap", "lo"]);
    assert!(
        !out.success() && out.stderr_str().contains("exists and is not a TAP"),
        "{}",
        out.describe()
    );
    let out = serve(&["--create", "--tap", "lo"]);
    assert!(
        !out.success() && out.stderr_str().contains("exists and is not a TAP"),
        "{}",
        out.describe()
    );

    // A name the kernel would refuse.
    let out = serve(&["--tap", "much-too-long-name0"]);
    assert!(
        !out.success()
            && out
                .stderr_str()
                .contains("cannot be a network interface's name"),
        "{}",
        out.describe()
    );

    // An interface of the machine, which /sys (the machine's here) lists
    // but the namespace does not have: looked up in /sys, udpkit would
    // take it for there.
    let machine_interface = std::fs::read_dir("/sys/class/net")
        .expect("read /sys/class/net")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|name| name != "lo" && !ns.ip(&["link", "show", name]).success());
    match machine_interface {
        Some(name) => {
            let out = serve(&["--tap", &name]);
            assert!(
                !out.success()
                    && out
                        .stderr_str()
                        .contains(&format!("there is no network interface '{name}'")),
                "{}",
                out.describe()
            );
        }
        None => eprintln!("the machine has no interface but lo: nothing more to check"),
    }
    assert!(
        ns.ip(&["link", "show"])
            .stdout_str()
            .lines()
            .filter(|l| !l.starts_with(' '))
            .count()
            == 1,
        "serve left interfaces behind in the namespace: {}",
        ns.ip(&["link", "show"]).describe()
    );
}
