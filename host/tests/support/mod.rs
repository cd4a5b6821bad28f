//! Fixture of the end-to-end tests: a private network namespace per test,
//! the real `udpkit serve` inside it on a real TAP, and bounded runs of real
//! clients inside the same namespace.
//!
//! Network safety: nothing here touches the machine's own namespace. Every
//! TAP, address and datagram lives in a namespace the test creates
//! (`udpkit-e2e-<pid>-<n>` with `ip netns add`, or an anonymous one of
//! `unshare --net`), which is deleted, after killing every process in it,
//! when the [`Netns`] guard drops. Every command runs with a hard time
//! limit, and every wait is bounded.

#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

pub mod dnsmasq;
pub mod peer;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_udpkit");

/// Address of `udpkit serve` by default.
pub const SERVER_IP: &str = "192.168.69.1";
/// Address `--create` gives the host side of the TAP by default.
pub const HOST_CIDR: &str = "192.168.69.100/24";

/// Prefix of the namespaces these tests create.
const NS_PREFIX: &str = "udpkit-e2e-";

/// How long a server gets to come up, on a loaded machine.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// Hard limit of a command run by [`Run::out`] unless told otherwise.
const DEFAULT_LIMIT: Duration = Duration::from_secs(20);

/// The external tools the tests use, with the Debian package of each (a
/// test binary that needs others names its own to [`Netns::with_tools`]).
pub const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("nc", "netcat-openbsd"),
    ("socat", "socat"),
    ("rdate", "rdate"),
    ("ping", "iputils-ping"),
    ("python3", "python3"),
    ("timeout", "coreutils"),
    ("setpriv", "util-linux"),
];

/// Checks that the end-to-end tests can run, with [`TOOLS`]. Returns
/// `false` when they are to be skipped (`UDPKIT_SKIP_E2E=1`), panics with an
/// explanation when they cannot run: not root, or a tool missing.
pub fn preflight(test: &str) -> bool {
    preflight_with(test, TOOLS)
}

/// [`preflight`] with the tools `tools` (tool, Debian package) instead of
/// [`TOOLS`]. The check runs once per test binary.
pub fn preflight_with(test: &str, tools: &[(&str, &str)]) -> bool {
    if std::env::var_os("UDPKIT_SKIP_E2E").is_some_and(|v| v == "1") {
        eprintln!("{test}: SKIPPED end-to-end test (UDPKIT_SKIP_E2E=1)");
        return false;
    }
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(problem) = CHECK.get_or_init(|| check_environment(tools)) {
        panic!("{test}: cannot run the end-to-end tests: {problem}");
    }
    true
}

fn check_environment(tools: &[(&str, &str)]) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(format!(
            "they need root (running as uid {euid}): they create network namespaces and TAP \
             devices. Run them as root (e.g. `sudo -E env \"PATH=$PATH\" cargo test --workspace --locked`), \
             or set UDPKIT_SKIP_E2E=1 to skip them"
        ));
    }
    let missing: Vec<&(&str, &str)> = tools
        .iter()
        .filter(|(tool, _)| find_in_path(tool).is_none())
        .collect();
    if !missing.is_empty() {
        let mut packages: Vec<&str> = Vec::new();
        for (_, package) in &missing {
            if !packages.contains(package) {
                packages.push(*package);
            }
        }
        return Err(format!(
            "missing tools: {}; install them, e.g. `apt-get install {}` (scripts/test.sh, \
             the README's test command, installs every one)",
            missing
                .iter()
                .map(|(tool, package)| format!("`{tool}` (Debian package {package})"))
                .collect::<Vec<_>>()
                .join(", "),
            packages.join(" ")
        ));
    }
    // The tests use netcat-openbsd's flags (-W); other netcats differ.
    let nc = run_plain(Command::new("nc").arg("-h"), Duration::from_secs(10))?;
    let help = String::from_utf8_lossy(&nc.stderr).to_string() + &nc.stdout_str();
    if !help.contains("OpenBSD") {
        return Err(
            "`nc` is not OpenBSD netcat; install the Debian package netcat-openbsd".to_string(),
        );
    }
    if !Path::new("/dev/net/tun").exists() {
        return Err("/dev/net/tun is missing (TUN/TAP support: modprobe tun)".to_string());
    }
    remove_stale_namespaces();
    Ok(())
}

