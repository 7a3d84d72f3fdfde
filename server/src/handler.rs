//! The handler vocabulary: what an application's event handlers and connect
//! hooks see ([`EventContext`], [`ConnectContext`]) and return ([`Refusal`]).
//! Handlers run on the worker thread that owns the connection, with that
//! worker's [`Shard`].

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use roomcast::{Engine, Shard, SocketId};

use crate::protocol::sio::{Session, SessionError};

/// What an [`ServerBuilder::on_connect`](crate::app::ServerBuilder::on_connect) hook returns to refuse: the CONNECT_ERROR
/// message and optional raw JSON data (v5: `{"message":…,"data":…}`).
pub type Refusal = (String, Option<String>);

/// A custom event handler: gets the event, returns the ack's arguments (a raw
/// JSON array such as `["ok"]`), used only if the client asked for an ack (`None`
/// then acks with `[]`).
pub type EventHandler = Arc<dyn Fn(&mut EventContext<'_>) -> Option<String> + Send + Sync>;

/// A CONNECT hook: accept with `Ok(())` or refuse with a [`Refusal`].
pub type ConnectHook = Arc<dyn Fn(&mut ConnectContext<'_>) -> Result<(), Refusal> + Send + Sync>;

/// What an [`EventHandler`] sees: the event, the socket, the worker's shard, and a
/// way to emit to the socket.
pub struct EventContext<'a> {
    pub(crate) shard: &'a mut Shard,
    pub(crate) engine: &'a Engine,
    pub(crate) session: &'a mut Session,
    pub(crate) socket: SocketId,
    pub(crate) nsp: &'a str,
    pub(crate) name: &'a str,
    pub(crate) args: &'a str,
    pub(crate) attachments: &'a [Bytes],
    pub(crate) ack_attachments: Vec<Bytes>,
}

impl fmt::Debug for EventContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventContext")
            .field("socket", &self.socket)
            .field("nsp", &self.nsp)
            .field("name", &self.name)
            .field("args", &self.args)
            .finish_non_exhaustive()
    }
}

impl EventContext<'_> {
    /// The core socket id of the connection (its `/` socket id).
    #[must_use]
    pub fn socket(&self) -> SocketId {
        self.socket
    }

    /// The socket's user: its token's `sub` (`--jwt-secret` / `--jwt-public-key`),
    /// or what a connect webhook or [`Shard::set_user`] set; `None` if unknown.
    #[must_use]
    pub fn user(&self) -> Option<&str> {
        self.shard.user_of(self.socket).map(|u| &**u)
    }

    /// The socket's application data (raw JSON): a connect webhook's `data`,
    /// or what [`Shard::set_data`] set; `None` if none.
    #[must_use]
    pub fn data(&self) -> Option<&str> {
        self.shard.data_of(self.socket).map(|d| &**d)
    }

    /// The namespace the event arrived on.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.nsp
    }

    /// The event name.
    #[must_use]
    pub fn event(&self) -> &str {
        self.name
    }

    /// The arguments after the event name, as the raw JSON array the client sent
    /// (byte for byte: key order and number formatting kept).
    #[must_use]
    pub fn args(&self) -> &str {
        self.args
    }

    /// Binary attachments of a binary event (placeholders in [`args`](Self::args)).
    #[must_use]
    pub fn attachments(&self) -> &[Bytes] {
        self.attachments
    }

    /// The engine (cross-thread operations on any socket or room).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        self.engine
    }

    /// This worker's shard: operations here apply to its own sockets at once
    /// (a broadcast reaches this socket before the handler's ack).
    pub fn shard(&mut self) -> &mut Shard {
        self.shard
    }

    /// Emits `name` with `args` (a raw JSON array) to this socket on this namespace.
    /// It is written after anything the handler broadcast and before its ack.
    ///
    /// # Errors
    ///
    /// [`SessionError`] if the name is reserved, `args` is not a JSON array, or the
    /// session is closed.
    pub fn emit(&mut self, name: &str, args: &str) -> Result<(), SessionError> {
        self.emit_binary(name, args, &[])
    }

    /// As [`emit`](Self::emit), with binary attachments referenced from `args` by
    /// `{"_placeholder":true,"num":i}` (a BINARY_EVENT).
    ///
    /// # Errors
    ///
    /// As [`emit`](Self::emit).
    pub fn emit_binary(
        &mut self,
        name: &str,
        args: &str,
        attachments: &[Bytes],
    ) -> Result<(), SessionError> {
        let nsp = self.nsp;
        self.session.emit(nsp, name, args, None, attachments)
    }

    /// Binary attachments for the ack the handler returns (a BINARY_ACK), referenced
    /// from the returned arguments by placeholders.
    pub fn set_ack_attachments(&mut self, attachments: Vec<Bytes>) {
        self.ack_attachments = attachments;
    }
}

/// What a [`ConnectHook`] sees: the namespace, the CONNECT's auth JSON and the
/// socket; emits queued here are sent right after the CONNECT is accepted.
pub struct ConnectContext<'a> {
    pub(crate) shard: &'a mut Shard,
    pub(crate) socket: SocketId,
    pub(crate) nsp: &'a str,
    pub(crate) auth: &'a str,
    pub(crate) emits: Vec<(String, String)>,
}

impl fmt::Debug for ConnectContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectContext")
            .field("socket", &self.socket)
            .field("nsp", &self.nsp)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

impl ConnectContext<'_> {
    /// The core socket id of the connection.
    #[must_use]
    pub fn socket(&self) -> SocketId {
        self.socket
    }

    /// The namespace requested.
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.nsp
    }

    /// The auth payload as raw JSON (`{}` when the client sent none; for v2
    /// clients, the namespace query as an object).
    #[must_use]
    pub fn auth(&self) -> &str {
        self.auth
    }

    /// This worker's shard.
    pub fn shard(&mut self) -> &mut Shard {
        self.shard
    }

    /// Queues `name` with `args` (a raw JSON array) to be emitted to the socket
    /// once the CONNECT is accepted (dropped if the hook refuses).
    pub fn emit(&mut self, name: &str, args: &str) {
        self.emits.push((name.to_owned(), args.to_owned()));
    }
}
