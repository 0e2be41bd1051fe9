//! Fuzz target `dialects`: see `../common/checks.rs` (`dialects`) for the input
//! and the properties checked.

#![no_main]

#[path = "../common/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::dialects(data));
