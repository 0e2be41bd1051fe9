//! Flattening: the numeric leaves of a JSON document become
//! `(dotted name, f64)` pairs, the names metrics are recorded under.
//!
//! Rules (each one documented in `docs/monitoring.md`):
//! - an object key adds `.key`, an array element adds `.index` (decimal,
//!   from 0); the optional prefix is the first level;
//! - numbers are leaves; **booleans, strings and nulls are skipped** (a
//!   boolean is a state, not a measurement: publish it as 0/1 if it should
//!   be charted);
//! - a leaf is skipped, and counted in [`Flattened::skipped`], when its name
//!   is not a valid metric name (bad character, over 128 bytes), when its
//!   magnitude is above [`crate::MAX_ABS_VALUE`], when it lies deeper than
//!   `max_depth`, past `max_array_items` in an array, or past `max_leaves`
//!   in the document. A skipped container counts as one.
//!
//! `serde_json` cannot hold NaN or infinities, so every number is finite.

use serde_json::Value;

use crate::name::{is_name_byte, MAX_NAME_LEN};
use crate::MAX_ABS_VALUE;

/// Bounds on what one document may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlattenLimits {
    /// Deepest level read (the top-level object's keys are level 1).
    pub max_depth: usize,
    /// Elements read from each array; the rest are skipped.
    pub max_array_items: usize,
    /// Leaves produced per document; the rest are skipped.
    pub max_leaves: usize,
}

impl Default for FlattenLimits {
    fn default() -> Self {
        Self {
            max_depth: 8,
            max_array_items: 32,
            max_leaves: 512,
        }
    }
}

/// The numeric leaves of a document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flattened {
    /// `(dotted name, value)` in document order.
    pub points: Vec<(String, f64)>,
    /// Leaves and containers left out by the rules above (booleans, strings
    /// and nulls are not counted: they are not numeric).
    pub skipped: usize,
}

/// Flattens `value` under `prefix` (empty for none).
///
/// A bare number with a non-empty prefix gives one point named `prefix`.
pub fn flatten(prefix: &str, value: &Value, limits: &FlattenLimits) -> Flattened {
    let mut out = Flattened::default();
    let mut name = String::with_capacity(64);
    name.push_str(prefix);
    walk(value, &mut name, 0, limits, &mut out);
    out
}

/// Appends `.segment` (or `segment` at the root) and tells whether the name
/// is still valid.
fn push_segment(name: &mut String, segment: &str) -> bool {
    if !name.is_empty() {
        name.push('.');
    }
    name.push_str(segment);
    !segment.is_empty() && segment.bytes().all(is_name_byte) && name.len() <= MAX_NAME_LEN
}

fn walk(
    value: &Value,
    name: &mut String,
    depth: usize,
    limits: &FlattenLimits,
    out: &mut Flattened,
) {
    match value {
        Value::Number(n) => leaf(n.as_f64(), name, limits, out),
        Value::Object(map) => {
            if depth >= limits.max_depth {
                out.skipped += 1;
                return;
            }
            for (key, child) in map {
                visit_child(key, child, name, depth, limits, out);
            }
        }
        Value::Array(items) => {
            if depth >= limits.max_depth {
                out.skipped += 1;
                return;
            }
            for (i, child) in items.iter().enumerate() {
                if i >= limits.max_array_items {
                    out.skipped += items.len() - i;
                    break;
                }
                visit_child(&i.to_string(), child, name, depth, limits, out);
            }
        }
        Value::Bool(_) | Value::String(_) | Value::Null => {}
    }
}

fn visit_child(
    segment: &str,
    child: &Value,
    name: &mut String,
    depth: usize,
    limits: &FlattenLimits,
    out: &mut Flattened,
) {
    if matches!(child, Value::Bool(_) | Value::String(_) | Value::Null) {
        return;
    }
    let len = name.len();
    if push_segment(name, segment) {
        walk(child, name, depth + 1, limits, out);
    } else {
        out.skipped += 1;
    }
    name.truncate(len);
}

fn leaf(number: Option<f64>, name: &str, limits: &FlattenLimits, out: &mut Flattened) {
    match number {
        Some(v) if v.is_finite() && v.abs() <= MAX_ABS_VALUE && !name.is_empty() => {
            if out.points.len() < limits.max_leaves {
                out.points.push((name.to_owned(), v));
            } else {
                out.skipped += 1;
            }
        }
        _ => out.skipped += 1,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn names(f: &Flattened) -> Vec<(&str, f64)> {
        f.points.iter().map(|(n, v)| (n.as_str(), *v)).collect()
    }

    #[test]
    fn numeric_leaves_get_dotted_names() {
        let doc = json!({
            "betanet": {"active_nodes": 12, "avg_latency_ms": 25.5, "healthy": true, "region": "eu"},
            "queue": [3, {"pending": 4}],
            "nothing": null
        });
        let f = flatten("", &doc, &FlattenLimits::default());
        assert_eq!(
            names(&f),
            vec![
                ("betanet.active_nodes", 12.0),
                ("betanet.avg_latency_ms", 25.5),
                ("queue.0", 3.0),
                ("queue.1.pending", 4.0),
            ]
        );
        assert_eq!(f.skipped, 0);
        let f = flatten(
            "nodes",
            &json!({"p2p": {"peers": 8}}),
            &FlattenLimits::default(),
        );
        assert_eq!(names(&f), vec![("nodes.p2p.peers", 8.0)]);
        let f = flatten("cpu", &json!(0.5), &FlattenLimits::default());
        assert_eq!(names(&f), vec![("cpu", 0.5)]);
        assert!(flatten("", &json!(0.5), &FlattenLimits::default())
            .points
            .is_empty());
    }

    #[test]
    fn bounds_and_bad_names_are_skipped_and_counted() {
        let limits = FlattenLimits {
            max_depth: 2,
            max_array_items: 2,
            max_leaves: 3,
        };
        let doc = json!({"a": [1, 2, 3, 4], "bad key": 1, "deep": {"x": {"y": 1}}, "big": 1e200});
        let f = flatten("", &doc, &limits);
        assert_eq!(names(&f), vec![("a.0", 1.0), ("a.1", 2.0)]);
        // a.2, a.3 past the array bound; "bad key"; deep.x too deep; big too large.
        assert_eq!(f.skipped, 5);
        let long = "k".repeat(130);
        let f = flatten("", &json!({ long: 1 }), &FlattenLimits::default());
        assert_eq!((f.points.len(), f.skipped), (0, 1));
        let many: Vec<u32> = (0..10).collect();
        let f = flatten("x", &json!(many), &limits);
        assert_eq!((f.points.len(), f.skipped), (2, 8));
    }

    #[test]
    fn leaf_cap_applies_across_the_document() {
        let limits = FlattenLimits {
            max_leaves: 3,
            ..FlattenLimits::default()
        };
        let f = flatten(
            "",
            &json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}),
            &limits,
        );
        assert_eq!((f.points.len(), f.skipped), (3, 2));
    }
}
