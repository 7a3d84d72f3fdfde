//! Random operation sequences against a plain map-of-sets model: membership, every
//! socket's exact received frames, and `validate()` after each step.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IoSlice;

use proptest::prelude::*;
use roomcast::wire::split_frames;
use roomcast::{Engine, EngineConfig, Error, Frame, LeaveAllOptions, Shard, SocketId, Writer};

#[derive(Debug, Clone)]
enum RoomPick {
    Named(u8),
    /// The id room of the n-th socket ever connected.
    Socket(u8),
}

#[derive(Debug, Clone)]
enum Op {
    Connect(u8),
    Disconnect(u8),
    Join(Vec<u8>, RoomPick),
    Leave(Vec<u8>, RoomPick),
    Broadcast(Vec<RoomPick>, Option<u8>),
    Blast(Option<u8>),
    Emit(Vec<u8>),
    LeaveAll(RoomPick, bool, bool),
    AddMembers(RoomPick, Vec<RoomPick>),
    RemoveMembers(RoomPick, Vec<RoomPick>),
    Tick,
}

/// Which handle issues an operation: the engine, or shard n locally.
type Via = Option<u8>;

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

#[derive(Debug, Default)]
struct ModelSocket {
    live: bool,
    own_room: bool,
    rooms: BTreeSet<String>,
    pending: Vec<String>,
    delivered: Vec<String>,
}

/// The reference: a map of sockets, each with its set of room names.
#[derive(Debug, Default)]
struct Model {
    ids: Vec<SocketId>,
    sockets: BTreeMap<SocketId, ModelSocket>,
}

impl Model {
    fn members(&self, room: &str) -> BTreeSet<SocketId> {
        self.sockets
            .iter()
            .filter(|(id, s)| {
                s.live && (s.rooms.contains(room) || (s.own_room && id.to_string() == room))
            })
            .map(|(id, _)| *id)
            .collect()
    }
    fn join(&mut self, id: SocketId, room: &str, join: bool) {
        let own = id.to_string() == room;
        let s = self.sockets.get_mut(&id).unwrap();
        if !s.live {
            return;
        }
        if own {
            s.own_room = join;
        } else if join {
            s.rooms.insert(room.to_owned());
        } else {
            s.rooms.remove(room);
        }
    }
    fn send(&mut self, to: impl IntoIterator<Item = SocketId>, payload: &str) {
        for id in to {
            self.sockets
                .get_mut(&id)
                .unwrap()
                .pending
                .push(payload.to_owned());
        }
    }
}

/// A writer that takes a varying number of bytes per call, to exercise partial
/// writes and backlogs.
struct ChoppyWriter {
    out: BTreeMap<SocketId, Vec<u8>>,
    budget: Vec<usize>,
    i: usize,
}

impl Writer for ChoppyWriter {
    fn write(&mut self, socket: SocketId, bufs: &[IoSlice<'_>]) -> usize {
        let mut room = self.budget[self.i % self.budget.len()];
        self.i += 1;
        let out = self.out.entry(socket).or_default();
        let mut n = 0;
        for b in bufs {
            let k = b.len().min(room);
            out.extend_from_slice(&b[..k]);
            n += k;
            room -= k;
        }
        n
    }
}

struct World {
    engine: Engine,
    shards: Vec<Shard>,
    model: Model,
    writer: ChoppyWriter,
    seq: u64,
}

impl World {
    fn pick_socket(&self, n: u8) -> Option<SocketId> {
        (!self.model.ids.is_empty()).then(|| self.model.ids[n as usize % self.model.ids.len()])
    }
    fn room_name(&self, r: &RoomPick) -> String {
        match r {
            RoomPick::Named(n) => format!("room{n}"),
            RoomPick::Socket(n) => self
                .pick_socket(*n)
                .map_or_else(|| "room0".to_owned(), |id| id.to_string()),
        }
    }
    fn tick(&mut self) {
        for shard in &mut self.shards {
            while shard.process_ops() > 0 {}
        }
        for shard in &mut self.shards {
            shard.drain(&mut self.writer);
            for id in &self.model.ids {
                while !shard.flush(*id, &mut self.writer) {}
            }
            assert!(shard.take_closed().is_empty());
        }
        for s in self.model.sockets.values_mut() {
            let p = std::mem::take(&mut s.pending);
            s.delivered.extend(p);
        }
    }

