//! The `connection` fuzz target's driver, run in the normal test suite: every
//! committed seed of `fuzz/corpus/connection`, then random scripts built on a
//! real upgrade, must run without a panic and leave the shard consistent.

use proptest::prelude::*;
use roomcast_server::fuzzing::drive_connection;

#[test]
fn every_seed_runs_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/connection");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        drive_connection(&bytes);
        n += 1;
    }
    assert!(n >= 6, "{n} seeds");
}

fn upgrade_script() -> Vec<u8> {
    let req = b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut out = Vec::new();
    for c in req.chunks(64) {
        out.push((c.len() - 1) as u8);
        out.extend_from_slice(c);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_scripts_after_an_upgrade_run_clean(tail in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut script = upgrade_script();
        script.extend_from_slice(&tail);
        drive_connection(&script);
    }

    #[test]
    fn random_scripts_run_clean(script in proptest::collection::vec(any::<u8>(), 0..2000)) {
        drive_connection(&script);
    }
}
