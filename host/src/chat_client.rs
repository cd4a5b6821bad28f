//! `udpkit chat`: a full-duplex client for the chat service.
//!
//! One UDP socket, connected to the server so that datagrams from anyone
//! else are never seen. It joins with `/nick` (waiting `--timeout` per
//! attempt, `--retries` times, like the other clients), moves to `--room`,
//! and then runs one of two front ends over the same [`Session`]:
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

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use udpkit::wire::chat::{Command, Refusal, ServerLine, LOBBY};

use crate::client::Target;

/// What `udpkit chat` was asked to do.
pub struct Options {
    /// The server, and the patience of the join.
    pub target: Target,
    pub nick: String,
    /// A room to move to after joining (the lobby otherwise).
    pub room: Option<String>,
    /// How often to send the automatic `/ping`.
    pub keepalive: Duration,
    /// Plain lines even on a terminal.
    pub lines: bool,
}

/// Joins, runs the terminal UI or the line mode until the user leaves, and
/// sends `/quit`.
pub fn run(options: Options) -> Result<()> {
    let tui = !options.lines && io::stdin().is_terminal() && io::stdout().is_terminal();
    let mut client = Client::connect(&options)?;
    if tui {
        eprintln!(
            "udpkit chat: joining {} as {}...",
            client.server, options.nick
        );
    }
    client.join(&options)?;
    if tui {
        tui::run(client)
    } else {
        lines::run(client)
    }
}

/// Biggest datagram the udpkit stack takes (no IP fragmentation).
const MAX_DATAGRAM: usize = udpkit::MAX_PAYLOAD;

/// How long after a membership change the hidden `/who` goes out, so that
/// a burst of changes costs one.
const WHO_DELAY: Duration = Duration::from_millis(300);

/// Fewest time between two hidden `/who`, well inside the server's rate
/// limit (2 lines per second by default) so the user's own lines never pay.
const WHO_SPACING: Duration = Duration::from_secs(2);

/// Lines the terminal UI keeps.
const SCROLLBACK: usize = 2000;

/// Something for the main loop.
#[derive(Debug)]
enum Event {
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
    Signal(i32),
}

/// How a line from the server (or the client) is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `[room] <nick> text`
    Message,
    /// `[room] * nick action`
    Action,
    /// `[private] <nick> text`
    Private,
    /// `[private to nick] text`, the receipt of our own `/msg`
    PrivateSent,
    /// `*** ...`
    System,
    /// `*** error: ...`, `*** slow down ...`
    Error,
    /// Our own message, echoed by the terminal UI (the server does not
    /// send a member's messages back).
    Own,
    /// The client's own notices: server not answering, rejoining, ...
    Notice,
}

impl Kind {
    /// The kind of a line from the server, as `ServerLine::parse` read it;
    /// one it does not know (a later server's) is shown as a system line.
    fn of(line: &udpkit::wire::Result<ServerLine<'_>>) -> Kind {
        match line {
            Ok(ServerLine::Message { .. }) => Kind::Message,
            Ok(ServerLine::Action { .. }) => Kind::Action,
            Ok(ServerLine::Private { .. }) => Kind::Private,
            Ok(ServerLine::PrivateSent { .. }) => Kind::PrivateSent,
            Ok(line) if line.is_error() => Kind::Error,
            Ok(_) | Err(_) => Kind::System,
        }
    }
}

/// What the session wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Effect {
    /// A datagram to the server.
    Send(String),
    /// A line for the user (one per line of a datagram).
    Show(Kind, String),
    /// A notice of the client itself.
    Notice(String),
    /// The server said `*** bye`: we left.
    Bye,
}

/// Replies the client asks for itself (`*** pong`, `*** in ROOM with:`) and
/// hides, told apart from the ones the user asked for.
#[derive(Debug, Default)]
struct Expected {
    /// Hidden requests still unanswered.
    automatic: u32,
    /// When the user asked, oldest first.
    user: VecDeque<Instant>,
}

impl Expected {
    fn by_user(&mut self, now: Instant) {
        self.user.push_back(now);
        if self.user.len() > 64 {
            self.user.pop_front();
        }
    }

    fn automatic(&mut self) {
        self.automatic = self.automatic.saturating_add(1).min(64);
    }

    /// Whether a reply that just arrived is to be shown: the user's
    /// requests come first (one lost is forgotten after `stale`).
    fn show_reply(&mut self, now: Instant, stale: Duration) -> bool {
        while self
            .user
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) > stale)
        {
            self.user.pop_front();
        }
        if self.user.pop_front().is_some() {
            return true;
        }
        if self.automatic > 0 {
            self.automatic -= 1;
            return false;
        }
        true
    }
}

/// A keepalive `/ping` waiting for its `*** pong`.
#[derive(Debug, Clone, Copy)]
struct Probe {
    deadline: Instant,
    /// Pings sent for this probe so far.
    sent: u32,
    started: Instant,
}

/// Getting the membership back after the server dropped it.
#[derive(Debug, Clone)]
struct Rejoin {
    /// The room to go back to.
    room: String,
    deadline: Instant,
    /// `/nick` sent so far.
    sent: u32,
}

/// The chat as the client sees it: who we are, where, with whom, and
/// whether the server still answers. No I/O: every input is a method
/// call with the time, every output an [`Effect`].
#[derive(Debug)]
pub struct Session {
    pub nick: String,
    pub room: String,
    /// Members of our room, as the server last told (us included).
    pub members: Vec<String>,
    /// Whether the server counts us as a member.
    pub joined: bool,
    /// The server has not answered our pings lately.
    pub silent: bool,
    /// We sent `/quit`.
    pub leaving: bool,
    keepalive: Duration,
    timeout: Duration,
    retries: u32,
    next_ping: Instant,
    probe: Option<Probe>,
    pongs: Expected,
    whos: Expected,
    who_due: Option<Instant>,
    last_who: Option<Instant>,
    rejoin: Option<Rejoin>,
    refused_told: bool,
    /// The last receive error told, until a datagram arrives.
    error_told: Option<String>,
    effects: Vec<Effect>,
}

impl Session {
    pub fn new(
        nick: &str,
        keepalive: Duration,
        timeout: Duration,
        retries: u32,
        now: Instant,
    ) -> Session {
        Session {
            nick: nick.to_string(),
            room: LOBBY.to_string(),
            members: Vec::new(),
            joined: false,
            silent: false,
            leaving: false,
            keepalive: keepalive.max(Duration::from_millis(100)),
            timeout,
            retries,
            next_ping: now + keepalive,
            probe: None,
            pongs: Expected::default(),
            whos: Expected::default(),
            who_due: None,
            last_who: None,
            rejoin: None,
            refused_told: false,
            error_told: None,
            effects: Vec::new(),
        }
    }

