//! Validation and routing of every operation, written once for both handles:
//! `&Engine` (any thread: every part travels through the shards' mailboxes) and
//! `&mut Shard` (the shard's own thread: its own part is applied at once, the
//! rest is mailed). The sealed [`Target`] trait is what they share.
//!
//! Each function checks its input (room names, socket ids, the frame) before
//! anything is sent, builds one [`Op`], hands it to the local shards that must
//! apply it, then consults the cluster [`Adapter`](crate::Adapter) when one is
//! set: room operations are published, operations on another node's sockets are
//! forwarded to it. Without an adapter, another node's ids are unknown sockets.
//!
//! Every path is linear in the size of its input: room lists are de-duplicated
//! with a hash set once they are long, socket-id lists likewise.

use std::sync::Arc;

use ahash::AHashSet;
use smallvec::SmallVec;

use crate::adapter::{Adapter, NodeState};
use crate::batch::Confirm;
use crate::config::EngineConfig;
use crate::hub::Hub;
use crate::names::{SocketIds, ToRoomNames, ToSocketIds};
use crate::op::{Broadcast, LeaveAllOptions, Op, Room, RoomToRooms};
use crate::query::{Answer, Gather, Query, QueryDone, QueryResult};
use crate::shard_link::Mail;
use crate::wire::Frame;
use crate::{Error, NodeId, SocketId};

/// Lists shorter than this are de-duplicated by a linear scan.
const SCAN_LIMIT: usize = 16;

pub(crate) mod sealed {
    use super::*;

    /// Where operations go: see the [module docs](super).
    #[allow(private_interfaces)]
    pub trait Dispatch {
        /// The engine's shared state.
        fn hub(&self) -> &Hub;
        /// The cluster adapter operations consult (the hub's, if one is set).
        fn adapter(&self) -> Option<&dyn Adapter> {
            self.hub().adapter()
        }
        /// Delivers `mail` to local shard `shard`.
        fn mail(&mut self, shard: usize, mail: Mail);
        /// Delivers `op` to local shard `shard`.
        fn dispatch(&mut self, shard: usize, op: Op) {
            self.mail(shard, Mail::Op(op));
        }
        /// Joins (or leaves) `ids`, all live sockets of local shard `shard`, to
        /// `room` directly if that shard is this handle's own (its queued
        /// operations applied first); `Ok(false)` if the caller must dispatch
        /// instead.
        ///
        /// # Errors
        ///
        /// [`Error::TooManyRooms`] from the shard.
        fn join_here(
            &mut self,
            _shard: usize,
            _ids: &[SocketId],
            _room: &str,
            _join: bool,
        ) -> Result<bool, Error> {
            Ok(false)
        }
        /// The batch whose forwarded parts must be confirmed by their owners
        /// (a [`Confirmed`](crate::Confirmed) handle), if any; made on first
        /// use, so ask only when a part goes to another node.
        fn confirm(&self) -> Option<&Arc<Confirm>> {
            None
        }
        /// Whether this handle waits for confirmations (without making the batch).
        fn confirming(&self) -> bool {
            false
        }
    }
}

use sealed::Dispatch;

/// Something operations can be issued through: `&Engine` (from any thread) or
/// `&mut Shard` (on the shard's own thread, applying its own part at once). Used
/// by [`Model`](crate::Model). Sealed.
pub trait Target: sealed::Dispatch {}

#[allow(private_interfaces)]
impl<D: Dispatch + ?Sized> Dispatch for &mut D {
    fn hub(&self) -> &Hub {
        (**self).hub()
    }
    fn adapter(&self) -> Option<&dyn Adapter> {
        (**self).adapter()
    }
    fn mail(&mut self, shard: usize, mail: Mail) {
        (**self).mail(shard, mail);
    }
    fn dispatch(&mut self, shard: usize, op: Op) {
        (**self).dispatch(shard, op);
    }
    fn join_here(
        &mut self,
        shard: usize,
        ids: &[SocketId],
        room: &str,
        join: bool,
    ) -> Result<bool, Error> {
        (**self).join_here(shard, ids, room, join)
    }
    fn confirm(&self) -> Option<&Arc<Confirm>> {
        (**self).confirm()
    }
    fn confirming(&self) -> bool {
        (**self).confirming()
    }
}
impl<D: Target + ?Sized> Target for &mut D {}

