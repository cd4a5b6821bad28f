//! Chat: a multi-user, full-duplex text chat over UDP.
//!
//! One command or message per datagram, UTF-8 text, so `nc -u` is a complete
//! client. A member is a source address and port; it joins with
//! `/nick NAME` (landing in room `lobby`), and everything it sends that does
//! not start with `/` is pushed at once to every other member of its room:
//!
//! ```text
//! [lobby] <alice> hello there          a message
//! [lobby] * alice waves                /me waves
//! [private] <alice> psst               /msg bob psst, as bob sees it
//! *** bob joined lobby                 a system line: joins, leaves, errors
//! ```
//!
//! Commands: `/nick NAME`, `/join ROOM`, `/leave`, `/who`, `/rooms`,
//! `/msg NAME TEXT`, `/me ACTION`, `/ping`, `/quit`, `/help`.
//!
//! Every line either way is defined once, in
//! [`wire::chat`]: the service reads each datagram as a
//! [`Command`] and writes each line as a [`ServerLine`], and `udpkit chat`
//! reads those lines with the same code.
//!
//! # Limits
//!
//! Every limit is fixed when the service is built ([`ChatLimits`], within the
//! compile-time capacities `MEMBERS` and `ROOMS`) and answered with a line
//! starting `*** error:` rather than silence: server full, too many rooms,
//! nick or room name too long or with other characters than
//! `A-Z a-z 0-9 _ -`, the room name `private` (reserved: `[private]` marks a
//! private message), nick taken, message too long, not UTF-8, unknown
//! command, not joined yet. Members idle for [`ChatLimits::idle_timeout`]
//! expire and their room is told.
//!
//! # Abuse
//!
//! - Nothing is relayed for a source that has not joined, so a forged source
//!   address cannot make the service send to anyone but the forged address
//!   itself, and then one line per datagram.
//! - Each member has a token bucket ([`ChatLimits::burst`] datagrams, refilled
//!   at [`ChatLimits::per_second`]); over it, a member gets one
//!   `*** slow down` line and nothing is relayed until tokens come back.
//! - Lines to non-members (errors, "server full") share one more bucket, so a
//!   flood from many forged sources gets a bounded number of answers.
//! - A non-member has not proven its address, so an answer to it (the
//!   welcome of a join included) is no larger than its request unless a
//!   small byte budget shared by all non-members covers the excess
//!   ([`ExcessBudget`]: 1 KiB a second, 16 KiB at once); when the
//!   budget is dry the answer is not sent, and a `/nick` does not join,
//!   until the budget is back. `/help` before
//!   joining is one short line pointing to `/nick`; the full help is for
//!   members. Whatever the number of forged sources, the chat sends them no
//!   more bytes than they send it, plus that budget: it is no amplifier.
//!   (A forged join that does get in is a member, and its answers are
//!   bounded by the member's rate limit, not by its requests' size.)
//!
//! What a forged source can still do: join under the victim's address and
//! port, so that the victim receives its room's traffic (bounded by the other
//! members' rate limits) until it expires, and speak in the victim's name.
//! UDP has no handshake to prevent that; do not run chat where that matters.
//!
//! # Fan-out
//!
//! One datagram makes at most one line to every member ([`Chat::burst`]); the
//! stack checks at startup that the socket's transmit queue holds that much
//! and drains the queue before serving a request that might not fit, so no
//! line is lost to our own buffers. A send that fails anyway is counted.
//!
//! The longest line follows from the limits ([`ChatLimits::longest_line`]:
//! a welcome to a room of every member, or the help), as does the most one
//! datagram or timer sends ([`ChatLimits::burst_bytes`]: usually the
//! longest message to every member, [`RELAY_OVERHEAD`] bytes more each):
//! a board sizes its transmit queue with them, and the buffer of the one
//! line on the stack at a time (`Chat`'s `LINE`, else [`LINE_CAP`]). The
//! tests drive every line's longest form and check that both bounds hold
//! and are reached.

use smoltcp::time::{Duration, Instant};
use smoltcp::wire::IpEndpoint;

use crate::service::{Burst, Discard, Outbox, Request, Service, Uses};
use crate::services::ExcessBudget;
use crate::wire;
use crate::wire::chat::{
    cut, same_name, Command, NameProblem, Names, Refusal, RoomCounts, ServerLine, ECHO_CAP, PRIVATE,
};

/// The limits of the lines themselves, which [`ChatLimits`] stay within.
pub use crate::wire::chat::{LINE_CAP, LOBBY, NAME_CAP, NAME_CHARS};

/// A port of our own choosing: "5 5 5 5" is easy to type into `nc -u`.
pub const DEFAULT_PORT: u16 = 5555;

/// The name of the service in logs, counters, the catalog and discovery.
pub const NAME: &str = "chat";

/// A member silent this long may be gone: its lines take the stack's detour
/// (see [`Outbox::reserve_detour`]). smoltcp forgets a neighbor's MAC
/// address after 60 s; a line to a host that is gone would then wait for an
/// ARP answer that never comes, ahead of everyone else's lines.
const QUIET_AFTER: Duration = Duration::from_secs(45);

/// How much room a relayed line needs beyond its text, at most:
/// `[room] <nick> ` and `\n` with names of [`NAME_CAP`] bytes (`[room] *
/// nick ` is as long, the private forms shorter).
pub const RELAY_OVERHEAD: usize = "[] <> \n".len() + NAME_CAP + NAME_CAP;

/// The limits of one chat service, fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Members at once (at most the `MEMBERS` capacity).
    pub max_members: usize,
    /// Rooms at once, the lobby included (at most the `ROOMS` capacity).
    pub max_rooms: usize,
    /// Longest nick, in characters (at most [`NAME_CHARS`]; never more
    /// than [`NAME_CAP`] bytes).
    pub max_nick: usize,
    /// Longest message text, in bytes.
    pub max_message: usize,
    /// A member silent this long is dropped.
    pub idle_timeout: Duration,
    /// Datagrams a member may send in a burst.
    pub burst: u32,
    /// Datagrams per second a member may send on average.
    pub per_second: u32,
    /// Lines per second sent to sources that are not members (errors).
    pub strangers_per_second: u32,
    /// The sender of a message or `/me` gets it back too, as the room sees
    /// it (IRCv3's echo-message): a delivery mark over a lossy transport,
    /// and an answer for the clients of socket tutorials, which read one
    /// line for each line they send.
    pub echo_to_sender: bool,
}

impl Default for ChatLimits {
    fn default() -> ChatLimits {
        ChatLimits::DEFAULT
    }
}

/// Counters of the chat service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatStats {
    /// Messages (and `/me`, `/msg`) accepted from members.
    pub messages: u64,
    /// Lines delivered to other members (one message to three is three).
    pub relayed: u64,
    /// Messages and actions sent back to their sender
    /// ([`ChatLimits::echo_to_sender`]).
    pub echoed: u64,
    /// Empty lines answered with `*** say something, or /help`.
    pub empty_lines: u64,
    /// Sources that joined with `/nick`.
    pub joined: u64,
    /// Members that left with `/quit`.
    pub quit: u64,
    /// Members dropped for being idle.
    pub expired: u64,
    /// Refused: member table full.
    pub full: u64,
    /// Refused: over a member's rate limit.
    pub rate_limited: u64,
    /// Not answered: over the strangers' rate limit.
    pub strangers_silenced: u64,
    /// Not answered (and not joined, for a `/nick`): a stranger's answer
    /// larger than its request, and the byte budget for the excess spent.
    pub strangers_over_budget: u64,
    /// Refused: bad input (not UTF-8, too long, bad name, unknown command, not joined).
    pub rejected: u64,
    /// Lines that could not be queued.
    pub send_failed: u64,
}

type Name = heapless::String<NAME_CAP>;