    /// What to do, in order; taken out.
    fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// How long a request of the user's stays "waiting for its reply".
    fn stale(&self) -> Duration {
        (self.timeout * (self.retries + 1)).max(Duration::from_secs(5))
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Notice(text.into()));
    }

    fn send(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Send(text.into()));
    }

    /// The next time [`Session::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        if self.joined && !self.leaving {
            consider(Some(self.next_ping));
            consider(self.probe.map(|p| p.deadline));
            consider(self.who_due);
        }
        consider(self.rejoin.as_ref().map(|r| r.deadline));
        next
    }

    /// Timers: the keepalive ping and its retries, the hidden `/who`, the
    /// rejoin's retries.
    pub fn tick(&mut self, now: Instant) {
        if let Some(rejoin) = self.rejoin.as_mut() {
            if now >= rejoin.deadline {
                if rejoin.sent <= self.retries {
                    rejoin.sent += 1;
                    rejoin.deadline = now + self.timeout;
                    let line = Command::Nick(&self.nick).to_string();
                    self.send(line);
                } else {
                    // Not one answer: the server or the link is down for
                    // now (or its welcome was lost, the server counts us
                    // and will drop us again). Giving up would leave us
                    // out for good: try again at the keepalive's pace, as
                    // the pings do, until an answer comes.
                    let attempts = rejoin.sent;
                    rejoin.sent = 0;
                    rejoin.deadline = now + self.keepalive;
                    if !self.silent {
                        self.silent = true;
                        self.notice(format!(
                            "could not rejoin: no answer to {attempts} /nick; still trying every {}",
                            format_duration(self.keepalive)
                        ));
                    }
                }
            }
        }
        if !self.joined || self.leaving {
            return;
        }
        if let Some(mut probe) = self.probe {
            if now >= probe.deadline {
                if probe.sent <= self.retries {
                    probe.sent += 1;
                    probe.deadline = now + self.timeout;
                    self.probe = Some(probe);
                    self.pongs.automatic();
                    self.send(Command::Ping.to_string());
                } else {
                    self.probe = None;
                    if !self.silent {
                        self.silent = true;
                        let waited = now.saturating_duration_since(probe.started);
                        self.notice(format!(
                            "server not answering: no reply to {} ping(s) in {}; \
                             still trying every {}",
                            probe.sent,
                            format_duration(waited),
                            format_duration(self.keepalive)
                        ));
                    }
                }
            }
        }
        if now >= self.next_ping {
            self.next_ping = now + self.keepalive;
            if self.probe.is_none() {
                self.probe = Some(Probe {
                    deadline: now + self.timeout,
                    sent: 1,
                    started: now,
                });
                self.pongs.automatic();
                self.send(Command::Ping.to_string());
            }
        }
        if self.who_due.is_some_and(|due| now >= due) {
            self.who_due = None;
            self.last_who = Some(now);
            self.whos.automatic();
            self.send(Command::Who.to_string());
        }
    }

    /// A line the user typed, before it is sent. Returns false for `/quit`,
    /// which the caller handles by leaving.
    pub fn user_line(&mut self, text: &str, now: Instant, echo: bool) -> bool {
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return true;
        }
        // Read as the server reads it; echoed as the server would relay it.
        let (room, nick) = (self.room.as_str(), self.nick.as_str());
        let echoed = match Command::read(text) {
            Command::Quit => return false,
            Command::Ping => {
                self.pongs.by_user(now);
                None
            }
            Command::Who => {
                self.whos.by_user(now);
                None
            }
            Command::Me(text) if !text.is_empty() => Some(ServerLine::Action { room, nick, text }),
            Command::Message(text) => Some(ServerLine::Message { room, nick, text }),
            _ => None,
        };
        if let Some(line) = echoed.filter(|_| echo && self.joined) {
            let line = line.to_string();
            self.effects.push(Effect::Show(Kind::Own, line));
        }
        self.send(text);
        true
    }

    /// We are about to send `/quit`.
    pub fn leave(&mut self) {
        self.leaving = true;
        self.rejoin = None;
    }

    /// The server's host said nothing listens on the port.
    pub fn refused(&mut self) {
        if !self.refused_told {
            self.refused_told = true;
            self.notice("the server refused a datagram: no chat service listens there now");
        }
    }

    /// Receiving failed (an ICMP error, most likely): said once.
    pub fn net_error(&mut self, error: &str) {
        if self.error_told.as_deref() != Some(error) {
            self.error_told = Some(error.to_string());
            self.notice(format!("receiving: {error}"));
        }
    }

    /// A datagram from the server.
    pub fn on_datagram(&mut self, payload: &[u8], now: Instant) {
        self.refused_told = false;
        self.error_told = None;
        if self.silent {
            self.silent = false;
            self.notice("server is back");
        }
        let line = ServerLine::parse(payload);
        // The line is shown before what it makes us do (notices).
        let mark = self.effects.len();
        if let Ok(line) = &line {
            if !self.on_line(line, now) {
                return;
            }
        }
        let kind = Kind::of(&line);
        let shown: Vec<Effect> = printable(payload)
            .lines()
            .map(|line| Effect::Show(kind, line.to_string()))
            .collect();
        self.effects.splice(mark..mark, shown);
    }

    /// Learns from a line from the server; false to hide it.
    fn on_line(&mut self, line: &ServerLine<'_>, now: Instant) -> bool {
        let stale = self.stale();
        match *line {
            ServerLine::Pong => {
                self.probe = None;
                return self.pongs.show_reply(now, stale);
            }
            ServerLine::Who { room, members } => {
                self.room = room.to_string();
                self.members = members.iter().map(str::to_string).collect();
                return self.whos.show_reply(now, stale);
            }
            ServerLine::Welcome {
                nick,
                room,
                members,
            } => {
                self.nick = nick.to_string();
                self.room = room.to_string();
                self.members = members.iter().map(str::to_string).collect();
                self.joined = true;
                self.probe = None;
                if let Some(rejoin) = self.rejoin.take() {
                    if !rejoin.room.eq_ignore_ascii_case(&self.room) {
                        self.send(Command::Join(&rejoin.room).to_string());
                    }
                }
            }
            ServerLine::Bye(nick) if nick == self.nick || self.leaving => self.bye(),
            ServerLine::ByeStranger if self.leaving => self.bye(),
            // Idle too long (or the server restarted): our next line hears it.
            ServerLine::Error(Refusal::NotMember { .. })
                if self.joined || self.rejoin.is_some() =>
            {
                self.lost_membership(now, "the server no longer counts us as a member");
            }
            ServerLine::Error(_) if self.rejoin.is_some() => {
                self.rejoin = None;
                self.notice(format!(
                    "could not rejoin as {}; type /nick NAME to join again",
                    self.nick
                ));
            }
            ServerLine::Expired { names, .. } => {
                self.members.retain(|m| !names.iter().any(|n| n == m));
                self.schedule_who(now);
            }
            ServerLine::Quit { nick, .. } | ServerLine::Moved { nick, .. } => {
                self.members.retain(|m| m != nick);
                self.schedule_who(now);
            }
            ServerLine::Joined { nick, .. } => {
                if !self.members.iter().any(|m| m == nick) {
                    self.members.push(nick.to_string());
                }
                self.schedule_who(now);
            }
            ServerLine::Renamed { old, new } => {
                if old == self.nick {
                    self.nick = new.to_string();
                }
                for member in self.members.iter_mut() {
                    if member == old {
                        *member = new.to_string();
                    }
                }
                self.schedule_who(now);
            }
            _ => {}
        }
        true
    }

    /// The server said goodbye: we left.
    fn bye(&mut self) {
        self.joined = false;
        self.members.clear();
        self.effects.push(Effect::Bye);
    }

    fn schedule_who(&mut self, now: Instant) {
        if !self.joined || self.who_due.is_some() {
            return;
        }
        let mut due = now + WHO_DELAY;
        if let Some(last) = self.last_who {
            due = due.max(last + WHO_SPACING);
        }
        self.who_due = Some(due);
    }

    fn lost_membership(&mut self, now: Instant, why: &str) {
        let was_joined = self.joined;
        self.joined = false;
        self.members.clear();
        self.probe = None;
        self.who_due = None;
        if self.leaving {
            return;
        }
        if self.rejoin.is_some() {
            return;
        }
        if !was_joined {
            return;
        }
        self.notice(format!("{why}; rejoining as {}", self.nick));
        self.rejoin = Some(Rejoin {
            room: self.room.clone(),
            deadline: now + self.timeout,
            sent: 1,
        });
        let line = Command::Nick(&self.nick).to_string();
        self.send(line);
        self.next_ping = now + self.keepalive;
    }

    /// What the status line says about the connection.
    pub fn status(&self) -> Option<String> {
        if self.silent {
            Some("server not answering".into())
        } else if self.rejoin.is_some() {
            Some("rejoining...".into())
        } else if !self.joined {
            Some(format!("not in the chat: /nick {} joins", self.nick))
        } else {
            None
        }
    }
}

