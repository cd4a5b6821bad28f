//! The chat's lines: what a client sends ([`Command`]) and what the server
//! sends back ([`ServerLine`]).
//!
//! One line of UTF-8 text per datagram, so `nc -u` is a complete client.
//! The server is [`services::chat`](crate::services::chat) and the host's
//! `udpkit chat` a client; both read and write the lines here, so what the
//! server says and what the client understands cannot drift apart.
//!
//! # What a client sends
//!
//! A line that starts with `/` is a command: the word after the `/` (the
//! verb, spaces before it allowed) and the rest, its arguments (spaces
//! before them dropped): `/nick NAME`, `/join ROOM`, `/leave`, `/who`,
//! `/rooms`, `/msg NAME TEXT`, `/me ACTION`, `/ping`, `/quit`, `/help`.
//! Anything else is a message to the sender's room, as typed (` /quit` with
//! a space first is a message). One `\n` or `\r\n` at the end is not part of
//! the line. A line is read once, and the server makes every decision about
//! it on that one reading.
//!
//! # What the server sends
//!
//! Every line ends with `\n`, and no line carries a control character:
//! text from a client is written with control characters replaced by `?`,
//! so no one can send escape sequences to other members' terminals.
//!
//! ```text
//! [lobby] <alice> hello there          a message (Message)
//! [lobby] * alice waves                /me waves (Action)
//! [private] <alice> psst               /msg bob psst, as bob sees it (Private)
//! [private to bob] psst                ... and as alice sees it (PrivateSent)
//! *** bob joined lobby                 a system line: joins, leaves, answers
//! *** error: nick bob is taken, pick another
//! ```
//!
//! Nicks and room names are letters and digits of any script, `_` and `-`
//! (`黎诗`, `alex`, `Ünal_2`): never a space, punctuation, control or
//! format character, so they never contain the separators around them, and
//! never Latin mixed with Greek or Cyrillic letters, which look alike
//! (`pаypal` with a Cyrillic `а`). Servers take at most [`NAME_CHARS`]
//! characters and [`NAME_CAP`] bytes; the room name
//! [`PRIVATE`] is reserved, as `[private]` marks a private message.
//! Member lists longer than a line ([`LINE_CAP`]) end with `, ...`.
//!
//! # Round trips
//!
//! `parse` never panics. A [`Command`] and a [`ServerLine`] read back as
//! written when their names are names (above) and their counts and texts
//! fit a line; a [`ServerLine`]'s texts also without control characters
//! (they are written as `?`). Whatever `parse` accepts is written back by
//! `emit` as a line that parses the same.

use core::fmt::{self, Write};

use super::{strip_line_ending, Counter, Digits, Error, Result, SliceWriter};

/// Longest nick or room name, in characters.
pub const NAME_CHARS: usize = 16;

/// Longest nick or room name, in bytes: [`NAME_CHARS`] characters of the
/// Chinese, Japanese or Korean scripts (three bytes each in UTF-8).
pub const NAME_CAP: usize = 3 * NAME_CHARS;

/// Longest line the server sends (a `/who` of a full room, `/help`), in
/// bytes. Lists longer than that are cut with `, ...`.
pub const LINE_CAP: usize = 1024;

/// The room every member starts in; it always exists.
pub const LOBBY: &str = "lobby";

/// The room name no room may have: `[private]` starts a private message.
pub const PRIVATE: &str = "private";

/// The longest piece of a client's line the server repeats in an error
/// (an unknown command, a nick nobody has), in bytes: a word, not a page.
pub const ECHO_CAP: usize = 64;

/// Whether `text` can be a nick or room name on the wire: 1 or more
/// letters or digits of any script, `_` or `-`, with no Latin letter beside
/// a Greek or Cyrillic one (the server's limits on the length are
/// [`NAME_CHARS`] and [`NAME_CAP`]).
pub fn is_name(text: &str) -> bool {
    name_problem(text).is_none()
}

/// What keeps `text` from being a name on the wire, whatever its length.
fn name_problem(text: &str) -> Option<NameProblem> {
    if text.is_empty() {
        return Some(NameProblem::Missing);
    }
    let mut scripts = LookAlike::NONE;
    for c in text.chars() {
        if !(c.is_alphanumeric() || c == '_' || c == '-') {
            return Some(NameProblem::BadCharacters);
        }
        scripts = scripts.with(c);
    }
    scripts.is_mixed().then_some(NameProblem::MixedScripts)
}

/// Which of the three scripts whose letters look alike (Latin, Greek,
/// Cyrillic: `a` `α` `а`) a name uses. Ranges of code points are enough:
/// other letters and all digits belong to none.
#[derive(Clone, Copy)]
struct LookAlike {
    latin: bool,
    greek: bool,
    cyrillic: bool,
}

impl LookAlike {
    const NONE: LookAlike = LookAlike {
        latin: false,
        greek: false,
        cyrillic: false,
    };

    fn with(mut self, c: char) -> LookAlike {
        match u32::from(c) {
            0x41..=0x5a | 0x61..=0x7a | 0xc0..=0x24f | 0x1e00..=0x1eff => self.latin = true,
            0x370..=0x3ff | 0x1f00..=0x1fff => self.greek = true,
            0x400..=0x52f | 0x1c80..=0x1c8f | 0x2de0..=0x2dff | 0xa640..=0xa69f => {
                self.cyrillic = true
            }
            _ => {}
        }
        self
    }

    fn is_mixed(self) -> bool {
        u8::from(self.latin) + u8::from(self.greek) + u8::from(self.cyrillic) > 1
    }
}

