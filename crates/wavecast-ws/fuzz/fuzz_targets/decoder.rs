//! Fuzz target `decoder`: see `../common/decoder_check.rs` for the input
//! layout and the properties checked.

#![no_main]

#[path = "../common/decoder_check.rs"]
mod decoder_check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoder_check::check_input(data));
