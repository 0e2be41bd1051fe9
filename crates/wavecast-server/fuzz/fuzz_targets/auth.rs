//! Fuzz target `auth`: see `../common/checks.rs` (`auth`) for the input
//! and the properties checked.

#![no_main]

#[path = "../common/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::auth(data));