/// Where `tool` is: in `PATH`, or in /usr/sbin or /sbin (which a normal
/// user's `PATH` may lack), as an executable file.
pub fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Deletes namespaces earlier, killed test runs left behind: those whose
/// creating process is gone. Namespaces of live processes (tests running in
/// parallel elsewhere) stay.
fn remove_stale_namespaces() {
    let Ok(list) = run_plain(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    ) else {
        return;
    };
    for line in list.stdout_str().lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("removing stale namespace {name} of a finished test run");
            destroy_namespace(name);
        }
    }
}

/// Kills every process in namespace `name` (stopped ones too), then
/// deletes it. Bounded.
fn destroy_namespace(name: &str) {
    for _ in 0..10 {
        let pids = namespace_pids(name);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill has no memory-safety preconditions; the pids are
            // processes inside our own test namespace.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGKILL);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    let _ = run_plain(
        Command::new("ip").args(["netns", "delete", name]),
        Duration::from_secs(10),
    );
}

fn namespace_pids(name: &str) -> Vec<i32> {
    match run_plain(
        Command::new("ip").args(["netns", "pids", name]),
        Duration::from_secs(10),
    ) {
        Ok(out) => out
            .stdout_str()
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            // Never ourselves, whatever happens.
            .filter(|&p| p > 1 && p as u32 != std::process::id())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The result of a bounded command.
#[derive(Debug)]
pub struct Out {
    /// What ran, for messages.
    pub what: String,
    /// `None` when the hard time limit killed it.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

impl Out {
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` -> {} after {:?}\n--- stdout ---\n{:?}\n--- stderr ---\n{}",
            self.what,
            match self.status {
                Some(s) => s.to_string(),
                None => "KILLED at the hard time limit".to_string(),
            },
            self.elapsed,
            self.stdout_str(),
            self.stderr_str()
        )
    }

    /// [`Out::describe`] with only the last `lines` lines of each output,
    /// for a long one (a build's).
    pub fn describe_tail(&self, lines: usize) -> String {
        let tail = |text: String| {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        };
        format!(
            "`{}` -> {} after {:.1?}\n--- stdout (end) ---\n{}\n--- stderr (end) ---\n{}",
            self.what,
            match self.status {
                Some(s) => s.to_string(),
                None => "KILLED at the hard time limit".to_string(),
            },
            self.elapsed,
            tail(self.stdout_str()),
            tail(self.stderr_str())
        )
    }

    /// Panics unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Out {
        assert!(self.success(), "command failed: {}", self.describe());
        self
    }
}

static FILE_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch file name unique in this test process, in `dir` (a
/// namespace's [`Netns::dir`]).
pub fn scratch(dir: &Path, what: &str) -> PathBuf {
    let n = FILE_COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{n:04}-{what}"))
}

fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("e2e")
}

/// Runs `cmd` with stdout and stderr to files (so no pipe can block and no
/// orphaned grandchild can hold us), killing it at `limit`.
fn run_in(cmd: &mut Command, dir: &Path, stdin: Option<&[u8]>, limit: Duration) -> Out {
    fs::create_dir_all(dir).expect("create scratch dir");
    let what = format!("{cmd:?}");
    let out_path = scratch(dir, "stdout");
    let err_path = scratch(dir, "stderr");
    let in_path = scratch(dir, "stdin");
    let stdin = match stdin {
        Some(bytes) => {
            fs::write(&in_path, bytes).expect("write stdin file");
            Stdio::from(File::open(&in_path).expect("open stdin file"))
        }
        None => Stdio::null(),
    };
    cmd.stdin(stdin)
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"));
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let status = wait_bounded(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = Out {
        what,
        status,
        stdout: fs::read(&out_path).unwrap_or_default(),
        stderr: fs::read(&err_path).unwrap_or_default(),
        elapsed: start.elapsed(),
    };
    for path in [&in_path, &out_path, &err_path] {
        let _ = fs::remove_file(path);
    }
    out
}

/// Runs `cmd` outside any test namespace (a build, a script that reads
/// files), its output to files, killed at `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Out {
    run_in(cmd, &scratch_root().join("plain"), None, limit)
}

/// For setup commands outside a test namespace (`ip netns ...`).
fn run_plain(cmd: &mut Command, limit: Duration) -> Result<Out, String> {
    let out = run_in(cmd, &scratch_root().join("plain"), None, limit);
    if out.status.is_some() {
        Ok(out)
    } else {
        Err(out.describe())
    }
}

/// Waits for `child` at most `limit`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("waiting for a child: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

static NS_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace private to one test, deleted on drop.
pub struct Netns {
    name: String,
    dir: PathBuf,
    kind: Kind,
}

/// How a namespace was made, which says how to enter and remove it.
enum Kind {
    /// `ip netns add`: it has a name under /run/netns.
    Named,
    /// `unshare --net`: it has no name and lives as long as a process is
    /// in it; `holder` (a bounded `sleep`) keeps it until the guard drops.
    Unshared {
        holder: Child,
        /// `/proc/<holder>/ns/net`, the way in (`nsenter --net=`).
        path: String,
        /// What that link reads (`net:[<inode>]`): how its processes are
        /// found.
        id: PathBuf,
    },
}

/// Longest life of the process keeping an `unshare --net` namespace.
const HOLDER_LIFE: Duration = Duration::from_secs(900);

impl Netns {
    /// Creates the namespace for `test`, with `lo` up; `None` when the
    /// end-to-end tests are skipped.
    pub fn new(test: &str) -> Option<Netns> {
        Netns::with_tools(test, TOOLS)
    }

    /// [`Netns::new`] for tests that need the tools `tools` (tool, Debian
    /// package) rather than [`TOOLS`].
    pub fn with_tools(test: &str, tools: &[(&str, &str)]) -> Option<Netns> {
        if !preflight_with(test, tools) {
            return None;
        }
        let n = NS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NS_PREFIX}{}-{n}", std::process::id());
        let dir = scratch_root().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        let add = run_plain(
            Command::new("ip").args(["netns", "add", &name]),
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| panic!("ip netns add hung: {e}"));
        assert!(add.success(), "cannot create namespace: {}", add.describe());
        // From here on, Drop cleans up.
        let ns = Netns {
            name,
            dir,
            kind: Kind::Named,
        };
        ns.run(&["ip", "link", "set", "lo", "up"]).out().ok();
        eprintln!("{test}: namespace {}", ns.name);
        Some(ns)
    }

    /// [`Netns::with_tools`], but the namespace is made by `unshare --net`
    /// instead of `ip netns add`: it has no name in /run/netns, and a
    /// process is entered into it with `nsenter --net` (which, unlike `ip
    /// netns exec`, leaves /sys as the machine's: /sys/class/net shows the
    /// machine's interfaces, not the namespace's).
    ///
    /// A `sleep` (of at most 15 minutes) keeps the namespace; it and every
    /// command started in the namespace get SIGKILL if the test thread
    /// that started them ends without cleaning up (a killed test run).
    pub fn unshared(test: &str, tools: &[(&str, &str)]) -> Option<Netns> {
        if !preflight_with(test, tools) {
            return None;
        }
        for tool in ["unshare", "nsenter", "setpriv", "sleep"] {
            assert!(
                find_in_path(tool).is_some(),
                "{test}: `{tool}` is missing (Debian packages util-linux, coreutils)"
            );
        }
        let n = NS_COUNTER.fetch_add(1, Ordering::Relaxed);
        let ours = fs::read_link("/proc/self/ns/net").expect("read our own network namespace");
        let life = HOLDER_LIFE.as_secs().to_string();
        let mut holder = Command::new("unshare")
            .args(["--net", "--", "setpriv", "--pdeathsig", "KILL", "--"])
            .args(["sleep", &life])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{test}: cannot start `unshare --net`: {e}"));
        let path = format!("/proc/{}/ns/net", holder.id());
        // Until unshare has done its work, the holder is still in our own
        // namespace: entering it then would configure the machine's.
        let deadline = Instant::now() + Duration::from_secs(10);
        let id = loop {
            match fs::read_link(&path) {
                Ok(id) if id != ours => break id,
                _ => {}
            }
            if Instant::now() >= deadline || holder.try_wait().ok().flatten().is_some() {
                let _ = holder.kill();
                let _ = holder.wait();
                panic!("{test}: `unshare --net` made no namespace within 10 s");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let name = format!("{NS_PREFIX}unshared-{}-{n}", holder.id());
        let dir = scratch_root().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch dir");
        // From here on, Drop cleans up.
        let ns = Netns {
            name,
            dir,
            kind: Kind::Unshared { holder, path, id },
        };
        ns.run(&["ip", "link", "set", "lo", "up"]).out().ok();
        eprintln!("{test}: namespace {} (unshare --net)", ns.name);
        Some(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Scratch directory of this test.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `ip netns exec <ns> <argv...>` (for a namespace of `unshare --net`:
    /// `nsenter --net=<ns> setpriv --pdeathsig KILL <argv...>`). Both exec
    /// the command, so the spawned child's pid is the command's own.
    pub fn command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        match &self.kind {
            Kind::Named => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", &self.name]).args(argv);
                cmd
            }
            Kind::Unshared { path, .. } => {
                let mut cmd = Command::new("nsenter");
                cmd.arg(format!("--net={path}"))
                    .args(["--", "setpriv", "--pdeathsig", "KILL", "--"])
                    .args(argv);
                cmd
            }
        }
    }

    /// A bounded run of `argv` inside the namespace.
    pub fn run<S: AsRef<OsStr>>(&self, argv: &[S]) -> Run<'_> {
        Run {
            ns: self,
            argv: argv.iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: None,
            envs: Vec::new(),
            limit: DEFAULT_LIMIT,
        }
    }

    /// Makes the TAP `name` in the namespace with the Linux side's address
    /// `cidr` on it, up: the link a udpkit device (the host binary with
    /// `--tap`, a board in QEMU) attaches to.
    pub fn add_tap(&self, name: &str, cidr: &str) {
        self.ip(&["tuntap", "add", "dev", name, "mode", "tap"]).ok();
        self.ip(&["addr", "add", cidr, "dev", name]).ok();
        self.ip(&["link", "set", name, "up"]).ok();
    }

    /// `ip -n <ns> <args...>`, bounded; for inspecting the namespace.
    pub fn ip(&self, args: &[&str]) -> Out {
        let mut cmd = match &self.kind {
            Kind::Named => {
                let mut cmd = Command::new("ip");
                cmd.args(["-n", &self.name]);
                cmd
            }
            Kind::Unshared { .. } => self.command(&["ip"]),
        };
        cmd.args(args);
        run_in(&mut cmd, &self.dir, None, Duration::from_secs(20))
    }

    /// `ip -batch`: the `ip` commands `commands` (`addr add ...`, one per
    /// entry) inside the namespace in one run, bounded; many addresses
    /// are added in a fraction of a second this way.
    pub fn ip_batch(&self, commands: &[String]) -> Out {
        let file = scratch(&self.dir, "ip-batch");
        fs::write(&file, commands.join("\n") + "\n").expect("write ip batch file");
        let out = self
            .run(&[OsStr::new("ip"), OsStr::new("-batch"), file.as_os_str()])
            .limit(Duration::from_secs(30))
            .out();
        let _ = fs::remove_file(&file);
        out
    }

    /// A bounded run of `argv` inside the namespace under `timeout <secs>`
    /// (then `-k 2`), killed by us 10 s later at the latest.
    pub fn timed(&self, secs: u64, argv: &[&str]) -> Run<'_> {
        let secs_arg = secs.to_string();
        let mut full = vec!["timeout", "-k", "2", &secs_arg];
        full.extend_from_slice(argv);
        self.run(&full).limit(Duration::from_secs(secs + 10))
    }

    /// `python3 -c <script> <args...>` inside the namespace, under
    /// `timeout 20`.
    pub fn python(&self, script: &str, args: &[&str]) -> Out {
        let mut argv = vec!["python3", "-c", script];
        argv.extend_from_slice(args);
        self.timed(20, &argv).out()
    }

    /// The `udpkit` client inside the namespace, under `timeout 15`.
    pub fn udpkit(&self, args: &[&str]) -> Run<'_> {
        let mut argv = vec![BIN];
        argv.extend_from_slice(args);
        self.timed(15, &argv)
    }

    /// The processes in the namespace (but the one keeping a namespace of
    /// `unshare --net`).
    pub fn pids(&self) -> Vec<i32> {
        match &self.kind {
            Kind::Named => namespace_pids(&self.name),
            Kind::Unshared { holder, id, .. } => processes_in(id)
                .into_iter()
                .filter(|&p| p as u32 != holder.id())
                .collect(),
        }
    }
}

/// The processes whose network namespace reads `id` (`net:[<inode>]`).
fn processes_in(id: &Path) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        // Never ourselves, whatever happens.
        .filter(|&p| p > 1 && p as u32 != std::process::id())
        .filter(|p| fs::read_link(format!("/proc/{p}/ns/net")).is_ok_and(|link| link == id))
        .collect()
}

/// Kills every process in the namespace of `unshare --net` that `holder`
/// keeps, then the holder, which ends the namespace. Bounded.
fn destroy_unshared(holder: &mut Child, id: &Path) {
    for _ in 0..10 {
        let pids: Vec<i32> = processes_in(id)
            .into_iter()
            .filter(|&p| p as u32 != holder.id())
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            // SAFETY: kill has no memory-safety preconditions; the pids are
            // processes inside our own test namespace.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
                libc::kill(pid, libc::SIGKILL);
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    let _ = holder.kill();
    let _ = wait_bounded(holder, Duration::from_secs(10));
}

impl Drop for Netns {
    fn drop(&mut self) {
        match &mut self.kind {
            Kind::Named => destroy_namespace(&self.name),
            Kind::Unshared { holder, id, .. } => destroy_unshared(holder, id),
        }
        if !thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("scratch files kept in {}", self.dir.display());
        }
    }
}

/// A bounded command in a namespace; see [`Netns::run`].
pub struct Run<'a> {
    ns: &'a Netns,
    argv: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    envs: Vec<(OsString, OsString)>,
    limit: Duration,
}

impl Run<'_> {
    /// Feeds `bytes` on stdin (from a file, so one read gets them all).
    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// Hard limit, after which the command is killed.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    pub fn out(self) -> Out {
        let mut cmd = self.ns.command(&self.argv);
        cmd.env_remove("RUST_LOG");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        run_in(&mut cmd, &self.ns.dir, self.stdin.as_deref(), self.limit)
    }
}

