//! What the load generator asks of the kernel about itself: open files,
//! timer slack, the CPU it runs on, and the CPU time it used.

use std::io;

use anyhow::{Context as _, Result};

/// Makes room for at least `needed` open files (the soft limit raised
/// toward the hard one); fails when the hard limit is below that.
pub fn allow_open_files(needed: u64) -> Result<()> {
    // SAFETY: an all-zero rlimit is valid; getrlimit fills it.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `limit` is a valid rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error()).context("reading the open files limit");
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        anyhow::bail!(
            "{needed} open files are needed (a socket per source address, or --sockets per \
             address) but at most {} are allowed (ulimit -Hn): use fewer sources or sockets, \
             or raise the limit",
            limit.rlim_max
        );
    }
    limit.rlim_cur = needed;
    // SAFETY: `limit` is a valid rlimit, within the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error())
            .with_context(|| format!("raising the open files limit to {needed}"));
    }
    Ok(())
}

/// Timers of this thread fire on time, not up to 50 µs late (the default
/// slack), which matters for pacing.
pub fn tight_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer and affects this thread only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
}

/// Runs this thread on CPU `cpu` only.
pub fn pin_to_cpu(cpu: usize) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays within it
    // (checked against CPU_SETSIZE first).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= libc::CPU_SETSIZE as usize {
            anyhow::bail!("CPU {cpu} is out of range");
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error())
                .with_context(|| format!("cannot pin the load generator to CPU {cpu}"));
        }
    }
    Ok(())
}

/// Clock ticks per second, the unit of /proc's CPU times.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// The CPU time this process used (user and system), in microseconds.
pub fn cpu_time_us() -> u64 {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let us = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}
