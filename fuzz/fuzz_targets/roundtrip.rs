#![no_main]
// Any frame: the core decodes discovery and link frames, the control crate
// admin and tracker frames; each refuses the others' without reading them.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    netcluster_core::fuzz::roundtrip(data);
    netcluster_control::fuzz::roundtrip(data);
});
