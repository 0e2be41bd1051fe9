//! permessage-deflate negotiation (RFC 7692 §5, §7.1): parses the offers in
//! a `Sec-WebSocket-Extensions` request header and picks the first one the
//! server's [`DeflateConfig`] can accept, producing the response header.
//!
//! Invariants: an offer with an unknown, duplicate or malformed parameter
//! (bad token, value on a `*_no_context_takeover`, window bits outside
//! 8..=15 or with a leading zero, `server_max_window_bits` without a value,
//! an unterminated quoted string) is declined, and the next offer is tried;
//! the accepted parameters never give the server a window larger than the
//! client allowed nor the client a window larger than the response says;
//! `client_max_window_bits` appears in the response only if the accepted
//! offer had it (§7.1.2.2).

use std::borrow::Cow;

/// The extension token.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// The server's permessage-deflate policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Accept offers at all.
    pub enabled: bool,
    /// The largest LZ77 window (log2, 8..=15) the server compresses with.
    pub server_max_window_bits: u8,
    /// Announce `server_no_context_takeover` even when not asked. The
    /// encoder never takes context over (each message is compressed on its
    /// own, once, and shared by all subscribers), so this only tells the
    /// client it may free its inflate window between messages.
    pub server_no_context_takeover: bool,
    /// Ask the client not to take context over, so the server keeps no
    /// inflate state between messages (none at all while idle).
    pub client_no_context_takeover: bool,
    /// The largest window (8..=15) the server asks the client to use; it
    /// can only be asked of a client that offered `client_max_window_bits`.
    pub client_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            enabled: true,
            server_max_window_bits: 15,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            client_max_window_bits: 15,
        }
    }
}

/// The parameters in force on a connection once an offer is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeflateParams {
    /// The server compresses with a window of at most 2^bits (8..=15).
    pub server_max_window_bits: u8,
    /// The client compresses with a window of at most 2^bits (8..=15).
    pub client_max_window_bits: u8,
    /// The server does not take context over (always true in practice).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
}

impl Default for DeflateParams {
    fn default() -> DeflateParams {
        DeflateParams {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        }
    }
}

/// An accepted offer: the parameters and the response header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// What the encoder and the decoder must use.
    pub params: DeflateParams,
    /// The `Sec-WebSocket-Extensions` response header value.
    pub response: String,
}

/// One permessage-deflate offer, as the client wrote it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Picks the first acceptable permessage-deflate offer among the values of
/// the `Sec-WebSocket-Extensions` request header(s), in the client's order.
pub fn negotiate<'a>(
    header_values: impl IntoIterator<Item = &'a str>,
    config: &DeflateConfig,
) -> Option<Negotiated> {
    if !config.enabled {
        return None;
    }
    header_values
        .into_iter()
        .flat_map(|v| split_outside_quotes(v, b','))
        .filter_map(parse_offer)
        .find_map(|offer| accept(&offer, config))
}

fn accept(offer: &Offer, config: &DeflateConfig) -> Option<Negotiated> {
    let server_cap = config.server_max_window_bits.clamp(8, 15);
    let server_bits = offer
        .server_max_window_bits
        .map_or(server_cap, |b| b.min(server_cap));
    let client_cap = config.client_max_window_bits.clamp(8, 15);
    let client_bits = match offer.client_max_window_bits {
        None => 15,
        Some(None) => client_cap,
        Some(Some(b)) => b.min(client_cap),
    };
    let params = DeflateParams {
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        server_no_context_takeover: config.server_no_context_takeover
            || offer.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover
            || offer.client_no_context_takeover,
    };
    let mut response = String::from(PERMESSAGE_DEFLATE);
    if params.server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if params.client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if offer.server_max_window_bits.is_some() || server_bits < 15 {
        response.push_str(&format!("; server_max_window_bits={server_bits}"));
    }
    if offer.client_max_window_bits.is_some() && client_bits < 15 {
        response.push_str(&format!("; client_max_window_bits={client_bits}"));
    }
    Some(Negotiated { params, response })
}