/// What an answer to a request of the client's own says: done, refused
/// (and why), or nothing about it (`None`).
type Verdict = Option<std::result::Result<(), String>>;

/// An answer to our `/nick NICK`: a welcome, or "you are NICK already" (a
/// retry after our first welcome was lost), or an error.
fn nick_verdict(line: &ServerLine<'_>, nick: &str) -> Verdict {
    match *line {
        ServerLine::Welcome { .. } => Some(Ok(())),
        ServerLine::AlreadyNick(already) if already == nick => Some(Ok(())),
        ServerLine::Error(refusal) => Some(Err(refusal.to_string())),
        _ => None,
    }
}

/// An answer to our `/join ROOM`: a welcome, or "you are in ROOM already",
/// or an error.
fn room_verdict(line: &ServerLine<'_>) -> Verdict {
    match *line {
        ServerLine::Welcome { .. } | ServerLine::AlreadyInRoom(_) => Some(Ok(())),
        ServerLine::Error(refusal) => Some(Err(refusal.to_string())),
        _ => None,
    }
}

/// The datagram as text a terminal can show: invalid UTF-8 replaced,
/// control characters (escape sequences) replaced by `?`, `\r` dropped.
fn printable(payload: &[u8]) -> String {
    String::from_utf8_lossy(payload)
        .chars()
        .filter(|c| *c != '\r')
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

fn format_duration(d: Duration) -> String {
    // Whole milliseconds read better than humantime's nanoseconds.
    let d = Duration::from_millis(d.as_millis() as u64);
    humantime::format_duration(d).to_string()
}

/// The socket and the event channel every part of the client shares.
struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    events: Receiver<Event>,
    sender: Sender<Event>,
    session: Session,
    timeout: Duration,
    retries: u32,
    /// Lines received while joining, shown once the front end runs.
    backlog: Vec<Effect>,
}

