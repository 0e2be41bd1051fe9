//! The embedded store's key and value encodings. Entries are binary and
//! carry the data bytes verbatim, so serving them never parses JSON (a
//! deeply nested publication comes back exactly as it was stored). Entries
//! and meta records written by earlier versions (JSON) are still read.

use bytes::Bytes;

/// `channel ␀ offset(be64)`.
pub fn key(channel: &str, offset: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + 9);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// `channel ␀`: the prefix of every key of the channel.
pub fn prefix(channel: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(channel.len() + 1);
    k.extend_from_slice(channel.as_bytes());
    k.push(0);
    k
}

/// The offset at the end of a key.
pub fn offset_of(k: &[u8]) -> u64 {
    let n = k.len();
    match k
        .get(n.saturating_sub(8)..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
    {
        Some(b) if n >= 8 => u64::from_be_bytes(b),
        _ => 0,
    }
}

/// A decoded entry.
pub struct Entry {
    pub ts_ms: u64,
    pub event: String,
    pub data: Bytes,
}

/// `ts(be64) event_len(u8) event data`.
pub fn encode_entry(ts_ms: u64, event: &str, data: &[u8]) -> Vec<u8> {
    let ev = &event.as_bytes()[..event.len().min(255)];
    let mut v = Vec::with_capacity(9 + ev.len() + data.len());
    v.extend_from_slice(&ts_ms.to_be_bytes());
    v.push(ev.len() as u8);
    v.extend_from_slice(ev);
    v.extend_from_slice(data);
    v
}

/// Decodes a binary entry, or a JSON one (`{"e","d","t"}`) of an earlier
/// version. `None` when the bytes are neither.
pub fn decode_entry(v: &[u8]) -> Option<Entry> {
    if v.first() == Some(&b'{') {
        return decode_legacy_entry(v);
    }
    let ts_ms = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let n = *v.get(8)? as usize;
    let event = std::str::from_utf8(v.get(9..9 + n)?).ok()?.to_string();
    let data = Bytes::copy_from_slice(v.get(9 + n..)?);
    Some(Entry { ts_ms, event, data })
}

fn decode_legacy_entry(v: &[u8]) -> Option<Entry> {
    #[derive(serde::Deserialize)]
    struct Legacy<'a> {
        e: String,
        #[serde(borrow)]
        d: &'a serde_json::value::RawValue,
        t: u64,
    }
    let l: Legacy<'_> = serde_json::from_slice(v).ok()?;
    Some(Entry {
        ts_ms: l.t,
        event: l.e,
        data: Bytes::copy_from_slice(l.d.get().as_bytes()),
    })
}

/// `base(be64) last(be64)`.
pub fn encode_meta(base: u64, last: u64) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[..8].copy_from_slice(&base.to_be_bytes());
    m[8..].copy_from_slice(&last.to_be_bytes());
    m
}

/// Decodes a meta record, or a JSON one (`{"epoch": hex, "last"}`) of an
/// earlier version (its epoch becomes the base, so it stays the same).
/// A record of exactly 16 bytes is always binary: a base whose first byte
/// happens to be `{` (one channel in 256) must not be read as JSON.
pub fn decode_meta(v: &[u8]) -> Option<(u64, u64)> {
    if v.len() != 16 && v.first() == Some(&b'{') {
        #[derive(serde::Deserialize)]
        struct Legacy {
            epoch: String,
            last: u64,
        }
        let l: Legacy = serde_json::from_slice(v).ok()?;
        return Some((u64::from_str_radix(&l.epoch, 16).ok()?, l.last));
    }
    let base = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let last = u64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    Some((base, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_legacy_entries_read() {
        let e = decode_entry(&encode_entry(42, "ev", b"[[[1]]]")).unwrap();
        assert_eq!(
            (e.ts_ms, e.event.as_str(), &e.data[..]),
            (42, "ev", &b"[[[1]]]"[..])
        );
        let l = decode_entry(br#"{"e":"p","d":{"a":[1]},"t":7}"#).unwrap();
        assert_eq!(
            (l.ts_ms, l.event.as_str(), &l.data[..]),
            (7, "p", &br#"{"a":[1]}"#[..])
        );
        assert!(decode_entry(b"\x00\x01").is_none());
        assert_eq!(decode_meta(&encode_meta(5, 9)), Some((5, 9)));
        // A base whose first byte is `{` (one channel in 256) is still the
        // binary record, not a broken legacy JSON one: that made a restart
        // refuse to start with "history corrupt: meta of …".
        let brace = 0x7b00_0000_0000_0001;
        assert_eq!(encode_meta(brace, 3)[0], b'{');
        assert_eq!(decode_meta(&encode_meta(brace, 3)), Some((brace, 3)));
        assert_eq!(
            decode_meta(br#"{"epoch":"00000000000000ff","last":3}"#),
            Some((255, 3))
        );
        assert_eq!(offset_of(&key("c", 77)), 77);
    }
}
