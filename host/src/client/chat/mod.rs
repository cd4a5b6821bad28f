//! `udpkit chat`: a full-duplex client for the chat service.
//!
//! One UDP socket, connected to the server so that datagrams from anyone
//! else are never seen. It joins with `/nick` (waiting `--timeout` per
//! attempt, `--retries` times, like the other clients), moves to `--room`,
//! and then runs one of two front ends over the same
//! [`session::Session`]:
//!
//! - on a terminal, a terminal UI (ratatui): messages, the room and its
//!   members, and an input line that keeps what is half typed while lines
//!   arrive;
//! - otherwise plain lines: each line of standard input is one datagram,
//!   each line received is written to standard output at once (flushed), and
//!   the client's own notices go to standard error.
//!
//! The session keeps the membership alive with a `/ping` every `--keepalive`
//! whose `*** pong` is not shown, notices when the server stops answering
//! (and when it is back), rejoins when the server says the membership
//! expired, keeps the member list current (from the server's lines, checked
//! with a hidden `/who` after every join, leave or rename), and sends `/quit`
//! on the way out.
//!
//! Lines are read and written with the chat's wire format,
//! `udpkit::wire::chat`: the client recognises what the server says with
//! `ServerLine::parse`, and writes its own commands with `Command`, the
//! code the service itself uses. Its tests feed it lines the service wrote.
//!
//! The parts live apart so that each can be tested and changed alone: the
//! session is a state machine without I/O ([`session`]), the socket, the
//! threads and the join are [`network`], and the two front ends are
//! [`lines`] and [`tui`]. Only this file knows all four.

mod lines;
mod network;
mod session;
mod tui;

use std::io::{self, IsTerminal as _};
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::client::chat::network::Client;
use crate::client::Patience;
use crate::text::parse_duration;

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
pub struct ChatArgs {
    pub host: String,
    #[arg(long, default_value_t = udpkit::services::chat::DEFAULT_PORT)]
    pub port: u16,
    /// Your nick: letters, digits, _ and -, 16 at most.
    #[arg(long, value_name = "NAME")]
    pub nick: String,
    /// A room to move to after joining (the lobby otherwise).
    #[arg(long, value_name = "ROOM")]
    pub room: Option<String>,
    /// How often to ping the server, keeping the membership alive (the
    /// server drops members silent for its idle timeout, 5 min by default).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive: Duration,
    /// Plain lines even on a terminal.
    #[arg(long)]
    pub lines: bool,
    #[command(flatten)]
    pub patience: Patience,
}

/// Joins, runs the terminal UI or the line mode until the user leaves, and
/// sends `/quit`.
pub fn run(args: ChatArgs) -> Result<()> {
    let tui = !args.lines && io::stdin().is_terminal() && io::stdout().is_terminal();
    let target = args.patience.target(args.host, args.port);
    let mut client = Client::connect(&target, &args.nick, args.keepalive)?;
    if tui {
        eprintln!("udpkit chat: joining {} as {}...", client.server, args.nick);
    }
    client.join(&args.nick, args.room.as_deref())?;
    if tui {
        tui::run(client)
    } else {
        lines::run(client)
    }
}
