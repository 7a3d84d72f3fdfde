//! [`Shard`]: one thread's sockets, their rooms, and the per-tick delivery palette.
//!
//! # Delivery: the palette
//!
//! Within one tick (one loop iteration of the owning thread) a shard keeps every
//! frame it must send in a **palette** (`Vec<Bytes>`, one entry a frame, however
//! many recipients). A recipient gets the frame's index appended to its pending
//! list — an intrusive linked list in a per-tick arena, so a socket costs 8 bytes
//! of head/tail and no allocation — and is put on the **dirty** list the first time.
//! There are no atomic operations per recipient.
//!
//! At the end of the tick, [`Shard::drain`] offers each dirty socket's frames, in
//! order, to the caller's [`Writer`] as one gather list (one vectored write a
//! socket). What the writer does not take is kept, in order, on the socket's own
//! backlog (a `Bytes` clone of each frame, or a slice of a partly written one — the
//! slow path alone pays for that); while a backlog exists, new frames join it
//! without a write being tried, and [`Shard::flush`] offers it again once the
//! transport is writable. Past [`EngineConfig::outbound_limit`] unsent bytes the
//! socket is a slow consumer: it gets nothing more and is reported by
//! [`Shard::take_closed`].
//!
//! ```text
//!  palette: [F0 "42[\"a\",1]"] [F1 "42[\"b\",2]"]        (Bytes, shared)
//!  arena:   #0 {F0,→#2}  #1 {F0,→∅}  #2 {F1,→∅}
//!  links:   slot 3: head #0 tail #2      slot 9: head #1 tail #1
//!  dirty:   [3, 9]         drain → writev(3, [F0,F1]); writev(9, [F0])
//! ```
//!
//! # Membership
//!
//! Each room present on the shard has a `RoomSet` of member slots, and each socket
//! the list of its rooms. A room is removed when its last member leaves. Every
//! socket is a member of the room named by its own id without any entry: a flag on
//! the socket (cleared only by `leave`/`leaveAll` with `includeSocketRooms`).
//!
//! [`EngineConfig::outbound_limit`]: crate::EngineConfig::outbound_limit

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::Receiver;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use smallvec::SmallVec;

use crate::engine::{
    ops, sealed, BroadcastOp, Engine, LeaveAllOptions, Op, RoomRef, RoomsOp, Target,
};
use crate::id::{SocketId, ToRoomNames, ToSocketIds};
use crate::room_set::{for_each_bit, RoomSet, SetLimits};
use crate::wire::Frame;
use crate::writer::Writer;
use crate::Error;

const NIL: u32 = u32::MAX;
/// Most operations applied by one [`Shard::process_ops`] call, so a tick's palette
/// stays bounded under a flood.
pub const MAX_OPS_PER_TICK: usize = 4096;
/// Most buffers offered to one [`Writer::write`] call (Linux `IOV_MAX` is 1024).
pub const MAX_IOV: usize = 1024;

/// Why a shard asks its owner to close a socket's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Its unsent bytes passed the outbound limit (a slow consumer).
    SlowConsumer,
    /// [`Engine::disconnect`] was called for it.
    Disconnected,
}

/// Counters of one shard, for metrics and benches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardStats {
    /// Broadcast and blast operations applied.
    pub broadcasts: u64,
    /// Frames queued to sockets (one a recipient a frame).
    pub deliveries: u64,
    /// Calls to the writer.
    pub writes: u64,
    /// Bytes the writer took.
    pub bytes_written: u64,
    /// Sockets closed as slow consumers.
    pub slow_consumers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Allocated and writable, not yet a member of anything (a transport whose
    /// Socket.IO CONNECT is still pending).
    Open,
    Live,
}

#[derive(Debug)]
struct Backlog {
    bufs: VecDeque<Bytes>,
    bytes: usize,
}

#[derive(Debug)]
struct Slot {
    token: u64,
    gen: u16,
    state: SlotState,
    own_room: bool,
    overflowed: bool,
    rooms: SmallVec<[u32; 4]>,
    backlog: Option<Box<Backlog>>,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    head: u32,
    tail: u32,
}

const NIL_LINK: Link = Link {
    head: NIL,
    tail: NIL,
};

#[derive(Debug, Clone, Copy)]
struct Entry {
    frame: u32,
    next: u32,
}

#[derive(Debug)]
struct Room {
    name: Arc<str>,
    members: RoomSet,
}

/// Per-tick delivery state, kept apart from the slots so the hot loop borrows it
/// alone.
#[derive(Debug, Default)]
struct Palette {
    frames: Vec<Bytes>,
    arena: Vec<Entry>,
    links: Vec<Link>,
    dirty: Vec<u32>,
    deliveries: u64,
}

impl Palette {
    fn push_frame(&mut self, frame: Bytes) -> u32 {
        self.frames.push(frame);
        (self.frames.len() - 1) as u32
    }

