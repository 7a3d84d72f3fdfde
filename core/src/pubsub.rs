//! Resourceful pub/sub: Sails' model-level messaging on top of rooms.
//!
//! For a model with identity `user` and a record id `7`:
//!
//! | what | room | event |
//! |---|---|---|
//! | subscribers of record 7 | `sails_model_user_7:user` | `user` |
//! | watchers of the model (told of new records) | `sails_model_create_user` | `user` |
//!
//! Payloads keep Sails' exact shapes and key order:
//!
//! | call | to | payload |
//! |---|---|---|
//! | [`message`](Model::message) | record room | `{"verb":"messaged","id":…,"data":…}` |
//! | [`publish`](Model::publish) | record rooms | `data` as given, once a socket |
//! | [`created`](Model::created) | watchers | `{"verb":"created","data":…,"id":…}`, then every watcher subscribes to the record |
//! | [`updated`](Model::updated) | record room | `{"verb":"updated","data":…,"id":…,"previous":…}` (`previous` only when given) |
//! | [`destroyed`](Model::destroyed) | record room | `{"verb":"destroyed","id":…,"previous":…}`, then the record room is emptied |
//! | [`added_to`](Model::added_to) | record room | `{"id":…,"verb":"addedTo","attribute":…,"addedId":…}` |
//! | [`removed_from`](Model::removed_from) | record room | `{"id":…,"verb":"removedFrom","attribute":…,"removedId":…}` |
//!
//! Where this differs from Sails, on purpose:
//! * `publish` to several ids reaches a socket subscribed to more than one of them
//!   **once** (Sails sends one copy a room).
//! * `destroyed` unsubscribes **every** subscriber of the record, as Sails' docs say
//!   (Sails' code removes only the watchers).
//! * An empty id is an error (Sails silently builds a room for `undefined` when
//!   given `0`); `0` is a valid id.
//!
//! Identities are lower-cased, as Sails derives them.

use serde::Serialize;

use crate::dispatch::{self, Target};
use crate::names::ToSocketIds;
use crate::wire::Frame;
use crate::Error;
use crate::SocketId;

/// A record id: a string or a number, keeping its JSON type in payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordId {
    /// A string id (never empty).
    Str(String),
    /// A numeric id, kept as its JSON number.
    Num(serde_json::Number),
}

impl RecordId {
    /// The id as it appears in room names: the string, or the number's JSON text.
    #[must_use]
    pub fn text(&self) -> String {
        match self {
            RecordId::Str(s) => s.clone(),
            RecordId::Num(n) => n.to_string(),
        }
    }

    /// Reads an id from JSON: a non-empty string or a number.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRecordId`] for anything else.
    pub fn from_json(v: &serde_json::Value) -> Result<RecordId, Error> {
        match v {
            serde_json::Value::String(s) if !s.is_empty() => Ok(RecordId::Str(s.clone())),
            serde_json::Value::Number(n) => Ok(RecordId::Num(n.clone())),
            other => Err(Error::InvalidRecordId(other.to_string())),
        }
    }

    /// A string id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRecordId`] if `s` is empty.
    pub fn str(s: &str) -> Result<RecordId, Error> {
        if s.is_empty() {
            return Err(Error::InvalidRecordId("\"\"".to_owned()));
        }
        Ok(RecordId::Str(s.to_owned()))
    }
}

impl From<u64> for RecordId {
    fn from(n: u64) -> Self {
        RecordId::Num(n.into())
    }
}

impl From<i64> for RecordId {
    fn from(n: i64) -> Self {
        RecordId::Num(n.into())
    }
}

impl Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RecordId::Str(v) => s.serialize_str(v),
            RecordId::Num(n) => n.serialize(s),
        }
    }
}

/// Writes a JSON object with keys in the order given.
struct ObjectWriter(Vec<u8>);

impl ObjectWriter {
    fn new() -> Self {
        ObjectWriter(b"{".to_vec())
    }

    fn field<T: Serialize + ?Sized>(mut self, key: &str, value: &T) -> Result<Self, Error> {
        if self.0.len() > 1 {
            self.0.push(b',');
        }
        serde_json::to_writer(&mut self.0, key).map_err(|e| Error::Serialize(e.to_string()))?;
        self.0.push(b':');
        serde_json::to_writer(&mut self.0, value).map_err(|e| Error::Serialize(e.to_string()))?;
        Ok(self)
    }