    fn apply(&mut self, op: &Op, via: Via) {
        self.seq += 1;
        let payload = |seq: u64| format!("42[\"e\",{seq}]");
        let frame = Frame::event_raw("/", "e", Some(&self.seq.to_string())).unwrap();
        let n = self.shards.len();
        let engine = self.engine.clone();
        // Issue through the engine or through a shard's local handle.
        macro_rules! issue {
            (|$t:ident| $body:expr) => {
                match via {
                    None => {
                        let $t = &engine;
                        $body
                    }
                    Some(k) => {
                        let $t = &mut self.shards[k as usize % n];
                        $body
                    }
                }
            };
        }
        match op {
            Op::Connect(s) => {
                let id = self.shards[*s as usize % n].connect().unwrap();
                self.model.ids.push(id);
                self.model.sockets.insert(
                    id,
                    ModelSocket {
                        live: true,
                        own_room: true,
                        ..ModelSocket::default()
                    },
                );
            }
            Op::Disconnect(s) => {
                let Some(id) = self.pick_socket(*s) else {
                    return;
                };
                let was = self.model.sockets[&id].live;
                // Disconnect through the owner (as the server does) or the engine.
                let done = match via {
                    None => {
                        let r = engine.disconnect(id);
                        if r {
                            for shard in self.shards.iter_mut() {
                                while shard.process_ops() > 0 {}
                            }
                            let closed: Vec<_> = self
                                .shards
                                .iter_mut()
                                .flat_map(|s| s.take_closed())
                                .collect();
                            assert_eq!(closed, vec![(id, roomcast::CloseCause::Disconnected)]);
                        }
                        r
                    }
                    Some(_) => {
                        for shard in self.shards.iter_mut() {
                            while shard.process_ops() > 0 {}
                        }
                        self.shards[id.shard() as usize].disconnect(id)
                    }
                };
                assert_eq!(done, was);
                let m = self.model.sockets.get_mut(&id).unwrap();
                m.live = false;
                m.own_room = false;
                m.rooms.clear();
                m.pending.clear();
            }
            Op::Join(ss, r) | Op::Leave(ss, r) => {
                let Some(_) = self.pick_socket(0) else { return };
                let ids: Vec<SocketId> = ss.iter().filter_map(|s| self.pick_socket(*s)).collect();
                let name = self.room_name(r);
                let join = matches!(op, Op::Join(..));
                let unknown = issue!(|t| if join {
                    t.join(ids.as_slice(), &name)
                } else {
                    t.leave(ids.as_slice(), &name)
                })
                .unwrap();
                let mut expect: Vec<SocketId> = ids
                    .iter()
                    .copied()
                    .filter(|i| !self.model.sockets[i].live)
                    .collect();
                expect.dedup();
                let mut got = unknown.clone();
                got.sort();
                expect.sort();
                expect.dedup();
                assert_eq!(got, expect);
                for id in ids {
                    self.model.join(id, &name, join);
                }
            }
            Op::Broadcast(rooms, omit) => {
                let names: Vec<String> = rooms.iter().map(|r| self.room_name(r)).collect();
                let omit = omit.and_then(|o| self.pick_socket(o));
                issue!(|t| t.broadcast_frame(names.as_slice(), &frame, omit)).unwrap();
                let mut to = BTreeSet::new();
                for r in &names {
                    to.extend(self.model.members(r));
                }
                if let Some(o) = omit {
                    to.remove(&o);
                }
                self.model.send(to, &payload(self.seq));
            }
            Op::Blast(omit) => {
                let omit = omit.and_then(|o| self.pick_socket(o));
                issue!(|t| t.blast_frame(&frame, omit));
                let to: Vec<SocketId> = self
                    .model
                    .sockets
                    .iter()
                    .filter(|(id, s)| s.live && Some(**id) != omit)
                    .map(|(id, _)| *id)
                    .collect();
                self.model.send(to, &payload(self.seq));
            }
            Op::Emit(ss) => {
                let ids: Vec<SocketId> = ss.iter().filter_map(|s| self.pick_socket(*s)).collect();
                if ids.is_empty() {
                    return;
                }
                let res = issue!(|t| t.emit_frame(ids.as_slice(), &frame));
                let unknown: BTreeSet<String> = ids
                    .iter()
                    .filter(|i| !self.model.sockets[i].live)
                    .map(ToString::to_string)
                    .collect();
                if unknown.is_empty() {
                    res.unwrap();
                    let to: BTreeSet<SocketId> = ids.into_iter().collect();
                    self.model.send(to, &payload(self.seq));
                } else {
                    match res {
                        Err(Error::UnknownSockets(list)) => {
                            assert_eq!(list.into_iter().collect::<BTreeSet<_>>(), unknown)
                        }
                        other => panic!("emit with unknown ids gave {other:?}"),
                    }
                }
            }
            Op::LeaveAll(r, sock_rooms, source) => {
                let name = self.room_name(r);
                let opts = LeaveAllOptions {
                    include_socket_rooms: *sock_rooms,
                    include_source_room: *source,
                };
                issue!(|t| t.leave_all(&name, opts)).unwrap();
                for id in self.model.members(&name) {
                    let s = self.model.sockets.get_mut(&id).unwrap();
                    s.rooms
                        .retain(|room| !opts.include_source_room && room == &name);
                    if opts.include_socket_rooms {
                        s.own_room = false;
                    }
                }
            }
            Op::AddMembers(src, dests) | Op::RemoveMembers(src, dests) => {
                let src = self.room_name(src);
                let dests: Vec<String> = dests.iter().map(|r| self.room_name(r)).collect();
                let add = matches!(op, Op::AddMembers(..));
                if add {
                    issue!(|t| t.add_room_members_to_rooms(&src, dests.as_slice())).unwrap();
                } else {
                    issue!(|t| t.remove_room_members_from_rooms(&src, dests.as_slice())).unwrap();
                }
                let members = self.model.members(&src);
                for d in &dests {
                    for m in &members {
                        self.model.join(*m, d, add);
                    }
                }
            }
            Op::Tick => self.tick(),
        }
    }

