//! Replays the fuzz corpus (`fuzz/corpus/decoder/`: the seeds and every
//! input the fuzzer kept) through the fuzz target's checks, on stable
//! Rust, so the streaming and safety properties stay tested in CI.

#[path = "../fuzz/common/decoder_check.rs"]
mod decoder_check;

#[test]
fn fuzz_corpus_replays_cleanly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decoder");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        decoder_check::check_input(&data);
        n += 1;
    }
    assert!(n >= 10, "only {n} corpus files in {}", dir.display());
}
