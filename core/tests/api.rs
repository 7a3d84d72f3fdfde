//! The public API as a user meets it: bad input, socket-id rooms, backlogs and slow
//! consumers, and resourceful pub/sub payloads.

use roomcast::wire::split_frames;
use roomcast::{
    CloseCause, Engine, EngineConfig, Error, Frame, LeaveAllOptions, MemoryWriter, NodeId,
    RecordId, Shard, SocketId,
};

fn one_shard() -> (Engine, Shard) {
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    (engine, shards.pop().unwrap())
}

fn tick(shard: &mut Shard, w: &mut MemoryWriter) {
    shard.process_ops();
    shard.drain(w);
    shard.validate().unwrap();
}

#[test]
fn bad_room_names_are_refused_and_change_nothing() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    let long = "x".repeat(257);
    for bad in ["", long.as_str()] {
        let e = engine.join(a, bad).unwrap_err();
        assert!(matches!(e, Error::InvalidRoomName { max: 256, .. }), "{e}");
        assert!(matches!(
            engine.leave(a, bad),
            Err(Error::InvalidRoomName { .. })
        ));
        assert!(matches!(
            engine.broadcast(["ok", bad], None, &1, None),
            Err(Error::InvalidRoomName { .. })
        ));
        assert!(matches!(
            engine.leave_all(bad, LeaveAllOptions::default()),
            Err(Error::InvalidRoomName { .. })
        ));
        assert!(matches!(
            engine.add_room_members_to_rooms("ok", bad),
            Err(Error::InvalidRoomName { .. })
        ));
        assert!(matches!(
            engine.remove_room_members_from_rooms(bad, "ok"),
            Err(Error::InvalidRoomName { .. })
        ));
        assert!(matches!(
            shard.join(a, bad),
            Err(Error::InvalidRoomName { .. })
        ));
    }
    assert_eq!(
        Error::InvalidRoomName { len: 0, max: 256 }.to_string(),
        "room name is empty"
    );
    // 256 bytes is fine, and so is any UTF-8.
    engine.join(a, &"y".repeat(256)).unwrap();
    engine.join(a, "чат 🎉").unwrap();
    let mut w = MemoryWriter::default();
    tick(&mut shard, &mut w);
    assert_eq!(shard.rooms_of(a).unwrap().len(), 3);
    // The refused broadcast sent nothing.
    assert!(w.received(a).is_empty());
}

#[test]
fn malformed_and_unknown_ids() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    let gone = shard.connect().unwrap();
    shard.disconnect(gone);
    for bad in ["", "abc", "!!!!!!!!!!!!!!!!!!!!!!!!", &format!("{a}x")] {
        assert!(matches!(engine.join(bad, "r"), Err(Error::MalformedSocketId(s)) if s == bad));
        assert!(matches!(
            engine.emit([bad], None, &1),
            Err(Error::MalformedSocketId(_))
        ));
        assert!(matches!(engine.get(bad), Err(Error::MalformedSocketId(_))));
    }
    // Well-formed but unknown: another shard index, another node, a recycled slot.
    let other_shard = SocketId::from_parts(NodeId::LOCAL, 9, 0, 0, 77);
    let other_node =
        SocketId::from_parts(NodeId::from_raw(5), 0, a.slot(), a.generation(), a.token());
    for unknown in [gone, other_shard, other_node] {
        assert!(!engine.is_connected(unknown));
        assert_eq!(engine.join([a, unknown], "r").unwrap(), vec![unknown]);
        assert_eq!(engine.leave(unknown, "r").unwrap(), vec![unknown]);
        assert!(
            matches!(engine.get(&unknown.to_string()), Err(Error::UnknownSockets(v)) if v == vec![unknown.to_string()])
        );
        assert!(!engine.disconnect(unknown));
    }
    assert_eq!(engine.get(&a.to_string()).unwrap(), a);
    // emit: any unknown id and nobody gets anything; the error lists them all.
    let err = engine
        .emit([a, gone, other_shard], Some("x"), &1)
        .unwrap_err();
    assert_eq!(
        err,
        Error::UnknownSockets(vec![gone.to_string(), other_shard.to_string()])
    );
    assert!(err.to_string().contains(&gone.to_string()));
    let mut w = MemoryWriter::default();
    tick(&mut shard, &mut w);
    assert!(w.received(a).is_empty());
    // A reserved event name is refused before anything is sent.
    assert!(matches!(
        engine.emit(a, Some("disconnect"), &1),
        Err(Error::ReservedEvent(_))
    ));
    assert!(matches!(
        engine.broadcast("r", Some("connect"), &1, None),
        Err(Error::ReservedEvent(_))
    ));
    assert!(matches!(
        engine.blast(Some("newListener"), &1, None),
        Err(Error::ReservedEvent(_))
    ));
    tick(&mut shard, &mut w);
    assert!(w.received(a).is_empty());
    assert!(matches!(
        engine.on_shard(3, |_| {}),
        Err(Error::ShardGone(3))
    ));
}