/// Whether two names are one: equal but for case, in any script (`Alex`
/// and `alex`, `ÉLODIE` and `élodie`).
pub fn same_name(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

// ---------------------------------------------------------------------------
// What a client sends.

/// One line from a client: a command, or a message to its room.
///
/// Arguments are kept as typed (a nick may be empty or invalid): what they
/// are worth is for the server to judge, and to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `/nick NAME`: join the chat (in the lobby), or change nick.
    Nick(&'a str),
    /// `/join ROOM` (or `/join #ROOM`): move to a room, made if new.
    Join(&'a str),
    /// `/leave`: back to the lobby.
    Leave,
    /// `/who`: who is in my room.
    Who,
    /// `/rooms`: every room and how many are in it.
    Rooms,
    /// `/msg NAME TEXT`: a private message.
    Msg {
        /// The recipient's nick, as typed.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `/me ACTION`: `* nick ACTION` to the room.
    Me(&'a str),
    /// `/ping`: keep the membership alive, and hear `*** pong`.
    Ping,
    /// `/quit`: leave the chat.
    Quit,
    /// `/help`: the list of commands.
    Help,
    /// A command with any other verb.
    Unknown {
        /// The word after the `/`.
        verb: &'a str,
        /// The rest of the line.
        args: &'a str,
    },
    /// Not a command: said to the room as it was typed (nothing if empty).
    Message(&'a str),
}

impl<'a> Command<'a> {
    /// Reads a datagram from a client; an error if it is not UTF-8 text.
    pub fn parse(payload: &'a [u8]) -> Result<Command<'a>> {
        let text = core::str::from_utf8(strip_line_ending(payload)).map_err(|_| Error)?;
        Ok(Command::read(text))
    }

    /// Reads a line that is already text, without its line ending (what a
    /// person typed).
    pub fn read(text: &'a str) -> Command<'a> {
        let Some(command) = text.strip_prefix('/') else {
            return Command::Message(text);
        };
        let (verb, args) = split_word(command);
        match verb {
            "nick" => Command::Nick(args),
            "join" => Command::Join(args),
            "leave" => Command::Leave,
            "who" => Command::Who,
            "rooms" => Command::Rooms,
            "msg" => {
                let (to, text) = split_word(args);
                Command::Msg { to, text }
            }
            "me" => Command::Me(args),
            "ping" => Command::Ping,
            "quit" => Command::Quit,
            "help" => Command::Help,
            _ => Command::Unknown { verb, args },
        }
    }

    /// The line's length on the wire.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter::default();
        // Counting cannot fail.
        let _ = self.write(&mut Tally::new(&mut counter));
        counter.len()
    }

    /// Writes the line into `buffer`; returns its length, or an error when
    /// `buffer` is shorter than [`Command::buffer_len`].
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let mut writer = SliceWriter::new(buffer);
        self.write(&mut Tally::new(&mut writer))
            .map_err(|_| Error)?;
        Ok(writer.len())
    }

    /// The line as `udpkit chat` sends it: no line ending, unless the line
    /// itself ends in `\r` or `\n`; then `\r\n` follows, so that the one
    /// line ending a reader strips leaves the line whole.
    fn write(&self, out: &mut Tally<'_>) -> fmt::Result {
        /// `verb`, and ` args` unless there are none.
        fn with_args(out: &mut Tally<'_>, verb: &str, args: &str) -> fmt::Result {
            out.write_str(verb)?;
            if !args.is_empty() {
                out.write_char(' ')?;
                out.write_str(args)?;
            }
            Ok(())
        }
        match *self {
            Command::Nick(name) => with_args(out, "/nick", name)?,
            Command::Join(room) => with_args(out, "/join", room)?,
            Command::Leave => out.write_str("/leave")?,
            Command::Who => out.write_str("/who")?,
            Command::Rooms => out.write_str("/rooms")?,
            Command::Msg { to, text } => {
                with_args(out, "/msg", to)?;
                if !text.is_empty() {
                    out.write_char(' ')?;
                    out.write_str(text)?;
                }
            }
            Command::Me(action) => with_args(out, "/me", action)?,
            Command::Ping => out.write_str("/ping")?,
            Command::Quit => out.write_str("/quit")?,
            Command::Help => out.write_str("/help")?,
            Command::Unknown { verb, args } => {
                out.write_char('/')?;
                with_args(out, verb, args)?;
            }
            Command::Message(text) => out.write_str(text)?,
        }
        if matches!(out.last, b'\r' | b'\n') {
            out.write_str("\r\n")?;
        }
        Ok(())
    }
}

/// The line exactly as [`Command::emit`] writes it.
impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(&mut Tally::new(f))
    }
}

/// The first word and the rest, without the spaces around the first word
/// or before the rest.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.split_once(' ') {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (text, ""),
    }
}

// ---------------------------------------------------------------------------
// What the server sends.

/// One line from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `*** welcome NICK, you are in ROOM with: a, b` (or ` (empty)`): the
    /// answer to a join, and to a move to another room.
    Welcome {
        /// The member's nick.
        nick: &'a str,
        /// The room it is in now.
        room: &'a str,
        /// Who is in the room, the member included.
        members: Names<'a>,
    },
    /// `*** in ROOM with: a, b` (or ` (empty)`): the answer to `/who`.
    Who {
        /// The asker's room.
        room: &'a str,
        /// Who is in it.
        members: Names<'a>,
    },
    /// `*** NICK joined ROOM`, to the room's other members.
    Joined {
        /// Who came.
        nick: &'a str,
        /// Where to.
        room: &'a str,
    },
    /// `*** NICK left FROM for TO`, to the members of the room left.
    Moved {
        /// Who moved.
        nick: &'a str,
        /// The room left.
        from: &'a str,
        /// The room joined.
        to: &'a str,
    },
    /// `*** NICK left ROOM (quit)`, to the room of a member who quit.
    Quit {
        /// Who quit.
        nick: &'a str,
        /// The room it was in.
        room: &'a str,
    },
    /// `*** a, b left ROOM (idle for 5 min)`: members silent too long,
    /// dropped together, as their room hears it.
    Expired {
        /// Who left (one at least).
        names: Names<'a>,
        /// Their room.
        room: &'a str,
        /// The idle timeout, in seconds.
        idle_secs: u64,
    },
    /// `*** OLD is now known as NEW`, to the room and to the member.
    Renamed {
        /// The nick before.
        old: &'a str,
        /// The nick now.
        new: &'a str,
    },
    /// `*** you are NICK already`: a `/nick` of the member's own nick.
    AlreadyNick(&'a str),
    /// `*** you are in ROOM already`: a `/join` of the member's own room.
    AlreadyInRoom(&'a str),
    /// `*** rooms: lobby (1) games (2)`: the answer to `/rooms`.
    Rooms(RoomCounts<'a>),
    /// `*** pong`: the answer to `/ping`.
    Pong,
    /// `*** say something, or /help`: the answer to an empty line (or one of
    /// spaces only), so a client that waits for one answer per line it
    /// sends always gets one.
    SaySomething,
    /// `*** bye NICK`: the answer to `/quit`.
    Bye(&'a str),
    /// `*** bye (you were not in the chat)`: a `/quit` from a stranger (a
    /// member whose `bye` was lost asks again).
    ByeStranger,
    /// `*** commands:` and a line for each command: the answer to `/help`.
    Help,
    /// `*** join with /nick NAME; then /help lists the commands`: `/help`
    /// before joining (short: it answers a source that may be forged).
    HelpForStrangers,
    /// `*** slow down: N lines per second at most; that one was not sent`:
    /// the one answer to a member over its rate limit.
    SlowDown {
        /// The member's rate limit.
        per_second: u32,
    },
    /// `*** error: ...`: a line the server refused, and why.
    Error(Refusal<'a>),
    /// `[ROOM] <NICK> TEXT`: a member's message to its room.
    Message {
        /// The room.
        room: &'a str,
        /// Who said it.
        nick: &'a str,
        /// What was said.
        text: &'a str,
    },
    /// `[ROOM] * NICK TEXT`: a member's `/me`.
    Action {
        /// The room.
        room: &'a str,
        /// Who did it.
        nick: &'a str,
        /// What was done.
        text: &'a str,
    },
    /// `[private] <NICK> TEXT`: a private message, as its recipient sees it.
    Private {
        /// The sender.
        from: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `[private to NICK] TEXT`: a private message, as its sender sees it.
    PrivateSent {
        /// The recipient.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
}

/// Why the server refused a line: the text after `*** error: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// `not UTF-8 text`
    NotUtf8,
    /// `nick PROBLEM`
    BadNick(NameProblem),
    /// `nick NICK is taken, pick another`
    NickTaken(&'a str),
    /// `room name PROBLEM`
    BadRoom(NameProblem),
    /// `server full (N members), try again later`
    ServerFull {
        /// The server's member limit.
        max_members: usize,
    },
    /// `too many rooms (N at most); /rooms lists them`
    TooManyRooms {
        /// The server's room limit, the lobby included.
        max_rooms: usize,
    },
    /// `you are in the lobby; /quit leaves the chat`: `/leave` in the lobby.
    InLobby,
    /// `message too long (LEN bytes, MAX at most)`
    MessageTooLong {
        /// The message's length, in bytes.
        len: usize,
        /// The server's limit.
        max: usize,
    },
    /// `usage: /msg NAME TEXT`
    MsgUsage,
    /// `usage: /me ACTION`
    MeUsage,
    /// `no one here is called NICK`, with the nick as typed (at most
    /// [`ECHO_CAP`] bytes of it).
    NoSuchNick(&'a str),
    /// `unknown command /VERB; /help lists them`, with the verb as typed (at
    /// most [`ECHO_CAP`] bytes of it).
    UnknownCommand(&'a str),
    /// `you are not in the chat (members silent for 5 min leave it): join
    /// with /nick NAME`: a stranger's line other than `/nick`, `/help` or
    /// `/quit`, a member whose membership expired included.
    NotMember {
        /// The idle timeout, in seconds.
        idle_secs: u64,
    },
}

/// What is wrong with a nick or room name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// `missing: /nick NAME, /join ROOM`
    Missing,
    /// `too long: at most N characters and M bytes`
    TooLong {
        /// The server's limit in characters.
        max_chars: usize,
        /// The server's limit in bytes (UTF-8).
        max_bytes: usize,
    },
    /// `may only use letters, digits, _ and -`
    BadCharacters,
    /// `mixes Latin, Greek or Cyrillic letters, which look alike`
    MixedScripts,
    /// `private is reserved for private messages` (a room name only)
    Reserved,
}

impl NameProblem {
    const FIXED: [NameProblem; 4] = [
        NameProblem::Missing,
        NameProblem::BadCharacters,
        NameProblem::MixedScripts,
        NameProblem::Reserved,
    ];

    /// What `name` breaks, if anything, as a name of at most `max_chars`
    /// characters and `max_bytes` bytes.
    pub fn of(name: &str, max_chars: usize, max_bytes: usize) -> Option<NameProblem> {
        // Characters are the bytes that do not continue one (UTF-8): a
        // plain count, not `chars().count()`'s unrolled one (flash).
        let chars = name.bytes().filter(|&b| b & 0xc0 != 0x80).count();
        if name.len() > max_bytes || chars > max_chars {
            return Some(NameProblem::TooLong {
                max_chars,
                max_bytes,
            });
        }
        name_problem(name)
    }

    const fn fixed_text(self) -> Option<&'static str> {
        match self {
            NameProblem::Missing => Some("missing: /nick NAME, /join ROOM"),
            NameProblem::BadCharacters => Some("may only use letters, digits, _ and -"),
            NameProblem::MixedScripts => {
                Some("mixes Latin, Greek or Cyrillic letters, which look alike")
            }
            NameProblem::Reserved => Some("private is reserved for private messages"),
            NameProblem::TooLong { .. } => None,
        }
    }

    fn parse(text: &str) -> Option<NameProblem> {
        if let Some(problem) = NameProblem::FIXED
            .into_iter()
            .find(|p| p.fixed_text() == Some(text))
        {
            return Some(problem);
        }
        let (chars, bytes) = text
            .strip_prefix("too long: at most ")?
            .strip_suffix(" bytes")?
            .split_once(" characters and ")?;
        Some(NameProblem::TooLong {
            max_chars: usize::try_from(number(chars)?).ok()?,
            max_bytes: usize::try_from(number(bytes)?).ok()?,
        })
    }
}

impl NameProblem {
    fn write(&self, out: &mut dyn Write) -> fmt::Result {
        match (self.fixed_text(), *self) {
            (Some(text), _) => out.write_str(text),
            (
                None,
                NameProblem::TooLong {
                    max_chars,
                    max_bytes,
                },
            ) => put(
                out,
                "too long: at most {} characters and {} bytes",
                &[decimal(max_chars).as_str(), decimal(max_bytes).as_str()],
            ),
            (None, _) => Ok(()),
        }
    }
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// A list of nicks in a line: `alice, bob`, cut with `, ...` when the line
/// is full.
///
/// A server lists names from a slice ([`Names::new`]); a received line
/// keeps the list's text. Two lists are equal when they name the same
/// nicks in the same order and are both cut or both whole.
#[derive(Debug, Clone, Copy)]
pub struct Names<'a>(NameSource<'a>);

#[derive(Debug, Clone, Copy)]
enum NameSource<'a> {
    List(&'a [&'a str]),
    /// As on the wire, checked: names separated by `, `, perhaps `...` last.
    Text(&'a str),
}

impl<'a> Names<'a> {
    /// No one.
    pub const EMPTY: Names<'static> = Names(NameSource::List(&[]));

    /// The names in `list`, in order.
    pub const fn new(list: &'a [&'a str]) -> Names<'a> {
        Names(NameSource::List(list))
    }

    /// The names, in order (without the `...` of a cut list).
    pub fn iter(&self) -> NamesIter<'a> {
        match self.0 {
            NameSource::List(list) => NamesIter::List(list.iter()),
            NameSource::Text(text) => NamesIter::Text(text.split(", ")),
        }
    }

    /// Whether the line was too short for every name (`, ...` at the end).
    pub fn is_cut(&self) -> bool {
        match self.0 {
            NameSource::List(_) => false,
            NameSource::Text(text) => text == "..." || text.ends_with(", ..."),
        }
    }

    /// Whether the list names no one, and is not cut.
    pub fn is_empty(&self) -> bool {
        // Not `self.iter().next()`: a text's split at `, ` is a string
        // search, half a kilobyte of flash (core's two-way searcher), in a
        // server that only writes lists. A text is checked ([`Names::from_text`]):
        // unless empty, it starts with a name or is `...` (cut).
        match self.0 {
            NameSource::List(list) => list.is_empty(),
            NameSource::Text(text) => text.is_empty(),
        }
    }

    /// A list as a line carries it: names separated by `, `, the last
    /// perhaps `...`; empty for no one.
    fn from_text(text: &'a str) -> Option<Names<'a>> {
        if !text.is_empty() {
            let mut names = text.split(", ").peekable();
            while let Some(name) = names.next() {
                let last = names.peek().is_none();
                if !(is_name(name) || (last && name == "...")) {
                    return None;
                }
            }
        }
        Some(Names(NameSource::Text(text)))
    }

    /// Writes `first` and the names separated by `, `, as long as `reserve`
    /// more bytes still fit the line; then `...` for the rest.
    fn write(&self, out: &mut Tally<'_>, first: &str, reserve: usize) -> fmt::Result {
        match self.0 {
            NameSource::Text(text) => {
                out.write_str(first)?;
                out.write_str(text)
            }
            NameSource::List(list) => {
                for (i, name) in list.iter().enumerate() {
                    let separator = if i == 0 { first } else { ", " };
                    let end = out
                        .len
                        .saturating_add(separator.len() + name.len())
                        .saturating_add(reserve);
                    out.write_str(separator)?;
                    if end > LINE_CAP {
                        return out.write_str("...");
                    }
                    write_sanitized(out, name)?;
                }
                Ok(())
            }
        }
    }
}

impl PartialEq for Names<'_> {
    fn eq(&self, other: &Names<'_>) -> bool {
        self.iter().eq(other.iter()) && self.is_cut() == other.is_cut()
    }
}

impl Eq for Names<'_> {}

/// The names of a [`Names`] list.
#[derive(Debug, Clone)]
pub enum NamesIter<'a> {
    #[doc(hidden)]
    List(core::slice::Iter<'a, &'a str>),
    #[doc(hidden)]
    Text(core::str::Split<'a, &'static str>),
}

impl<'a> Iterator for NamesIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            NamesIter::List(list) => list.next().copied(),
            NamesIter::Text(text) => text.find(|n| !n.is_empty() && *n != "..."),
        }
    }
}

