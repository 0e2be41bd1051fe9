//! How one connection's frames are encoded on the wire: its [`Format`] —
//! dialect, encoding (JSON text frames or MessagePack binary frames) and
//! permessage-deflate — and the complete WebSocket frames built from a
//! message.
//!
//! Outbound queues hold finished frames (header included), so a
//! publication's frame is built once per format in use and the same bytes
//! go to every subscriber of that format ([`FrameCache`]). Compressed
//! frames take no context over, so they are shared the same way.

use bytes::Bytes;
use serde_json::{Map, Value};
use wavecast_protocol::dialect::Dialect;
use wavecast_protocol::replies::history_json;
use wavecast_protocol::time::now_rfc3339;
use wavecast_protocol::to_client::{error_fields, fields};
use wavecast_protocol::to_server::RequestId;
use wavecast_protocol::{msgpack, ErrorCode, Publication};
use wavecast_ws::{encode_compressed_frame, encode_frame, Opcode};

/// The number of distinct formats (the size of a [`FrameCache`]).
pub const FORMATS: usize = Dialect::ALL.len() * 4;

/// Payloads shorter than this are sent uncompressed even with deflate
/// (RFC 7692 lets every message choose; tiny ones only grow).
const COMPRESS_FROM: usize = 256;

/// A connection's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Format {
    pub dialect: Dialect,
    /// MessagePack in binary frames instead of JSON in text frames.
    pub msgpack: bool,
    /// permessage-deflate with this server window (log2), when negotiated.
    pub deflate: Option<u8>,
}

impl Format {
    /// The native protocol in JSON text frames.
    pub const NATIVE: Format = Format {
        dialect: Dialect::Wavecast,
        msgpack: false,
        deflate: None,
    };

    /// A small dense number, for per-format caches. (The deflate window is
    /// one per server, so it is not part of the number.)
    pub fn index(self) -> usize {
        self.dialect.index() * 4
            + usize::from(self.msgpack) * 2
            + usize::from(self.deflate.is_some())
    }

    /// The format of index `i` (the inverse of [`Format::index`]; the
    /// deflate window is the default one).
    pub fn from_index(i: usize) -> Option<Format> {
        let dialect = *Dialect::ALL.get(i / 4)?;
        Some(Format {
            dialect,
            msgpack: i & 2 != 0,
            deflate: (i & 1 != 0).then_some(15),
        })
    }

    /// Its metric label: the dialect, `.msgpack`, `+deflate`
    /// (`wavecast.msgpack+deflate`).
    pub fn label(self) -> String {
        format!(
            "{}{}{}",
            self.dialect.as_str(),
            if self.msgpack { ".msgpack" } else { "" },
            if self.deflate.is_some() {
                "+deflate"
            } else {
                ""
            }
        )
    }

    /// Wraps an encoded message in its WebSocket frame.
    fn frame_text(self, json: &str) -> Bytes {
        if self.msgpack {
            match serde_json::from_str::<Value>(json) {
                Ok(v) => self.frame_value(&v),
                Err(_) => self.wrap(Opcode::Text, json.as_bytes()),
            }
        } else {
            self.wrap(Opcode::Text, json.as_bytes())
        }
    }

    fn frame_value(self, v: &Value) -> Bytes {
        if self.msgpack {
            self.wrap(Opcode::Binary, &msgpack::encode(v))
        } else {
            self.wrap(Opcode::Text, v.to_string().as_bytes())
        }
    }

    /// A frame of `opcode` around `payload` as it is (compressed if the
    /// connection negotiated it): the echo endpoint's answer.
    pub fn raw_frame(self, opcode: Opcode, payload: &[u8]) -> Bytes {
        self.wrap(opcode, payload)
    }

    fn wrap(self, opcode: Opcode, payload: &[u8]) -> Bytes {
        match self.deflate {
            Some(bits) if payload.len() >= COMPRESS_FROM => {
                encode_compressed_frame(opcode, payload, bits)
            }
            _ => encode_frame(opcode, payload),
        }
    }

    /// A control frame of type `kind`; `shout` writes the type in upper
    /// case (MFN clients that write theirs so).
    pub fn control(
        self,
        kind: &str,
        fields: Map<String, Value>,
        id: Option<&RequestId>,
        shout: bool,
    ) -> Bytes {
        if self.msgpack {
            self.frame_value(&self.dialect.control(kind, fields, id, shout))
        } else {
            self.frame_text(&self.dialect.control_text(kind, fields, id, shout))
        }
    }

    /// An `error` frame.
    pub fn error(
        self,
        code: ErrorCode,
        message: &str,
        id: Option<&RequestId>,
        shout: bool,
    ) -> Bytes {
        self.control("error", error_fields(code, message), id, shout)
    }