#[test]
fn socket_id_rooms_are_virtual() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    let b = shard.connect().unwrap();
    let mut w = MemoryWriter::default();
    // Broadcasting to a socket's id reaches it, with no room entry kept.
    engine
        .broadcast(a.to_string(), Some("to-a"), &1, None)
        .unwrap();
    // Another socket may join a's id room explicitly; then both get it.
    engine.join(b, &a.to_string()).unwrap();
    engine
        .broadcast(a.to_string(), Some("to-a"), &2, None)
        .unwrap();
    // Broadcast to both id rooms and a shared room: once each.
    engine.join([a, b], "both").unwrap();
    engine
        .broadcast(
            [a.to_string(), b.to_string(), "both".to_owned()],
            Some("once"),
            &3,
            None,
        )
        .unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(
        split_frames(w.received(a)),
        ["42[\"to-a\",1]", "42[\"to-a\",2]", "42[\"once\",3]"]
    );
    assert_eq!(
        split_frames(w.received(b)),
        ["42[\"to-a\",2]", "42[\"once\",3]"]
    );
    assert_eq!(shard.room_count(), 2, "a's id room (for b) and 'both'");
    // leaveAll never removes the own id room unless asked.
    engine
        .leave_all("both", LeaveAllOptions::default())
        .unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(shard.rooms_of(a).unwrap(), [a.to_string()]);
    assert_eq!(shard.rooms_of(b).unwrap(), [b.to_string()]);
    assert_eq!(shard.room_count(), 0);
    // A socket can leave its own id room, and join it back.
    engine.leave(a, &a.to_string()).unwrap();
    engine.broadcast(a.to_string(), None, &4, None).unwrap();
    engine.join(a, &a.to_string()).unwrap();
    engine.broadcast(a.to_string(), None, &5, None).unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(split_frames(&w.take(a))[3..], ["42[\"message\",5]"]);
}

