#![no_main]
//! Replays `Arbitrary` operation sequences on an engine and on the reference model
//! (`roomcast::model_check`), comparing membership, received frames and invariants
//! after every step. Any disagreement or panic is a finding.

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use roomcast::model_check::{run, Op, Via};

#[derive(Debug, Arbitrary)]
struct Input {
    shards: u8,
    budget: Vec<u8>,
    /// Bitset threshold: small values reach dense room sets with few sockets.
    dense: u8,
    ops: Vec<(Op, Via)>,
}

fuzz_target!(|input: Input| {
    let ops = &input.ops[..input.ops.len().min(200)];
    let budget: Vec<usize> = input
        .budget
        .iter()
        .take(8)
        .map(|&b| if b == 0 { usize::MAX } else { usize::from(b) })
        .collect();
    let dense_room_min = match input.dense % 8 {
        0 => 64,
        d => usize::from(d),
    };
    run(usize::from(input.shards % 3) + 1, ops, budget, dense_room_min);
});
