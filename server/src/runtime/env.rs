//! [`Env`]: what a connection can reach on its worker while it handles one
//! event — the clock, the worker's shard, the engine, the application, metrics —
//! and how an answer given later (a parked admin query, a route that waited for
//! another node) finds its way back to it ([`AnswerSink`]).

use std::fmt;
use std::sync::Arc;

use crossbeam_channel::Sender;
use roomcast::{Engine, Shard, SocketId};

use super::app_state::AppState;
use super::log_limit::LogLimit;
use super::metrics::{Metrics, RuntimeStats};
use super::poll_table::PollTable;
use crate::protocol::sio::Response;

pub(crate) use super::conn_key::ConnKey;

/// Where an answer given later goes on its connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerTo {
    /// The parked plain-HTTP request (admin API).
    Http,
    /// The ack of a virtual request.
    Ack {
        /// The namespace it came on.
        nsp: String,
        /// Its ack id.
        id: u64,
    },
    /// The connect webhook's decision on a CONNECT of `socket` (whichever
    /// transport it is on by then): 200 `{"rooms", "data"}` admits it, else
    /// the body's `message` refuses it.
    Connect {
        /// The socket.
        socket: SocketId,
        /// The namespace.
        nsp: String,
        /// The CONNECT's auth object (for the namespace's hook).
        auth: String,
    },
    /// The ack of a virtual request of a long-polling session (whatever
    /// connection carried it).
    PollAck {
        /// The session's socket.
        socket: SocketId,
        /// The namespace it came on.
        nsp: String,
        /// Its ack id.
        id: u64,
    },
}

/// An answer given later.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) key: ConnKey,
    pub(crate) to: AnswerTo,
    pub(crate) response: Response,
}

/// Sends answers back to the worker and wakes it.
#[derive(Clone)]
pub(crate) struct AnswerSink {
    tx: Sender<Answer>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl fmt::Debug for AnswerSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnswerSink").finish_non_exhaustive()
    }
}

impl AnswerSink {
    pub(crate) fn new(tx: Sender<Answer>, wake: Arc<dyn Fn() + Send + Sync>) -> AnswerSink {
        AnswerSink { tx, wake }
    }

    /// Delivers `response` to the parked HTTP request of connection `key`
    /// (dropped if the worker is gone).
    pub(crate) fn send(&self, key: ConnKey, response: Response) {
        self.send_to(key, AnswerTo::Http, response);
    }

    /// Delivers `response` to `to` on connection `key`.
    pub(crate) fn send_to(&self, key: ConnKey, to: AnswerTo, response: Response) {
        if self.tx.send(Answer { key, to, response }).is_ok() {
            (self.wake)();
        }
    }

    /// A [`Later`](crate::router::Later) that answers `to` on connection `key`.
    pub(crate) fn later(&self, key: ConnKey, to: AnswerTo) -> crate::router::Later {
        let sink = self.clone();
        crate::router::Later::new(move |response| sink.send_to(key, to, response))
    }
}

/// See the module docs.
pub(crate) struct Env<'a> {
    /// Milliseconds since the worker started (the connection's clock).
    pub(crate) now: u64,
    /// The worker's index (for logs).
    pub(crate) worker: usize,
    /// The connection being handled.
    pub(crate) key: ConnKey,
    pub(crate) shard: &'a mut Shard,
    pub(crate) engine: &'a Engine,
    pub(crate) app: &'a AppState,
    pub(crate) metrics: &'a Metrics,
    pub(crate) stats: &'a RuntimeStats,
    pub(crate) answers: &'a AnswerSink,
    /// The worker's limit on client-caused log lines.
    pub(crate) log_limit: &'a mut LogLimit,
    /// The worker's long-polling sessions.
    pub(crate) polls: &'a mut PollTable,
    /// The worker's per-socket access state (tokens, rates).
    pub(crate) access: &'a mut super::access_table::AccessTable,

    /// Sockets whose backlog must go to a GET just parked on them (or, after
    /// an upgrade, to their new WebSocket), after the drain.
    pub(crate) poll_flush: &'a mut Vec<SocketId>,
    /// Set while a long-polling session's events are handled: its socket
    /// (deferred acks go to the session, not to the connection).
    pub(crate) poll: Option<SocketId>,
}

impl Env<'_> {
    /// Counts socket `id` closed as a slow consumer and logs it (rate-limited):
    /// the same accounting for a WebSocket and a polling session (`what`).
    pub(crate) fn slow_consumer(&mut self, id: SocketId, what: &str) {
        self.stats
            .slow_consumers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.log_limit.allow(self.now) {
            tracing::warn!(
                worker = self.worker,
                socket = %id,
                limit = self.app.config.outbound_limit,
                "closing {what} (outbound limit passed)"
            );
        }
    }
}