/// A token bucket, in thousandths of a token so refills need no division
/// per millisecond.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    milli_tokens: u64,
    refilled_at: Instant,
    /// Whether this dry spell was already answered with "slow down".
    warned: bool,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            milli_tokens: u64::from(burst) * 1000,
            refilled_at: now,
            warned: false,
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self, now: Instant, burst: u32, per_second: u32) -> bool {
        let elapsed_ms = crate::clock::total_millis(now - self.refilled_at);
        if now > self.refilled_at {
            self.refilled_at = now;
        }
        let refill = elapsed_ms.saturating_mul(u64::from(per_second));
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(refill)
            .min(u64::from(burst) * 1000);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            self.warned = false;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct Member {
    peer: IpEndpoint,
    nick: Name,
    /// Index into the room table.
    room: usize,
    last_seen: Instant,
    bucket: Bucket,
}

/// The chat service, with room for `MEMBERS` members and `ROOMS` rooms, and
/// lines of up to `LINE` bytes: [`LINE_CAP`], or less when the limits
/// allow ([`ChatLimits::longest_line`]; the one line a chat holds at a
/// time is on the stack). `Chat::new` does not build with a `LINE` too
/// short for the capacities' lists, and limits messages to what fits it.
#[derive(Debug)]
pub struct Chat<const MEMBERS: usize = 32, const ROOMS: usize = 8, const LINE: usize = LINE_CAP> {
    limits: ChatLimits,
    members: heapless::Vec<Member, MEMBERS>,
    /// Room names by index; index 0 is the lobby, always present. A room
    /// other than the lobby exists while someone is in it.
    rooms: [Option<Name>; ROOMS],
    strangers: Bucket,
    /// What answers to strangers may exceed their requests by.
    excess: ExcessBudget,
    stats: ChatStats,
    /// [`ChatLimits::burst_bytes`] of `limits`: reckoned where the limits
    /// are made (a board's, constants, at build time), not at each call.
    burst_bytes: usize,
    /// The time of the datagram or timer being handled.
    now: Instant,
}

impl<const MEMBERS: usize, const ROOMS: usize, const LINE: usize> Chat<MEMBERS, ROOMS, LINE> {
    /// Every line but a message's fits `LINE` bytes, whatever the limits
    /// within the capacities (the longest nicks, idle timeout and rate);
    /// messages are limited to what fits.
    const LINE_HOLDS_EVERY_LIST: () = assert!(
        LINE <= LINE_CAP
            && LINE > RELAY_OVERHEAD
            && ChatLimits {
                max_members: MEMBERS,
                max_rooms: ROOMS,
                max_nick: NAME_CHARS,
                max_message: LINE.saturating_sub(RELAY_OVERHEAD),
                idle_timeout: Duration::from_micros(u64::MAX),
                per_second: u32::MAX,
                ..ChatLimits::DEFAULT
            }
            .longest_line()
                <= LINE,
        "a chat's LINE is too short for its lists"
    );

    /// A chat with `limits`, each clamped to what the capacities allow.
    pub fn new(limits: ChatLimits) -> Self {
        let () = Self::LINE_HOLDS_EVERY_LIST;
        let limits = ChatLimits {
            max_members: limits.max_members.clamp(1, MEMBERS.max(1)),
            max_rooms: limits.max_rooms.clamp(1, ROOMS.max(1)),
            max_nick: limits.max_nick.clamp(1, NAME_CHARS),
            max_message: limits.max_message.clamp(1, LINE - RELAY_OVERHEAD),
            ..limits
        };
        let mut rooms = core::array::from_fn(|_| None);
        if let Some(lobby) = rooms.first_mut() {
            *lobby = Some(name(LOBBY));
        }
        Chat {
            limits,
            members: heapless::Vec::new(),
            rooms,
            strangers: Bucket::full(limits.strangers_per_second, Instant::ZERO),
            excess: ExcessBudget::new(),
            stats: ChatStats::default(),
            burst_bytes: limits.burst_bytes(),
            now: Instant::ZERO,
        }
    }

    /// The limits in force, after clamping.
    pub fn limits(&self) -> &ChatLimits {
        &self.limits
    }

    /// The counters so far.
    pub fn stats(&self) -> &ChatStats {
        &self.stats
    }

    /// Members now.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// Rooms now, the lobby included.
    pub fn room_count(&self) -> usize {
        self.rooms.iter().flatten().count()
    }

    fn member_index(&self, peer: IpEndpoint) -> Option<usize> {
        self.members.iter().position(|m| m.peer == peer)
    }

    fn room_name(&self, room: usize) -> &str {
        match self.rooms.get(room) {
            Some(Some(name)) => name.as_str(),
            _ => LOBBY,
        }
    }

    fn room_size(&self, room: usize) -> usize {
        self.members.iter().filter(|m| m.room == room).count()
    }

    /// The nicks of the members of `room`, in the member table's order.
    fn nicks_in(&self, room: usize) -> heapless::Vec<&str, MEMBERS> {
        let mut nicks = heapless::Vec::new();
        for member in self.members.iter().filter(|m| m.room == room) {
            // No more members than MEMBERS: there is room for each.
            let _ = nicks.push(member.nick.as_str());
        }
        nicks
    }

    /// Sends `line` to `to`, counting a failure.
    fn send(&mut self, out: &mut dyn Outbox, to: IpEndpoint, line: &Emitted<LINE>) {
        if line.is_empty() || out.send(to, line.as_bytes()).is_err() {
            self.stats.send_failed += 1;
            log_warn!("chat: could not queue a line to {to}");
        }
    }

    /// Writes `line` and sends it to `to`. Never inlined, as the other
    /// functions that hold an [`Emitted`]: its kilobyte is on the stack
    /// only while it is sent, not in the frames of the callers (which may
    /// hold another; the stack's high-water mark is RAM a board needs).
    #[inline(never)]
    fn answer(&mut self, out: &mut dyn Outbox, to: IpEndpoint, line: &ServerLine<'_>) {
        let mut written = Emitted::<LINE>::EMPTY;
        written.write(line);
        self.send(out, to, &written);
    }

    /// Writes `line` and sends it to every member of `room` except `except`.
    #[inline(never)]
    fn tell_room_line(
        &mut self,
        out: &mut dyn Outbox,
        room: usize,
        except: IpEndpoint,
        line: &ServerLine<'_>,
    ) {
        let mut written = Emitted::<LINE>::EMPTY;
        written.write(line);
        self.tell_room(out, room, except, &written);
    }

    /// Writes `line` and sends it to every member of `room`, `sender`
    /// included.
    #[inline(never)]
    fn tell_room_and_sender(
        &mut self,
        out: &mut dyn Outbox,
        room: usize,
        sender: IpEndpoint,
        line: &ServerLine<'_>,
    ) {
        let mut written = Emitted::<LINE>::EMPTY;
        written.write(line);
        self.tell_room(out, room, sender, &written);
        self.send(out, sender, &written);
    }

    /// Writes `line` and sends it to a member that did not send it (see
    /// [`Chat::send_to_member`]).
    #[inline(never)]
    fn tell_member_line(
        &mut self,
        out: &mut dyn Outbox,
        to: IpEndpoint,
        last_seen: Instant,
        line: &ServerLine<'_>,
    ) {
        let mut written = Emitted::<LINE>::EMPTY;
        written.write(line);
        self.send_to_member(out, to, last_seen, &written);
    }

    /// Sends `to` the welcome of `nick` to `room`.
    #[inline(never)]
    fn send_welcome(&mut self, out: &mut dyn Outbox, to: IpEndpoint, nick: &str, room: usize) {
        let mut line = Emitted::<LINE>::EMPTY;
        self.welcome(nick, room, &mut line);
        self.send(out, to, &line);
    }

    /// Sends `to` who is in `room`.
    #[inline(never)]
    fn send_who(&mut self, out: &mut dyn Outbox, to: IpEndpoint, room: usize) {
        let mut line = Emitted::<LINE>::EMPTY;
        self.who(room, &mut line);
        self.send(out, to, &line);
    }

    /// Sends `to` the rooms and how many are in each.
    #[inline(never)]
    fn send_room_list(&mut self, out: &mut dyn Outbox, to: IpEndpoint) {
        let mut line = Emitted::<LINE>::EMPTY;
        self.room_list(&mut line);
        self.send(out, to, &line);
    }

    /// Sends `line` to a member that did not send it: through the detour
    /// if the member has been quiet long enough for its host to be gone.
    fn send_to_member(
        &mut self,
        out: &mut dyn Outbox,
        to: IpEndpoint,
        last_seen: Instant,
        line: &Emitted<LINE>,
    ) {
        if self.now - last_seen < QUIET_AFTER {
            return self.send(out, to, line);
        }
        if line.is_empty() || out.send_detour(to, line.as_bytes()).is_err() {
            self.stats.send_failed += 1;
            log_debug!("chat: could not queue a line to quiet member {to}");
        }
    }

    /// Sends `line` to every member of `room` except `except`.
    fn tell_room(
        &mut self,
        out: &mut dyn Outbox,
        room: usize,
        except: IpEndpoint,
        line: &Emitted<LINE>,
    ) {
        for i in 0..self.members.len() {
            let Some(member) = self.members.get(i) else {
                break;
            };
            if member.room != room || member.peer == except {
                continue;
            }
            let (to, last_seen) = (member.peer, member.last_seen);
            self.send_to_member(out, to, last_seen, line);
            self.stats.relayed += 1;
        }
    }

    /// Answers `request` from a source that is not a member: within the
    /// strangers' line rate, and no larger than the request unless the
    /// byte budget covers the excess.
    fn tell_stranger(
        &mut self,
        out: &mut dyn Outbox,
        request: &Request<'_>,
        line: &ServerLine<'_>,
    ) {
        let now = request.now;
        let rate = self.limits.strangers_per_second;
        let mut written = Emitted::<LINE>::EMPTY;
        written.write(line);
        let line = &written;
        if !self.strangers.take(now, rate, rate) {
            self.stats.strangers_silenced += 1;
        } else if !self.excess.cover(now, request.payload.len(), line.len) {
            self.stats.strangers_over_budget += 1;
        } else {
            self.send(out, request.from, line);
        }
    }

    /// Tells a member why its line was refused.
    fn error(
        &mut self,
        out: &mut dyn Outbox,
        to: IpEndpoint,
        refusal: Refusal<'_>,
    ) -> Result<(), Discard> {
        self.stats.rejected += 1;
        self.answer(out, to, &ServerLine::Error(refusal));
        Err(Discard::Malformed)
    }

    /// Drops an empty room (never the lobby).
    fn forget_room_if_empty(&mut self, room: usize) {
        if room != 0 && self.room_size(room) == 0 {
            if let Some(slot) = self.rooms.get_mut(room) {
                *slot = None;
            }
        }
    }

    /// A stranger joins as `nick`. Never inlined: its welcome's kilobyte
    /// (see [`Chat::answer`]) is not in the frame every datagram passes.
    #[inline(never)]
    fn join(
        &mut self,
        request: &Request<'_>,
        out: &mut dyn Outbox,
        nick: &str,
    ) -> Result<(), Discard> {
        let from = request.from;
        if let Err(problem) = check_name(nick, self.limits.max_nick) {
            self.stats.rejected += 1;
            self.tell_stranger(out, request, &ServerLine::Error(Refusal::BadNick(problem)));
            return Err(Discard::Malformed);
        }
        if self.nick_taken(nick) {
            self.stats.rejected += 1;
            self.tell_stranger(out, request, &ServerLine::Error(Refusal::NickTaken(nick)));
            return Err(Discard::Limited);
        }
        if self.members.len() >= self.limits.max_members {
            self.stats.full += 1;
            let max_members = self.limits.max_members;
            self.tell_stranger(
                out,
                request,
                &ServerLine::Error(Refusal::ServerFull { max_members }),
            );
            return Err(Discard::Limited);
        }
        let member = Member {
            peer: from,
            nick: name(nick),
            room: 0,
            last_seen: request.now,
            bucket: Bucket::full(self.limits.burst, request.now),
        };
        if self.members.push(member).is_err() {
            // max_members is clamped to the capacity; kept for safety.
            self.stats.full += 1;
            return Err(Discard::Limited);
        }
        // The welcome answers a stranger, and lists the room: without the
        // budget a /nick and /quit loop would amplify tenfold. With the
        // budget spent, the stranger does not join (so nobody is told); it
        // asks again, as `udpkit chat` does when no welcome comes.
        // Counted, not written: written, it would be on the stack beside
        // the line to the room (see `answer`).
        let welcome_len = self.welcome_len(nick);
        if !self
            .excess
            .cover(request.now, request.payload.len(), welcome_len)
        {
            self.members.pop();
            self.stats.strangers_over_budget += 1;
            return Err(Discard::Limited);
        }
        self.stats.joined += 1;
        log_info!("chat: {nick} joined from {from}");
        self.tell_room_line(out, 0, from, &ServerLine::Joined { nick, room: LOBBY });
        self.send_welcome(out, from, nick, 0);
        Ok(())
    }

    /// `*** welcome NICK, you are in ROOM with: ...`
    fn welcome(&self, nick: &str, room: usize, into: &mut Emitted<LINE>) {
        let nicks = self.nicks_in(room);
        into.write(&ServerLine::Welcome {
            nick,
            room: self.room_name(room),
            members: Names::new(&nicks),
        })
    }

    /// The length of the welcome of `nick` to the lobby.
    fn welcome_len(&self, nick: &str) -> usize {
        let nicks = self.nicks_in(0);
        ServerLine::Welcome {
            nick,
            room: LOBBY,
            members: Names::new(&nicks),
        }
        .buffer_len()
    }

    fn nick_taken(&self, nick: &str) -> bool {
        self.members.iter().any(|m| same_name(&m.nick, nick))
    }

    fn rename(&mut self, index: usize, out: &mut dyn Outbox, nick: &str) -> Result<(), Discard> {
        let Some(member) = self.members.get(index) else {
            return Err(Discard::Malformed);
        };
        let (peer, room, old) = (member.peer, member.room, member.nick.clone());
        if let Err(problem) = check_name(nick, self.limits.max_nick) {
            return self.error(out, peer, Refusal::BadNick(problem));
        }
        if old.as_str() == nick {
            self.answer(out, peer, &ServerLine::AlreadyNick(nick));
            return Ok(());
        }
        if !same_name(&old, nick) && self.nick_taken(nick) {
            return self.error(out, peer, Refusal::NickTaken(nick));
        }
        if let Some(member) = self.members.get_mut(index) {
            member.nick = name(nick);
        }
        let line = ServerLine::Renamed {
            old: &old,
            new: nick,
        };
        self.tell_room_and_sender(out, room, peer, &line);
        Ok(())
    }

    fn change_room(
        &mut self,
        index: usize,
        out: &mut dyn Outbox,
        target: &str,
    ) -> Result<(), Discard> {
        let Some(member) = self.members.get(index) else {
            return Err(Discard::Malformed);
        };
        let (peer, old_room, nick) = (member.peer, member.room, member.nick.clone());
        let target = target.strip_prefix('#').unwrap_or(target);
        if let Err(problem) = check_name(target, NAME_CHARS) {
            return self.error(out, peer, Refusal::BadRoom(problem));
        }
        if same_name(target, PRIVATE) {
            // `[private]` starts a private message: a room of that name
            // would make its messages look like one.
            return self.error(out, peer, Refusal::BadRoom(NameProblem::Reserved));
        }
        let existing = self
            .rooms
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| same_name(r, target)));
        if existing == Some(old_room) {
            self.answer(out, peer, &ServerLine::AlreadyInRoom(target));
            return Ok(());
        }
        let new_room = match existing {
            Some(room) => room,
            None => {
                let free = self
                    .rooms
                    .iter()
                    .take(self.limits.max_rooms)
                    .position(|r| r.is_none());
                let Some(room) = free else {
                    let max_rooms = self.limits.max_rooms;
                    return self.error(out, peer, Refusal::TooManyRooms { max_rooms });
                };
                if let Some(slot) = self.rooms.get_mut(room) {
                    *slot = Some(name(target));
                }
                room
            }
        };
        let old_name = name(self.room_name(old_room));
        if let Some(member) = self.members.get_mut(index) {
            member.room = new_room;
        }
        // One line at a time on the stack (see `answer`).
        let new_name = name(self.room_name(new_room));
        let left = ServerLine::Moved {
            nick: &nick,
            from: &old_name,
            to: &new_name,
        };
        self.tell_room_line(out, old_room, peer, &left);
        self.forget_room_if_empty(old_room);
        let joined = ServerLine::Joined {
            nick: &nick,
            room: &new_name,
        };
        self.tell_room_line(out, new_room, peer, &joined);
        self.send_welcome(out, peer, &nick, new_room);
        Ok(())
    }

    /// A member quits: its room is told.
    fn quit(&mut self, index: usize, out: &mut dyn Outbox) {
        if index >= self.members.len() {
            return;
        }
        let member = self.members.swap_remove(index);
        let room = name(self.room_name(member.room));
        let line = ServerLine::Quit {
            nick: &member.nick,
            room: &room,
        };
        self.tell_room_line(out, member.room, member.peer, &line);
        self.forget_room_if_empty(member.room);
    }

    fn relay(
        &mut self,
        index: usize,
        out: &mut dyn Outbox,
        text: &str,
        action: bool,
    ) -> Result<(), Discard> {
        let Some(member) = self.members.get(index) else {
            return Err(Discard::Malformed);
        };
        let (peer, room) = (member.peer, member.room);
        let max = self.limits.max_message;
        if text.len() > max {
            let len = text.len();
            return self.error(out, peer, Refusal::MessageTooLong { len, max });
        }
        let (room_name, nick) = (self.room_name(room), member.nick.clone());
        let (room_name, nick) = (name(room_name), nick);
        let line = if action {
            ServerLine::Action {
                room: &room_name,
                nick: &nick,
                text,
            }
        } else {
            ServerLine::Message {
                room: &room_name,
                nick: &nick,
                text,
            }
        };
        self.stats.messages += 1;
        // Written in a frame of its own (see `answer`): not beside the
        // refusal's line above.
        if self.limits.echo_to_sender {
            self.stats.echoed += 1;
            self.tell_room_and_sender(out, room, peer, &line);
        } else {
            self.tell_room_line(out, room, peer, &line);
        }
        Ok(())
    }

    /// A private message. Never inlined, as [`Chat::join`].
    #[inline(never)]
    fn private(
        &mut self,
        index: usize,
        out: &mut dyn Outbox,
        to_nick: &str,
        text: &str,
    ) -> Result<(), Discard> {
        let Some(member) = self.members.get(index) else {
            return Err(Discard::Malformed);
        };
        let (peer, nick) = (member.peer, member.nick.clone());
        if to_nick.is_empty() || text.is_empty() {
            return self.error(out, peer, Refusal::MsgUsage);
        }
        let max = self.limits.max_message;
        if text.len() > max {
            let len = text.len();
            return self.error(out, peer, Refusal::MessageTooLong { len, max });
        }
        let Some((to, to_nick, last_seen)) = self
            .members
            .iter()
            .find(|m| same_name(&m.nick, to_nick))
            .map(|m| (m.peer, m.nick.clone(), m.last_seen))
        else {
            let typed = cut(to_nick, ECHO_CAP);
            return self.error(out, peer, Refusal::NoSuchNick(typed));
        };
        self.stats.messages += 1;
        let line = ServerLine::Private { from: &nick, text };
        self.tell_member_line(out, to, last_seen, &line);
        self.stats.relayed += 1;
        self.answer(out, peer, &ServerLine::PrivateSent { to: &to_nick, text });
        Ok(())
    }

    /// `*** in ROOM with: ...`
    fn who(&self, room: usize, into: &mut Emitted<LINE>) {
        let nicks = self.nicks_in(room);
        into.write(&ServerLine::Who {
            room: self.room_name(room),
            members: Names::new(&nicks),
        })
    }

    /// `*** rooms: lobby (2) games (1)`
    fn room_list(&self, into: &mut Emitted<LINE>) {
        let mut counts: heapless::Vec<(&str, usize), ROOMS> = heapless::Vec::new();
        for (index, room) in self.rooms.iter().enumerate() {
            if let Some(room) = room {
                // No more rooms than ROOMS: there is room for each.
                let _ = counts.push((room.as_str(), self.room_size(index)));
            }
        }
        into.write(&ServerLine::Rooms(RoomCounts::new(&counts)));
    }

    /// `*** a, b left ROOM (idle for 5 min)` for the members of `room` that
    /// are `expired`, named in the order they leave the member table (each
    /// `swap_remove` moves the last member into the gap).
    fn expiry_line(
        &self,
        room: usize,
        expired: &dyn Fn(&Member) -> bool,
        into: &mut Emitted<LINE>,
    ) {
        let mut order: heapless::Vec<usize, MEMBERS> = heapless::Vec::new();
        for index in 0..self.members.len() {
            // No more members than MEMBERS: there is room for each.
            let _ = order.push(index);
        }
        let mut names: heapless::Vec<&str, MEMBERS> = heapless::Vec::new();
        while let Some(at) = order
            .iter()
            .position(|&i| self.members.get(i).is_some_and(expired))
        {
            let index = order.swap_remove(at);
            if let Some(member) = self.members.get(index) {
                let _ = names.push(member.nick.as_str());
            }
        }
        into.write(&ServerLine::Expired {
            names: Names::new(&names),
            room: self.room_name(room),
            idle_secs: crate::clock::total_secs(self.limits.idle_timeout),
        })
    }

    /// Handles a datagram from a member: `command` is an error if it is
    /// not UTF-8 text. Any datagram is activity and takes a token,
    /// whatever it holds.
    fn handle_member(
        &mut self,
        index: usize,
        request: &Request<'_>,
        out: &mut dyn Outbox,
        command: wire::Result<Command<'_>>,
    ) -> Result<(), Discard> {
        let now = request.now;
        let (burst, per_second) = (self.limits.burst, self.limits.per_second);
        let Some(member) = self.members.get_mut(index) else {
            return Err(Discard::Malformed);
        };
        member.last_seen = now;
        // Leaving is never refused: it only lightens the load. Decided on
        // the same reading of the line as what it does, so a line exempt
        // as /quit cannot then be relayed as a message.
        let quitting = command == Ok(Command::Quit);
        if !quitting && !member.bucket.take(now, burst, per_second) {
            self.stats.rate_limited += 1;
            if !member.bucket.warned {
                member.bucket.warned = true;
                let peer = member.peer;
                self.answer(out, peer, &ServerLine::SlowDown { per_second });
            }
            return Err(Discard::Limited);
        }
        let peer = member.peer;
        let room = member.room;
        let Ok(command) = command else {
            return self.error(out, peer, Refusal::NotUtf8);
        };
        match command {
            Command::Message(text) if text.trim().is_empty() => {
                self.stats.empty_lines += 1;
                self.answer(out, peer, &ServerLine::SaySomething);
                Ok(())
            }
            Command::Message(text) => self.relay(index, out, text, false),
            Command::Nick(nick) => self.rename(index, out, nick),
            Command::Join(room) => self.change_room(index, out, room),
            Command::Leave if room == 0 => self.error(out, peer, Refusal::InLobby),
            Command::Leave => self.change_room(index, out, LOBBY),
            Command::Who => {
                self.send_who(out, peer, room);
                Ok(())
            }
            Command::Rooms => {
                self.send_room_list(out, peer);
                Ok(())
            }
            Command::Msg { to, text } => self.private(index, out, to, text),
            Command::Me("") => self.error(out, peer, Refusal::MeUsage),
            Command::Me(action) => self.relay(index, out, action, true),
            Command::Ping => {
                self.answer(out, peer, &ServerLine::Pong);
                Ok(())
            }
            Command::Quit => {
                let nick = self
                    .members
                    .get(index)
                    .map(|m| m.nick.clone())
                    .unwrap_or_default();
                self.quit(index, out);
                self.stats.quit += 1;
                log_info!("chat: {nick} quit");
                self.answer(out, peer, &ServerLine::Bye(&nick));
                Ok(())
            }
            Command::Help => {
                self.answer(out, peer, &ServerLine::Help);
                Ok(())
            }
            Command::Unknown { verb, .. } => {
                let verb = cut(verb, ECHO_CAP);
                self.error(out, peer, Refusal::UnknownCommand(verb))
            }
        }
    }
}

