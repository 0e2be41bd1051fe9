//! Checks on raw JSON text that must not parse it: the nesting depth of a
//! publication's `data` is bounded the same way on every publish path, so
//! whatever is accepted can always be stored, served and replayed.

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

#[cfg(test)]
mod tests {
    use super::depth;

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
