//! docs/configuration.md stays true: every TOML example in it loads, and
//! its "Default configuration" block is the real default.
//!
//! Invariant: a fenced block is ```toml … ``` or ```json … ``` on lines of
//! their own; a TOML example marked `# invalid` right after the fence is
//! one that must be refused (to document an error).

use super::types::Config;

const DOC: &str = include_str!("../../../../docs/configuration.md");

/// The fenced blocks of `lang` in `doc`.
fn blocks<'a>(doc: &'a str, lang: &str) -> Vec<&'a str> {
    let fence = format!("```{lang}\n");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let end = body.find("\n```").map_or(body.len(), |e| e + 1);
        out.push(&body[..end]);
        rest = &body[end..];
    }
    out
}

#[test]
fn every_toml_example_loads() {
    let examples = blocks(DOC, "toml");
    assert!(
        examples.len() >= 4,
        "found {} TOML examples",
        examples.len()
    );
    for block in examples {
        let result = Config::from_toml_str(block);
        if block.starts_with("# invalid") {
            assert!(result.is_err(), "this example should be refused:\n{block}");
        } else if let Err(e) = result {
            panic!("docs/configuration.md example does not load: {e}\n{block}");
        }
    }
}

#[test]
fn the_documented_default_is_the_default() {
    let json = blocks(DOC, "json");
    let documented: serde_json::Value = match json.first() {
        Some(b) => serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}\n{b}")),
        None => panic!("no JSON block in docs/configuration.md"),
    };
    let actual = serde_json::to_value(Config::default()).unwrap_or_default();
    assert_eq!(documented, actual, "update the Default configuration block");
}