/// `nc -u` in `ns`: sends `input` to `ip`:`port` and returns what came back
/// (one datagram, waiting at most 2 s for it).
pub fn nc(ns: &Netns, ip: &str, port: u16, input: &[u8]) -> Out {
    ns.run(&[
        "timeout",
        "-k",
        "2",
        "8",
        "nc",
        "-u",
        "-W1",
        "-w2",
        ip,
        &port.to_string(),
    ])
    .stdin(input)
    .out()
}

/// [`nc`] that must get `expected` back.
#[track_caller]
pub fn nc_expect(ns: &Netns, ip: &str, port: u16, input: &[u8], expected: &[u8]) {
    let out = nc(ns, ip, port, input);
    assert!(
        out.stdout == expected,
        "{ip} port {port}: sent {:?}, expected {:?} back; {}",
        String::from_utf8_lossy(input),
        String::from_utf8_lossy(expected),
        out.describe()
    );
}

/// Runs a time client inside `ns`: under `timeout`, in UTC, and without
/// CAP_SYS_TIME (`setpriv` drops it from the bounding set), so that it
/// cannot set or slew the machine's clock whatever it tries. A namespace
/// does not isolate the clock; this does.
pub fn time_client(ns: &Netns, limit_secs: u64, argv: &[&str]) -> Out {
    let limit = limit_secs.to_string();
    let mut full = vec![
        "timeout",
        "-k",
        "2",
        limit.as_str(),
        "setpriv",
        "--bounding-set=-sys_time",
        "--inh-caps=-sys_time",
    ];
    full.extend_from_slice(argv);
    ns.run(&full)
        .env("TZ", "UTC")
        .limit(Duration::from_secs(limit_secs + 10))
        .out()
}

