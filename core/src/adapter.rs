//! [`Adapter`]: the cluster seam. An engine consults its adapter on every
//! operation that concerns more than its own process: room operations
//! (broadcast, blast, leaveAll, room-to-rooms) are published for every other node
//! to apply, operations on socket ids another node owns (join, leave, emit,
//! disconnect) are forwarded to that node, and queries (a room's members, a
//! socket's rooms) collect other nodes' parts.
//!
//! The default is local-only: an engine without an adapter
//! ([`Engine::set_adapter`](crate::Engine::set_adapter) never called) pays one
//! atomic load and a branch per operation — never per recipient — and treats
//! ids of other nodes as unknown sockets.
//!
//! An adapter is called on the thread that issued the operation (often a server
//! worker), after the local shards were given their part, in the order the
//! operations were issued on that thread. It must not block: hand the work to
//! your own I/O thread. Operations arriving from other nodes are applied with
//! [`Engine::apply_remote`](crate::Engine::apply_remote) (or
//! [`Engine::apply_remote_then`](crate::Engine::apply_remote_then) when the
//! sender waits for a confirmation) and answered with
//! [`Engine::query_local`](crate::Engine::query_local), which never call the
//! adapter again.

use std::fmt;

use crate::op::Op;
use crate::query::{Query, RemoteAnswer};
use crate::{Error, NodeId, SocketId};

/// Called once with the other nodes' part of a query.
pub type RemoteDone = Box<dyn FnOnce(RemoteAnswer) + Send>;

/// Called once when the owner of forwarded sockets has applied the operation:
/// with the ids it does not know (not connected there; for an `Emit`, its part
/// was then not sent), or [`Error::ClusterUnavailable`] if it cannot be told.
pub type ForwardDone = Box<dyn FnOnce(Result<Vec<SocketId>, Error>) + Send>;

/// What the adapter knows of another node, for operations on its socket ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// A live member of the cluster: operations on its ids are forwarded to it.
    Live,
    /// Not a member (never seen, or gone): its ids are unknown sockets.
    Unknown,
    /// A member that cannot be reached now (the cluster bus is down):
    /// operations that wait for its answer fail with
    /// [`Error::ClusterUnavailable`]; others are forwarded (and may be
    /// buffered).
    Unreachable,
}

/// The cluster seam; see the [module docs](self).
pub trait Adapter: Send + Sync + fmt::Debug + 'static {
    /// `op`, a room operation (see [`Op::is_room_op`]) this node issued and gave to
    /// its own shards, must be applied by every other node too, in the order
    /// published.
    fn publish(&self, op: &Op);

    /// `op` names sockets owned by `node` only (never this node): deliver it to
    /// that node, in order with this thread's other operations. With `done`, the
    /// caller waits for the owner to confirm it applied the op (see
    /// [`ForwardDone`]); call it exactly once.
    fn forward(&self, node: NodeId, op: Op, done: Option<ForwardDone>);

    /// Collect every other node's part of `query` (only the owner's, for
    /// [`Query::Socket`]) and call `done` once — also when some nodes do not
    /// answer in time, naming them in [`RemoteAnswer::missing`].
    fn query(&self, query: &Query, done: RemoteDone);

    /// What is known of `node` (never this node).
    fn node_state(&self, node: NodeId) -> NodeState;
}
