//! What a WebSocket upgrade agrees on with the client: the wire format
//! (the endpoint's dialect, or one the client picks with
//! `Sec-WebSocket-Protocol`; MessagePack with `.msgpack` or
//! `?format=msgpack`) and permessage-deflate where the endpoint allows it.
//!
//! Subprotocols: `wavecast.v1`, `fog`, `netra`, `neurograph`, `mfn`, each
//! optionally followed by `.msgpack`. The first one offered that the
//! server knows wins and is echoed back; offers the server does not know
//! are ignored.

use axum::http::{header, HeaderMap};
use wavecast_protocol::dialect::Dialect;
use wavecast_ws::{negotiate, parse_protocols, DeflateConfig, DeflateParams};

use crate::config::{Config, EndpointConfig};
use crate::conn::format::Format;

/// What the upgrade agreed on.
#[derive(Debug, Clone)]
pub struct Agreed {
    pub format: Format,
    /// The subprotocol to echo in `Sec-WebSocket-Protocol`.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` answer, with the decoder's parameters.
    pub deflate: Option<(String, DeflateParams)>,
}

/// A known subprotocol: its dialect and whether it is MessagePack.
fn subprotocol(name: &str) -> Option<(Dialect, bool)> {
    let (base, msgpack) = match name.strip_suffix(".msgpack") {
        Some(b) => (b, true),
        None => (name, false),
    };
    base.parse::<Dialect>().ok().map(|d| (d, msgpack))
}

/// Whether the query asks for `format=msgpack`.
fn query_wants_msgpack(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|p| p.eq_ignore_ascii_case("format=msgpack"))
    })
}

/// The format, subprotocol and compression of one upgrade.
pub fn agree(
    cfg: &Config,
    ep: &EndpointConfig,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Agreed {
    let offered = parse_protocols(
        headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .unwrap_or_default();
    let picked = offered
        .iter()
        .find_map(|name| subprotocol(name).map(|(d, m)| (name.to_string(), d, m)));
    let (protocol, dialect, mut msgpack) = match picked {
        Some((name, d, m)) => (Some(name), d, m),
        None => (None, ep.dialect.dialect(), false),
    };
    msgpack |= query_wants_msgpack(query);
    let deflate = if ep.deflate {
        deflate(cfg, headers)
    } else {
        None
    };
    Agreed {
        format: Format {
            dialect,
            msgpack,
            deflate: deflate.as_ref().map(|(_, p)| p.server_max_window_bits),
            sse: false,
        },
        protocol,
        deflate,
    }
}

/// permessage-deflate, when the client offers it and the window it allows
/// the server is the configured one (compressed frames are shared by every
/// connection of a format, so they are built with one window).
fn deflate(cfg: &Config, headers: &HeaderMap) -> Option<(String, DeflateParams)> {
    let bits = cfg.compression.server_max_window_bits.clamp(9, 15);
    let config = DeflateConfig {
        server_max_window_bits: bits,
        ..DeflateConfig::default()
    };
    let n = negotiate(
        headers
            .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|v| v.to_str().ok()),
        &config,
    )?;
    (n.params.server_max_window_bits == bits).then_some((n.response, n.params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn subprotocols_pick_the_dialect_and_encoding() {
        let cfg = Config::default();
        let ep = &cfg.endpoints[0];
        let a = agree(
            &cfg,
            ep,
            &headers(&[("sec-websocket-protocol", "soap, fog.msgpack, netra")]),
            None,
        );
        assert_eq!(a.protocol.as_deref(), Some("fog.msgpack"));
        assert_eq!((a.format.dialect, a.format.msgpack), (Dialect::Fog, true));
        let a = agree(&cfg, ep, &headers(&[]), Some("format=msgpack"));
        assert_eq!(
            (a.format.dialect, a.format.msgpack, a.protocol),
            (Dialect::Wavecast, true, None)
        );
        let fog = &cfg.endpoints[1];
        assert_eq!(
            agree(&cfg, fog, &headers(&[]), None).format.dialect,
            Dialect::Fog
        );
    }

    #[test]
    fn deflate_only_where_enabled() {
        let mut cfg = Config::default();
        let offer = headers(&[(
            "sec-websocket-extensions",
            "permessage-deflate; client_max_window_bits",
        )]);
        assert!(agree(&cfg, &cfg.endpoints[0], &offer, None)
            .deflate
            .is_none());
        cfg.endpoints[0].deflate = true;
        let a = agree(&cfg, &cfg.endpoints[0], &offer, None);
        assert_eq!(a.format.deflate, Some(15));
        assert!(a.deflate.unwrap().0.contains("server_no_context_takeover"));
        // A client that allows the server a smaller window gets none.
        let small = headers(&[(
            "sec-websocket-extensions",
            "permessage-deflate; server_max_window_bits=10",
        )]);
        assert!(agree(&cfg, &cfg.endpoints[0], &small, None)
            .deflate
            .is_none());
    }
}
