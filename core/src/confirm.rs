//! Operations on socket ids that wait for the nodes owning them.
//!
//! `join`, `leave` and `emit` on another node's sockets are forwarded to that
//! node ([`Adapter::forward`](crate::Adapter::forward)). Issued through a
//! [`Confirmed`] handle, each forwarded part asks the owner to confirm once it
//! has applied the op, and [`Confirmed::finish`] tells the caller whether it
//! can answer now ([`Applied::Now`]: nothing went to another node) or must wait
//! ([`Applied::Later`]: [`Waiting::then`] gets the outcome). That is how a server answers a `join` of a
//! socket on another node only after that node applied it, so a broadcast issued
//! after the answer reaches the socket.
//!
//! Operations on this node's sockets apply as usual (at once on the handle's
//! own shard, through the mailboxes otherwise): they never wait.

use std::cell::OnceCell;
use std::sync::Arc;

use crate::batch::Confirm;
use crate::dispatch::{self, sealed, Target};
use crate::hub::Hub;
use crate::names::ToSocketIds;
use crate::pubsub::Model;
use crate::shard_link::Mail;
use crate::wire::Frame;
use crate::{Error, SocketId};

/// Whether a [`Confirmed`] batch is complete.
#[derive(Debug)]
pub enum Applied {
    /// Nothing waits for another node: these ids are unknown.
    Now(Vec<SocketId>),
    /// Parts went to other nodes: see [`Waiting::then`].
    Later(Waiting),
}

/// A batch whose parts other nodes have not all confirmed yet.
#[derive(Debug)]
pub struct Waiting {
    confirm: Arc<Confirm>,
}

impl Waiting {
    /// Calls `done` once every owner confirmed (or one could not), with every
    /// id that turned out unknown — at once, on this thread, if that happened
    /// already; else on the thread of the last confirmation.
    pub fn then(self, done: impl FnOnce(Result<Vec<SocketId>, Error>) + Send + 'static) {
        self.confirm.then(Box::new(done));
    }
}

/// A handle whose `join`, `leave` and `emit` on other nodes' sockets wait for
/// the owners to confirm; see the [module docs](self). Made by
/// [`Engine::confirmed`](crate::Engine::confirmed) or
/// [`Shard::confirmed`](crate::Shard::confirmed).
#[derive(Debug)]
pub struct Confirmed<T: Target> {
    target: T,
    /// Made when the first part goes to another node: a batch that stays on
    /// this node allocates nothing.
    confirm: OnceCell<Arc<Confirm>>,
    /// Ids found unknown on this node.
    unknown: Vec<SocketId>,
}

impl<T: Target> Confirmed<T> {
    pub(crate) fn new(target: T) -> Confirmed<T> {
        Confirmed {
            target,
            confirm: OnceCell::new(),
            unknown: Vec::new(),
        }
    }

    /// `join`: as [`Engine::join`](crate::Engine::join); unknown ids are kept for
    /// [`finish`](Self::finish).
    ///
    /// # Errors
    ///
    /// As [`Engine::join`](crate::Engine::join); nothing of this call is done.
    pub fn join(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<(), Error> {
        let unknown = dispatch::join(self, &sockets, room, true)?;
        self.unknown.extend(unknown);
        Ok(())
    }

    /// `leave`: as [`Engine::leave`](crate::Engine::leave).
    ///
    /// # Errors
    ///
    /// As [`Engine::leave`](crate::Engine::leave).
    pub fn leave(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<(), Error> {
        let unknown = dispatch::join(self, &sockets, room, false)?;
        self.unknown.extend(unknown);
        Ok(())
    }

    /// `emit`: as [`Engine::emit_frame`](crate::Engine::emit_frame). An id unknown
    /// here (this node's, or a node that is not a member) fails at once and
    /// nothing is sent; each other node sends its part only if every id it owns
    /// is connected there, and reports the others through `done`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownSockets`] (nothing sent), [`Error::ClusterUnavailable`]
    /// (an owner cannot be reached; nothing sent), [`Error::MalformedSocketId`].
    pub fn emit_frame(&mut self, sockets: impl ToSocketIds, frame: &Frame) -> Result<(), Error> {
        dispatch::emit(self, &sockets, frame)
    }

    /// Resourceful pub/sub whose subscriptions of other nodes' sockets are
    /// confirmed too.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentity`].
    pub fn model(&mut self, identity: &str) -> Result<Model<&mut Confirmed<T>>, Error> {
        Model::new(self, identity)
    }

    /// Ends the batch: [`Applied::Now`] with the unknown ids if nothing waits
    /// for another node, else [`Applied::Later`].
    #[must_use]
    pub fn finish(self) -> Applied {
        let Some(confirm) = self.confirm.into_inner() else {
            return Applied::Now(self.unknown);
        };
        confirm.add_unknown(self.unknown);
        match confirm.finish() {
            Some(unknown) => Applied::Now(unknown),
            None => Applied::Later(Waiting { confirm }),
        }
    }
}

#[allow(private_interfaces)]
impl<T: Target> sealed::Dispatch for Confirmed<T> {
    fn hub(&self) -> &Hub {
        self.target.hub()
    }
    fn mail(&mut self, shard: usize, mail: Mail) {
        self.target.mail(shard, mail);
    }
    fn dispatch(&mut self, shard: usize, op: crate::Op) {
        self.target.dispatch(shard, op);
    }
    fn join_here(
        &mut self,
        shard: usize,
        ids: &[SocketId],
        room: &str,
        join: bool,
    ) -> Result<bool, Error> {
        self.target.join_here(shard, ids, room, join)
    }
    fn confirm(&self) -> Option<&Arc<Confirm>> {
        Some(self.confirm.get_or_init(Arc::default))
    }
    fn confirming(&self) -> bool {
        true
    }
}
impl<T: Target> Target for Confirmed<T> {}
