//! Several producer threads, several shard threads: per-producer order, and no lost
//! or duplicated delivery.

use std::collections::HashMap;
use std::thread;

use roomcast::wire::split_frames;
use roomcast::{Engine, EngineConfig, MemoryWriter, ShardThread, SocketId};

const PRODUCERS: usize = 4;
const SHARDS: usize = 3;
const SOCKETS_PER_SHARD: usize = 20;
const MESSAGES: usize = 400;

#[test]
fn per_producer_order_and_exactly_once_delivery() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        shards: SHARDS,
        ..EngineConfig::default()
    });
    let mut ids: Vec<SocketId> = Vec::new();
    for shard in &mut shards {
        for _ in 0..SOCKETS_PER_SHARD {
            ids.push(shard.connect().unwrap());
        }
    }
    let threads: Vec<_> = shards
        .into_iter()
        .map(|s| ShardThread::spawn(s, MemoryWriter::default()))
        .collect();

    // Each producer owns a room. It joins every socket to it, then broadcasts a
    // numbered sequence; every socket must see exactly that sequence in order.
    // Join-then-broadcast from one thread must always reach the new members.
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let engine = engine.clone();
            let ids = ids.clone();
            thread::spawn(move || {
                let room = format!("p{p}");
                for (i, id) in ids.iter().enumerate() {
                    engine.join(*id, &room).unwrap();
                    // A message right after each join: the joined sockets so far
                    // must all get it.
                    engine
                        .broadcast(&room, Some("seq"), &format!("{p}:join{i}"), None)
                        .unwrap();
                }
                for n in 0..MESSAGES {
                    engine
                        .broadcast(&room, Some("seq"), &format!("{p}:{n}"), None)
                        .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut received: HashMap<SocketId, Vec<String>> = HashMap::new();
    for t in threads {
        let (shard, writer) = t.stop();
        shard.validate().unwrap();
        for id in &ids {
            if id.shard() as usize == shard.index() {
                received.insert(*id, split_frames(writer.received(*id)));
            }
        }
    }
    for (pos, id) in ids.iter().enumerate() {
        let frames = &received[id];
        for p in 0..PRODUCERS {
            let mine: Vec<&str> = frames
                .iter()
                .filter_map(|f| f.strip_prefix("42[\"seq\",\""))
                .filter(|f| f.starts_with(&format!("{p}:")))
                .collect();
            let mut expect: Vec<String> = (pos..ids.len())
                .map(|i| format!("{p}:join{i}\"]"))
                .collect();
            expect.extend((0..MESSAGES).map(|n| format!("{p}:{n}\"]")));
            assert_eq!(mine, expect, "socket {pos} from producer {p}");
        }
        assert_eq!(frames.len(), PRODUCERS * (ids.len() - pos + MESSAGES));
    }
}

#[test]
fn emit_and_leave_across_threads() {
    let (engine, mut shards) = Engine::new(EngineConfig {
        shards: 2,
        ..EngineConfig::default()
    });
    let a = shards[0].connect().unwrap();
    let b = shards[1].connect().unwrap();
    let threads: Vec<_> = shards
        .into_iter()
        .map(|s| ShardThread::spawn(s, MemoryWriter::default()))
        .collect();
    let e2 = engine.clone();
    thread::spawn(move || {
        e2.join([a, b], "r").unwrap();
        e2.emit([a, b], Some("direct"), &1).unwrap();
        e2.leave(b, "r").unwrap();
        e2.broadcast("r", None, &2, None).unwrap();
    })
    .join()
    .unwrap();
    let mut out = Vec::new();
    for t in threads {
        let (_s, w) = t.stop();
        out.push((split_frames(w.received(a)), split_frames(w.received(b))));
    }
    assert_eq!(out[0].0, ["42[\"direct\",1]", "42[\"message\",2]"]);
    assert_eq!(out[1].1, ["42[\"direct\",1]"]);
}