#[test]
fn partial_writes_keep_order_and_slow_consumers_are_closed() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        outbound_limit: 1000,
        ..EngineConfig::default()
    });
    let mut shard = shards.pop().unwrap();
    let fast = shard.connect().unwrap();
    let slow = shard.connect().unwrap();
    engine.join([fast, slow], "r").unwrap();
    let mut w = MemoryWriter::with_max_per_write(7);
    w.block(slow);
    for i in 0..5 {
        engine.broadcast("r", None, &i, None).unwrap();
    }
    tick(&mut shard, &mut w);
    // The writer took 7 bytes of the fast socket's gather list; the rest waits.
    assert_eq!(w.received(fast).len(), 7);
    assert!(shard.has_backlog(fast));
    // New frames queue behind the backlog without a write being tried.
    let writes = w.writes;
    engine.broadcast("r", None, &5, None).unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(w.writes, writes);
    while !shard.flush(fast, &mut w) {}
    let expect: Vec<String> = (0..6).map(|i| format!("42[\"message\",{i}]")).collect();
    assert_eq!(split_frames(w.received(fast)), expect);
    assert!(!shard.has_backlog(fast));
    // The blocked socket holds everything, in order, until its limit.
    assert_eq!(shard.backlog_bytes(slow), 6 * 17);
    assert!(shard.take_closed().is_empty());
    for i in 0..100 {
        engine.broadcast("r", None, &i, None).unwrap();
        tick(&mut shard, &mut w);
        while !shard.flush(fast, &mut w) {}
    }
    assert_eq!(shard.take_closed(), vec![(slow, CloseCause::SlowConsumer)]);
    assert_eq!(shard.stats().slow_consumers, 1);
    assert!(w.received(slow).is_empty());
    assert!(shard.disconnect(slow));
    assert!(shard.is_connected(fast));
    shard.validate().unwrap();
}

#[test]
fn engine_disconnect_reports_to_the_owner() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    engine.join(a, "r").unwrap();
    assert!(engine.disconnect(a));
    shard.process_ops();
    assert_eq!(shard.take_closed(), vec![(a, CloseCause::Disconnected)]);
    assert!(!engine.is_connected(a));
    assert_eq!(shard.room_count(), 0);
    shard.validate().unwrap();
}

#[test]
fn big_frames_use_long_length_encodings() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    let mut w = MemoryWriter::default();
    for len in [10usize, 200, 70_000] {
        let data = "z".repeat(len);
        engine.emit(a, Some("big"), &data).unwrap();
    }
    tick(&mut shard, &mut w);
    let frames = split_frames(w.received(a));
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[2].len(), "42[\"big\",\"\"]".len() + 70_000);
    // Raw pre-serialized JSON goes in untouched (key order and number text kept).
    let raw = r#"{"z":1.50,"a":[true,null]}"#;
    engine
        .emit_frame(a, &Frame::event_raw("/", "raw", Some(raw)).unwrap())
        .unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(
        split_frames(&w.take(a)).pop().unwrap(),
        format!("42[\"raw\",{raw}]")
    );
}