    /// Queues frame `f` to `slot`. With `dedupe`, a slot whose last queued frame is
    /// already `f` (it was reached through another room) is skipped.
    #[inline(always)]
    fn deliver(&mut self, slot: u32, f: u32, dedupe: bool) {
        let idx = self.arena.len() as u32;
        let link = &mut self.links[slot as usize];
        if link.head == NIL {
            link.head = idx;
            link.tail = idx;
            self.dirty.push(slot);
        } else {
            let tail = link.tail as usize;
            if dedupe && self.arena[tail].frame == f {
                return;
            }
            self.arena[tail].next = idx;
            link.tail = idx;
        }
        self.arena.push(Entry {
            frame: f,
            next: NIL,
        });
        self.deliveries += 1;
    }
}

/// One shard: sockets, rooms and delivery state, owned by one thread. See the
/// [module docs](self).
pub struct Shard {
    index: u16,
    node: u16,
    engine: Engine,
    rx: Receiver<Op>,
    limits: SetLimits,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: Vec<u64>,
    live_count: usize,
    rooms: Vec<Option<Room>>,
    free_rooms: Vec<u32>,
    room_index: HashMap<Arc<str>, u32, ahash::RandomState>,
    memberships: usize,
    palette: Palette,
    closed: Vec<(SocketId, CloseCause)>,
    scratch_words: Vec<u64>,
    scratch_slots: Vec<u32>,
    scratch_frames: Vec<u32>,
    rng: StdRng,
    stats: ShardStats,
}

impl fmt::Debug for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shard")
            .field("index", &self.index)
            .field("sockets", &self.live_count)
            .field("rooms", &self.room_index.len())
            .finish()
    }
}

impl Shard {
    pub(crate) fn new(index: u16, engine: Engine, rx: Receiver<Op>) -> Shard {
        let node = engine.inner.config.node;
        Shard {
            index,
            node,
            engine,
            rx,
            limits: SetLimits::for_slots(0),
            slots: Vec::new(),
            free: Vec::new(),
            live: Vec::new(),
            live_count: 0,
            rooms: Vec::new(),
            free_rooms: Vec::new(),
            room_index: HashMap::default(),
            memberships: 0,
            palette: Palette::default(),
            closed: Vec::new(),
            scratch_words: Vec::new(),
            scratch_slots: Vec::new(),
            scratch_frames: Vec::new(),
            rng: StdRng::from_os_rng(),
            stats: ShardStats::default(),
        }
    }

    /// This shard's index.
    #[must_use]
    pub fn index(&self) -> usize {
        usize::from(self.index)
    }

