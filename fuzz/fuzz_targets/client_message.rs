#![no_main]
// See ibws_tests::fuzz_targets::client_message.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibws_tests::fuzz_targets::client_message(data));
