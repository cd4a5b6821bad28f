//! `udpkit`: the udpkit services on a Linux TAP, and clients for them.

mod bench;
mod capture;
mod chat_client;
mod client;
mod discover;
mod duration;
mod faults;
mod kernel;
mod netif;
mod ntp;
mod serve;
mod tap;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use udpkit::services::chat::ChatLimits;
use udpkit::services::time::decode as decode_rfc868;
use udpkit::smoltcp::wire::{EthernetAddress, Ipv4Address, Ipv4Cidr, Ipv6Cidr};
use udpkit::Config;

use crate::client::Target;
use crate::serve::{ServeOptions, ServiceKind, SERVICES};

#[derive(Parser)]
#[command(
    name = "udpkit",
    version,
    about = "Classic UDP services (echo, daytime, time, ...) on a userspace TCP/IP stack",
    long_about = "udpkit runs a small embedded network stack (smoltcp) in userspace, attached \
                  to a Linux TAP interface, and serves classic UDP services on it: the very \
                  same code that runs on microcontrollers. It also has clients for them that \
                  never wait forever.",
    after_help = "Examples:\n  \
        sudo udpkit serve --create          # TAP tap0, udpkit at 192.168.69.1\n  \
        udpkit echo 192.168.69.1 hello      # in another terminal\n  \
        udpkit time 192.168.69.1\n  \
        udpkit ntp 192.168.69.1\n  \
        udpkit chat 192.168.69.1 --nick alice\n\n\
        Logging: RUST_LOG=debug udpkit serve ... (default: info)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Serve(ServeArgs),
    Echo(EchoArgs),
    Daytime(DaytimeArgs),
    Time(TimeArgs),
    Ntp(NtpArgs),
    Send(SendArgs),
    Chat(ChatArgs),
    Bench(bench::BenchArgs),
    Discover(discover::DiscoverArgs),
}

/// Which network stack carries the services.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    /// udpkit's own stack (smoltcp) on a TAP interface.
    Tap,
    /// The kernel's UDP sockets.
    Kernel,
}

/// Serve the UDP services on a TAP interface until Ctrl-C.
#[derive(Args)]
#[command(after_help = serve_help())]
struct ServeArgs {
    /// Which network stack carries the services: `tap` is udpkit's own
    /// (smoltcp) on a TAP; `kernel` is Linux's UDP sockets, no TAP or root
    /// needed (ports above 1023): for developing services, and the
    /// benchmark's baseline.
    #[arg(long, value_enum, default_value_t = Backend::Tap)]
    backend: Backend,

    /// With --backend kernel: the address to bind the services to.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    bind: std::net::IpAddr,

    /// Adds N to every default port (e.g. 10000: echo on 10007), so the
    /// kernel backend runs without root.
    #[arg(long, default_value_t = 0, value_name = "N")]
    port_offset: u16,

    /// The TAP interface to attach to.
    #[arg(long, default_value = "tap0", value_name = "NAME")]
    tap: String,

    /// udpkit's own address and prefix on the TAP's link.
    #[arg(long, default_value = "192.168.69.1/24", value_name = "CIDR", value_parser = serve::parse_cidr)]
    ip: Ipv4Cidr,

    /// A default gateway; without one, only peers on the link are answered.
    #[arg(long, value_name = "IP", value_parser = serve::parse_ipv4)]
    gateway: Option<Ipv4Address>,

    /// udpkit's MAC address.
    #[arg(long, default_value = "02:00:00:00:00:01", value_name = "MAC", value_parser = serve::parse_mac)]
    mac: EthernetAddress,

    /// Create the TAP if it does not exist, give the Linux side --host-ip and
    /// bring it up; it is removed again on exit. Needs root (CAP_NET_ADMIN).
    /// A TAP that exists is used as it is, and left in place.
    #[arg(long)]
    create: bool,

    /// The Linux side's address on a TAP created by --create.
    #[arg(long, default_value = "192.168.69.100/24", value_name = "CIDR", value_parser = serve::parse_cidr)]
    host_ip: Ipv4Cidr,

