//! Replays one fuzz target's committed corpus (`fuzz/corpus/<target>/`
//! under the crate that includes this file: the seeds and every input the
//! fuzzer kept) through the target's checks, on stable Rust. Shared by the
//! protocol's and the server's `tests/fuzz_corpus.rs` (`#[path]`).

/// Runs `check` on every file of the corpus of `target` in the crate at
/// `manifest_dir`; fails on a panic, or when the corpus has under 10 files.
pub fn replay(manifest_dir: &str, target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(manifest_dir)
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