    fn finish(mut self) -> String {
        self.0.push(b'}');
        String::from_utf8(self.0).expect("serde_json writes UTF-8")
    }
}

/// Resourceful pub/sub for one model, issued through a [`Target`] (`&Engine`, or
/// `&mut Shard` on a shard's own thread). Made by
/// [`Engine::model`](crate::Engine::model) or [`Shard::model`](crate::Shard::model).
/// See the [module docs](self).
#[derive(Debug)]
pub struct Model<T: Target> {
    target: T,
    identity: String,
}

impl<T: Target> Model<T> {
    pub(crate) fn new(target: T, identity: &str) -> Result<Model<T>, Error> {
        let identity = identity.to_lowercase();
        let max = dispatch::config(&target).max_room_name_len;
        if identity.is_empty() || identity.len() * 2 + 16 > max {
            return Err(Error::InvalidIdentity(identity));
        }
        Ok(Model { target, identity })
    }

    /// The model's identity (lower-case); also the event name of its messages.
    #[must_use]
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The room of a record's subscribers: `sails_model_<identity>_<id>:<identity>`.
    #[must_use]
    pub fn record_room(&self, id: &RecordId) -> String {
        format!("sails_model_{0}_{1}:{0}", self.identity, id.text())
    }

    /// The room of the model's watchers: `sails_model_create_<identity>`.
    #[must_use]
    pub fn watchers_room(&self) -> String {
        format!("sails_model_create_{}", self.identity)
    }

    fn frame<D: Serialize + ?Sized>(&self, data: &D) -> Result<Frame, Error> {
        let nsp = &dispatch::config(&self.target).namespace;
        Frame::event(nsp, &self.identity, data)
    }

    fn frame_raw(&self, json: &str) -> Result<Frame, Error> {
        let nsp = &dispatch::config(&self.target).namespace;
        Frame::event_raw(nsp, &self.identity, Some(json))
    }

    /// `Model.subscribe(req, ids)`: the sockets join each record's room. Returns
    /// the sockets that are not connected.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSocketId`], [`Error::InvalidRoomName`] (an id too long).
    pub fn subscribe(
        &mut self,
        sockets: impl ToSocketIds,
        ids: &[RecordId],
    ) -> Result<Vec<SocketId>, Error> {
        self.each_record_room(&sockets, ids, true)
    }

    /// `Model.unsubscribe(req, ids)`: the sockets leave each record's room.
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    pub fn unsubscribe(
        &mut self,
        sockets: impl ToSocketIds,
        ids: &[RecordId],
    ) -> Result<Vec<SocketId>, Error> {
        self.each_record_room(&sockets, ids, false)
    }

    fn each_record_room(
        &mut self,
        sockets: &dyn ToSocketIds,
        ids: &[RecordId],
        join: bool,
    ) -> Result<Vec<SocketId>, Error> {
        let rooms: Vec<String> = ids.iter().map(|id| self.record_room(id)).collect();
        for r in &rooms {
            dispatch::check_room(dispatch::config(&self.target), r)?;
        }
        let mut unknown = Vec::new();
        for r in &rooms {
            unknown = dispatch::join(&mut self.target, sockets, r, join)?;
        }
        Ok(unknown)
    }

    /// `Model.watch(req)`: the sockets join the watchers' room.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSocketId`].
    pub fn watch(&mut self, sockets: impl ToSocketIds) -> Result<Vec<SocketId>, Error> {
        let room = self.watchers_room();
        dispatch::join(&mut self.target, &sockets, &room, true)
    }

    /// `Model.unwatch(req)`: the sockets leave the watchers' room.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedSocketId`].
    pub fn unwatch(&mut self, sockets: impl ToSocketIds) -> Result<Vec<SocketId>, Error> {
        let room = self.watchers_room();
        dispatch::join(&mut self.target, &sockets, &room, false)
    }

    /// `Model.message(id, data, req?)`: `{"verb":"messaged","id":…,"data":…}` to the
    /// record's subscribers, except `omit`.
    ///
    /// # Errors
    ///
    /// [`Error::Serialize`], [`Error::InvalidRoomName`], [`Error::ReservedEvent`].
    pub fn message<D: Serialize + ?Sized>(
        &mut self,
        id: &RecordId,
        data: &D,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let json = ObjectWriter::new()
            .field("verb", "messaged")?
            .field("id", id)?
            .field("data", data)?
            .finish();
        self.send_to_record(id, &json, omit)
    }

