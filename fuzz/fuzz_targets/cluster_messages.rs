#![no_main]
//! What arrives from Redis (`roomcast_server::fuzzing::drive_cluster_messages`):
//! arbitrary bytes through the subscriber's bounded RESP reader, in chunks, every
//! bulk string through the cluster envelope decoder, every message through the
//! inbox that orders, de-duplicates and repairs each sender's streams. Any
//! panic or broken invariant is a finding.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    roomcast_server::fuzzing::drive_cluster_messages(data);
});
