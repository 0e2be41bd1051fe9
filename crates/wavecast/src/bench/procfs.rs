//! Reading a process's resident memory and CPU time from /proc (Linux), for
//! `--server-pid` and the load generator's own CPU (per thread, too).

/// RSS in KiB and CPU seconds (user + system, and the system part) of a
/// process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcStat {
    pub rss_kb: u64,
    pub cpu_s: f64,
    /// The kernel's share of `cpu_s` (system time).
    pub sys_s: f64,
}

/// Clock ticks per second of /proc/PID/stat.
fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Reads `/proc/{pid}/status` and `/proc/{pid}/stat` (`pid` may be "self").
pub fn read(pid: &str) -> Option<ProcStat> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    let (user_s, sys_s) = times_of(&format!("/proc/{pid}/stat"))?;
    Some(ProcStat {
        rss_kb,
        cpu_s: user_s + sys_s,
        sys_s,
    })
}

/// User + system CPU seconds from a `stat` file (a process's or a
/// thread's).
fn cpu_of(path: &str) -> Option<f64> {
    times_of(path).map(|(user, sys)| user + sys)
}

/// User and system CPU seconds from a `stat` file.
fn times_of(path: &str) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime / ticks_per_second(), stime / ticks_per_second()))
}

/// The summed readings of several processes (e.g. nginx's workers);
/// `None` when any of them cannot be read.
pub fn read_all(pids: &[u32]) -> Option<ProcStat> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(ProcStat::default(), |acc, pid| {
        let s = read(&pid.to_string())?;
        Some(ProcStat {
            rss_kb: acc.rss_kb + s.rss_kb,
            cpu_s: acc.cpu_s + s.cpu_s,
            sys_s: acc.sys_s + s.sys_s,
        })
    })
}

/// Seconds the threads of this process have waited on a run queue for a
/// CPU (`/proc/self/task/*/schedstat`, second field, in ns): time other
/// processes took from the bench's cores.
pub fn threads_waited() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.filter_map(|e| {
        let name = e.ok()?.file_name();
        let text = std::fs::read_to_string(format!("/proc/self/task/{}/schedstat", name.to_str()?))
            .ok()?;
        let ns: f64 = text.split_whitespace().nth(1)?.parse().ok()?;
        Some(ns / 1e9)
    })
    .sum()
}

/// CPU seconds of each thread of this process, by thread id.
pub fn threads_cpu() -> std::collections::HashMap<u32, f64> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Default::default();
    };
    dir.filter_map(|e| {
        let e = e.ok()?;
        let tid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cpu = cpu_of(&format!("/proc/self/task/{tid}/stat"))?;
        Some((tid, cpu))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_itself() {
        let s = super::read("self").expect("/proc/self");
        assert!(s.rss_kb > 0);
        assert!(s.cpu_s >= 0.0);
        assert!(!super::threads_cpu().is_empty());
        assert!(super::threads_waited() >= 0.0);
        let me = std::process::id();
        let two = super::read_all(&[me, me]).expect("twice myself");
        assert!(two.rss_kb >= 2 * s.rss_kb / 2);
        assert_eq!(super::read_all(&[]), None);
    }
}
