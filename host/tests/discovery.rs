//! End to end: broadcast discovery with the real binary. Two `udpkit serve`
//! instances on two TAPs enslaved to one Linux bridge, found by
//! `udpkit discover`, by Python and socat broadcasting `DISCOVER` by hand,
//! and by nc asking one of them; their announcements at start heard by a
//! listener; the kernel backend's directory.
//!
//! Network safety: everything lives in a network namespace each test
//! creates (see `support`): the bridge, the TAPs, their addresses and every
//! broadcast. Every command runs through `ip netns exec` under `timeout`,
//! every wait is bounded, and the namespace guard kills every process in it
//! and deletes it when the test ends. Nothing is configured in the
//! machine's own namespace. Root is needed; without it the tests fail and
//! say why, unless `UDPKIT_SKIP_E2E=1`, which skips them.

mod support;

use std::fs::{self, File};
use std::net::IpAddr;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Netns, Out, Server};

/// The Linux side of the bridge.
const BRIDGE_CIDR: &str = "192.168.69.100/24";
const SUBNET_BROADCAST: &str = "192.168.69.255";
const DISCOVERY_PORT: u16 = 5550;

/// The two devices: name, TAP, address, MAC.
const DEVICES: [(&str, &str, &str, &str); 2] = [
    ("alpha", "tap0", "192.168.69.1", "02:00:00:00:00:01"),
    ("beta", "tap1", "192.168.69.2", "02:00:00:00:00:02"),
];

/// The services `udpkit serve` runs by default, as `name=port`.
const DEFAULT_SERVICES: [&str; 4] = ["echo=7", "chat=5555", "upper=12000", "discovery=5550"];

/// Bridge `br0` with the Linux side's address, and TAPs `tap0` and `tap1`
/// in it, all up, inside `ns`.
fn bridge(ns: &Netns) {
    ns.ip(&["link", "add", "br0", "type", "bridge"]).ok();
    ns.ip(&["addr", "add", BRIDGE_CIDR, "brd", "+", "dev", "br0"])
        .ok();
    ns.ip(&["link", "set", "br0", "up"]).ok();
    for (_, tap, _, _) in DEVICES {
        ns.ip(&["tuntap", "add", "dev", tap, "mode", "tap"]).ok();
        ns.ip(&["link", "set", tap, "master", "br0"]).ok();
        ns.ip(&["link", "set", tap, "up"]).ok();
    }
}

/// `udpkit serve` for device `i` of [`DEVICES`], with `extra` options.
fn serve<'a>(ns: &'a Netns, i: usize, extra: &[&str]) -> Server<'a> {
    let (name, tap, ip, mac) = DEVICES[i];
    let cidr = format!("{ip}/24");
    let mut args = vec!["--tap", tap, "--ip", &cidr, "--mac", mac, "--name", name];
    args.extend_from_slice(extra);
    Server::start(ns, &args)
}

/// `udpkit discover <args> --json`, parsed: the devices, in its order.
#[track_caller]
fn discover_json(ns: &Netns, args: &[&str]) -> Vec<Value> {
    let mut argv = vec!["discover", "--json"];
    argv.extend_from_slice(args);
    let out = ns.udpkit(&argv).out().ok();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
    json.as_array()
        .unwrap_or_else(|| panic!("not a JSON array: {}", out.describe()))
        .clone()
}

/// Asserts `devices` are exactly alpha and beta, in that order, each with
/// its MAC, its IPv4 address and the default services; returns the
/// addresses each answered from.
#[track_caller]
fn assert_alpha_and_beta(devices: &[Value]) -> Vec<Vec<IpAddr>> {
    let names: Vec<&str> = devices.iter().filter_map(|d| d["name"].as_str()).collect();
    assert_eq!(names, ["alpha", "beta"], "{devices:#?}");
    let mut answered = Vec::new();
    for (device, (name, _, ip, mac)) in devices.iter().zip(DEVICES) {
        assert_eq!(device["mac"], mac, "{name}");
        assert_eq!(device["version"], 1, "{name}");
        let addresses: Vec<&str> = device["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            addresses.contains(&format!("{ip}/24").as_str()),
            "{name}: {addresses:?}"
        );
        let services: Vec<String> = device["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}={}", s["name"].as_str().unwrap(), s["port"]))
            .collect();
        for service in DEFAULT_SERVICES {
            assert!(
                services.iter().any(|s| s == service),
                "{name}: {service} missing in {services:?}"
            );
        }
        answered.push(
            device["answered_from"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().parse().unwrap())
                .collect(),
        );
    }
    answered
}

