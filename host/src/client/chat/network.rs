//! The chat client's side of the network: one connected socket, a thread
//! that receives on it, and the events every front end waits on.
//!
//! The socket blocks on its own thread, and signals, standard input and the
//! terminal each have theirs, so that a front end waits on one channel
//! ([`Event`]) for all of them; the join and the leave wait the same way,
//! with the clients' one retry loop ([`crate::client::ask`]).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use udpkit::wire::chat::{Command, ServerLine};

use crate::client::chat::session::{
    format_duration, nick_verdict, room_verdict, Effect, Session, Verdict,
};
use crate::client::{ask, Heard, Server, Target};
use crate::linux::signals::{SignalPipe, SIGHUP, SIGINT, SIGTERM};

/// Something for the main loop.
#[derive(Debug)]
pub enum Event {
    /// A datagram from the server.
    Datagram(Vec<u8>),
    /// The server's host answered ICMP port unreachable.
    Refused,
    /// Receiving failed (host or network unreachable, ...).
    NetError(String),
    /// Line mode: one line of standard input (without its line ending).
    Input(Vec<u8>),
    /// Line mode: standard input ended (or failed).
    InputEnd(Option<String>),
    /// Terminal UI: a key or a resize.
    Terminal(ratatui::crossterm::event::Event),
    /// Terminal UI: reading the terminal failed.
    TerminalError(String),
    /// SIGINT, SIGTERM or SIGHUP.
    Signal,
}

/// The socket and the event channel every part of the client shares.
pub struct Client {
    connection: Server,
    pub server: SocketAddr,
    events: Receiver<Event>,
    /// For the front ends' own threads (standard input, the terminal).
    pub sender: Sender<Event>,
    pub session: Session,
    timeout: Duration,
    retries: u32,
    /// Lines received while joining, shown once the front end runs.
    pub backlog: Vec<Effect>,
}

impl Client {
    /// A client of the chat at `target`, as `nick` (not joined yet),
    /// pinging every `keepalive`.
    pub fn connect(target: &Target, nick: &str, keepalive: Duration) -> Result<Client> {
        // Connected: datagrams from any other address never reach us, and
        // ICMP port unreachable is reported.
        let connection = target.connect("chat service")?;
        let (sender, events) = mpsc::channel();
        spawn_receiver(connection.socket.try_clone()?, sender.clone());
        spawn_signals(sender.clone())?;
        Ok(Client {
            server: connection.address,
            connection,
            events,
            sender,
            session: Session::new(
                nick,
                keepalive,
                target.timeout,
                target.retries,
                Instant::now(),
            ),
            timeout: target.timeout,
            retries: target.retries,
            backlog: Vec::new(),
        })
    }