#[test]
fn resourceful_pubsub_payloads_and_rooms() {
    let (engine, mut shard) = one_shard();
    let watcher = shard.connect().unwrap();
    let sub = shard.connect().unwrap();
    let other = shard.connect().unwrap();
    let mut w = MemoryWriter::default();
    let mut user = engine.model("User").unwrap();
    assert_eq!(user.identity(), "user");
    let seven = RecordId::from(7u64);
    let zero = RecordId::from(0u64);
    let named = RecordId::str("ab").unwrap();
    assert_eq!(user.record_room(&seven), "sails_model_user_7:user");
    assert_eq!(user.watchers_room(), "sails_model_create_user");

    user.watch(watcher).unwrap();
    assert!(user
        .subscribe(sub, &[seven.clone(), zero.clone()])
        .unwrap()
        .is_empty());
    user.message(&seven, &serde_json::json!({"count": 12}), None)
        .unwrap();
    user.publish(
        &[seven.clone(), zero.clone()],
        &serde_json::json!({"x": 1}),
        None,
    )
    .unwrap();
    user.updated(
        &seven,
        &serde_json::json!({"n": "b"}),
        Some(&serde_json::json!({"n": "a"})),
        None,
    )
    .unwrap();
    user.updated(&seven, &serde_json::json!({"n": "c"}), None::<&()>, None)
        .unwrap();
    user.added_to(&seven, "pets", &named, None).unwrap();
    user.removed_from(&seven, "pets", &RecordId::from(3u64), None)
        .unwrap();
    user.created(
        &RecordId::from(8u64),
        &serde_json::json!({"name": "new"}),
        Some(other),
    )
    .unwrap();
    // After `created`, the watcher is subscribed to the new record.
    user.message(&RecordId::from(8u64), &"hi", None).unwrap();
    user.destroyed(&seven, Some(&serde_json::json!({"n": "c"})), None)
        .unwrap();
    // After `destroyed`, nobody is subscribed to record 7.
    user.message(&seven, &"after", None).unwrap();
    tick(&mut shard, &mut w);

    assert_eq!(
        split_frames(w.received(sub)),
        [
            r#"42["user",{"verb":"messaged","id":7,"data":{"count":12}}]"#,
            r#"42["user",{"x":1}]"#,
            r#"42["user",{"verb":"updated","data":{"n":"b"},"id":7,"previous":{"n":"a"}}]"#,
            r#"42["user",{"verb":"updated","data":{"n":"c"},"id":7}]"#,
            r#"42["user",{"id":7,"verb":"addedTo","attribute":"pets","addedId":"ab"}]"#,
            r#"42["user",{"id":7,"verb":"removedFrom","attribute":"pets","removedId":3}]"#,
            r#"42["user",{"verb":"destroyed","id":7,"previous":{"n":"c"}}]"#,
        ]
    );
    assert_eq!(
        split_frames(w.received(watcher)),
        [
            r#"42["user",{"verb":"created","data":{"name":"new"},"id":8}]"#,
            r#"42["user",{"verb":"messaged","id":8,"data":"hi"}]"#,
        ]
    );
    assert!(w.received(other).is_empty());
    // Bad ids and identities.
    assert!(matches!(RecordId::str(""), Err(Error::InvalidRecordId(_))));
    assert!(matches!(
        RecordId::from_json(&serde_json::json!(null)),
        Err(Error::InvalidRecordId(_))
    ));
    assert!(matches!(
        RecordId::from_json(&serde_json::json!("")),
        Err(Error::InvalidRecordId(_))
    ));
    assert_eq!(RecordId::from_json(&serde_json::json!(0)).unwrap(), zero);
    assert!(matches!(engine.model(""), Err(Error::InvalidIdentity(_))));
    assert!(matches!(
        engine.model("connect").unwrap().message(&zero, &1, None),
        Err(Error::ReservedEvent(_))
    ));
    let long = RecordId::str(&"q".repeat(300)).unwrap();
    assert!(matches!(
        user.subscribe(sub, &[long]),
        Err(Error::InvalidRoomName { .. })
    ));
}

#[test]
fn add_and_remove_room_members_word_wise_on_large_rooms() {
    let (engine, mut shard) = one_shard();
    let ids: Vec<SocketId> = (0..5000).map(|_| shard.connect().unwrap()).collect();
    let evens: Vec<SocketId> = ids.iter().step_by(2).copied().collect();
    engine.join(ids.as_slice(), "all").unwrap();
    engine.join(evens.as_slice(), "evens").unwrap();
    engine
        .add_room_members_to_rooms("evens", ["dest", "dest2"])
        .unwrap();
    engine
        .remove_room_members_from_rooms("evens", "all")
        .unwrap();
    shard.process_ops();
    shard.validate().unwrap();
    assert_eq!(shard.room_members("dest"), evens);
    assert_eq!(shard.room_members("all").len(), 2500);
    assert!(shard
        .room_members("all")
        .iter()
        .all(|id| !evens.contains(id)));
    engine.leave_all("all", LeaveAllOptions::default()).unwrap();
    shard.process_ops();
    assert_eq!(shard.room_members("all"), Vec::<SocketId>::new());
    assert_eq!(shard.membership_count(), 2500 * 2 + 2500);
    // Disconnecting everyone leaves no rooms behind.
    for id in ids {
        shard.disconnect(id);
    }
    assert_eq!(shard.room_count(), 0);
    assert_eq!(shard.membership_count(), 0);
    shard.validate().unwrap();
}

