//! Dialects: the wire shapes of the four systems wavecast serves, each a
//! small translation at the edge of a connection. Inbound, a dialect turns
//! a message into the common [`Envelope`]; outbound, it turns a control
//! frame (type + fields) or a [`Publication`] into its own shape. Every
//! endpoint handler works with the common model only.
//!
//! - `wavecast`: the native protocol (docs/protocol.md).
//! - `neurograph`: the native protocol, which NeuroGraph already matches.
//! - [`fog`]: deliveries carry `room`; a publication whose data is an
//!   envelope `{type, data, priority?}` is delivered as that envelope; the
//!   server's keepalive is `ping` (the client answers `pong`).
//! - [`netra`]: `{type, payload, timestamp: <unix seconds>,
//!   correlation_id}`; errors nest under `payload`.
//! - [`mfn`]: the native shapes, with message types in upper case when the
//!   client writes them so (`INIT`, `SUBSCRIBE_SUCCESS`, `FEATURE_UPDATE`).
//!
//! Invariants: every dialect accepts message types in any case; an
//! encoder never fails (it builds a JSON value); a dialect's frame in
//! MessagePack carries the same value as in JSON.

pub mod fog;
pub mod mfn;
pub mod netra;

use serde_json::{Map, Value};

use crate::codes::ErrorCode;
use crate::to_client::encode_control;
use crate::to_server::{envelope_of, Envelope, ParseError, RequestId};
use crate::Publication;

/// A connection's wire dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    #[default]
    Wavecast,
    Fog,
    Netra,
    NeuroGraph,
    Mfn,
}

impl Dialect {
    /// Every dialect, in a fixed order ([`Dialect::index`]).
    pub const ALL: [Dialect; 5] = [
        Dialect::Wavecast,
        Dialect::Fog,
        Dialect::Netra,
        Dialect::NeuroGraph,
        Dialect::Mfn,
    ];

    /// The name used in configuration and `Sec-WebSocket-Protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Wavecast => "wavecast",
            Dialect::Fog => "fog",
            Dialect::Netra => "netra",
            Dialect::NeuroGraph => "neurograph",
            Dialect::Mfn => "mfn",
        }
    }

    /// A small dense number.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The envelope of a message already parsed into a JSON value.
    pub fn envelope(self, v: Value) -> Result<Envelope, ParseError> {
        let Value::Object(obj) = v else {
            return Err(ParseError::new(
                ErrorCode::InvalidJson,
                "a message must be an object",
            ));
        };
        let obj = match self {
            Dialect::Netra => netra::flatten(obj),
            _ => obj,
        };
        let mut env = envelope_of(obj)?;
        env.kind = env.kind.to_ascii_lowercase();
        Ok(env)
    }

    /// The envelope of one JSON text message.
    pub fn parse_text(self, text: &str) -> Result<Envelope, ParseError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ParseError::new(ErrorCode::InvalidJson, format!("invalid JSON: {e}")))?;
        self.envelope(v)
    }

    /// A control frame of type `kind`. `shout` writes the type in upper
    /// case (MFN clients that write theirs so).
    pub fn control(
        self,
        kind: &str,
        fields: Map<String, Value>,
        id: Option<&RequestId>,
        shout: bool,
    ) -> Value {
        match self {
            Dialect::Netra => netra::control(kind, fields, id),
            Dialect::Mfn if shout => native(&kind.to_ascii_uppercase(), fields, id),
            _ => native(kind, fields, id),
        }
    }

    /// A control frame as JSON text (the native dialects skip the value).
    pub fn control_text(
        self,
        kind: &str,
        fields: Map<String, Value>,
        id: Option<&RequestId>,
        shout: bool,
    ) -> String {
        match self {
            Dialect::Wavecast | Dialect::NeuroGraph | Dialect::Fog => {
                text(encode_control(kind, fields, id))
            }
            Dialect::Mfn if shout => text(encode_control(&kind.to_ascii_uppercase(), fields, id)),
            Dialect::Mfn => text(encode_control(kind, fields, id)),
            Dialect::Netra => self.control(kind, fields, id, shout).to_string(),
        }
    }

    /// A publication's frame as a JSON value.
    pub fn publication(self, p: &Publication) -> Value {
        match self {
            Dialect::Fog => fog::publication(p),
            Dialect::Netra => netra::publication(p),
            _ => serde_json::from_str(&p.json_text()).unwrap_or(Value::Null),
        }
    }

    /// A publication's frame as JSON text (built by hand where the shape
    /// is native, without parsing the data).
    pub fn publication_text(self, p: &Publication) -> String {
        match self {
            Dialect::Wavecast | Dialect::NeuroGraph | Dialect::Mfn => p.json_text(),
            _ => self.publication(p).to_string(),
        }
    }

    /// The type of the server's keepalive frame: `heartbeat`, or `ping`
    /// for FOG, whose client answers a server `ping` with `pong`.
    pub fn keepalive_kind(self) -> &'static str {
        match self {
            Dialect::Fog => "ping",
            _ => "heartbeat",
        }
    }

    /// The message rate as `/ws/config` tells it: per second, or per
    /// minute for Netra.
    pub fn rate_unit(self) -> RateUnit {
        match self {
            Dialect::Netra => RateUnit::PerMinute,
            _ => RateUnit::PerSecond,
        }
    }
}

/// The unit of a message rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    PerSecond,
    PerMinute,
}

/// A name that is no dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDialect(pub String);

impl std::fmt::Display for UnknownDialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unknown dialect {:?}; use wavecast, fog, netra, neurograph or mfn",
            self.0
        )
    }
}

impl std::error::Error for UnknownDialect {}

impl std::str::FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(t))
            .or_else(|| {
                t.eq_ignore_ascii_case("wavecast.v1")
                    .then_some(Dialect::Wavecast)
            })
            .ok_or_else(|| UnknownDialect(t.to_string()))
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The native control frame as a value (`type` first when serialized).
fn native(kind: &str, mut fields: Map<String, Value>, id: Option<&RequestId>) -> Value {
    if let Some(id) = id {
        fields.insert(id.key.to_string(), id.value.clone());
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::from(kind));
    out.extend(fields);
    Value::Object(out)
}

fn text(b: bytes::Bytes) -> String {
    String::from_utf8(b.to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
