//! The [`Engine`] handle: every `sails.sockets` operation, from any thread.
//!
//! # Routing and ordering
//!
//! Each shard has a mailbox (a crossbeam channel) and an optional wake hook (in
//! the server, the worker's `mio::Waker`). An operation naming sockets goes only
//! to their shards (a socket id names its shard); an operation naming rooms goes
//! to every shard, its body shared through an `Arc`, because any shard may hold
//! members. Mailboxes are FIFO, so operations sent from one thread are applied by
//! every shard in the order sent: a `join` followed by a `broadcast` from one
//! thread always reaches the new member.
//!
//! The same operations are methods of [`Shard`] too. There, the shard's own part
//! is applied at once (no mailbox round trip) and the rest is mailed. A route
//! handler running on the shard's thread therefore sees its effects before it
//! answers: events it broadcasts are queued to the requesting socket before the
//! response is.
//!
//! # Waking
//!
//! A producer calls a shard's wake hook only when the shard's "wake pending"
//! flag goes from down to up (one atomic swap per operation per shard, never per
//! recipient); the shard lowers the flag before it drains its mailbox (see the
//! `wake` module for why both sides swap).
//!
//! # Clusters
//!
//! With an [`Adapter`] set ([`Engine::set_adapter`]), room operations are also
//! published to the other nodes and operations on their sockets are forwarded to
//! them; see [`adapter`](crate::adapter).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::config::EngineConfig;
use crate::confirm::Confirmed;
use crate::dispatch::{self, sealed, Target};
use crate::hub::Hub;
use crate::names::{ToRoomNames, ToSocketIds};
use crate::op::{LeaveAllOptions, Op};
use crate::pubsub::Model;
use crate::query::{Query, QueryResult};
use crate::shard::Shard;
use crate::shard_link::Mail;
use crate::wire::Frame;
use crate::{Error, NodeId, SocketId};