#[test]
fn deactivated_sockets_leave_everything_but_can_still_be_sent_to() {
    let (engine, mut shard) = one_shard();
    let a = shard.connect().unwrap();
    let b = shard.connect().unwrap();
    engine.join([a, b], "r").unwrap();
    shard.process_ops();
    assert!(shard.deactivate(a));
    assert!(!shard.deactivate(a), "already inactive");
    assert!(!engine.is_connected(a));
    assert_eq!(shard.rooms_of(a), None);
    assert_eq!(shard.room_members("r"), vec![b]);
    engine.blast(Some("all"), &1, None).unwrap();
    engine
        .broadcast(a.to_string(), Some("own"), &2, None)
        .unwrap();
    assert!(shard.send(a, Frame::text("3").into_bytes()));
    let mut w = MemoryWriter::default();
    tick(&mut shard, &mut w);
    assert_eq!(split_frames(w.received(a)), ["3"]);
    assert_eq!(split_frames(w.received(b)), ["42[\"all\",1]"]);
    // Back in: its own id room again, and blasts reach it.
    assert!(shard.activate(a));
    engine.blast(Some("all"), &4, None).unwrap();
    tick(&mut shard, &mut w);
    assert_eq!(split_frames(&w.take(a)), ["3", "42[\"all\",4]"]);
    assert_eq!(shard.rooms_of(a).unwrap(), [a.to_string()]);
}

#[test]
fn except_rooms_exclude_their_members_from_broadcasts_and_blasts() {
    use roomcast::op::{Broadcast, Op, Room};
    let (engine, mut shard) = one_shard();
    let mut w = MemoryWriter::default();
    let ids: Vec<SocketId> = (0..6).map(|_| shard.connect().unwrap()).collect();
    engine.join(&ids[..4], "all4").unwrap();
    engine.join([ids[1], ids[2]], "muted").unwrap();
    engine.join([ids[4], ids[5]], "other").unwrap();
    // Enough sockets in one room for its dense form too.
    let many: Vec<SocketId> = (0..200).map(|_| shard.connect().unwrap()).collect();
    engine.join(&many[..], "big").unwrap();
    engine.join(&many[..100], "half").unwrap();
    tick(&mut shard, &mut w);
    let frame = |n: u32| Frame::event_raw("/", "e", Some(&n.to_string())).unwrap();
    let broadcast = |rooms: &[&str], except: &[&str], omit, n| {
        Op::Broadcast(std::sync::Arc::new(Broadcast {
            rooms: rooms.iter().map(|r| Room::new(r)).collect(),
            frame: frame(n),
            omit,
            except: except.iter().map(|r| Room::new(r)).collect(),
        }))
    };
    // socket.io: io.to("all4").to("other").except("muted").except(<id 5>)
    let id5 = ids[5].to_string();
    engine.apply_remote(broadcast(&["all4", "other"], &["muted", &id5], None, 1));
    // Blast but "all4", omitting socket 4 as well.
    engine.apply_remote(Op::Blast {
        frame: frame(2),
        omit: Some(ids[4]),
        except: vec![Room::new("all4")],
    });
    // A large room minus a large room.
    engine.apply_remote(broadcast(&["big"], &["half"], None, 3));
    tick(&mut shard, &mut w);
    let got = |id: SocketId, w: &mut MemoryWriter| split_frames(&w.take(id));
    assert_eq!(got(ids[0], &mut w), ["42[\"e\",1]"]);
    assert!(got(ids[1], &mut w).is_empty(), "muted");
    assert!(got(ids[2], &mut w).is_empty(), "muted");
    assert_eq!(got(ids[3], &mut w), ["42[\"e\",1]"]);
    assert_eq!(
        got(ids[4], &mut w),
        ["42[\"e\",1]"],
        "omitted from the blast"
    );
    assert_eq!(
        got(ids[5], &mut w),
        ["42[\"e\",2]"],
        "its id room excluded it from 1"
    );
    for (i, id) in many.iter().enumerate() {
        let want: &[&str] = if i < 100 {
            &["42[\"e\",2]"]
        } else {
            &["42[\"e\",2]", "42[\"e\",3]"]
        };
        assert_eq!(got(*id, &mut w), want, "big member {i}");
    }
}

