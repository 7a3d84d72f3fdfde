//! Bounded resources and honest answers at the core: mailboxes that push back,
//! sealed sockets that get nothing after their close, the rooms-per-socket
//! limit, ids forged in any field, and a handler's broadcast never overtaken by
//! its own answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roomcast::wire::split_frames;
use roomcast::{Engine, EngineConfig, Error, Frame, MemoryWriter, SocketId};

fn frame(n: u32) -> Frame {
    Frame::event_raw("/", "n", Some(&n.to_string())).unwrap()
}

#[test]
fn a_full_mailbox_holds_a_shards_mail_in_order_and_bounds_it() {
    let (_engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        mailbox_capacity: 4,
        ..EngineConfig::default()
    });
    let b = shards[1].connect().unwrap();
    shards[1].join(b, "r").unwrap();
    // Shard 0 broadcasts 10 times: 4 fit shard 1's mailbox, 6 are held.
    for i in 0..10 {
        shards[0].broadcast_frame("r", &frame(i), None).unwrap();
    }
    assert!(shards[0].has_held());
    assert!(!shards[0].flush_held(), "still full: nothing moved");
    let mut out = MemoryWriter::default();
    while shards[0].has_held() || shards[1].has_pending_ops() {
        shards[1].process_ops();
        shards[1].drain(&mut out);
        shards[0].flush_held();
    }
    let got = split_frames(out.received(b));
    let want: Vec<String> = (0..10).map(|i| format!(r#"42["n",{i}]"#)).collect();
    assert_eq!(got, want, "every broadcast, once, in order");
}

#[test]
fn an_engine_handle_waits_for_room_instead_of_growing_the_mailbox() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        mailbox_capacity: 8,
        ..EngineConfig::default()
    });
    let a = shards[0].connect().unwrap();
    shards[0].join(a, "r").unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let d2 = Arc::clone(&done);
    let producer = std::thread::spawn(move || {
        for i in 0..100 {
            engine.broadcast_frame("r", &frame(i), None).unwrap();
        }
        d2.store(true, Ordering::Release);
    });
    std::thread::sleep(Duration::from_millis(100));
    assert!(!done.load(Ordering::Acquire), "the producer waits for room");
    let mut out = MemoryWriter::default();
    let start = Instant::now();
    while !done.load(Ordering::Acquire) || shards[0].has_pending_ops() {
        assert!(start.elapsed() < Duration::from_secs(10));
        shards[0].process_ops();
        shards[0].drain(&mut out);
    }
    producer.join().unwrap();
    assert_eq!(split_frames(out.received(a)).len(), 100);
}