/// The engine's configuration, through any target.
pub(crate) fn config<D: Dispatch + ?Sized>(d: &D) -> &EngineConfig {
    &d.hub().config
}

pub(crate) fn check_room(config: &EngineConfig, name: &str) -> Result<(), Error> {
    let max = config.max_room_name_len;
    if name.is_empty() || name.len() > max {
        return Err(Error::InvalidRoomName {
            len: name.len(),
            max,
        });
    }
    Ok(())
}

fn room(config: &EngineConfig, name: &str) -> Result<Room, Error> {
    check_room(config, name)?;
    Ok(Room::new(name))
}

/// The rooms named, each once, in first-seen order.
fn rooms(config: &EngineConfig, names: &dyn ToRoomNames) -> Result<Vec<Room>, Error> {
    let mut out: Vec<Room> = Vec::new();
    let mut seen: Option<AHashSet<Arc<str>>> = None;
    let mut err = None;
    names.for_each_room(&mut |name| {
        if err.is_some() {
            return;
        }
        let dup = if out.len() < SCAN_LIMIT {
            out.iter().any(|r| r.name() == name)
        } else {
            seen.get_or_insert_with(|| out.iter().map(|r| r.shared_name().clone()).collect())
                .contains(name)
        };
        if dup {
            return;
        }
        match room(config, name) {
            Ok(r) => {
                if let Some(s) = &mut seen {
                    s.insert(r.shared_name().clone());
                }
                out.push(r);
            }
            Err(e) => err = Some(e),
        }
    });
    err.map_or(Ok(out), Err)
}

/// `ids` without repeats, in first-seen order.
fn dedup(ids: &mut Vec<SocketId>) {
    if ids.len() < SCAN_LIMIT {
        let mut i = 0;
        while i < ids.len() {
            if ids[..i].contains(&ids[i]) {
                ids.remove(i);
            } else {
                i += 1;
            }
        }
    } else {
        let mut seen = AHashSet::with_capacity(ids.len());
        ids.retain(|id| seen.insert(*id));
    }
}

/// Socket ids sorted out by where they live.
#[derive(Default)]
struct Split {
    /// Connected sockets of this node, by local shard.
    local: SmallVec<[(usize, SocketIds); 2]>,
    /// Sockets of other live or unreachable nodes (only with an adapter), by node.
    remote: SmallVec<[(NodeId, SocketIds); 2]>,
    /// Whether a node of `remote` cannot be reached now.
    unreachable: bool,
    /// Not connected here, and not a member node's (or no adapter): unknown.
    unknown: Vec<SocketId>,
}

fn push_group<K: PartialEq>(groups: &mut SmallVec<[(K, SocketIds); 2]>, key: K, id: SocketId) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, v)) => v.push(id),
        None => groups.push((key, smallvec::smallvec![id])),
    }
}

/// Sorts `ids` out; other nodes' ids are remote only with an adapter that
/// knows their node.
fn split(hub: &Hub, ids: SocketIds, adapter: Option<&dyn Adapter>) -> Split {
    let mut out = Split::default();
    for id in ids {
        if hub.is_connected(id) {
            push_group(&mut out.local, usize::from(id.shard()), id);
            continue;
        }
        let state = match adapter {
            Some(a) if !hub.is_local(id) => a.node_state(id.node()),
            _ => NodeState::Unknown,
        };
        match state {
            NodeState::Unknown => out.unknown.push(id),
            NodeState::Live => push_group(&mut out.remote, id.node(), id),
            NodeState::Unreachable => {
                out.unreachable = true;
                push_group(&mut out.remote, id.node(), id);
            }
        }
    }
    // Repeats within a group are harmless (a shard delivers an emit once per
    // socket; joining twice is joining once); the unknown list is reported.
    dedup(&mut out.unknown);
    out
}

fn join_op(sockets: SocketIds, room: Room, join: bool) -> Op {
    if join {
        Op::Join { sockets, room }
    } else {
        Op::Leave { sockets, room }
    }
}