#[test]
fn selected_sockets_join_leave_or_disconnect_and_can_be_listed() {
    use roomcast::op::{Op, Room, Selected, SelectedAction};
    use roomcast::{Answer, Query};
    let (engine, mut shard) = one_shard();
    let mut w = MemoryWriter::default();
    let ids: Vec<SocketId> = (0..6).map(|_| shard.connect().unwrap()).collect();
    engine.join(&ids[..4], "a").unwrap();
    engine.join([ids[1]], "muted").unwrap();
    engine.join([ids[4]], "b").unwrap();
    // More sockets than one word of the bitsets.
    let many: Vec<SocketId> = (0..130).map(|_| shard.connect().unwrap()).collect();
    engine.join(&many[..], "big").unwrap();
    tick(&mut shard, &mut w);
    let rooms = |names: &[&str]| names.iter().map(|r| Room::new(r)).collect::<Vec<_>>();
    let selected = |r: &[&str], e: &[&str], action| {
        Op::Selected(std::sync::Arc::new(Selected {
            rooms: rooms(r),
            except: rooms(e),
            action,
        }))
    };
    // io.in(["a", <id 4>]).except("muted").socketsJoin(["x", "y"])
    let id4 = ids[4].to_string();
    engine.apply_remote(selected(
        &["a", &id4],
        &["muted"],
        SelectedAction::Join(rooms(&["x", "y"])),
    ));
    tick(&mut shard, &mut w);
    let expect_x = [ids[0], ids[2], ids[3], ids[4]];
    assert_eq!(shard.room_members("x"), expect_x);
    assert_eq!(shard.room_members("y"), expect_x);
    // io.except("a").socketsLeave("y"): every socket but a's members.
    engine.apply_remote(selected(&[], &["a"], SelectedAction::Leave(rooms(&["y"]))));
    tick(&mut shard, &mut w);
    assert_eq!(shard.room_members("y"), [ids[0], ids[2], ids[3]]);
    // fetchSockets(): the selection, with rooms; a limit caps the list, not the count.
    let q = Query::Sockets {
        rooms: rooms(&["x"]),
        except: rooms(&[&ids[0].to_string()]),
        limit: 2,
    };
    let Answer::Sockets { count, sockets } = shard.answer(&q) else {
        panic!()
    };
    assert_eq!(count, 3);
    assert_eq!(sockets.len(), 2);
    assert_eq!(sockets[0].id, ids[2]);
    assert_eq!(
        sockets[0].rooms,
        [ids[2].to_string(), "a".into(), "x".into(), "y".into()]
    );
    let all = Query::Sockets {
        rooms: Vec::new(),
        except: Vec::new(),
        limit: 1000,
    };
    let Answer::Sockets { count, .. } = shard.answer(&all) else {
        panic!()
    };
    assert_eq!(count, 136);
    // allRooms(): names, sorted, socket-id rooms left out.
    assert_eq!(
        shard.answer(&Query::Rooms { limit: 3 }),
        Answer::Rooms {
            rooms: vec!["a".into(), "b".into(), "big".into()]
        }
    );
    // io.in("big").disconnectSockets(): the whole room, past the first word.
    engine.apply_remote(selected(&["big"], &[], SelectedAction::Disconnect));
    tick(&mut shard, &mut w);
    let closed = shard.take_closed();
    assert_eq!(closed.len(), 130);
    assert!(closed
        .iter()
        .all(|(id, c)| many.contains(id) && *c == CloseCause::Disconnected));
    assert_eq!(shard.socket_count(), 6);
    assert!(shard.room_members("big").is_empty());
    // Bad room names are refused like any op's.
    assert!(selected(&[""], &[], SelectedAction::Disconnect)
        .validate(64)
        .is_err());
}
