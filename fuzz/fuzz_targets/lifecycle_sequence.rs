#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| alertgate::fuzz::check("lifecycle_sequence", data));