/// A cheap, cloneable, thread-safe handle to every shard; see the module docs.
///
/// Every `sails.sockets` operation is a method here (and on [`Shard`], where the
/// shard's own part is applied at once).
#[derive(Clone)]
pub struct Engine {
    hub: Arc<Hub>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.hub.config)
            .field("adapter", &self.hub.adapter())
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
    /// If `config.shards` is not in `1..=`[`MAX_SHARDS`](crate::id::MAX_SHARDS).
    #[must_use]
    pub fn new(config: EngineConfig) -> (Engine, Vec<Shard>) {
        assert!(
            (1..=crate::id::MAX_SHARDS).contains(&config.shards),
            "an engine needs 1..={} shards",
            crate::id::MAX_SHARDS
        );
        let (hub, receivers) = Hub::new(config);
        let shards = receivers
            .into_iter()
            .enumerate()
            .map(|(i, rx)| Shard::new(i as u16, Arc::clone(&hub), rx))
            .collect();
        (Engine { hub }, shards)
    }

    /// The configuration the engine was built with.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.hub.config
    }

    /// This node's id (the node part of every socket id minted here).
    #[must_use]
    pub fn node(&self) -> NodeId {
        self.hub.config.node
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.hub.shard_count()
    }

    /// Sets the cluster adapter (see [`adapter`](crate::adapter)); only the first
    /// call takes effect. Set it before the engine is used, so no operation misses
    /// it.
    ///
    /// Returns false if an adapter was already set.
    pub fn set_adapter(&self, adapter: Arc<dyn Adapter>) -> bool {
        self.hub.set_adapter(adapter)
    }

    /// Whether `id` names a socket connected to this node right now. Lock-free:
    /// one atomic load.
    #[must_use]
    pub fn is_connected(&self, id: SocketId) -> bool {
        self.hub.is_connected(id)
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

    /// Runs `f` on shard `shard`'s thread, in order with the other operations sent
    /// from this thread. (Local only: code never crosses to another node.)
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
        let run = move |any: &mut dyn Any| {
            if let Some(shard) = any.downcast_mut::<Shard>() {
                f(shard);
            }
        };
        self.hub.send(shard, Mail::Run(Box::new(run)));
        Ok(())
    }

    /// Asks `query` of every shard — and, with an adapter, of every other node —
    /// and calls `done` once with the merged answer. Nobody blocks on the
    /// answer: each shard adds its part when its thread gets to it, and `done`
    /// runs on whichever thread adds the last part. (From a shard's own thread,
    /// use [`Shard::query`].)
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`] for a room query's name.
    pub fn query(
        &self,
        query: Query,
        done: impl FnOnce(QueryResult) + Send + 'static,
    ) -> Result<(), Error> {
        dispatch::ask(&mut &*self, query, Box::new(done), true)
    }

    /// As [`query`](Self::query), asking this node's shards only (how a node
    /// answers another node's query).
    ///
    /// # Errors
    ///
    /// As [`query`](Self::query).
    pub fn query_local(
        &self,
        query: Query,
        done: impl FnOnce(QueryResult) + Send + 'static,
    ) -> Result<(), Error> {
        dispatch::ask(&mut &*self, query, Box::new(done), false)
    }

    /// Applies an operation another node published or forwarded, on this node
    /// only (the adapter is not consulted). Room operations reach every shard; an
    /// operation on sockets reaches their shards, and the ids not connected here
    /// are returned — an `Emit` naming any of them is not applied at all.
    pub fn apply_remote(&self, op: Op) -> Vec<SocketId> {
        dispatch::apply_remote(&self.hub, op)
    }

    /// Applies a batch of ops from other nodes, in order, as
    /// [`apply_remote`](Self::apply_remote) does one (ids not connected here
    /// are skipped; an `Emit` naming any is not applied): every op is queued
    /// first and each shard is woken once, so a burst of broadcasts is applied
    /// in one tick and each socket gets its share in one write.
    pub fn apply_remote_batch(&self, ops: impl IntoIterator<Item = Op>) {
        dispatch::apply_remote_batch(&self.hub, &mut ops.into_iter());
    }

    /// As [`apply_remote`](Self::apply_remote), then calls `done` — on a shard
    /// thread, or on this one if no shard is involved — with the ids not
    /// connected here, once every shard involved has applied the op: how a node
    /// confirms a forwarded `join` only when it holds.
    pub fn apply_remote_then(&self, op: Op, done: impl FnOnce(Vec<SocketId>) + Send + 'static) {
        dispatch::apply_remote_then(&self.hub, op, Box::new(done));
    }

    /// A handle whose `join`, `leave`, `emit` (and pub/sub subscriptions) on
    /// other nodes' sockets wait for their owners to confirm (see
    /// [`confirm`](crate::confirm)).
    #[must_use]
    pub fn confirmed(&self) -> Confirmed<&Engine> {
        Confirmed::new(self)
    }

    /// Sockets connected to this node now (activated and not yet gone), over
    /// every shard. Lock-free: one atomic load a shard.
    #[must_use]
    pub fn live_sockets(&self) -> usize {
        self.hub.live_sockets()
    }

    /// `sails.sockets.join`: each connected socket joins `room`. Returns the ids that
    /// are not connected (skipped) — **differs from Sails**, which ignores them
    /// silently. With an adapter, another node's ids are forwarded to it and not
    /// reported here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`], [`Error::MalformedSocketId`]; nothing is done.
    pub fn join(&self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        dispatch::join(&mut &*self, &sockets, room, true)
    }

    /// `sails.sockets.leave`: each socket leaves `room` (a no-op where it is not
    /// in it). Returns the ids that are not connected.
    ///
    /// # Errors
    ///
    /// As [`join`](Self::join).
    pub fn leave(&self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        dispatch::join(&mut &*self, &sockets, room, false)
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
        dispatch::broadcast(&mut &*self, &rooms, &frame, omit)
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
        dispatch::broadcast(&mut &*self, &rooms, frame, omit)
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
        dispatch::blast(&mut &*self, &frame, omit);
        Ok(())
    }

    /// [`blast`](Self::blast) of a prepared frame.
    pub fn blast_frame(&self, frame: &Frame, omit: Option<SocketId>) {
        dispatch::blast(&mut &*self, frame, omit);
    }

    /// `sails.sockets.emit`: each listed socket receives it. Atomic on this node:
    /// if **any** of its ids is not connected, nothing is sent to anyone. (With an
    /// adapter, each other node's ids are forwarded to it and that node applies
    /// its part all-or-nothing in the same way.)
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
        dispatch::emit(&mut &*self, &sockets, &frame)
    }

    /// [`emit`](Self::emit) of a prepared frame.
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_frame(&self, sockets: impl ToSocketIds, frame: &Frame) -> Result<(), Error> {
        dispatch::emit(&mut &*self, &sockets, frame)
    }

    /// `sails.sockets.leaveAll`: every member of `room` leaves every room it is in
    /// (see [`LeaveAllOptions`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRoomName`].
    pub fn leave_all(&self, room: &str, options: LeaveAllOptions) -> Result<(), Error> {
        dispatch::leave_all(&mut &*self, room, options)
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
        dispatch::room_to_rooms(&mut &*self, source_room, &dest_rooms, true)
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
        dispatch::room_to_rooms(&mut &*self, source_room, &dest_rooms, false)
    }

    /// Disconnects `socket`: it leaves all its rooms at once, and its shard reports
    /// it through [`Shard::take_closed`] so the transport can be closed. Returns
    /// false if it was not connected (with an adapter, another node's id is
    /// forwarded to it and true is returned).
    pub fn disconnect(&self, socket: SocketId) -> bool {
        dispatch::disconnect(&mut &*self, socket)
    }

    /// Resourceful pub/sub for the model with this identity (see [`Model`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentity`].
    pub fn model(&self, identity: &str) -> Result<Model<&Engine>, Error> {
        Model::new(self, identity)
    }

    fn event_frame<T: serde::Serialize + ?Sized>(
        &self,
        event: Option<&str>,
        data: &T,
    ) -> Result<Frame, Error> {
        Frame::event(&self.hub.config.namespace, event.unwrap_or("message"), data)
    }
}

#[allow(private_interfaces)]
impl sealed::Dispatch for &Engine {
    fn hub(&self) -> &Hub {
        &self.hub
    }
    fn mail(&mut self, shard: usize, mail: Mail) {
        self.hub.send(shard, mail);
    }
}
impl Target for &Engine {}
