//! The pub/sub message of a publication: `{offset} {ts_ms} {event}\n{data}`
//! (offset 0 without history). Each node encodes it for its own
//! subscribers' formats, so the message carries data, not a frame.

use bytes::Bytes;
use wavecast_protocol::Publication;

/// Decodes a pub/sub message of `channel`; `None` when malformed.
pub fn decode(channel: &str, body: Bytes) -> Option<Publication> {
    let nl = body.iter().position(|b| *b == b'\n')?;
    let head = std::str::from_utf8(&body[..nl]).ok()?;
    let mut parts = head.splitn(3, ' ');
    let offset = parts.next()?.parse::<u64>().ok()?;
    let ts_ms = parts.next()?.parse::<u64>().ok()?;
    let event = parts.next()?.to_string();
    Some(Publication {
        channel: channel.to_string(),
        event,
        data: body.slice(nl + 1..),
        offset,
        ts_ms,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn decodes_what_the_scripts_publish() {
        let p = super::decode(
            "c",
            bytes::Bytes::from_static(b"7 1700 ev\n{\"a\":\"x y\\n\"}"),
        )
        .unwrap();
        assert_eq!((p.offset, p.ts_ms, p.event.as_str()), (7, 1700, "ev"));
        assert_eq!(&p.data[..], b"{\"a\":\"x y\\n\"}");
        assert!(super::decode("c", bytes::Bytes::from_static(b"x 1 e\n1")).is_none());
        assert!(super::decode("c", bytes::Bytes::from_static(b"1 1 e")).is_none());
    }
}