/// Parses one list element; `None` unless it is a well-formed
/// permessage-deflate offer.
fn parse_offer(element: &str) -> Option<Offer> {
    let mut parts = split_outside_quotes(element, b';');
    let name = parts.next()?.trim();
    if !name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
        return None;
    }
    let mut offer = Offer::default();
    let mut seen = 0u8;
    for part in parts {
        let (name, value) = parse_param(part)?;
        let bit = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" => 1,
            "client_no_context_takeover" => 2,
            "server_max_window_bits" => 4,
            "client_max_window_bits" => 8,
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match (bit, value.as_deref()) {
            (1, None) => offer.server_no_context_takeover = true,
            (2, None) => offer.client_no_context_takeover = true,
            (4, Some(v)) => offer.server_max_window_bits = Some(window_bits(v)?),
            (8, None) => offer.client_max_window_bits = Some(None),
            (8, Some(v)) => offer.client_max_window_bits = Some(Some(window_bits(v)?)),
            _ => return None,
        }
    }
    Some(offer)
}

/// `name [= (token | quoted-string)]`, with optional whitespace.
fn parse_param(part: &str) -> Option<(&str, Option<Cow<'_, str>>)> {
    let (name, value) = match part.split_once('=') {
        None => (part.trim(), None),
        Some((name, value)) => (name.trim(), Some(value.trim())),
    };
    if !is_token(name) {
        return None;
    }
    let value = match value {
        None => None,
        Some(v) => Some(match v.strip_prefix('"') {
            Some(quoted) => Cow::Owned(unquote(quoted)?),
            None => Cow::Borrowed(v),
        }),
    };
    match value {
        Some(v) if !is_token(&v) => None,
        value => Some((name, value)),
    }
}

/// The content of a quoted string whose opening quote was stripped: up to
/// the closing quote, which must end the text; backslash escapes a char.
fn unquote(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.next().is_none().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// A window size: a decimal 8..=15 without leading zeros.
fn window_bits(v: &str) -> Option<u8> {
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => v.parse().ok(),
        _ => None,
    }
}

