//! A client process in a test's namespace (`nc -u`, or `udpkit chat` in
//! line mode), its standard input open and its output collected as it
//! comes: the chat tests and the fault tests talk to the chat through it.
//!
//! Network safety: it runs inside the [`Netns`] it is given, under
//! `timeout`, and is stopped when dropped; every wait is bounded.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{wait_bounded, Netns, BIN, SERVER_IP};

/// The chat's port.
pub const CHAT_PORT: &str = "5555";

/// Longest wait for anything that should happen at once, on a loaded
/// machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Reads a pipe into a shared buffer on a thread.
fn collect<R: Read + Send + 'static>(pipe: Option<R>) -> Arc<Mutex<Vec<u8>>> {
    let buffer = Arc::new(Mutex::new(Vec::new()));
    if let Some(mut pipe) = pipe {
        let sink = Arc::clone(&buffer);
        thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                match pipe.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => sink.lock().unwrap().extend_from_slice(&chunk[..n]),
                }
            }
        });
    }
    buffer
}

/// A client process in the namespace (`nc -u` or `udpkit chat`) with its
/// standard input open and its output collected as it comes.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Peer {
    pub fn spawn(ns: &Netns, name: &str, argv: &[&str]) -> Peer {
        let mut full = vec!["timeout", "-k", "2", "150"];
        full.extend_from_slice(argv);
        let mut cmd = ns.command(&full);
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
        let stdin = child.stdin.take();
        let stdout = collect(child.stdout.take());
        let stderr = collect(child.stderr.take());
        Peer {
            name: name.to_string(),
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    /// `nc -u` from source port `port` to the chat.
    pub fn nc(ns: &Netns, name: &str, port: u16) -> Peer {
        let port = port.to_string();
        Peer::spawn(ns, name, &["nc", "-u", "-p", &port, SERVER_IP, CHAT_PORT])
    }

    /// `nc -6 -u` from source port `port` to the chat at fdaa::1.
    pub fn nc6(ns: &Netns, name: &str, port: u16) -> Peer {
        let port = port.to_string();
        Peer::spawn(
            ns,
            name,
            &["nc", "-6", "-u", "-p", &port, "fdaa::1", CHAT_PORT],
        )
    }

    /// `udpkit chat` (line mode: its stdin and stdout are pipes).
    pub fn chat(ns: &Netns, nick: &str, extra: &[&str]) -> Peer {
        let mut argv = vec![BIN, "chat", SERVER_IP, "--nick", nick];
        argv.extend_from_slice(extra);
        Peer::spawn(ns, nick, &argv)
    }

    /// Writes one line (one datagram for nc: wait for its effect before
    /// the next, or nc may read two lines at once).
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write {line:?}: {e}", self.name));
    }

    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn count(&self, line_start: &str) -> usize {
        self.out()
            .lines()
            .filter(|l| l.starts_with(line_start))
            .count()
    }

    pub fn describe(&self) -> String {
        format!(
            "--- {} stdout ---\n{}--- {} stderr ---\n{}",
            self.name,
            self.out(),
            self.name,
            self.err()
        )
    }

    /// Waits, bounded, until a line of stdout starts with `line_start`.
    #[track_caller]
    pub fn expect(&self, line_start: &str) {
        self.expect_n(line_start, 1);
    }

    /// Waits, bounded, until `n` lines of stdout start with `line_start`.
    #[track_caller]
    pub fn expect_n(&self, line_start: &str, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.count(line_start) < n {
            assert!(
                Instant::now() < deadline,
                "{} did not receive {n} line(s) starting {line_start:?} within {PATIENCE:?}\n{}",
                self.name,
                self.describe()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits, bounded, until stderr contains `text`.
    #[track_caller]
    pub fn expect_err(&self, text: &str) {
        let deadline = Instant::now() + PATIENCE;
        while !self.err().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{} did not say {text:?} on stderr within {PATIENCE:?}\n{}",
                self.name,
                self.describe()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[track_caller]
    pub fn assert_no_line(&self, line_start: &str) {
        assert_eq!(
            self.count(line_start),
            0,
            "{} received a line starting {line_start:?}\n{}",
            self.name,
            self.describe()
        );
    }

    /// Joins with `/nick` (nc), resending while no answer comes.
    #[track_caller]
    pub fn join(&mut self, nick: &str) {
        let welcome = format!("*** welcome {nick}, ");
        let already = format!("*** you are {nick} already");
        for _ in 0..5 {
            self.say(&format!("/nick {nick}"));
            let deadline = Instant::now() + Duration::from_secs(4);
            while Instant::now() < deadline {
                if self.count(&welcome) + self.count(&already) > 0 {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("{nick} could not join\n{}", self.describe());
    }

    /// Closes stdin and waits, bounded, for the process to exit.
    #[track_caller]
    pub fn close_and_wait(&mut self) -> ExitStatus {
        drop(self.stdin.take());
        self.wait()
    }

    #[track_caller]
    pub fn wait(&mut self) -> ExitStatus {
        let status = wait_bounded(&mut self.child, PATIENCE);
        // Let the readers take the last bytes.
        thread::sleep(Duration::from_millis(100));
        status.unwrap_or_else(|| {
            panic!(
                "{} still running {PATIENCE:?} later\n{}",
                self.name,
                self.describe()
            )
        })
    }

    /// Waits, bounded by `limit`, until `done` holds of this peer.
    #[track_caller]
    pub fn wait_until(&self, what: &str, limit: Duration, done: impl Fn(&Peer) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{}: not {what} within {limit:?}\n{}",
                self.name,
                self.describe()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) to `timeout`, our child, not yet reaped; it
            // passes the signal on to the client.
            if let Ok(pid) = i32::try_from(self.child.id()) {
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            if wait_bounded(&mut self.child, Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if thread::panicking() {
            eprintln!("{}", self.describe());
        }
    }
}
