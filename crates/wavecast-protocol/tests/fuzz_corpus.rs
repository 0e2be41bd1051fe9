//! Replays the fuzz corpus (`fuzz/corpus/<target>/`: the seeds and every
//! input the fuzzer kept) through the fuzz targets' checks, on stable
//! Rust, so the parser properties stay tested in CI without a fuzzer.

#[path = "../fuzz/common/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", path.display());
        n += 1;
    }
    assert!(n >= 10, "only {n} corpus files in {}", dir.display());
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