pub(crate) fn join<D: Dispatch + ?Sized>(
    d: &mut D,
    sockets: &dyn ToSocketIds,
    room: &str,
    join: bool,
) -> Result<Vec<SocketId>, Error> {
    check_room(config(d), room)?;
    let mut ids = SocketIds::new();
    sockets.push_socket_ids(&mut ids)?;
    if let [id] = ids[..] {
        // One connected socket of this node (the common case): no grouping.
        if d.hub().is_connected(id) {
            let shard = usize::from(id.shard());
            if !d.join_here(shard, &[id], room, join)? {
                d.dispatch(shard, join_op(ids, Room::new(room), join));
            }
            return Ok(Vec::new());
        }
    }
    let split = split(d.hub(), ids, d.adapter());
    let mut shared: Option<Room> = None;
    for (shard, ids) in split.local {
        if d.join_here(shard, &ids, room, join)? {
            continue;
        }
        let room = shared.get_or_insert_with(|| Room::new(room)).clone();
        d.dispatch(shard, join_op(ids, room, join));
    }
    if let Some(adapter) = d.adapter() {
        for (node, ids) in split.remote {
            let room = shared.get_or_insert_with(|| Room::new(room)).clone();
            forward(adapter, d.confirm(), node, join_op(ids, room, join));
        }
    }
    Ok(split.unknown)
}

/// Forwards `op` to `node`; as a part of `confirm`'s batch if there is one (a
/// node that cannot be reached fails that part at once).
fn forward(adapter: &dyn Adapter, confirm: Option<&Arc<Confirm>>, node: NodeId, op: Op) {
    let Some(confirm) = confirm else {
        adapter.forward(node, op, None);
        return;
    };
    confirm.add_part();
    if adapter.node_state(node) == NodeState::Unreachable {
        confirm.part_done(Err(unreachable(node)));
        return;
    }
    let part = Arc::clone(confirm);
    adapter.forward(node, op, Some(Box::new(move |r| part.part_done(r))));
}

fn unreachable(node: NodeId) -> Error {
    Error::ClusterUnavailable(format!(
        "node {node} cannot be reached: the cluster bus is down"
    ))
}

/// Gives `op` to every local shard, then to the adapter to publish.
fn everywhere<D: Dispatch + ?Sized>(d: &mut D, op: Op) {
    for shard in 0..d.hub().shard_count() {
        d.dispatch(shard, op.clone());
    }
    if let Some(adapter) = d.adapter() {
        adapter.publish(&op);
    }
}

pub(crate) fn broadcast<D: Dispatch + ?Sized>(
    d: &mut D,
    names: &dyn ToRoomNames,
    frame: &Frame,
    omit: Option<SocketId>,
) -> Result<(), Error> {
    let rooms = rooms(config(d), names)?;
    if rooms.is_empty() {
        return Ok(());
    }
    let op = Op::Broadcast(Arc::new(Broadcast {
        rooms,
        frame: frame.clone(),
        omit,
        except: Vec::new(),
    }));
    everywhere(d, op);
    Ok(())
}

pub(crate) fn blast<D: Dispatch + ?Sized>(d: &mut D, frame: &Frame, omit: Option<SocketId>) {
    everywhere(
        d,
        Op::Blast {
            frame: frame.clone(),
            omit,
            except: Vec::new(),
        },
    );
}

pub(crate) fn emit<D: Dispatch + ?Sized>(
    d: &mut D,
    sockets: &dyn ToSocketIds,
    frame: &Frame,
) -> Result<(), Error> {
    let mut ids = SocketIds::new();
    sockets.push_socket_ids(&mut ids)?;
    let split = split(d.hub(), ids, d.adapter());
    if !split.unknown.is_empty() {
        return Err(Error::UnknownSockets(
            split.unknown.iter().map(ToString::to_string).collect(),
        ));
    }
    if split.unreachable && d.confirming() {
        // All or nothing: refuse before any part is sent.
        let node = split.remote.iter().map(|(n, _)| *n).find(|n| {
            d.adapter()
                .is_some_and(|a| a.node_state(*n) == NodeState::Unreachable)
        });
        return Err(unreachable(node.unwrap_or(NodeId::LOCAL)));
    }
    for (shard, ids) in split.local {
        d.dispatch(
            shard,
            Op::Emit {
                sockets: ids,
                frame: frame.clone(),
            },
        );
    }
    if let Some(adapter) = d.adapter() {
        for (node, ids) in split.remote {
            let op = Op::Emit {
                sockets: ids,
                frame: frame.clone(),
            };
            forward(adapter, d.confirm(), node, op);
        }
    }
    Ok(())
}

