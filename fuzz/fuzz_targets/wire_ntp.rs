#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udpkit_testing::fuzz::wire_ntp(data));
