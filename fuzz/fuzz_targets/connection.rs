#![no_main]
//! A whole connection driven with arbitrary client bytes, time and end of input
//! (`roomcast_server::fuzzing::drive_connection`): HTTP, the upgrade, WebSocket
//! frames, Engine.IO and Socket.IO packets, virtual requests and routes, timers
//! and shutdown, on a real shard whose invariants are checked after every step.
//! Any panic is a finding.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    roomcast_server::fuzzing::drive_connection(data);
});
