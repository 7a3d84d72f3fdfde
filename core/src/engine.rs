//! The [`Engine`] handle: routes every `sails.sockets` operation to the shards that
//! must act on it.
//!
//! # Routing and ordering
//!
//! Each shard has an unbounded crossbeam channel of operations and an optional wake
//! hook (in the server, the worker's `mio::Waker`). An operation naming sockets goes
//! only to their shards (a socket id names its shard); an operation naming rooms
//! goes to every shard, as one `Arc`'d value, because any shard may hold members.
//! Channels are FIFO, so operations sent from one thread are applied by every shard
//! in the order sent: a `join` followed by a `broadcast` from one thread always
//! reaches the new member.
//!
//! The same operations are methods of [`Shard`] too. There, the
//! shard's own part is applied at once (no channel round trip) and the rest is sent
//! to the other shards. A route handler running on the shard's thread therefore sees
//! its effects before it answers: events it broadcasts are queued to the requesting
//! socket before the response is.
//!
//! # Waking
//!
//! A producer calls a shard's wake hook only when the shard's "wake pending" flag
//! goes from false to true (one atomic swap per operation per shard, never per
//! recipient); the shard clears the flag before it drains its channel.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender};

use crate::id::{SocketId, SocketIds, ToRoomNames, ToSocketIds};
use crate::liveness::LivenessTable;
use crate::shard::Shard;
use crate::wire::Frame;
use crate::Error;

/// Engine settings. `Default` gives one shard, node 0, room names up to 256 bytes,
/// up to 4 Mi sockets a shard and 4 MiB of unsent bytes a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Number of shards (at least 1; the server uses one a worker thread).
    pub shards: usize,
    /// This node's number, written into every socket id (for scale-out).
    pub node: u16,
    /// Longest accepted room name, in bytes.
    pub max_room_name_len: usize,
    /// Most sockets one shard holds at once.
    pub max_sockets_per_shard: u32,
    /// A socket whose unsent bytes pass this is a slow consumer: it gets nothing
    /// more and is reported by [`Shard::take_closed`](crate::Shard::take_closed)
    /// so its transport can be closed.
    pub outbound_limit: usize,
    /// The Socket.IO namespace the engine's frames are encoded for (`"/"`).
    pub namespace: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shards: 1,
            node: 0,
            max_room_name_len: 256,
            max_sockets_per_shard: 1 << 22,
            outbound_limit: 4 << 20,
            namespace: "/".to_owned(),
        }
    }
}

/// Options of [`Engine::leave_all`], named and defaulted as in Sails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaveAllOptions {
    /// Also make each member leave the room named by its own id (default false).
    pub include_socket_rooms: bool,
    /// Also make each member leave the source room itself (default true).
    pub include_source_room: bool,
}

impl Default for LeaveAllOptions {
    fn default() -> Self {
        LeaveAllOptions {
            include_socket_rooms: false,
            include_source_room: true,
        }
    }
}

/// A room named in an operation, with its socket-id reading worked out once.
#[derive(Debug, Clone)]
pub(crate) struct RoomRef {
    pub(crate) name: Arc<str>,
    /// `Some` when the name is a socket id: that socket is a (virtual) member.
    pub(crate) id: Option<SocketId>,
}

/// One broadcast, shared by every shard.
#[derive(Debug)]
pub(crate) struct BroadcastOp {
    pub(crate) rooms: Vec<RoomRef>,
    pub(crate) frame: Bytes,
    pub(crate) omit: Option<SocketId>,
}

/// One room-to-rooms operation, shared by every shard.
#[derive(Debug)]
pub(crate) struct RoomsOp {
    pub(crate) source: RoomRef,
    pub(crate) dests: Vec<RoomRef>,
}

/// What travels to a shard.
pub(crate) enum Op {
    /// These sockets (all of the receiving shard) join the room.
    Join(SocketIds, Arc<str>),
    /// These sockets leave the room.
    Leave(SocketIds, Arc<str>),
    Broadcast(Arc<BroadcastOp>),
    Blast(Bytes, Option<SocketId>),
    Emit(SocketIds, Bytes),
    LeaveAll(RoomRefShared, LeaveAllOptions),
    AddMembers(Arc<RoomsOp>),
    RemoveMembers(Arc<RoomsOp>),
    Disconnect(SocketId),
    Run(Box<dyn FnOnce(&mut Shard) + Send>),
}

