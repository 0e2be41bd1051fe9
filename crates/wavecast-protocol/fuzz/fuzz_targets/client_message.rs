//! Fuzz target `client_message`: see `../common/checks.rs` (`client_message`) for the input
//! and the properties checked.

#![no_main]

#[path = "../common/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::client_message(data));
