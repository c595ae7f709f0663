#![no_main]
// See ibws_tests::fuzz_targets::bridge_frame.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibws_tests::fuzz_targets::bridge_frame(data));