#[test]
fn a_sealed_socket_gets_nothing_after_its_close_frame() {
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    let s = &mut shards[0];
    let a = s.connect().unwrap();
    let b = s.connect().unwrap();
    s.join([a, b], "r").unwrap();
    s.broadcast_frame("r", &frame(1), None).unwrap();
    assert!(s.send(a, Bytes::from_static(b"CLOSE")));
    assert!(s.seal(a));
    // Nothing more: broadcasts, blasts, emits, sends.
    s.broadcast_frame(["r", &a.to_string()], &frame(2), None)
        .unwrap();
    s.blast_frame(&frame(3), None);
    assert!(matches!(
        s.emit_frame(a, &frame(4)),
        Err(Error::UnknownSockets(_))
    ));
    assert!(!s.send(a, Bytes::from_static(b"late")));
    assert!(!engine.is_connected(a));
    assert_eq!(s.room_members("r"), [b]);
    let mut out = MemoryWriter::default();
    s.process_ops();
    s.drain(&mut out);
    let got = out.received(a);
    assert!(
        got.ends_with(b"CLOSE"),
        "what was queued before the seal is written, the close last"
    );
    assert_eq!(split_frames(&got[..got.len() - 5]), [r#"42["n",1]"#]);
    assert_eq!(split_frames(out.received(b)).len(), 3);
    assert!(s.disconnect(a), "the owner still disconnects it");
    s.validate().unwrap();
}

#[test]
fn a_sealed_socket_near_its_outbound_limit_still_gets_its_close() {
    // Shutdown with a flood in flight: a socket whose backlog is just under the
    // limit is sent its last frames and its close, then sealed. The limit no
    // longer cuts it off (it can get nothing more), so the close arrives after
    // everything queued before it instead of the socket being dropped.
    let (_engine, mut shards) = Engine::new(EngineConfig {
        outbound_limit: 1000,
        ..EngineConfig::default()
    });
    let s = &mut shards[0];
    let a = s.connect().unwrap();
    let b = s.connect().unwrap();
    s.join([a, b], "r").unwrap();
    let mut w = MemoryWriter::default();
    w.block(a);
    let mut sent = 0;
    while s.backlog_bytes(a) + 40 < 1000 {
        s.broadcast_frame("r", &frame(sent), None).unwrap();
        s.drain(&mut w);
        sent += 1;
    }
    assert!(s.take_closed().is_empty());
    s.broadcast_frame("r", &frame(sent), None).unwrap();
    sent += 1;
    assert!(s.send(a, Bytes::from(vec![b'x'; 200])));
    assert!(s.send(a, Bytes::from_static(b"CLOSE")));
    assert!(s.seal(a));
    s.drain(&mut w);
    assert!(s.backlog_bytes(a) > 1000, "past the limit, kept");
    assert!(s.take_closed().is_empty(), "not cut off as a slow consumer");
    assert_eq!(s.stats().slow_consumers, 0);
    w.unblock(a);
    while !s.flush(a, &mut w) {}
    let got = w.received(a);
    assert!(got.ends_with(b"CLOSE"), "the close arrives, last");
    let frames = split_frames(&got[..got.len() - 205]);
    let want: Vec<String> = (0..sent).map(|i| format!(r#"42["n",{i}]"#)).collect();
    assert_eq!(frames, want, "everything queued before it, in order");
    // A socket that is not sealed is still cut off at the limit.
    w.block(b);
    for i in 0..200 {
        s.broadcast_frame("r", &frame(i), None).unwrap();
        s.drain(&mut w);
    }
    assert_eq!(s.take_closed().len(), 1);
    assert!(s.disconnect(a));
    s.validate().unwrap();
}

#[test]
fn a_socket_joins_at_most_max_rooms() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        max_rooms_per_socket: 3,
        ..EngineConfig::default()
    });
    let a = shards[0].connect().unwrap();
    for r in ["r1", "r2", "r3"] {
        shards[0].join(a, r).unwrap();
    }
    shards[0].join(a, "r3").unwrap(); // already in: not a fourth room
    shards[0].join(a, &a.to_string()).unwrap(); // its own room does not count
    let e = shards[0].join(a, "r4").unwrap_err();
    assert!(matches!(e, Error::TooManyRooms { max: 3, .. }));
    assert!(e.to_string().contains("max_rooms_per_socket"), "{e}");
    // From another thread's handle, or a room-to-rooms move: skipped, bounded.
    engine.join(a, "r5").unwrap();
    let b = shards[1].connect().unwrap();
    shards[1].join(b, "src").unwrap();
    shards[0].join(a, "src").unwrap_err();
    shards[0].leave(a, "r1").unwrap();
    shards[0].join(a, "src").unwrap();
    engine.add_room_members_to_rooms("src", ["x", "y"]).unwrap();
    for s in &mut shards {
        s.process_ops();
    }
    let rooms = shards[0].rooms_of(a).unwrap();
    assert_eq!(rooms.len(), 4, "own room + 3: {rooms:?}");
    assert_eq!(shards[1].rooms_of(b).unwrap().len(), 4, "b: own, src, x, y");
    for s in &shards {
        s.validate().unwrap();
    }
}

#[test]
fn an_id_changed_in_any_field_is_not_connected() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        ..EngineConfig::default()
    });
    let a = shards[1].connect().unwrap();
    let forged = [
        SocketId::from_parts(a.node(), a.shard(), a.slot(), a.generation() ^ 1, a.token()),
        SocketId::from_parts(a.node(), a.shard(), a.slot(), a.generation(), a.token() ^ 1),
        SocketId::from_parts(a.node(), a.shard() ^ 1, a.slot(), a.generation(), a.token()),
        SocketId::from_parts(a.node(), a.shard(), a.slot() + 1, a.generation(), a.token()),
    ];
    for f in forged {
        assert!(!engine.is_connected(f), "{f:?}");
        assert_eq!(engine.join(f, "r").unwrap(), vec![f]);
        assert!(matches!(
            engine.emit(f, None, &1),
            Err(Error::UnknownSockets(_))
        ));
    }
    assert!(engine.is_connected(a));
}

#[test]
fn a_send_follows_what_the_same_thread_mailed_before() {
    // A route handler broadcasts through the engine handle, then answers: the
    // answer must not overtake the broadcast on the requester's socket.
    let (engine, mut shards) = Engine::new(EngineConfig::default());
    let s = &mut shards[0];
    let a = s.connect().unwrap();
    s.join(a, "r").unwrap();
    engine.broadcast_frame("r", &frame(1), None).unwrap();
    assert!(s.send(a, Frame::text("ACK").into_bytes()));
    let mut out = MemoryWriter::default();
    s.process_ops();
    s.drain(&mut out);
    assert_eq!(split_frames(out.received(a)), [r#"42["n",1]"#, "ACK"]);
}