    /// The `dropped` notice for `count` publications of `channel`.
    pub fn dropped(self, channel: &str, count: u64) -> Bytes {
        self.control(
            "dropped",
            fields([
                ("channel", Value::from(channel)),
                ("count", Value::from(count)),
                ("timestamp", Value::from(now_rfc3339())),
            ]),
            None,
            false,
        )
    }

    /// The server's keepalive (`heartbeat`, or `ping` for FOG).
    pub fn keepalive(self, shout: bool) -> Bytes {
        self.control(
            self.dialect.keepalive_kind(),
            fields([("timestamp", Value::from(now_rfc3339()))]),
            None,
            shout,
        )
    }

    /// A publication's frame.
    pub fn publication(self, p: &Publication) -> Bytes {
        if self.msgpack {
            self.frame_value(&self.dialect.publication(p))
        } else {
            self.frame_text(&self.dialect.publication_text(p))
        }
    }

    /// A `history` page: the native shape is written without parsing the
    /// stored data; other dialects and MessagePack build the value.
    pub fn history(
        self,
        channel: &str,
        top: Option<(u64, &str)>,
        pubs: &[Publication],
        id: Option<&RequestId>,
    ) -> Bytes {
        let native = matches!(
            self.dialect,
            Dialect::Wavecast | Dialect::NeuroGraph | Dialect::Mfn
        );
        if native && !self.msgpack {
            return self.frame_text(&history_json(channel, top, pubs, id));
        }
        let mut f = fields([("channel", Value::from(channel))]);
        if let Some((offset, epoch)) = top {
            f.insert("offset".into(), Value::from(offset));
            f.insert("epoch".into(), Value::from(epoch));
        }
        let items: Vec<Value> = pubs.iter().map(|p| self.dialect.publication(p)).collect();
        f.insert("publications".into(), Value::Array(items));
        self.frame_value(&self.dialect.control("history", f, id, false))
    }
}

/// A publication's frames, built lazily once per format.
pub struct FrameCache<'a> {
    publication: &'a Publication,
    frames: [Option<Bytes>; FORMATS],
}

impl<'a> FrameCache<'a> {
    pub fn new(publication: &'a Publication) -> FrameCache<'a> {
        FrameCache {
            publication,
            frames: Default::default(),
        }
    }

    /// The frame for `format`, built on first use.
    pub fn get(&mut self, format: Format) -> &Bytes {
        let p = self.publication;
        self.frames[format.index()].get_or_insert_with(|| format.publication(p))
    }

    /// The formats built so far, one bit per [`Format::index`].
    pub fn built(&self) -> u32 {
        self.frames
            .iter()
            .enumerate()
            .filter(|(_, f)| f.is_some())
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn publication() -> Publication {
        Publication {
            channel: "nodes".into(),
            event: "node_status_update".into(),
            data: Bytes::from(json!({"pad": "x".repeat(400)}).to_string()),
            offset: 3,
            ts_ms: 0,
        }
    }

    #[test]
    fn formats_have_distinct_indexes() {
        let mut seen = std::collections::HashSet::new();
        for d in Dialect::ALL {
            for msgpack in [false, true] {
                for deflate in [None, Some(15)] {
                    let f = Format {
                        dialect: d,
                        msgpack,
                        deflate,
                    };
                    assert!(f.index() < FORMATS);
                    assert!(seen.insert(f.index()));
                }
            }
        }
    }

    #[test]
    fn frames_carry_the_right_opcode_and_rsv1() {
        let p = publication();
        let text = Format::NATIVE.publication(&p);
        assert_eq!(text[0], 0x81);
        let bin = Format {
            msgpack: true,
            ..Format::NATIVE
        }
        .publication(&p);
        assert_eq!(bin[0], 0x82);
        let z = Format {
            deflate: Some(15),
            ..Format::NATIVE
        }
        .publication(&p);
        assert_eq!(z[0], 0xc1, "FIN + RSV1 + text");
        assert!(z.len() < text.len());
        // Tiny frames stay uncompressed.
        let pong = Format {
            deflate: Some(15),
            ..Format::NATIVE
        }
        .control("pong", fields([]), None, false);
        assert_eq!(pong[0], 0x81);
    }

    #[test]
    fn the_cache_builds_each_format_once() {
        let p = publication();
        let mut cache = FrameCache::new(&p);
        let a = cache.get(Format::NATIVE).clone();
        let b = cache.get(Format::NATIVE).clone();
        assert_eq!(a.as_ptr(), b.as_ptr(), "the same bytes, not a copy");
        let fog = Format {
            dialect: Dialect::Fog,
            ..Format::NATIVE
        };
        assert_ne!(cache.get(fog), &a);
        assert_eq!(
            cache.built(),
            1 << Format::NATIVE.index() | 1 << fog.index()
        );
        for i in 0..FORMATS {
            let f = Format::from_index(i).unwrap();
            assert_eq!(f.index(), i, "{}", f.label());
        }
        assert!(Format::from_index(FORMATS).is_none());
    }
}
