//! The sources merged into one tree of values, remembering where each
//! value came from, so that an error can say "set by WAVECAST_PORT" or
//! "in /etc/wavecast.toml".
//!
//! Invariants: a later `merge`/`set` wins; tables merge key by key and
//! every other value (lists included) is replaced whole; the origin of a
//! path is that of its longest recorded prefix, `Origin::Default` if
//! none.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use super::redact::shown;
use super::schema::display;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The built-in default.
    Default,
    /// A TOML text given as a string (no name to show).
    Text,
    /// The TOML file at this path.
    File(String),
    /// This environment variable.
    Var(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default | Origin::Text => Ok(()),
            Origin::File(p) => f.write_str(p),
            Origin::Var(v) => f.write_str(v),
        }
    }
}

impl Origin {
    /// `"{origin}: "`, or nothing for the defaults and TOML text.
    pub(crate) fn prefix(&self) -> String {
        match self {
            Origin::Default | Origin::Text => String::new(),
            other => format!("{other}: "),
        }
    }
}

/// Merged values and their origins.
pub(crate) struct Tree {
    root: Map<String, Value>,
    origins: BTreeMap<Vec<String>, Origin>,
}

impl Tree {
    /// A tree holding `defaults`.
    pub(crate) fn new(defaults: Map<String, Value>) -> Tree {
        Tree {
            root: defaults,
            origins: BTreeMap::new(),
        }
    }

    /// Merges `layer` on top, table by table.
    pub(crate) fn merge(&mut self, layer: Map<String, Value>, origin: &Origin) {
        fn go(
            into: &mut Map<String, Value>,
            layer: Map<String, Value>,
            path: &mut Vec<String>,
            origins: &mut BTreeMap<Vec<String>, Origin>,
            origin: &Origin,
        ) {
            for (k, v) in layer {
                path.push(k.clone());
                match (into.get_mut(&k), v) {
                    (Some(Value::Object(old)), Value::Object(new)) => {
                        go(old, new, path, origins, origin);
                    }
                    (_, v) => {
                        origins.retain(|p, _| !p.starts_with(path));
                        origins.insert(path.clone(), origin.clone());
                        into.insert(k, v);
                    }
                }
                path.pop();
            }
        }
        go(
            &mut self.root,
            layer,
            &mut Vec::new(),
            &mut self.origins,
            origin,
        );
    }

    /// Sets one value, creating the tables on its way.
    pub(crate) fn set(&mut self, path: &[String], value: Value, origin: &Origin) {
        let mut layer = value;
        for key in path.iter().rev() {
            let mut m = Map::new();
            m.insert(key.clone(), layer);
            layer = Value::Object(m);
        }
        if let Value::Object(m) = layer {
            self.merge(m, origin);
        }
    }

    /// The value at `path` (`[i]` segments index lists).
    pub(crate) fn get(&self, path: &[String]) -> Option<&Value> {
        let (first, rest) = path.split_first()?;
        let mut v = self.root.get(first)?;
        for seg in rest {
            v = match seg.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                Some(i) => v.as_array()?.get(i.parse::<usize>().ok()?)?,
                None => v.as_object()?.get(seg)?,
            };
        }
        Some(v)
    }

    /// Where the value at `path` came from.
    pub(crate) fn origin(&self, path: &[String]) -> &Origin {
        (0..=path.len())
            .rev()
            .find_map(|n| self.origins.get(&path[..n]))
            .unwrap_or(&Origin::Default)
    }

    /// The merged values.
    pub(crate) fn value(&self) -> Value {
        Value::Object(self.root.clone())
    }

    /// `message` about the key at `path`, for people:
    /// `WAVECAST_PORT: port = "abc": expected …`. Tables are not shown.
    pub(crate) fn explain(&self, path: &[String], message: &str) -> String {
        let origin = self.origin(path).prefix();
        let key = display(path);
        match self.get(path) {
            Some(v) if !v.is_object() => format!("{origin}{key} = {}: {message}", shown(path, v)),
            _ => format!("{origin}{key}: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn later_layers_win_and_origins_follow() {
        let mut t = Tree::new(obj(
            json!({"port": 1, "limits": {"a": 1, "b": 2}, "list": [1]}),
        ));
        let file = Origin::File("w.toml".into());
        t.merge(obj(json!({"limits": {"a": 5}, "list": [7, 8]})), &file);
        let var = Origin::Var("WAVECAST_PORT".into());
        t.set(&p("port"), json!(9), &var);
        assert_eq!(t.get(&p("limits.a")), Some(&json!(5)));
        assert_eq!(t.get(&p("limits.b")), Some(&json!(2)));
        assert_eq!(t.get(&["list".into(), "[1]".into()]), Some(&json!(8)));
        assert_eq!(t.origin(&p("limits.a")), &file);
        assert_eq!(t.origin(&p("limits.b")), &Origin::Default);
        assert_eq!(t.origin(&["list".into(), "[0]".into()]), &file);
        assert_eq!(t.origin(&p("port")), &var);
        assert_eq!(var.prefix(), "WAVECAST_PORT: ");
        assert_eq!(Origin::Text.prefix(), "");
        assert_eq!(
            t.explain(&p("port"), "too high"),
            "WAVECAST_PORT: port = 9: too high"
        );
        assert_eq!(t.explain(&p("limits"), "odd"), "limits: odd");
    }
}
