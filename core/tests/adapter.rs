//! The cluster seam, end to end in memory: two engines ("nodes") joined by a
//! loopback [`Adapter`] that hands every published or forwarded operation to the
//! other engine's `apply_remote` and asks it queries with `query_local`. Every
//! operation issued on one node must act on the other node's sockets as if they
//! were local.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use roomcast::adapter::{ForwardDone, NodeState, RemoteDone};
use roomcast::wire::split_frames;
use roomcast::{
    Adapter, Answer, CloseCause, Engine, EngineConfig, LeaveAllOptions, MemoryWriter, NodeId, Op,
    Query, QueryResult, RemoteAnswer, Room, Shard, SocketId,
};
use roomcast::{Applied, Error};

/// Hands everything to the peer engine; records what it was asked.
#[derive(Debug, Default)]
struct Loopback {
    peer: OnceLock<Engine>,
    published: Mutex<Vec<String>>,
    forwarded: Mutex<Vec<(NodeId, String)>>,
    /// Pretend the bus to the peer is down.
    down: AtomicBool,
}

fn kind(op: &Op) -> String {
    format!("{op:?}")
        .split(['(', ' ', '{'])
        .next()
        .unwrap()
        .to_owned()
}

impl Adapter for Loopback {
    fn publish(&self, op: &Op) {
        self.published.lock().unwrap().push(kind(op));
        // Through the wire format, as a real adapter would.
        let bytes = serde_json::to_vec(op).unwrap();
        let op: Op = serde_json::from_slice(&bytes).unwrap();
        assert!(self.peer.get().unwrap().apply_remote(op).is_empty());
    }
    fn forward(&self, node: NodeId, op: Op, done: Option<ForwardDone>) {
        let peer = self.peer.get().unwrap();
        assert_eq!(node, peer.node(), "forwarded to the node the ids name");
        self.forwarded.lock().unwrap().push((node, kind(&op)));
        match done {
            Some(done) => peer.apply_remote_then(op, move |unknown| done(Ok(unknown))),
            None => {
                peer.apply_remote(op);
            }
        }
    }
    fn node_state(&self, node: NodeId) -> NodeState {
        match self.peer.get() {
            Some(p) if p.node() == node && self.down.load(Ordering::Relaxed) => {
                NodeState::Unreachable
            }
            Some(p) if p.node() == node => NodeState::Live,
            _ => NodeState::Unknown,
        }
    }
    fn query(&self, query: &Query, done: RemoteDone) {
        self.peer
            .get()
            .unwrap()
            .query_local(query.clone(), move |r| {
                done(RemoteAnswer {
                    answer: Some(r.answer),
                    missing: Vec::new(),
                    unavailable: false,
                })
            })
            .unwrap();
    }
}

struct Node {
    engine: Engine,
    shards: Vec<Shard>,
    adapter: Arc<Loopback>,
    out: MemoryWriter,
}

impl Node {
    fn new(name: &str, shards: usize) -> Node {
        let (engine, shards) = Engine::new(EngineConfig {
            shards,
            node: NodeId::from_name(name).unwrap(),
            ..EngineConfig::default()
        });
        let adapter = Arc::new(Loopback::default());
        assert!(engine.set_adapter(adapter.clone()));
        Node {
            engine,
            shards,
            adapter,
            out: MemoryWriter::default(),
        }
    }
    fn tick(&mut self) {
        for s in &mut self.shards {
            s.process_ops();
            s.drain(&mut self.out);
        }
    }
    fn received(&mut self, id: SocketId) -> Vec<String> {
        split_frames(&self.out.take(id))
    }
}

fn pair() -> (Node, Node) {
    let a = Node::new("node-a", 2);
    let b = Node::new("node-b", 1);
    a.adapter.peer.set(b.engine.clone()).unwrap();
    b.adapter.peer.set(a.engine.clone()).unwrap();
    (a, b)
}

fn ask(engine: &Engine, q: Query) -> Arc<Mutex<Option<QueryResult>>> {
    let got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    engine
        .query(q, move |r| *g.lock().unwrap() = Some(r))
        .unwrap();
    got
}

