//! [`Shard`]: one thread's sockets and their rooms.
//!
//! A shard owns a slice of the engine's sockets (each [`SocketId`] names its
//! shard), the member sets of every room those sockets are in, and the palette
//! (`palette.rs`) that delivers their frames: once a tick, one gather-list write
//! a socket, with a per-socket backlog of what the transport did not take and a
//! slow-consumer cut-off at the engine's `outbound_limit`. It is driven by one
//! thread: [`Shard::process_ops`] applies what other threads mailed to it,
//! [`Shard::drain`] writes what was queued this tick. The same operations as on
//! [`Engine`](crate::Engine) are methods here too; called on the shard's own
//! thread they apply its own part at once (so a route handler's broadcast reaches
//! the requester before the handler's answer).
//!
//! The shard is split by concept:
//!
//! * this file: sockets (slots, open/activate/deactivate/disconnect), reading
//!   membership, the mailbox and delivery plumbing;
//! * `rooms.rs`: room membership primitives and applying operations to them;
//! * `local_ops.rs`: the operation methods that apply the shard's part at once;
//! * `validate.rs`: the invariant checker.
//!
//! # Membership
//!
//! Each room present on the shard has a `RoomSet` of member slots, and each
//! socket the list of its rooms. A room is removed when its last member leaves.
//! Every socket is a member of the room named by its own id without any entry: a
//! flag on the socket (cleared only by `leave`/`leaveAll` with
//! `includeSocketRooms`).

mod local_ops;
mod rooms;
mod validate;

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use crossbeam_channel::{Receiver, TrySendError};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use smallvec::SmallVec;

use crate::config::EngineConfig;
use crate::hub::Hub;
use crate::liveness::live_key;
use crate::palette::Palette;
use crate::query::{Answer, Query};
use crate::room_set::{RoomSet, SetLimits};
use crate::shard_link::{Mail, ShardLink};
use crate::writer::Writer;
use crate::{Error, NodeId, SocketId};

pub use crate::palette::MAX_IOV;

/// Most mailbox messages applied by one [`Shard::process_ops`] call, so a tick's
/// palette stays bounded under a flood.
pub const MAX_OPS_PER_TICK: usize = 4096;

/// Why a shard asks its owner to close a socket's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCause {
    /// Its unsent bytes passed the outbound limit (a slow consumer).
    SlowConsumer,
    /// [`Engine::disconnect`](crate::Engine::disconnect) was called for it.
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
    /// Its transport is closing (a close frame was queued): nothing more is
    /// queued to it — no room, no blast, no emit, no `send` — until the owner
    /// disconnects it.
    Sealed,
}

#[derive(Debug)]
struct Slot {
    token: u64,
    gen: u16,
    state: SlotState,
    own_room: bool,
    rooms: SmallVec<[u32; 4]>,
    /// What the server knows of the socket ([`Shard::set_user`],
    /// [`Shard::set_data`]); boxed, so sockets without any cost one word.
    meta: Option<Box<SocketMeta>>,
}

/// A socket's user and application data.
#[derive(Debug, Default)]
struct SocketMeta {
    user: Option<Arc<str>>,
    data: Option<Arc<str>>,
    address: Option<Arc<str>>,
}

#[derive(Debug)]
struct RoomEntry {
    name: Arc<str>,
    members: RoomSet,
}

/// One shard: sockets, rooms and delivery state, owned by one thread. See the
/// [module docs](self).
pub struct Shard {
    index: u16,
    node: NodeId,
    hub: Arc<Hub>,
    rx: Receiver<Mail>,
    limits: SetLimits,
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: Vec<u64>,
    live_count: usize,
    rooms: Vec<Option<RoomEntry>>,
    free_rooms: Vec<u32>,
    room_index: HashMap<Arc<str>, u32, ahash::RandomState>,
    memberships: usize,
    palette: Palette,
    closed: Vec<(SocketId, CloseCause)>,
    scratch_words: Vec<u64>,
    scratch_slots: Vec<u32>,
    rng: StdRng,
    broadcasts: u64,
    /// Mail for other shards whose mailboxes were full, per target shard, in
    /// order: sent by [`flush_held`](Self::flush_held).
    held: Vec<VecDeque<Mail>>,
    held_count: usize,
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
    pub(crate) fn new(index: u16, hub: Arc<Hub>, rx: Receiver<Mail>) -> Shard {
        let config = &hub.config;
        Shard {
            index,
            node: config.node,
            limits: SetLimits::for_slots(0, config.dense_room_min),
            palette: Palette::new(config.outbound_limit),
            hub,
            rx,
            slots: Vec::new(),
            free: Vec::new(),
            live: Vec::new(),
            live_count: 0,
            rooms: Vec::new(),
            free_rooms: Vec::new(),
            room_index: HashMap::default(),
            memberships: 0,
            closed: Vec::new(),
            scratch_words: Vec::new(),
            scratch_slots: Vec::new(),
            rng: StdRng::from_os_rng(),
            broadcasts: 0,
            held: Vec::new(),
            held_count: 0,
        }
    }