fn v4(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

#[test]
fn udpkit_discover_finds_two_servers_on_one_bridge() {
    let Some(ns) = Netns::new("udpkit_discover_finds_two_servers_on_one_bridge") else {
        return;
    };
    bridge(&ns);
    let _alpha = serve(&ns, 0, &[]);
    let _beta = serve(&ns, 1, &[]);

    // The subnet broadcast: both, each from its own address only.
    let devices = discover_json(&ns, &["--broadcast", SUBNET_BROADCAST]);
    let answered = assert_alpha_and_beta(&devices);
    assert_eq!(answered, [[v4("192.168.69.1")], [v4("192.168.69.2")]]);

    // The limited broadcast, on the link named.
    let devices = discover_json(&ns, &["--interface", "br0"]);
    let answered = assert_alpha_and_beta(&devices);
    assert_eq!(answered, [[v4("192.168.69.1")], [v4("192.168.69.2")]]);

    // The table, sorted by address.
    let out = ns
        .udpkit(&["discover", "--broadcast", SUBNET_BROADCAST])
        .out()
        .ok();
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.describe());
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "ADDRESS", "SERVICES"],
        "{}",
        out.describe()
    );
    for (line, (name, _, ip, _)) in lines[1..].iter().zip(DEVICES) {
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[..2], [name, ip], "{}", out.describe());
        for service in DEFAULT_SERVICES {
            assert!(words.contains(&service), "{name}: no {service} in {line:?}");
        }
    }
    // The services column lines up.
    let column = lines[0].find("SERVICES").unwrap();
    assert!(lines[1..]
        .iter()
        .all(|l| l.get(column..).is_some_and(|s| s.starts_with("echo=7"))));

    // The limited broadcast with no link named and no default route: a
    // clean failure that says what to do.
    let out = ns.udpkit(&["discover"]).out();
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr_str().contains("--interface"),
        "{}",
        out.describe()
    );

    // Nobody on that port: non-zero, after the timeout, saying so.
    let out = ns
        .udpkit(&[
            "discover",
            "--broadcast",
            SUBNET_BROADCAST,
            "--port",
            "5551",
            "--timeout",
            "500ms",
        ])
        .out();
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    assert!(
        out.stderr_str().contains("no device answered"),
        "{}",
        out.describe()
    );
    assert!(out.elapsed < Duration::from_secs(5), "{}", out.describe());
}

/// Python: `DISCOVER` (argv[2]) to argv[1]:5550 with SO_BROADCAST; prints
/// each reply within 1.5 s as a JSON line: source address, port, text.
const RAW_DISCOVER: &str = r#"
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.sendto(sys.argv[2].encode(), (sys.argv[1], 5550))
deadline = time.monotonic() + 1.5
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        break
    print(json.dumps({"from": addr[0], "port": addr[1], "text": data.decode("utf-8", "replace")}))
"#;

