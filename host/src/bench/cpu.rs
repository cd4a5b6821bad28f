//! CPU use during a run, from `/proc` and the kernel's accounting: the
//! generator's own, the server's, and the rest of the machine's (a run
//! disturbed by other work says so).

use std::time::Duration;

use crate::linux::process::{clock_ticks, cpu_time_us};

/// The shortest run whose server and machine CPU use is reported.
pub const MIN_TICKED_RUN: Duration = Duration::from_millis(500);

/// A snapshot of CPU time: the machine's, ours, and a server's.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    /// Time the machine spent running tasks (user, nice, system), in ticks.
    machine_ticks: u64,
    /// Our own CPU time, in microseconds.
    self_us: u64,
    /// The server's CPU time, in ticks, if it could be read.
    server_ticks: Option<u64>,
}

/// CPU use during a run, in percent of one CPU (200 % = two CPUs busy).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuUse {
    /// The load generator.
    pub generator_pct: f64,
    /// The server (`--server-pid`), if known.
    pub server_pct: Option<f64>,
    /// Every other task on the machine: above a few percent, the run was
    /// disturbed. Only known with the server's PID.
    pub others_pct: Option<f64>,
}

fn machine_ticks() -> u64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0;
    };
    parse_proc_stat(&stat).unwrap_or(0)
}

/// User + nice + system ticks of all CPUs from `/proc/stat`.
fn parse_proc_stat(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect();
    (f.len() == 3).then(|| f.iter().sum())
}

/// utime + stime of a process from `/proc/PID/stat`.
fn parse_pid_stat(stat: &str) -> Option<u64> {
    // The command name is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 of the file, utime 14 and stime 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

impl CpuSnapshot {
    pub fn take(server_pid: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            machine_ticks: machine_ticks(),
            self_us: cpu_time_us(),
            server_ticks: server_pid.and_then(|pid| {
                parse_pid_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
            }),
        }
    }

    /// CPU use between `self` and `later`, `wall` apart. The server's and
    /// the machine's are counted in clock ticks (usually 10 ms): over less
    /// than [`MIN_TICKED_RUN`] they would be mostly rounding, and are left out.
    pub fn usage_until(&self, later: &CpuSnapshot, wall: Duration) -> CpuUse {
        let wall_us = wall.as_micros().max(1) as f64;
        let tick_us = 1_000_000.0 / clock_ticks() as f64;
        let pct = |us: f64| 100.0 * us / wall_us;
        let generator_us = later.self_us.saturating_sub(self.self_us) as f64;
        let server_us = match (self.server_ticks, later.server_ticks) {
            (Some(a), Some(b)) if wall >= MIN_TICKED_RUN => {
                Some(b.saturating_sub(a) as f64 * tick_us)
            }
            _ => None,
        };
        let machine_us = later.machine_ticks.saturating_sub(self.machine_ticks) as f64 * tick_us;
        CpuUse {
            generator_pct: pct(generator_us),
            server_pct: server_us.map(pct),
            others_pct: server_us.map(|s| pct((machine_us - s - generator_us).max(0.0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_stat_task_time() {
        let stat = "cpu  100 5 50 9000 20 3 7 0 0 0\ncpu0 50 2 25 4500 10 1 3 0 0 0\n";
        assert_eq!(parse_proc_stat(stat), Some(155));
        assert_eq!(parse_proc_stat("intr 1 2 3\n"), None);
    }

    #[test]
    fn pid_stat_with_spaces_in_the_name() {
        let stat = "1234 (udp kit) S 1 1234 1234 0 -1 4194560 100 0 0 0 42 17 0 0 20 0 1 0 5 0 0";
        assert_eq!(parse_pid_stat(stat), Some(59));
        assert_eq!(parse_pid_stat("garbage"), None);
    }

    #[test]
    fn usage_in_percent_of_one_cpu() {
        let ticks = clock_ticks();
        let before = CpuSnapshot {
            machine_ticks: 0,
            self_us: 0,
            server_ticks: Some(0),
        };
        // Over 2 s: the server used 1.5 s, we used 1 s, the machine 3 s.
        let after = CpuSnapshot {
            machine_ticks: 3 * ticks,
            self_us: 1_000_000,
            server_ticks: Some(ticks * 3 / 2),
        };
        let u = before.usage_until(&after, Duration::from_secs(2));
        assert!((u.generator_pct - 50.0).abs() < 1e-6, "{u:?}");
        assert!((u.server_pct.unwrap() - 75.0).abs() < 1.0, "{u:?}");
        assert!((u.others_pct.unwrap() - 25.0).abs() < 1.0, "{u:?}");
        let no_server = CpuSnapshot {
            server_ticks: None,
            ..after
        };
        let u = before.usage_until(&no_server, Duration::from_secs(2));
        assert_eq!((u.server_pct, u.others_pct), (None, None));
        // Too short to count in ticks.
        let u = before.usage_until(&after, Duration::from_millis(100));
        assert_eq!((u.server_pct, u.others_pct), (None, None));
        assert!(u.generator_pct > 0.0);
    }
}
