//! Deserializer messages rewritten for people: "expected u16" becomes
//! "expected a whole number from 0 to 65535", "unknown variant `x`"
//! becomes a list of choices with "did you mean".
//!
//! Invariants: the result never contains a backtick or a Rust type name
//! of the configuration; messages this module does not recognise are
//! kept, with backticks turned into double quotes.

use super::choices::or_list;
use super::suggest::closest;

/// What went wrong with a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A key that does not exist, with the keys that do.
    UnknownKey { key: String, expected: Vec<String> },
    /// A required key that is missing.
    Missing(String),
    /// Anything else: the explanation, without the value.
    Value(String),
}

/// The words between backticks in `s`.
fn quoted(s: &str) -> Vec<String> {
    s.split('`').skip(1).step_by(2).map(String::from).collect()
}

/// What the deserializer expected, in words.
fn expectation(rust: &str) -> String {
    let rust = rust.trim();
    let range = |max: u64| format!("a whole number from 0 to {max}");
    match rust {
        "u8" => range(u8::MAX.into()),
        "u16" => range(u16::MAX.into()),
        "u32" => range(u32::MAX.into()),
        "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "f32" | "f64" => "a number".into(),
        "a boolean" => "true or false".into(),
        "a string" | "path string" | "a character" => "a string".into(),
        "a sequence" => "a list".into(),
        "a map" => "a table".into(),
        "IP address" => "an IP address such as 127.0.0.1, 0.0.0.0 or ::".into(),
        s if s.starts_with("struct ") => "a table".into(),
        s => s.replace('`', "\""),
    }
}

/// Classifies a deserializer message.
pub(crate) fn problem(msg: &str) -> Problem {
    if msg.starts_with("unknown field `") {
        let mut words = quoted(msg).into_iter();
        let key = words.next().unwrap_or_default();
        return Problem::UnknownKey {
            key,
            expected: words.collect(),
        };
    }
    if msg.starts_with("missing field `") {
        return Problem::Missing(quoted(msg).into_iter().next().unwrap_or_default());
    }
    if msg.starts_with("unknown variant `") {
        let words = quoted(msg);
        let (given, names) = words
            .split_first()
            .map_or(("", &[][..]), |(g, n)| (g.as_str(), n));
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let text = match closest(given, names.iter().copied()) {
            Some(s) => format!("use {}; did you mean {s:?}?", or_list(&names)),
            None => format!("use {}", or_list(&names)),
        };
        return Problem::Value(text);
    }
    if msg == "invalid IP address syntax" {
        return Problem::Value(format!("expected {}", expectation("IP address")));
    }
    if msg.starts_with("invalid type: ")
        || msg.starts_with("invalid value: ")
        || msg.starts_with("invalid length ")
    {
        if let Some((_, expected)) = msg.rsplit_once(", expected ") {
            return Problem::Value(format!("expected {}", expectation(expected)));
        }
    }
    Problem::Value(msg.replace('`', "\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(msg: &str) -> String {
        match problem(msg) {
            Problem::Value(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_errors_speak_in_words() {
        assert_eq!(
            value("invalid value: integer `70000`, expected u16"),
            "expected a whole number from 0 to 65535"
        );
        assert_eq!(
            value("invalid type: string \"abc\", expected usize"),
            "expected a whole number (0 or more)"
        );
        assert_eq!(
            value("invalid type: string \"maybe\", expected a boolean"),
            "expected true or false"
        );
        assert_eq!(
            value("invalid type: integer `5`, expected struct LimitsConfig"),
            "expected a table"
        );
        assert_eq!(
            value("invalid type: string \"x\", expected a sequence"),
            "expected a list"
        );
        assert_eq!(
            value("invalid IP address syntax"),
            "expected an IP address such as 127.0.0.1, 0.0.0.0 or ::"
        );
        assert_eq!(
            value("unknown variant `toroidal`, expected `periodic` or `fixed`"),
            "use periodic or fixed"
        );
        assert_eq!(value("odd `thing`"), "odd \"thing\"");
    }

    #[test]
    fn keys() {
        assert_eq!(
            problem("unknown field `gridsize`, expected one of `grid_size`, `du`"),
            Problem::UnknownKey {
                key: "gridsize".into(),
                expected: vec!["grid_size".into(), "du".into()]
            }
        );
        assert_eq!(
            problem("missing field `channel`"),
            Problem::Missing("channel".into())
        );
    }
}
