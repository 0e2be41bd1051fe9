//! The error fields of the stream endpoints: the protocol's (`code`,
//! `error`, `recoverable`, `help`, `timestamp`), except that help which
//! points to the channel protocol points to the stream protocol
//! (docs/mfn.md) instead.

use serde_json::{Map, Value};
use wavecast_protocol::to_client::error_fields;
use wavecast_protocol::ErrorCode;

/// `error_fields` with help for the stream endpoints.
pub fn stream_error_fields(code: ErrorCode, message: &str) -> Map<String, Value> {
    let mut f = error_fields(code, message);
    if code == ErrorCode::InvalidField {
        f.insert(
            "help".into(),
            Value::from("see docs/mfn.md for the fields of the stream messages"),
        );
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_field_points_to_the_stream_protocol() {
        let f = stream_error_fields(ErrorCode::InvalidField, "params.x: no such parameter");
        assert_eq!(
            f["help"],
            "see docs/mfn.md for the fields of the stream messages"
        );
        let g = stream_error_fields(ErrorCode::TooManyStreams, "busy");
        assert_eq!(g["help"], ErrorCode::TooManyStreams.help());
    }
}
