//! Bench payloads and their fast scanning. A payload is a JSON object
//! `{"seq":N,"ts":MICROS,"p":"xx…"}` padded to the requested size: `seq`
//! numbers publications from 1 per channel (0 is a readiness probe) and `ts`
//! is the publication's scheduled send time in µs since the Unix epoch.
//! Subscribers find these fields (and a server's `"offset":`) by scanning
//! the frame's bytes, so any server that embeds the payload verbatim works.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, now.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A payload of about `size` bytes (never less than the fields need).
pub fn make(seq: u64, ts_us: u64, size: usize) -> String {
    let head = format!("{{\"seq\":{seq},\"ts\":{ts_us},\"p\":\"");
    let pad = size.saturating_sub(head.len() + 2);
    let mut s = String::with_capacity(head.len() + pad + 2);
    s.push_str(&head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str("\"}");
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let last = hay.len() - needle.len();
    let mut i = 0;
    while i <= last {
        match hay[i..=last].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// The unsigned integer after `key` (e.g. `"seq":`).
pub fn field_u64(frame: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(frame, key)? + key.len();
    let mut n: u64 = 0;
    let mut any = false;
    for &b in frame.get(at..)? {
        if b.is_ascii_digit() {
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            any = true;
        } else if b == b' ' && !any {
            continue;
        } else {
            break;
        }
    }
    any.then_some(n)
}

/// What a subscriber reads from one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    pub seq: u64,
    pub ts_us: u64,
    pub offset: Option<u64>,
}

/// Reads a bench publication; `None` for any other frame.
pub fn scan(frame: &[u8]) -> Option<Scanned> {
    let seq = field_u64(frame, b"\"seq\":")?;
    let ts_us = field_u64(frame, b"\"ts\":")?;
    Some(Scanned {
        seq,
        ts_us,
        offset: field_u64(frame, b"\"offset\":"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_size_and_scan() {
        let p = make(42, 1_795_297_680_000_123, 100);
        assert_eq!(p.len(), 100);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["seq"], 42);
        let frame = format!(
            r#"{{"type":"publication","channel":"b","data":{p},"offset":7,"timestamp":"2026-01-01T00:00:00.000Z"}}"#
        );
        assert_eq!(
            scan(frame.as_bytes()),
            Some(Scanned {
                seq: 42,
                ts_us: 1_795_297_680_000_123,
                offset: Some(7)
            })
        );
        assert_eq!(scan(p.as_bytes()).unwrap().offset, None);
        assert_eq!(scan(br#"{"type":"heartbeat"}"#), None);
        assert!(make(1, 2, 0).len() < 40);
    }
}