impl<const MEMBERS: usize, const ROOMS: usize, const LINE: usize> Service
    for Chat<MEMBERS, ROOMS, LINE>
{
    fn name(&self) -> &'static str {
        NAME
    }

    fn uses(&self) -> Uses {
        Uses {
            wall_clock: false,
            timers: true,
        }
    }

    fn on_datagram(&mut self, request: &Request<'_>, out: &mut dyn Outbox) -> Result<(), Discard> {
        self.now = request.now;
        let from = request.from;
        let command = Command::parse(request.payload);
        if let Some(index) = self.member_index(from) {
            return self.handle_member(index, request, out, command);
        }
        let Ok(command) = command else {
            self.stats.rejected += 1;
            self.tell_stranger(out, request, &ServerLine::Error(Refusal::NotUtf8));
            return Err(Discard::Malformed);
        };
        match command {
            Command::Nick(nick) => self.join(request, out, nick),
            // The full help is for members: to anyone else it is 500 bytes
            // for a 6-byte request.
            Command::Help => {
                self.tell_stranger(out, request, &ServerLine::HelpForStrangers);
                Ok(())
            }
            // A member whose "bye" was lost asks again: say it again.
            Command::Quit => {
                self.tell_stranger(out, request, &ServerLine::ByeStranger);
                Ok(())
            }
            _ => {
                self.stats.rejected += 1;
                let idle_secs = crate::clock::total_secs(self.limits.idle_timeout);
                let line = ServerLine::Error(Refusal::NotMember { idle_secs });
                self.tell_stranger(out, request, &line);
                Err(Discard::Limited)
            }
        }
    }

    fn burst(&self) -> Burst {
        // A line to each member at most, the sender's own included (a room
        // change tells two rooms, which share no member); a `/msg` to
        // oneself is two lines.
        Burst {
            datagrams: self.limits.max_members.max(2),
            bytes: self.burst_bytes,
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.members
            .iter()
            .map(|m| m.last_seen + self.limits.idle_timeout)
            .min()
    }

    fn on_tick(&mut self, now: Instant, _wall: Option<crate::UnixTime>, out: &mut dyn Outbox) {
        self.now = now;
        // Everyone whose time is up leaves at once, and each room hears one
        // line naming them all: members that are still here get at most one
        // line each (within one burst), and no line goes to a member that is
        // leaving. After minutes of silence its host may be gone, and a line
        // to a host that never answers ARP would hold up the lines behind it;
        // its next datagram is told instead.
        let timeout = self.limits.idle_timeout;
        let expired = |m: &Member, room: usize| m.room == room && m.last_seen + timeout <= now;
        for room in 0..ROOMS {
            if !self.members.iter().any(|m| expired(m, room)) {
                continue;
            }
            let mut line = Emitted::<LINE>::EMPTY;
            self.expiry_line(room, &|m: &Member| expired(m, room), &mut line);
            while let Some(index) = self.members.iter().position(|m| expired(m, room)) {
                let member = self.members.swap_remove(index);
                log_info!("chat: {} expired", member.nick);
                self.stats.expired += 1;
            }
            let nobody = IpEndpoint::new(smoltcp::wire::IpAddress::v4(0, 0, 0, 0), 0);
            self.tell_room(out, room, nobody, &line);
            self.forget_room_if_empty(room);
        }
    }

    fn counters(&self, report: &mut dyn FnMut(&'static str, u64)) {
        let s = &self.stats;
        report("members", self.member_count() as u64);
        report("rooms", self.room_count() as u64);
        report("messages", s.messages);
        report("relayed", s.relayed);
        report("echoed", s.echoed);
        report("empty lines", s.empty_lines);
        report("joined", s.joined);
        report("quit", s.quit);
        report("expired", s.expired);
        report("refused: server full", s.full);
        report("refused: rate limit", s.rate_limited);
        report("silenced strangers", s.strangers_silenced);
        report("silenced strangers: byte budget", s.strangers_over_budget);
        report("rejected input", s.rejected);
        report("send failed", s.send_failed);
    }
}

/// A line written once, to be sent to one member or to many.
struct Emitted<const LINE: usize> {
    bytes: [u8; LINE],
    len: usize,
}

impl<const LINE: usize> Emitted<LINE> {
    /// No line yet: [`Emitted::write`] writes one in place, in the frame
    /// of the function that sends it (not returned by value, which would
    /// copy its kilobyte through another frame; see [`Chat::answer`]).
    const EMPTY: Emitted<LINE> = Emitted {
        bytes: [0; LINE],
        len: 0,
    };

    /// `line`, written; empty (and sent to no one, counted as a send
    /// failure) if it does not fit `LINE`, which the limits prevent.
    #[inline(never)]
    fn write(&mut self, line: &ServerLine<'_>) {
        self.len = line.emit(&mut self.bytes).unwrap_or_else(|_| {
            log_warn!("chat: a line longer than {LINE} bytes was not sent");
            0
        });
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why a nick or room name of at most `max_chars` characters (and
/// [`NAME_CAP`] bytes) is not acceptable.
fn check_name(candidate: &str, max_chars: usize) -> Result<(), NameProblem> {
    match NameProblem::of(candidate, max_chars, NAME_CAP) {
        Some(problem) => Err(problem),
        None => Ok(()),
    }
}

/// A name already checked to fit; longer input is cut (never happens after
/// [`check_name`]).
fn name(text: &str) -> Name {
    let mut name = Name::new();
    for c in text.chars() {
        if name.push(c).is_err() {
            break;
        }
    }
    name
}

impl ChatLimits {
    /// The limits of [`ChatLimits::default`], for a `const`.
    pub const DEFAULT: ChatLimits = ChatLimits {
        max_members: 32,
        max_rooms: 8,
        max_nick: NAME_CHARS,
        max_message: 400,
        idle_timeout: Duration::from_secs(300),
        burst: 8,
        per_second: 2,
        strangers_per_second: 20,
        echo_to_sender: true,
    };

    /// The longest line the chat sends with these limits, in bytes: what
    /// one line's buffer needs (a chat holds one at a time, on the stack;
    /// [`Chat`]'s `LINE`). Each line's longest form, with names of the
    /// most bytes the limits allow (rooms of [`NAME_CAP`] unless the lobby
    /// is the only one, nicks of [`NAME_CAP`] or four bytes a character),
    /// lists of every member and counts of the most digits; lists longer
    /// than [`LINE_CAP`] are cut to it. The chat's tests drive each line's
    /// longest form and check it against this; with the lean image's
    /// limits (8 members, 4 rooms, messages of 200 bytes) it is the
    /// welcome to a room of 8 names of 48 bytes, 527 bytes.
    pub const fn longest_line(&self) -> usize {
        let shape = LineShape::of(self);
        // Every other line (a refusal, `slow down`, `bye`, `pong`...) is
        // shorter than the help, whatever the limits (their names, words
        // repeated and numbers have fixed bounds; see the tests).
        max(
            max(max(shape.relayed(), shape.listing()), shape.notice()),
            max(
                max(shape.expired(shape.members), shape.room_list()),
                wire::chat::HELP.len(),
            ),
        )
    }

    /// The most bytes one datagram or timer makes the chat send, all lines
    /// together ([`Chat::burst`]; what its transmit queue must hold). The
    /// worst of: a message relayed to a room of every member, the sender's
    /// echo included (with the lean image's limits, 8 lines of 303 bytes:
    /// 2,424); a notice to every other member (a join, a move, a rename, a
    /// quit) beside the sender's welcome; members leaving together, told
    /// to those that stay. Any other datagram is answered with one line.
    pub const fn burst_bytes(&self) -> usize {
        let shape = LineShape::of(self);
        // A `/msg` to oneself is two lines, whatever the members.
        let relay = max(shape.members, 2) * shape.relayed();
        // The sender's line beside a notice: a welcome (a join, a move),
        // the rename or a bye.
        let notice = (shape.members - 1) * shape.notice() + max(shape.listing(), shape.notice());
        let expiry = shape.expiry_burst();
        max(max(relay, notice), expiry)
    }

    /// The most bytes one datagram or timer makes the chat send to members
    /// other than the one it answers: what a detour for members that may
    /// be gone may have to take (a fan-out of the longest message, or of a
    /// notice, or members leaving together).
    pub const fn fan_out_bytes(&self) -> usize {
        let shape = LineShape::of(self);
        let others = shape.members - 1;
        max(
            max(others * shape.relayed(), others * shape.notice()),
            shape.expiry_burst(),
        )
    }
}

/// The most bytes of each part of a line under some [`ChatLimits`], from
/// which the longest lines are reckoned.
struct LineShape {
    members: usize,
    rooms: usize,
    /// A nick's bytes at most.
    nick: usize,
    /// A room name's bytes at most.
    room: usize,
    /// A message's bytes at most.
    text: usize,
    /// `5 min`, `90 s`: the idle timeout as lines say it.
    idle: usize,
}

impl LineShape {
    const fn of(limits: &ChatLimits) -> LineShape {
        let rooms = max(limits.max_rooms, 1);
        LineShape {
            members: max(limits.max_members, 1),
            rooms,
            // A character is four bytes at most in UTF-8.
            nick: min(4 * clamp(limits.max_nick, 1, NAME_CHARS), NAME_CAP),
            // Only the lobby while no other room may be made.
            room: if rooms == 1 { LOBBY.len() } else { NAME_CAP },
            text: clamp(limits.max_message, 1, LINE_CAP - RELAY_OVERHEAD),
            idle: idle_len(limits.idle_timeout),
        }
    }

    /// `[room] <nick> TEXT` (and `[room] * nick TEXT`, as long; the
    /// private forms are shorter).
    const fn relayed(&self) -> usize {
        let framing = max("[] <> \n".len() + self.room, "[private to ] \n".len());
        framing + self.nick + self.text
    }

    /// `names` names, `, ` between them.
    const fn names(&self, names: usize) -> usize {
        names * self.nick + (names - 1) * ", ".len()
    }

    /// A list of the members of a room, cut at [`LINE_CAP`]: the welcome
    /// (the longer) and `/who`.
    const fn listing(&self) -> usize {
        let welcome = "*** welcome , you are in  with: \n".len()
            + self.nick
            + self.room
            + self.names(self.members);
        min(welcome, LINE_CAP)
    }

    /// The longest line about one member to the others: `*** NICK left
    /// FROM for TO` (a move) or `*** OLD is now known as NEW` (with the
    /// lobby the only room); a join (`*** NICK joined ROOM`) and a quit
    /// (`*** NICK left ROOM (quit)`) are shorter than a move, as a room
    /// name is longer than ` (quit)` less ` for `.
    const fn notice(&self) -> usize {
        let moved = "***  left  for \n".len() + self.nick + 2 * self.room;
        let renamed = "***  is now known as \n".len() + 2 * self.nick;
        max(moved, renamed)
    }

    /// `*** a, b left ROOM (idle for 5 min)` naming `names` members, cut
    /// at [`LINE_CAP`].
    const fn expired(&self, names: usize) -> usize {
        let line = "***  left  (idle for )\n".len() + self.names(names) + self.room + self.idle;
        min(line, LINE_CAP)
    }

    /// Members leaving together, told to those of their room that stay:
    /// the most over how many leave (one room is the worst: two rooms'
    /// lines are each no longer than one room's with both rooms' names).
    const fn expiry_burst(&self) -> usize {
        let mut most = 0;
        let mut staying = 1;
        while staying < self.members {
            most = max(most, staying * self.expired(self.members - staying));
            staying += 1;
        }
        most
    }

    /// `*** rooms: lobby (N) ROOM (N) ...`, cut at [`LINE_CAP`].
    const fn room_list(&self) -> usize {
        let entry = " X ()".len() - 1 + digits(self.members as u64);
        let line =
            "*** rooms:\n".len() + entry + LOBBY.len() + (self.rooms - 1) * (entry + self.room);
        min(line, LINE_CAP)
    }
}

/// The decimal digits of `n`.
const fn digits(n: u64) -> usize {
    let mut digits = 1;
    let mut power: u64 = 10;
    while digits < 20 && n >= power {
        digits += 1;
        power = power.saturating_mul(10);
    }
    digits
}

/// The length of `5 min` or `90 s`, an idle timeout of `idle` as lines
/// say it (whole minutes from a minute on, else seconds). Reckoned where
/// the limits are made (a board's at build time).
const fn idle_len(idle: Duration) -> usize {
    let secs = idle.secs();
    if secs >= 60 && secs % 60 == 0 {
        digits(secs / 60) + " min".len()
    } else {
        digits(secs) + " s".len()
    }
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

const fn clamp(n: usize, low: usize, high: usize) -> usize {
    max(low, min(n, high))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::testing::{Sent, VecOutbox};
    use crate::services::EXCESS_BYTES_BURST;
    use smoltcp::wire::{IpAddress, Ipv4Address};
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    fn peer(n: u16) -> IpEndpoint {
        IpEndpoint::new(
            IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 100)),
            40000 + n,
        )
    }

    struct Harness<const M: usize, const R: usize, const L: usize = LINE_CAP> {
        chat: Chat<M, R, L>,
        now: Instant,
        /// The longest line sent so far.
        longest: usize,
        /// The most bytes one datagram or tick sent so far.
        heaviest: usize,
    }

    impl<const M: usize, const R: usize, const L: usize> Harness<M, R, L> {
        fn new(limits: ChatLimits) -> Self {
            Harness {
                chat: Chat::new(limits),
                now: Instant::from_secs(1000),
                longest: 0,
                heaviest: 0,
            }
        }

        /// Checks what one datagram or tick sent against the bounds the
        /// chat declares: every line within [`ChatLimits::longest_line`]
        /// and its buffer, all of them within the burst.
        fn check(&mut self, sent: &Sent) {
            let burst = self.chat.burst();
            assert!(sent.len() <= burst.datagrams, "burst exceeded: {sent:?}");
            let bytes: usize = sent.iter().map(|(_, d)| d.len()).sum();
            assert!(bytes <= burst.bytes, "burst bytes exceeded: {bytes}");
            self.heaviest = self.heaviest.max(bytes);
            let longest_line = self.chat.limits().longest_line();
            for (_, line) in sent {
                assert!(
                    line.len() <= longest_line && line.len() <= L,
                    "a line of {} bytes, the bound {longest_line}: {:?}",
                    line.len(),
                    String::from_utf8_lossy(line)
                );
                self.longest = self.longest.max(line.len());
            }
            every_line_is_one_a_client_reads(sent);
        }

        fn send_bytes(&mut self, from: u16, payload: &[u8]) -> (Result<(), Discard>, Sent) {
            let mut out = VecOutbox::new();
            let request = Request {
                from: peer(from),
                to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
                payload,
                now: self.now,
                wall: None,
                clock: crate::ClockSource::LOCAL,
            };
            let verdict = self.chat.on_datagram(&request, &mut out);
            self.check(&out.sent);
            assert_eq!(self.chat.stats().send_failed, 0);
            (verdict, out.sent)
        }

        fn say(&mut self, from: u16, text: &str) -> Sent {
            self.send_bytes(from, std::format!("{text}\n").as_bytes()).1
        }

        fn advance(&mut self, secs: u64) {
            self.now += Duration::from_secs(secs);
        }

        fn tick(&mut self) -> Sent {
            let mut out = VecOutbox::new();
            // A tick at the time asked for is done with it.
            for _ in 0..M + 1 {
                if self.chat.poll_at().is_none_or(|at| at > self.now) {
                    break;
                }
                let before = out.sent.len();
                self.chat.on_tick(self.now, None, &mut out);
                let this_tick = out.sent[before..].to_vec();
                self.check(&this_tick);
            }
            assert!(self.chat.poll_at().is_none_or(|at| at > self.now));
            out.sent
        }
    }

    /// Whatever the service sends, a client reads as the line it is:
    /// `ServerLine::parse` takes it, and writes it back byte for byte.
    fn every_line_is_one_a_client_reads(sent: &Sent) {
        for (_, datagram) in sent {
            let line = ServerLine::parse(datagram)
                .unwrap_or_else(|_| panic!("not a line: {:?}", String::from_utf8_lossy(datagram)));
            let mut again = [0u8; LINE_CAP];
            let len = line.emit(&mut again).unwrap();
            assert_eq!(&again[..len], &datagram[..], "{line:?}");
            assert!(datagram.len() <= LINE_CAP);
        }
    }

    fn lines_to(sent: &Sent, n: u16) -> Vec<String> {
        sent.iter()
            .filter(|(to, _)| *to == peer(n))
            .map(|(_, d)| String::from_utf8(d.clone()).unwrap())
            .collect()
    }

    fn default_harness() -> Harness<32, 8> {
        Harness::new(ChatLimits::default())
    }

    /// alice (1), bob (2) and carol (3) in the lobby.
    fn three_members() -> Harness<32, 8> {
        let mut h = default_harness();
        h.say(1, "/nick alice");
        h.say(2, "/nick bob");
        h.say(3, "/nick carol");
        h
    }

    #[test]
    fn nick_joins_the_lobby_and_the_room_is_told() {
        let mut h = default_harness();
        let sent = h.say(1, "/nick alice");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** welcome alice, you are in lobby with: alice\n"]
        );
        let sent = h.say(2, "/nick bob");
        assert_eq!(lines_to(&sent, 1), ["*** bob joined lobby\n"]);
        assert_eq!(
            lines_to(&sent, 2),
            ["*** welcome bob, you are in lobby with: alice, bob\n"]
        );
        assert_eq!(h.chat.member_count(), 2);
        assert_eq!(h.chat.stats().joined, 2);
    }

    #[test]
    fn a_message_reaches_every_other_member_of_the_room_at_once() {
        let mut h = three_members();
        let sent = h.say(1, "hello all");
        assert_eq!(lines_to(&sent, 2), ["[lobby] <alice> hello all\n"]);
        assert_eq!(lines_to(&sent, 3), ["[lobby] <alice> hello all\n"]);
        assert_eq!(
            lines_to(&sent, 1),
            ["[lobby] <alice> hello all\n"],
            "the sender's echo, as the room sees it"
        );
        assert_eq!(h.chat.stats().relayed, 2 + 1 + 2); // joins told 0+1+2, then 2
        assert_eq!(h.chat.stats().echoed, 1);
    }

    #[test]
    fn without_echo_the_sender_hears_nothing_of_its_own_line() {
        let mut h: Harness<32, 8> = Harness::new(ChatLimits {
            echo_to_sender: false,
            ..ChatLimits::default()
        });
        h.say(1, "/nick alice");
        h.say(2, "/nick bob");
        let sent = h.say(1, "hi");
        assert_eq!(lines_to(&sent, 2), ["[lobby] <alice> hi\n"]);
        assert!(lines_to(&sent, 1).is_empty(), "{sent:?}");
        let sent = h.say(1, "/me waves");
        assert_eq!(lines_to(&sent, 2), ["[lobby] * alice waves\n"]);
        assert!(lines_to(&sent, 1).is_empty(), "{sent:?}");
        assert_eq!(h.chat.stats().echoed, 0);
    }

    #[test]
    fn chinese_and_latin_nicks_talk_and_each_hears_its_own_line() {
        let mut h = default_harness();
        h.say(1, "/nick 黎诗");
        let sent = h.say(2, "/nick alex");
        assert_eq!(lines_to(&sent, 1), ["*** alex joined lobby\n"]);
        assert_eq!(
            lines_to(&sent, 2),
            ["*** welcome alex, you are in lobby with: 黎诗, alex\n"]
        );
        let sent = h.say(1, "你好, alex");
        for member in [1, 2] {
            assert_eq!(lines_to(&sent, member), ["[lobby] <黎诗> 你好, alex\n"]);
        }
        let sent = h.say(2, "hello 黎诗");
        for member in [1, 2] {
            assert_eq!(lines_to(&sent, member), ["[lobby] <alex> hello 黎诗\n"]);
        }
        let sent = h.say(2, "/msg 黎诗 psst");
        assert_eq!(lines_to(&sent, 1), ["[private] <alex> psst\n"]);
        let sent = h.say(1, "/join 茶馆");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** welcome 黎诗, you are in 茶馆 with: 黎诗\n"]
        );
        assert_eq!(lines_to(&sent, 2), ["*** 黎诗 left lobby for 茶馆\n"]);
        every_line_is_one_a_client_reads(&sent);
    }

    #[test]
    fn nicks_are_limited_in_characters_and_in_bytes_and_compared_without_case() {
        let mut h = default_harness();
        let too_long = "*** error: nick too long: at most 16 characters and 48 bytes\n";
        // 17 characters of one byte, 17 of three bytes (51 bytes).
        for nick in ["a".repeat(17), "诗".repeat(17)] {
            let sent = h.say(1, &format!("/nick {nick}"));
            assert_eq!(lines_to(&sent, 1), [too_long], "{nick}");
        }
        // 16 characters fit whatever their script.
        for (n, nick) in [(1, "a".repeat(16)), (2, "诗".repeat(16))] {
            let sent = h.say(n, &format!("/nick {nick}"));
            assert!(lines_to(&sent, n)[0].starts_with("*** welcome"), "{sent:?}");
        }
        // 12 characters of four bytes each are 48 bytes; 13 are too many.
        let sent = h.say(3, &format!("/nick {}", "𠀀".repeat(13)));
        assert_eq!(lines_to(&sent, 3), [too_long]);
        let sent = h.say(3, &format!("/nick {}", "𠀀".repeat(12)));
        assert!(lines_to(&sent, 3)[0].starts_with("*** welcome"), "{sent:?}");
        // Case does not make another nick, in any script.
        h.say(4, "/nick Élodie");
        for taken in ["élodie", "ÉLODIE", "AAAAAAAAAAAAAAAA"] {
            let sent = h.say(5, &format!("/nick {taken}"));
            assert_eq!(
                lines_to(&sent, 5),
                [format!("*** error: nick {taken} is taken, pick another\n")]
            );
        }
        let sent = h.say(1, "/msg ÉLODIE hi");
        assert_eq!(lines_to(&sent, 4), ["[private] <aaaaaaaaaaaaaaaa> hi\n"]);
    }

    #[test]
    fn nicks_that_only_look_like_another_are_refused() {
        let mut h = default_harness();
        let cases = [
            // A Cyrillic а among Latin letters.
            (
                "/nick p\u{430}ypal",
                "*** error: nick mixes Latin, Greek or Cyrillic letters, which look alike\n",
            ),
            // A Greek ο among Latin letters.
            (
                "/nick b\u{3bf}b",
                "*** error: nick mixes Latin, Greek or Cyrillic letters, which look alike\n",
            ),
            // A zero-width joiner (a format character), a control character.
            (
                "/nick al\u{200d}ex",
                "*** error: nick may only use letters, digits, _ and -\n",
            ),
            (
                "/nick al\u{7}ex",
                "*** error: nick may only use letters, digits, _ and -\n",
            ),
            // An ideographic space.
            (
                "/nick 黎\u{3000}诗",
                "*** error: nick may only use letters, digits, _ and -\n",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(lines_to(&h.say(1, text), 1), [expected], "{text}");
        }
        assert_eq!(h.chat.member_count(), 0);
        // One script at a time is fine, digits and _ - with any of them.
        for (n, nick) in [(1, "Дмитрий_2"), (2, "Αλέξης-7"), (3, "Zoë")] {
            let sent = h.say(n, &format!("/nick {nick}"));
            assert!(lines_to(&sent, n)[0].starts_with("*** welcome"), "{sent:?}");
        }
    }

    #[test]
    fn an_empty_line_gets_a_short_answer_within_the_rate_limit() {
        let limits = ChatLimits {
            burst: 3,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick alice");
        h.say(2, "/nick bob");
        for empty in ["", "\n", "   \r\n"] {
            let sent = h.say(1, empty);
            assert_eq!(
                lines_to(&sent, 1),
                ["*** say something, or /help\n"],
                "{empty:?}"
            );
            assert!(lines_to(&sent, 2).is_empty(), "{sent:?}");
        }
        // The bucket is dry: one slow-down line, then silence.
        let sent = h.say(1, "");
        assert!(
            lines_to(&sent, 1)[0].starts_with("*** slow down"),
            "{sent:?}"
        );
        assert!(h.say(1, "").is_empty());
        assert_eq!(h.chat.stats().empty_lines, 3);
        assert_eq!(counter(&h.chat, "empty lines"), Some(3));
    }

    #[test]
    fn rooms_separate_conversations() {
        let mut h = three_members();
        let sent = h.say(2, "/join games");
        assert_eq!(lines_to(&sent, 1), ["*** bob left lobby for games\n"]);
        assert_eq!(
            lines_to(&sent, 2),
            ["*** welcome bob, you are in games with: bob\n"]
        );
        let sent = h.say(3, "/join #games");
        assert_eq!(lines_to(&sent, 2), ["*** carol joined games\n"]);
        let sent = h.say(2, "in here");
        assert_eq!(lines_to(&sent, 3), ["[games] <bob> in here\n"]);
        assert!(lines_to(&sent, 1).is_empty());
        let sent = h.say(1, "/rooms");
        assert_eq!(lines_to(&sent, 1), ["*** rooms: lobby (1) games (2)\n"]);
        let sent = h.say(3, "/who");
        assert_eq!(lines_to(&sent, 3), ["*** in games with: bob, carol\n"]);
        let sent = h.say(3, "/leave");
        assert_eq!(lines_to(&sent, 2), ["*** carol left games for lobby\n"]);
        assert_eq!(lines_to(&sent, 1), ["*** carol joined lobby\n"]);
        let sent = h.say(3, "/leave");
        assert!(lines_to(&sent, 3)[0].starts_with("*** error: you are in the lobby"));
        h.say(2, "/leave");
        assert_eq!(h.chat.room_count(), 1, "an empty room goes away");
    }

    #[test]
    fn private_messages_reach_only_their_recipient() {
        let mut h = three_members();
        let sent = h.say(1, "/msg Bob  psst, over here");
        assert_eq!(lines_to(&sent, 2), ["[private] <alice> psst, over here\n"]);
        assert_eq!(lines_to(&sent, 1), ["[private to bob] psst, over here\n"]);
        assert!(lines_to(&sent, 3).is_empty());
        let sent = h.say(1, "/msg nobody hi");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** error: no one here is called nobody\n"]
        );
        let sent = h.say(1, "/msg bob");
        assert_eq!(lines_to(&sent, 1), ["*** error: usage: /msg NAME TEXT\n"]);
    }

    #[test]
    fn me_ping_help_and_unknown_commands() {
        let mut h = three_members();
        let sent = h.say(1, "/me waves");
        assert_eq!(lines_to(&sent, 2), ["[lobby] * alice waves\n"]);
        assert_eq!(
            lines_to(&h.say(1, "/me"), 1),
            ["*** error: usage: /me ACTION\n"]
        );
        assert_eq!(lines_to(&h.say(1, "/ping"), 1), ["*** pong\n"]);
        let help = lines_to(&h.say(1, "/help"), 1);
        for command in [
            "/nick", "/join", "/leave", "/who", "/rooms", "/msg", "/me", "/ping", "/quit",
        ] {
            assert!(help[0].contains(command), "{command} missing from /help");
        }
        assert_eq!(
            lines_to(&h.say(1, "/dance"), 1),
            ["*** error: unknown command /dance; /help lists them\n"]
        );
    }

    #[test]
    fn nick_changes_are_announced_and_checked() {
        let mut h = three_members();
        let sent = h.say(1, "/nick alicia");
        assert_eq!(lines_to(&sent, 2), ["*** alice is now known as alicia\n"]);
        assert_eq!(lines_to(&sent, 1), ["*** alice is now known as alicia\n"]);
        let sent = h.say(1, "/nick BOB");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** error: nick BOB is taken, pick another\n"]
        );
        let sent = h.say(1, "/nick Alicia");
        assert_eq!(lines_to(&sent, 1), ["*** alicia is now known as Alicia\n"]);
    }

    #[test]
    fn quit_leaves_and_tells_the_room() {
        let mut h = three_members();
        let sent = h.say(2, "/quit");
        assert_eq!(lines_to(&sent, 1), ["*** bob left lobby (quit)\n"]);
        assert_eq!(lines_to(&sent, 2), ["*** bye bob\n"]);
        assert_eq!(h.chat.member_count(), 2);
        let sent = h.say(2, "still here?");
        assert!(lines_to(&sent, 2)[0].starts_with("*** error: you are not in the chat"));
        assert!(
            lines_to(&sent, 1).is_empty(),
            "nothing relayed for a non-member"
        );
    }

    #[test]
    fn strangers_are_never_relayed() {
        let mut h = three_members();
        for text in ["hello?", "/who", "/msg alice hi", "/join games"] {
            let sent = h.say(9, text);
            assert!(
                sent.iter().all(|(to, _)| *to == peer(9)),
                "{text}: {sent:?}"
            );
        }
    }

    #[test]
    fn nick_rules_are_explained() {
        let mut h = default_harness();
        let cases = [
            ("/nick", "*** error: nick missing: /nick NAME, /join ROOM\n"),
            (
                "/nick abcdefghijklmnopq",
                "*** error: nick too long: at most 16 characters and 48 bytes\n",
            ),
            (
                "/nick bad!name",
                "*** error: nick may only use letters, digits, _ and -\n",
            ),
            (
                "/nick two words",
                "*** error: nick may only use letters, digits, _ and -\n",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(lines_to(&h.say(1, text), 1), [expected], "{text}");
        }
        assert_eq!(h.chat.member_count(), 0);
        let mut h = three_members();
        let sent = h.say(4, "/nick Alice");
        assert_eq!(
            lines_to(&sent, 4),
            ["*** error: nick Alice is taken, pick another\n"]
        );
    }

    #[test]
    fn a_full_server_says_so_and_members_keep_talking() {
        let limits = ChatLimits {
            max_members: 3,
            strangers_per_second: 1000,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        for n in 1..=3 {
            h.say(n, &std::format!("/nick user{n}"));
        }
        for n in 10..20 {
            let sent = h.say(n, &std::format!("/nick flood{n}"));
            assert_eq!(
                lines_to(&sent, n),
                ["*** error: server full (3 members), try again later\n"]
            );
        }
        assert_eq!(h.chat.stats().full, 10);
        let sent = h.say(1, "still chatting");
        assert_eq!(lines_to(&sent, 2), ["[lobby] <user1> still chatting\n"]);
    }

    #[test]
    fn too_many_rooms_is_an_error() {
        let limits = ChatLimits {
            max_rooms: 2,
            ..ChatLimits::default()
        };
        let mut h: Harness<8, 8> = Harness::new(limits);
        h.say(1, "/nick a");
        h.say(2, "/nick b");
        assert!(lines_to(&h.say(1, "/join one"), 1)[0].starts_with("*** welcome a, you are in one"));
        assert_eq!(
            lines_to(&h.say(2, "/join two"), 2),
            ["*** error: too many rooms (2 at most); /rooms lists them\n"]
        );
        assert!(lines_to(&h.say(2, "/join bad/room"), 2)[0]
            .starts_with("*** error: room name may only"));
    }

    #[test]
    fn long_messages_and_bad_utf8_are_refused_with_a_line() {
        let limits = ChatLimits {
            max_message: 10,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick a");
        h.say(2, "/nick b");
        let sent = h.say(1, "0123456789x");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** error: message too long (11 bytes, 10 at most)\n"]
        );
        assert!(lines_to(&sent, 2).is_empty());
        let (verdict, sent) = h.send_bytes(1, b"caf\xe9\n");
        assert_eq!(verdict, Err(Discard::Malformed));
        assert_eq!(lines_to(&sent, 1), ["*** error: not UTF-8 text\n"]);
        assert!(lines_to(&sent, 2).is_empty());
    }

    #[test]
    fn control_characters_cannot_reach_other_terminals() {
        let mut h = three_members();
        let sent = h.say(1, "\u{1b}[2Jgotcha\u{7}");
        assert_eq!(lines_to(&sent, 2), ["[lobby] <alice> ?[2Jgotcha?\n"]);
    }

    #[test]
    fn a_member_over_the_rate_limit_gets_one_slow_down_line() {
        let mut h = three_members();
        let burst = ChatLimits::default().burst as usize;
        for i in 1..=burst {
            let sent = h.say(1, &std::format!("message {i}"));
            assert_eq!(lines_to(&sent, 2).len(), 1, "message {i} relayed");
        }
        let sent = h.say(1, "one too many");
        assert!(lines_to(&sent, 2).is_empty());
        assert!(lines_to(&sent, 1)[0].starts_with("*** slow down"));
        let sent = h.say(1, "and another");
        assert!(sent.is_empty(), "only one slow-down line per dry spell");
        assert_eq!(h.chat.stats().rate_limited, 2);
        h.advance(1); // 2 tokens per second
        assert_eq!(lines_to(&h.say(1, "back"), 2), ["[lobby] <alice> back\n"]);
        for _ in 0..20 {
            h.say(1, "flood");
        }
        let sent = h.say(1, "/quit");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** bye alice\n"],
            "quitting is never rate limited"
        );
    }

    #[test]
    fn quit_in_disguise_cannot_bypass_the_rate_limit() {
        // Fuzzing found " /quit spam": recognised as /quit (so exempt from
        // the rate limit) on the trimmed line, relayed as a message from
        // the untrimmed one; 32 went through in one poll against a burst
        // of 4. A line is read once now, and a command starts with `/`
        // (as `udpkit chat` reads what it sends): this one is a message.
        let limits = ChatLimits {
            burst: 4,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick alice");
        h.say(2, "/nick bob");
        let mut relayed = Vec::new();
        let mut to_alice = Vec::new();
        for _ in 0..32 {
            let sent = h.say(1, " /quit spam");
            relayed.extend(lines_to(&sent, 2));
            to_alice.extend(lines_to(&sent, 1));
        }
        assert_eq!(relayed, ["[lobby] <alice>  /quit spam\n"; 4]);
        // Its four echoes, and one slow-down line.
        assert_eq!(to_alice.len(), 5, "{to_alice:?}");
        assert!(to_alice[4].starts_with("*** slow down"), "{to_alice:?}");
        assert_eq!(h.chat.stats().rate_limited, 28);
        assert_eq!(h.chat.member_count(), 2, "nobody quit");
        // A real /quit still leaves at once, over the limit or not.
        let sent = h.say(1, "/ quit now");
        assert_eq!(lines_to(&sent, 1), ["*** bye alice\n"]);
        assert_eq!(lines_to(&sent, 2), ["*** alice left lobby (quit)\n"]);
    }

    #[test]
    fn a_members_bad_utf8_is_activity_and_takes_its_tokens() {
        // Fuzzing found that a member's non-UTF-8 datagrams got an error
        // line every time, without the rate limit, and did not count as
        // activity, although any datagram does.
        let limits = ChatLimits {
            burst: 4,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick alice");
        h.say(2, "/nick bob");
        let mut answers = Vec::new();
        let mut verdicts = Vec::new();
        for _ in 0..32 {
            let (verdict, sent) = h.send_bytes(1, b"caf\xe9\n");
            verdicts.push(verdict);
            answers.extend(lines_to(&sent, 1));
            assert!(lines_to(&sent, 2).is_empty());
        }
        assert_eq!(answers.len(), 5, "{answers:?}");
        assert_eq!(answers[..4], ["*** error: not UTF-8 text\n"; 4]);
        assert!(answers[4].starts_with("*** slow down"), "{answers:?}");
        assert_eq!(verdicts[..4], [Err(Discard::Malformed); 4]);
        assert_eq!(verdicts[4..], [Err(Discard::Limited); 28]);
        assert_eq!(h.chat.stats().rate_limited, 28);
        // Four minutes later, alice says something bob cannot read; one
        // more minute, and bob's idle time is up, not hers.
        h.advance(240);
        let (_, sent) = h.send_bytes(1, b"\xff");
        assert_eq!(lines_to(&sent, 1), ["*** error: not UTF-8 text\n"]);
        h.advance(60);
        let sent = h.tick();
        assert_eq!(
            lines_to(&sent, 1),
            ["*** bob left lobby (idle for 5 min)\n"]
        );
        assert_eq!(h.chat.member_count(), 1);
    }

    #[test]
    fn strangers_get_a_bounded_number_of_answers() {
        let limits = ChatLimits {
            strangers_per_second: 5,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        let answered = (100..150).filter(|n| !h.say(*n, "hi").is_empty()).count();
        assert_eq!(answered, 5);
        assert_eq!(h.chat.stats().strangers_silenced, 45);
    }

    /// The chat's counter called `name`, as a port prints it.
    fn counter<const M: usize, const R: usize>(chat: &Chat<M, R>, name: &str) -> Option<u64> {
        let mut found = None;
        chat.counters(&mut |n, value| {
            if n == name {
                found = Some(value);
            }
        });
        found
    }

    const OVER_BUDGET: &str = "silenced strangers: byte budget";

    #[test]
    fn a_strangers_help_is_no_amplifier() {
        // Fuzzing found the full help, 494 bytes, sent to any source for a
        // request of 5 to 48 bytes: a tenfold amplifier for a forged one.
        // A stranger is told how to join; the full help is for members.
        let mut h = default_harness();
        let sent = h.say(9, "/help");
        assert_eq!(
            lines_to(&sent, 9),
            ["*** join with /nick NAME; then /help lists the commands\n"]
        );
        h.say(9, "/nick nine");
        assert!(lines_to(&h.say(9, "/help"), 9)[0].starts_with("*** commands:\n"));
    }

    #[test]
    fn strangers_get_no_more_bytes_than_they_send_beyond_a_small_budget() {
        // The strangers' line rate out of the way: this is about bytes.
        let limits = ChatLimits {
            strangers_per_second: 100_000,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick alice");
        let requests: [&[u8]; 6] = [
            b"/help\n",
            b"hi\n",
            b"\xff",
            b"/quit",
            b"/nick bad!\n",
            b"/nick alice\n",
        ];
        let (mut bytes_in, mut bytes_out, mut unanswered) = (0, 0, 0);
        let sources = 3000u16;
        for i in 0..sources {
            let request = requests[usize::from(i) % requests.len()];
            let (_, sent) = h.send_bytes(100 + i, request);
            assert!(sent.len() <= 1 && sent.iter().all(|(to, _)| *to == peer(100 + i)));
            bytes_in += request.len();
            bytes_out += sent.iter().map(|(_, d)| d.len()).sum::<usize>();
            unanswered += usize::from(sent.is_empty());
        }
        assert!(
            bytes_out <= bytes_in + EXCESS_BYTES_BURST as usize,
            "{bytes_out} bytes out for {bytes_in} in"
        );
        assert!(
            unanswered > usize::from(sources) * 3 / 4,
            "{unanswered} of {sources} unanswered"
        );
        assert_eq!(counter(&h.chat, OVER_BUDGET), Some(unanswered as u64));
        // A request as large as its answer needs no budget: answered.
        let padded = std::format!("hi{}\n", " ".repeat(100));
        let sent = h.say(99, &padded);
        assert!(lines_to(&sent, 99)[0].starts_with("*** error: you are not in the chat"));
        // Time refills the budget.
        h.advance(1);
        assert_eq!(lines_to(&h.say(98, "/help"), 98).len(), 1);
        // Members are not strangers: alice's answers are not held back.
        assert_eq!(lines_to(&h.say(1, "/help"), 1).len(), 1);
    }

    #[test]
    fn a_join_is_an_answer_to_a_stranger_too() {
        // The welcome lists the room: with the budget spent, joining and
        // quitting again and again would amplify every /nick tenfold.
        let limits = ChatLimits {
            strangers_per_second: 1000,
            ..ChatLimits::default()
        };
        let mut h: Harness<32, 2> = Harness::new(limits);
        for n in 1..=12 {
            h.say(n, &std::format!("/nick membername{n:06}"));
        }
        // Drain the budget.
        for n in 100..1100 {
            h.say(n, "?");
        }
        let before = h.chat.member_count();
        let drained = counter(&h.chat, OVER_BUDGET).unwrap();
        let sent = h.say(50, "/nick x");
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(h.chat.member_count(), before, "not joined, nobody told");
        let refused = counter(&h.chat, OVER_BUDGET).unwrap();
        assert_eq!(refused, drained + 1, "the refused join is counted");
        // Once the budget is back, the same request joins.
        h.advance(4);
        let sent = h.say(50, "/nick x");
        assert!(lines_to(&sent, 50)[0].starts_with("*** welcome x, you are in lobby with: "));
        assert_eq!(h.chat.member_count(), before + 1);
        assert_eq!(counter(&h.chat, OVER_BUDGET), Some(refused));
    }

    #[test]
    fn idle_members_expire_and_their_room_is_told() {
        let mut h = three_members();
        assert_eq!(h.chat.poll_at(), Some(h.now + Duration::from_secs(300)));
        h.advance(200);
        h.say(1, "/ping");
        h.say(2, "still here");
        h.advance(100);
        let sent = h.tick();
        assert_eq!(
            lines_to(&sent, 1),
            ["*** carol left lobby (idle for 5 min)\n"]
        );
        assert!(
            lines_to(&sent, 3).is_empty(),
            "an idle member's host may be gone"
        );
        assert_eq!(h.chat.member_count(), 2);
        assert_eq!(
            lines_to(&h.say(3, "back again"), 3),
            ["*** error: you are not in the chat (members silent for 5 min leave it): join with /nick NAME\n"]
        );
        assert_eq!(h.chat.stats().expired, 1);
        h.advance(300);
        h.tick();
        assert_eq!(h.chat.member_count(), 0);
        assert_eq!(h.chat.poll_at(), None);
    }

    #[test]
    fn lines_to_members_quiet_for_a_while_take_the_detour() {
        let mut h = three_members();
        h.advance(40);
        h.say(2, "/ping");
        h.advance(10);
        // alice spoke 0 s ago, bob 10 s ago, carol 50 s ago.
        let mut out = VecOutbox::new();
        let request = Request {
            from: peer(1),
            to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
            payload: b"anyone?\n",
            now: h.now,
            wall: None,
            clock: crate::ClockSource::UNSYNCHRONIZED,
        };
        assert_eq!(h.chat.on_datagram(&request, &mut out), Ok(()));
        assert_eq!(
            out.sent.len(),
            3,
            "bob and carol both hear it, alice its echo"
        );
        assert_eq!(
            out.detoured,
            [peer(3)],
            "only carol's line takes the detour"
        );
    }

    #[test]
    fn burst_covers_the_worst_fan_out() {
        let limits = ChatLimits {
            max_members: 5,
            max_message: 100,
            ..ChatLimits::default()
        };
        let chat: Chat<8, 4> = Chat::new(limits);
        // Four members hear of a move (`*** NICK left FROM for TO`, three
        // names of NAME_CAP bytes) and the mover a welcome to a room of
        // five: more than five lines of the longest message.
        let moved = "***  left  for \n".len() + 3 * NAME_CAP;
        let welcome = "*** welcome , you are in  with: \n".len() + 7 * NAME_CAP + 4 * ", ".len();
        assert_eq!(
            chat.burst(),
            Burst {
                datagrams: 5,
                bytes: 4 * moved + welcome
            }
        );
        assert!(4 * moved + welcome > 5 * (100 + RELAY_OVERHEAD));
        // With messages of a byte, a move is the most that goes to others
        // (a detour's worst).
        let tiny = ChatLimits {
            max_message: 1,
            ..limits
        };
        assert_eq!(tiny.fan_out_bytes(), 4 * moved);
        let chat: Chat<8, 4> = Chat::new(ChatLimits {
            max_message: 200,
            ..limits
        });
        assert_eq!(chat.burst().bytes, 5 * (200 + RELAY_OVERHEAD));
        // Capacities clamp the limits.
        let chat: Chat<2, 1> = Chat::new(ChatLimits::default());
        assert_eq!(chat.limits().max_members, 2);
        assert_eq!(chat.limits().max_rooms, 1);
        // The longest possible relay line fits in its share of the burst.
        let mut h: Harness<32, 8> = Harness::new(ChatLimits::default());
        h.say(1, "/nick abcdefghijklmnop");
        h.say(2, "/nick b");
        h.say(1, "/join ponmlkjihgfedcba");
        h.say(2, "/join ponmlkjihgfedcba");
        let text = "x".repeat(400);
        let sent = h.say(1, &text);
        assert!(lines_to(&sent, 2)[0].len() <= 400 + RELAY_OVERHEAD);
    }

    #[test]
    fn every_line_fits_the_longest_line_and_the_longest_lines_reach_it() {
        // The lean image's limits, with room for this test's datagrams.
        const LIMITS: ChatLimits = ChatLimits {
            max_members: 8,
            max_rooms: 4,
            max_message: 200,
            burst: 64,
            per_second: 1000,
            strangers_per_second: 1000,
            ..ChatLimits::DEFAULT
        };
        const LINE: usize = LIMITS.longest_line();
        assert_eq!(LINE, 527);
        // Every datagram below is checked by the harness: each line within
        // LINE (and the chat's buffer of LINE bytes), all within the burst.
        let mut h: Harness<8, 4, LINE> = Harness::new(LIMITS);
        // Names of 16 characters of three bytes: NAME_CAP bytes.
        let han = |base: &str, n: u16| {
            let last = char::from_u32(0x4e00 + u32::from(n)).unwrap();
            format!("{}{last}", base.repeat(15))
        };
        let nick = |n: u16| han("黎", n);
        let room = |n: u16| han("房", n);
        assert_eq!((nick(1).len(), room(1).len()), (NAME_CAP, NAME_CAP));
        for n in 1..=8 {
            h.say(n, &format!("/nick {}", nick(n)));
        }
        let full = h.say(9, &format!("/nick {}", nick(9)));
        assert!(lines_to(&full, 9)[0].starts_with("*** error: server full"));
        // Strangers' lines.
        h.say(9, "/help");
        h.say(9, "/quit");
        h.say(9, "hello");
        assert!(h.send_bytes(9, b"\xff\n").0.is_err());
        // Everyone moves to a room of NAME_CAP bytes: the last one's
        // welcome names 8 nicks of NAME_CAP bytes, the longest line.
        for n in 1..=8 {
            let sent = h.say(n, &format!("/join {}", room(1)));
            assert_eq!(lines_to(&sent, n).len(), 1);
        }
        assert_eq!(h.longest, LINE, "the welcome to a full room");
        h.say(1, "/who");
        // A message and an action of max_message bytes (multi-byte text) to
        // the 7 others and back: lines of exactly 200 + RELAY_OVERHEAD
        // bytes, which makes the heaviest burst there is.
        let text = "é".repeat(100);
        for line in [text.clone(), format!("/me {text}")] {
            let sent = h.say(1, &line);
            assert_eq!(sent.len(), 8);
            for (_, datagram) in &sent {
                assert_eq!(datagram.len(), 200 + RELAY_OVERHEAD);
            }
            assert_eq!(h.heaviest, LIMITS.burst_bytes());
            let to_others: usize = sent
                .iter()
                .filter(|(to, _)| *to != peer(1))
                .map(|(_, d)| d.len())
                .sum();
            assert_eq!(to_others, LIMITS.fan_out_bytes());
        }
        // Refusals, each with its longest words.
        let too_long = format!("{text}x");
        h.say(1, &too_long);
        h.say(1, &"x".repeat(65_507));
        h.say(1, &format!("/me {too_long}"));
        h.say(1, &format!("/msg {} {text}", nick(2)));
        h.say(1, &format!("/msg {} {too_long}", nick(2)));
        h.say(1, &format!("/msg {} hi", "z".repeat(300)));
        h.say(1, &format!("/msg {}", nick(2)));
        h.say(1, "/me");
        h.say(1, &format!("/{} x", "v".repeat(300)));
        assert!(h.send_bytes(1, b"\xff\n").0.is_err());
        for bad in [
            nick(2),
            "黎".repeat(17),
            "aα".into(),
            "a!".into(),
            String::new(),
        ] {
            h.say(1, &format!("/nick {bad}"));
        }
        h.say(1, &format!("/nick {}", nick(1)));
        h.say(1, &format!("/nick {}", nick(11)));
        for bad in [room(1), "private".into(), "房".repeat(17), "a α".into()] {
            h.say(1, &format!("/join {bad}"));
        }
        h.say(1, "");
        h.say(1, "   ");
        h.say(1, "/ping");
        h.say(1, "/help");
        // Four rooms, each of NAME_CAP bytes but the lobby's, and no fifth.
        h.say(7, &format!("/join {}", room(2)));
        h.say(8, &format!("/join {}", room(3)));
        h.say(6, &format!("/join {}", room(4)));
        h.say(5, "/rooms");
        h.say(8, "/leave");
        h.say(8, "/leave");
        h.say(5, "/quit");
        for _ in 0..64 {
            h.say(3, "/ping");
        }
        assert_eq!(h.chat.stats().rate_limited, 1);
        // All but two go quiet and leave together.
        h.advance(200);
        h.say(1, "/ping");
        h.say(2, "/ping");
        h.advance(101);
        assert!(!h.tick().is_empty());
        assert_eq!(h.chat.member_count(), 2);
        assert_eq!(h.longest, LINE);
    }

    #[test]
    fn every_line_the_bound_leaves_out_is_shorter_than_the_help() {
        // With the longest names, words repeated and numbers there can be.
        let name = "𠀀".repeat(12);
        let word = "v".repeat(ECHO_CAP);
        let (most, secs) = (usize::MAX, u64::MAX / 1_000_000);
        let problems = [
            NameProblem::Missing,
            NameProblem::TooLong {
                max_chars: most,
                max_bytes: most,
            },
            NameProblem::BadCharacters,
            NameProblem::MixedScripts,
            NameProblem::Reserved,
        ];
        let mut lines = std::vec![
            ServerLine::Joined {
                nick: &name,
                room: &name,
            },
            ServerLine::Quit {
                nick: &name,
                room: &name,
            },
            ServerLine::AlreadyNick(&name),
            ServerLine::AlreadyInRoom(&name),
            ServerLine::Pong,
            ServerLine::SaySomething,
            ServerLine::Bye(&name),
            ServerLine::ByeStranger,
            ServerLine::HelpForStrangers,
            ServerLine::SlowDown {
                per_second: u32::MAX,
            },
        ];
        let refusals = [
            Refusal::NotUtf8,
            Refusal::NickTaken(&name),
            Refusal::ServerFull { max_members: most },
            Refusal::TooManyRooms { max_rooms: most },
            Refusal::InLobby,
            Refusal::MessageTooLong {
                len: most,
                max: most,
            },
            Refusal::MsgUsage,
            Refusal::MeUsage,
            Refusal::NoSuchNick(&word),
            Refusal::UnknownCommand(&word),
            Refusal::NotMember { idle_secs: secs },
        ];
        lines.extend(refusals.map(ServerLine::Error));
        for problem in problems {
            lines.push(ServerLine::Error(Refusal::BadNick(problem)));
            lines.push(ServerLine::Error(Refusal::BadRoom(problem)));
        }
        for line in lines {
            assert!(line.buffer_len() < wire::chat::HELP.len(), "{line:?}");
        }
        // And a join or a quit is shorter than a move.
        let moved = ServerLine::Moved {
            nick: &name,
            from: LOBBY,
            to: LOBBY,
        };
        for line in [
            ServerLine::Joined {
                nick: &name,
                room: LOBBY,
            },
            ServerLine::Quit {
                nick: &name,
                room: LOBBY,
            },
        ] {
            assert!(line.buffer_len() < moved.buffer_len());
        }
    }

    #[test]
    fn members_leaving_together_can_be_the_heaviest_burst() {
        // 64 members in a room, names of NAME_CAP bytes, messages of a
        // byte: when 19 leave, each of the 45 who stay hears a line of
        // LINE_CAP bytes at most (19 names are that long, and are cut).
        let limits = ChatLimits {
            max_members: 64,
            max_message: 1,
            burst: 1000,
            per_second: 1000,
            strangers_per_second: 1000,
            ..ChatLimits::DEFAULT
        };
        let expired = |names: usize| {
            "***  left  (idle for 5 min)\n".len() + NAME_CAP + names * NAME_CAP + (names - 1) * 2
        };
        assert_eq!(expired(19), LINE_CAP);
        assert_eq!(limits.burst_bytes(), 45 * LINE_CAP);
        assert_eq!(limits.fan_out_bytes(), 45 * LINE_CAP);
        // 18 leaving is the most there is: 46 whole lines of 18 names, 3 %
        // short of the burst (19 names are cut to 18 and `, ...`).
        let mut h: Harness<64, 8> = Harness::new(limits);
        let nick = |n: u16| {
            let last = char::from_u32(0x4e00 + u32::from(n)).unwrap();
            format!("{}{last}", "黎".repeat(15))
        };
        let room = format!("/join {}", "房".repeat(16));
        for n in 1..=64 {
            h.advance(1);
            h.say(n, &format!("/nick {}", nick(n)));
            h.say(n, &room);
        }
        h.advance(200);
        for n in 19..=64 {
            h.say(n, "/ping");
        }
        h.advance(100);
        let sent = h.tick();
        assert_eq!(sent.len(), 46);
        let bytes: usize = sent.iter().map(|(_, d)| d.len()).sum();
        assert_eq!(bytes, 46 * expired(18));
        assert!(bytes * 100 > limits.burst_bytes() * 97, "{bytes}");
    }

    #[test]
    fn short_nicks_in_the_lobby_alone_make_private_lines_the_longest_relayed() {
        // Nicks of 5 characters of four bytes, 20 bytes; no room but the
        // lobby, whose name is shorter than `private to`.
        let limits = ChatLimits {
            max_members: 8,
            max_rooms: 1,
            max_nick: 5,
            max_message: 200,
            burst: 100,
            per_second: 100,
            strangers_per_second: 100,
            ..ChatLimits::DEFAULT
        };
        let private_sent = "[private to ] \n".len() + 20 + 200;
        assert_eq!(limits.burst_bytes(), 8 * private_sent);
        assert_eq!(limits.longest_line(), wire::chat::HELP.len());
        let mut h: Harness<8, 1> = Harness::new(limits);
        let nick = |n: u16| {
            let last = char::from_u32(0x20000 + u32::from(n)).unwrap();
            format!("{}{last}", "𠀀".repeat(4))
        };
        let mut welcomes = Vec::new();
        for n in 1..=8 {
            welcomes.push(lines_to(&h.say(n, &format!("/nick {}", nick(n))), n)[0].len());
        }
        let text = "x".repeat(200);
        let sent = h.say(1, &format!("/msg {} {text}", nick(2)));
        assert_eq!(lines_to(&sent, 1)[0].len(), private_sent);
        assert_eq!(lines_to(&sent, 2)[0].len(), private_sent - 1);
        assert_eq!(h.say(1, &text)[0].1.len(), private_sent - 3);
        // With messages of a byte, a rename is the longest notice: to the
        // 7 others, and the welcome of a join to the sender at most.
        let renamed = "***  is now known as \n".len() + 2 * 20;
        let welcome = "*** welcome , you are in lobby with: \n".len() + 9 * 20 + 7 * 2;
        let tiny = ChatLimits {
            max_message: 1,
            ..limits
        };
        assert_eq!(tiny.burst_bytes(), 7 * renamed + welcome);
        let sent = h.say(1, &format!("/nick {}", nick(9)));
        assert_eq!(sent.len(), 8);
        assert!(sent.iter().all(|(_, line)| line.len() == renamed));
        assert_eq!(welcomes[7], welcome);
        assert_eq!(h.longest, private_sent);
    }

    #[test]
    fn with_nicks_of_a_character_the_room_list_can_be_the_longest_line() {
        let limits = ChatLimits {
            max_members: 9,
            max_rooms: 10,
            max_nick: 1,
            max_message: 1,
            ..ChatLimits::DEFAULT
        };
        // `*** rooms: lobby (0)` and 9 rooms of NAME_CAP bytes, one each.
        let rooms = "*** rooms: lobby (0)\n".len() + 9 * " ROOM (1)".len() - 9 * 4 + 9 * NAME_CAP;
        assert!(rooms > wire::chat::HELP.len());
        assert_eq!(limits.longest_line(), rooms);
        let mut h: Harness<9, 10> = Harness::new(limits);
        for n in 1..=9 {
            let last = char::from_u32(0x4e00 + u32::from(n)).unwrap();
            h.say(n, &format!("/nick {last}"));
            h.say(n, &format!("/join {}{last}", "房".repeat(15)));
        }
        let sent = h.say(1, "/rooms");
        assert_eq!(sent[0].1.len(), rooms);
        // Ten members may make a count of two digits in any entry.
        let ten = ChatLimits {
            max_members: 10,
            ..limits
        };
        assert_eq!(ten.longest_line(), rooms + 10);
    }

    #[test]
    fn digits_and_idle_times_are_as_long_as_lines_write_them() {
        for (n, len) in [(0, 1), (9, 1), (10, 2), (99, 2), (100, 3), (u64::MAX, 20)] {
            assert_eq!(digits(n), len, "{n}");
        }
        let words =
            ServerLine::Error(Refusal::NotMember { idle_secs: 0 }).buffer_len() - "0 s".len();
        for secs in [
            0,
            1,
            59,
            60,
            61,
            90,
            120,
            300,
            3599,
            3600,
            86_400,
            u64::MAX / 1_000_000,
        ] {
            let line = ServerLine::Error(Refusal::NotMember { idle_secs: secs });
            assert_eq!(
                idle_len(Duration::from_secs(secs)),
                line.buffer_len() - words,
                "{secs}"
            );
        }
    }

    #[test]
    fn no_room_may_be_called_private() {
        // `[private] <alice> hi` would read as a private message.
        let mut h = three_members();
        for room in ["private", "Private", "#PRIVATE"] {
            let sent = h.say(1, &std::format!("/join {room}"));
            assert_eq!(
                lines_to(&sent, 1),
                ["*** error: room name private is reserved for private messages\n"]
            );
        }
        assert_eq!(h.chat.room_count(), 1);
        assert!(lines_to(&h.say(1, "/join privately"), 1)[0].starts_with("*** welcome"));
    }

    #[test]
    fn a_private_message_too_long_says_how_long_as_a_message_does() {
        let limits = ChatLimits {
            max_message: 10,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick a");
        h.say(2, "/nick b");
        assert_eq!(
            lines_to(&h.say(1, "/msg b 0123456789x"), 1),
            ["*** error: message too long (11 bytes, 10 at most)\n"]
        );
    }

    #[test]
    fn words_repeated_in_errors_are_cut_and_cleaned() {
        let mut h = three_members();
        let long = "v".repeat(300);
        let sent = h.say(1, &std::format!("/{long} x"));
        assert_eq!(
            lines_to(&sent, 1),
            [std::format!(
                "*** error: unknown command /{}; /help lists them\n",
                &long[..ECHO_CAP]
            )]
        );
        let sent = h.say(1, &std::format!("/msg {long} hi"));
        assert_eq!(
            lines_to(&sent, 1),
            [std::format!(
                "*** error: no one here is called {}\n",
                &long[..ECHO_CAP]
            )]
        );
        let sent = h.say(1, "/da\u{1b}[2Jnce");
        assert_eq!(
            lines_to(&sent, 1),
            ["*** error: unknown command /da?[2Jnce; /help lists them\n"]
        );
    }

    #[test]
    fn a_crowded_room_is_listed_as_far_as_a_line_goes() {
        let limits = ChatLimits {
            max_members: 64,
            strangers_per_second: 1000,
            per_second: 1000,
            burst: 1000,
            ..ChatLimits::default()
        };
        let mut h: Harness<64, 2> = Harness::new(limits);
        for n in 1..=64 {
            // Each welcome is longer than its /nick: time for the budget.
            h.advance(4);
            let sent = h.say(n, &std::format!("/nick member{n:010}"));
            assert!(lines_to(&sent, n)[0].starts_with("*** welcome"));
        }
        for n in 1..=64 {
            h.say(n, "/ping");
        }
        let sent = h.say(64, "/who");
        let who = &lines_to(&sent, 64)[0];
        assert!(who.len() <= LINE_CAP && who.ends_with(", ...\n"), "{who}");
        assert!(who.starts_with("*** in lobby with: member0000000001, member0000000002, "));
        // All but one go quiet; they leave together, in one line, cut once.
        h.advance(200);
        h.say(64, "/ping");
        h.advance(100);
        let sent = h.tick();
        let expired = lines_to(&sent, 64);
        assert_eq!(expired.len(), 1);
        assert!(expired[0].ends_with(", ... left lobby (idle for 5 min)\n"));
        assert_eq!(expired[0].matches("...").count(), 1, "{}", expired[0]);
        assert!(expired[0].len() <= LINE_CAP);
        assert_eq!(h.chat.member_count(), 1);
    }

    #[test]
    fn members_leaving_at_once_are_named_in_the_order_they_leave_the_table() {
        // The table's order after each swap_remove, as the service always
        // named them: a, then d moved into a's place, then c.
        let mut h = default_harness();
        for nick in ["a", "b", "c", "d"] {
            h.say(u16::from(nick.as_bytes()[0]), &std::format!("/nick {nick}"));
        }
        h.advance(200);
        h.say(u16::from(b'b'), "/ping");
        h.advance(100);
        assert_eq!(
            lines_to(&h.tick(), u16::from(b'b')),
            ["*** a, d, c left lobby (idle for 5 min)\n"]
        );
    }

    #[test]
    fn the_longest_message_fits_a_line_with_the_longest_nick_and_room() {
        // 12 characters of four bytes: a nick and a room of NAME_CAP bytes.
        let (nick, room) = ("𠀀".repeat(12), "𠀁".repeat(12));
        let limits = ChatLimits {
            max_message: usize::MAX,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, &format!("/nick {nick}"));
        h.say(2, "/nick b");
        h.say(1, &format!("/join {room}"));
        h.say(2, &format!("/join {room}"));
        assert_eq!(limits.longest_line(), LINE_CAP);
        let longest = "x".repeat(921);
        let sent = h.say(1, &longest);
        let expected = format!("[{room}] <{nick}> {longest}\n");
        assert_eq!(expected.len(), LINE_CAP);
        assert_eq!(lines_to(&sent, 2), std::slice::from_ref(&expected));
        assert_eq!(lines_to(&sent, 1), [expected], "the echo");
        let sent = h.say(1, &format!("{longest}x"));
        assert_eq!(
            lines_to(&sent, 1),
            ["*** error: message too long (922 bytes, 921 at most)\n"]
        );
        assert!(lines_to(&sent, 2).is_empty());
        assert_eq!(h.chat.stats().send_failed, 0);
    }

    #[test]
    fn a_room_lasts_while_someone_is_in_it_and_the_lobby_always() {
        let mut h = three_members();
        h.say(2, "/join games");
        h.say(3, "/join games");
        assert_eq!(h.chat.room_count(), 2);
        assert_eq!(counter(&h.chat, "rooms"), Some(2));
        // bob leaves, carol is still there: the room stays.
        h.say(2, "/leave");
        assert_eq!(
            lines_to(&h.say(1, "/rooms"), 1),
            ["*** rooms: lobby (2) games (1)\n"]
        );
        assert_eq!(h.chat.room_count(), 2);
        // Everyone in games: the lobby is empty, and still there.
        h.say(1, "/join games");
        h.say(2, "/join games");
        assert_eq!(
            lines_to(&h.say(1, "/rooms"), 1),
            ["*** rooms: lobby (0) games (3)\n"]
        );
        // The last ones quit: games goes, the lobby stays.
        for n in [1, 2, 3] {
            h.say(n, "/quit");
        }
        assert_eq!(h.chat.room_count(), 1);
        assert_eq!(counter(&h.chat, "rooms"), Some(1));
        h.say(4, "/nick dave");
        assert_eq!(lines_to(&h.say(4, "/rooms"), 4), ["*** rooms: lobby (1)\n"]);
    }

    #[test]
    fn lines_that_cannot_be_queued_are_counted() {
        let mut h = three_members();
        h.advance(50);
        h.say(2, "/ping");
        // carol has been quiet for 50 s: her line takes the detour. A
        // queue that takes nothing longer than 10 bytes refuses all three.
        let mut out = VecOutbox::new();
        out.max_payload = 10;
        let request = Request {
            from: peer(1),
            to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
            payload: b"hello all\n",
            now: h.now,
            wall: None,
            clock: crate::ClockSource::LOCAL,
        };
        assert_eq!(h.chat.on_datagram(&request, &mut out), Ok(()));
        assert!(out.sent.is_empty(), "{:?}", out.sent);
        assert_eq!(out.detoured, [peer(3)]);
        assert_eq!(h.chat.stats().send_failed, 3);
        assert_eq!(counter(&h.chat, "send failed"), Some(3));
        // The message was accepted all the same.
        assert_eq!(h.chat.stats().messages, 1);
    }

    #[test]
    fn a_member_quiet_for_exactly_45_seconds_takes_the_detour() {
        let mut h = three_members();
        h.advance(1);
        h.say(2, "/ping");
        h.advance(44);
        // bob spoke 44 s ago, carol 45 s ago.
        let mut out = VecOutbox::new();
        let request = Request {
            from: peer(1),
            to: IpAddress::Ipv4(Ipv4Address::new(192, 168, 69, 1)),
            payload: b"still there?\n",
            now: h.now,
            wall: None,
            clock: crate::ClockSource::LOCAL,
        };
        assert_eq!(h.chat.on_datagram(&request, &mut out), Ok(()));
        assert_eq!(out.sent.len(), 3);
        assert_eq!(out.detoured, [peer(3)]);
    }

    #[test]
    fn refusals_are_counted_as_rejected_input() {
        let mut h = three_members();
        let refusals: [(u16, &[u8]); 6] = [
            (9, b"/nick bad!\n"),  // a stranger's bad nick
            (9, b"/nick Alice\n"), // a stranger's nick taken
            (9, b"hello?\n"),      // a stranger not joined
            (9, b"\xff"),          // a stranger's bytes that are not text
            (1, b"/dance\n"),      // a member's unknown command
            (1, b"/nick bad!\n"),  // a member's bad nick
        ];
        for (n, (from, payload)) in refusals.iter().enumerate() {
            let (verdict, sent) = h.send_bytes(*from, payload);
            assert!(verdict.is_err(), "{payload:?}");
            assert!(lines_to(&sent, *from)[0].starts_with("*** error: "));
            assert_eq!(h.chat.stats().rejected, n as u64 + 1, "{payload:?}");
        }
        assert_eq!(counter(&h.chat, "rejected input"), Some(6));
    }

    #[test]
    fn a_chat_without_room_for_members_refuses_every_join() {
        // Capacities of zero are clamped up to one member in the limits;
        // the table itself stays empty, and says so in the counters.
        let mut h: Harness<0, 1> = Harness::new(ChatLimits::default());
        assert_eq!(h.chat.limits().max_members, 1);
        let (verdict, sent) = h.send_bytes(1, b"/nick alice\n");
        assert_eq!(verdict, Err(Discard::Limited));
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(h.chat.member_count(), 0);
        assert_eq!(counter(&h.chat, "refused: server full"), Some(1));
        assert_eq!(counter(&h.chat, "joined"), Some(0));
    }

    #[test]
    fn a_private_message_of_exactly_the_limit_goes_through_and_is_counted() {
        let limits = ChatLimits {
            max_message: 10,
            ..ChatLimits::default()
        };
        let mut h: Harness<4, 2> = Harness::new(limits);
        h.say(1, "/nick a");
        h.say(2, "/nick b");
        let relayed = h.chat.stats().relayed;
        let sent = h.say(1, "/msg b 0123456789");
        assert_eq!(lines_to(&sent, 2), ["[private] <a> 0123456789\n"]);
        assert_eq!(lines_to(&sent, 1), ["[private to b] 0123456789\n"]);
        assert_eq!(h.chat.stats().messages, 1);
        assert_eq!(h.chat.stats().relayed, relayed + 1);
        assert_eq!(counter(&h.chat, "messages"), Some(1));
    }

    #[test]
    fn a_strangers_quit_is_answered_as_a_lost_bye() {
        // A member whose "bye" was lost asks again, as a stranger now.
        let mut h = three_members();
        assert_eq!(lines_to(&h.say(2, "/quit"), 2), ["*** bye bob\n"]);
        let (verdict, sent) = h.send_bytes(2, b"/quit\n");
        assert_eq!(verdict, Ok(()));
        assert_eq!(lines_to(&sent, 2), ["*** bye (you were not in the chat)\n"]);
        assert_eq!(h.chat.stats().quit, 1, "one member quit");
        assert_eq!(counter(&h.chat, "quit"), Some(1));
        assert_eq!(h.chat.stats().rejected, 0, "a lost bye is no error");
    }

    #[test]
    fn every_limit_and_command_survives_arbitrary_bytes() {
        let mut h: Harness<4, 2> = Harness::new(ChatLimits::default());
        let mut seed = 0x1234_5678u32;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let len = (seed % 64) as usize;
            let mut payload: Vec<u8> = (0..len).map(|i| (seed >> (i % 24)) as u8).collect();
            if seed % 3 == 0 {
                let commands = ["/nick ", "/join ", "/msg ", "/me ", "/quit", "/leave"];
                let mut text = commands[(seed as usize / 3) % commands.len()]
                    .as_bytes()
                    .to_vec();
                text.extend(payload.iter().map(|b| b'a' + b % 26));
                payload = text;
            }
            let from = (seed % 6) as u16;
            let _ = h.send_bytes(from, &payload);
            h.advance(1);
        }
        assert!(h.chat.member_count() <= 4);
        let _ = h.tick();
    }
}
