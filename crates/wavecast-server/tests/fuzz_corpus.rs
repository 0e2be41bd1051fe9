//! Replays the fuzz corpus (`fuzz/corpus/<target>/`: the seeds and every
//! input the fuzzer kept) through the fuzz targets' checks, on stable
//! Rust, so the JWT, HMAC, glob and filter properties stay tested in CI
//! without a fuzzer.

#[path = "../fuzz/common/checks.rs"]
mod checks;

#[path = "../../wavecast-protocol/tests/support/corpus.rs"]
mod corpus;

fn replay(target: &str, check: fn(&[u8])) {
    corpus::replay(env!("CARGO_MANIFEST_DIR"), target, check);
}

#[test]
fn auth_corpus_replays_cleanly() {
    replay("auth", checks::auth);
}

#[test]
fn filters_corpus_replays_cleanly() {
    replay("filters", checks::filters);
}