    /// udpkit's IPv6 address and prefix (unique local).
    #[arg(long, default_value = "fdaa::1/64", value_name = "CIDR", value_parser = serve::parse_ipv6_cidr)]
    ipv6: Ipv6Cidr,

    /// udpkit's IPv6 link-local address.
    #[arg(long, default_value = "fe80::1/64", value_name = "CIDR", value_parser = serve::parse_ipv6_cidr)]
    ipv6_link_local: Ipv6Cidr,

    /// The Linux side's IPv6 address on a TAP created by --create.
    #[arg(long, default_value = "fdaa::100/64", value_name = "CIDR", value_parser = serve::parse_ipv6_cidr)]
    host_ipv6: Ipv6Cidr,

    /// IPv4 only: no IPv6 addresses at all.
    #[arg(long)]
    no_ipv6: bool,

    /// Which services to run, comma separated [default: all, as listed
    /// below].
    #[arg(long, value_delimiter = ',', value_name = "LIST", value_parser = serve::service_by_name)]
    services: Option<Vec<ServiceKind>>,

    /// Move a service to another port, e.g. --port echo=7007 (repeatable).
    #[arg(long = "port", value_name = "SERVICE=PORT", value_parser = serve::parse_port_override)]
    ports: Vec<(ServiceKind, u16)>,

    /// Chat: members at once (at most 64).
    #[arg(long, default_value_t = 32, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    chat_members: u16,

    /// Chat: rooms at once, the lobby included (at most 16).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16))]
    chat_rooms: u16,

    /// Chat: longest message, in bytes.
    #[arg(long, default_value_t = 400, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(1..=900))]
    chat_message_max: u16,

    /// Chat: members silent this long are dropped (any datagram counts).
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = duration::parse)]
    chat_idle: Duration,

    /// Chat: lines per second a member may send on average (bursts of 4x).
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    chat_rate: u32,

    /// Chat: send each message back to its sender too, as the room sees it
    /// (IRCv3's echo-message): a delivery mark, and the one reply that
    /// tutorial clients, which read a line for each line sent, wait for.
    #[arg(long, default_value = "on", value_name = "on|off", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    chat_echo: bool,

    #[command(flatten)]
    discovery: discover::ServeDiscoveryArgs,

    /// Take the wall clock from this NTP server (port 123 unless given)
    /// with udpkit's own SNTP client, instead of the host's clock, as a
    /// board without a clock would: time, daytime and NTP answer once it
    /// has synced (NTP at the server's stratum + 1). The host's clock is
    /// never set.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_ntp_server)]
    sntp_server: Option<std::net::SocketAddrV4>,

    /// With --sntp-server: time between requests once synced (at least 15s;
    /// failures back off from 15s to the same).
    #[arg(long, default_value = "1024s", value_name = "DURATION", value_parser = duration::parse)]
    sntp_interval: Duration,

    /// Write every frame udpkit's stack receives and sends to FILE, in the
    /// pcap format (tcpdump -r FILE, Wireshark). The frames as the stack
    /// sees them: incoming ones after --drop/--corrupt/--delay, outgoing
    /// ones before.
    #[arg(long, value_name = "FILE", help_heading = "Faults on purpose")]
    pcap: Option<std::path::PathBuf>,

    /// Drop each frame with probability P, from 0 to 1 (or a percentage,
    /// 10%): frames in (read from the TAP) and frames out alike.
    #[arg(long = "drop", value_name = "P", default_value = "0", value_parser = faults::parse_chance,
          help_heading = "Faults on purpose")]
    drop_chance: f64,

    /// Flip one random bit of each frame with probability P, from 0 to 1
    /// (or 10%): frames in and frames out alike (of those not dropped).
    #[arg(long = "corrupt", value_name = "P", default_value = "0", value_parser = faults::parse_chance,
          help_heading = "Faults on purpose")]
    corrupt_chance: f64,

    /// Hold each frame this long: frames in and frames out alike, so a
    /// round trip takes twice as long. Seconds (0.05) or with a unit as
    /// --timeout takes them (50ms, 1s); at most 1h, 1024 frames held each
    /// way (more are dropped and counted).
    #[arg(long, value_name = "DURATION", default_value = "0", value_parser = faults::parse_delay,
          help_heading = "Faults on purpose")]
    delay: Duration,
}