/// A shared room reference (for operations sent to every shard).
pub(crate) type RoomRefShared = Arc<RoomRef>;

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Join(s, r) => write!(f, "Join({s:?}, {r:?})"),
            Op::Leave(s, r) => write!(f, "Leave({s:?}, {r:?})"),
            Op::Broadcast(b) => write!(f, "Broadcast({b:?})"),
            Op::Blast(_, o) => write!(f, "Blast(omit {o:?})"),
            Op::Emit(s, _) => write!(f, "Emit({s:?})"),
            Op::LeaveAll(r, o) => write!(f, "LeaveAll({r:?}, {o:?})"),
            Op::AddMembers(o) => write!(f, "AddMembers({o:?})"),
            Op::RemoveMembers(o) => write!(f, "RemoveMembers({o:?})"),
            Op::Disconnect(s) => write!(f, "Disconnect({s:?})"),
            Op::Run(_) => f.write_str("Run(..)"),
        }
    }
}

pub(crate) struct ShardLink {
    tx: Sender<Op>,
    pub(crate) liveness: LivenessTable,
    pub(crate) wake_pending: AtomicBool,
    pub(crate) waker: OnceLock<Box<dyn Fn() + Send + Sync>>,
}

pub(crate) struct Inner {
    pub(crate) config: EngineConfig,
    pub(crate) shards: Box<[ShardLink]>,
}

