#![no_main]
// Placeholder until this target's module lands.
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