/// The offset `ntpdig` (`sntp`, `ntpdate -q`) printed, and the stratum:
/// `2026-11-23 17:27:41.358464 (+0000) -0.000035 +/- 0.000153 192.168.69.1 s10 no-leap`.
#[track_caller]
pub fn ntpdig_offset_and_stratum(out: &Out) -> (f64, u8) {
    let text = out.stdout_str();
    let line = text
        .lines()
        .find(|l| l.contains("+/-"))
        .unwrap_or_else(|| panic!("no result line: {}", out.describe()));
    let words: Vec<&str> = line.split_whitespace().collect();
    let offset = words
        .iter()
        .position(|w| *w == "+/-")
        .and_then(|i| words.get(i.checked_sub(1)?))
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no offset in {line:?}: {}", out.describe()));
    let stratum = words
        .iter()
        .find_map(|w| w.strip_prefix('s').and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("no stratum in {line:?}: {}", out.describe()));
    (offset, stratum)
}

/// A running `udpkit serve` inside a namespace.
pub struct Server<'a> {
    ns: &'a Netns,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
    /// Where it answers: its address, TAP and echo port (when echo runs).
    pub ip: String,
    pub tap: String,
    pub echo_port: Option<u16>,
}

impl<'a> Server<'a> {
    /// Starts `udpkit serve <args...>` and waits until it answers.
    pub fn start(ns: &'a Netns, args: &[&str]) -> Server<'a> {
        let mut server = Server::spawn(ns, args);
        server.wait_ready();
        server
    }

    /// Starts `udpkit serve <args...>` without waiting.
    pub fn spawn(ns: &'a Netns, args: &[&str]) -> Server<'a> {
        Server::spawn_under(ns, &[], args)
    }

    /// Starts `<wrapper...> udpkit serve <args...>` without waiting: under
    /// a command that runs it, such as `timeout` or `setpriv`. Signals go
    /// to the wrapper, which must pass them on (`timeout` does) or exec
    /// udpkit (`setpriv` does).
    pub fn spawn_under(ns: &'a Netns, wrapper: &[&str], args: &[&str]) -> Server<'a> {
        let log = scratch(ns.dir(), "serve.log");
        let mut argv: Vec<&str> = wrapper.to_vec();
        argv.extend_from_slice(&[BIN, "serve"]);
        argv.extend_from_slice(args);
        let mut cmd = ns.command(&argv);
        // The default log level (info) is part of the spec.
        cmd.env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(File::create(scratch(ns.dir(), "serve.stdout")).expect("stdout file"))
            .stderr(File::create(&log).expect("log file"));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (ip, tap, echo_port) = where_it_answers(args);
        Server {
            ns,
            child,
            log,
            status: None,
            ip,
            tap,
            echo_port,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Exit status if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    #[track_caller]
    pub fn assert_running(&mut self) {
        if let Some(status) = self.try_status() {
            panic!("udpkit serve exited ({status}); its log:\n{}", self.log());
        }
    }

    /// Waits, bounded, until the server logged `ready`, its TAP has carrier
    /// and its echo service answers.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_LIMIT;
        let mut stage = "the `ready` log line";
        loop {
            self.assert_running();
            if self.log().contains("ready") {
                stage = "LOWER_UP on the TAP";
                let link = self.ns.ip(&["link", "show", &self.tap]);
                if link.stdout_str().contains("LOWER_UP") {
                    stage = "a first echo";
                    match self.echo_port {
                        None => return,
                        Some(port) => {
                            if probe_echo(self.ns, &self.ip, port) {
                                return;
                            }
                        }
                    }
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "udpkit serve not ready after {READY_LIMIT:?} (waiting for {stage}); log:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends `signal` to udpkit itself, without waiting for anything
    /// (`SIGSTOP`, `SIGCONT`, ...).
    pub fn signal(&self, signal: i32) {
        let pid = self.pid();
        // SAFETY: plain kill(2) to our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill {pid}");
    }

    /// Sends `signal` to udpkit itself and waits, bounded, for it to exit.
    pub fn stop(&mut self, signal: i32) -> ExitStatus {
        if let Some(status) = self.try_status() {
            panic!(
                "udpkit serve had already exited ({status}); log:\n{}",
                self.log()
            );
        }
        self.signal(signal);
        match wait_bounded(&mut self.child, Duration::from_secs(15)) {
            Some(status) => {
                self.status = Some(status);
                status
            }
            None => panic!(
                "udpkit serve still running 15 s after signal {signal}; log:\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for Server<'_> {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            // SAFETY: as in `signal`. A stopped server is woken up first, so
            // that it can act on SIGTERM.
            unsafe {
                libc::kill(self.pid(), libc::SIGCONT);
                libc::kill(self.pid(), libc::SIGTERM);
            }
            if wait_bounded(&mut self.child, Duration::from_secs(3)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        if thread::panicking() {
            eprintln!(
                "--- udpkit serve log (namespace {}) ---\n{}--- end of log ---",
                self.ns.name(),
                self.log()
            );
        }
    }
}

/// Reads where a server started with `args` answers, from the options
/// that change it.
fn where_it_answers(args: &[&str]) -> (String, String, Option<u16>) {
    let mut ip = SERVER_IP.to_string();
    let mut tap = "tap0".to_string();
    let mut echo = true;
    let mut echo_port = 7;
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).copied().unwrap_or("");
        match args[i] {
            "--ip" => ip = value.split('/').next().unwrap_or(value).to_string(),
            "--tap" => tap = value.to_string(),
            "--services" => echo = value.split(',').any(|s| s == "echo"),
            "--port" => {
                if let Some(p) = value.strip_prefix("echo=") {
                    echo_port = p.parse().expect("echo port");
                }
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    (ip, tap, echo.then_some(echo_port))
}

const PROBE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
s.sendto(b"probe", (sys.argv[1], int(sys.argv[2])))
data, addr = s.recvfrom(2048)
sys.exit(0 if data == b"probe" else 3)
"#;

/// One echo round trip with a short timeout.
fn probe_echo(ns: &Netns, ip: &str, port: u16) -> bool {
    ns.run(&[
        "timeout",
        "5",
        "python3",
        "-c",
        PROBE,
        ip,
        &port.to_string(),
    ])
    .limit(Duration::from_secs(10))
    .out()
    .success()
}

/// Bytes from the kernel's random source.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
}

/// Seconds since the Unix epoch by the host clock.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Asserts `t` lies within 2 s of the host clock between `before` and
/// `after` (RFC 868 and daytime have whole seconds).
#[track_caller]
pub fn assert_near_now(t: i64, before: i64, after: i64, what: &str) {
    assert!(
        t >= before - 2 && t <= after + 2,
        "{what}: {t} ({}) is not within 2 s of the host clock ({before}..={after}, {})",
        chrono::DateTime::from_timestamp(t, 0).map_or("?".into(), |d| d.to_rfc3339()),
        chrono::DateTime::from_timestamp(before, 0).map_or("?".into(), |d| d.to_rfc3339()),
    );
}

/// Parses a `ctime(3)`-style line (`Mon Nov 23 15:04:05 2026`, day space
/// padded), asserting its exact layout; returns Unix seconds.
#[track_caller]
pub fn parse_ctime(line: &str) -> i64 {
    try_parse_ctime(line).unwrap_or_else(|e| panic!("{e}"))
}

/// [`parse_ctime`] without panicking.
pub fn try_parse_ctime(line: &str) -> Result<i64, String> {
    const CTIME: &str = "%a %b %e %H:%M:%S %Y";
    let parsed = chrono::NaiveDateTime::parse_from_str(line, CTIME)
        .map_err(|e| format!("{line:?} is not a ctime-style date: {e}"))?;
    if parsed.format(CTIME).to_string() != line {
        return Err(format!(
            "{line:?} is not exactly in ctime layout (`Mon Nov  3 15:04:05 2026`)"
        ));
    }
    Ok(parsed.and_utc().timestamp())
}

/// Whether some line of `log` has all of `words` as whole tokens
/// (split at anything but letters and digits).
pub fn log_has_line_with(log: &str, words: &[&str]) -> bool {
    log.lines().any(|line| {
        let tokens: Vec<&str> = line
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| !t.is_empty())
            .collect();
        words.iter().all(|w| tokens.contains(w))
    })
}

/// Reads `Mon Nov 23 15:04:05 2026` or `Mon Nov  3 15:04:05 UTC 2026`
/// (`date`/`rdate` style; a zone must be UTC or GMT); returns Unix seconds.
pub fn parse_date_loosely(text: &str) -> Option<i64> {
    let mut tokens: Vec<&str> = text.split_whitespace().collect();
    if tokens.len() == 6 {
        if !["UTC", "GMT"].contains(&tokens[4]) {
            return None;
        }
        tokens.remove(4);
    }
    if tokens.len() != 5 {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(&tokens.join(" "), "%a %b %d %H:%M:%S %Y")
        .ok()
        .map(|t| t.and_utc().timestamp())
}