/// A cheap, cloneable, thread-safe handle to every shard; see the module docs.
///
/// Every `sails.sockets` operation is a method here (and on [`Shard`], where the
/// shard's own part is applied at once).
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Engine {
    /// Creates an engine and its shards. Each shard must then be driven by one
    /// thread: call [`Shard::process_ops`] and [`Shard::drain`] each tick (or hand
    /// it to [`ShardThread::spawn`](crate::ShardThread::spawn)).
    ///
    /// # Panics
    ///
    /// If `config.shards` is 0 or more than `u16::MAX`.
    #[must_use]
    pub fn new(config: EngineConfig) -> (Engine, Vec<Shard>) {
        assert!(
            (1..=usize::from(u16::MAX)).contains(&config.shards),
            "an engine needs 1..=65535 shards"
        );
        let mut receivers = Vec::with_capacity(config.shards);
        let links: Box<[ShardLink]> = (0..config.shards)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                receivers.push(rx);
                ShardLink {
                    tx,
                    liveness: LivenessTable::new(config.max_sockets_per_shard),
                    wake_pending: AtomicBool::new(false),
                    waker: OnceLock::new(),
                }
            })
            .collect();
        let engine = Engine {
            inner: Arc::new(Inner {
                config,
                shards: links,
            }),
        };
        let shards = receivers
            .into_iter()
            .enumerate()
            .map(|(i, rx): (usize, Receiver<Op>)| Shard::new(i as u16, engine.clone(), rx))
            .collect();
        (engine, shards)
    }

    /// Encodes `event` (default `"message"`) with `data` for this engine's namespace.
    pub(crate) fn event_frame<T: serde::Serialize + ?Sized>(
        &self,
        event: Option<&str>,
        data: &T,
    ) -> Result<Frame, Error> {
        Frame::event(
            &self.inner.config.namespace,
            event.unwrap_or("message"),
            data,
        )
    }

    /// The configuration the engine was built with.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// Whether `id` names a socket connected to this engine right now. Lock-free:
    /// one atomic load.
    #[must_use]
    pub fn is_connected(&self, id: SocketId) -> bool {
        id.node() == self.inner.config.node
            && self
                .inner
                .shards
                .get(usize::from(id.shard()))
                .is_some_and(|s| s.liveness.is_live(id.slot(), id.token()))
    }

    /// Sails' `sails.sockets.get(id)`: the id back if that socket is connected here.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSocketId`] for a string that is not an id;
    /// [`Error::UnknownSockets`] ("no such socket", Sails' `NO_SUCH_SOCKET`) if it
    /// is not connected.
    pub fn get(&self, id: &str) -> Result<SocketId, Error> {
        let sid: SocketId = id.parse()?;
        if self.is_connected(sid) {
            Ok(sid)
        } else {
            Err(Error::UnknownSockets(vec![id.to_owned()]))
        }
    }

    pub(crate) fn send(&self, shard: usize, op: Op) {
        let link = &self.inner.shards[shard];
        // A send fails only when the shard was dropped: then there is nobody to
        // deliver to, and dropping the operation is the right outcome.
        if link.tx.send(op).is_ok() && !link.wake_pending.swap(true, Ordering::AcqRel) {
            if let Some(wake) = link.waker.get() {
                wake();
            }
        }
    }

    /// Runs `f` on shard `shard`'s thread, in order with the other operations sent
    /// from this thread.
    ///
    /// # Errors
    ///
    /// [`Error::ShardGone`] if there is no such shard.
    pub fn on_shard(
        &self,
        shard: usize,
        f: impl FnOnce(&mut Shard) + Send + 'static,
    ) -> Result<(), Error> {
        if shard >= self.shard_count() {
            return Err(Error::ShardGone(shard));
        }
        self.send(shard, Op::Run(Box::new(f)));
        Ok(())
    }

    /// `sails.sockets.join`: each connected socket joins `room`. Returns the ids that
    /// are not connected (skipped) — **differs from Sails**, which ignores them
    /// silently.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`], [`Error::MalformedSocketId`]; nothing is done.
    pub fn join(&self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        ops::join(&mut &*self, &sockets, room, true)
    }

    /// `sails.sockets.leave`: each socket leaves `room` (a no-op where it is not
    /// in it). Returns the ids that are not connected.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn leave(&self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        ops::join(&mut &*self, &sockets, room, false)
    }

    /// `sails.sockets.broadcast`: every socket in any of `rooms` receives `event`
    /// (default `"message"`) with `data`, **once** even if it is in several of the
    /// rooms (differs from Sails, which sends one copy a room), except `omit`. A
    /// room named by a socket id reaches that socket; unknown rooms are no-ops.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`], [`Error::ReservedEvent`], [`Error::Serialize`];
    /// nothing is sent.
    pub fn broadcast<T: serde::Serialize + ?Sized>(
        &self,
        rooms: impl ToRoomNames,
        event: Option<&str>,
        data: &T,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let frame = self.event_frame(event, data)?;
        ops::broadcast(&mut &*self, &rooms, &frame, omit)
    }

    /// [`broadcast`](Self::broadcast) of a frame built once by the caller (for
    /// example with raw JSON, [`Frame::event_raw`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`]; nothing is sent.
    pub fn broadcast_frame(
        &self,
        rooms: impl ToRoomNames,
        frame: &Frame,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        ops::broadcast(&mut &*self, &rooms, frame, omit)
    }

    /// `sails.sockets.blast`: every connected socket receives it, except `omit`.
    ///
    /// # Errors
    ///
    /// [`Error::ReservedEvent`], [`Error::Serialize`].
    pub fn blast<T: serde::Serialize + ?Sized>(
        &self,
        event: Option<&str>,
        data: &T,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let frame = self.event_frame(event, data)?;
        ops::blast(&mut &*self, &frame, omit);
        Ok(())
    }

    /// [`blast`](Self::blast) of a prepared frame.
    pub fn blast_frame(&self, frame: &Frame, omit: Option<SocketId>) {
        ops::blast(&mut &*self, frame, omit);
    }

    /// `sails.sockets.emit`: each listed socket receives it. Atomic: if **any** id
    /// is not connected, nothing is sent to anyone.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSockets`] listing every unknown id (nothing sent);
    /// [`Error::MalformedSocketId`], [`Error::ReservedEvent`], [`Error::Serialize`].
    pub fn emit<T: serde::Serialize + ?Sized>(
        &self,
        sockets: impl ToSocketIds,
        event: Option<&str>,
        data: &T,
    ) -> Result<(), Error> {
        let frame = self.event_frame(event, data)?;
        ops::emit(&mut &*self, &sockets, &frame)
    }

    /// [`emit`](Self::emit) of a prepared frame.
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_frame(&self, sockets: impl ToSocketIds, frame: &Frame) -> Result<(), Error> {
        ops::emit(&mut &*self, &sockets, frame)
    }

    /// `sails.sockets.leaveAll`: every member of `room` leaves every room it is in
    /// (see [`LeaveAllOptions`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`].
    pub fn leave_all(&self, room: &str, options: LeaveAllOptions) -> Result<(), Error> {
        ops::leave_all(&mut &*self, room, options)
    }

    /// `sails.sockets.addRoomMembersToRooms`: every current member of
    /// `source_room` joins each of `dest_rooms` (a snapshot).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`].
    pub fn add_room_members_to_rooms(
        &self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        ops::room_to_rooms(&mut &*self, source_room, &dest_rooms, true)
    }

    /// `sails.sockets.removeRoomMembersFromRooms`: every current member of
    /// `source_room` leaves each of `dest_rooms`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`].
    pub fn remove_room_members_from_rooms(
        &self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        ops::room_to_rooms(&mut &*self, source_room, &dest_rooms, false)
    }

    /// Disconnects `socket`: it leaves all its rooms at once, and its shard reports
    /// it through [`Shard::take_closed`](crate::Shard::take_closed) so the
    /// transport can be closed. Returns false if it was not connected.
    pub fn disconnect(&self, socket: SocketId) -> bool {
        ops::disconnect(&mut &*self, socket)
    }

    /// Resourceful pub/sub for the model with this identity (see
    /// [`Model`](crate::Model)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentity`].
    pub fn model(&self, identity: &str) -> Result<crate::Model<&Engine>, Error> {
        crate::Model::new(self, identity)
    }
}

