//! A reference model of the engine for property tests and fuzzing (not part of the
//! supported API): random operation sequences are applied to an engine and to a
//! plain map-of-sets model, and membership, every socket's exact received frames
//! and `validate()` are compared after each step. Used by `tests/model.rs`
//! (proptest) and `fuzz/fuzz_targets/engine_ops.rs` (cargo-fuzz).
#![allow(missing_docs, missing_debug_implementations)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::IoSlice;

use crate::wire::split_frames;
use crate::{Engine, EngineConfig, Error, Frame, LeaveAllOptions, Shard, SocketId, Writer};

/// A room an operation names.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RoomPick {
    /// `room<n % 5>`.
    Named(u8),
    /// The id room of the n-th socket ever connected.
    Socket(u8),
}

/// One step of a random sequence.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// `Connect`.
    Connect(u8),
    /// `Disconnect`.
    Disconnect(u8),
    /// `Join`.
    Join(Vec<u8>, RoomPick),
    /// `Leave`.
    Leave(Vec<u8>, RoomPick),
    /// `Broadcast`.
    Broadcast(Vec<RoomPick>, Option<u8>),
    /// `Blast`.
    Blast(Option<u8>),
    /// `Emit`.
    Emit(Vec<u8>),
    /// `LeaveAll`.
    LeaveAll(RoomPick, bool, bool),
    /// `AddMembers`.
    AddMembers(RoomPick, Vec<RoomPick>),
    /// `RemoveMembers`.
    RemoveMembers(RoomPick, Vec<RoomPick>),
    /// `Tick`.
    Tick,
}

/// Which handle issues an operation: the engine (`None`), or shard `n` locally.
pub type Via = Option<u8>;

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

/// An engine and the model, driven in step; every disagreement panics.
pub struct World {
    engine: Engine,
    shards: Vec<Shard>,
    model: Model,
    writer: ChoppyWriter,
    seq: u64,
    stats: RunStats,
}

/// What a run reached, so tests can show the interesting states were visited.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Most rooms held as bitsets at once (summed over shards) after any step.
    pub max_dense_rooms: usize,
    /// Steps after which at least one room was a bitset.
    pub steps_with_dense_rooms: usize,
}

impl World {
    fn pick_socket(&self, n: u8) -> Option<SocketId> {
        (!self.model.ids.is_empty()).then(|| self.model.ids[n as usize % self.model.ids.len()])
    }
    fn room_name(&self, r: &RoomPick) -> String {
        match r {
            RoomPick::Named(n) => format!("room{}", n % 5),
            RoomPick::Socket(n) => self
                .pick_socket(*n)
                .map_or_else(|| "room0".to_owned(), |id| id.to_string()),
        }
    }
    /// Ends a tick: applies, drains and flushes every shard.
    pub fn tick(&mut self) {
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

    /// Applies `op` to both, issued through the engine (`via` None) or shard `via`.
    pub fn apply(&mut self, op: &Op, via: Via) {
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
                            assert_eq!(closed, vec![(id, crate::CloseCause::Disconnected)]);
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

    /// Applies queued operations, validates every shard, compares membership.
    pub fn check(&mut self) {
        // Apply everything queued (ticks only drain), then compare membership.
        for shard in &mut self.shards {
            while shard.process_ops() > 0 {}
        }
        for shard in &self.shards {
            shard
                .validate()
                .unwrap_or_else(|e| panic!("shard {}: {e}", shard.index()));
        }
        let dense: usize = self.shards.iter().map(Shard::dense_room_count).sum();
        self.stats.max_dense_rooms = self.stats.max_dense_rooms.max(dense);
        self.stats.steps_with_dense_rooms += usize::from(dense > 0);
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

    /// Compares every socket's received frames with the model's.
    pub fn check_frames(&self) {
        for (id, m) in &self.model.sockets {
            let got = split_frames(self.writer.out.get(id).map_or(&[][..], Vec::as_slice));
            assert_eq!(got, m.delivered, "frames received by {id}");
        }
    }
}

/// Runs a whole sequence on `shards` shards, with a writer taking `budget[i]`
/// bytes on its i-th call (cycling), and checks everything. `dense_room_min` is
/// the engine's threshold for bitset rooms: small values make a few sockets
/// enough to reach (and leave) the dense representation.
///
/// # Panics
///
/// On any disagreement between the engine and the model.
pub fn run(
    shards: usize,
    ops: &[(Op, Via)],
    budget: Vec<usize>,
    dense_room_min: usize,
) -> RunStats {
    let shards = shards.clamp(1, 4);
    let budget = if budget.is_empty() {
        vec![usize::MAX]
    } else {
        budget.into_iter().map(|b| b.max(1)).collect()
    };
    let (engine, shard_vec) = Engine::new(EngineConfig {
        shards,
        dense_room_min: dense_room_min.max(1),
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
        stats: RunStats::default(),
    };
    for (op, via) in ops {
        w.apply(op, *via);
        w.check();
    }
    w.tick();
    w.check_frames();
    w.stats
}