/// `IP` or `IP:PORT` of an NTP server.
fn parse_ntp_server(text: &str) -> Result<std::net::SocketAddrV4, String> {
    if let Ok(address) = text.parse() {
        return Ok(address);
    }
    let ip: Ipv4Address = text
        .parse()
        .map_err(|_| format!("'{text}' is not an IPv4 address, or one with :PORT"))?;
    Ok(std::net::SocketAddrV4::new(ip, udpkit::wire::ntp::PORT))
}

fn serve_help() -> String {
    let mut text = String::from("Services and their default ports:\n");
    for s in SERVICES {
        text.push_str(&format!(
            "  {:<9} {:>5}  {}\n",
            s.name, s.default_port, s.summary
        ));
    }
    let defaults = serve::default_config();
    text.push_str(&format!(
        "\nDefaults: TAP tap0, udpkit at {} (MAC {}), Linux side {} with --create.\n\
         Datagrams from port 0, from well-known service ports (7, 9, 13, 19, 37, 123) or\n\
         our own, and from broadcast/multicast sources are never answered (no loops).\n\n\
         Examples:\n  \
         sudo udpkit serve --create\n  \
         sudo udpkit serve --tap tap1 --ip 10.0.5.2/24 --gateway 10.0.5.1\n  \
         sudo udpkit serve --services echo,time --port echo=7007\n  \
         sudo udpkit serve --create --drop 0.1 --corrupt 0.1 --pcap frames.pcap\n\n\
         Faults on purpose (--drop, --corrupt, --delay) sit between the TAP and the stack and\n\
         apply to every frame, in and out. They are logged at startup, SIGUSR1 pauses and\n\
         resumes them (frames already delayed still wait their turn), and on exit the counters\n\
         account for every frame: read = to the stack + dropped + delay line full + still\n\
         delayed, and the same for frames out.",
        defaults.address,
        serve::mac_text(defaults.mac),
        "192.168.69.100/24"
    ));
    text
}

/// How long to wait and how often to retry.
#[derive(Args, Clone)]
struct Patience {
    /// How long to wait for each reply: seconds (2, 0.5) or with a unit
    /// (500ms, 1m).
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = duration::parse)]
    timeout: Duration,

    /// How many times to resend when no reply comes.
    #[arg(long, default_value_t = 2, value_name = "N")]
    retries: u32,
}

/// Send a message to an echo service (RFC 862) and check it comes back.
#[derive(Args)]
#[command(
    after_help = "Without MESSAGE, all of standard input is sent as one datagram and \
                        the reply is written out raw.\n\nExamples:\n  \
                        udpkit echo 192.168.69.1 hello\n  \
                        head -c 1472 /dev/urandom | udpkit echo 192.168.69.1 > back.bin"
)]
struct EchoArgs {
    host: String,
    /// The text to send; standard input when omitted.
    message: Option<String>,
    #[arg(long, default_value_t = udpkit::services::echo::DEFAULT_PORT)]
    port: u16,
    #[command(flatten)]
    patience: Patience,
}

/// Ask a daytime service (RFC 867) for the date and time.
#[derive(Args)]
#[command(after_help = "Example:\n  udpkit daytime 192.168.69.1")]
struct DaytimeArgs {
    host: String,
    #[arg(long, default_value_t = udpkit::services::daytime::DEFAULT_PORT)]
    port: u16,
    #[command(flatten)]
    patience: Patience,
}

