//! Reading a process's resident memory and CPU time from /proc (Linux), for
//! `--server-pid` and the load generator's own CPU, and the report of two
//! readings.

use serde_json::{json, Value};

use super::stats::round3;

/// RSS in KiB and CPU seconds (user + system) of a process.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcStat {
    pub rss_kb: u64,
    pub cpu_s: f64,
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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some(ProcStat {
        rss_kb,
        cpu_s: (utime + stime) / ticks_per_second(),
    })
}

/// `{"pid","rss_kb_before","rss_kb_after","cpu_s"}` between two readings.
pub fn server_json(pid: Option<u32>, a: Option<ProcStat>, b: Option<ProcStat>) -> Value {
    match (pid, a, b) {
        (Some(pid), Some(a), Some(b)) => json!({
            "pid": pid,
            "rss_kb_before": a.rss_kb,
            "rss_kb_after": b.rss_kb,
            "cpu_s": round3(b.cpu_s - a.cpu_s),
        }),
        (Some(pid), _, _) => json!({"pid": pid, "error": "cannot read /proc for this pid"}),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_itself() {
        let s = super::read("self").expect("/proc/self");
        assert!(s.rss_kb > 0);
        assert!(s.cpu_s >= 0.0);
    }
}
