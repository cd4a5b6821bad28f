//! The simple clients: `udpkit echo`, `daytime`, `time` and `send`, one
//! datagram each way with [`exchange`]'s patience.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::Args;
use udpkit::services::time::decode as decode_rfc868;

use crate::client::{exchange, Patience};

/// Send a message to an echo service (RFC 862) and check it comes back.
#[derive(Args)]
#[command(
    after_help = "Without MESSAGE, all of standard input is sent as one datagram and \
                        the reply is written out raw.\n\nExamples:\n  \
                        udpkit echo 192.168.69.1 hello\n  \
                        head -c 1472 /dev/urandom | udpkit echo 192.168.69.1 > back.bin"
)]
pub struct EchoArgs {
    pub host: String,
    /// The text to send; standard input when omitted.
    pub message: Option<String>,
    #[arg(long, default_value_t = udpkit::services::echo::DEFAULT_PORT)]
    pub port: u16,
    #[command(flatten)]
    pub patience: Patience,
}

/// Ask a daytime service (RFC 867) for the date and time.
#[derive(Args)]
#[command(after_help = "Example:\n  udpkit daytime 192.168.69.1")]
pub struct DaytimeArgs {
    pub host: String,
    #[arg(long, default_value_t = udpkit::services::daytime::DEFAULT_PORT)]
    pub port: u16,
    #[command(flatten)]
    pub patience: Patience,
}

/// Ask a time service (RFC 868) for the time; prints it as RFC 3339 UTC.
#[derive(Args)]
#[command(after_help = "Examples:\n  udpkit time 192.168.69.1\n  udpkit time --unix 192.168.69.1")]
pub struct TimeArgs {
    pub host: String,
    #[arg(long, default_value_t = udpkit::services::time::DEFAULT_PORT)]
    pub port: u16,
    /// Print Unix seconds instead of a date.
    #[arg(long)]
    pub unix: bool,
    #[command(flatten)]
    pub patience: Patience,
}

/// Send one datagram to any UDP port and print the reply raw.
#[derive(Args)]
#[command(after_help = "Examples:\n  \
                        udpkit send 192.168.69.1 12000 'make me loud'\n  \
                        udpkit send 192.168.69.1 12001 alice")]
pub struct SendArgs {
    pub host: String,
    pub port: u16,
    /// The text to send; standard input when omitted.
    pub message: Option<String>,
    #[command(flatten)]
    pub patience: Patience,
}

/// `udpkit echo`: the message back, byte for byte, or an error.
pub fn echo(args: EchoArgs) -> Result<()> {
    let from_stdin = args.message.is_none();
    let request = message_or_stdin(args.message)?;
    let target = args.patience.target(args.host, args.port);
    let reply = exchange(&target, &request, |reply| reply == request)?;
    write_reply(&reply, !from_stdin)
}

/// `udpkit daytime`: the server's line.
pub fn daytime(args: DaytimeArgs) -> Result<()> {
    let target = args.patience.target(args.host, args.port);
    let reply = exchange(&target, b"\n", |_| true)?;
    let text = String::from_utf8_lossy(&reply);
    println!("{}", text.trim_end_matches(['\r', '\n']));
    Ok(())
}

/// `udpkit time`: RFC 868's four bytes as a date, or Unix seconds.
pub fn time(args: TimeArgs) -> Result<()> {
    let target = args.patience.target(args.host, args.port);
    let reply = exchange(&target, b"", |reply| reply.len() == 4)?;
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

/// `udpkit send`: any reply, raw.
pub fn send(args: SendArgs) -> Result<()> {
    let request = message_or_stdin(args.message)?;
    let target = args.patience.target(args.host, args.port);
    let reply = exchange(&target, &request, |_| true)?;
    write_reply(&reply, false)
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
