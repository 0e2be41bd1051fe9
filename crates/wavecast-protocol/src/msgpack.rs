//! MessagePack: the same messages as JSON, encoded as MessagePack maps
//! (negotiated with `Sec-WebSocket-Protocol: wavecast.v1.msgpack` or
//! `?format=msgpack`). A publication's data published as JSON is
//! transcoded once per publication, never per subscriber.

use serde_json::Value;

use crate::codes::ErrorCode;
use crate::to_server::ParseError;

/// A JSON value as MessagePack (maps keep their keys).
pub fn encode(v: &Value) -> Vec<u8> {
    // Serializing a JSON value cannot fail: every JSON value has a
    // MessagePack form.
    rmp_serde::to_vec(v).unwrap_or_default()
}

/// A MessagePack message as a JSON value. Binary strings become arrays
/// of numbers; map keys must be strings.
pub fn decode(bytes: &[u8]) -> Result<Value, ParseError> {
    rmp_serde::from_slice::<Value>(bytes).map_err(|e| {
        ParseError::new(
            ErrorCode::InvalidJson,
            format!("invalid MessagePack message: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_errors() {
        let v = json!({"type":"publication","channel":"c","data":{"x":[1,2.5,"s",null,true]},"offset":3});
        assert_eq!(decode(&encode(&v)).unwrap(), v);
        assert!(encode(&v).len() < v.to_string().len());
        assert_eq!(decode(b"\xc1").unwrap_err().code, ErrorCode::InvalidJson);
    }
}
