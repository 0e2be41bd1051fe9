//! Replays the fuzz corpus (`fuzz/corpus/<target>/`: the seeds and every
//! input the fuzzer kept) through the fuzz targets' checks, on stable
//! Rust, so the parser properties stay tested in CI without a fuzzer.

#[path = "../fuzz/common/checks.rs"]
mod checks;

#[path = "support/corpus.rs"]
mod corpus;

fn replay(target: &str, check: fn(&[u8])) {
    corpus::replay(env!("CARGO_MANIFEST_DIR"), target, check);
}

#[test]
fn client_message_corpus_replays_cleanly() {
    replay("client_message", checks::client_message);
}

#[test]
fn channel_corpus_replays_cleanly() {
    replay("channel", checks::channel);
}

#[test]
fn dialects_corpus_replays_cleanly() {
    replay("dialects", checks::dialects);
}