pub(crate) mod sealed {
    /// Where operations go: to shards through their channels ([`Engine`]), or to
    /// the local shard directly and the others through channels ([`Shard`]).
    ///
    /// [`Engine`]: crate::Engine
    /// [`Shard`]: crate::Shard
    #[allow(private_interfaces)] // sealed: `Op` never leaves the crate
    pub trait Dispatch {
        /// The engine (for its config and liveness tables).
        fn engine(&self) -> &crate::Engine;
        /// Delivers `op` to shard `shard`.
        fn dispatch(&mut self, shard: usize, op: crate::engine::Op);
        /// The shard itself when `shard` is local (its queued operations applied
        /// first), for operations cheaper to apply without building an `Op`.
        fn local_shard(&mut self, _shard: usize) -> Option<&mut crate::Shard> {
            None
        }
    }
}

/// Something operations can be issued through: `&Engine` (from any thread) or
/// `&mut Shard` (on the shard's own thread, applying its own part at once). Used by
/// [`Model`](crate::Model). Sealed.
pub trait Target: sealed::Dispatch {}

#[allow(private_interfaces)]
impl sealed::Dispatch for &Engine {
    fn engine(&self) -> &Engine {
        self
    }
    fn dispatch(&mut self, shard: usize, op: Op) {
        self.send(shard, op);
    }
}
impl Target for &Engine {}

#[allow(private_interfaces)]
impl<D: sealed::Dispatch + ?Sized> sealed::Dispatch for &mut D {
    fn engine(&self) -> &Engine {
        (**self).engine()
    }
    fn dispatch(&mut self, shard: usize, op: Op) {
        (**self).dispatch(shard, op);
    }
    fn local_shard(&mut self, shard: usize) -> Option<&mut Shard> {
        (**self).local_shard(shard)
    }
}
impl<D: Target + ?Sized> Target for &mut D {}

/// The operations themselves, written once for every [`Target`].
pub(crate) mod ops {
    use super::*;
    use sealed::Dispatch;

    pub(crate) fn check_room(engine: &Engine, name: &str) -> Result<(), Error> {
        let max = engine.inner.config.max_room_name_len;
        if name.is_empty() || name.len() > max {
            return Err(Error::InvalidRoomName {
                len: name.len(),
                max,
            });
        }
        Ok(())
    }

    fn room_ref(engine: &Engine, name: &str) -> Result<RoomRef, Error> {
        check_room(engine, name)?;
        Ok(RoomRef {
            name: Arc::from(name),
            id: SocketId::parse(name),
        })
    }

    fn room_refs(engine: &Engine, rooms: &dyn ToRoomNames) -> Result<Vec<RoomRef>, Error> {
        let mut out: Vec<RoomRef> = Vec::new();
        let mut err = None;
        rooms.for_each_room(&mut |name| {
            if err.is_some() || out.iter().any(|r| &*r.name == name) {
                return;
            }
            match room_ref(engine, name) {
                Ok(r) => out.push(r),
                Err(e) => err = Some(e),
            }
        });
        err.map_or(Ok(out), Err)
    }

    /// Socket ids grouped by the shard that owns them.
    type ShardGroups = smallvec::SmallVec<[(usize, SocketIds); 2]>;

    /// Splits ids into the connected ones, grouped by shard, and the unknown ones.
    fn by_shard(engine: &Engine, ids: SocketIds) -> (ShardGroups, Vec<SocketId>) {
        let mut groups = ShardGroups::new();
        let mut unknown = Vec::new();
        for id in ids {
            if !engine.is_connected(id) {
                if !unknown.contains(&id) {
                    unknown.push(id);
                }
                continue;
            }
            let shard = usize::from(id.shard());
            match groups.iter_mut().find(|(s, _)| *s == shard) {
                Some((_, v)) => v.push(id),
                None => groups.push((shard, smallvec::smallvec![id])),
            }
        }
        (groups, unknown)
    }