/// Ask a time service (RFC 868) for the time; prints it as RFC 3339 UTC.
#[derive(Args)]
#[command(after_help = "Examples:\n  udpkit time 192.168.69.1\n  udpkit time --unix 192.168.69.1")]
struct TimeArgs {
    host: String,
    #[arg(long, default_value_t = udpkit::services::time::DEFAULT_PORT)]
    port: u16,
    /// Print Unix seconds instead of a date.
    #[arg(long)]
    unix: bool,
    #[command(flatten)]
    patience: Patience,
}

/// Ask an NTP server (RFC 5905, SNTP) for the time; prints its time, our
/// clock's offset from it, the round-trip delay, its stratum and reference.
/// Query only: the clock of this machine is never set.
#[derive(Args)]
#[command(
    after_help = "The offset is what this machine's clock would need to be moved by to \
                        agree with the server (positive: we are behind). A kiss-o'-death \
                        (stratum 0, e.g. INIT from a server that does not know the time) \
                        is reported as an error.\n\nExample:\n  udpkit ntp 192.168.69.1"
)]
struct NtpArgs {
    host: String,
    #[arg(long, default_value_t = udpkit::wire::ntp::PORT)]
    port: u16,
    #[command(flatten)]
    patience: Patience,
}

/// Send one datagram to any UDP port and print the reply raw.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
                        udpkit send 192.168.69.1 12000 'make me loud'\n  \
                        udpkit send 192.168.69.1 12001 alice")]
struct SendArgs {
    host: String,
    port: u16,
    /// The text to send; standard input when omitted.
    message: Option<String>,
    #[command(flatten)]
    patience: Patience,
}

/// Chat on a chat service: a terminal UI, or plain lines when not on a terminal.
#[derive(Args)]
#[command(
    after_help = "On a terminal: a message pane, the room and its members, and an input \
                  line (Enter sends, Esc or Ctrl-C leaves, PgUp/PgDn scroll). Otherwise \
                  (or with --lines) each line of standard input is one datagram and each \
                  line received is printed at once; the client's own notices go to \
                  standard error. Lines starting with / are the service's commands \
                  (/help lists them); /quit or end of input leaves.\n\n\
                  A /ping every --keepalive keeps the membership alive (its pong is not \
                  shown); when the server stops answering, and when it is back, you are \
                  told; an expired membership is rejoined, again every --keepalive while no \
                  answer comes.\n\nExamples:\n  \
                  udpkit chat 192.168.69.1 --nick alice\n  \
                  udpkit chat 192.168.69.1 --nick bob --room games\n  \
                  printf 'hello\\n' | udpkit chat 192.168.69.1 --nick carol"
)]
struct ChatArgs {
    host: String,
    #[arg(long, default_value_t = udpkit::services::chat::DEFAULT_PORT)]
    port: u16,
    /// Your nick: letters, digits, _ and -, 16 at most.
    #[arg(long, value_name = "NAME")]
    nick: String,
    /// A room to move to after joining (the lobby otherwise).
    #[arg(long, value_name = "ROOM")]
    room: Option<String>,
    /// How often to ping the server, keeping the membership alive (the
    /// server drops members silent for its idle timeout, 5 min by default).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = duration::parse)]
    keepalive: Duration,
    /// Plain lines even on a terminal.
    #[arg(long)]
    lines: bool,
    #[command(flatten)]
    patience: Patience,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("udpkit: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Serve(args) => {
            let backend = args.backend;
            let bind = args.bind;
            let options = serve_options(args)?;
            if backend == Backend::Kernel && (!options.faults.is_none() || options.pcap.is_some()) {
                bail!(
                    "--drop, --corrupt, --delay and --pcap work on the TAP's frames: they need \
                     --backend tap"
                );
            }
            if backend == Backend::Kernel && options.sntp.is_some() {
                bail!(
                    "--sntp-server runs on udpkit's own stack (--backend tap); \
                     the kernel backend serves the host's clock"
                );
            }
            match backend {
                Backend::Tap => serve::run(options),
                Backend::Kernel => kernel::run(kernel::KernelOptions {
                    bind,
                    services: options.services,
                    chat_limits: options.chat_limits,
                    discovery: options.discovery,
                }),
            }
        }
        Command::Echo(args) => {
            let from_stdin = args.message.is_none();
            let request = message_or_stdin(args.message)?;
            let target = target(args.host, args.port, &args.patience);
            let reply = client::exchange(&target, &request, |reply| reply == request)?;
            write_reply(&reply, !from_stdin)
        }
        Command::Daytime(args) => {
            let target = target(args.host, args.port, &args.patience);
            let reply = client::exchange(&target, b"\n", |_| true)?;
            let text = String::from_utf8_lossy(&reply);
            println!("{}", text.trim_end_matches(['\r', '\n']));
            Ok(())
        }
        Command::Time(args) => {
            let target = target(args.host, args.port, &args.patience);
            let reply = client::exchange(&target, b"", |reply| reply.len() == 4)?;
            let bytes: [u8; 4] = reply
                .as_slice()
                .try_into()
                .context("the time reply is not 4 bytes")?;
            let time = decode_rfc868(bytes);
            if args.unix {
                println!("{}", time.secs);
            } else {
                let system = std::time::UNIX_EPOCH + Duration::from_secs(time.secs);
                println!("{}", humantime::format_rfc3339_seconds(system));
            }
            Ok(())
        }
        Command::Ntp(args) => {
            let target = target(args.host, args.port, &args.patience);
            print!("{}", ntp::query(&target)?.text());
            Ok(())
        }
        Command::Send(args) => {
            let request = message_or_stdin(args.message)?;
            let target = target(args.host, args.port, &args.patience);
            let reply = client::exchange(&target, &request, |_| true)?;
            write_reply(&reply, false)
        }
        Command::Chat(args) => chat_client::run(chat_client::Options {
            target: target(args.host, args.port, &args.patience),
            nick: args.nick,
            room: args.room,
            keepalive: args.keepalive,
            lines: args.lines,
        }),
        Command::Bench(args) => bench::run(args),
        Command::Discover(args) => discover::run(args),
    }
}