/// The rooms and how many are in each: `lobby (1) games (2)`, cut with
/// ` ...` when the line is full. As with [`Names`], a server lists them
/// from a slice and a received line keeps the text.
#[derive(Debug, Clone, Copy)]
pub struct RoomCounts<'a>(RoomSource<'a>);

#[derive(Debug, Clone, Copy)]
enum RoomSource<'a> {
    List(&'a [(&'a str, usize)]),
    /// As on the wire after `rooms:`, checked: ` ROOM (N)` repeated, perhaps
    /// ` ...` last.
    Text(&'a str),
}

impl<'a> RoomCounts<'a> {
    /// The rooms of `list` with their member counts, in order.
    pub const fn new(list: &'a [(&'a str, usize)]) -> RoomCounts<'a> {
        RoomCounts(RoomSource::List(list))
    }

    /// Each room and how many are in it, in order.
    pub fn iter(&self) -> RoomCountsIter<'a> {
        match self.0 {
            RoomSource::List(list) => RoomCountsIter::List(list.iter()),
            RoomSource::Text(text) => RoomCountsIter::Text(text),
        }
    }

    /// Whether the line was too short for every room (` ...` at the end).
    pub fn is_cut(&self) -> bool {
        match self.0 {
            RoomSource::List(_) => false,
            RoomSource::Text(text) => text.ends_with(" ..."),
        }
    }

    fn from_text(text: &'a str) -> Option<RoomCounts<'a>> {
        let mut rest = text;
        while !rest.is_empty() && rest != " ..." {
            (_, rest) = next_room(rest)?;
        }
        Some(RoomCounts(RoomSource::Text(text)))
    }

    fn write(&self, out: &mut Tally<'_>) -> fmt::Result {
        match self.0 {
            RoomSource::Text(text) => out.write_str(text),
            RoomSource::List(list) => {
                for &(name, count) in list {
                    const ENTRY: &str = " {} ({})";
                    let count = decimal(count);
                    let entry = [name, count.as_str()];
                    if out
                        .len
                        .saturating_add(length(ENTRY, &entry) + " ...\n".len())
                        > LINE_CAP
                    {
                        return out.write_str(" ...");
                    }
                    put(out, ENTRY, &entry)?;
                }
                Ok(())
            }
        }
    }
}

impl PartialEq for RoomCounts<'_> {
    fn eq(&self, other: &RoomCounts<'_>) -> bool {
        self.iter().eq(other.iter()) && self.is_cut() == other.is_cut()
    }
}

impl Eq for RoomCounts<'_> {}

/// The entries of a [`RoomCounts`] list.
#[derive(Debug, Clone)]
pub enum RoomCountsIter<'a> {
    #[doc(hidden)]
    List(core::slice::Iter<'a, (&'a str, usize)>),
    #[doc(hidden)]
    Text(&'a str),
}

impl<'a> Iterator for RoomCountsIter<'a> {
    type Item = (&'a str, usize);

    fn next(&mut self) -> Option<(&'a str, usize)> {
        match self {
            RoomCountsIter::List(list) => list.next().copied(),
            RoomCountsIter::Text(text) => {
                let (entry, rest) = next_room(text)?;
                *text = rest;
                Some(entry)
            }
        }
    }
}

/// ` ROOM (N)` at the start of `text`, and what follows it.
fn next_room(text: &str) -> Option<((&str, usize), &str)> {
    let (name, rest) = text.strip_prefix(' ')?.split_once(" (")?;
    let (count, rest) = rest.split_once(')')?;
    let count = usize::try_from(number(count)?).ok()?;
    is_name(name).then_some(((name, count), rest))
}

/// The help, one line per command.
pub(crate) const HELP: &str = "*** commands:\n\
/nick NAME       join (in the lobby), or change your nick\n\
/join ROOM       move to ROOM (it is created if new)\n\
/leave           back to the lobby\n\
/who             who is in your room\n\
/rooms           all rooms and how many are in each\n\
/msg NAME TEXT   a private message\n\
/me ACTION       an action: * you ACTION\n\
/ping            keep your membership alive (any line does)\n\
/quit            leave the chat\n\
anything else is said to your room\n";

/// The first line of [`HELP`], which names it.
const HELP_HEADER: &str = "*** commands:";

/// The answer to an empty line.
const SAY_SOMETHING: &str = "*** say something, or /help";

/// The help before joining.
const HELP_FOR_STRANGERS: &str = "join with /nick NAME; then /help lists the commands";

impl<'a> ServerLine<'a> {
    /// Reads a datagram from the server: an error for anything the server
    /// does not send (a line of another version, or no chat line at all).
    pub fn parse(payload: &'a [u8]) -> Result<ServerLine<'a>> {
        let text = core::str::from_utf8(payload).map_err(|_| Error)?;
        if text == HELP_HEADER
            || text
                .strip_prefix(HELP_HEADER)
                .is_some_and(|rest| rest.starts_with('\n'))
        {
            return Ok(ServerLine::Help);
        }
        let line = text.strip_suffix('\n').unwrap_or(text);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.chars().any(char::is_control) {
            return Err(Error);
        }
        let parsed = match line.strip_prefix("*** ") {
            Some(system) => parse_system(system),
            None => parse_relayed(line),
        };
        parsed.ok_or(Error)
    }

    /// The line's length on the wire.
    pub fn buffer_len(&self) -> usize {
        let mut counter = Counter::default();
        // Counting cannot fail.
        let _ = self.write(&mut Tally::new(&mut counter));
        counter.len()
    }

    /// Writes the line, its `\n` included, into `buffer`; returns its
    /// length, or an error when `buffer` is shorter than
    /// [`ServerLine::buffer_len`]. A buffer of [`LINE_CAP`] bytes holds
    /// every line whose texts fit it (lists are cut to fit).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<usize> {
        let mut writer = SliceWriter::new(buffer);
        self.write(&mut Tally::new(&mut writer))
            .map_err(|_| Error)?;
        Ok(writer.len())
    }