/// The replies to `request` broadcast by Python: (source, port, text),
/// sorted by source.
fn raw_discover(ns: &Netns, request: &str) -> Vec<(String, u64, String)> {
    let out = ns.python(RAW_DISCOVER, &[SUBNET_BROADCAST, request]).ok();
    let mut replies: Vec<(String, u64, String)> = out
        .stdout_str()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{e}: {line:?} in {}", out.describe()));
            (
                v["from"].as_str().unwrap().to_string(),
                v["port"].as_u64().unwrap(),
                v["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    replies.sort();
    replies
}

/// The first lines every reply of device `i` starts with.
fn reply_head(i: usize) -> String {
    let (name, _, ip, mac) = DEVICES[i];
    format!("UDPKIT 1\nname {name}\nmac {mac}\naddress {ip}/24\n")
}

#[test]
fn raw_discover_by_python_socat_and_nc() {
    let Some(ns) = Netns::new("raw_discover_by_python_socat_and_nc") else {
        return;
    };
    bridge(&ns);
    let _alpha = serve(&ns, 0, &[]);
    let _beta = serve(&ns, 1, &[]);

    // One broadcast, one unicast reply from each, from the discovery port.
    let replies = raw_discover(&ns, "DISCOVER\n");
    assert_eq!(replies.len(), 2, "{replies:#?}");
    for (i, (from, port, text)) in replies.iter().enumerate() {
        assert_eq!(from, DEVICES[i].2);
        assert_eq!(*port, u64::from(DISCOVERY_PORT));
        assert!(text.starts_with(&reply_head(i)), "{text:?}");
        assert!(text.contains("\nservice discovery 5550\n"), "{text:?}");
        assert!(text.ends_with('\n'), "{text:?}");
        assert!(text.len() < 1232, "one datagram on any link: {text:?}");
    }
    // The version named, in lower case: the same.
    assert_eq!(raw_discover(&ns, "discover udpkit/1"), replies);
    // Anything else: silence.
    for other in ["hello", "DISCOVER everything", "DISCOVER udpkit/0", ""] {
        assert_eq!(raw_discover(&ns, other), [], "{other:?} was answered");
    }

    // socat, which takes replies from anyone: both.
    let target = format!("UDP-DATAGRAM:{SUBNET_BROADCAST}:{DISCOVERY_PORT},broadcast");
    let out = ns
        .run(&["timeout", "-k", "2", "10", "socat", "-t1.5", "-", &target])
        .stdin(b"DISCOVER\n")
        .out();
    let text = out.stdout_str();
    for i in 0..2 {
        assert!(text.contains(&reply_head(i)), "{}", out.describe());
    }

    // nc asks one device.
    let out = ns
        .run(&[
            "timeout",
            "-k",
            "2",
            "5",
            "nc",
            "-u",
            "-W1",
            "-w2",
            DEVICES[1].2,
            &DISCOVERY_PORT.to_string(),
        ])
        .stdin(b"DISCOVER\n")
        .out();
    assert!(
        out.stdout_str().starts_with(&reply_head(1)),
        "{}",
        out.describe()
    );
}

/// Python: binds 192.168.69.100:15550, runs `udpkit discover` (argv[1])
/// at that address and port, and prints the request it sent as JSON.
const CATCH_REQUEST: &str = r#"
import json, socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.168.69.100", 15550))
subprocess.run([sys.argv[1], "discover", "--broadcast", "192.168.69.100", "--port", "15550",
                "--timeout", "300ms", "--retries", "0"],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
s.settimeout(2)
data, addr = s.recvfrom(4096)
print(json.dumps({"len": len(data), "text": data.decode("utf-8", "replace")}))
"#;

/// Python: sends argv[2] requests `DISCOVER\n` to argv[1]:5550 at once;
/// prints the length of each reply within 1 s, one a line.
const SHORT_DISCOVERS: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(int(sys.argv[2])):
    s.sendto(b"DISCOVER\n", (sys.argv[1], 5550))
deadline = time.monotonic() + 1.0
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        break
    print(len(data))
"#;

#[test]
fn udpkit_discover_pads_its_request_so_short_requests_cannot_starve_it() {
    let Some(ns) =
        Netns::new("udpkit_discover_pads_its_request_so_short_requests_cannot_starve_it")
    else {
        return;
    };
    bridge(&ns);
    let mut alpha = serve(&ns, 0, &[]);
    let _beta = serve(&ns, 1, &[]);

    // The request udpkit discover sends is as long as the longest reply
    // (681 bytes), and still a plain DISCOVER: no reply needs to be larger.
    let out = ns
        .python(CATCH_REQUEST, &[env!("CARGO_BIN_EXE_udpkit")])
        .ok();
    let request: Value = serde_json::from_str(out.stdout_str().trim())
        .unwrap_or_else(|e| panic!("{e}: {}", out.describe()));
    let text = request["text"].as_str().unwrap();
    assert!(request["len"].as_u64().unwrap() >= 681, "{request}");
    assert!(text.starts_with("DISCOVER udpkit/1 "), "{text:?}");
    assert!(text.ends_with(" \n"), "{text:?}");

    // Twelve 9-byte requests to alpha at once: answered only while the
    // shared byte budget (16 KiB at once, 1 KiB/s: udpkit::services::
    // EXCESS_BYTES_BURST) covers each reply's excess over its request, and
    // under the reply rate limit (16 at once). What leaves is bounded by
    // what came in plus that budget; the unit and stack tests drain it.
    let out = ns.python(SHORT_DISCOVERS, &[DEVICES[0].2, "12"]).ok();
    let replies: Vec<usize> = out
        .stdout_str()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let bytes_out: usize = replies.iter().sum();
    assert!(
        !replies.is_empty(),
        "none of 12 answered: {}",
        out.describe()
    );
    assert!(
        bytes_out <= 12 * 9 + 16 * 1024 + 1024,
        "{bytes_out} bytes for 108: {}",
        out.describe()
    );

    // udpkit discover right after still finds both: it never needs the
    // budget.
    let devices = discover_json(&ns, &["--broadcast", SUBNET_BROADCAST, "--retries", "0"]);
    assert_alpha_and_beta(&devices);

    // alpha counted what it refused.
    alpha.stop(libc::SIGTERM);
    let log = alpha.log();
    let refused = log
        .lines()
        .find_map(|l| l.trim().strip_prefix("refused: reply larger than request:"))
        .unwrap_or_else(|| panic!("no counter of refusals: {log}"));
    assert_eq!(
        refused.trim().parse::<usize>().unwrap(),
        12 - replies.len(),
        "{log}"
    );
}

/// Python: listens on port 5550 of every address for argv[1] seconds or
/// until argv[2] datagrams came; prints `LISTENING` first, then one JSON
/// line per datagram: arrival (s since listening), source, port, text.
const LISTENER: &str = r#"
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.bind(("", 5550))
print("LISTENING", flush=True)
start = time.monotonic()
deadline = start + float(sys.argv[1])
got = 0
while got < int(sys.argv[2]):
    left = deadline - time.monotonic()
    if left <= 0:
        break
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(4096)
    except socket.timeout:
        break
    got += 1
    print(json.dumps({"t": time.monotonic() - start, "from": addr[0], "port": addr[1],
                      "text": data.decode("utf-8", "replace")}), flush=True)
"#;

/// Waits, bounded, for `child` to exit.
fn wait_exit(child: &mut Child, limit: Duration) {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the listener outlived its own timeout");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn announcements_at_start_reach_a_listener_twice_then_stop() {
    let Some(ns) = Netns::new("announcements_at_start_reach_a_listener_twice_then_stop") else {
        return;
    };
    bridge(&ns);
    let log = ns.dir().join("listener.out");
    let mut listener = ns
        .command(&[
            "timeout", "-k", "2", "15", "python3", "-c", LISTENER, "8", "3",
        ])
        .stdin(Stdio::null())
        .stdout(File::create(&log).expect("listener output"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start the listener");
    let deadline = Instant::now() + Duration::from_secs(15);
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("LISTENING")
    {
        assert!(Instant::now() < deadline, "the listener never listened");
        thread::sleep(Duration::from_millis(50));
    }
    let mut alpha = serve(&ns, 0, &[]);
    wait_exit(&mut listener, Duration::from_secs(20));
    let heard: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .skip(1)
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    // Two announcements at start, 1 s apart; the first may be lost while
    // the bridge port comes up, which is why there are two. No third.
    assert!(
        (1..=2).contains(&heard.len()),
        "heard {} announcements: {heard:#?}",
        heard.len()
    );
    for announcement in &heard {
        assert_eq!(announcement["from"], DEVICES[0].2);
        assert_eq!(announcement["port"], DISCOVERY_PORT);
        let text = announcement["text"].as_str().unwrap();
        assert!(text.starts_with(&reply_head(0)), "{text:?}");
    }
    if let [first, second] = &heard[..] {
        let gap = second["t"].as_f64().unwrap() - first["t"].as_f64().unwrap();
        assert!((0.7..2.0).contains(&gap), "announcements {gap} s apart");
    }
    // The server counted them.
    alpha.stop(libc::SIGTERM);
    let server_log = alpha.log();
    assert!(
        server_log
            .lines()
            .any(|l| l.split_whitespace().eq(["announced:", "2"])),
        "no `announced: 2` counter: {server_log}"
    );
}

#[test]
fn discover_over_ipv6_all_nodes_and_ipv4_together() {
    let Some(ns) = Netns::new("discover_over_ipv6_all_nodes_and_ipv4_together") else {
        return;
    };
    bridge(&ns);
    ns.ip(&["addr", "add", "fdaa::100/64", "dev", "br0", "nodad"])
        .ok();
    let _alpha = serve(
        &ns,
        0,
        &["--ipv6", "fdaa::1/64", "--ipv6-link-local", "fe80::1/64"],
    );
    let _beta = serve(
        &ns,
        1,
        &["--ipv6", "fdaa::2/64", "--ipv6-link-local", "fe80::2/64"],
    );
    let devices = discover_json(&ns, &["--interface", "br0", "--broadcast", "ff02::1"]);
    let answered = assert_alpha_and_beta(&devices);
    // From its ULA or its link-local address, or both: Linux picks the
    // source of each request (br0's link-local address becomes usable
    // during the test), and the reply comes from the matching address.
    for (i, from) in answered.iter().enumerate() {
        assert!(
            !from.is_empty() && from.iter().all(IpAddr::is_ipv6),
            "{from:?}"
        );
        let addresses = devices[i]["addresses"].to_string();
        assert!(
            addresses.contains(&format!("fdaa::{}/64", i + 1)),
            "{addresses}"
        );
    }
    // Both families at once: one device each, answering on both.
    let devices = discover_json(
        &ns,
        &[
            "--interface",
            "br0",
            "--broadcast",
            "ff02::1",
            "--broadcast",
            SUBNET_BROADCAST,
        ],
    );
    let answered = assert_alpha_and_beta(&devices);
    for (i, from) in answered.iter().enumerate() {
        assert_eq!(from[0], v4(DEVICES[i].2), "{from:?}");
        assert!(
            from.len() >= 2 && from[1..].iter().all(IpAddr::is_ipv6),
            "{from:?}"
        );
    }
}

#[test]
fn the_kernel_backend_answers_with_its_hosts_addresses() {
    let Some(ns) = Netns::new("the_kernel_backend_answers_with_its_hosts_addresses") else {
        return;
    };
    bridge(&ns);
    let log = ns.dir().join("kernel.log");
    let bin = env!("CARGO_BIN_EXE_udpkit");
    let mut server = ns
        .command(&[
            "timeout",
            "-k",
            "2",
            "60",
            bin,
            "serve",
            "--backend",
            "kernel",
            "--port-offset",
            "10000",
            "--name",
            "gamma",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&log).expect("server log"))
        .spawn()
        .expect("start the kernel backend");
    // Ask until it is up (bounded), at the Linux side's own address.
    let deadline = Instant::now() + Duration::from_secs(20);
    let devices = loop {
        let out: Out = ns
            .udpkit(&[
                "discover",
                "--json",
                "--broadcast",
                "192.168.69.100",
                "--port",
                "15550",
                "--timeout",
                "300ms",
            ])
            .out();
        if out.success() {
            break serde_json::from_slice::<Value>(&out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the kernel backend never answered: {}\n{}",
            out.describe(),
            fs::read_to_string(&log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    let device = &devices[0];
    assert_eq!(device["name"], "gamma", "{devices:#}");
    assert_eq!(device["mac"], Value::Null);
    assert_eq!(device["addresses"], serde_json::json!([BRIDGE_CIDR]));
    let services = device["services"].to_string();
    for service in [
        r#"{"name":"echo","port":10007}"#,
        r#"{"name":"discovery","port":15550}"#,
    ] {
        assert!(services.contains(service), "{services}");
    }
}
