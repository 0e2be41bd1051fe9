//! Fuzz target `filters`: see `../common/checks.rs` (`filters`) for the input
//! and the properties checked.

#![no_main]

#[path = "../common/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::filters(data));
