//! The `sails.sockets` operations as methods of [`Shard`]: the same as
//! [`Engine`](crate::Engine)'s, but called on the shard's own thread they apply
//! the shard's part at once (after whatever was already mailed to it, so one
//! thread's operations keep their order whichever handle it used) and mail the
//! rest.

use crate::confirm::Confirmed;
use crate::dispatch::{self, sealed, Target};
use crate::hub::Hub;
use crate::names::{ToRoomNames, ToSocketIds};
use crate::op::{LeaveAllOptions, Op};
use crate::pubsub::Model;
use crate::query::{Query, QueryResult};
use crate::shard_link::Mail;
use crate::wire::Frame;
use crate::{Error, SocketId};

use super::Shard;

impl Shard {
    /// As [`Engine::join`](crate::Engine::join), applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::join`](crate::Engine::join).
    pub fn join(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        dispatch::join(self, &sockets, room, true)
    }

    /// As [`Engine::leave`](crate::Engine::leave), applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::leave`](crate::Engine::leave).
    pub fn leave(&mut self, sockets: impl ToSocketIds, room: &str) -> Result<Vec<SocketId>, Error> {
        dispatch::join(self, &sockets, room, false)
    }

    /// As [`Engine::broadcast_frame`](crate::Engine::broadcast_frame), applying this
    /// shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::broadcast_frame`](crate::Engine::broadcast_frame).
    pub fn broadcast_frame(
        &mut self,
        rooms: impl ToRoomNames,
        frame: &Frame,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        dispatch::broadcast(self, &rooms, frame, omit)
    }

    /// As [`Engine::broadcast`](crate::Engine::broadcast), applying this shard's
    /// part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::broadcast`](crate::Engine::broadcast).
    pub fn broadcast<T: serde::Serialize + ?Sized>(
        &mut self,
        rooms: impl ToRoomNames,
        event: Option<&str>,
        data: &T,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let frame = Frame::event(&self.config().namespace, event.unwrap_or("message"), data)?;
        dispatch::broadcast(self, &rooms, &frame, omit)
    }

    /// As [`Engine::blast_frame`](crate::Engine::blast_frame), applying this shard's
    /// part at once.
    pub fn blast_frame(&mut self, frame: &Frame, omit: Option<SocketId>) {
        dispatch::blast(self, frame, omit);
    }

    /// As [`Engine::emit_frame`](crate::Engine::emit_frame), applying this shard's
    /// part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::emit`](crate::Engine::emit).
    pub fn emit_frame(&mut self, sockets: impl ToSocketIds, frame: &Frame) -> Result<(), Error> {
        dispatch::emit(self, &sockets, frame)
    }

    /// As [`Engine::leave_all`](crate::Engine::leave_all), applying this shard's
    /// part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::leave_all`](crate::Engine::leave_all).
    pub fn leave_all(&mut self, room: &str, options: LeaveAllOptions) -> Result<(), Error> {
        dispatch::leave_all(self, room, options)
    }

    /// As [`Engine::add_room_members_to_rooms`](crate::Engine::add_room_members_to_rooms),
    /// applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::add_room_members_to_rooms`](crate::Engine::add_room_members_to_rooms).
    pub fn add_room_members_to_rooms(
        &mut self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        dispatch::room_to_rooms(self, source_room, &dest_rooms, true)
    }

    /// As [`Engine::remove_room_members_from_rooms`](crate::Engine::remove_room_members_from_rooms),
    /// applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// As [`Engine::remove_room_members_from_rooms`](crate::Engine::remove_room_members_from_rooms).
    pub fn remove_room_members_from_rooms(
        &mut self,
        source_room: &str,
        dest_rooms: impl ToRoomNames,
    ) -> Result<(), Error> {
        dispatch::room_to_rooms(self, source_room, &dest_rooms, false)
    }

    /// As [`Engine::query`](crate::Engine::query), from the shard's own thread:
    /// this shard's part is added at once, the others' are mailed without ever
    /// waiting (see [`has_held`](Self::has_held)).
    ///
    /// # Errors
    ///
    /// As [`Engine::query`](crate::Engine::query).
    pub fn query(
        &mut self,
        query: Query,
        done: impl FnOnce(QueryResult) + Send + 'static,
    ) -> Result<(), Error> {
        dispatch::ask(self, query, Box::new(done), true)
    }

    /// Resourceful pub/sub for a model, applying this shard's part at once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidIdentity`].
    pub fn model(&mut self, identity: &str) -> Result<Model<&mut Shard>, Error> {
        Model::new(self, identity)
    }

    /// As [`Engine::confirmed`](crate::Engine::confirmed), applying this shard's
    /// part at once.
    #[must_use]
    pub fn confirmed(&mut self) -> Confirmed<&mut Shard> {
        Confirmed::new(self)
    }
}

#[allow(private_interfaces)]
impl sealed::Dispatch for Shard {
    fn hub(&self) -> &Hub {
        &self.hub
    }
    fn mail(&mut self, shard: usize, mail: Mail) {
        if shard == self.index() {
            // Operations this thread sent earlier through the engine may still be
            // in our mailbox: apply them first.
            self.apply_queued();
            self.apply_mail(mail);
        } else {
            self.mail_other(shard, mail);
        }
    }
    fn dispatch(&mut self, shard: usize, op: Op) {
        if shard == self.index() {
            self.apply_queued();
            self.apply(op);
        } else {
            self.mail_other(shard, Mail::Op(op));
        }
    }
    fn join_here(
        &mut self,
        shard: usize,
        ids: &[SocketId],
        room: &str,
        join: bool,
    ) -> Result<bool, Error> {
        if shard != self.index() {
            return Ok(false);
        }
        self.apply_queued();
        self.join_ids(ids, room, join)?;
        Ok(true)
    }
}
impl Target for Shard {}