    /// Whether this line says that something the member sent was refused
    /// or dropped: an error, or "slow down".
    pub fn is_error(&self) -> bool {
        matches!(self, ServerLine::Error(_) | ServerLine::SlowDown { .. })
    }

    fn write(&self, out: &mut Tally<'_>) -> fmt::Result {
        match *self {
            ServerLine::Welcome {
                nick,
                room,
                members,
            } => {
                put(out, "*** welcome {}, you are in {}", &[nick, room])?;
                write_members(out, &members)?;
            }
            ServerLine::Who { room, members } => {
                put(out, "*** in {}", &[room])?;
                write_members(out, &members)?;
            }
            ServerLine::Joined { nick, room } => put(out, "*** {} joined {}", &[nick, room])?,
            ServerLine::Moved { nick, from, to } => {
                put(out, "*** {} left {} for {}", &[nick, from, to])?
            }
            ServerLine::Quit { nick, room } => put(out, "*** {} left {} (quit)", &[nick, room])?,
            ServerLine::Expired {
                names,
                room,
                idle_secs,
            } => {
                const TAIL: &str = " left {} (idle for {}{})";
                let (number, unit) = idle(idle_secs);
                let tail = [room, number.as_str(), unit];
                out.write_str("*** ")?;
                names.write(out, "", ", ...".len() + length(TAIL, &tail) + "\n".len())?;
                put(out, TAIL, &tail)?;
            }
            ServerLine::Renamed { old, new } => put(out, "*** {} is now known as {}", &[old, new])?,
            ServerLine::AlreadyNick(nick) => put(out, "*** you are {} already", &[nick])?,
            ServerLine::AlreadyInRoom(room) => put(out, "*** you are in {} already", &[room])?,
            ServerLine::Rooms(rooms) => {
                out.write_str("*** rooms:")?;
                rooms.write(out)?;
            }
            ServerLine::Pong => out.write_str("*** pong")?,
            ServerLine::SaySomething => out.write_str(SAY_SOMETHING)?,
            ServerLine::Bye(nick) => put(out, "*** bye {}", &[nick])?,
            ServerLine::ByeStranger => out.write_str("*** bye (you were not in the chat)")?,
            // The only line of several lines, its last `\n` included.
            ServerLine::Help => return out.write_str(HELP),
            ServerLine::HelpForStrangers => {
                out.write_str("*** ")?;
                out.write_str(HELP_FOR_STRANGERS)?;
            }
            ServerLine::SlowDown { per_second } => put(
                out,
                "*** slow down: {} lines per second at most; that one was not sent",
                &[decimal(per_second as usize).as_str()],
            )?,
            ServerLine::Error(refusal) => {
                out.write_str("*** error: ")?;
                refusal.write(out)?;
            }
            ServerLine::Message { room, nick, text } => {
                put(out, "[{}] <{}> {}", &[room, nick, text])?
            }
            ServerLine::Action { room, nick, text } => {
                put(out, "[{}] * {} {}", &[room, nick, text])?
            }
            ServerLine::Private { from, text } => put(out, "[private] <{}> {}", &[from, text])?,
            ServerLine::PrivateSent { to, text } => put(out, "[private to {}] {}", &[to, text])?,
        }
        out.write_char('\n')
    }
}

/// The line as a person reads it: what [`ServerLine::emit`] writes, less
/// its final `\n`.
impl fmt::Display for ServerLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut held = HoldFinalNewline {
            out: f,
            pending: false,
        };
        self.write(&mut Tally::new(&mut held))
    }
}

impl Refusal<'_> {
    /// The refusals whose words never change.
    const FIXED: [Refusal<'static>; 4] = [
        Refusal::NotUtf8,
        Refusal::InLobby,
        Refusal::MsgUsage,
        Refusal::MeUsage,
    ];

    /// The words of a refusal that has no variable part.
    const fn fixed_text(&self) -> Option<&'static str> {
        match self {
            Refusal::NotUtf8 => Some("not UTF-8 text"),
            Refusal::InLobby => Some("you are in the lobby; /quit leaves the chat"),
            Refusal::MsgUsage => Some("usage: /msg NAME TEXT"),
            Refusal::MeUsage => Some("usage: /me ACTION"),
            _ => None,
        }
    }
}

impl Refusal<'_> {
    fn write(&self, out: &mut dyn Write) -> fmt::Result {
        if let Some(text) = self.fixed_text() {
            return out.write_str(text);
        }
        match *self {
            Refusal::BadNick(problem) => {
                out.write_str("nick ")?;
                problem.write(out)
            }
            Refusal::NickTaken(nick) => put(out, "nick {} is taken, pick another", &[nick]),
            Refusal::BadRoom(problem) => {
                out.write_str("room name ")?;
                problem.write(out)
            }
            Refusal::ServerFull { max_members } => put(
                out,
                "server full ({} members), try again later",
                &[decimal(max_members).as_str()],
            ),
            Refusal::TooManyRooms { max_rooms } => put(
                out,
                "too many rooms ({} at most); /rooms lists them",
                &[decimal(max_rooms).as_str()],
            ),
            Refusal::MessageTooLong { len, max } => put(
                out,
                "message too long ({} bytes, {} at most)",
                &[decimal(len).as_str(), decimal(max).as_str()],
            ),
            Refusal::NoSuchNick(nick) => put(out, "no one here is called {}", &[nick]),
            Refusal::UnknownCommand(verb) => {
                put(out, "unknown command /{}; /help lists them", &[verb])
            }
            Refusal::NotMember { idle_secs } => {
                let (number, unit) = idle(idle_secs);
                put(
                    out,
                    "you are not in the chat (members silent for {}{} leave it): \
                     join with /nick NAME",
                    &[number.as_str(), unit],
                )
            }
            Refusal::NotUtf8 | Refusal::InLobby | Refusal::MsgUsage | Refusal::MeUsage => Ok(()),
        }
    }
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// ` with: a, b` or ` (empty)`.
fn write_members(out: &mut Tally<'_>, members: &Names<'_>) -> fmt::Result {
    if members.is_empty() {
        return out.write_str(" (empty)");
    }
    members.write(out, " with: ", ", ...".len() + "\n".len())
}

/// A system line, after its `*** `.
fn parse_system(line: &str) -> Option<ServerLine<'_>> {
    if line == "pong" {
        return Some(ServerLine::Pong);
    }
    if Some(line) == SAY_SOMETHING.strip_prefix("*** ") {
        return Some(ServerLine::SaySomething);
    }
    if line == HELP_FOR_STRANGERS {
        return Some(ServerLine::HelpForStrangers);
    }
    if line == "bye (you were not in the chat)" {
        return Some(ServerLine::ByeStranger);
    }
    if let Some(rest) = line.strip_prefix("error: ") {
        return parse_refusal(rest).map(ServerLine::Error);
    }
    if let Some(rest) = line.strip_prefix("slow down: ") {
        let per_second = rest.strip_suffix(" lines per second at most; that one was not sent")?;
        let per_second = u32::try_from(number(per_second)?).ok()?;
        return Some(ServerLine::SlowDown { per_second });
    }
    if let Some(rest) = line.strip_prefix("rooms:") {
        return RoomCounts::from_text(rest).map(ServerLine::Rooms);
    }
    // What is left starts with a name, or with words a name may also be
    // ("bye", "welcome", "in", "you"): each form is tried in turn, and
    // names never hold the spaces and commas between the words.
    let welcome = || {
        let (nick, rest) = line.strip_prefix("welcome ")?.split_once(", you are in ")?;
        let (room, members) = room_and_members(rest)?;
        is_name(nick).then_some(ServerLine::Welcome {
            nick,
            room,
            members,
        })
    };
    let who = || {
        let (room, members) = room_and_members(line.strip_prefix("in ")?)?;
        Some(ServerLine::Who { room, members })
    };
    let bye = || name(line.strip_prefix("bye ")?).map(ServerLine::Bye);
    let already_in_room = || {
        let room = line.strip_prefix("you are in ")?.strip_suffix(" already")?;
        name(room).map(ServerLine::AlreadyInRoom)
    };
    let already_nick = || {
        let nick = line.strip_prefix("you are ")?.strip_suffix(" already")?;
        name(nick).map(ServerLine::AlreadyNick)
    };
    let expired = || {
        let (rest, idle) = line.strip_suffix(')')?.rsplit_once(" (idle for ")?;
        let (names, room) = rest.rsplit_once(" left ")?;
        let names = Names::from_text(names).filter(|n| !n.is_empty())?;
        Some(ServerLine::Expired {
            names,
            room: name(room)?,
            idle_secs: parse_idle(idle)?,
        })
    };
    let about_a_member = || {
        let (nick, rest) = line.split_once(' ')?;
        let nick = name(nick)?;
        if let Some(room) = rest.strip_prefix("joined ") {
            return Some(ServerLine::Joined {
                nick,
                room: name(room)?,
            });
        }
        if let Some(new) = rest.strip_prefix("is now known as ") {
            return Some(ServerLine::Renamed {
                old: nick,
                new: name(new)?,
            });
        }
        let rest = rest.strip_prefix("left ")?;
        if let Some(room) = rest.strip_suffix(" (quit)") {
            return Some(ServerLine::Quit {
                nick,
                room: name(room)?,
            });
        }
        let (from, to) = rest.split_once(" for ")?;
        Some(ServerLine::Moved {
            nick,
            from: name(from)?,
            to: name(to)?,
        })
    };
    welcome()
        .or_else(who)
        .or_else(bye)
        .or_else(already_in_room)
        .or_else(already_nick)
        .or_else(expired)
        .or_else(about_a_member)
}

