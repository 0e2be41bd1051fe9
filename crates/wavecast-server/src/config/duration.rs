//! Duration syntax (`250ms`, `30s`, `5m`, `1h`, `1d`, or a bare number of
//! seconds) and the `fsync` setting, which is `always` or a duration.
//!
//! Invariants: [`format_duration`] writes what [`parse_duration`] reads
//! back to the same value; no input makes parsing panic (values are
//! finite, non-negative and at most [`MAX_DURATION`]); error texts name
//! the problem and the accepted forms, never a Rust type.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::suggest::closest;

/// The longest duration accepted anywhere: 100 years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

const FORMS: &str = "write a number and a unit (ms, s, m, h or d), e.g. 250ms, 30s, 5m or 1h";

/// Parses `s` without naming it in the error (the caller does).
pub(crate) fn duration_problem(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration: {FORMS}"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        other => {
            return Err(format!(
                "invalid duration: unknown unit {other:?}; use ms, s, m, h or d"
            ))
        }
    };
    seconds(n * scale)
}

/// A number of seconds as a duration, within [`MAX_DURATION`].
fn seconds(secs: f64) -> Result<Duration, String> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration: {FORMS}"));
    }
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        _ => Err("invalid duration: too long; the most is 100 years".into()),
    }
}

/// Parses durations written as `250ms`, `30s`, `5m`, `1h`, `1d`, or a bare
/// number of seconds (decimals allowed).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    duration_problem(s).map_err(|e| match e.strip_prefix("invalid duration") {
        Some(rest) => format!("invalid duration {:?}{rest}", s.trim()),
        None => e,
    })
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest
/// unit that is exact: `1500ms`, `30s`, `5m`, `24h`.
pub fn format_duration(d: Duration) -> String {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return format!("{}ms", d.as_secs_f64() * 1000.0);
    }
    let ms = d.as_millis();
    if ms == 0 {
        "0s".into()
    } else if !ms.is_multiple_of(1000) {
        format!("{ms}ms")
    } else if !ms.is_multiple_of(60_000) {
        format!("{}s", ms / 1000)
    } else if !ms.is_multiple_of(3_600_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}h", ms / 3_600_000)
    }
}

/// Serde helpers for a [`Duration`] written as text (`"30s"`) or a bare
/// number of seconds; use with `#[serde(with = "…")]`.
pub(crate) mod as_text {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Num(n) => seconds(n),
            Raw::Str(s) => duration_problem(&s),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A duration as it may be written in TOML or JSON.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a duration such as \"30s\" or a number of seconds"
)]
enum Raw {
    Num(f64),
    Str(String),
}

/// Durability of the embedded engine (`fsync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Every publication is fsynced before it is delivered.
    Always,
    /// Group commit: the journal is fsynced at most this often, when
    /// something was written. Above zero.
    Every(Duration),
}

impl Fsync {
    /// The group-commit interval; `None` syncs every write.
    pub fn interval(self) -> Option<Duration> {
        match self {
            Fsync::Always => None,
            Fsync::Every(d) => Some(d),
        }
    }

    fn from_duration(d: Duration) -> Result<Fsync, String> {
        if d.is_zero() {
            Err("use always to sync every write, or a duration above zero like 5ms".into())
        } else {
            Ok(Fsync::Every(d))
        }
    }
}

impl Default for Fsync {
    fn default() -> Self {
        Fsync::Every(Duration::from_millis(5))
    }
}

impl FromStr for Fsync {
    type Err = String;

    /// `always` (any case) or a duration above zero. The error does not
    /// repeat the value.
    fn from_str(s: &str) -> Result<Fsync, String> {
        if s.trim().eq_ignore_ascii_case("always") {
            return Ok(Fsync::Always);
        }
        match duration_problem(s) {
            Ok(d) => Fsync::from_duration(d),
            Err(_) => Err(match closest(s.trim(), ["always"]) {
                Some(_) => "use always or a duration like 5ms; did you mean \"always\"?".into(),
                None => "use always or a duration like 5ms".into(),
            }),
        }
    }
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fsync::Always => f.write_str("always"),
            Fsync::Every(d) => f.write_str(&format_duration(*d)),
        }
    }
}

impl Serialize for Fsync {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fsync {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Fsync, D::Error> {
        match Raw::deserialize(d)? {
            Raw::Num(n) => seconds(n).and_then(Fsync::from_duration),
            Raw::Str(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5 m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 2 "), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn refuses_nonsense_without_panicking() {
        assert_eq!(
            parse_duration("5 parsecs").unwrap_err(),
            "invalid duration \"5 parsecs\": unknown unit \"parsecs\"; use ms, s, m, h or d"
        );
        assert_eq!(
            parse_duration("soon").unwrap_err(),
            format!("invalid duration \"soon\": {FORMS}")
        );
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("5S").is_err());
        assert_eq!(
            parse_duration("99999999999999999999999h").unwrap_err(),
            "invalid duration \"99999999999999999999999h\": too long; the most is 100 years"
        );
        assert!(parse_duration("1.7976931348623157e308").is_err());
    }

    #[test]
    fn formats_in_the_largest_exact_unit_and_round_trips() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(300), "5m"),
            (Duration::from_secs(86_400), "24h"),
            (Duration::from_micros(500), "0.5ms"),
        ] {
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
    }

    #[test]
    fn fsync_is_always_or_a_duration() {
        assert_eq!("always".parse::<Fsync>(), Ok(Fsync::Always));
        assert_eq!(
            "10ms".parse::<Fsync>(),
            Ok(Fsync::Every(Duration::from_millis(10)))
        );
        assert_eq!(Fsync::default().interval(), Some(Duration::from_millis(5)));
        assert_eq!(Fsync::Always.interval(), None);
        assert_eq!(
            "alwys".parse::<Fsync>().unwrap_err(),
            "use always or a duration like 5ms; did you mean \"always\"?"
        );
        assert_eq!(
            "0ms".parse::<Fsync>().unwrap_err(),
            "use always to sync every write, or a duration above zero like 5ms"
        );
        assert_eq!(Fsync::Always.to_string(), "always");
        assert_eq!(Fsync::default().to_string(), "5ms");
        let v: Fsync = serde_json::from_value(serde_json::json!(0.01)).unwrap();
        assert_eq!(v, Fsync::Every(Duration::from_millis(10)));
    }
}
