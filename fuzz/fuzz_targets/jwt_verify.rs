#![no_main]
// See ibws_tests::fuzz_targets::jwt_verify.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ibws_tests::fuzz_targets::jwt_verify(data));