pub(crate) fn leave_all<D: Dispatch + ?Sized>(
    d: &mut D,
    name: &str,
    options: LeaveAllOptions,
) -> Result<(), Error> {
    let room = room(config(d), name)?;
    everywhere(d, Op::LeaveAll { room, options });
    Ok(())
}

pub(crate) fn room_to_rooms<D: Dispatch + ?Sized>(
    d: &mut D,
    source: &str,
    dests: &dyn ToRoomNames,
    add: bool,
) -> Result<(), Error> {
    let source = room(config(d), source)?;
    let dests = rooms(config(d), dests)?;
    if dests.is_empty() {
        return Ok(());
    }
    let body = Arc::new(RoomToRooms { source, dests });
    everywhere(
        d,
        if add {
            Op::AddMembers(body)
        } else {
            Op::RemoveMembers(body)
        },
    );
    Ok(())
}

pub(crate) fn disconnect<D: Dispatch + ?Sized>(d: &mut D, socket: SocketId) -> bool {
    if d.hub().is_connected(socket) {
        d.dispatch(usize::from(socket.shard()), Op::Disconnect { socket });
        return true;
    }
    match d.adapter() {
        Some(adapter)
            if !d.hub().is_local(socket)
                && adapter.node_state(socket.node()) != NodeState::Unknown =>
        {
            adapter.forward(socket.node(), Op::Disconnect { socket }, None);
            true
        }
        _ => false,
    }
}

/// Asks `query` of every local shard (the owner only, for a socket) — and, with
/// `cluster` and an adapter, of other nodes — and calls `done` once with the
/// merged answer.
pub(crate) fn ask<D: Dispatch + ?Sized>(
    d: &mut D,
    query: Query,
    done: QueryDone,
    cluster: bool,
) -> Result<(), Error> {
    let remote = cluster && d.adapter().is_some();
    let shards = d.hub().shard_count();
    match &query {
        Query::Room { .. } | Query::Sockets { .. } | Query::Rooms { .. } => {
            for room in query.rooms() {
                check_room(config(d), room.name())?;
            }
            let gather = Gather::new(query.clone(), shards, remote, done);
            for shard in 0..shards {
                d.mail(shard, Mail::Query(Arc::clone(&gather), shard));
            }
            if let (true, Some(adapter)) = (remote, d.adapter()) {
                adapter.query(&query, Box::new(move |r| gather.remote_part(r)));
            }
        }
        Query::Socket { id } => {
            let id = *id;
            let local = d.hub().is_local(id) && usize::from(id.shard()) < shards;
            if local {
                let gather = Gather::new(query, 1, false, done);
                d.mail(usize::from(id.shard()), Mail::Query(gather, 0));
            } else if let Some(adapter) = d.adapter().filter(|a| {
                remote && !d.hub().is_local(id) && a.node_state(id.node()) != NodeState::Unknown
            }) {
                let gather = Gather::new(query.clone(), 0, true, done);
                adapter.query(&query, Box::new(move |r| gather.remote_part(r)));
            } else {
                done(QueryResult {
                    answer: Answer::empty(&query),
                    missing: Vec::new(),
                    unavailable: false,
                });
            }
        }
    }
    Ok(())
}

/// Applies an operation that came from another node, on this node only (the
/// adapter is not consulted again). Room operations go to every shard; an
/// operation on sockets goes to the shards that own them, and returns the ids
/// that are not connected here — an `Emit` naming any such id is not applied at
/// all.
pub(crate) fn apply_remote(hub: &Hub, op: Op) -> Vec<SocketId> {
    apply_remote_with(hub, op, &mut |shard, mail| hub.send(shard, mail))
}

/// Applies ops from other nodes in one go: every mail is queued first, then
/// each shard involved is woken once, so a shard's thread gets the whole batch
/// in one tick (and writes each socket's share of it at once).
pub(crate) fn apply_remote_batch(hub: &Hub, ops: &mut dyn Iterator<Item = Op>) {
    let mut touched = [0u64; 4];
    for op in ops {
        apply_remote_with(hub, op, &mut |shard, mail| {
            hub.send_quiet(shard, mail);
            touched[shard / 64] |= 1 << (shard % 64);
        });
    }
    for shard in 0..hub.shard_count() {
        if touched[shard / 64] & (1 << (shard % 64)) != 0 {
            hub.wake(shard);
        }
    }
}