fn serve_options(args: ServeArgs) -> Result<ServeOptions> {
    let mut services: Vec<(ServiceKind, u16)> = Vec::new();
    for kind in args.services.unwrap_or_else(|| SERVICES.to_vec()) {
        if !services.iter().any(|(k, _)| *k == kind) {
            let port = kind
                .default_port
                .checked_add(args.port_offset)
                .with_context(|| {
                    format!(
                        "--port-offset {} moves {} past port 65535",
                        args.port_offset, kind.name
                    )
                })?;
            services.push((kind, port));
        }
    }
    for (kind, port) in args.ports {
        match services.iter_mut().find(|(k, _)| *k == kind) {
            Some(entry) => entry.1 = port,
            None => bail!(
                "--port {}={port}: {} is not in --services",
                kind.name,
                kind.name
            ),
        }
    }
    for (i, (kind, port)) in services.iter().enumerate() {
        if let Some((other, _)) = services[..i].iter().find(|(_, p)| p == port) {
            bail!("{} and {} both want port {port}", other.name, kind.name);
        }
    }
    if services.is_empty() {
        bail!("no services selected");
    }
    let sntp = args.sntp_server.map(|server| ntp::SntpOptions {
        server,
        interval: args.sntp_interval,
        local_port: udpkit::sntp::DEFAULT_LOCAL_PORT,
    });
    if let Some((kind, _)) = sntp.and_then(|s| services.iter().find(|(_, p)| *p == s.local_port)) {
        bail!(
            "{} is on port {}, which the SNTP client sends from",
            kind.name,
            udpkit::sntp::DEFAULT_LOCAL_PORT
        );
    }
    Ok(ServeOptions {
        tap: args.tap,
        create: args.create,
        host_address: args.host_ip,
        host_address_v6: (!args.no_ipv6).then_some(args.host_ipv6),
        config: Config {
            mac: args.mac,
            address: args.ip,
            gateway: args.gateway,
            ipv6: (!args.no_ipv6).then_some(args.ipv6),
            ipv6_link_local: (!args.no_ipv6).then_some(args.ipv6_link_local),
        },
        services,
        discovery: args.discovery.options(),
        chat_limits: ChatLimits {
            max_members: usize::from(args.chat_members),
            max_rooms: usize::from(args.chat_rooms),
            max_message: usize::from(args.chat_message_max),
            idle_timeout: udpkit::smoltcp::time::Duration::from_millis(
                args.chat_idle.as_millis().min(u128::from(u32::MAX)) as u64,
            ),
            per_second: args.chat_rate,
            burst: args.chat_rate.saturating_mul(4),
            echo_to_sender: args.chat_echo,
            ..ChatLimits::default()
        },
        sntp,
        faults: faults::FaultPlan {
            drop: args.drop_chance,
            corrupt: args.corrupt_chance,
            delay: udpkit::smoltcp::time::Duration::from_micros(
                args.delay.as_micros().min(u128::from(u64::MAX)) as u64,
            ),
        },
        pcap: args.pcap,
    })
}

