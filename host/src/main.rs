//! `udpkit`: the udpkit services on a Linux TAP, and clients for them.
//!
//! The crate is organised by role, and the roles only ever import
//! downwards, so that each can be read (and changed) without the others:
//!
//! - [`linux`]: the Linux port (TAP, clocks, poll, signals, interfaces);
//!   every `unsafe` block of the host is there;
//! - [`serve`]: `udpkit serve`, the core's services on the TAP or on the
//!   kernel's sockets;
//! - [`client`]: the clients, from `udpkit echo` to `udpkit chat`;
//! - [`bench`](mod@bench): `udpkit bench`, the load generator;
//! - [`text`]: durations and MAC addresses as people type and read them.
//!
//! This file is only the command line's top level. `tests/modules.rs`
//! checks that no module imports another that imports it back, and that
//! `unsafe` stays in the port.

mod bench;
mod client;
mod linux;
mod serve;
mod text;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::client::chat::ChatArgs;
use crate::client::discover::DiscoverArgs;
use crate::client::ntp::NtpArgs;
use crate::client::simple::{DaytimeArgs, EchoArgs, SendArgs, TimeArgs};
use crate::serve::ServeArgs;

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
    Discover(DiscoverArgs),
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
        Command::Serve(args) => serve::run(args),
        Command::Echo(args) => client::simple::echo(args),
        Command::Daytime(args) => client::simple::daytime(args),
        Command::Time(args) => client::simple::time(args),
        Command::Ntp(args) => client::ntp::run(args),
        Command::Send(args) => client::simple::send(args),
        Command::Chat(args) => client::chat::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Discover(args) => client::discover::run(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