/// `ROOM with: a, b` or `ROOM (empty)`.
fn room_and_members(text: &str) -> Option<(&str, Names<'_>)> {
    if let Some(room) = text.strip_suffix(" (empty)") {
        return Some((name(room)?, Names::EMPTY));
    }
    let (room, list) = text.split_once(" with: ")?;
    let members = Names::from_text(list).filter(|n| !n.is_empty())?;
    Some((name(room)?, members))
}

/// What follows `*** error: `.
fn parse_refusal(text: &str) -> Option<Refusal<'_>> {
    if let Some(refusal) = Refusal::FIXED
        .into_iter()
        .find(|r| r.fixed_text() == Some(text))
    {
        return Some(refusal);
    }
    if let Some(rest) = text.strip_prefix("nick ") {
        if let Some(nick) = rest.strip_suffix(" is taken, pick another") {
            return name(nick).map(Refusal::NickTaken);
        }
        return NameProblem::parse(rest).map(Refusal::BadNick);
    }
    if let Some(problem) = text.strip_prefix("room name ") {
        return NameProblem::parse(problem).map(Refusal::BadRoom);
    }
    if let Some(rest) = text.strip_prefix("server full (") {
        let max_members = rest.strip_suffix(" members), try again later")?;
        let max_members = usize::try_from(number(max_members)?).ok()?;
        return Some(Refusal::ServerFull { max_members });
    }
    if let Some(rest) = text.strip_prefix("too many rooms (") {
        let max_rooms = rest.strip_suffix(" at most); /rooms lists them")?;
        let max_rooms = usize::try_from(number(max_rooms)?).ok()?;
        return Some(Refusal::TooManyRooms { max_rooms });
    }
    if let Some(rest) = text.strip_prefix("message too long (") {
        let (len, max) = rest.strip_suffix(" at most)")?.split_once(" bytes, ")?;
        return Some(Refusal::MessageTooLong {
            len: usize::try_from(number(len)?).ok()?,
            max: usize::try_from(number(max)?).ok()?,
        });
    }
    if let Some(nick) = text.strip_prefix("no one here is called ") {
        return Some(Refusal::NoSuchNick(nick));
    }
    if let Some(rest) = text.strip_prefix("unknown command /") {
        return rest
            .strip_suffix("; /help lists them")
            .map(Refusal::UnknownCommand);
    }
    let idle = text
        .strip_prefix("you are not in the chat (members silent for ")?
        .strip_suffix(" leave it): join with /nick NAME")?;
    Some(Refusal::NotMember {
        idle_secs: parse_idle(idle)?,
    })
}

/// A line relayed from a member: `[ROOM] <NICK> TEXT`, `[ROOM] * NICK
/// TEXT`, `[private] <NICK> TEXT` or `[private to NICK] TEXT`.
fn parse_relayed(line: &str) -> Option<ServerLine<'_>> {
    if let Some(rest) = line.strip_prefix("[private] <") {
        let (from, text) = rest.split_once("> ")?;
        return Some(ServerLine::Private {
            from: name(from)?,
            text,
        });
    }
    if let Some(rest) = line.strip_prefix("[private to ") {
        let (to, text) = rest.split_once("] ")?;
        return Some(ServerLine::PrivateSent {
            to: name(to)?,
            text,
        });
    }
    let (room, rest) = line.strip_prefix('[')?.split_once("] ")?;
    let room = name(room)?;
    if let Some(rest) = rest.strip_prefix("* ") {
        let (nick, text) = rest.split_once(' ')?;
        return Some(ServerLine::Action {
            room,
            nick: name(nick)?,
            text,
        });
    }
    let (nick, text) = rest.strip_prefix('<')?.split_once("> ")?;
    Some(ServerLine::Message {
        room,
        nick: name(nick)?,
        text,
    })
}

/// `text` when it is a name.
fn name(text: &str) -> Option<&str> {
    is_name(text).then_some(text)
}

/// A decimal number of digits only (no sign, no spaces).
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `5 min` or `90 s`, as [`idle`] says it.
fn parse_idle(text: &str) -> Option<u64> {
    if let Some(minutes) = text.strip_suffix(" min") {
        return number(minutes)?.checked_mul(60);
    }
    number(text.strip_suffix(" s")?)
}

/// An idle timeout as people say it, `5 min` or `90 s`: the number and
/// its unit.
fn idle(secs: u64) -> (Digits, &'static str) {
    // Not `/` and `%`: a 64-bit division (see `clock::div_rem`).
    let (minutes, rest) = crate::clock::div_rem::<60>(secs);
    if secs >= 60 && rest == 0 {
        (Digits::new::<10>(minutes, 0, b' '), " min")
    } else {
        (Digits::new::<10>(secs, 0, b' '), " s")
    }
}

/// `n` in decimal.
fn decimal(n: usize) -> Digits {
    Digits::new::<10>(n as u64, 0, b' ')
}

/// Writes `template`, each `{}` in it the next of `texts` with every
/// control character written as `?` (so no one can send escape sequences
/// to other members' terminals). Not `write!`: `core::fmt`'s machinery is
/// kilobytes of flash on a board, and an image without logging links none
/// of it.
fn put(out: &mut dyn Write, template: &str, texts: &[&str]) -> fmt::Result {
    let mut texts = texts.iter();
    // Split at each `{` (the templates have no other), a `}` after it:
    // a character's search, where a string's (`"{}"`) would link its
    // panic message and `char`'s `Debug` into an image that formats
    // panics.
    for (i, piece) in template.split('{').enumerate() {
        let piece = match i {
            0 => piece,
            _ => {
                write_sanitized(out, texts.next().copied().unwrap_or(""))?;
                piece.strip_prefix('}').unwrap_or(piece)
            }
        };
        out.write_str(piece)?;
    }
    Ok(())
}

/// The length of [`put`]'s line.
fn length(template: &str, texts: &[&str]) -> usize {
    let mut counter = Counter::default();
    // Counting cannot fail.
    let _ = put(&mut counter, template, texts);
    counter.len()
}

/// `text` with every control character written as `?`: the runs between
/// them as they are.
fn write_sanitized(out: &mut dyn Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some((at, control)) = rest.char_indices().find(|&(_, c)| c.is_control()) {
        out.write_str(rest.get(..at).unwrap_or(""))?;
        out.write_char('?')?;
        rest = rest.get(at + control.len_utf8()..).unwrap_or("");
    }
    out.write_str(rest)
}

/// A writer that counts what it passes on, and keeps its last byte: the
/// line's length so far (where lists are cut) and how it ends.
struct Tally<'w> {
    out: &'w mut dyn Write,
    len: usize,
    last: u8,
}

impl<'w> Tally<'w> {
    fn new(out: &'w mut dyn Write) -> Tally<'w> {
        Tally {
            out,
            len: 0,
            last: 0,
        }
    }
}

impl Write for Tally<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.write_str(s)?;
        self.len = self.len.saturating_add(s.len());
        if let Some(&last) = s.as_bytes().last() {
            self.last = last;
        }
        Ok(())
    }
}

/// Passes text on but the last `\n`: for [`ServerLine`]'s `Display`.
struct HoldFinalNewline<'w> {
    out: &'w mut dyn Write,
    /// A `\n` not yet passed on: it is passed on if anything follows it.
    pending: bool,
}

