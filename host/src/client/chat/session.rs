//! The chat as the client sees it, as a state machine without I/O: who we
//! are, where, with whom, and whether the server still answers.
//!
//! Every input is a method call with the time, every output an [`Effect`],
//! so that the keepalive, the rejoin and the hidden `/who` are tested here
//! against lines the server's own code wrote, with no socket and no clock.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use udpkit::wire::chat::{same_name, Command, Refusal, ServerLine, LOBBY};

/// Biggest datagram the udpkit stack takes (no IP fragmentation).
pub const MAX_DATAGRAM: usize = udpkit::MAX_PAYLOAD;

/// How long after a membership change the hidden `/who` goes out, so that
/// a burst of changes costs one.
const WHO_DELAY: Duration = Duration::from_millis(300);

/// How long the server's echo of one of our lines may take before the
/// line is taken for lost (and said so, if the server echoes at all).
const ECHO_PATIENCE: Duration = Duration::from_secs(5);

/// Most of our lines waiting for their echo; older ones are forgotten.
const ECHOES_PENDING: usize = 16;

/// One of our lines, as the server will relay it, waiting for its echo.
#[derive(Debug, Clone)]
struct PendingEcho {
    line: String,
    sent: Instant,
    /// Shown when it was typed (the terminal UI): its echo is not shown.
    shown: bool,
}

