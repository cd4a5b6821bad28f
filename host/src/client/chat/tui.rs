//! The terminal UI: messages, the room and its members, and an input line
//! that keeps what is half typed while lines arrive.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::thread;
use std::time::Instant;

use anyhow::{Context as _, Result};
use ratatui::crossterm::event::{self, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::{DefaultTerminal, Frame};
use unicode_width::UnicodeWidthChar;

use crate::client::chat::network::{Client, Event};
use crate::client::chat::session::{Effect, Kind, Session, MAX_DATAGRAM};
use crate::linux::clock::local_hour_minute;

/// Lines the terminal UI keeps.
const SCROLLBACK: usize = 2000;

/// Restores the terminal however the UI ends (ratatui's own panic hook
/// covers panics).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

pub fn run(mut client: Client) -> Result<()> {
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
            Some(Event::Signal) => break,
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
    let block = Block::bordered().title(format!(" #{} ({}) ", session.room, session.members.len()));
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
fn wrap(text: &str, width: usize) -> Vec<String> {
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
    match local_hour_minute() {
        Some((hour, minute)) => format!("{hour:02}:{minute:02}"),
        None => "--:--".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_long_words() {
        assert_eq!(wrap("hello there world", 11), ["hello there", "world"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
    }

    #[test]
    fn wrapping_counts_columns_not_characters() {
        // Each of these takes two columns of a terminal.
        let rows = wrap("黎诗说你好大家好 hello", 7);
        assert_eq!(rows, ["黎诗说", "你好大", "家好", "hello"]);
        for row in &rows {
            assert!(width_of(&row.chars().collect::<Vec<_>>()) <= 7, "{row}");
        }
    }

    #[test]
    fn the_panes_stay_aligned_with_wide_characters() {
        use ratatui::backend::TestBackend;
        use ratatui::Terminal;

        let t0 = Instant::now();
        let mut session = Session::new(
            "黎诗",
            std::time::Duration::from_secs(30),
            std::time::Duration::from_secs(1),
            3,
            t0,
        );
        session.on_datagram(
            "*** welcome 黎诗, you are in 茶馆 with: alex, 黎诗, Дмитрий\n".as_bytes(),
            t0,
        );
        let mut app = App::new("192.168.69.1:5555".parse().unwrap());
        for effect in session.take_effects() {
            app.show(effect);
        }
        for line in [
            "[茶馆] <alex> 你好, 黎诗!",
            "[茶馆] <黎诗> 吃饭了吗? 我们一起去吃饭吧",
        ] {
            app.show(Effect::Show(Kind::Message, line.to_string()));
        }
        app.input = "我在打字".chars().collect();
        app.cursor = app.input.len();
        let mut terminal = Terminal::new(TestBackend::new(60, 12)).unwrap();
        terminal
            .draw(|frame| render(frame, &mut app, &session))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        // Every row of the middle panes has its borders at the same
        // columns: the messages pane's right border and the members pane's
        // left and right borders, whatever the text's width.
        let symbol = |x: u16, y: u16| buffer[(x, y)].symbol().to_string();
        for y in 2..buffer.area.height - 4 {
            assert_eq!(symbol(0, y), "│", "row {y}");
            assert_eq!(symbol(37, y), "│", "row {y}");
            assert_eq!(symbol(38, y), "│", "row {y}");
            assert_eq!(symbol(59, y), "│", "row {y}");
        }
        // A row as text: a wide character's second cell is not a space.
        let row = |y: u16| {
            let mut text = String::new();
            let mut x = 0;
            while x < 60 {
                let cell = symbol(x, y);
                x += cell
                    .chars()
                    .map(|c| c.width().unwrap_or(0))
                    .sum::<usize>()
                    .max(1) as u16;
                text.push_str(&cell);
            }
            text
        };
        let screen: Vec<String> = (0..12).map(row).collect();
        let text = screen.join("\n");
        assert!(text.contains("黎诗 (you)"), "{text}");
        assert!(text.contains("Дмитрий"), "{text}");
        assert!(text.contains("我在打字"), "{text}");
    }
}