    pub(crate) fn join<D: Dispatch + ?Sized>(
        d: &mut D,
        sockets: &dyn ToSocketIds,
        room: &str,
        join: bool,
    ) -> Result<Vec<SocketId>, Error> {
        check_room(d.engine(), room)?;
        let mut ids = SocketIds::new();
        sockets.push_socket_ids(&mut ids)?;
        if let [id] = ids[..] {
            // One socket (the common case): no grouping.
            if !d.engine().is_connected(id) {
                return Ok(vec![id]);
            }
            let shard = usize::from(id.shard());
            if let Some(local) = d.local_shard(shard) {
                local.join_ids(&[id], room, join);
            } else {
                let room: Arc<str> = Arc::from(room);
                d.dispatch(
                    shard,
                    if join {
                        Op::Join(ids, room)
                    } else {
                        Op::Leave(ids, room)
                    },
                );
            }
            return Ok(Vec::new());
        }
        let (groups, unknown) = by_shard(d.engine(), ids);
        let mut shared: Option<Arc<str>> = None;
        for (shard, ids) in groups {
            if let Some(local) = d.local_shard(shard) {
                local.join_ids(&ids, room, join);
                continue;
            }
            let room = shared.get_or_insert_with(|| Arc::from(room)).clone();
            d.dispatch(
                shard,
                if join {
                    Op::Join(ids, room)
                } else {
                    Op::Leave(ids, room)
                },
            );
        }
        Ok(unknown)
    }

    pub(crate) fn broadcast<D: Dispatch + ?Sized>(
        d: &mut D,
        rooms: &dyn ToRoomNames,
        frame: &Frame,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let rooms = room_refs(d.engine(), rooms)?;
        if rooms.is_empty() {
            return Ok(());
        }
        let op = Arc::new(BroadcastOp {
            rooms,
            frame: frame.as_bytes().clone(),
            omit,
        });
        for shard in 0..d.engine().shard_count() {
            d.dispatch(shard, Op::Broadcast(op.clone()));
        }
        Ok(())
    }

    pub(crate) fn blast<D: Dispatch + ?Sized>(d: &mut D, frame: &Frame, omit: Option<SocketId>) {
        for shard in 0..d.engine().shard_count() {
            d.dispatch(shard, Op::Blast(frame.as_bytes().clone(), omit));
        }
    }

    pub(crate) fn emit<D: Dispatch + ?Sized>(
        d: &mut D,
        sockets: &dyn ToSocketIds,
        frame: &Frame,
    ) -> Result<(), Error> {
        let mut ids = SocketIds::new();
        sockets.push_socket_ids(&mut ids)?;
        let (groups, unknown) = by_shard(d.engine(), ids);
        if !unknown.is_empty() {
            return Err(Error::UnknownSockets(
                unknown.iter().map(ToString::to_string).collect(),
            ));
        }
        for (shard, ids) in groups {
            d.dispatch(shard, Op::Emit(ids, frame.as_bytes().clone()));
        }
        Ok(())
    }

    pub(crate) fn leave_all<D: Dispatch + ?Sized>(
        d: &mut D,
        room: &str,
        options: LeaveAllOptions,
    ) -> Result<(), Error> {
        let room = Arc::new(room_ref(d.engine(), room)?);
        for shard in 0..d.engine().shard_count() {
            d.dispatch(shard, Op::LeaveAll(room.clone(), options));
        }
        Ok(())
    }

    pub(crate) fn room_to_rooms<D: Dispatch + ?Sized>(
        d: &mut D,
        source: &str,
        dests: &dyn ToRoomNames,
        add: bool,
    ) -> Result<(), Error> {
        let source = room_ref(d.engine(), source)?;
        let dests = room_refs(d.engine(), dests)?;
        if dests.is_empty() {
            return Ok(());
        }
        let op = Arc::new(RoomsOp { source, dests });
        for shard in 0..d.engine().shard_count() {
            d.dispatch(
                shard,
                if add {
                    Op::AddMembers(op.clone())
                } else {
                    Op::RemoveMembers(op.clone())
                },
            );
        }
        Ok(())
    }

    pub(crate) fn disconnect<D: Dispatch + ?Sized>(d: &mut D, socket: SocketId) -> bool {
        if !d.engine().is_connected(socket) {
            return false;
        }
        d.dispatch(usize::from(socket.shard()), Op::Disconnect(socket));
        true
    }
}
