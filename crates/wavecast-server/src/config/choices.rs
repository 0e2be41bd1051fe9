//! The options that take one of a few names (`env`, `engine`,
//! `backpressure`, `log.format`, …), declared with [`choice!`], which
//! gives each its names, parsing, serde and error text.
//!
//! Invariants: names are matched after trimming, ignoring ASCII case;
//! each option serializes as its canonical (first) name; an unknown name
//! is refused with the list of canonical names and, for a likely typo,
//! "did you mean" (aliases included). Error texts do not repeat the value
//! (the loader shows it next to the key).

use std::fmt;

use super::suggest::closest;

/// `a, b or c`.
pub(crate) fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The error text for `given`, which is none of `spellings`.
fn unknown(given: &str, names: &[&str], spellings: &[&str]) -> String {
    let list = or_list(names);
    match closest(given.trim(), spellings.iter().copied()) {
        Some(s) => format!("use {list}; did you mean {s:?}?"),
        None => format!("use {list}"),
    }
}

/// Declares a named option: an enum whose variants are written as names.
/// `Variant = "name" / "alias" / …`; mark the default with `#[default]`.
macro_rules! choice {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(/ $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The canonical names, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];
            const SPELLINGS: &'static [&'static str] = &[$($text, $($alias,)*)+];

            /// The canonical name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                let t = s.trim();
                $(
                    if t.eq_ignore_ascii_case($text) $(|| t.eq_ignore_ascii_case($alias))* {
                        return Ok($name::$variant);
                    }
                )+
                Err(unknown(t, Self::NAMES, Self::SPELLINGS))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visit;
                impl serde::de::Visitor<'_> for Visit {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "one of {}", or_list($name::NAMES))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(Visit)
            }
        }
    };
}

choice! {
    /// What to do when a connection's outbound queue is full.
    pub enum Backpressure {
        /// Evict the oldest queued publication (the default).
        #[default]
        DropOldest = "drop_oldest",
        /// Refuse the new publication.
        DropNewest = "drop_newest",
        /// Thin the queue, keeping every `sample_every`-th queued
        /// publication. The MFN document calls this `compress`.
        Sample = "sample" / "compress",
        /// Close the connection with 4008 "slow consumer".
        Disconnect = "disconnect",
    }
}

choice! {
    /// Who may subscribe to a namespace's channels.
    pub enum SubscribePolicy {
        /// Any connection (the default).
        #[default]
        Public = "public",
        /// Authenticated connections only.
        Authenticated = "authenticated",
        /// Only connections whose token's `channels` / `rooms` match.
        Claim = "claim",
    }
}

choice! {
    /// Who may publish into a namespace from a client connection. The HTTP
    /// API may always publish with the server key.
    pub enum PublishPolicy {
        /// Nobody (the default).
        #[default]
        None = "none",
        /// Any authenticated connection.
        Authenticated = "authenticated",
        /// Connections whose token's `channels` / `rooms` match.
        Claim = "claim",
        /// Any connection, even anonymous ones.
        Public = "public",
    }
}

choice! {
    /// Where history lives.
    pub enum EngineKind {
        /// Persistent, fjall under `data_dir` (the default).
        #[default]
        Embedded = "embedded",
        /// In memory; lost on restart.
        Memory = "memory",
        /// Redis: history in streams, publications shared by every node.
        Redis = "redis",
    }
}

choice! {
    /// The deployment profile. The seed systems' spellings are accepted.
    pub enum Environment {
        /// May run without auth; allows localhost origins (the default).
        #[default]
        Dev = "dev" / "development" / "local",
        Staging = "staging" / "stage",
        /// Requires auth: `auth.require_auth` defaults to true.
        Production = "production" / "prod",
    }
}

choice! {
    /// What to do when a user opens more than `max_connections_per_user`.
    pub enum UserLimitPolicy {
        /// Close the user's oldest connection with 4011 "replaced" (the
        /// default).
        #[default]
        ReplaceOldest = "replace_oldest",
        /// Refuse the new connection.
        Refuse = "refuse",
    }
}