impl Client {
    fn connect(options: &Options) -> Result<Client> {
        let target = &options.target;
        // Connected: datagrams from any other address never reach us, and
        // ICMP port unreachable is reported.
        let (socket, server) = target.connect()?;
        let (sender, events) = mpsc::channel();
        spawn_receiver(socket.try_clone()?, sender.clone());
        spawn_signals(sender.clone())?;
        Ok(Client {
            socket,
            server,
            events,
            sender,
            session: Session::new(
                &options.nick,
                options.keepalive,
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
        match self.socket.send(text.as_bytes()) {
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
    fn pump(&mut self) -> Vec<Effect> {
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
    fn join(&mut self, options: &Options) -> Result<()> {
        let nick = options.nick.as_str();
        let join = Command::Nick(nick).to_string();
        if let Err(refusal) = self.request(&join, "/nick", |line| nick_verdict(line, nick))? {
            bail!("the chat at {} did not let us in: {refusal}", self.server);
        }
        if !self.session.joined {
            // Our first welcome was lost and a retry got "you are NICK
            // already": ask where we are.
            self.session.joined = true;
            self.session.whos.automatic();
            self.session.send(Command::Who.to_string());
        }
        let Some(room) = options.room.as_deref() else {
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
        let attempts = self.retries.saturating_add(1);
        let mut last_error = None;
        for attempt in 1..=attempts {
            if attempt > 1 {
                log::info!(
                    "no answer from {} yet; sending {what} again ({attempt}/{attempts})",
                    self.server
                );
            }
            match self.socket.send(line.as_bytes()) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => self.refused()?,
                Err(e) => return Err(e).with_context(|| format!("sending to {}", self.server)),
            }
            let deadline = Instant::now() + self.timeout;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match self.events.recv_timeout(left) {
                    Ok(Event::Datagram(payload)) => {
                        let said = ServerLine::parse(&payload).ok().and_then(|l| verdict(&l));
                        match said {
                            Some(Err(refusal)) => return Ok(Err(refusal)),
                            Some(Ok(())) => {
                                self.session.on_datagram(&payload, Instant::now());
                                let shown = self.pump();
                                self.backlog.extend(shown);
                                return Ok(Ok(()));
                            }
                            None => {
                                self.session.on_datagram(&payload, Instant::now());
                                let shown = self.pump();
                                self.backlog.extend(shown);
                            }
                        }
                    }
                    Ok(Event::Refused) => self.refused()?,
                    Ok(Event::NetError(e)) => last_error = Some(e),
                    Ok(Event::Signal(_)) => {
                        self.quit_quietly();
                        bail!("interrupted while joining");
                    }
                    Ok(_) => {}
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => bail!("internal: event channel closed"),
                }
            }
        }
        let mut message = format!(
            "no answer from {} to {what} after {attempts} attempt(s) of {} each: \
             is the chat service running there (udpkit serve, port {})?",
            self.server,
            format_duration(self.timeout),
            self.server.port()
        );
        if let Some(error) = last_error {
            message.push_str(&format!(" (last error: {error})"));
        }
        bail!(message)
    }

    fn refused(&self) -> Result<()> {
        bail!(
            "{} refused the datagram: no chat service listens on that port",
            self.server
        )
    }

    /// A `/quit` without waiting, for when joining fails half way.
    fn quit_quietly(&self) {
        let _ = self.socket.send(Command::Quit.to_string().as_bytes());
    }

    /// Sends `/quit` and waits for `*** bye` (resending while the server
    /// answers); every line that comes meanwhile goes to `show`.
    fn leave(&mut self, show: &mut dyn FnMut(Effect)) {
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
                    Ok(Event::Signal(_)) => return,
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
    fn next_event(&self) -> Option<Event> {
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
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing the signal handlers")?;
    thread::spawn(move || {
        for signal in signals.forever() {
            if events.send(Event::Signal(signal)).is_err() {
                return;
            }
        }
    });
    Ok(())
}

/// Plain lines: for scripts, pipes and dumb terminals.
mod lines {
    use super::*;

    pub(super) fn run(mut client: Client) -> Result<()> {
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
                Some(Event::Signal(signal)) => {
                    log::debug!("signal {signal}");
                    break "signal";
                }
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
}

/// The terminal UI.
mod tui {
    use super::*;
    use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
    use ratatui::layout::{Constraint, Layout, Rect};
    use ratatui::style::{Color, Modifier, Style};
    use ratatui::text::{Line, Span};
    use ratatui::widgets::{Block, Paragraph};
    use ratatui::{DefaultTerminal, Frame};
    use unicode_width::UnicodeWidthChar;

    /// Restores the terminal however the UI ends (ratatui's own panic hook
    /// covers panics).
    struct Restore;

    impl Drop for Restore {
        fn drop(&mut self) {
            ratatui::restore();
        }
    }

    pub(super) fn run(mut client: Client) -> Result<()> {
        let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
        let _restore = Restore;
        let mut app = App::new(client.server);
        for effect in std::mem::take(&mut client.backlog) {
            app.show(effect);
        }
        spawn_terminal(client.sender.clone());
        let mut failure = None;
        loop {
            for effect in client.pump() {
                app.show(effect);
            }
            if let Err(e) = draw(&mut terminal, &mut app, &client.session) {
                failure = Some(e);
                break;
            }
            let event = client.next_event();
            let now = Instant::now();
            match event {
                Some(Event::Datagram(payload)) => client.session.on_datagram(&payload, now),
                Some(Event::Refused) => client.session.refused(),
                Some(Event::NetError(e)) => client.session.net_error(&e),
                Some(Event::Terminal(event::Event::Key(key))) => match app.key(key) {
                    Action::None => {}
                    Action::Send(line) => {
                        if line.len() > MAX_DATAGRAM {
                            app.show(Effect::Notice(format!(
                                "not sent: {} bytes, {MAX_DATAGRAM} at most",
                                line.len()
                            )));
                        } else if !client.session.user_line(&line, now, true) {
                            break;
                        }
                    }
                    Action::Quit => break,
                    Action::Redraw => {
                        let _ = terminal.clear();
                    }
                },
                Some(Event::Terminal(_)) => {}
                Some(Event::TerminalError(e)) => {
                    app.show(Effect::Notice(format!("reading the terminal failed: {e}")));
                    break;
                }
                Some(Event::Signal(_)) => break,
                Some(Event::Input(_) | Event::InputEnd(_)) => {}
                None => {}
            }
            client.session.tick(Instant::now());
        }
        for effect in client.pump() {
            app.show(effect);
        }
        app.show(Effect::Notice("leaving...".into()));
        let _ = draw(&mut terminal, &mut app, &client.session);
        client.leave(&mut |effect| app.show(effect));
        let _ = draw(&mut terminal, &mut app, &client.session);
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn spawn_terminal(events: Sender<Event>) {
        thread::spawn(move || loop {
            let message = match event::read() {
                Ok(e) => Event::Terminal(e),
                Err(e) => {
                    let _ = events.send(Event::TerminalError(e.to_string()));
                    return;
                }
            };
            if events.send(message).is_err() {
                return;
            }
        });
    }

    enum Action {
        None,
        Send(String),
        Quit,
        Redraw,
    }

    struct Entry {
        time: String,
        kind: Kind,
        text: String,
    }

    struct App {
        server: SocketAddr,
        entries: VecDeque<Entry>,
        input: Vec<char>,
        /// Cursor position in `input`, in chars.
        cursor: usize,
        history: Vec<String>,
        /// Position while browsing the history with Up and Down.
        browsing: Option<usize>,
        /// Visual lines scrolled up from the bottom.
        scroll: usize,
        /// Height of the message pane at the last draw (for PageUp).
        page: usize,
    }

    impl App {
        fn new(server: SocketAddr) -> App {
            App {
                server,
                entries: VecDeque::new(),
                input: Vec::new(),
                cursor: 0,
                history: Vec::new(),
                browsing: None,
                scroll: 0,
                page: 10,
            }
        }

        fn show(&mut self, effect: Effect) {
            let (kind, text) = match effect {
                Effect::Show(kind, text) => (kind, text),
                Effect::Notice(text) => (Kind::Notice, format!("-!- {text}")),
                Effect::Send(_) | Effect::Bye => return,
            };
            if self.entries.len() >= SCROLLBACK {
                self.entries.pop_front();
            }
            self.entries.push_back(Entry {
                time: clock(),
                kind,
                text,
            });
        }

        fn key(&mut self, key: KeyEvent) -> Action {
            if key.kind == KeyEventKind::Release {
                return Action::None;
            }
            let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
            match key.code {
                KeyCode::Esc => return Action::Quit,
                KeyCode::Char('c') | KeyCode::Char('d') if ctrl => {
                    if key.code == KeyCode::Char('d') && !self.input.is_empty() {
                        if self.cursor < self.input.len() {
                            self.input.remove(self.cursor);
                        }
                        return Action::None;
                    }
                    return Action::Quit;
                }
                KeyCode::Char('l') if ctrl => return Action::Redraw,
                KeyCode::Char('a') if ctrl => self.cursor = 0,
                KeyCode::Char('e') if ctrl => self.cursor = self.input.len(),
                KeyCode::Char('u') if ctrl => {
                    self.input.drain(..self.cursor);
                    self.cursor = 0;
                }
                KeyCode::Char('k') if ctrl => self.input.truncate(self.cursor),
                KeyCode::Char('w') if ctrl => {
                    let mut start = self.cursor;
                    while start > 0 && self.input[start - 1] == ' ' {
                        start -= 1;
                    }
                    while start > 0 && self.input[start - 1] != ' ' {
                        start -= 1;
                    }
                    self.input.drain(start..self.cursor);
                    self.cursor = start;
                }
                KeyCode::Char(c) if !ctrl => {
                    self.input.insert(self.cursor, c);
                    self.cursor += 1;
                }
                KeyCode::Enter => {
                    let line: String = self.input.drain(..).collect();
                    self.cursor = 0;
                    self.browsing = None;
                    self.scroll = 0;
                    if line.trim().is_empty() {
                        return Action::None;
                    }
                    if self.history.last() != Some(&line) {
                        self.history.push(line.clone());
                        if self.history.len() > 200 {
                            self.history.remove(0);
                        }
                    }
                    return Action::Send(line);
                }
                KeyCode::Backspace if self.cursor > 0 => {
                    self.cursor -= 1;
                    self.input.remove(self.cursor);
                }
                KeyCode::Delete if self.cursor < self.input.len() => {
                    self.input.remove(self.cursor);
                }
                KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
                KeyCode::Right => self.cursor = (self.cursor + 1).min(self.input.len()),
                KeyCode::Home => self.cursor = 0,
                KeyCode::End => self.cursor = self.input.len(),
                KeyCode::Up => {
                    let next = match self.browsing {
                        None => self.history.len().checked_sub(1),
                        Some(i) => Some(i.saturating_sub(1)),
                    };
                    if let Some(i) = next {
                        self.browsing = Some(i);
                        self.input = self.history[i].chars().collect();
                        self.cursor = self.input.len();
                    }
                }
                KeyCode::Down => {
                    if let Some(i) = self.browsing {
                        if i + 1 < self.history.len() {
                            self.browsing = Some(i + 1);
                            self.input = self.history[i + 1].chars().collect();
                        } else {
                            self.browsing = None;
                            self.input.clear();
                        }
                        self.cursor = self.input.len();
                    }
                }
                KeyCode::PageUp => self.scroll = self.scroll.saturating_add(self.page.max(2) - 1),
                KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(self.page.max(2) - 1),
                _ => {}
            }
            Action::None
        }
    }

    fn style(kind: Kind) -> Style {
        match kind {
            Kind::Message => Style::default(),
            Kind::Action => Style::default().add_modifier(Modifier::ITALIC),
            Kind::Private | Kind::PrivateSent => Style::default()
                .fg(Color::Magenta)
                .add_modifier(Modifier::BOLD),
            Kind::System => Style::default().fg(Color::Cyan),
            Kind::Error => Style::default().fg(Color::Red),
            Kind::Own => Style::default().fg(Color::Green),
            Kind::Notice => Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        }
    }

    fn draw(terminal: &mut DefaultTerminal, app: &mut App, session: &Session) -> Result<()> {
        terminal
            .draw(|frame| render(frame, app, session))
            .context("drawing the terminal UI")?;
        Ok(())
    }

    fn render(frame: &mut Frame<'_>, app: &mut App, session: &Session) {
        let [top, middle, bottom] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(3),
        ])
        .areas(frame.area());
        // Title bar: who, where, and trouble.
        let mut title = vec![Span::styled(
            format!(
                " udpkit chat  {} @ {}  #{} ({}) ",
                session.nick,
                app.server,
                session.room,
                session.members.len()
            ),
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        )];
        if let Some(status) = session.status() {
            title.push(Span::styled(
                format!(" {status} "),
                Style::default()
                    .fg(Color::Black)
                    .bg(Color::Yellow)
                    .add_modifier(Modifier::BOLD),
            ));
        }
        frame.render_widget(Paragraph::new(Line::from(title)), top);

        let side_width = if middle.width >= 50 { 22 } else { 0 };
        let [pane, side] =
            Layout::horizontal([Constraint::Min(10), Constraint::Length(side_width)]).areas(middle);
        render_messages(frame, app, pane);
        if side_width > 0 {
            render_members(frame, session, side);
        }
        render_input(frame, app, bottom);
    }

    fn render_messages(frame: &mut Frame<'_>, app: &mut App, area: Rect) {
        let block = Block::bordered().title(" messages (PgUp/PgDn scroll) ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let width = usize::from(inner.width);
        let height = usize::from(inner.height);
        app.page = height;
        if width < 8 || height == 0 {
            return;
        }
        // Wrap from the newest entry backwards until the pane (and the
        // scrolled-up part) is full.
        let want = height + app.scroll;
        let mut visual: Vec<Line<'static>> = Vec::new();
        for entry in app.entries.iter().rev() {
            let mut rows = wrap(&entry.text, width - 6);
            let mut lines: Vec<Line<'static>> = Vec::with_capacity(rows.len());
            for (i, row) in rows.drain(..).enumerate() {
                let stamp = if i == 0 {
                    format!("{} ", entry.time)
                } else {
                    "      ".to_string()
                };
                lines.push(Line::from(vec![
                    Span::styled(stamp, Style::default().fg(Color::DarkGray)),
                    Span::styled(row, style(entry.kind)),
                ]));
            }
            for line in lines.into_iter().rev() {
                visual.push(line);
            }
            if visual.len() >= want {
                break;
            }
        }
        // `visual` runs newest first.
        app.scroll = app.scroll.min(visual.len().saturating_sub(height));
        let newest = app.scroll;
        let oldest = visual.len().min(newest + height);
        let shown: Vec<Line<'static>> = visual.drain(newest..oldest).rev().collect();
        frame.render_widget(Paragraph::new(shown), inner);
    }

    fn render_members(frame: &mut Frame<'_>, session: &Session, area: Rect) {
        let block =
            Block::bordered().title(format!(" #{} ({}) ", session.room, session.members.len()));
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let mut lines: Vec<Line<'_>> = Vec::new();
        for member in &session.members {
            if *member == session.nick {
                lines.push(Line::styled(
                    format!("{member} (you)"),
                    Style::default().add_modifier(Modifier::BOLD),
                ));
            } else {
                lines.push(Line::raw(member.clone()));
            }
        }
        frame.render_widget(Paragraph::new(lines), inner);
    }

    fn render_input(frame: &mut Frame<'_>, app: &App, area: Rect) {
        let block = Block::bordered().title(" Enter: send  Esc/Ctrl-C: quit  /help ");
        let inner = block.inner(area);
        frame.render_widget(block, area);
        if inner.width < 4 || inner.height == 0 {
            return;
        }
        let prompt = "> ";
        let room = usize::from(inner.width) - prompt.len() - 1;
        // Scroll horizontally so that the cursor stays visible.
        let mut start = 0;
        while width_of(&app.input[start..app.cursor]) > room {
            start += 1;
        }
        let mut shown = String::new();
        let mut used = 0;
        for c in &app.input[start..] {
            let w = c.width().unwrap_or(0);
            if used + w > room + 1 {
                break;
            }
            used += w;
            shown.push(*c);
        }
        frame.render_widget(Paragraph::new(format!("{prompt}{shown}")), inner);
        let x = inner.x + (prompt.len() + width_of(&app.input[start..app.cursor])) as u16;
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), inner.y));
    }

    fn width_of(chars: &[char]) -> usize {
        chars.iter().map(|c| c.width().unwrap_or(0)).sum()
    }

    /// Cuts `text` into rows at most `width` columns wide, at spaces when
    /// possible.
    pub(super) fn wrap(text: &str, width: usize) -> Vec<String> {
        let width = width.max(1);
        let mut rows = Vec::new();
        let mut row = String::new();
        let mut used = 0;
        // The last space in `row`: its byte index and the width before it.
        let mut last_space: Option<(usize, usize)> = None;
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width {
                if c == ' ' {
                    // Break here; the space goes.
                    rows.push(std::mem::take(&mut row));
                    used = 0;
                    last_space = None;
                    continue;
                }
                match last_space {
                    Some((at, before)) if at > 0 => {
                        let rest = row.split_off(at + 1);
                        row.truncate(at);
                        rows.push(std::mem::replace(&mut row, rest));
                        used -= before + 1;
                    }
                    _ => {
                        rows.push(std::mem::take(&mut row));
                        used = 0;
                    }
                }
                last_space = None;
            }
            if c == ' ' {
                last_space = Some((row.len(), used));
            }
            row.push(c);
            used += w;
        }
        rows.push(row);
        rows
    }

    /// `HH:MM`, local time.
    fn clock() -> String {
        // SAFETY: time(NULL) and localtime_r with valid pointers to locals;
        // localtime_r is thread safe.
        unsafe {
            let now = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            if libc::localtime_r(&now, &mut tm).is_null() {
                return "--:--".into();
            }
            format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udpkit::service::{Outbox, Request, SendError, Service};
    use udpkit::services::chat::{Chat, ChatLimits};
    use udpkit::smoltcp::time::{Duration as NetDuration, Instant as NetInstant};
    use udpkit::smoltcp::wire::{IpAddress, IpEndpoint};
    use udpkit::wire::chat::Names;

    const SECOND: Duration = Duration::from_secs(1);

    const ALICE: u16 = 1;
    const BOB: u16 = 2;
    const CAROL: u16 = 3;

    /// The chat service itself, in memory: every line these tests feed the
    /// session is one the server wrote, through the code that writes it on
    /// the wire.
    struct Server {
        chat: Chat<8, 4>,
        now: NetInstant,
    }

    /// What the server sent, to member number `n` (its port).
    type Sent = Vec<(u16, Vec<u8>)>;

    /// An outbox that keeps what is sent.
    #[derive(Default)]
    struct Kept(Vec<(IpEndpoint, Vec<u8>)>);

    impl Outbox for Kept {
        fn max_payload(&self) -> usize {
            MAX_DATAGRAM
        }

        fn reserve(
            &mut self,
            to: IpEndpoint,
            len: usize,
        ) -> std::result::Result<&mut [u8], SendError> {
            self.0.push((to, vec![0; len]));
            Ok(&mut self.0.last_mut().expect("just pushed").1)
        }
    }

    fn address(n: u16) -> IpEndpoint {
        IpEndpoint::new(IpAddress::v4(192, 168, 69, 100), 40_000 + n)
    }

    impl Server {
        fn new() -> Server {
            Server {
                chat: Chat::new(ChatLimits::default()),
                now: NetInstant::from_secs(1000),
            }
        }

        /// A line from member `n`, and what the server sent for it.
        fn hear(&mut self, n: u16, line: &str) -> Sent {
            let mut out = Kept::default();
            let request = Request {
                from: address(n),
                to: IpAddress::v4(192, 168, 69, 1),
                payload: line.as_bytes(),
                now: self.now,
                wall: None,
                clock: udpkit::ClockSource::LOCAL,
            };
            let _ = self.chat.on_datagram(&request, &mut out);
            Server::addressed(out)
        }

        fn advance(&mut self, secs: u64) {
            self.now += NetDuration::from_secs(secs);
        }

        /// The server's timers: idle members expire.
        fn tick(&mut self) -> Sent {
            let mut out = Kept::default();
            while self.chat.poll_at().is_some_and(|at| at <= self.now) {
                self.chat.on_tick(self.now, None, &mut out);
            }
            Server::addressed(out)
        }

        fn addressed(out: Kept) -> Sent {
            out.0
                .into_iter()
                .map(|(to, datagram)| (to.port - 40_000, datagram))
                .collect()
        }
    }

    /// The datagrams to member `n`.
    fn to(sent: &Sent, n: u16) -> Vec<Vec<u8>> {
        sent.iter()
            .filter(|(to, _)| *to == n)
            .map(|(_, datagram)| datagram.clone())
            .collect()
    }

    /// The one datagram to member `n`.
    fn only(sent: &Sent, n: u16) -> Vec<u8> {
        let mut datagrams = to(sent, n);
        assert_eq!(datagrams.len(), 1, "{sent:?}");
        datagrams.remove(0)
    }

    /// `line` as the server writes it.
    fn emitted(line: &ServerLine<'_>) -> Vec<u8> {
        let mut buffer = vec![0; line.buffer_len()];
        let len = line.emit(&mut buffer).unwrap();
        buffer.truncate(len);
        buffer
    }

    fn feed(s: &mut Session, datagrams: &[Vec<u8>], now: Instant) {
        for datagram in datagrams {
            s.on_datagram(datagram, now);
        }
    }

    /// bob's session, joined, with alice in the lobby.
    fn joined(t0: Instant) -> (Session, Server) {
        let mut server = Server::new();
        server.hear(ALICE, "/nick alice");
        let mut s = Session::new("bob", Duration::from_secs(30), SECOND, 2, t0);
        let welcome = server.hear(BOB, "/nick bob");
        feed(&mut s, &to(&welcome, BOB), t0);
        s.take_effects();
        assert!(s.joined);
        assert_eq!(s.members, ["alice", "bob"]);
        (s, server)
    }

    fn sends(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn shown(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Show(_, s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn notices(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Notice(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    fn kind(datagram: &[u8]) -> Kind {
        Kind::of(&ServerLine::parse(datagram))
    }

    #[test]
    fn lines_are_classified() {
        let t0 = Instant::now();
        let (_, mut server) = joined(t0);
        let said = server.hear(ALICE, "hi");
        assert_eq!(kind(&only(&said, BOB)), Kind::Message);
        let said = server.hear(ALICE, "* not an action");
        assert_eq!(kind(&only(&said, BOB)), Kind::Message);
        let said = server.hear(ALICE, "/me waves");
        assert_eq!(kind(&only(&said, BOB)), Kind::Action);
        let said = server.hear(ALICE, "/msg bob psst");
        assert_eq!(kind(&only(&said, BOB)), Kind::Private);
        assert_eq!(kind(&only(&said, ALICE)), Kind::PrivateSent);
        let said = server.hear(BOB, "/nick alice");
        assert_eq!(kind(&only(&said, BOB)), Kind::Error);
        let said = server.hear(ALICE, "/join games");
        assert_eq!(kind(&only(&said, BOB)), Kind::System);
        let flood: Vec<Vec<u8>> = (0..10)
            .flat_map(|_| to(&server.hear(BOB, "/ping"), BOB))
            .collect();
        let last = flood.last().unwrap();
        assert!(last.starts_with(b"*** slow down"));
        assert_eq!(kind(last), Kind::Error);
        // A line no server sends is shown plainly.
        assert_eq!(kind(b"*** forged line\n"), Kind::System);
        assert_eq!(kind(b"[lobby] <alice\n"), Kind::System);
    }

    #[test]
    fn the_member_list_follows_joins_leaves_and_renames_and_is_checked_with_a_hidden_who() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        let said = server.hear(CAROL, "/nick carol");
        feed(&mut s, &to(&said, BOB), t0);
        assert_eq!(shown(&s.take_effects()), ["*** carol joined lobby"]);
        assert_eq!(s.members, ["alice", "bob", "carol"]);
        feed(&mut s, &to(&server.hear(ALICE, "/join games"), BOB), t0);
        feed(&mut s, &to(&server.hear(CAROL, "/nick caro"), BOB), t0);
        assert_eq!(s.members, ["bob", "caro"]);
        feed(&mut s, &to(&server.hear(5, "/nick eve"), BOB), t0);
        feed(&mut s, &to(&server.hear(6, "/nick frank"), BOB), t0);
        assert_eq!(s.members, ["bob", "caro", "eve", "frank"]);
        // eve and frank go quiet; they leave together, in one line.
        server.advance(200);
        for n in [ALICE, BOB, CAROL] {
            server.hear(n, "/ping");
        }
        server.advance(100);
        let expired = only(&server.tick(), BOB);
        assert_eq!(expired, b"*** eve, frank left lobby (idle for 5 min)\n");
        feed(&mut s, &[expired], t0);
        assert_eq!(s.members, ["bob", "caro"]);
        s.take_effects();
        // One /who for the burst, after a short delay.
        s.tick(t0);
        assert!(sends(&s.take_effects()).is_empty());
        s.tick(t0 + WHO_DELAY);
        let effects = s.take_effects();
        assert_eq!(sends(&effects), ["/who"]);
        // Its answer is not shown, but updates the list (dave came unseen).
        server.hear(4, "/nick dave");
        let answer = server.hear(BOB, sends(&effects)[0]);
        feed(&mut s, &to(&answer, BOB), t0 + SECOND);
        assert!(shown(&s.take_effects()).is_empty());
        assert_eq!(s.members, ["bob", "caro", "dave"]);
        // The user's own /who is answered visibly.
        assert!(s.user_line("/who", t0 + SECOND, false));
        assert_eq!(sends(&s.take_effects()), ["/who"]);
        feed(&mut s, &to(&server.hear(BOB, "/who"), BOB), t0 + SECOND);
        assert_eq!(
            shown(&s.take_effects()),
            ["*** in lobby with: bob, caro, dave"]
        );
        // The next hidden /who waits for the spacing.
        feed(&mut s, &to(&server.hear(4, "/quit"), BOB), t0 + SECOND);
        assert_eq!(shown(&s.take_effects()), ["*** dave left lobby (quit)"]);
        assert_eq!(s.members, ["bob", "caro"]);
        s.tick(t0 + SECOND + WHO_DELAY);
        assert!(sends(&s.take_effects()).is_empty());
        s.tick(t0 + WHO_DELAY + WHO_SPACING);
        assert_eq!(sends(&s.take_effects()), ["/who"]);
    }

    #[test]
    fn a_cut_member_list_lists_the_names_it_has() {
        let t0 = Instant::now();
        let (mut s, _) = joined(t0);
        let names: Vec<String> = (0..64).map(|i| format!("member{i:010}")).collect();
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        let who = emitted(&ServerLine::Who {
            room: "lobby",
            members: Names::new(&list),
        });
        assert!(who.ends_with(b", ...\n"));
        s.user_line("/who", t0, false);
        feed(&mut s, &[who], t0);
        assert!(s.members.len() > 40 && s.members.len() < 64);
        assert_eq!(s.members, list[..s.members.len()]);
    }

    #[test]
    fn our_own_rename_changes_our_nick() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        feed(&mut s, &to(&server.hear(BOB, "/nick bobby"), BOB), t0);
        assert_eq!(s.nick, "bobby");
        assert_eq!(s.members, ["alice", "bobby"]);
    }

    #[test]
    fn keepalive_pings_are_hidden_and_a_silent_server_is_noticed_and_its_return_too() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        let pong = only(&server.hear(BOB, "/ping"), BOB);
        assert_eq!(pong, b"*** pong\n");
        assert_eq!(s.next_deadline(), Some(t0 + Duration::from_secs(30)));
        let t1 = t0 + Duration::from_secs(30);
        s.tick(t1);
        assert_eq!(sends(&s.take_effects()), ["/ping"]);
        s.on_datagram(&pong, t1);
        assert!(s.take_effects().is_empty(), "automatic pong hidden");
        // The user's own ping is answered visibly.
        s.user_line("/ping", t1, false);
        s.take_effects();
        s.on_datagram(&pong, t1);
        assert_eq!(shown(&s.take_effects()), ["*** pong"]);
        // Next ping: no pong, two retries after 1 s each, then the notice.
        let t2 = t1 + Duration::from_secs(30);
        s.tick(t2);
        assert_eq!(sends(&s.take_effects()), ["/ping"]);
        s.tick(t2 + SECOND);
        assert_eq!(sends(&s.take_effects()), ["/ping"]);
        s.tick(t2 + 2 * SECOND);
        assert_eq!(sends(&s.take_effects()), ["/ping"]);
        s.tick(t2 + 3 * SECOND);
        let effects = s.take_effects();
        assert!(sends(&effects).is_empty());
        assert!(
            notices(&effects)[0].starts_with("server not answering: no reply to 3 ping(s) in 3s")
        );
        assert!(s.silent);
        // It is said once.
        s.tick(t2 + Duration::from_secs(30));
        s.tick(t2 + Duration::from_secs(34));
        assert!(notices(&s.take_effects()).is_empty());
        // Anything from the server: back.
        s.on_datagram(&pong, t2 + Duration::from_secs(35));
        let effects = s.take_effects();
        assert_eq!(notices(&effects), ["server is back"]);
        assert!(
            shown(&effects).is_empty(),
            "late automatic pong still hidden"
        );
        assert!(!s.silent);
    }

    /// bob in `games`, then dropped by the server for being idle (which
    /// the server tells bob's room, not bob).
    fn expired_in_games(t0: Instant) -> (Session, Server) {
        let (mut s, mut server) = joined(t0);
        feed(&mut s, &to(&server.hear(BOB, "/join games"), BOB), t0);
        assert_eq!(s.room, "games");
        s.take_effects();
        server.advance(200);
        server.hear(ALICE, "/ping");
        server.advance(100);
        assert!(to(&server.tick(), BOB).is_empty());
        (s, server)
    }

    #[test]
    fn an_expired_membership_is_rejoined_in_the_same_room() {
        let t0 = Instant::now();
        let (mut s, mut server) = expired_in_games(t0);
        // The keepalive tells the server we are here; it says we are not.
        let t1 = t0 + Duration::from_secs(30);
        s.tick(t1);
        let ping = s.take_effects();
        let answer = only(&server.hear(BOB, sends(&ping)[0]), BOB);
        assert!(answer.starts_with(b"*** error: you are not in the chat"));
        s.on_datagram(&answer, t1);
        let effects = s.take_effects();
        assert!(!s.joined);
        assert_eq!(sends(&effects), ["/nick bob"]);
        assert!(notices(&effects)[0].contains("rejoining as bob"));
        // The server welcomes us in the lobby; we go back to games.
        let welcome = server.hear(BOB, sends(&effects)[0]);
        feed(&mut s, &to(&welcome, BOB), t1);
        let effects = s.take_effects();
        assert!(s.joined);
        assert_eq!(sends(&effects), ["/join games"]);
        feed(&mut s, &to(&server.hear(BOB, sends(&effects)[0]), BOB), t1);
        assert_eq!(s.room, "games");
        assert_eq!(s.members, ["bob"]);
    }

    #[test]
    fn a_rejoin_that_fails_says_how_to_join() {
        let t0 = Instant::now();
        let (mut s, mut server) = expired_in_games(t0);
        // Someone else is bob now.
        server.hear(CAROL, "/nick bob");
        s.tick(t0 + Duration::from_secs(30));
        let ping = s.take_effects();
        feed(&mut s, &to(&server.hear(BOB, sends(&ping)[0]), BOB), t0);
        let rejoin = s.take_effects();
        assert_eq!(sends(&rejoin), ["/nick bob"]);
        feed(&mut s, &to(&server.hear(BOB, sends(&rejoin)[0]), BOB), t0);
        let effects = s.take_effects();
        assert!(notices(&effects)[0].contains("type /nick NAME"));
        assert_eq!(
            shown(&effects),
            ["*** error: nick bob is taken, pick another"]
        );
        // Not joined: no keepalive.
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn a_rejoin_without_answer_keeps_trying_at_the_keepalives_pace() {
        let t0 = Instant::now();
        let (mut s, mut server) = expired_in_games(t0);
        let not_member = only(&server.hear(BOB, "/ping"), BOB);
        s.on_datagram(&not_member, t0);
        s.take_effects();
        for i in 1..=2 {
            s.tick(t0 + i * SECOND);
            assert_eq!(sends(&s.take_effects()), ["/nick bob"]);
        }
        let t1 = t0 + 3 * SECOND;
        s.tick(t1);
        let effects = s.take_effects();
        assert!(sends(&effects).is_empty());
        assert_eq!(
            notices(&effects),
            ["could not rejoin: no answer to 3 /nick; still trying every 30s"]
        );
        assert!(s.silent);
        // The next round, a keepalive later: the /nick and its retries,
        // with the notice said once.
        let t2 = t1 + Duration::from_secs(30);
        assert_eq!(s.next_deadline(), Some(t2));
        for i in 0..3 {
            s.tick(t2 + i * SECOND);
            assert_eq!(sends(&s.take_effects()), ["/nick bob"]);
        }
        s.tick(t2 + 3 * SECOND);
        assert!(s.take_effects().is_empty());
        // An answer: back, and a member again.
        s.on_datagram(
            b"*** welcome bob, you are in lobby with: bob\n",
            t2 + 4 * SECOND,
        );
        let effects = s.take_effects();
        assert_eq!(notices(&effects), ["server is back"]);
        assert!(s.joined && !s.silent);
    }

    #[test]
    fn own_lines_are_echoed_as_the_server_relays_them_only_when_asked_and_quit_is_ours() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        for line in ["hello", "/me waves", "/ me  waves too"] {
            assert!(s.user_line(line, t0, true));
            let effects = s.take_effects();
            assert_eq!(sends(&effects), [line]);
            let relayed = only(&server.hear(BOB, line), ALICE);
            let relayed = String::from_utf8(relayed).unwrap();
            assert_eq!(shown(&effects), [relayed.trim_end()]);
        }
        assert!(s.user_line("hello", t0, false));
        assert!(shown(&s.take_effects()).is_empty());
        assert!(s.user_line("/who", t0, true));
        assert!(shown(&s.take_effects()).is_empty());
        assert!(!s.user_line("/quit", t0, false));
        assert!(s.take_effects().is_empty());
    }

    #[test]
    fn bye_ends_the_membership() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        s.leave();
        feed(&mut s, &to(&server.hear(BOB, "/quit"), BOB), t0);
        assert!(s.take_effects().contains(&Effect::Bye));
        assert!(!s.joined);
        // A bye whose first answer was lost: the server no longer knows us.
        let (mut s, mut server) = joined(t0);
        server.hear(BOB, "/quit");
        s.leave();
        let again = only(&server.hear(BOB, "/quit"), BOB);
        assert_eq!(again, b"*** bye (you were not in the chat)\n");
        s.on_datagram(&again, t0);
        assert!(s.take_effects().contains(&Effect::Bye));
    }

    #[test]
    fn answers_to_our_own_nick_and_join_are_told_apart() {
        let t0 = Instant::now();
        let (_, mut server) = joined(t0);
        let parse =
            |d: &[u8]| ServerLine::parse(d).map(|l| (nick_verdict(&l, "bob"), room_verdict(&l)));
        let taken = only(&server.hear(CAROL, "/nick bob"), CAROL);
        assert_eq!(
            parse(&taken),
            Ok((
                Some(Err("nick bob is taken, pick another".into())),
                Some(Err("nick bob is taken, pick another".into()))
            ))
        );
        let welcome = only(&server.hear(CAROL, "/nick carol"), CAROL);
        assert_eq!(parse(&welcome), Ok((Some(Ok(())), Some(Ok(())))));
        let again = only(&server.hear(BOB, "/nick bob"), BOB);
        assert_eq!(again, b"*** you are bob already\n");
        assert_eq!(parse(&again), Ok((Some(Ok(())), None)));
        let carol_again = only(&server.hear(CAROL, "/nick carol"), CAROL);
        assert_eq!(parse(&carol_again), Ok((None, None)), "not our nick");
        let here = only(&server.hear(BOB, "/join lobby"), BOB);
        assert_eq!(parse(&here), Ok((None, Some(Ok(())))));
        let reserved = only(&server.hear(BOB, "/join private"), BOB);
        assert!(matches!(parse(&reserved), Ok((Some(Err(_)), Some(Err(_))))));
        let pong = only(&server.hear(BOB, "/ping"), BOB);
        assert_eq!(parse(&pong), Ok((None, None)));
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        assert_eq!(printable(b"a\x1b[2Jb\r\n"), "a?[2Jb\n");
        assert_eq!(printable(b"caf\xe9"), "caf\u{fffd}");
    }

    #[test]
    fn a_multi_line_datagram_is_shown_line_by_line() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        let help = only(&server.hear(BOB, "/help"), BOB);
        s.on_datagram(&help, t0);
        let effects = s.take_effects();
        let text = String::from_utf8(help).unwrap();
        assert!(text.lines().count() > 5);
        let expected: Vec<Effect> = text
            .lines()
            .map(|line| Effect::Show(Kind::System, line.into()))
            .collect();
        assert_eq!(effects, expected);
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_long_words() {
        assert_eq!(tui::wrap("hello there world", 11), ["hello there", "world"]);
        assert_eq!(tui::wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(tui::wrap("", 4), [""]);
    }
}