    /// Sends one line; errors are reported as notices (the keepalive
    /// tells whether the server is gone).
    fn send_line(&mut self, text: &str) -> Vec<Effect> {
        match self.connection.socket.send(text.as_bytes()) {
            Ok(_) => Vec::new(),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                self.session.refused();
                self.session.take_effects()
            }
            Err(e) => vec![Effect::Notice(format!(
                "cannot send to {}: {e}",
                self.server
            ))],
        }
    }

    /// Carries out the session's sends; returns what is left to show.
    pub fn pump(&mut self) -> Vec<Effect> {
        let mut shown = Vec::new();
        // Sends can produce more effects (refused): loop until done.
        loop {
            let effects = self.session.take_effects();
            if effects.is_empty() {
                break;
            }
            for effect in effects {
                match effect {
                    Effect::Send(line) => {
                        let more = self.send_line(&line);
                        shown.extend(more);
                    }
                    other => shown.push(other),
                }
            }
        }
        shown
    }

    /// Joins with `/nick` and moves to `--room`, with the usual patience.
    pub fn join(&mut self, nick: &str, room: Option<&str>) -> Result<()> {
        let join = Command::Nick(nick).to_string();
        if let Err(refusal) = self.request(&join, "/nick", |line| nick_verdict(line, nick))? {
            bail!("the chat at {} did not let us in: {refusal}", self.server);
        }
        if !self.session.joined {
            self.session.already_joined();
        }
        let Some(room) = room else {
            return Ok(());
        };
        let room = room.strip_prefix('#').unwrap_or(room);
        if room.eq_ignore_ascii_case(&self.session.room) {
            return Ok(());
        }
        let move_there = Command::Join(room).to_string();
        if let Err(refusal) = self.request(&move_there, "/join", room_verdict)? {
            self.quit_quietly();
            bail!("cannot join room {room}: {refusal}");
        }
        Ok(())
    }

    /// Sends `line` until `verdict` says something about a reply, `retries`
    /// times after `timeout` each. Other lines go to the backlog.
    fn request(
        &mut self,
        line: &str,
        what: &str,
        verdict: impl Fn(&ServerLine<'_>) -> Verdict,
    ) -> Result<std::result::Result<(), String>> {
        let server = self.server;
        let mut last_error = None;
        let said = ask(
            self.timeout,
            self.retries,
            &mut (&mut *self, &mut last_error),
            |(client, _), attempt, attempts| {
                if attempt > 1 {
                    log::info!(
                        "no answer from {server} yet; sending {what} again ({attempt}/{attempts})"
                    );
                }
                client.connection.send(line.as_bytes())
            },
            |(client, last_error), left| match client.events.recv_timeout(left) {
                Ok(Event::Datagram(payload)) => {
                    let said = ServerLine::parse(&payload).ok().and_then(|l| verdict(&l));
                    if let Some(Err(refusal)) = said {
                        return Ok(Heard::Answer(Err(refusal)));
                    }
                    client.session.on_datagram(&payload, Instant::now());
                    let shown = client.pump();
                    client.backlog.extend(shown);
                    Ok(match said {
                        Some(answer) => Heard::Answer(answer),
                        None => Heard::Other,
                    })
                }
                Ok(Event::Refused) => Err(client.connection.refused()),
                Ok(Event::NetError(e)) => {
                    **last_error = Some(e);
                    Ok(Heard::Other)
                }
                Ok(Event::Signal) => {
                    client.quit_quietly();
                    bail!("interrupted while joining");
                }
                Ok(_) => Ok(Heard::Other),
                Err(RecvTimeoutError::Timeout) => Ok(Heard::Nothing),
                Err(RecvTimeoutError::Disconnected) => bail!("internal: event channel closed"),
            },
        )?;
        if let Some(said) = said {
            return Ok(said);
        }
        let mut message = format!(
            "no answer from {} to {what} after {} attempt(s) of {} each: \
             is the chat service running there (udpkit serve, port {})?",
            self.server,
            self.retries.saturating_add(1),
            format_duration(self.timeout),
            self.server.port()
        );
        if let Some(error) = last_error {
            message.push_str(&format!(" (last error: {error})"));
        }
        bail!(message)
    }

    /// A `/quit` without waiting, for when joining fails half way.
    fn quit_quietly(&self) {
        let _ = self
            .connection
            .socket
            .send(Command::Quit.to_string().as_bytes());
    }

    /// Sends `/quit` and waits for `*** bye` (resending while the server
    /// answers); every line that comes meanwhile goes to `show`.
    pub fn leave(&mut self, show: &mut dyn FnMut(Effect)) {
        if !self.session.joined {
            self.session.leave();
            return;
        }
        let silent = self.session.silent;
        self.session.leave();
        let attempts = if silent {
            1
        } else {
            self.retries.saturating_add(1)
        };
        for attempt in 1..=attempts {
            for effect in self.send_line(&Command::Quit.to_string()) {
                show(effect);
            }
            if silent {
                // The server is not answering: do not keep the user waiting.
                return;
            }
            let deadline = Instant::now() + self.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.events.recv_timeout(left) {
                    Ok(Event::Datagram(payload)) => {
                        self.session.on_datagram(&payload, Instant::now());
                        let mut bye = false;
                        for effect in self.pump() {
                            bye |= effect == Effect::Bye;
                            show(effect);
                        }
                        if bye {
                            return;
                        }
                    }
                    Ok(Event::Signal) => return,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            if attempt < attempts {
                log::debug!("no bye yet; sending /quit again");
            }
        }
        show(Effect::Notice(format!(
            "left without a goodbye from {}",
            self.server
        )));
    }

    /// Waits for the next event until the session's next timer.
    pub fn next_event(&self) -> Option<Event> {
        match self.session.next_deadline() {
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                match self.events.recv_timeout(left) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
            None => self.events.recv().ok(),
        }
    }
}

/// Receives datagrams on its own thread (the socket blocks).
fn spawn_receiver(socket: UdpSocket, events: Sender<Event>) {
    thread::spawn(move || {
        let mut buffer = vec![0u8; 65_536];
        loop {
            let event = match socket.recv(&mut buffer) {
                Ok(len) => Event::Datagram(buffer[..len].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Event::Refused,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP errors (host unreachable, ...) pass: the next
                    // datagram may arrive. Never spin on a lasting error.
                    thread::sleep(Duration::from_millis(100));
                    Event::NetError(e.to_string())
                }
            };
            if events.send(event).is_err() {
                return;
            }
        }
    });
}

/// SIGINT, SIGTERM and SIGHUP become events: the client leaves cleanly.
fn spawn_signals(events: Sender<Event>) -> Result<()> {
    let signals = SignalPipe::on(&[SIGINT, SIGTERM, SIGHUP])?;
    thread::spawn(move || loop {
        for _ in 0..signals.wait() {
            if events.send(Event::Signal).is_err() {
                return;
            }
        }
    });
    Ok(())
}