/// Fewest time between two hidden `/who`, well inside the server's rate
/// limit (2 lines per second by default) so the user's own lines never pay.
const WHO_SPACING: Duration = Duration::from_secs(2);

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
    /// Our own message, shown by the terminal UI as it is sent; the
    /// server's echo of it is then not shown again.
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
pub enum Effect {
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
    /// Our messages and actions on their way, oldest first: the server
    /// sends each back (its echo-message), the mark that it was relayed.
    pending_echoes: VecDeque<PendingEcho>,
    /// The server has echoed one of our lines: one that does not come back
    /// is noticed (a server run with `--chat-echo off` echoes nothing).
    server_echoes: bool,
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
            pending_echoes: VecDeque::new(),
            server_echoes: false,
            effects: Vec::new(),
        }
    }

    /// What to do, in order; taken out.
    pub fn take_effects(&mut self) -> Vec<Effect> {
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

    /// Our first welcome was lost and a retry of `/nick` got "you are NICK
    /// already": we are in, and ask where (the answer is not shown).
    pub fn already_joined(&mut self) {
        self.joined = true;
        self.whos.automatic();
        self.send(Command::Who.to_string());
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
        consider(self.pending_echoes.front().map(|p| p.sent + ECHO_PATIENCE));
        next
    }

    /// Timers: the keepalive ping and its retries, the hidden `/who`, the
    /// rejoin's retries.
    pub fn tick(&mut self, now: Instant) {
        while let Some(pending) = self
            .pending_echoes
            .front()
            .filter(|p| now >= p.sent + ECHO_PATIENCE)
        {
            let line = pending.line.clone();
            self.pending_echoes.pop_front();
            if self.server_echoes {
                self.notice(format!(
                    "no echo from the server in {}: this line may be lost: {line}",
                    format_duration(ECHO_PATIENCE)
                ));
            }
        }
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
        if let Some(line) = echoed.filter(|_| self.joined) {
            let line = line.to_string();
            if echo {
                self.effects.push(Effect::Show(Kind::Own, line.clone()));
            }
            if self.pending_echoes.len() == ECHOES_PENDING {
                self.pending_echoes.pop_front();
            }
            self.pending_echoes.push_back(PendingEcho {
                line,
                sent: now,
                shown: echo,
            });
        }
        self.send(text);
        true
    }

    /// Whether `payload` is the echo of one of our pending lines; takes it
    /// off the list. Shown unless it was shown when typed.
    fn take_echo(&mut self, payload: &[u8]) -> Option<bool> {
        let text = std::str::from_utf8(payload).ok()?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let at = self.pending_echoes.iter().position(|p| p.line == text)?;
        self.server_echoes = true;
        self.pending_echoes.remove(at).map(|p| !p.shown)
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
        if let Ok(ServerLine::Message { nick, .. } | ServerLine::Action { nick, .. }) = &line {
            if same_name(nick, &self.nick) {
                // Shown already, as it was typed.
                if self.take_echo(payload) == Some(false) {
                    return;
                }
            }
        }
        // A line of ours refused (too fast, too long): no echo will come.
        if let Ok(ServerLine::SlowDown { .. } | ServerLine::Error(Refusal::MessageTooLong { .. })) =
            &line
        {
            self.pending_echoes.pop_back();
        }
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
                    if !same_name(&rejoin.room, &self.room) {
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
pub type Verdict = Option<std::result::Result<(), String>>;

/// An answer to our `/nick NICK`: a welcome, or "you are NICK already" (a
/// retry after our first welcome was lost), or an error.
pub fn nick_verdict(line: &ServerLine<'_>, nick: &str) -> Verdict {
    match *line {
        ServerLine::Welcome { .. } => Some(Ok(())),
        ServerLine::AlreadyNick(already) if already == nick => Some(Ok(())),
        ServerLine::Error(refusal) => Some(Err(refusal.to_string())),
        _ => None,
    }
}

/// An answer to our `/join ROOM`: a welcome, or "you are in ROOM already",
/// or an error.
pub fn room_verdict(line: &ServerLine<'_>) -> Verdict {
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

pub fn format_duration(d: Duration) -> String {
    // Whole milliseconds read better than humantime's nanoseconds.
    let d = Duration::from_millis(d.as_millis() as u64);
    humantime::format_duration(d).to_string()
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
    fn own_lines_are_shown_once_as_the_server_relays_them_and_quit_is_ours() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        for line in ["hello", "/me waves", "/ me  waves too"] {
            // The terminal UI shows the line as it is typed...
            assert!(s.user_line(line, t0, true));
            let effects = s.take_effects();
            assert_eq!(sends(&effects), [line]);
            let sent = server.hear(BOB, line);
            let relayed = String::from_utf8(only(&sent, ALICE)).unwrap();
            assert_eq!(shown(&effects), [relayed.trim_end()]);
            // ... and the server's echo of it, the same line, not again.
            assert_eq!(only(&sent, BOB), relayed.as_bytes());
            feed(&mut s, &to(&sent, BOB), t0);
            assert!(shown(&s.take_effects()).is_empty());
        }
        // Line mode shows nothing as it is typed: the echo, once.
        assert!(s.user_line("hello", t0, false));
        assert!(shown(&s.take_effects()).is_empty());
        feed(&mut s, &to(&server.hear(BOB, "hello"), BOB), t0);
        assert_eq!(shown(&s.take_effects()), ["[lobby] <bob> hello"]);
        // Someone else's line is shown, even one that reads like ours.
        feed(&mut s, &to(&server.hear(ALICE, "hello"), BOB), t0);
        assert_eq!(shown(&s.take_effects()), ["[lobby] <alice> hello"]);
        assert!(s.user_line("/who", t0, true));
        assert!(shown(&s.take_effects()).is_empty());
        assert!(!s.user_line("/quit", t0, false));
        assert!(s.take_effects().is_empty());
    }

    #[test]
    fn a_line_whose_echo_never_comes_is_noticed_once_the_server_is_known_to_echo() {
        let t0 = Instant::now();
        let (mut s, mut server) = joined(t0);
        // Before any echo: a lost line says nothing (the server may not
        // echo at all).
        assert!(s.user_line("lost early", t0, true));
        s.take_effects();
        s.tick(t0 + ECHO_PATIENCE);
        assert!(notices(&s.take_effects()).is_empty());
        // One echo seen; then a line that never comes back.
        assert!(s.user_line("hi", t0, true));
        feed(&mut s, &to(&server.hear(BOB, "hi"), BOB), t0);
        assert!(s.user_line("lost", t0 + SECOND, true));
        s.take_effects();
        assert_eq!(s.next_deadline(), Some(t0 + SECOND + ECHO_PATIENCE));
        s.tick(t0 + SECOND + ECHO_PATIENCE);
        assert_eq!(
            notices(&s.take_effects()),
            ["no echo from the server in 5s: this line may be lost: [lobby] <bob> lost"]
        );
        // A line the server refused (too fast) is not waited for.
        assert!(s.user_line("too fast", t0 + 2 * SECOND, true));
        feed(
            &mut s,
            &[emitted(&ServerLine::SlowDown { per_second: 2 })],
            t0,
        );
        s.take_effects();
        s.tick(t0 + 10 * SECOND);
        assert!(notices(&s.take_effects()).is_empty());
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
}
