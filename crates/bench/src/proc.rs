//! Reading a server's memory and CPU time from /proc, so it must run on
//! this machine.

use anyhow::{Context, Result, anyhow};

/// A `kB` field of /proc/PID/status (`VmRSS`, `VmHWM`, ...) in KiB.
pub fn status_kib(pid: u32, field: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (is the server running?)"))?;
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no {field} line in /proc/{pid}/status"))
}

/// Resident memory of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Result<u64> {
    status_kib(pid, "VmRSS")
}

/// KiB in MiB.
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Clock ticks per second in /proc/PID/stat: USER_HZ, which is 100 on
/// every Linux architecture this runs on (`getconf CLK_TCK`).
const TICKS_PER_SEC: f64 = 100.0;

/// CPU time (user and system) that process `pid` (or this process, for
/// "self") has used so far, in seconds.
pub fn cpu_secs(pid: &str) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let (_, fields) = read_stat(&path)?;
    // utime and stime are the 14th and 15th fields, the 12th and 13th after
    // the name.
    Ok(ticks(&fields, 11, &path)? + ticks(&fields, 12, &path)?)
}

/// CPU time (user and system) of this process's children that it has
/// waited for, in seconds: cutime and cstime, the 16th and 17th fields.
/// Read before and after waiting for a child, it gives that child's CPU
/// even though its own /proc entry is gone by then.
pub fn children_cpu_secs() -> Result<f64> {
    let path = "/proc/self/stat";
    let (_, fields) = read_stat(path)?;
    Ok(ticks(&fields, 13, path)? + ticks(&fields, 14, path)?)
}

/// CPU time (user and system) used so far by this process's threads whose
/// name (as /proc shows it, cut to 15 bytes) starts with `prefix`.
pub fn threads_cpu_secs(prefix: &str) -> Result<f64> {
    let mut total = 0.0;
    for task in std::fs::read_dir("/proc/self/task").context("cannot list /proc/self/task")? {
        let path = format!("{}/stat", task?.path().display());
        // A thread that ended since the listing has no stat file any more;
        // its time is lost either way.
        let Ok((name, fields)) = read_stat(&path) else {
            continue;
        };
        if name.starts_with(prefix) {
            total += ticks(&fields, 11, &path)? + ticks(&fields, 12, &path)?;
        }
    }
    Ok(total)
}

/// The command name of a /proc stat file, and the fields after it.
fn read_stat(path: &str) -> Result<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // The command name, in parentheses, may hold spaces; the fields after
    // it do not.
    let (head, rest) = stat
        .rsplit_once(')')
        .ok_or_else(|| anyhow!("{path} has no command name"))?;
    let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
    Ok((
        name.to_string(),
        rest.split_whitespace().map(str::to_string).collect(),
    ))
}

/// Field `i` after the command name, a count of clock ticks, in seconds.
fn ticks(fields: &[String], i: usize, path: &str) -> Result<f64> {
    fields
        .get(i)
        .and_then(|f| f.parse::<u64>().ok())
        .map(|t| t as f64 / TICKS_PER_SEC)
        .ok_or_else(|| anyhow!("{path} has no field {}", i + 3))
}

/// The machine's CPU time so far, from the first line of /proc/stat, in
/// clock ticks summed over every CPU.
#[derive(Debug, Clone, Copy)]
pub struct MachineCpu {
    /// User time, niced or not.
    pub user: u64,
    /// System time, with the time spent serving interrupts.
    pub system: u64,
    /// Idle time with no I/O outstanding.
    pub idle: u64,
    /// Idle time while some I/O was outstanding.
    pub iowait: u64,
    /// All of the above, and time stolen by the hypervisor.
    pub total: u64,
}

impl MachineCpu {
    /// Reads /proc/stat now.
    pub fn now() -> Result<Self> {
        let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
        let t: Vec<u64> = stat
            .lines()
            .find_map(|l| l.strip_prefix("cpu "))
            .ok_or_else(|| anyhow!("/proc/stat has no cpu line"))?
            .split_whitespace()
            .map(|f| f.parse::<u64>())
            .collect::<Result<_, _>>()
            .context("/proc/stat has a field that is not a number")?;
        // user nice system idle iowait irq softirq steal (guest time is
        // already counted in user).
        let f = |i: usize| t.get(i).copied().unwrap_or(0);
        Ok(Self {
            user: f(0) + f(1),
            system: f(2) + f(5) + f(6),
            idle: f(3),
            iowait: f(4),
            total: (0..8).map(f).sum(),
        })
    }

    /// What was used from `earlier` to this reading.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            idle: self.idle.saturating_sub(earlier.idle),
            iowait: self.iowait.saturating_sub(earlier.iowait),
            total: self.total.saturating_sub(earlier.total),
        }
    }

    /// `part` as a percentage of the total.
    pub fn percent(&self, part: u64) -> f64 {
        100.0 * part as f64 / self.total.max(1) as f64
    }
}

/// CPU used by a server process and by this one over a stretch of time.
#[derive(Debug)]
pub struct CpuMeter {
    pid: u32,
    server: f64,
    bench: f64,
}

/// What a [`CpuMeter`] measured, in CPU seconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuUsed {
    /// By the server process.
    pub server: f64,
    /// By this process: the benchmark's clients.
    pub bench: f64,
}

impl CpuMeter {
    /// Starts measuring the CPU of `pid` and of this process.
    pub fn start(pid: u32) -> Result<Self> {
        Ok(Self {
            pid,
            server: cpu_secs(&pid.to_string())?,
            bench: cpu_secs("self")?,
        })
    }

    /// What both have used since [`CpuMeter::start`].
    pub fn stop(&self) -> Result<CpuUsed> {
        Ok(CpuUsed {
            server: cpu_secs(&self.pid.to_string())? - self.server,
            bench: cpu_secs("self")? - self.bench,
        })
    }
}
