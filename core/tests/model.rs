//! Random operation sequences against a plain map-of-sets model: membership, every
//! socket's exact received frames, and `validate()` after each step (the harness is
//! `roomcast::model_check`, shared with the `engine_ops` fuzz target).

use proptest::prelude::*;
use roomcast::model_check::{run, Op, RoomPick, Via};
use roomcast::{Engine, EngineConfig, LeaveAllOptions};

fn room() -> impl Strategy<Value = RoomPick> {
    prop_oneof![3 => (0u8..5).prop_map(RoomPick::Named), 1 => any::<u8>().prop_map(RoomPick::Socket)]
}

fn socks() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<u8>().prop_map(Op::Connect),
        1 => any::<u8>().prop_map(Op::Disconnect),
        6 => (socks(), room()).prop_map(|(s, r)| Op::Join(s, r)),
        2 => (socks(), room()).prop_map(|(s, r)| Op::Leave(s, r)),
        5 => (proptest::collection::vec(room(), 0..4), proptest::option::of(any::<u8>()))
            .prop_map(|(r, o)| Op::Broadcast(r, o)),
        1 => proptest::option::of(any::<u8>()).prop_map(Op::Blast),
        2 => socks().prop_map(Op::Emit),
        1 => (room(), any::<bool>(), any::<bool>()).prop_map(|(r, a, b)| Op::LeaveAll(r, a, b)),
        1 => (room(), proptest::collection::vec(room(), 0..3)).prop_map(|(s, d)| Op::AddMembers(s, d)),
        1 => (room(), proptest::collection::vec(room(), 0..3)).prop_map(|(s, d)| Op::RemoveMembers(s, d)),
        3 => Just(Op::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_model(
        shards in 1usize..4,
        ops in proptest::collection::vec((op(), proptest::option::of(any::<u8>())), 1..80),
        budget in proptest::collection::vec(prop_oneof![3 => Just(usize::MAX), 1 => 1usize..40], 1..6),
        // Low thresholds turn rooms of a few sockets into bitsets (and back).
        dense_room_min in prop_oneof![1 => Just(64usize), 3 => 1usize..5],
    ) {
        run(shards, &ops, budget, dense_room_min);
    }
}

/// The random sequences above reach bitset rooms; this fixed one shows it: ten
/// sockets on two shards join a room one by one (each shard's set turns dense
/// past two members), move to another room and back, and leave.
#[test]
fn dense_room_sets_are_reached_and_left() {
    let mut ops: Vec<(Op, Via)> = Vec::new();
    for i in 0..10u8 {
        ops.push((Op::Connect(i), None));
    }
    for i in 0..10u8 {
        ops.push((Op::Join(vec![i], RoomPick::Named(0)), Some(i)));
        ops.push((
            Op::Broadcast(vec![RoomPick::Named(0), RoomPick::Named(1)], None),
            None,
        ));
    }
    ops.push((
        Op::AddMembers(RoomPick::Named(0), vec![RoomPick::Named(1)]),
        None,
    ));
    ops.push((
        Op::Broadcast(vec![RoomPick::Named(0), RoomPick::Named(1)], Some(3)),
        None,
    ));
    ops.push((
        Op::RemoveMembers(RoomPick::Named(1), vec![RoomPick::Named(0)]),
        None,
    ));
    ops.push((Op::Tick, None));
    for i in 0..10u8 {
        ops.push((Op::Leave(vec![i], RoomPick::Named(1)), None));
    }
    let stats = run(2, &ops, vec![usize::MAX, 7], 2);
    assert!(stats.max_dense_rooms >= 2, "{stats:?}");
    assert!(stats.steps_with_dense_rooms >= 10, "{stats:?}");
}

#[test]
fn leave_all_keeps_source_room_when_asked() {
    // A fixed case the model covers too, spelled out for readers.
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    let s = &mut shards[0];
    let a = s.connect().unwrap();
    s.join(a, "src").unwrap();
    s.join(a, "other").unwrap();
    s.leave_all(
        "src",
        LeaveAllOptions {
            include_socket_rooms: false,
            include_source_room: false,
        },
    )
    .unwrap();
    assert_eq!(
        s.rooms_of(a).unwrap(),
        vec![a.to_string(), "src".to_owned()]
    );
    s.leave_all(
        "src",
        LeaveAllOptions {
            include_socket_rooms: true,
            include_source_room: true,
        },
    )
    .unwrap();
    assert_eq!(s.rooms_of(a).unwrap(), Vec::<String>::new());
    assert_eq!(s.room_count(), 0);
    s.validate().unwrap();
    drop(engine);
}
