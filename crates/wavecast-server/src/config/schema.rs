//! Which keys exist, what kind of value each holds, and which keys were
//! renamed: the map that unknown keys are checked against.
//!
//! Invariants: the key list is the serialized default configuration
//! (every field serializes), so a field added to a struct is known here
//! without another list; the free-named tables are `namespaces.NAME`
//! and `auth.keys.ID`; `streams.rooms` is a list of tables whose
//! `params` are free (the simulation model checks them); paths use the
//! segment `[i]` for the i-th table of a list.

use std::sync::LazyLock;

use serde_json::{Map, Value};

use super::monitoring::{MonitorPublisher, MonitorSource, MonitorThreshold};
use super::suggest::closest;
use super::types::{Config, NamespaceConfig, PublishedSimulation};

/// What a key path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slot {
    Number,
    Bool,
    Text,
    /// An optional setting, unset by default (`null`): a switch or a value.
    Unset,
    /// A list of strings.
    List,
    /// A table with these keys.
    Table(Vec<String>),
    /// A table of free names (`namespaces`, `auth.keys`).
    Names,
    /// A list of tables (`streams.rooms`).
    Tables,
    /// Anything: checked when the value is used (`params`).
    Free,
}

struct Templates {
    root: Value,
    namespace: Value,
    room: Value,
    /// Other lists of tables: (path, template of one table).
    lists: Vec<([&'static str; 2], Value)>,
}

static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| Templates {
    root: serde_json::to_value(Config::default()).unwrap_or_default(),
    namespace: serde_json::to_value(NamespaceConfig::default()).unwrap_or_default(),
    room: serde_json::to_value(PublishedSimulation::on("")).unwrap_or_default(),
    lists: vec![
        (
            ["monitoring", "publishers"],
            serde_json::to_value(MonitorPublisher::new("", "", 1, MonitorSource::Http))
                .unwrap_or_default(),
        ),
        (
            ["monitoring", "thresholds"],
            serde_json::to_value(MonitorThreshold::default()).unwrap_or_default(),
        ),
    ],
});

/// The template of one table of the list of tables at `path`, if any.
fn list_template(path: &[String]) -> Option<&'static Value> {
    TEMPLATES
        .lists
        .iter()
        .find(|(p, _)| is(path, p))
        .map(|(_, t)| t)
}

/// Whether `path` matches `pattern`, where `*` matches any one segment.
fn is(path: &[String], pattern: &[&str]) -> bool {
    path.len() == pattern.len() && path.iter().zip(pattern).all(|(p, q)| *q == "*" || p == q)
}

/// Whether `segment` is a list index (`[0]`).
fn is_index(segment: &str) -> bool {
    segment.starts_with('[') && segment.ends_with(']')
}

/// What `path` names, or `None` if no such key exists.
pub(crate) fn slot(path: &[String]) -> Option<Slot> {
    let t = &*TEMPLATES;
    let mut node = &t.root;
    for (i, key) in path.iter().enumerate() {
        let parent = &path[..i];
        if is(parent, &["namespaces"]) {
            node = &t.namespace;
        } else if is(parent, &["auth", "keys"]) {
            return (i + 1 == path.len()).then_some(Slot::Text);
        } else if is(parent, &["streams", "rooms"]) {
            if !is_index(key) {
                return None;
            }
            node = &t.room;
        } else if is(parent, &["streams", "rooms", "*", "params"]) {
            return Some(Slot::Free);
        } else if let Some(template) = list_template(parent) {
            if !is_index(key) {
                return None;
            }
            node = template;
        } else {
            node = node.as_object()?.get(key)?;
        }
    }
    Some(
        if is(path, &["namespaces"]) || is(path, &["auth", "keys"]) {
            Slot::Names
        } else if is(path, &["streams", "rooms"]) || list_template(path).is_some() {
            Slot::Tables
        } else if is(path, &["streams", "rooms", "*", "params"]) {
            Slot::Free
        } else {
            match node {
                Value::Object(m) => Slot::Table(m.keys().cloned().collect()),
                Value::Array(_) => Slot::List,
                Value::Bool(_) => Slot::Bool,
                Value::Number(_) => Slot::Number,
                Value::String(_) => Slot::Text,
                Value::Null => Slot::Unset,
            }
        },
    )
}

