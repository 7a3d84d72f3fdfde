//! [`AccessTable`]: one worker's per-socket access state — the socket's
//! verified token ([`Grant`]), the token its v4 handshake carried in the
//! query (checked at CONNECT unless the auth object has one), and its rate
//! limit. Empty (and never touched) when no access rule is configured.
//!
//! Entries are made when a socket opens ([`admission`](super::admission))
//! and dropped when it is disconnected from the shard, so the table never
//! outgrows the shard.

use std::collections::HashMap;

use roomcast::SocketId;

use crate::access::webhook::Handshake;
use crate::access::{Grant, RateLimit, Verdict};

/// One socket's access state.
#[derive(Debug, Default)]
pub(crate) struct SocketAccess {
    /// The verified token: at the handshake (v3), or at CONNECT (v4).
    pub(crate) grant: Option<Grant>,
    /// A v4 handshake's `?token=` (for CONNECT without an auth token).
    pub(crate) query_token: Option<String>,
    pub(crate) rate: Option<RateLimit>,
    /// The handshake, for the connect webhook (kept while the socket lives:
    /// a CONNECT to another namespace asks again).
    pub(crate) handshake: Option<Box<Handshake>>,
}

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct AccessTable {
    sockets: HashMap<SocketId, SocketAccess, ahash::RandomState>,
}

impl AccessTable {
    pub(crate) fn insert(&mut self, id: SocketId, access: SocketAccess) {
        self.sockets.insert(id, access);
    }

    pub(crate) fn get_mut(&mut self, id: SocketId) -> Option<&mut SocketAccess> {
        self.sockets.get_mut(&id)
    }

    /// The socket is gone.
    pub(crate) fn forget(&mut self, id: SocketId) {
        if !self.sockets.is_empty() {
            self.sockets.remove(&id);
        }
    }

    /// A socket-route call by `id` at `now_ms`: within its rate or not
    /// (sockets without a limit are always within).
    pub(crate) fn call(&mut self, id: SocketId, now_ms: u64) -> Verdict {
        match self.sockets.get_mut(&id).and_then(|a| a.rate.as_mut()) {
            Some(rate) => rate.call(now_ms),
            None => Verdict::Allow,
        }
    }

    /// The rooms `id` may join itself: `None` if not limited by a token.
    pub(crate) fn grant(&self, id: SocketId) -> Option<&Grant> {
        self.sockets.get(&id).and_then(|a| a.grant.as_ref())
    }
}
