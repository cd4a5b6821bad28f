//! Plain lines, for scripts, pipes and dumb terminals: each line of
//! standard input is one datagram, each line received one line out.

use std::io::{self, BufRead as _, Write as _};
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Instant;

use anyhow::Result;

use crate::client::chat::network::{Client, Event};
use crate::client::chat::session::{Effect, MAX_DATAGRAM};

pub fn run(mut client: Client) -> Result<()> {
    let mut out = Output::default();
    for effect in std::mem::take(&mut client.backlog) {
        out.show(effect);
    }
    spawn_stdin(client.sender.clone());
    let why = loop {
        for effect in client.pump() {
            out.show(effect);
        }
        if out.broken {
            break "standard output closed";
        }
        let event = client.next_event();
        let now = Instant::now();
        match event {
            Some(Event::Datagram(payload)) => client.session.on_datagram(&payload, now),
            Some(Event::Refused) => client.session.refused(),
            Some(Event::NetError(e)) => client.session.net_error(&e),
            Some(Event::Input(bytes)) => match String::from_utf8(bytes) {
                Ok(text) if text.len() > MAX_DATAGRAM => out.show(Effect::Notice(format!(
                    "line not sent: {} bytes, {MAX_DATAGRAM} at most",
                    text.len()
                ))),
                Ok(text) => {
                    if !client.session.user_line(&text, now, false) {
                        break "/quit";
                    }
                }
                Err(_) => out.show(Effect::Notice("line not sent: not UTF-8".into())),
            },
            Some(Event::InputEnd(error)) => {
                if let Some(e) = error {
                    out.show(Effect::Notice(format!("reading standard input: {e}")));
                }
                break "end of input";
            }
            Some(Event::Signal) => break "signal",
            Some(Event::Terminal(_) | Event::TerminalError(_)) => {}
            None => {}
        }
        client.session.tick(Instant::now());
    };
    log::debug!("leaving: {why}");
    for effect in client.pump() {
        out.show(effect);
    }
    client.leave(&mut |effect| out.show(effect));
    Ok(())
}

/// Standard output for the server's lines, standard error for ours.
#[derive(Default)]
struct Output {
    broken: bool,
}

impl Output {
    fn show(&mut self, effect: Effect) {
        match effect {
            Effect::Show(_, text) => {
                let mut stdout = io::stdout().lock();
                if writeln!(stdout, "{text}")
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    self.broken = true;
                }
            }
            Effect::Notice(text) => eprintln!("udpkit chat: {text}"),
            Effect::Send(_) | Effect::Bye => {}
        }
    }
}

fn spawn_stdin(events: Sender<Event>) {
    thread::spawn(move || {
        let stdin = io::stdin();
        let mut stdin = stdin.lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => {
                    let _ = events.send(Event::InputEnd(None));
                    return;
                }
                Ok(_) => {
                    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        line.pop();
                    }
                    if events.send(Event::Input(line)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = events.send(Event::InputEnd(Some(e.to_string())));
                    return;
                }
            }
        }
    });
}