impl Write for HoldFinalNewline<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.is_empty() {
            return Ok(());
        }
        if self.pending {
            self.out.write_char('\n')?;
        }
        match s.strip_suffix('\n') {
            Some(held) => {
                self.pending = true;
                self.out.write_str(held)
            }
            None => {
                self.pending = false;
                self.out.write_str(s)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn emitted_command(command: &Command<'_>) -> Vec<u8> {
        let mut buffer = [0u8; 2048];
        let len = command.emit(&mut buffer).unwrap();
        assert_eq!(len, command.buffer_len());
        assert_eq!(command.to_string().as_bytes(), &buffer[..len]);
        buffer[..len].to_vec()
    }

    fn emitted(line: &ServerLine<'_>) -> Vec<u8> {
        let mut buffer = [0u8; LINE_CAP];
        let len = line.emit(&mut buffer).unwrap();
        assert_eq!(len, line.buffer_len());
        buffer[..len].to_vec()
    }

    #[test]
    fn commands_are_written_as_typed_and_read_back() {
        let cases: [(Command<'_>, &str); 17] = [
            (Command::Nick("alice"), "/nick alice"),
            (Command::Nick(""), "/nick"),
            (Command::Join("games"), "/join games"),
            (Command::Join("#games"), "/join #games"),
            (Command::Leave, "/leave"),
            (Command::Who, "/who"),
            (Command::Rooms, "/rooms"),
            (
                Command::Msg {
                    to: "bob",
                    text: "psst, over here",
                },
                "/msg bob psst, over here",
            ),
            (
                Command::Msg {
                    to: "bob",
                    text: "",
                },
                "/msg bob",
            ),
            (Command::Msg { to: "", text: "" }, "/msg"),
            (Command::Me("waves"), "/me waves"),
            (Command::Ping, "/ping"),
            (Command::Quit, "/quit"),
            (Command::Help, "/help"),
            (
                Command::Unknown {
                    verb: "dance",
                    args: "wildly",
                },
                "/dance wildly",
            ),
            (Command::Message("hello all"), "hello all"),
            (Command::Message(""), ""),
        ];
        for (command, text) in cases {
            assert_eq!(emitted_command(&command), text.as_bytes(), "{command:?}");
            assert_eq!(Command::parse(text.as_bytes()), Ok(command), "{text:?}");
            assert_eq!(
                Command::parse(std::format!("{text}\r\n").as_bytes()),
                Ok(command)
            );
        }
        assert_eq!(Command::Ping.emit(&mut [0u8; 4]), Err(Error));
    }

    #[test]
    fn commands_are_read_as_the_server_always_read_them() {
        for (text, command) in [
            // Spaced as people type.
            (
                &b"/ msg  bob   hi there\n"[..],
                Command::Msg {
                    to: "bob",
                    text: "hi there",
                },
            ),
            (b"/nick two words", Command::Nick("two words")),
            (b"/leave now", Command::Leave),
            (b"/me", Command::Me("")),
            (b"/", Command::Unknown { verb: "", args: "" }),
            (
                b"/NICK bob",
                Command::Unknown {
                    verb: "NICK",
                    args: "bob",
                },
            ),
            // Only a `/` first makes a command.
            (b" /quit spam", Command::Message(" /quit spam")),
            (b"a\nb\n", Command::Message("a\nb")),
            (b"\n", Command::Message("")),
        ] {
            assert_eq!(
                Command::parse(text),
                Ok(command),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        assert_eq!(Command::parse(b"caf\xe9\n"), Err(Error));
    }

    #[test]
    fn a_line_that_ends_in_a_line_break_keeps_it() {
        // One line ending is stripped on reading, so a line that ends in
        // one itself is written with one more.
        for text in ["x\r", "x\n", "\r", "/nick a\r\r"] {
            let command = Command::read(text);
            let bytes = emitted_command(&command);
            assert_eq!(Command::parse(&bytes), Ok(command), "{text:?}");
        }
    }

    /// Every kind of line the server sends, and its exact text.
    fn server_lines() -> Vec<(ServerLine<'static>, &'static str)> {
        const MEMBERS: &[&str] = &["alice", "bob"];
        const ROOMS: &[(&str, usize)] = &[("lobby", 1), ("games", 2)];
        std::vec![
            (
                ServerLine::Welcome {
                    nick: "bob",
                    room: "lobby",
                    members: Names::new(MEMBERS),
                },
                "*** welcome bob, you are in lobby with: alice, bob\n",
            ),
            (
                ServerLine::Welcome {
                    nick: "bob",
                    room: "games",
                    members: Names::EMPTY,
                },
                "*** welcome bob, you are in games (empty)\n",
            ),
            (
                ServerLine::Who {
                    room: "games",
                    members: Names::new(MEMBERS),
                },
                "*** in games with: alice, bob\n",
            ),
            (
                ServerLine::Joined {
                    nick: "carol",
                    room: "lobby",
                },
                "*** carol joined lobby\n",
            ),
            (
                ServerLine::Moved {
                    nick: "bob",
                    from: "lobby",
                    to: "games",
                },
                "*** bob left lobby for games\n",
            ),
            (
                ServerLine::Quit {
                    nick: "bob",
                    room: "lobby",
                },
                "*** bob left lobby (quit)\n",
            ),
            (
                ServerLine::Expired {
                    names: Names::new(MEMBERS),
                    room: "lobby",
                    idle_secs: 300,
                },
                "*** alice, bob left lobby (idle for 5 min)\n",
            ),
            (
                ServerLine::Expired {
                    names: Names::new(&["m2"]),
                    room: "lobby",
                    idle_secs: 90,
                },
                "*** m2 left lobby (idle for 90 s)\n",
            ),
            (
                ServerLine::Renamed {
                    old: "alice",
                    new: "alicia",
                },
                "*** alice is now known as alicia\n",
            ),
            (ServerLine::AlreadyNick("bob"), "*** you are bob already\n"),
            (
                ServerLine::AlreadyInRoom("games"),
                "*** you are in games already\n",
            ),
            (
                ServerLine::Rooms(RoomCounts::new(ROOMS)),
                "*** rooms: lobby (1) games (2)\n",
            ),
            (ServerLine::Pong, "*** pong\n"),
            (ServerLine::SaySomething, "*** say something, or /help\n"),
            (ServerLine::Bye("bob"), "*** bye bob\n"),
            (
                ServerLine::ByeStranger,
                "*** bye (you were not in the chat)\n"
            ),
            (
                ServerLine::HelpForStrangers,
                "*** join with /nick NAME; then /help lists the commands\n",
            ),
            (
                ServerLine::SlowDown { per_second: 2 },
                "*** slow down: 2 lines per second at most; that one was not sent\n",
            ),
            (
                ServerLine::Error(Refusal::NotUtf8),
                "*** error: not UTF-8 text\n"
            ),
            (
                ServerLine::Error(Refusal::BadNick(NameProblem::Missing)),
                "*** error: nick missing: /nick NAME, /join ROOM\n",
            ),
            (
                ServerLine::Error(Refusal::BadNick(NameProblem::TooLong {
                    max_chars: 16,
                    max_bytes: 48,
                })),
                "*** error: nick too long: at most 16 characters and 48 bytes\n",
            ),
            (
                ServerLine::Error(Refusal::BadRoom(NameProblem::BadCharacters)),
                "*** error: room name may only use letters, digits, _ and -\n",
            ),
            (
                ServerLine::Error(Refusal::BadRoom(NameProblem::Reserved)),
                "*** error: room name private is reserved for private messages\n",
            ),
            (
                ServerLine::Error(Refusal::NickTaken("Alice")),
                "*** error: nick Alice is taken, pick another\n",
            ),
            (
                ServerLine::Error(Refusal::ServerFull { max_members: 3 }),
                "*** error: server full (3 members), try again later\n",
            ),
            (
                ServerLine::Error(Refusal::TooManyRooms { max_rooms: 2 }),
                "*** error: too many rooms (2 at most); /rooms lists them\n",
            ),
            (
                ServerLine::Error(Refusal::InLobby),
                "*** error: you are in the lobby; /quit leaves the chat\n",
            ),
            (
                ServerLine::Error(Refusal::MessageTooLong { len: 11, max: 10 }),
                "*** error: message too long (11 bytes, 10 at most)\n",
            ),
            (
                ServerLine::Error(Refusal::MsgUsage),
                "*** error: usage: /msg NAME TEXT\n"
            ),
            (
                ServerLine::Error(Refusal::MeUsage),
                "*** error: usage: /me ACTION\n"
            ),
            (
                ServerLine::Error(Refusal::NoSuchNick("nobody")),
                "*** error: no one here is called nobody\n",
            ),
            (
                ServerLine::Error(Refusal::UnknownCommand("dance")),
                "*** error: unknown command /dance; /help lists them\n",
            ),
            (
                ServerLine::Error(Refusal::NotMember { idle_secs: 300 }),
                "*** error: you are not in the chat (members silent for 5 min leave it): \
                 join with /nick NAME\n",
            ),
            (
                ServerLine::Message {
                    room: "lobby",
                    nick: "alice",
                    text: "hello there",
                },
                "[lobby] <alice> hello there\n",
            ),
            (
                ServerLine::Action {
                    room: "lobby",
                    nick: "alice",
                    text: "waves",
                },
                "[lobby] * alice waves\n",
            ),
            (
                ServerLine::Private {
                    from: "alice",
                    text: "psst",
                },
                "[private] <alice> psst\n",
            ),
            (
                ServerLine::PrivateSent {
                    to: "bob",
                    text: "psst",
                },
                "[private to bob] psst\n",
            ),
        ]
    }

    #[test]
    fn every_server_line_is_written_as_the_protocol_says_and_reads_back() {
        for (line, text) in server_lines() {
            assert_eq!(String::from_utf8(emitted(&line)).unwrap(), text, "{line:?}");
            assert_eq!(ServerLine::parse(text.as_bytes()), Ok(line), "{text:?}");
            assert_eq!(line.to_string(), text.strip_suffix('\n').unwrap());
            // Without its line ending, or with \r\n, too.
            let bare = text.strip_suffix('\n').unwrap();
            assert_eq!(ServerLine::parse(bare.as_bytes()), Ok(line));
            let crlf = std::format!("{bare}\r\n");
            assert_eq!(ServerLine::parse(crlf.as_bytes()), Ok(line));
        }
        assert_eq!(ServerLine::Pong.emit(&mut [0u8; 8]), Err(Error));
    }

    #[test]
    fn counts_of_more_than_20_digits_are_not_read() {
        // No u64 needs more; leading zeros do not make a longer one valid.
        let digits = |n: usize| std::format!("*** rooms: lobby ({:0>n$})\n", 1);
        let twenty = digits(20);
        let Ok(ServerLine::Rooms(rooms)) = ServerLine::parse(twenty.as_bytes()) else {
            panic!("20 digits are a count")
        };
        assert_eq!(rooms.iter().collect::<Vec<_>>(), [("lobby", 1)]);
        assert_eq!(ServerLine::parse(digits(21).as_bytes()), Err(Error));
        assert_eq!(ServerLine::parse(b"*** rooms: lobby ()\n"), Err(Error));
    }

    #[test]
    fn errors_and_slow_down_are_the_lines_that_say_something_was_refused() {
        // `udpkit chat` shows these as errors; everything else is chat.
        for (line, text) in server_lines() {
            let refused = text.starts_with("*** error: ") || text.starts_with("*** slow down");
            assert_eq!(line.is_error(), refused, "{text:?}");
        }
    }

    #[test]
    fn help_is_the_one_line_of_several_lines() {
        let help = emitted(&ServerLine::Help);
        let text = String::from_utf8(help.clone()).unwrap();
        assert!(text.starts_with("*** commands:\n"));
        for command in [
            "/nick", "/join", "/leave", "/who", "/rooms", "/msg", "/me", "/ping", "/quit",
        ] {
            assert!(text.contains(command), "{command} missing from the help");
        }
        assert_eq!(ServerLine::parse(&help), Ok(ServerLine::Help));
        assert_eq!(
            ServerLine::Help.to_string(),
            text.strip_suffix('\n').unwrap()
        );
        assert!(ServerLine::Help.to_string().contains('\n'));
    }

    #[test]
    fn names_that_look_like_the_words_around_them_still_read_back() {
        // Nicks are plain words: "in", "bye", "welcome", "you" and "pong"
        // are nicks too, and no line is mistaken for another.
        for nick in [
            "in", "bye", "welcome", "you", "pong", "left", "joined", "for",
        ] {
            let list = [nick, "x"];
            let lines = [
                ServerLine::Welcome {
                    nick,
                    room: nick,
                    members: Names::new(&list),
                },
                ServerLine::Who {
                    room: nick,
                    members: Names::new(&list),
                },
                ServerLine::Joined { nick, room: nick },
                ServerLine::Moved {
                    nick,
                    from: nick,
                    to: nick,
                },
                ServerLine::Quit { nick, room: nick },
                ServerLine::Expired {
                    names: Names::new(&list[..1]),
                    room: nick,
                    idle_secs: 60,
                },
                ServerLine::Renamed {
                    old: nick,
                    new: nick,
                },
                ServerLine::AlreadyNick(nick),
                ServerLine::AlreadyInRoom(nick),
                ServerLine::Bye(nick),
                ServerLine::Error(Refusal::NickTaken(nick)),
                ServerLine::Message {
                    room: nick,
                    nick,
                    text: nick,
                },
                ServerLine::Action {
                    room: nick,
                    nick,
                    text: "] <x> y",
                },
            ];
            for line in lines {
                assert_eq!(ServerLine::parse(&emitted(&line)), Ok(line), "{line:?}");
            }
        }
    }

    #[test]
    fn lists_longer_than_a_line_are_cut_and_say_so() {
        let names: Vec<String> = (0..100).map(|i| std::format!("member{i:010}")).collect();
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        for line in [
            ServerLine::Welcome {
                nick: "member0000000000",
                room: "lobby",
                members: Names::new(&list),
            },
            ServerLine::Who {
                room: "lobby",
                members: Names::new(&list),
            },
            ServerLine::Expired {
                names: Names::new(&list),
                room: "lobby",
                idle_secs: 300,
            },
        ] {
            let bytes = emitted(&line);
            assert!(bytes.len() <= LINE_CAP);
            assert!(
                bytes.len() > LINE_CAP - 2 * (16 + 2),
                "cut no earlier than needed"
            );
            let parsed = ServerLine::parse(&bytes).unwrap();
            let (ServerLine::Welcome { members, .. }
            | ServerLine::Who { members, .. }
            | ServerLine::Expired { names: members, .. }) = parsed
            else {
                panic!("{parsed:?}");
            };
            assert!(members.is_cut());
            let read: Vec<&str> = members.iter().collect();
            assert!(read.len() > 40 && read.len() < 100);
            assert_eq!(read, list[..read.len()]);
            // A cut list is written back as it was read.
            assert_eq!(emitted(&parsed), bytes);
        }
        let counts: Vec<(&str, usize)> = list.iter().map(|n| (*n, 1)).collect();
        let rooms = ServerLine::Rooms(RoomCounts::new(&counts));
        let bytes = emitted(&rooms);
        assert!(bytes.ends_with(b" ...\n") && bytes.len() <= LINE_CAP);
        let Ok(ServerLine::Rooms(read)) = ServerLine::parse(&bytes) else {
            panic!()
        };
        assert!(read.is_cut());
        let entry = " member0000000000 (1)".len();
        assert_eq!(
            read.iter().count(),
            (LINE_CAP - "*** rooms: ...\n".len()) / entry
        );
    }

    #[test]
    fn a_list_is_cut_exactly_where_the_line_is_full() {
        // `*** in ROOM with: ` and names of 10 bytes, each after the
        // first 12 with its `, `; room is kept for `, ...\n` (6 bytes).
        // A room of 10 bytes and 83 names end 6 bytes short of LINE_CAP:
        // the list fits whole. One more name, and the 83rd is followed by
        // `, ...`, the line LINE_CAP bytes long.
        let names: Vec<String> = (0..84).map(|i| std::format!("m{i:09}")).collect();
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        let who = |members| ServerLine::Who {
            room: "abcdefghij",
            members: Names::new(members),
        };
        let whole = emitted(&who(&list[..83]));
        assert_eq!(
            String::from_utf8(whole.clone()).unwrap(),
            std::format!("*** in abcdefghij with: {}\n", list[..83].join(", "))
        );
        assert_eq!(whole.len(), LINE_CAP - 5);
        let cut = emitted(&who(&list));
        assert_eq!(
            String::from_utf8(cut.clone()).unwrap(),
            std::format!("*** in abcdefghij with: {}, ...\n", list[..83].join(", "))
        );
        assert_eq!(cut.len(), LINE_CAP);
        // A room one byte longer: the 83rd name would leave 5 bytes, one
        // short of `, ...\n`, so the list is cut after the 82nd.
        let who = ServerLine::Who {
            room: "abcdefghijk",
            members: Names::new(&list),
        };
        assert_eq!(
            String::from_utf8(emitted(&who)).unwrap(),
            std::format!("*** in abcdefghijk with: {}, ...\n", list[..82].join(", "))
        );

        // `*** rooms:` and entries ` NAME (N)`, room kept for ` ...\n`:
        // 63 entries of 15 bytes and 4 of 16 end 5 bytes short of LINE_CAP.
        // A 68th entry of 7 bytes would leave no room for ` ...\n`.
        let mut counts: Vec<(&str, usize)> = list[..67]
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, if i < 4 { 10 + i } else { 1 }))
            .collect();
        counts.push(("ab", 1));
        let entries = |counts: &[(&str, usize)]| -> String {
            counts
                .iter()
                .map(|(n, c)| std::format!(" {n} ({c})"))
                .collect()
        };
        let whole = emitted(&ServerLine::Rooms(RoomCounts::new(&counts[..67])));
        assert_eq!(
            String::from_utf8(whole.clone()).unwrap(),
            std::format!("*** rooms:{}\n", entries(&counts[..67]))
        );
        assert_eq!(whole.len(), LINE_CAP - 4);
        let cut = emitted(&ServerLine::Rooms(RoomCounts::new(&counts)));
        assert_eq!(
            String::from_utf8(cut.clone()).unwrap(),
            std::format!("*** rooms:{} ...\n", entries(&counts[..67]))
        );
        assert_eq!(cut.len(), LINE_CAP);
    }

    #[test]
    fn an_expired_list_is_cut_where_its_tail_still_fits() {
        // Names of 10 bytes, each after the first with its `, `: over 12
        // room names of 1 to 12 bytes, the line's end moves through every
        // byte of one name, so one of them ends the list 1 byte past
        // LINE_CAP with its tail and `, ...`: there, and only there, the
        // list is cut one name earlier.
        let names: Vec<String> = (0..100).map(|i| std::format!("m{i:09}")).collect();
        let list: Vec<&str> = names.iter().map(String::as_str).collect();
        for room_len in 1..=12 {
            let room = &"abcdefghijkl"[..room_len];
            let tail = std::format!(" left {room} (idle for 5 min)\n");
            let mut expected = String::from("*** ");
            for (i, name) in list.iter().enumerate() {
                let separator = if i == 0 { "" } else { ", " };
                expected.push_str(separator);
                let end = expected.len() + name.len() + ", ...".len() + tail.len();
                if end > LINE_CAP {
                    expected.push_str("...");
                    break;
                }
                expected.push_str(name);
            }
            expected.push_str(&tail);
            let line = ServerLine::Expired {
                names: Names::new(&list),
                room,
                idle_secs: 300,
            };
            assert_eq!(String::from_utf8(emitted(&line)).unwrap(), expected);
            assert!(expected.len() <= LINE_CAP);
        }
    }

    #[test]
    fn refusals_and_name_problems_read_as_their_lines_say_them() {
        let refusals = [
            Refusal::NotUtf8,
            Refusal::BadNick(NameProblem::TooLong {
                max_chars: 16,
                max_bytes: 48,
            }),
            Refusal::BadRoom(NameProblem::Reserved),
            Refusal::NickTaken("alice"),
            Refusal::ServerFull { max_members: 8 },
            Refusal::TooManyRooms { max_rooms: 4 },
            Refusal::MessageTooLong { len: 201, max: 200 },
            Refusal::NoSuchNick("bob"),
            Refusal::UnknownCommand("dance"),
            Refusal::NotMember { idle_secs: 300 },
            Refusal::NotMember { idle_secs: 90 },
        ];
        for refusal in refusals {
            let line = String::from_utf8(emitted(&ServerLine::Error(refusal))).unwrap();
            assert_eq!(line, std::format!("*** error: {refusal}\n"));
        }
        assert_eq!(
            Refusal::ServerFull { max_members: 8 }.to_string(),
            "server full (8 members), try again later"
        );
        assert_eq!(
            Refusal::NotMember { idle_secs: 90 }.to_string(),
            "you are not in the chat (members silent for 90 s leave it): join with /nick NAME"
        );
        assert_eq!(
            NameProblem::TooLong {
                max_chars: 16,
                max_bytes: 48
            }
            .to_string(),
            "too long: at most 16 characters and 48 bytes"
        );
        assert_eq!(
            NameProblem::MixedScripts.to_string(),
            "mixes Latin, Greek or Cyrillic letters, which look alike"
        );
    }

    #[test]
    fn a_list_is_empty_when_it_names_no_one_and_is_not_cut() {
        // What `is_empty` says without a search is what the names say.
        let by_names = |names: &Names<'_>| names.iter().next().is_none() && !names.is_cut();
        let texts = [
            "",
            "...",
            "a",
            "a, ...",
            "a, b",
            "alice, bob, ...",
            "ä",
            "a-b_c, d",
            "x, y, z, ...",
        ];
        for text in texts {
            let names = Names::from_text(text).unwrap();
            assert_eq!(names.is_empty(), by_names(&names), "{text:?}");
        }
        // What is not a list is not read as one.
        for text in [", ", "a,", ", ...", "a, , b", "... , a", "a b"] {
            assert!(Names::from_text(text).is_none(), "{text:?}");
        }
        for list in [&[][..], &["a"], &["a", "b"], &[""]] {
            let names = Names::new(list);
            assert_eq!(names.is_empty(), by_names(&names), "{list:?}");
        }
    }

    #[test]
    fn lists_read_back_are_equal_only_to_the_same_names_cut_alike() {
        let read = |bytes: &'static [u8]| ServerLine::parse(bytes).unwrap();
        let who = |members: &'static [&'static str]| ServerLine::Who {
            room: "lobby",
            members: Names::new(members),
        };
        let whole = read(b"*** in lobby with: alice, bob\n");
        assert_eq!(whole, who(&["alice", "bob"]));
        assert_ne!(whole, who(&["alice", "carol"]), "other names");
        assert_ne!(whole, who(&["alice"]), "fewer names");
        let cut = read(b"*** in lobby with: alice, bob, ...\n");
        assert_ne!(cut, whole, "the same names, but cut");
        assert_ne!(cut, who(&["alice", "bob"]));

        let rooms =
            |counts: &'static [(&'static str, usize)]| ServerLine::Rooms(RoomCounts::new(counts));
        let Ok(ServerLine::Rooms(whole)) = ServerLine::parse(b"*** rooms: lobby (2) games (1)\n")
        else {
            panic!()
        };
        assert!(!whole.is_cut());
        assert_eq!(
            ServerLine::Rooms(whole),
            rooms(&[("lobby", 2), ("games", 1)])
        );
        assert_ne!(
            ServerLine::Rooms(whole),
            rooms(&[("lobby", 2), ("games", 3)])
        );
        assert_ne!(ServerLine::Rooms(whole), rooms(&[("lobby", 2)]));
        let cut = read(b"*** rooms: lobby (2) games (1) ...\n");
        assert_ne!(cut, ServerLine::Rooms(whole), "the same rooms, but cut");
    }

    #[test]
    fn control_characters_never_reach_a_terminal() {
        let line = ServerLine::Message {
            room: "lobby",
            nick: "alice",
            text: "\u{1b}[2Jgotcha\u{7}\n",
        };
        assert_eq!(emitted(&line), b"[lobby] <alice> ?[2Jgotcha??\n");
        let line = ServerLine::Error(Refusal::UnknownCommand("x\u{1b}"));
        assert_eq!(
            emitted(&line),
            b"*** error: unknown command /x?; /help lists them\n"
        );
        // And a line that carries one is none the server sends.
        assert_eq!(ServerLine::parse(b"[lobby] <alice> \x1b[2J\n"), Err(Error));
        assert_eq!(ServerLine::parse(b"*** pong\n\n"), Err(Error));
    }

    #[test]
    fn what_the_server_does_not_say_is_not_read() {
        for text in [
            &b""[..],
            b"\n",
            b"*** forged line\n",
            b"*** error: join first\n",
            b"*** bob, you were idle for 5 min and left the chat; /nick NAME rejoins\n",
            b"*** welcome to the chat\n",
            b"*** in the mood\n",
            b"*** in lobby with: \n",
            b"*** in lobby with: a, , b\n",
            b"*** in lobby with: ..., a\n",
            b"*** rooms: lobby (x)\n",
            b"*** slow down: -2 lines per second at most; that one was not sent\n",
            b"*** error: server full (+3 members), try again later\n",
            b"*** bye two words\n",
            b"[lob by] <alice> hi\n",
            b"[lobby] <ali ce> hi\n",
            b"[lobby] alice hi\n",
            b"hello\n",
            b"caf\xe9\n",
        ] {
            assert_eq!(
                ServerLine::parse(text),
                Err(Error),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn idle_times_are_in_minutes_when_whole() {
        // `idle` divides in `div_rem`'s way: as `/` and `%` do.
        let expected = |secs: u64| {
            if secs >= 60 && secs % 60 == 0 {
                std::format!("{} min", secs / 60)
            } else {
                std::format!("{secs} s")
            }
        };
        let edges = [
            59,
            60,
            61,
            119,
            120,
            121,
            3600,
            u64::MAX - 60,
            u64::MAX - 15,
            u64::MAX,
        ];
        for secs in (0..=7_200).chain(edges) {
            let (number, unit) = idle(secs);
            assert_eq!(std::format!("{}{unit}", number.as_str()), expected(secs));
        }
    }

    #[test]
    fn idle_times_read_back_in_seconds() {
        for secs in [0, 1, 59, 60, 90, 300, 3600, u64::MAX] {
            let line = ServerLine::Error(Refusal::NotMember { idle_secs: secs });
            assert_eq!(ServerLine::parse(&emitted(&line)), Ok(line), "{secs}");
        }
        let overflow = std::format!(
            "*** error: you are not in the chat (members silent for {} min leave it): \
             join with /nick NAME\n",
            u64::MAX
        );
        assert_eq!(ServerLine::parse(overflow.as_bytes()), Err(Error));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_what_parses_is_written_back_the_same() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let samples: Vec<Vec<u8>> = server_lines().iter().map(|(l, _)| emitted(l)).collect();
        let alphabet = b"*[]<> /,.()-_:;0123456789abinoptuvwy\n\r\t\xff\x00\x1b\xc3\xa9";
        for round in 0..50_000 {
            let mut bytes: Vec<u8> = if round % 2 == 0 {
                // A real line with a few bytes changed, cut or grown.
                let mut bytes = samples[(next() % samples.len() as u64) as usize].clone();
                for _ in 0..=next() % 2 {
                    let at = (next() % bytes.len() as u64) as usize;
                    let byte = alphabet[(next() % alphabet.len() as u64) as usize];
                    match next() % 10 {
                        0..=4 => bytes[at] = byte,
                        5..=8 => bytes.insert(at, byte),
                        _ => bytes.truncate(at),
                    }
                    if bytes.is_empty() {
                        break;
                    }
                }
                bytes
            } else {
                let len = (next() % 40) as usize;
                (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect()
            };
            if round % 5 == 0 {
                bytes.insert(0, b'/');
            }
            if let Ok(line) = ServerLine::parse(&bytes) {
                let again = emitted(&line);
                assert_eq!(
                    ServerLine::parse(&again),
                    Ok(line),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            if let Ok(command) = Command::parse(&bytes) {
                let again = emitted_command(&command);
                assert_eq!(
                    Command::parse(&again),
                    Ok(command),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("", 0), "");
    }
}