    fn check(&mut self) {
        // Apply everything queued (ticks only drain), then compare membership.
        for shard in &mut self.shards {
            while shard.process_ops() > 0 {}
        }
        for shard in &self.shards {
            shard
                .validate()
                .unwrap_or_else(|e| panic!("shard {}: {e}", shard.index()));
        }
        for (id, m) in &self.model.sockets {
            let shard = &self.shards[id.shard() as usize];
            match shard.rooms_of(*id) {
                None => assert!(!m.live, "{id} missing"),
                Some(rooms) => {
                    assert!(m.live);
                    let mut expect: BTreeSet<String> = m.rooms.clone();
                    if m.own_room {
                        expect.insert(id.to_string());
                    }
                    assert_eq!(rooms.into_iter().collect::<BTreeSet<_>>(), expect, "{id}");
                }
            }
            assert_eq!(self.engine.is_connected(*id), m.live);
        }
        for r in 0..5 {
            let name = format!("room{r}");
            let got: BTreeSet<SocketId> = self
                .shards
                .iter()
                .flat_map(|s| s.room_members(&name))
                .collect();
            assert_eq!(got, self.model.members(&name), "{name}");
        }
    }

    fn check_frames(&self) {
        for (id, m) in &self.model.sockets {
            let got = split_frames(self.writer.out.get(id).map_or(&[][..], Vec::as_slice));
            assert_eq!(got, m.delivered, "frames received by {id}");
        }
    }
}

fn run(shards: usize, ops: &[(Op, Via)], budget: Vec<usize>) {
    let (engine, shard_vec) = Engine::new(EngineConfig {
        shards,
        ..EngineConfig::default()
    });
    let mut w = World {
        engine,
        shards: shard_vec,
        model: Model::default(),
        writer: ChoppyWriter {
            out: BTreeMap::new(),
            budget,
            i: 0,
        },
        seq: 0,
    };
    for (op, via) in ops {
        w.apply(op, *via);
        w.check();
    }
    w.tick();
    w.check_frames();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_model(
        shards in 1usize..4,
        ops in proptest::collection::vec((op(), proptest::option::of(any::<u8>())), 1..80),
        budget in proptest::collection::vec(prop_oneof![3 => Just(usize::MAX), 1 => 1usize..40], 1..6),
    ) {
        run(shards, &ops, budget);
    }
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