#[test]
fn every_operation_acts_across_nodes() {
    let (mut a, mut b) = pair();
    let a1 = a.shards[1].connect().unwrap();
    let b1 = b.shards[0].connect().unwrap();
    assert_eq!(a1.node(), a.engine.node());
    assert_eq!(b1.node(), b.engine.node());

    // join by id on the other node: forwarded (not reported unknown), applied there.
    assert_eq!(
        a.engine.join([a1, b1], "chat").unwrap(),
        Vec::<SocketId>::new()
    );
    a.tick();
    b.tick();
    assert_eq!(
        b.shards[0].rooms_of(b1).unwrap(),
        [b1.to_string(), "chat".into()]
    );

    // broadcast from either node reaches both, once each, and omit works across nodes.
    a.engine
        .broadcast(["chat", "chat2"], Some("m"), &1, None)
        .unwrap();
    b.engine.broadcast("chat", Some("m"), &2, Some(a1)).unwrap();
    a.tick();
    b.tick();
    assert_eq!(a.received(a1), [r#"42["m",1]"#]);
    assert_eq!(b.received(b1), [r#"42["m",1]"#, r#"42["m",2]"#]);

    // emit to ids on both nodes; blast.
    a.engine.emit([a1, b1], Some("e"), &3).unwrap();
    b.engine.blast(Some("all"), &4, Some(b1)).unwrap();
    a.tick();
    b.tick();
    assert_eq!(a.received(a1), [r#"42["e",3]"#, r#"42["all",4]"#]);
    assert_eq!(b.received(b1), [r#"42["e",3]"#]);

    // queries see the whole cluster.
    let r = ask(
        &a.engine,
        Query::Room {
            room: Room::new("chat"),
            limit: 10,
        },
    );
    a.tick();
    b.tick();
    let r = r.lock().unwrap().take().expect("answered");
    let Answer::Room { count, members } = r.answer else {
        panic!()
    };
    assert_eq!((count, members), (2, vec![a1, b1]));
    let r = ask(&a.engine, Query::Socket { id: b1 });
    b.tick();
    let r = r.lock().unwrap().take().expect("answered");
    assert_eq!(
        r.answer,
        Answer::Socket {
            rooms: Some(vec![b1.to_string(), "chat".into()]),
            user: None,
            data: None,
            address: None,
        }
    );

    // room-to-rooms and leaveAll act on every node's members.
    a.engine.add_room_members_to_rooms("chat", "vip").unwrap();
    a.tick();
    b.tick();
    assert_eq!(b.shards[0].room_members("vip"), [b1]);
    b.engine
        .leave_all("vip", LeaveAllOptions::default())
        .unwrap();
    a.tick();
    b.tick();
    assert!(a.shards[1].room_members("chat").is_empty());
    assert!(b.shards[0].rooms_of(b1).unwrap() == [b1.to_string()]);

    // disconnect by id on the other node: its owner closes the transport.
    assert!(a.engine.disconnect(b1));
    b.tick();
    assert_eq!(b.shards[0].take_closed(), [(b1, CloseCause::Disconnected)]);
    assert!(!b.engine.is_connected(b1));

    // room ops were published once each; id ops forwarded to the owner only.
    assert_eq!(
        *a.adapter.published.lock().unwrap(),
        ["Broadcast", "AddMembers"]
    );
    let fwd: Vec<String> = a
        .adapter
        .forwarded
        .lock()
        .unwrap()
        .iter()
        .map(|(_, k)| k.clone())
        .collect();
    assert_eq!(fwd, ["Join", "Emit", "Disconnect"]);
    assert_eq!(
        *b.adapter.published.lock().unwrap(),
        ["Broadcast", "Blast", "LeaveAll"]
    );

    // An emit forwarded with an id the owner does not know is not applied there.
    let stale = b1;
    let unknown = b.engine.apply_remote(Op::Emit {
        sockets: smallvec::smallvec![stale],
        frame: roomcast::Frame::event_raw("/", "x", None).unwrap(),
    });
    assert_eq!(unknown, [stale]);
}

type Got = Arc<Mutex<Option<Result<Vec<SocketId>, Error>>>>;

/// Expects the batch to wait, and stores its outcome in `got` when it comes.
fn later(applied: Applied, got: Got) {
    let Applied::Later(waiting) = applied else {
        panic!("expected to wait, got {applied:?}");
    };
    waiting.then(move |r| *got.lock().unwrap() = Some(r));
}

#[test]
fn confirmed_operations_answer_once_the_owner_applied_them() {
    let (mut a, mut b) = pair();
    let a1 = a.shards[0].connect().unwrap();
    let b1 = b.shards[0].connect().unwrap();
    let b2 = b.shards[0].connect().unwrap();
    assert_eq!((a.engine.live_sockets(), b.engine.live_sockets()), (1, 2));

    // Only local ids: answered now, done never called.
    let mut c = a.shards[0].confirmed();
    c.join(a1, "r").unwrap();
    assert!(matches!(c.finish(), Applied::Now(v) if v.is_empty()));
    assert_eq!(a.shards[0].rooms_of(a1).unwrap().len(), 2);

    // A remote id: the answer waits until the owner's shard applied the join.
    let got: Got = Arc::new(Mutex::new(None));
    let g = Arc::clone(&got);
    let mut c = a.engine.confirmed();
    c.join([a1, b1], "r").unwrap();
    later(c.finish(), g);
    assert!(
        got.lock().unwrap().is_none(),
        "not before the owner applied it"
    );
    b.tick();
    assert_eq!(got.lock().unwrap().take(), Some(Ok(vec![])));
    assert_eq!(b.shards[0].room_members("r"), [b1]);

    // A stale id on the owner is reported by it; an id of a node nobody knows
    // is unknown at once.
    b.shards[0].disconnect(b2);
    b.tick();
    let stranger = SocketId::from_parts(NodeId::from_name("node-z").unwrap(), 0, 1, 0, 7);
    let g = Arc::clone(&got);
    let mut c = a.engine.confirmed();
    c.leave([b1, b2, stranger], "r").unwrap();
    later(c.finish(), g);
    b.tick();
    let mut unknown = got.lock().unwrap().take().unwrap().unwrap();
    unknown.sort_by_key(ToString::to_string);
    let mut want = vec![b2, stranger];
    want.sort_by_key(ToString::to_string);
    assert_eq!(unknown, want);
    assert!(b.shards[0].room_members("r").is_empty());

    // emit: an id unknown here fails at once, nothing sent anywhere.
    let frame = roomcast::Frame::event_raw("/", "e", Some("1")).unwrap();
    let mut c = a.engine.confirmed();
    assert!(matches!(
        c.emit_frame([a1, b1, stranger], &frame),
        Err(Error::UnknownSockets(ids)) if ids == [stranger.to_string()]
    ));
    // The owner knows one of its ids is gone: its part is not sent, and it says
    // so (here at once: this loopback owner answers on the caller's thread).
    let mut c = a.engine.confirmed();
    c.emit_frame([b1, b2], &frame).unwrap();
    assert!(matches!(c.finish(), Applied::Now(v) if v == [b2]));
    a.tick();
    b.tick();
    assert!(b.received(b1).is_empty());

    // The bus is down: a confirmed emit is refused before anything is sent, a
    // confirmed join fails its remote part; the local part of a join holds.
    a.adapter.down.store(true, Ordering::Relaxed);
    let mut c = a.engine.confirmed();
    assert!(matches!(
        c.emit_frame([a1, b1], &frame),
        Err(Error::ClusterUnavailable(_))
    ));
    let g = Arc::clone(&got);
    let mut c = a.shards[0].confirmed();
    c.join([a1, b1], "s").unwrap();
    later(c.finish(), g);
    assert!(matches!(
        got.lock().unwrap().take(),
        Some(Err(Error::ClusterUnavailable(_)))
    ));
    a.tick();
    b.tick();
    assert!(a.received(a1).is_empty());
    assert_eq!(a.shards[0].room_members("s"), [a1]);
    assert!(b.shards[0].room_members("s").is_empty());

    // Pub/sub through a confirmed handle: a subscription of a remote socket.
    a.adapter.down.store(false, Ordering::Relaxed);
    let g = Arc::clone(&got);
    let mut c = a.engine.confirmed();
    c.model("user")
        .unwrap()
        .subscribe(b1, &[roomcast::RecordId::from(7u64)])
        .unwrap();
    later(c.finish(), g);
    b.tick();
    assert_eq!(got.lock().unwrap().take(), Some(Ok(vec![])));
    assert_eq!(b.shards[0].room_members("sails_model_user_7:user"), [b1]);
}