/// Every key path with a single value, outside the free-named tables.
pub(crate) fn leaf_paths() -> Vec<Vec<String>> {
    fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match slot(path) {
            Some(Slot::Table(keys)) => {
                if let Value::Object(m) = v {
                    for k in keys {
                        path.push(k.clone());
                        walk(m.get(&k).unwrap_or(&Value::Null), path, out);
                        path.pop();
                    }
                }
            }
            Some(Slot::Number | Slot::Bool | Slot::Text | Slot::Unset | Slot::List) => {
                out.push(path.clone())
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&TEMPLATES.root, &mut Vec::new(), &mut out);
    out
}

/// The keys of a `[namespaces.NAME]` table.
pub(crate) fn namespace_keys() -> Vec<String> {
    TEMPLATES
        .namespace
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// A path as written in TOML: `limits.max_message_size`,
/// `streams.rooms[0].interval`.
pub(crate) fn display(path: &[String]) -> String {
    let mut s = String::new();
    for seg in path {
        if !s.is_empty() && !is_index(seg) {
            s.push('.');
        }
        s.push_str(seg);
    }
    s
}

/// Keys that were renamed: (old path, new key relative to the same
/// namespace table or the top, note).
const RENAMED: [(&[&str], &[&str], &str); 3] = [
    (&["max_message_bytes"], &["limits", "max_message_size"], ""),
    (
        &["max_subscriptions_per_connection"],
        &["limits", "max_subscriptions"],
        "",
    ),
    (
        &["namespaces", "*", "allow_client_publish"],
        &["namespaces", "*", "publish"],
        " (allow_client_publish = true is publish = \"public\"; also \"authenticated\" or \"claim\")",
    ),
];

/// The new name of a renamed key, as a sentence fragment
/// (`max_message_bytes was renamed to limits.max_message_size`), and the
/// new path.
pub(crate) fn renamed(path: &[String]) -> Option<(String, Vec<String>)> {
    let (_, new, note) = RENAMED.iter().find(|(old, _, _)| is(path, old))?;
    let new: Vec<String> = new
        .iter()
        .zip(path.iter().chain(std::iter::repeat(&String::new())))
        .map(|(n, p)| if *n == "*" { p.clone() } else { n.to_string() })
        .collect();
    let text = format!("{} was renamed to {}{note}", display(path), display(&new));
    Some((text, new))
}

/// The message for the unknown key `path` (no origin).
pub(crate) fn unknown_key(path: &[String]) -> String {
    if let Some((text, _)) = renamed(path) {
        return text;
    }
    let Some((key, parent)) = path.split_last() else {
        return "unknown key".into();
    };
    let keys = match slot(parent) {
        Some(Slot::Table(keys)) => keys,
        _ => Vec::new(),
    };
    let with = |k: &str| {
        let mut p = parent.to_vec();
        p.push(k.to_string());
        display(&p)
    };
    if let Some(s) = closest(key, keys.iter().map(String::as_str)) {
        return format!("unknown key {}; did you mean {}?", display(path), with(s));
    }
    // A namespace option written outside [namespaces.*] (history_size at
    // the top level or in [history], say): name the default namespace.
    let in_namespace = ["namespaces", "default", key.as_str()].map(String::from);
    if parent.first().is_none_or(|p| p != "namespaces") && slot(&in_namespace).is_some() {
        return format!(
            "unknown key {}; did you mean {}? (each namespace has its own; [namespaces.default] applies to channels without one)",
            display(path),
            display(&in_namespace)
        );
    }
    let elsewhere = leaf_paths()
        .into_iter()
        .find(|p| p.last().is_some_and(|l| l == key));
    match elsewhere {
        Some(p) => format!(
            "unknown key {}; did you mean {}?",
            display(path),
            display(&p)
        ),
        None if parent.is_empty() => format!(
            "unknown key {}; the top level has {}",
            display(path),
            keys.join(", ")
        ),
        None => format!(
            "unknown key {}; [{}] has {}",
            display(path),
            display(parent),
            keys.join(", ")
        ),
    }
}

/// Checks that every key of `table` (found at `path`) exists; the error
/// is the first unknown key's message.
pub(crate) fn check_keys(table: &Map<String, Value>, path: &mut Vec<String>) -> Result<(), String> {
    for (key, value) in table {
        path.push(key.clone());
        match (slot(path), value) {
            (None, _) => return Err(unknown_key(path)),
            (Some(Slot::Table(_) | Slot::Names), Value::Object(m)) => check_keys(m, path)?,
            (Some(Slot::Tables), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Object(m) = item {
                        path.push(format!("[{i}]"));
                        check_keys(m, path)?;
                        path.pop();
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn slots() {
        assert_eq!(slot(&p("port")), Some(Slot::Number));
        assert_eq!(slot(&p("auth.require_auth")), Some(Slot::Bool));
        assert_eq!(slot(&p("heartbeat_interval")), Some(Slot::Text));
        assert_eq!(slot(&p("origins.allowed")), Some(Slot::List));
        assert_eq!(slot(&p("namespaces")), Some(Slot::Names));
        assert_eq!(slot(&p("namespaces.chat.publish")), Some(Slot::Text));
        assert_eq!(slot(&p("namespaces.chat.nope")), None);
        assert_eq!(slot(&p("auth.keys.mobile")), Some(Slot::Text));
        assert_eq!(slot(&p("auth.keys.mobile.x")), None);
        assert_eq!(slot(&p("streams.rooms")), Some(Slot::Tables));
        assert_eq!(slot(&p("streams.rooms.[0].interval")), Some(Slot::Text));
        assert_eq!(
            slot(&p("streams.rooms.[0].params.grid_size")),
            Some(Slot::Free)
        );
        assert_eq!(slot(&p("streams.rooms.x")), None);
        assert_eq!(slot(&p("history.max_channels")), Some(Slot::Number));
        assert!(
            matches!(slot(&p("limits")), Some(Slot::Table(k)) if k.contains(&"max_data_depth".to_string()))
        );
        assert_eq!(slot(&p("nope")), None);
    }

    #[test]
    fn unknown_keys_are_explained() {
        assert_eq!(
            unknown_key(&p("heartbeat_intervall")),
            "unknown key heartbeat_intervall; did you mean heartbeat_interval?"
        );
        assert_eq!(
            unknown_key(&p("max_connections_per_user")),
            "unknown key max_connections_per_user; did you mean limits.max_connections_per_user?"
        );
        assert_eq!(
            unknown_key(&p("max_message_bytes")),
            "max_message_bytes was renamed to limits.max_message_size"
        );
        assert_eq!(
            unknown_key(&p("namespaces.chat.allow_client_publish")),
            "namespaces.chat.allow_client_publish was renamed to namespaces.chat.publish (allow_client_publish = true is publish = \"public\"; also \"authenticated\" or \"claim\")"
        );
        assert_eq!(
            unknown_key(&p("log.colour")),
            "unknown key log.colour; [log] has format, level"
        );
    }

    #[test]
    fn check_keys_walks_tables_and_lists() {
        let v = serde_json::json!({
            "limits": {"max_message_size": 200},
            "namespaces": {"chat": {"publish": "public"}},
            "auth": {"keys": {"mobile": "s"}},
            "streams": {"rooms": [{"channel": "a", "params": {"anything": 1}}, {"chanel": "b"}]}
        });
        let Value::Object(m) = v else { unreachable!() };
        assert_eq!(
            check_keys(&m, &mut Vec::new()),
            Err(
                "unknown key streams.rooms[1].chanel; did you mean streams.rooms[1].channel?"
                    .into()
            )
        );
    }

    #[test]
    fn leaves() {
        let all = leaf_paths();
        assert!(all.contains(&p("limits.max_connection_queue_bytes")));
        assert!(all.contains(&p("http.body_timeout")));
        assert!(!all.iter().any(|p| p[0] == "namespaces"));
        assert!(namespace_keys().contains(&"history_ttl".to_string()));
    }
}
