#![no_main]
// See ibws_tests::fuzz_targets::ws_frames.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibws_tests::fuzz_targets::ws_frames(data));