fn apply_remote_with(hub: &Hub, op: Op, send: &mut dyn FnMut(usize, Mail)) -> Vec<SocketId> {
    if op.is_room_op() {
        for shard in 0..hub.shard_count() {
            send(shard, Mail::Op(op.clone()));
        }
        return Vec::new();
    }
    let (sockets, rebuild): (SocketIds, fn(SocketIds, &Op) -> Op) = match &op {
        Op::Join { sockets, .. } | Op::Leave { sockets, .. } | Op::Emit { sockets, .. } => {
            (sockets.clone(), |ids, op| match op {
                Op::Join { room, .. } => Op::Join {
                    sockets: ids,
                    room: room.clone(),
                },
                Op::Leave { room, .. } => Op::Leave {
                    sockets: ids,
                    room: room.clone(),
                },
                Op::Emit { frame, .. } => Op::Emit {
                    sockets: ids,
                    frame: frame.clone(),
                },
                other => other.clone(),
            })
        }
        Op::Disconnect { socket } => (smallvec::smallvec![*socket], |_, op| op.clone()),
        _ => return Vec::new(),
    };
    let split = split(hub, sockets, None);
    if matches!(op, Op::Emit { .. }) && !split.unknown.is_empty() {
        return split.unknown;
    }
    for (shard, ids) in split.local {
        send(shard, Mail::Op(rebuild(ids, &op)));
    }
    split.unknown
}

/// As [`apply_remote`], then calls `done` with the unknown ids once every shard
/// involved has applied its part (a marker mailed after the op runs on each).
pub(crate) fn apply_remote_then(hub: &Hub, op: Op, done: Box<dyn FnOnce(Vec<SocketId>) + Send>) {
    let shards: SmallVec<[usize; 4]> = if op.is_room_op() {
        (0..hub.shard_count()).collect()
    } else {
        let mut v: SmallVec<[usize; 4]> = SmallVec::new();
        let ids: &[SocketId] = match &op {
            Op::Join { sockets, .. } | Op::Leave { sockets, .. } | Op::Emit { sockets, .. } => {
                sockets
            }
            Op::Disconnect { socket } => std::slice::from_ref(socket),
            _ => &[],
        };
        for id in ids {
            let shard = usize::from(id.shard());
            if hub.is_connected(*id) && !v.contains(&shard) {
                v.push(shard);
            }
        }
        v
    };
    let is_emit = matches!(op, Op::Emit { .. });
    let unknown = apply_remote(hub, op);
    // An `Emit` naming an unknown id was applied nowhere: nothing to wait for.
    if shards.is_empty() || (is_emit && !unknown.is_empty()) {
        done(unknown);
        return;
    }
    let countdown = Arc::new(Countdown {
        left: std::sync::atomic::AtomicUsize::new(shards.len()),
        done: std::sync::Mutex::new(Some((done, unknown))),
    });
    for shard in shards {
        let c = Arc::clone(&countdown);
        hub.send(
            shard,
            Mail::Run(Box::new(move |_: &mut dyn std::any::Any| c.tick())),
        );
    }
}

/// Calls `done` when the last shard ticks.
struct Countdown {
    left: std::sync::atomic::AtomicUsize,
    #[allow(clippy::type_complexity)]
    done: std::sync::Mutex<Option<(Box<dyn FnOnce(Vec<SocketId>) + Send>, Vec<SocketId>)>>,
}

impl Countdown {
    fn tick(&self) {
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            let taken = self
                .done
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some((done, unknown)) = taken {
                done(unknown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_deduplicated_in_linear_time_keeping_first_seen_order() {
        let config = EngineConfig::default();
        let names: Vec<String> = (0..50_000).map(|i| format!("r{}", i % 20_000)).collect();
        let got = rooms(&config, &names).unwrap();
        assert_eq!(got.len(), 20_000);
        assert_eq!(got[0].name(), "r0");
        assert_eq!(got[19_999].name(), "r19999");
        let mut ids: Vec<SocketId> = (0..40_000u32)
            .map(|i| SocketId::from_parts(NodeId::LOCAL, 0, i % 1000, 0, 1))
            .collect();
        dedup(&mut ids);
        assert_eq!(ids.len(), 1000);
        assert_eq!(ids[999].slot(), 999);
    }
}