choice! {
    /// How log lines are written.
    pub enum LogFormat {
        /// One JSON object per line (the default).
        #[default]
        Json = "json",
        /// Human-readable lines; coloured only on a terminal.
        Text = "text",
    }
}

choice! {
    /// The most detailed log level written.
    pub enum LogLevel {
        Error = "error",
        Warn = "warn" / "warning",
        /// The default.
        #[default]
        Info = "info",
        Debug = "debug",
        Trace = "trace",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_aliases_and_case() {
        assert_eq!("compress".parse(), Ok(Backpressure::Sample));
        assert_eq!(" Production ".parse(), Ok(Environment::Production));
        assert_eq!("prod".parse(), Ok(Environment::Production));
        assert_eq!("development".parse(), Ok(Environment::Dev));
        assert_eq!(Environment::Production.as_str(), "production");
        assert_eq!(Backpressure::Sample.to_string(), "sample");
        assert_eq!(LogLevel::default(), LogLevel::Info);
        assert_eq!(LogFormat::NAMES, ["json", "text"]);
    }

    #[test]
    fn unknown_names_list_the_choices_and_suggest() {
        assert_eq!(
            "prodution".parse::<Environment>().unwrap_err(),
            "use dev, staging or production; did you mean \"production\"?"
        );
        assert_eq!("xml".parse::<LogFormat>().unwrap_err(), "use json or text");
        assert_eq!(
            "drop-oldest".parse::<Backpressure>().unwrap_err(),
            "use drop_oldest, drop_newest, sample or disconnect; did you mean \"drop_oldest\"?"
        );
    }

    #[test]
    fn serde_uses_the_canonical_names() {
        let v = serde_json::to_value(Backpressure::Sample).unwrap();
        assert_eq!(v, "sample");
        let b: Backpressure = serde_json::from_value("compress".into()).unwrap();
        assert_eq!(b, Backpressure::Sample);
        let e = serde_json::from_value::<Backpressure>(5.into()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("expected one of drop_oldest, drop_newest, sample or disconnect"),
            "{e}"
        );
    }
}

choice! {
    /// A WebSocket endpoint's wire dialect (see docs/compatibility.md).
    pub enum WireDialect {
        /// The native protocol (docs/protocol.md); NeuroGraph's too.
        #[default]
        Wavecast = "wavecast" / "wavecast.v1",
        /// FOG Compute: `room` on deliveries, server `ping`.
        Fog = "fog",
        /// Netra: `{type, payload, timestamp, correlation_id}`.
        Netra = "netra",
        /// NeuroGraph: the native protocol, with NeuroGraph's defaults.
        NeuroGraph = "neurograph",
        /// MFN: message types in either case.
        Mfn = "mfn",
    }
}

choice! {
    /// What a WebSocket endpoint serves.
    pub enum EndpointHandler {
        /// The channel protocol: subscribe, publish, history (the default).
        #[default]
        Channels = "channels",
        /// MFN feature streams.
        StreamFeatures = "stream_features",
        /// MFN live simulations.
        SimulationLive = "simulation_live",
        /// MFN's heartbeat-only endpoint.
        Heartbeat = "heartbeat",
        /// Echoes every message (for WebSocket conformance suites).
        Echo = "echo",
    }
}

choice! {
    /// The names and meanings of the exported metrics.
    pub enum MetricsProfile {
        /// wavecast's own names (docs/observability.md).
        #[default]
        Wavecast = "wavecast",
        /// wavecast's names plus NeuroGraph's (`neurograph_ws_*`).
        NeuroGraph = "neurograph",
    }
}

impl WireDialect {
    /// The protocol crate's dialect.
    pub fn dialect(self) -> wavecast_protocol::dialect::Dialect {
        use wavecast_protocol::dialect::Dialect;
        match self {
            WireDialect::Wavecast => Dialect::Wavecast,
            WireDialect::Fog => Dialect::Fog,
            WireDialect::Netra => Dialect::Netra,
            WireDialect::NeuroGraph => Dialect::NeuroGraph,
            WireDialect::Mfn => Dialect::Mfn,
        }
    }
}