    /// The engine this shard belongs to.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Sets the hook producers call when they queue work for this shard while it is
    /// idle (the server passes its `mio::Waker`). Only the first call takes effect.
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) {
        let _ = self.link().waker.set(Box::new(wake));
    }

    fn link(&self) -> &crate::engine::ShardLink {
        &self.engine.inner.shards[self.index()]
    }

    /// Counters since the shard started (deliveries so far this tick included).
    #[must_use]
    pub fn stats(&self) -> ShardStats {
        ShardStats {
            deliveries: self.stats.deliveries + self.palette.deliveries,
            ..self.stats
        }
    }

    // ----- sockets -------------------------------------------------------------

    /// Allocates a socket that can be sent frames ([`send`](Self::send)) but is not
    /// yet connected: not in any room, not reached by blasts, unknown to
    /// [`Engine::is_connected`]. [`activate`](Self::activate) connects it. The
    /// server opens a socket when a WebSocket is accepted and activates it at the
    /// Socket.IO CONNECT.
    ///
    /// # Errors
    ///
    /// [`Error::ShardFull`] when the shard holds `max_sockets_per_shard` sockets.
    pub fn open(&mut self) -> Result<SocketId, Error> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let max = self.engine.inner.config.max_sockets_per_shard;
                let s = self.slots.len() as u32;
                if s >= max {
                    return Err(Error::ShardFull(self.index()));
                }
                self.slots.push(Slot {
                    token: 0,
                    gen: 0,
                    state: SlotState::Free,
                    own_room: false,
                    overflowed: false,
                    rooms: SmallVec::new(),
                    backlog: None,
                });
                self.palette.links.push(NIL_LINK);
                if (s as usize >> 6) >= self.live.len() {
                    self.live.push(0);
                }
                self.limits = SetLimits::for_slots(s + 1);
                s
            }
        };
        let mut token = 0;
        while token == 0 {
            token = self.rng.next_u64();
        }
        let slot_ref = &mut self.slots[slot as usize];
        debug_assert_eq!(slot_ref.state, SlotState::Free);
        slot_ref.token = token;
        slot_ref.state = SlotState::Open;
        slot_ref.own_room = false;
        slot_ref.overflowed = false;
        Ok(self.id_of(slot))
    }

    /// Connects a socket [`open`](Self::open)ed earlier: it becomes a member of
    /// the room named by its id, is reached by blasts, and is known to every
    /// thread's [`Engine::is_connected`]. Returns false if `id` is not an open
    /// socket of this shard.
    pub fn activate(&mut self, id: SocketId) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        let s = &mut self.slots[slot as usize];
        if s.state != SlotState::Open {
            return false;
        }
        s.state = SlotState::Live;
        s.own_room = true;
        self.live[slot as usize >> 6] |= 1 << (slot & 63);
        self.live_count += 1;
        self.link().liveness.set(slot, id.token());
        true
    }

    /// Undoes [`activate`](Self::activate): the socket leaves every room (its own
    /// id room included), is no longer reached by blasts or known to
    /// [`Engine::is_connected`], but stays open for [`send`](Self::send) and can be
    /// activated again (with the same id). The server does this when a client
    /// leaves the `/` namespace (`41`) but keeps its connection. Returns false if
    /// `id` is not a connected socket of this shard.
    pub fn deactivate(&mut self, id: SocketId) -> bool {
        let Some(slot) = self.live_slot(id) else {
            return false;
        };
        self.leave_everything(slot);
        self.slots[slot as usize].state = SlotState::Open;
        true
    }

    /// Takes `slot` out of every room (its own id room too) and, if it is live,
    /// out of the live set and the liveness table. Its state is the caller's to set.
    fn leave_everything(&mut self, slot: u32) {
        let rooms = std::mem::take(&mut self.slots[slot as usize].rooms);
        for r in &rooms {
            self.remove_member(*r, slot);
        }
        if self.slots[slot as usize].state == SlotState::Live {
            self.live[slot as usize >> 6] &= !(1 << (slot & 63));
            self.live_count -= 1;
            self.link().liveness.set(slot, 0);
        }
        let s = &mut self.slots[slot as usize];
        s.own_room = false;
        // Keep the list's allocation for the slot's next use.
        s.rooms = rooms;
        s.rooms.clear();
    }

    /// [`open`](Self::open) then [`activate`](Self::activate): a connected socket.
    ///
    /// # Errors
    ///
    /// [`Error::ShardFull`].
    pub fn connect(&mut self) -> Result<SocketId, Error> {
        let id = self.open()?;
        self.activate(id);
        Ok(id)
    }

    /// Disconnects a socket of this shard: it leaves every room (rooms left empty
    /// cease to exist), its pending and unsent frames are dropped, and its slot is
    /// freed. Returns false if `id` is not a socket of this shard.
    pub fn disconnect(&mut self, id: SocketId) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        self.leave_everything(slot);
        let s = &mut self.slots[slot as usize];
        s.state = SlotState::Free;
        s.token = 0;
        s.gen = s.gen.wrapping_add(1);
        s.backlog = None;
        self.palette.links[slot as usize] = NIL_LINK;
        self.free.push(slot);
        true
    }

    /// Number of connected sockets on this shard.
    #[must_use]
    pub fn socket_count(&self) -> usize {
        self.live_count
    }

    /// Number of rooms with members on this shard (socket-id rooms not counted).
    #[must_use]
    pub fn room_count(&self) -> usize {
        self.room_index.len()
    }

    /// Number of (socket, room) memberships on this shard, socket-id rooms not
    /// counted.
    #[must_use]
    pub fn membership_count(&self) -> usize {
        self.memberships
    }

    /// Whether `id` is a connected socket of this shard.
    #[must_use]
    pub fn is_connected(&self, id: SocketId) -> bool {
        self.live_slot(id).is_some()
    }

    fn id_of(&self, slot: u32) -> SocketId {
        let s = &self.slots[slot as usize];
        SocketId::from_parts(self.node, self.index, slot, s.gen, s.token)
    }

    /// The slot of an open or live socket of this shard.
    fn local_slot(&self, id: SocketId) -> Option<u32> {
        if id.node() != self.node || id.shard() != self.index {
            return None;
        }
        let s = self.slots.get(id.slot() as usize)?;
        (s.state != SlotState::Free && s.token == id.token() && s.gen == id.generation())
            .then_some(id.slot())
    }

    fn live_slot(&self, id: SocketId) -> Option<u32> {
        self.local_slot(id)
            .filter(|&s| self.slots[s as usize].state == SlotState::Live)
    }

    /// The rooms `id` is in, its own id room first (when it is in it), the others
    /// in the order joined; `None` if it is not connected here.
    #[must_use]
    pub fn rooms_of(&self, id: SocketId) -> Option<Vec<String>> {
        let slot = self.live_slot(id)?;
        let s = &self.slots[slot as usize];
        let mut out = Vec::with_capacity(s.rooms.len() + 1);
        if s.own_room {
            out.push(id.to_string());
        }
        out.extend(s.rooms.iter().map(|&r| self.room(r).name.to_string()));
        Some(out)
    }

    /// This shard's members of `room`, in slot order (the socket named by `room`,
    /// if it is one of ours and in its own room, included).
    #[must_use]
    pub fn room_members(&self, room: &str) -> Vec<SocketId> {
        let mut slots = Vec::new();
        self.collect_members(room, SocketId::parse(room), &mut slots);
        slots.sort_unstable();
        slots.into_iter().map(|s| self.id_of(s)).collect()
    }

    fn room(&self, idx: u32) -> &Room {
        self.rooms[idx as usize]
            .as_ref()
            .expect("room index in use")
    }

    fn room_mut(&mut self, idx: u32) -> &mut Room {
        self.rooms[idx as usize]
            .as_mut()
            .expect("room index in use")
    }

    /// The slot of the socket a socket-id room name names, if it is live here and
    /// in its own room.
    fn virtual_member(&self, id: Option<SocketId>) -> Option<u32> {
        let slot = self.live_slot(id?)?;
        self.slots[slot as usize].own_room.then_some(slot)
    }

    fn collect_members(&self, name: &str, id: Option<SocketId>, out: &mut Vec<u32>) {
        out.clear();
        if let Some(&idx) = self.room_index.get(name) {
            self.room(idx).members.for_each(|s| out.push(s));
        }
        if let Some(s) = self.virtual_member(id) {
            out.push(s);
        }
    }

    // ----- membership primitives ------------------------------------------------

    fn room_or_create(&mut self, name: &str) -> u32 {
        if let Some(&idx) = self.room_index.get(name) {
            return idx;
        }
        let name: Arc<str> = Arc::from(name);
        let room = Room {
            name: name.clone(),
            members: RoomSet::default(),
        };
        let idx = match self.free_rooms.pop() {
            Some(i) => {
                self.rooms[i as usize] = Some(room);
                i
            }
            None => {
                self.rooms.push(Some(room));
                (self.rooms.len() - 1) as u32
            }
        };
        self.room_index.insert(name, idx);
        idx
    }

    fn drop_room_if_empty(&mut self, idx: u32) {
        if self.room(idx).members.is_empty() {
            let room = self.rooms[idx as usize].take().expect("room in use");
            self.room_index.remove(&room.name);
            self.free_rooms.push(idx);
        }
    }

    /// Removes `slot` from room `idx` (not from the slot's list) and drops the room
    /// if it empties.
    fn remove_member(&mut self, idx: u32, slot: u32) {
        let limits = self.limits;
        if self.room_mut(idx).members.remove(slot, limits) {
            self.memberships -= 1;
        }
        self.drop_room_if_empty(idx);
    }

    /// Joins (or leaves) each live socket of `ids` that is ours to `room`.
    pub(crate) fn join_ids(&mut self, ids: &[SocketId], room: &str, join: bool) {
        for &id in ids {
            if let Some(slot) = self.live_slot(id) {
                if join {
                    self.join_slot(slot, room);
                } else {
                    self.leave_slot(slot, room);
                }
            }
        }
    }

    fn join_slot(&mut self, slot: u32, room: &str) {
        if SocketId::parse(room).is_some_and(|id| self.local_slot(id) == Some(slot)) {
            self.slots[slot as usize].own_room = true;
            return;
        }
        let idx = self.room_or_create(room);
        let limits = self.limits;
        if self.room_mut(idx).members.insert(slot, limits) {
            self.slots[slot as usize].rooms.push(idx);
            self.memberships += 1;
        }
    }

    fn leave_slot(&mut self, slot: u32, room: &str) {
        if SocketId::parse(room).is_some_and(|id| self.local_slot(id) == Some(slot)) {
            self.slots[slot as usize].own_room = false;
            return;
        }
        let Some(&idx) = self.room_index.get(room) else {
            return;
        };
        let rooms = &mut self.slots[slot as usize].rooms;
        if let Some(pos) = rooms.iter().position(|&r| r == idx) {
            rooms.remove(pos);
            self.remove_member(idx, slot);
        }
    }

    // ----- applying operations ---------------------------------------------------

    /// Applies every operation queued for this shard (at most
    /// [`MAX_OPS_PER_TICK`] a call) and returns how many it applied. Call
    /// [`drain`](Self::drain) afterwards to write what they queued.
    pub fn process_ops(&mut self) -> usize {
        self.link().wake_pending.store(false, Ordering::Release);
        let mut n = 0;
        while n < MAX_OPS_PER_TICK {
            match self.rx.try_recv() {
                Ok(op) => {
                    self.apply(op);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Whether operations are waiting in this shard's channel (for example after
    /// [`process_ops`](Self::process_ops) stopped at its per-tick cap).
    #[must_use]
    pub fn has_pending_ops(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Applies everything in the channel now (before a local operation, to keep
    /// one thread's operations in order).
    fn apply_queued(&mut self) {
        if self.rx.is_empty() {
            return;
        }
        while let Ok(queued) = self.rx.try_recv() {
            self.apply(queued);
        }
    }

    pub(crate) fn apply(&mut self, op: Op) {
        match op {
            Op::Join(ids, room) => self.join_ids(&ids, &room, true),
            Op::Leave(ids, room) => self.join_ids(&ids, &room, false),
            Op::Broadcast(b) => self.apply_broadcast(&b),
            Op::Blast(frame, omit) => self.apply_blast(frame, omit),
            Op::Emit(ids, frame) => {
                let f = self.palette.push_frame(frame);
                for id in ids {
                    if let Some(slot) = self.live_slot(id) {
                        self.palette.deliver(slot, f, true);
                    }
                }
            }
            Op::LeaveAll(room, options) => self.apply_leave_all(&room, options),
            Op::AddMembers(o) => self.apply_room_to_rooms(&o, true),
            Op::RemoveMembers(o) => self.apply_room_to_rooms(&o, false),
            Op::Disconnect(id) => {
                if self.live_slot(id).is_some() {
                    self.disconnect(id);
                    self.closed.push((id, CloseCause::Disconnected));
                }
            }
            Op::Run(f) => f(self),
        }
    }

    fn apply_broadcast(&mut self, b: &BroadcastOp) {
        self.stats.broadcasts += 1;
        let f = self.palette.push_frame(b.frame.clone());
        let omit = b.omit.and_then(|id| self.live_slot(id)).unwrap_or(NIL);
        let dedupe = b.rooms.len() > 1;
        for room in &b.rooms {
            if let Some(&idx) = self.room_index.get(&*room.name) {
                let members = &self.rooms[idx as usize]
                    .as_ref()
                    .expect("indexed room")
                    .members;
                let palette = &mut self.palette;
                match members {
                    // The two arms are the hot loops of fanout; keep them tight.
                    RoomSet::Dense { words, .. } => for_each_bit(words, |s| {
                        if s != omit {
                            palette.deliver(s, f, dedupe);
                        }
                    }),
                    RoomSet::Sorted(v) => {
                        for &s in v.iter() {
                            if s != omit {
                                palette.deliver(s, f, dedupe);
                            }
                        }
                    }
                }
            }
            if let Some(s) = self.virtual_member(room.id) {
                if s != omit {
                    // The owner of an id room is never in that room's explicit set,
                    // but may have been reached through another room.
                    self.palette.deliver(s, f, dedupe);
                }
            }
        }
    }

    fn apply_blast(&mut self, frame: Bytes, omit: Option<SocketId>) {
        self.stats.broadcasts += 1;
        let f = self.palette.push_frame(frame);
        let omit = omit.and_then(|id| self.live_slot(id)).unwrap_or(NIL);
        let palette = &mut self.palette;
        for_each_bit(&self.live, |s| {
            if s != omit {
                palette.deliver(s, f, false);
            }
        });
    }

    fn apply_leave_all(&mut self, room: &RoomRef, options: LeaveAllOptions) {
        let mut members = std::mem::take(&mut self.scratch_slots);
        self.collect_members(&room.name, room.id, &mut members);
        let source = self.room_index.get(&*room.name).copied();
        for &m in &members {
            let before = std::mem::take(&mut self.slots[m as usize].rooms);
            let mut kept = SmallVec::new();
            for r in before {
                if !options.include_source_room && Some(r) == source {
                    kept.push(r);
                } else {
                    self.remove_member(r, m);
                }
            }
            self.slots[m as usize].rooms = kept;
            if options.include_socket_rooms {
                self.slots[m as usize].own_room = false;
            }
        }
        self.scratch_slots = members;
    }

    fn apply_room_to_rooms(&mut self, o: &RoomsOp, add: bool) {
        // Snapshot the source's members as words (explicit members and the socket
        // an id room names), so that later changes — even to the source itself —
        // do not affect who is moved.
        let mut words = std::mem::take(&mut self.scratch_words);
        words.clear();
        if let Some(&idx) = self.room_index.get(&*o.source.name) {
            self.room(idx).members.to_words(&mut words);
        }
        if let Some(s) = self.virtual_member(o.source.id) {
            let w = s as usize >> 6;
            if w >= words.len() {
                words.resize(w + 1, 0);
            }
            words[w] |= 1 << (s & 63);
        }
        if words.iter().all(|&w| w == 0) {
            self.scratch_words = words;
            return;
        }
        let limits = self.limits;
        let mut changed = std::mem::take(&mut self.scratch_slots);
        for dest in &o.dests {
            // The socket a dest id room names joins/leaves it through its flag.
            let owner = dest.id.and_then(|id| self.live_slot(id));
            let mut masked_bit = None;
            if let Some(s) = owner {
                let (w, b) = (s as usize >> 6, 1u64 << (s & 63));
                if words.get(w).is_some_and(|x| x & b != 0) {
                    self.slots[s as usize].own_room = add;
                    words[w] &= !b;
                    masked_bit = Some((w, b));
                }
            }
            changed.clear();
            if add {
                let idx = self.room_or_create(&dest.name);
                self.room_mut(idx)
                    .members
                    .union_words(&words, limits, |s| changed.push(s));
                for &s in &changed {
                    self.slots[s as usize].rooms.push(idx);
                }
                self.memberships += changed.len();
                self.drop_room_if_empty(idx);
            } else if let Some(&idx) = self.room_index.get(&*dest.name) {
                self.room_mut(idx)
                    .members
                    .subtract_words(&words, limits, |s| changed.push(s));
                for &s in &changed {
                    let rooms = &mut self.slots[s as usize].rooms;
                    if let Some(pos) = rooms.iter().position(|&r| r == idx) {
                        rooms.remove(pos);
                    }
                }
                self.memberships -= changed.len();
                self.drop_room_if_empty(idx);
            }
            if let Some((w, b)) = masked_bit {
                words[w] |= b;
            }
        }
        self.scratch_slots = changed;
        self.scratch_words = words;
    }

    // ----- local sends and draining ---------------------------------------------

    /// Queues one prepared frame (or any bytes holding whole frames) to an open or
    /// connected socket of this shard, after whatever is already queued to it.
    /// Returns false if `id` is not a socket of this shard.
    pub fn send(&mut self, id: SocketId, frame: Bytes) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        let f = self.palette.push_frame(frame);
        self.palette.deliver(slot, f, false);
        true
    }

    /// Offers every socket that got frames this tick its pending frames, in order,
    /// through `writer` (one call a socket, at most [`MAX_IOV`] buffers a call),
    /// keeps what it did not take on the socket's backlog, and starts a new tick.
    pub fn drain<W: Writer + ?Sized>(&mut self, writer: &mut W) {
        let dirty = std::mem::take(&mut self.palette.dirty);
        for &slot in &dirty {
            self.flush_pending(slot, writer);
        }
        let mut dirty = dirty;
        dirty.clear();
        self.palette.dirty = dirty;
        self.palette.arena.clear();
        self.palette.frames.clear();
        self.stats.deliveries += self.palette.deliveries;
        self.palette.deliveries = 0;
    }

    fn flush_pending<W: Writer + ?Sized>(&mut self, slot: u32, writer: &mut W) {
        let link = std::mem::replace(&mut self.palette.links[slot as usize], NIL_LINK);
        if link.head == NIL {
            return; // disconnected this tick
        }
        let id = self.id_of(slot);
        let palette = &self.palette;
        let s = &mut self.slots[slot as usize];
        if s.overflowed {
            return;
        }
        if let Some(backlog) = &mut s.backlog {
            // Already waiting for the transport: queue behind, write nothing now.
            let mut e = link.head;
            while e != NIL {
                let entry = palette.arena[e as usize];
                let frame = &palette.frames[entry.frame as usize];
                backlog.bytes += frame.len();
                backlog.bufs.push_back(frame.clone());
                e = entry.next;
            }
            self.check_overflow(slot, id);
            return;
        }
        if link.head == link.tail {
            // One frame: the common case of fanout.
            let frame = &palette.frames[palette.arena[link.head as usize].frame as usize];
            let n = writer.write(id, &[IoSlice::new(frame)]);
            self.stats.writes += 1;
            self.stats.bytes_written += n.min(frame.len()) as u64;
            if n < frame.len() {
                let rest = frame.slice(n..);
                s.backlog = Some(Box::new(Backlog {
                    bytes: rest.len(),
                    bufs: VecDeque::from([rest]),
                }));
                self.check_overflow(slot, id);
            }
            return;
        }
        let mut order = std::mem::take(&mut self.scratch_frames);
        order.clear();
        let mut e = link.head;
        while e != NIL {
            let entry = palette.arena[e as usize];
            order.push(entry.frame);
            e = entry.next;
        }
        let mut done = 0; // frames of `order` fully written
        let mut partial = 0; // bytes written of order[done]
        while done < order.len() {
            let chunk = &order[done..order.len().min(done + MAX_IOV)];
            let iov: SmallVec<[IoSlice<'_>; 16]> = chunk
                .iter()
                .map(|&f| IoSlice::new(&palette.frames[f as usize]))
                .collect();
            let total: usize = iov.iter().map(|b| b.len()).sum();
            let n = writer.write(id, &iov).min(total);
            self.stats.writes += 1;
            self.stats.bytes_written += n as u64;
            let mut left = n;
            for &f in chunk {
                let len = palette.frames[f as usize].len();
                if left >= len {
                    left -= len;
                    done += 1;
                } else {
                    partial = left;
                    break;
                }
            }
            if n < total {
                break;
            }
        }
        if done < order.len() {
            let mut bufs = VecDeque::with_capacity(order.len() - done);
            let mut bytes = 0;
            for (i, &f) in order[done..].iter().enumerate() {
                let frame = &palette.frames[f as usize];
                let b = if i == 0 {
                    frame.slice(partial..)
                } else {
                    frame.clone()
                };
                bytes += b.len();
                bufs.push_back(b);
            }
            self.slots[slot as usize].backlog = Some(Box::new(Backlog { bufs, bytes }));
            self.check_overflow(slot, id);
        }
        self.scratch_frames = order;
    }

    fn check_overflow(&mut self, slot: u32, id: SocketId) {
        let limit = self.engine.inner.config.outbound_limit;
        let s = &mut self.slots[slot as usize];
        if s.backlog.as_ref().is_some_and(|b| b.bytes > limit) {
            s.backlog = None;
            s.overflowed = true;
            self.stats.slow_consumers += 1;
            self.closed.push((id, CloseCause::SlowConsumer));
        }
    }

    /// Whether `id` has bytes the writer has not taken yet.
    #[must_use]
    pub fn has_backlog(&self, id: SocketId) -> bool {
        self.local_slot(id)
            .is_some_and(|s| self.slots[s as usize].backlog.is_some())
    }

    /// Bytes queued to `id` that the writer has not taken yet.
    #[must_use]
    pub fn backlog_bytes(&self, id: SocketId) -> usize {
        self.local_slot(id)
            .and_then(|s| self.slots[s as usize].backlog.as_ref().map(|b| b.bytes))
            .unwrap_or(0)
    }

    /// Offers `id`'s backlog to `writer` again (call when its transport is
    /// writable). Returns true when nothing is left unsent.
    pub fn flush<W: Writer + ?Sized>(&mut self, id: SocketId, writer: &mut W) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return true;
        };
        let s = &mut self.slots[slot as usize];
        let Some(backlog) = &mut s.backlog else {
            return true;
        };
        loop {
            let iov: SmallVec<[IoSlice<'_>; 16]> = backlog
                .bufs
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            let total: usize = iov.iter().map(|b| b.len()).sum();
            let n = writer.write(id, &iov).min(total);
            drop(iov);
            self.stats.writes += 1;
            self.stats.bytes_written += n as u64;
            backlog.bytes -= n;
            let mut left = n;
            while left > 0 {
                let front = backlog.bufs.front_mut().expect("taken bytes were queued");
                if left >= front.len() {
                    left -= front.len();
                    backlog.bufs.pop_front();
                } else {
                    let rest = front.slice(left..);
                    *front = rest;
                    left = 0;
                }
            }
            if backlog.bufs.is_empty() {
                s.backlog = None;
                return true;
            }
            if n < total {
                return false;
            }
        }
    }

    /// Takes the list of sockets whose transports the owner should close, and why:
    /// slow consumers (still connected until the owner calls
    /// [`disconnect`](Self::disconnect)) and sockets disconnected through
    /// [`Engine::disconnect`] (already gone from every room).
    pub fn take_closed(&mut self) -> Vec<(SocketId, CloseCause)> {
        std::mem::take(&mut self.closed)
    }

    // ----- operations, applied here first ------------------------------------------

    /// As [`Engine::join`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::join`].
    pub fn join(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        ops::join(self, &sockets, room, true)
    }

    /// As [`Engine::leave`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::leave`].
    pub fn leave(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        ops::join(self, &sockets, room, false)
    }

    /// As [`Engine::broadcast_frame`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::broadcast_frame`].
    pub fn broadcast_frame(
        &mut self,
        rooms: impl ToRoomNames,
        frame: &Frame,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        ops::broadcast(self, &rooms, frame, omit)
    }

    /// As [`Engine::broadcast`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::broadcast`].
    pub fn broadcast<T: serde::Serialize + ?Sized>(
        &mut self,
        rooms: impl ToRoomNames,
        event: Option<&str>,
        data: &T,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let frame = self.engine.event_frame(event, data)?;
        ops::broadcast(self, &rooms, &frame, omit)
    }

    /// As [`Engine::blast_frame`], applying this shard's part at once.
    pub fn blast_frame(&mut self, frame: &Frame, omit: Option<SocketId>) {
        ops::blast(self, frame, omit);
    }

    /// As [`Engine::emit_frame`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::emit`].
    pub fn emit_frame(&mut self, sockets: impl ToSocketIds, frame: &Frame) -> Result<(), Error> {
        ops::emit(self, &sockets, frame)
    }

    /// As [`Engine::leave_all`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::leave_all`].
    pub fn leave_all(&mut self, room: &str, options: LeaveAllOptions) -> Result<(), Error> {
        ops::leave_all(self, room, options)
    }

    /// As [`Engine::add_room_members_to_rooms`], applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::add_room_members_to_rooms`].
    pub fn add_room_members_to_rooms(
        &mut self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        ops::room_to_rooms(self, source_room, &dest_rooms, true)
    }

    /// As [`Engine::remove_room_members_from_rooms`], applying this shard's part at
    /// once.
    ///
    /// # Errors
    ///
    /// As [`Engine::remove_room_members_from_rooms`].
    pub fn remove_room_members_from_rooms(
        &mut self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        ops::room_to_rooms(self, source_room, &dest_rooms, false)
    }

    /// Resourceful pub/sub for a model, applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentity`].
    pub fn model(&mut self, identity: &str) -> Result<crate::Model<&mut Shard>, Error> {
        crate::Model::new(self, identity)
    }

    // ----- invariants --------------------------------------------------------------

    /// Checks every internal invariant: the liveness table and live bitset agree
    /// with the slots; each socket's room list agrees with the rooms' member sets;
    /// no room is empty or kept twice; cached lengths match popcounts; nothing
    /// pends between ticks. Returns a description of the first violation.
    ///
    /// # Errors
    ///
    /// A description of what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let liveness = &self.link().liveness;
        let mut live = 0;
        let mut memberships = 0;
        for (i, s) in self.slots.iter().enumerate() {
            let slot = i as u32;
            let bit = self
                .live
                .get(i >> 6)
                .is_some_and(|w| w & (1 << (i & 63)) != 0);
            let is_live = s.state == SlotState::Live;
            if bit != is_live {
                return Err(format!(
                    "slot {slot}: live bit {bit} but state {:?}",
                    s.state
                ));
            }
            let table = liveness.get(slot);
            if is_live {
                live += 1;
                if table != s.token || s.token == 0 {
                    return Err(format!("slot {slot}: liveness table disagrees"));
                }
            } else if table != 0 {
                return Err(format!("slot {slot}: not live but in the liveness table"));
            }
            if !is_live && (!s.rooms.is_empty() || s.own_room) {
                return Err(format!("slot {slot}: not live but in rooms"));
            }
            if s.state == SlotState::Free && !self.free.contains(&slot) {
                return Err(format!("slot {slot}: free but not on the free list"));
            }
            for (j, &r) in s.rooms.iter().enumerate() {
                if s.rooms[..j].contains(&r) {
                    return Err(format!("slot {slot}: room {r} listed twice"));
                }
                match self.rooms.get(r as usize).and_then(Option::as_ref) {
                    Some(room) if room.members.contains(slot) => {}
                    _ => return Err(format!("slot {slot}: lists room {r} it is not in")),
                }
            }
            memberships += s.rooms.len();
        }
        if live != self.live_count {
            return Err(format!(
                "live count {} but {live} live slots",
                self.live_count
            ));
        }
        if memberships != self.memberships {
            return Err(format!(
                "memberships {} but {memberships} counted",
                self.memberships
            ));
        }
        let mut rooms = 0;
        for (i, room) in self.rooms.iter().enumerate() {
            let Some(room) = room else {
                if !self.free_rooms.contains(&(i as u32)) {
                    return Err(format!("room slot {i} empty but not free"));
                }
                continue;
            };
            rooms += 1;
            room.members.validate()?;
            if room.members.is_empty() {
                return Err(format!("room {:?} is empty but kept", room.name));
            }
            if self.room_index.get(&room.name) != Some(&(i as u32)) {
                return Err(format!("room {:?} not indexed", room.name));
            }
            let mut bad = None;
            room.members.for_each(|s| {
                let ok = self
                    .slots
                    .get(s as usize)
                    .is_some_and(|x| x.state == SlotState::Live && x.rooms.contains(&(i as u32)));
                if !ok && bad.is_none() {
                    bad = Some(s);
                }
            });
            if let Some(s) = bad {
                return Err(format!(
                    "room {:?} holds slot {s} that does not list it",
                    room.name
                ));
            }
        }
        if rooms != self.room_index.len() {
            return Err(format!(
                "{} rooms indexed but {rooms} kept",
                self.room_index.len()
            ));
        }
        for (slot, link) in self.palette.links.iter().enumerate() {
            if link.head != NIL && !self.palette.dirty.contains(&(slot as u32)) {
                return Err(format!("slot {slot} has pending frames but is not dirty"));
            }
            let mut e = link.head;
            while e != NIL {
                let entry = self.palette.arena[e as usize];
                if entry.frame as usize >= self.palette.frames.len() {
                    return Err(format!(
                        "slot {slot} pends frame {} beyond the palette",
                        entry.frame
                    ));
                }
                e = entry.next;
            }
        }
        Ok(())
    }
}

#[allow(private_interfaces)]
impl sealed::Dispatch for Shard {
    fn engine(&self) -> &Engine {
        &self.engine
    }
    fn dispatch(&mut self, shard: usize, op: Op) {
        if shard == self.index() {
            // Operations this thread sent earlier through the engine may still be
            // in our channel: apply them first, so one thread's operations keep
            // their order whichever handle it used.
            self.apply_queued();
            self.apply(op);
        } else {
            self.engine.send(shard, op);
        }
    }
    fn local_shard(&mut self, shard: usize) -> Option<&mut Shard> {
        if shard != self.index() {
            return None;
        }
        self.apply_queued();
        Some(self)
    }
}
impl Target for Shard {}
