//! The server's memory and CPU time, read from `/proc/<pid>/status` and
//! `/proc/<pid>/stat` (Linux only, like the benchmark).

pub struct Sample {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub threads: u64,
    /// utime + stime, in clock ticks.
    pub ticks: u64,
}

pub fn sample(pid: u32) -> Result<Sample, String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| format!("/proc/{pid}/status has no {name}"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces and parentheses).
    let after = stat.rfind(')').map(|i| &stat[i + 2..]).ok_or_else(|| format!("/proc/{pid}/stat: no ')'"))?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| format!("/proc/{pid}/stat: field {}", i + 3))
    };
    Ok(Sample {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
        ticks: tick(11)? + tick(12)?,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux we know).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