    /// This shard's index.
    #[must_use]
    pub fn index(&self) -> usize {
        usize::from(self.index)
    }

    /// The configuration of the engine this shard belongs to.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.hub.config
    }

    /// Sets the hook producers call when they queue work for this shard while it is
    /// idle (the server passes its `mio::Waker`). Only the first call takes effect.
    pub fn set_waker(&self, wake: impl Fn() + Send + Sync + 'static) {
        self.link().set_waker(Box::new(wake));
    }

    fn link(&self) -> &ShardLink {
        &self.hub.links[self.index()]
    }

    /// Counters since the shard started (deliveries so far this tick included).
    #[must_use]
    pub fn stats(&self) -> ShardStats {
        let d = self.palette.stats();
        ShardStats {
            broadcasts: self.broadcasts,
            deliveries: d.deliveries,
            writes: d.writes,
            bytes_written: d.bytes_written,
            slow_consumers: d.slow_consumers,
        }
    }

    // ----- sockets -------------------------------------------------------------

    /// Allocates a socket that can be sent frames ([`send`](Self::send)) but is not
    /// yet connected: not in any room, not reached by blasts, unknown to
    /// [`Engine::is_connected`](crate::Engine::is_connected).
    /// [`activate`](Self::activate) connects it. The server opens a socket when a
    /// WebSocket is accepted and activates it at the Socket.IO CONNECT.
    ///
    /// # Errors
    ///
    /// [`Error::ShardFull`] when the shard holds `max_sockets_per_shard` sockets.
    pub fn open(&mut self) -> Result<SocketId, Error> {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let max = self
                    .hub
                    .config
                    .max_sockets_per_shard
                    .min(crate::id::MAX_SLOTS);
                let s = self.slots.len() as u32;
                if s >= max {
                    return Err(Error::ShardFull(self.index()));
                }
                self.slots.push(Slot {
                    token: 0,
                    gen: 0,
                    state: SlotState::Free,
                    own_room: false,
                    rooms: SmallVec::new(),
                    meta: None,
                });
                self.palette.grow_to(self.slots.len());
                if (s as usize >> 6) >= self.live.len() {
                    self.live.push(0);
                }
                self.limits = SetLimits::for_slots(s + 1, self.hub.config.dense_room_min);
                s
            }
        };
        // The token decides the id's text form (crate::id): draw until it has
        // the one asked for.
        let mut token = 0;
        if self.hub.config.short_ids {
            while token == 0 {
                token = self.rng.next_u64() % crate::id::SHORT_TOKEN_LIMIT;
            }
        } else {
            while token < crate::id::SHORT_TOKEN_LIMIT {
                token = self.rng.next_u64();
            }
        }
        let slot_ref = &mut self.slots[slot as usize];
        debug_assert_eq!(slot_ref.state, SlotState::Free);
        slot_ref.token = token;
        slot_ref.state = SlotState::Open;
        slot_ref.own_room = false;
        Ok(self.id_of(slot))
    }

    /// Connects a socket [`open`](Self::open)ed earlier: it becomes a member of
    /// the room named by its id, is reached by blasts, and is known to every
    /// thread's [`Engine::is_connected`](crate::Engine::is_connected). Returns
    /// false if `id` is not an open socket of this shard.
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
        self.link()
            .liveness
            .set(slot, live_key(id.token(), id.generation()));
        true
    }

    /// Undoes [`activate`](Self::activate): the socket leaves every room (its own
    /// id room included), is no longer reached by blasts or known to
    /// [`Engine::is_connected`](crate::Engine::is_connected), but stays open for
    /// [`send`](Self::send) and can be activated again (with the same id). The
    /// server does this when a client leaves the `/` namespace (`41`) but keeps
    /// its connection. Returns false if `id` is not a connected socket of this
    /// shard.
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

    /// Seals a socket whose transport is closing (its close frame was the last
    /// thing queued to it): it leaves every room, is no longer connected, and
    /// nothing more is queued to it — RFC 6455 allows no data frame after a
    /// Close. What was queued before is still written, past the outbound limit
    /// too (it can no longer grow, so the close frame is not lost to a
    /// slow-consumer cut-off; the owner's close deadline bounds it). Returns false if `id` is
    /// not an open or connected socket of this shard.
    pub fn seal(&mut self, id: SocketId) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        if self.slots[slot as usize].state == SlotState::Sealed {
            return true;
        }
        self.leave_everything(slot);
        self.slots[slot as usize].state = SlotState::Sealed;
        self.palette.seal(slot);
        true
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
        s.meta = None;
        s.gen = s.gen.wrapping_add(1);
        self.palette.reset(slot);
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

    /// Number of rooms whose member set is currently a bitset (for tests of the
    /// representation switch).
    #[doc(hidden)]
    #[must_use]
    pub fn dense_room_count(&self) -> usize {
        self.rooms
            .iter()
            .flatten()
            .filter(|r| r.members.is_dense())
            .count()
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

    /// Sockets connected to this node now, over every shard
    /// ([`Engine::live_sockets`](crate::Engine::live_sockets)).
    #[must_use]
    pub fn node_live_sockets(&self) -> usize {
        self.hub.live_sockets()
    }

    /// Whether `id` is a socket connected to this node (any of its shards):
    /// [`Engine::is_connected`](crate::Engine::is_connected) from the shard's
    /// thread.
    #[must_use]
    pub fn knows(&self, id: SocketId) -> bool {
        self.hub.is_connected(id)
    }

    /// Whether `id` is known not to be a live socket anywhere: not connected
    /// here, and not an id of another member of the cluster (whose owner
    /// alone can tell).
    #[must_use]
    pub fn is_unknown(&self, id: SocketId) -> bool {
        if self.hub.is_connected(id) {
            return false;
        }
        match self.hub.adapter() {
            Some(a) if !self.hub.is_local(id) => {
                a.node_state(id.node()) == crate::adapter::NodeState::Unknown
            }
            _ => true,
        }
    }

    pub(super) fn id_of(&self, slot: u32) -> SocketId {
        let s = &self.slots[slot as usize];
        SocketId::new_unchecked(self.node, self.index, slot, s.gen, s.token)
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

    // ----- reading membership ----------------------------------------------------

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

    /// Labels socket `id` of this shard with its user (e.g. a token's `sub`),
    /// shown by socket queries; `None` removes it. The label goes when the
    /// socket does. Returns false if `id` is not a socket of this shard.
    pub fn set_user(&mut self, id: SocketId, user: Option<Arc<str>>) -> bool {
        self.with_meta(id, |m| m.user = user)
    }

    /// The user label of socket `id` of this shard ([`set_user`](Self::set_user)).
    #[must_use]
    pub fn user_of(&self, id: SocketId) -> Option<&Arc<str>> {
        self.meta_of(id)?.user.as_ref()
    }

    /// Keeps application data (raw JSON, e.g. a connect webhook's `data`)
    /// with socket `id` of this shard, shown by socket queries; `None`
    /// removes it. Returns false if `id` is not a socket of this shard.
    pub fn set_data(&mut self, id: SocketId, data: Option<Arc<str>>) -> bool {
        self.with_meta(id, |m| m.data = data)
    }

    /// The application data of socket `id` ([`set_data`](Self::set_data)).
    #[must_use]
    pub fn data_of(&self, id: SocketId) -> Option<&Arc<str>> {
        self.meta_of(id)?.data.as_ref()
    }

    /// Records the client address of socket `id` of this shard (the peer,
    /// or what a trusted proxy said), shown by socket queries. Returns false
    /// if `id` is not a socket of this shard.
    pub fn set_address(&mut self, id: SocketId, address: Option<Arc<str>>) -> bool {
        self.with_meta(id, |m| m.address = address)
    }

    /// The client address of socket `id` ([`set_address`](Self::set_address)).
    #[must_use]
    pub fn address_of(&self, id: SocketId) -> Option<&Arc<str>> {
        self.meta_of(id)?.address.as_ref()
    }

    fn meta_of(&self, id: SocketId) -> Option<&SocketMeta> {
        let slot = self.local_slot(id)?;
        self.slots[slot as usize].meta.as_deref()
    }

    fn with_meta(&mut self, id: SocketId, f: impl FnOnce(&mut SocketMeta)) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        let s = &mut self.slots[slot as usize];
        f(s.meta.get_or_insert_with(Box::default));
        if s.meta
            .as_ref()
            .is_some_and(|m| m.user.is_none() && m.data.is_none() && m.address.is_none())
        {
            s.meta = None;
        }
        true
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

    /// This shard's part of `query`.
    #[must_use]
    pub fn answer(&self, query: &Query) -> Answer {
        match query {
            Query::Room { room, limit } => {
                let mut slots = Vec::new();
                self.collect_members(room.name(), room.socket(), &mut slots);
                let count = slots.len();
                if *limit < count {
                    slots.select_nth_unstable(*limit);
                    slots.truncate(*limit);
                }
                slots.sort_unstable();
                Answer::Room {
                    count,
                    members: slots.into_iter().map(|s| self.id_of(s)).collect(),
                }
            }
            Query::Socket { id } => Answer::Socket {
                rooms: self.rooms_of(*id),
                user: self.user_of(*id).map(|u| u.to_string()),
                data: self.data_of(*id).map(|d| d.to_string()),
                address: self.address_of(*id).map(|a| a.to_string()),
            },
            Query::Sockets {
                rooms,
                except,
                limit,
            } => {
                let words = self.selection(rooms, except);
                let mut count = 0;
                let mut sockets = Vec::new();
                crate::room_set::for_each_bit(&words, |s| {
                    count += 1;
                    if sockets.len() < *limit {
                        let id = self.id_of(s);
                        sockets.push(crate::query::SocketInfo {
                            id,
                            rooms: self.rooms_of(id).unwrap_or_default(),
                            user: self.user_of(id).map(|u| u.to_string()),
                            data: self.data_of(id).map(|d| d.to_string()),
                            address: self.address_of(id).map(|a| a.to_string()),
                        });
                    }
                });
                Answer::Sockets { count, sockets }
            }
            Query::Rooms { limit } => {
                let mut rooms: Vec<String> =
                    self.room_index.keys().map(|r| r.to_string()).collect();
                rooms.sort_unstable();
                rooms.truncate(*limit);
                Answer::Rooms { rooms }
            }
        }
    }

    // ----- the mailbox -------------------------------------------------------------

    /// Applies the operations and queries mailed to this shard (at most
    /// [`MAX_OPS_PER_TICK`] a call) and returns how many it applied. Call
    /// [`drain`](Self::drain) afterwards to write what they queued.
    pub fn process_ops(&mut self) -> usize {
        self.link().lower_wake_flag();
        let mut n = 0;
        while n < MAX_OPS_PER_TICK {
            match self.rx.try_recv() {
                Ok(mail) => {
                    self.apply_mail(mail);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        n
    }

    /// Whether mail is waiting in this shard's mailbox (for example after
    /// [`process_ops`](Self::process_ops) stopped at its per-tick cap).
    #[must_use]
    pub fn has_pending_ops(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Applies everything in the mailbox now (before a local operation, to keep
    /// one thread's operations in order).
    fn apply_queued(&mut self) {
        if self.rx.is_empty() {
            return;
        }
        while let Ok(queued) = self.rx.try_recv() {
            self.apply_mail(queued);
        }
    }

    /// Mails another shard without waiting: what does not fit is held, in order,
    /// behind anything already held for that shard.
    pub(crate) fn mail_other(&mut self, shard: usize, mail: Mail) {
        if self.held.len() <= shard {
            self.held.resize_with(self.hub.shard_count(), VecDeque::new);
        }
        if !self.held[shard].is_empty() {
            self.held[shard].push_back(mail);
            self.held_count += 1;
            return;
        }
        if let Err(TrySendError::Full(mail)) = self.hub.links[shard].try_send(mail) {
            self.held[shard].push_back(mail);
            self.held_count += 1;
        }
    }

    /// Whether mail for other shards is held because their mailboxes were full.
    /// The owner of a shard that holds mail should stop taking new work (a
    /// server stops reading client input) and call
    /// [`flush_held`](Self::flush_held) each tick: that is how back-pressure
    /// reaches clients, and memory stays bounded.
    #[must_use]
    pub fn has_held(&self) -> bool {
        self.held_count > 0
    }

    /// Sends held mail, in order, as far as the other shards' mailboxes have
    /// room. Returns true when nothing is held any more.
    pub fn flush_held(&mut self) -> bool {
        if self.held_count == 0 {
            return true;
        }
        for (shard, queue) in self.held.iter_mut().enumerate() {
            while let Some(mail) = queue.pop_front() {
                match self.hub.links[shard].try_send(mail) {
                    Ok(()) | Err(TrySendError::Disconnected(_)) => self.held_count -= 1,
                    Err(TrySendError::Full(mail)) => {
                        queue.push_front(mail);
                        break;
                    }
                }
            }
        }
        self.held_count == 0
    }

    pub(crate) fn apply_mail(&mut self, mail: Mail) {
        match mail {
            Mail::Op(op) => self.apply(op),
            Mail::Query(gather, part) => gather.shard_part(part, self.answer(gather.query())),
            Mail::Run(f) => f(self as &mut dyn Any),
        }
    }

    // ----- delivery ------------------------------------------------------------------

    /// Queues one prepared frame (or any bytes holding whole frames) to an open or
    /// connected socket of this shard, after whatever is already queued to it —
    /// including the operations this thread mailed to this shard and that are
    /// still in its mailbox, which are applied first. Returns false if `id` is not
    /// an open or connected socket of this shard (or is [sealed](Self::seal)).
    pub fn send(&mut self, id: SocketId, frame: Bytes) -> bool {
        let Some(slot) = self.local_slot(id) else {
            return false;
        };
        if self.slots[slot as usize].state == SlotState::Sealed {
            return false;
        }
        // What this thread mailed earlier (through the engine) goes first: a
        // handler's broadcast is never overtaken by its own ack.
        self.apply_queued();
        let f = self.palette.push_frame(frame);
        self.palette.deliver(slot, f, false);
        true
    }

    /// Offers every socket that got frames this tick its pending frames, in order,
    /// through `writer` (one call a socket, at most [`MAX_IOV`] buffers a call), keeps what it did not
    /// take on the socket's backlog, and starts a new tick.
    pub fn drain<W: Writer + ?Sized>(&mut self, writer: &mut W) {
        let (slots, node, index) = (&self.slots, self.node, self.index);
        self.palette.drain(writer, |slot| {
            let s = &slots[slot as usize];
            SocketId::new_unchecked(node, index, slot, s.gen, s.token)
        });
    }

    /// Whether `id` has bytes the writer has not taken yet.
    #[must_use]
    pub fn has_backlog(&self, id: SocketId) -> bool {
        self.backlog_bytes(id) > 0
    }

    /// Bytes queued to `id` that the writer has not taken yet.
    #[must_use]
    pub fn backlog_bytes(&self, id: SocketId) -> usize {
        self.local_slot(id)
            .and_then(|s| self.palette.backlog_bytes(s))
            .unwrap_or(0)
    }

    /// Offers `id`'s backlog to `writer` again (call when its transport is
    /// writable). Returns true when nothing is left unsent.
    pub fn flush<W: Writer + ?Sized>(&mut self, id: SocketId, writer: &mut W) -> bool {
        match self.local_slot(id) {
            Some(slot) => self.palette.flush(slot, id, writer),
            None => true,
        }
    }

    /// Takes the list of sockets whose transports the owner should close, and why:
    /// slow consumers (still connected until the owner calls
    /// [`disconnect`](Self::disconnect)) and sockets disconnected through
    /// [`Engine::disconnect`](crate::Engine::disconnect) (already gone from every
    /// room).
    pub fn take_closed(&mut self) -> Vec<(SocketId, CloseCause)> {
        let mut closed = std::mem::take(&mut self.closed);
        for slot in self.palette.take_overflowed() {
            closed.push((self.id_of(slot), CloseCause::SlowConsumer));
        }
        closed
    }
}
