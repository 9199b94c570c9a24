#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| netcluster_control::fuzz::local(data));
