#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| udpkit_testing::fuzz::sntp(data));