/// An RFC 7230 token.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits on `sep` except inside double-quoted strings (with backslash
/// escapes). An unterminated quote runs to the end of the text.
pub(crate) fn split_outside_quotes(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut quoted = false;
    std::iter::from_fn(move || {
        if start > bytes.len() {
            return None;
        }
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b if b == sep && !quoted => {
                    let part = &s[start..i];
                    i += 1;
                    start = i;
                    return Some(part);
                }
                _ => {}
            }
            i += 1;
        }
        let part = s.get(start..).unwrap_or_default();
        start = bytes.len() + 1;
        Some(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(offer: &str, config: &DeflateConfig) -> Option<String> {
        negotiate([offer], config).map(|n| n.response)
    }

    const PLAIN: DeflateConfig = DeflateConfig {
        enabled: true,
        server_max_window_bits: 15,
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        client_max_window_bits: 15,
    };

    #[test]
    fn default_config_asks_for_no_context_takeover_both_ways() {
        let n = negotiate(["permessage-deflate"], &DeflateConfig::default()).unwrap();
        assert_eq!(
            n.response,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert_eq!(
            n.params,
            DeflateParams {
                server_max_window_bits: 15,
                client_max_window_bits: 15,
                server_no_context_takeover: true,
                client_no_context_takeover: true,
            }
        );
        assert_eq!(
            respond("permessage-deflate", &PLAIN).as_deref(),
            Some("permessage-deflate")
        );
        let off = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        assert_eq!(respond("permessage-deflate", &off), None);
    }

    #[test]
    fn rfc7692_offer_examples() {
        // §7.1.3-style offers: the first acceptable offer wins.
        let two = "permessage-deflate; client_max_window_bits; server_max_window_bits=10, \
                   permessage-deflate; client_max_window_bits";
        let n = negotiate([two], &PLAIN).unwrap();
        assert_eq!(n.response, "permessage-deflate; server_max_window_bits=10");
        assert_eq!(n.params.server_max_window_bits, 10);
        assert_eq!(n.params.client_max_window_bits, 15);
        // Context takeover parameters the client asks for are echoed.
        assert_eq!(
            respond("permessage-deflate; server_no_context_takeover", &PLAIN).as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            respond("permessage-deflate; client_no_context_takeover", &PLAIN).as_deref(),
            Some("permessage-deflate; client_no_context_takeover")
        );
    }

    #[test]
    fn window_bits() {
        let small = DeflateConfig {
            server_max_window_bits: 12,
            client_max_window_bits: 10,
            ..PLAIN
        };
        // The server may announce its own smaller window unasked.
        let n = negotiate(["permessage-deflate"], &small).unwrap();
        assert_eq!(n.response, "permessage-deflate; server_max_window_bits=12");
        // It can limit the client only if the client offered the parameter.
        assert_eq!(n.params.client_max_window_bits, 15);
        let n = negotiate(["permessage-deflate; client_max_window_bits"], &small).unwrap();
        assert_eq!(
            n.response,
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=10"
        );
        assert_eq!(n.params.client_max_window_bits, 10);
        let n = negotiate(
            ["permessage-deflate; client_max_window_bits=9; server_max_window_bits=14"],
            &small,
        )
        .unwrap();
        assert_eq!(n.params.client_max_window_bits, 9);
        assert_eq!(n.params.server_max_window_bits, 12);
        // A value the client offered is kept when it is the smaller one.
        let n = negotiate(["permessage-deflate; client_max_window_bits=11"], &PLAIN).unwrap();
        assert_eq!(n.response, "permessage-deflate; client_max_window_bits=11");
        let n = negotiate(["permessage-deflate; server_max_window_bits=8"], &PLAIN).unwrap();
        assert_eq!(
            (n.params.server_max_window_bits, n.response.as_str()),
            (8, "permessage-deflate; server_max_window_bits=8")
        );
        // Quoted values are tokens after unquoting.
        let n = negotiate(
            [r#"permessage-deflate; client_max_window_bits="10""#],
            &PLAIN,
        )
        .unwrap();
        assert_eq!(n.params.client_max_window_bits, 10);
    }

    #[test]
    fn malformed_offers_are_declined_and_the_next_one_tried() {
        let bad = [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=09",
            "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            "permessage-deflate; unknown_param",
            "permessage-deflate; bad param",
            r#"permessage-deflate; client_max_window_bits="1 0""#,
            r#"permessage-deflate; client_max_window_bits="10"x"#,
            r#"permessage-deflate; client_max_window_bits="10"#,
            "x-webkit-deflate-frame",
            "",
        ];
        for offer in bad {
            assert_eq!(respond(offer, &PLAIN), None, "{offer}");
            let with_fallback = format!("{offer}, permessage-deflate; client_no_context_takeover");
            let expected = if offer.ends_with(r#""10"#) {
                None
            } else {
                Some("permessage-deflate; client_no_context_takeover")
            };
            assert_eq!(
                respond(&with_fallback, &PLAIN).as_deref(),
                expected,
                "{offer}"
            );
        }
    }

    #[test]
    fn several_header_lines_quotes_and_case() {
        let n = negotiate(
            [
                "foo, bar; baz=2",
                "PerMessage-Deflate ;  Client_Max_Window_Bits",
            ],
            &PLAIN,
        );
        assert_eq!(n.map(|n| n.params.client_max_window_bits), Some(15));
        // A comma inside a quoted string does not split the list.
        let offer =
            r#"permessage-deflate; x="a,b", permessage-deflate; server_no_context_takeover"#;
        assert_eq!(
            respond(offer, &PLAIN).as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        let parts: Vec<&str> = split_outside_quotes(r#"a, "b,\"c", d"#, b',').collect();
        assert_eq!(parts, vec!["a", r#" "b,\"c""#, " d"]);
    }
}
