//! The `cluster_messages` fuzz target's driver, run in the normal test suite:
//! the committed seeds (what arrives from Redis: RESP pushes of real messages,
//! gaps, duplicates, restarts, junk), then random mutations of them, must run
//! without a panic with every invariant holding (bounded reader, round-trip
//! encoding, each sender's stream delivered in increasing order).

use proptest::prelude::*;
use roomcast_server::fuzzing::{cluster_message_seeds, drive_cluster_messages};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fuzz/corpus/cluster_messages"
);

#[test]
fn every_seed_runs_clean_and_the_committed_corpus_holds_them() {
    let seeds = cluster_message_seeds();
    let runs: Vec<(usize, usize)> = seeds.iter().map(|s| drive_cluster_messages(s)).collect();
    // The scripted seeds decode, and deliver in order what they should: all but
    // the duplicate; the gap's five once the replays came; of the heartbeat
    // script only the first op (the heartbeat announced up to 9, `Gone` gave
    // up on 6 to 8, so 10 waits for 9); the restart's two.
    assert_eq!(&runs[..4], [(3, 2), (5, 5), (4, 1), (3, 2)]);
    assert_eq!(&runs[4..], [(0, 0), (0, 0)], "junk decodes to nothing");
    let mut n = 0;
    for entry in std::fs::read_dir(CORPUS).expect("the seed corpus") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        drive_cluster_messages(&bytes);
        n += 1;
    }
    assert!(n >= seeds.len(), "{n} seeds in {CORPUS}");
}

/// Writes the seeds to `fuzz/corpus/cluster_messages` (run by hand after the
/// message format changes: `cargo test --features fuzzing --test
/// cluster_messages_driver -- --ignored`).
#[test]
#[ignore = "rewrites the committed seed corpus"]
fn write_seed_corpus() {
    std::fs::create_dir_all(CORPUS).unwrap();
    for (i, s) in cluster_message_seeds().iter().enumerate() {
        std::fs::write(format!("{CORPUS}/seed-{i:02}"), s).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn mutated_seeds_run_clean(
        pick in 0usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let seeds = cluster_message_seeds();
        let mut s = seeds[pick % seeds.len()].clone();
        for (at, b) in flips {
            let i = at % s.len();
            s[i] = b;
        }
        s.truncate(cut % (s.len() + 1));
        drive_cluster_messages(&s);
    }
}
