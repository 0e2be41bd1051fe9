//! Raw JSON helpers. [`depth`] checks JSON text without parsing it: the
//! nesting depth of a publication's `data` is bounded the same way on every
//! publish path, so whatever is accepted can always be stored, served and
//! replayed. [`typed_object`] writes a frame with its `type` first, the
//! shape every frame of the protocol has in both directions.

use serde_json::{Map, Value};

/// The deepest nesting of arrays and objects a publication's `data` may
/// have (`limits.max_data_depth` may lower it; serde_json refuses beyond 128).
pub const MAX_DATA_DEPTH: usize = 64;

/// The nesting depth of arrays and objects in `text` (0 for a scalar).
/// Brackets inside strings do not count. `text` is assumed to be valid JSON;
/// on invalid input the result is still bounded by the bracket count.
pub fn depth(text: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// `{"type":<kind>,…fields}`: `fields` (which should not hold `type`)
/// after the type, so a reader can tell the frame at its first bytes.
pub fn typed_object(kind: &str, fields: &Map<String, Value>) -> String {
    // Serializing strings and maps with string keys cannot fail.
    let kind = serde_json::to_string(kind).unwrap_or_else(|_| "\"\"".into());
    let body = serde_json::to_string(fields).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(kind.len() + body.len() + 10);
    out.push_str("{\"type\":");
    out.push_str(&kind);
    if body.len() > 2 {
        out.push(',');
        out.push_str(&body[1..]);
    } else {
        out.push('}');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{depth, typed_object};
    use serde_json::{json, Map, Value};

    #[test]
    fn typed_object_puts_the_type_first() {
        let Value::Object(m) = json!({"b": 1, "a": [true]}) else {
            unreachable!()
        };
        let text = typed_object("ping", &m);
        assert!(text.starts_with("{\"type\":\"ping\","), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, json!({"type": "ping", "a": [true], "b": 1}));
        assert_eq!(typed_object("x\"y", &Map::new()), r#"{"type":"x\"y"}"#);
    }

    #[test]
    fn counts_nesting_outside_strings() {
        assert_eq!(depth(b"1"), 0);
        assert_eq!(depth(b"\"[[[\""), 0);
        assert_eq!(depth(b"{\"a\":[1,{\"b\":\"]}\"}]}"), 3);
        assert_eq!(depth(b"[\"\\\"[\",[]]"), 2);
        let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
        assert_eq!(depth(deep.as_bytes()), 130);
    }
}
