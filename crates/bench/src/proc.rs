//! Reading a server's memory from /proc, so it must run on this machine.

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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // The command name, in parentheses, may hold spaces; the fields after
    // it do not. utime and stime are the 14th and 15th fields, the 12th and
    // 13th after the name.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("/proc/{pid}/stat has no command name"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64 / TICKS_PER_SEC)
            .ok_or_else(|| anyhow!("/proc/{pid}/stat has no field {}", i + 3))
    };
    Ok(tick(11)? + tick(12)?)
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
