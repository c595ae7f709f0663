#![no_main]
// See ibws_tests::fuzz_targets::http_head.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibws_tests::fuzz_targets::http_head(data));
