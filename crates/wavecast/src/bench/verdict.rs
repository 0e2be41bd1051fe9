//! Whether a run measured anything: the failures that make `wavecast
//! bench` exit non-zero (after printing its result), so that a script
//! never takes a run against a dead server, or one that lost deliveries,
//! for a figure.
//!
//! A run fails when a subscriber did not connect (or none did), when a
//! publish failed or nothing was published, when fewer than
//! `--min-delivery` × expected deliveries arrived, or when the server
//! closed subscribers before the bench did.

use serde_json::{json, Value};

use super::stats::PoolReport;

/// The failures of one run, in the order found.
#[derive(Debug, Default)]
pub struct Verdict {
    failures: Vec<String>,
}

impl Verdict {
    fn fail(&mut self, f: String) {
        self.failures.push(f);
    }

    /// Subscribers that connected, of `wanted`, and those closed early.
    pub fn connections(&mut self, r: &PoolReport, wanted: u64) {
        let first = r
            .errors
            .first()
            .map(|e| format!(" (first error: {e})"))
            .unwrap_or_default();
        if wanted > 0 && r.connected == 0 {
            self.fail(format!("no subscriber connected, of {wanted}{first}"));
        } else if r.connected < wanted {
            self.fail(format!(
                "only {} of {wanted} subscribers connected{first}",
                r.connected
            ));
        }
        if r.closed_early > 0 {
            let codes: Vec<String> = r
                .close_codes
                .iter()
                .map(|(c, n)| format!("{n}× {c}"))
                .collect();
            self.fail(format!(
                "the server closed {} subscribers before the bench did ({})",
                r.closed_early,
                if codes.is_empty() {
                    "read errors".to_string()
                } else {
                    codes.join(", ")
                }
            ));
        }
    }

    /// Publishing: errors, or nothing accepted although some was due.
    pub fn publishing(&mut self, ok: u64, errors: u64, first: Option<&str>, due: bool) {
        if errors > 0 {
            self.fail(format!(
                "{errors} of {} publishes failed (first: {})",
                ok + errors,
                first.unwrap_or("?")
            ));
        } else if due && ok == 0 {
            self.fail("nothing was published".into());
        }
    }

    /// Deliveries against what the connected subscribers should have got.
    pub fn delivery(&mut self, delivered: u64, expected: u64, min: f64) {
        if (delivered as f64) < (expected as f64) * min {
            self.fail(format!(
                "{delivered} of {expected} expected deliveries arrived ({:.3} %, the least allowed is {:.3} %)",
                delivered as f64 * 100.0 / expected.max(1) as f64,
                min * 100.0
            ));
        }
    }

    /// Any other failure.
    pub fn other(&mut self, f: impl Into<String>) {
        self.fail(f.into());
    }

    #[cfg(test)]
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// Writes `ok` and `failures` into the result.
    pub fn write(self, out: &mut Value) {
        out["ok"] = json!(self.failures.is_empty());
        out["failures"] = json!(self.failures);
    }
}

/// The failures written in a result, as one message (`None`: it passed).
pub fn failed(out: &Value) -> Option<String> {
    let list: Vec<&str> = out["failures"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    (!list.is_empty()).then(|| format!("bench failed: {}", list.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_server_fails_every_way() {
        let r = PoolReport {
            errors: vec!["connect 127.0.0.1:9: Connection refused".into()],
            ..PoolReport::default()
        };
        let mut v = Verdict::default();
        v.connections(&r, 20);
        v.publishing(0, 10, Some("connection refused"), true);
        v.delivery(0, 0, 1.0);
        let mut out = json!({});
        v.write(&mut out);
        assert_eq!(out["ok"], false);
        let msg = failed(&out).unwrap_or_default();
        assert!(
            msg.contains("no subscriber connected, of 20 (first error: connect"),
            "{msg}"
        );
        assert!(msg.contains("10 of 10 publishes failed"), "{msg}");
    }

    #[test]
    fn full_delivery_passes() {
        let r = PoolReport {
            connected: 5,
            ..PoolReport::default()
        };
        let mut v = Verdict::default();
        v.connections(&r, 5);
        v.publishing(10, 0, None, true);
        v.delivery(50, 50, 1.0);
        assert!(v.is_ok());
        v.delivery(49, 50, 1.0);
        assert!(!v.is_ok());
    }
}