fn target(host: String, port: u16, patience: &Patience) -> Target {
    Target {
        host,
        port,
        timeout: patience.timeout,
        retries: patience.retries,
    }
}

fn message_or_stdin(message: Option<String>) -> Result<Vec<u8>> {
    match message {
        Some(text) => Ok(text.into_bytes()),
        None => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("reading standard input")?;
            Ok(data)
        }
    }
}

fn write_reply(reply: &[u8], add_newline: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(reply)?;
    if add_newline && !reply.ends_with(b"\n") {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        match Cli::try_parse_from(std::iter::once("udpkit").chain(args.iter().copied())) {
            Ok(cli) => cli.command,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    /// Every duration option takes bare seconds, as `nc -w 2` does, and
    /// units as before.
    #[test]
    fn duration_options_take_bare_seconds_and_units() {
        let Command::Echo(echo) = parse(&["echo", "--timeout", "2", "h", "x"]) else {
            panic!("not echo");
        };
        assert_eq!(echo.patience.timeout, Duration::from_secs(2));
        let Command::Send(send) = parse(&["send", "--timeout", "0.5", "h", "7", "x"]) else {
            panic!("not send");
        };
        assert_eq!(send.patience.timeout, Duration::from_millis(500));
        let Command::Ntp(ntp) = parse(&["ntp", "--timeout", "250ms", "h"]) else {
            panic!("not ntp");
        };
        assert_eq!(ntp.patience.timeout, Duration::from_millis(250));
        let Command::Chat(chat) = parse(&["chat", "h", "--nick", "a", "--keepalive", "10"]) else {
            panic!("not chat");
        };
        assert_eq!(chat.keepalive, Duration::from_secs(10));
        let Command::Serve(serve) = parse(&["serve", "--chat-idle", "60", "--sntp-interval", "2m"])
        else {
            panic!("not serve");
        };
        assert_eq!(serve.chat_idle, Duration::from_secs(60));
        assert_eq!(serve.sntp_interval, Duration::from_secs(120));
        assert!(serve.chat_echo, "on unless turned off");
        let Command::Serve(serve) = parse(&["serve", "--chat-echo", "off"]) else {
            panic!("not serve");
        };
        assert!(!serve.chat_echo);
        assert!(matches!(
            parse(&["bench", "h", "--duration", "1"]),
            Command::Bench(_)
        ));
        assert!(matches!(
            parse(&["discover", "--timeout", "2"]),
            Command::Discover(_)
        ));
    }

    #[test]
    fn a_bad_duration_is_refused_with_examples() {
        let error = Cli::try_parse_from(["udpkit", "echo", "--timeout", "soon", "h"])
            .err()
            .expect("--timeout soon is refused");
        let text = error.to_string();
        assert!(text.contains("'soon' is not a duration"), "{text}");
        assert!(text.contains("500ms"), "{text}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