    /// `Model.publish(ids, data, req?)`: `data` as is to the subscribers of every
    /// record in `ids`, once a socket, except `omit`.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn publish<D: Serialize + ?Sized>(
        &mut self,
        ids: &[RecordId],
        data: &D,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let rooms: Vec<String> = ids.iter().map(|id| self.record_room(id)).collect();
        let frame = self.frame(data)?;
        dispatch::broadcast(&mut self.target, &rooms, &frame, omit)
    }

    /// A record was created: `{"verb":"created","data":…,"id":…}` to the watchers
    /// (except `omit`), after which every watcher is subscribed to the record.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn created<D: Serialize + ?Sized>(
        &mut self,
        id: &RecordId,
        data: &D,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let json = ObjectWriter::new()
            .field("verb", "created")?
            .field("data", data)?
            .field("id", id)?
            .finish();
        let watchers = self.watchers_room();
        let record = self.record_room(id);
        dispatch::check_room(dispatch::config(&self.target), &record)?;
        let frame = self.frame_raw(&json)?;
        dispatch::broadcast(&mut self.target, &watchers, &frame, omit)?;
        dispatch::room_to_rooms(&mut self.target, &watchers, &record, true)
    }

    /// A record was updated: `{"verb":"updated","data":…,"id":…,"previous":…}` to
    /// its subscribers (`previous` only when given), except `omit`.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn updated<D: Serialize + ?Sized, P: Serialize + ?Sized>(
        &mut self,
        id: &RecordId,
        data: &D,
        previous: Option<&P>,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let mut w = ObjectWriter::new()
            .field("verb", "updated")?
            .field("data", data)?
            .field("id", id)?;
        if let Some(p) = previous {
            w = w.field("previous", p)?;
        }
        let json = w.finish();
        self.send_to_record(id, &json, omit)
    }

    /// A record was destroyed: `{"verb":"destroyed","id":…,"previous":…}` to its
    /// subscribers (`previous` only when given), except `omit`; then every
    /// subscriber leaves the record's room.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn destroyed<P: Serialize + ?Sized>(
        &mut self,
        id: &RecordId,
        previous: Option<&P>,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let mut w = ObjectWriter::new()
            .field("verb", "destroyed")?
            .field("id", id)?;
        if let Some(p) = previous {
            w = w.field("previous", p)?;
        }
        let json = w.finish();
        self.send_to_record(id, &json, omit)?;
        let record = self.record_room(id);
        dispatch::room_to_rooms(&mut self.target, &record, &record, false)
    }

    /// A record was linked to another through an association:
    /// `{"id":…,"verb":"addedTo","attribute":…,"addedId":…}` to its subscribers.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn added_to(
        &mut self,
        id: &RecordId,
        attribute: &str,
        added_id: &RecordId,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        self.link_notice(id, "addedTo", attribute, "addedId", added_id, omit)
    }

    /// A record was unlinked from another:
    /// `{"id":…,"verb":"removedFrom","attribute":…,"removedId":…}` to its
    /// subscribers.
    ///
    /// # Errors
    ///
    /// As [`message`](Self::message).
    pub fn removed_from(
        &mut self,
        id: &RecordId,
        attribute: &str,
        removed_id: &RecordId,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        self.link_notice(id, "removedFrom", attribute, "removedId", removed_id, omit)
    }

    /// `{"id":…,"verb":<verb>,"attribute":…,<key>:<other>}` to the record's room.
    fn link_notice(
        &mut self,
        id: &RecordId,
        verb: &str,
        attribute: &str,
        key: &str,
        other: &RecordId,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let json = ObjectWriter::new()
            .field("id", id)?
            .field("verb", verb)?
            .field("attribute", attribute)?
            .field(key, other)?
            .finish();
        self.send_to_record(id, &json, omit)
    }

    fn send_to_record(
        &mut self,
        id: &RecordId,
        json: &str,
        omit: Option<SocketId>,
    ) -> Result<(), Error> {
        let room = self.record_room(id);
        let frame = self.frame_raw(json)?;
        dispatch::broadcast(&mut self.target, &room, &frame, omit)
    }
}
