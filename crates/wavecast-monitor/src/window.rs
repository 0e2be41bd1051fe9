//! Time windows and points: the definitions every statistic rests on.
//!
//! A **point** is one value of one metric with a timestamp in milliseconds
//! since the Unix epoch, supplied by the caller (the clock is always
//! injected; this crate never reads it).
//!
//! The **window** `w` at time `now` holds the points whose timestamp `t`
//! satisfies `now - w < t <= now`: the last `w` milliseconds, the older end
//! open, the newer end closed. A point exactly `w` old is out.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::MonitorError;

/// One minute in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// How long raw points are kept: one hour.
pub const RAW_RETENTION_MS: i64 = HOUR_MS;
/// How long 1-minute rollups are kept: seven days.
pub const ROLLUP_RETENTION_MS: i64 = 7 * DAY_MS;

/// One value of one metric at one time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
    /// The value (finite).
    pub value: f64,
}

/// A statistics window: the last minute, five minutes or hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Window {
    /// `1m`: 60,000 ms.
    OneMinute,
    /// `5m`: 300,000 ms; also the trailing window of the z-score.
    FiveMinutes,
    /// `1h`: 3,600,000 ms, the whole raw retention.
    OneHour,
}

impl Window {
    /// Every window, shortest first.
    pub const ALL: [Window; 3] = [Window::OneMinute, Window::FiveMinutes, Window::OneHour];

    /// The window's length in milliseconds.
    pub fn duration_ms(self) -> i64 {
        match self {
            Window::OneMinute => MINUTE_MS,
            Window::FiveMinutes => 5 * MINUTE_MS,
            Window::OneHour => HOUR_MS,
        }
    }

    /// The name used in queries: `1m`, `5m` or `1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            Window::OneMinute => "1m",
            Window::FiveMinutes => "5m",
            Window::OneHour => "1h",
        }
    }

    /// Whether a point at `timestamp_ms` is in this window at `now_ms`.
    pub fn contains(self, timestamp_ms: i64, now_ms: i64) -> bool {
        timestamp_ms <= now_ms && timestamp_ms > now_ms - self.duration_ms()
    }
}

impl FromStr for Window {
    type Err = MonitorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1m" => Ok(Window::OneMinute),
            "5m" => Ok(Window::FiveMinutes),
            "1h" => Ok(Window::OneHour),
            _ => Err(MonitorError::InvalidWindow {
                window: s.chars().take(16).collect(),
            }),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Window {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_bound_both_ends() {
        for w in Window::ALL {
            assert_eq!(w.as_str().parse::<Window>().ok(), Some(w));
        }
        assert_eq!(
            "2m".parse::<Window>().err().map(|e| e.code()),
            Some("invalid_window")
        );
        let now = 1_000_000;
        assert!(Window::OneMinute.contains(now, now));
        assert!(Window::OneMinute.contains(now - 59_999, now));
        assert!(!Window::OneMinute.contains(now - 60_000, now));
        assert!(!Window::OneMinute.contains(now + 1, now));
    }
}
