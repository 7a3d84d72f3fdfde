#![no_main]
//! What a socket.io cluster publishes on Redis
//! (`roomcast_server::fuzzing::drive_compat_messages`): arbitrary bytes through
//! the @socket.io/redis-adapter 8 codec — broadcasts, requests, responses,
//! notepack values, channel names (the first byte picks which). Any panic, or
//! a decoded message that does not survive encode → decode unchanged, is a
//! finding. Seeds: `fuzz/corpus/compat_messages/` (the captured fixtures).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    roomcast_server::fuzzing::drive_compat_messages(data);
});
