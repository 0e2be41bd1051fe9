//! How an upstream answer's body is cut into events, by its content type:
//! NDJSON (one JSON object per line; blank lines are skipped) or
//! server-sent events (`data:` lines, joined by newlines, end at a blank
//! line; `event:` names the type; comments and `id:`/`retry:` are
//! ignored).
//!
//! Invariants: the decoder is fed the body's chunks as they come and
//! yields each event once it is complete, whatever the chunking; no line
//! or event may grow past the configured maximum (an error, not an
//! unbounded buffer); a line ends at `\n`, and a `\r` before it is
//! dropped.

use bytes::{Bytes, BytesMut};

/// How events are framed in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Ndjson,
    Sse,
}

impl Framing {
    /// The framing of a `content-type`, or `None` for any other type.
    pub fn of_content_type(content_type: &str) -> Option<Framing> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/event-stream" => Some(Framing::Sse),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines"
            | "application/json" => Some(Framing::Ndjson),
            _ => None,
        }
    }
}

/// One event's JSON text, and its SSE `event:` name if it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    pub text: Bytes,
    pub name: Option<String>,
}

/// Cuts a body into [`Payload`]s.
pub struct Decoder {
    framing: Framing,
    buf: BytesMut,
    /// The first bytes of `buf` that hold no newline.
    scanned: usize,
    max: usize,
    /// The SSE event being read.
    data: Vec<u8>,
    has_data: bool,
    name: Option<String>,
}

impl Decoder {
    /// A decoder whose lines and events may hold up to `max` bytes.
    pub fn new(framing: Framing, max: usize) -> Decoder {
        Decoder {
            framing,
            buf: BytesMut::new(),
            scanned: 0,
            max,
            data: Vec::new(),
            has_data: false,
            name: None,
        }
    }

    /// Adds the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event of what was pushed, if any.
    pub fn next_payload(&mut self) -> Result<Option<Payload>, String> {
        while let Some(line) = self.line()? {
            if let Some(p) = self.take(line)? {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// At the end of the body: an event left without its line end (or,
    /// for SSE, without its blank line).
    pub fn finish(&mut self) -> Result<Option<Payload>, String> {
        if !self.buf.is_empty() {
            let mut rest = self.buf.split();
            if rest.last() == Some(&b'\r') {
                rest.truncate(rest.len() - 1);
            }
            if let Some(p) = self.take(rest.freeze())? {
                return Ok(Some(p));
            }
        }
        Ok(self.dispatch())
    }

    fn too_large(&self) -> String {
        format!(
            "an event is larger than {} bytes (agents.max_event_bytes)",
            self.max
        )
    }

    /// The next whole line, without its line end.
    fn line(&mut self) -> Result<Option<Bytes>, String> {
        match self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
            Some(i) => {
                let end = self.scanned + i;
                let mut line = self.buf.split_to(end + 1);
                line.truncate(if end > 0 && line[end - 1] == b'\r' {
                    end - 1
                } else {
                    end
                });
                self.scanned = 0;
                if line.len() > self.max {
                    return Err(self.too_large());
                }
                Ok(Some(line.freeze()))
            }
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() > self.max {
                    return Err(self.too_large());
                }
                Ok(None)
            }
        }
    }

    fn take(&mut self, line: Bytes) -> Result<Option<Payload>, String> {
        match self.framing {
            Framing::Ndjson if line.iter().all(u8::is_ascii_whitespace) => Ok(None),
            Framing::Ndjson => Ok(Some(Payload {
                text: line,
                name: None,
            })),
            Framing::Sse => self.sse_line(&line),
        }
    }

    fn sse_line(&mut self, line: &[u8]) -> Result<Option<Payload>, String> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line[0] == b':' {
            return Ok(None);
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > self.max {
                    return Err(self.too_large());
                }
            }
            b"event" => self.name = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<Payload> {
        let name = self.name.take();
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(Payload {
            text: Bytes::from(std::mem::take(&mut self.data)),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every payload of `body` fed in chunks of `step` bytes.
    fn all(framing: Framing, body: &[u8], step: usize) -> Result<Vec<Payload>, String> {
        let mut d = Decoder::new(framing, 64);
        let mut out = Vec::new();
        for chunk in body.chunks(step) {
            d.push(chunk);
            while let Some(p) = d.next_payload()? {
                out.push(p);
            }
        }
        out.extend(d.finish()?);
        Ok(out)
    }

    fn texts(ps: &[Payload]) -> Vec<&[u8]> {
        ps.iter().map(|p| &p.text[..]).collect()
    }

    #[test]
    fn ndjson_lines_whatever_the_chunking() {
        let body = b"{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}";
        for step in 1..body.len() {
            let ps = all(Framing::Ndjson, body, step).unwrap();
            assert_eq!(
                texts(&ps),
                [&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"],
                "{step}"
            );
        }
    }

    #[test]
    fn sse_events_whatever_the_chunking() {
        let body = b": keepalive\nevent: partial_result\ndata: {\"a\":\ndata:1}\nid: 4\n\ndata: {\"b\":2}\r\n\r\ndata: {\"c\":3}\n";
        for step in 1..body.len() {
            let ps = all(Framing::Sse, body, step).unwrap();
            assert_eq!(
                texts(&ps),
                [&b"{\"a\":\n1}"[..], b"{\"b\":2}", b"{\"c\":3}"],
                "{step}"
            );
            assert_eq!(ps[0].name.as_deref(), Some("partial_result"));
            assert_eq!(ps[1].name, None);
        }
    }

    #[test]
    fn oversized_lines_and_events_are_refused() {
        let long = format!("{{\"a\":\"{}\"}}\n", "x".repeat(80));
        assert!(all(Framing::Ndjson, long.as_bytes(), 7)
            .unwrap_err()
            .contains("larger than 64 bytes"));
        let no_newline = "x".repeat(65);
        assert!(all(Framing::Ndjson, no_newline.as_bytes(), 100).is_err());
        let many = "data: 0123456789\n".repeat(8);
        assert!(all(Framing::Sse, many.as_bytes(), 5).is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Framing::of_content_type("text/event-stream; charset=utf-8"),
            Some(Framing::Sse)
        );
        assert_eq!(
            Framing::of_content_type("application/x-ndjson"),
            Some(Framing::Ndjson)
        );
        assert_eq!(
            Framing::of_content_type("Application/JSON"),
            Some(Framing::Ndjson)
        );
        assert_eq!(Framing::of_content_type("text/html"), None);
    }
}
