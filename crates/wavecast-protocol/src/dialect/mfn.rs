//! The MFN dialect (seeds 000, 001): the native shapes, with message types
//! accepted in any case (the documents write `INIT`, `AUTH`, `SUBSCRIBE`,
//! `PONG`) and answered in the case the client writes: a client that sends
//! `INIT` gets `INIT`, `SUBSCRIBE_SUCCESS`, `FEATURE_UPDATE`, `HEARTBEAT`.

/// Whether a client's message type is written in upper case (the server
/// then answers in upper case).
pub fn shouts(kind: &str) -> bool {
    kind.bytes().any(|b| b.is_ascii_alphabetic()) && !kind.bytes().any(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    #[test]
    fn upper_case_types() {
        assert!(super::shouts("INIT"));
        assert!(super::shouts("SUBSCRIBE_SUCCESS"));
        assert!(!super::shouts("init"));
        assert!(!super::shouts("Init"));
        assert!(!super::shouts("_"));
    }
}
