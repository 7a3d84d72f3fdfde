//! [`PollTable`]: one worker's HTTP long-polling sessions, by socket id, with
//! their heartbeat timers.
//!
//! A polling session outlives the HTTP requests that carry it: its Socket.IO
//! session lives here, its socket in the worker's shard like any other (so
//! broadcasts reach it through the same encode-once frames), and at most one
//! GET is parked on it at a time, waiting for frames. The shard's writer hands
//! a socket's pending frames to its parked GET as one polling response
//! (`runtime::polling`); with no GET parked they stay in the shard's backlog,
//! under the same outbound limit as a WebSocket's.

use std::collections::HashMap;

use roomcast::SocketId;

use super::conn_key::ConnKey;
use super::deadlines::DeadlineFifo;
use crate::protocol::eio::EioVersion;
use crate::protocol::sio::Session;

/// A GET waiting for frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParkedGet {
    /// Its connection.
    pub(crate) key: ConnKey,
    /// The `Access-Control-Allow-Origin` its answer carries, if any.
    pub(crate) cors: Option<String>,
    /// Whether its connection is kept alive after the answer.
    pub(crate) keep_alive: bool,
}

/// One polling session.
#[derive(Debug)]
pub(crate) struct PollSession {
    pub(crate) id: SocketId,
    pub(crate) session: Session,
    pub(crate) version: EioVersion,
    pub(crate) b64: bool,
    /// The GET parked on the session.
    pub(crate) get: Option<ParkedGet>,
    /// Ended: its last frames (the close packet last) go to the next GET, or
    /// it is dropped at this deadline.
    pub(crate) closing: Option<u64>,
    /// The close packet went out in a GET's answer: the worker drops it.
    pub(crate) done: bool,
    /// A WebSocket probing the upgrade (its connection).
    pub(crate) probe: Option<ConnKey>,
    /// The timer entry pending for it.
    scheduled: Option<u64>,
}

impl PollSession {
    pub(crate) fn new(
        id: SocketId,
        session: Session,
        version: EioVersion,
        b64: bool,
    ) -> PollSession {
        PollSession {
            id,
            session,
            version,
            b64,
            get: None,
            closing: None,
            done: false,
            probe: None,
            scheduled: None,
        }
    }

    /// When the worker must next look at it.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        match (self.session.next_deadline(), self.closing) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// See the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct PollTable {
    sessions: HashMap<SocketId, Box<PollSession>>,
    timers: DeadlineFifo<SocketId>,
    /// Sessions by Engine.IO version: `[v3, v4]`.
    pub(crate) by_version: [usize; 2],
}

fn vi(v: EioVersion) -> usize {
    usize::from(v != EioVersion::V3)
}

impl PollTable {
    /// Adds a session (its timer is scheduled by [`put`](Self::put)).
    pub(crate) fn insert(&mut self, s: Box<PollSession>) {
        self.by_version[vi(s.version)] += 1;
        let id = s.id;
        if let Some(old) = self.sessions.insert(id, s) {
            self.by_version[vi(old.version)] -= 1;
        }
        self.schedule(id);
    }

    pub(crate) fn get_mut(&mut self, id: SocketId) -> Option<&mut PollSession> {
        self.sessions.get_mut(&id).map(|b| &mut **b)
    }

    /// Takes a session out to work on it with the rest of the worker (put it
    /// back with [`put`](Self::put), or drop it with [`forget`](Self::forget)).
    pub(crate) fn take(&mut self, id: SocketId) -> Option<Box<PollSession>> {
        self.sessions.remove(&id)
    }

    /// Puts a taken session back and schedules its timer.
    pub(crate) fn put(&mut self, s: Box<PollSession>) {
        let id = s.id;
        self.sessions.insert(id, s);
        self.schedule(id);
    }

    /// A taken session that ends for good (counted out).
    pub(crate) fn forget(&mut self, s: &PollSession) {
        let n = &mut self.by_version[vi(s.version)];
        *n = n.saturating_sub(1);
    }

    /// Every session's id.
    pub(crate) fn ids(&self) -> Vec<SocketId> {
        self.sessions.keys().copied().collect()
    }

    fn schedule(&mut self, id: SocketId) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(d) = s.next_deadline() {
            if s.scheduled.is_none_or(|at| d < at) {
                s.scheduled = Some(d);
                self.timers.push(d, id);
            }
        }
    }

    /// The earliest timer.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// The next session whose timer is due at `now` (stale entries skipped).
    pub(crate) fn pop_due(&mut self, now: u64) -> Option<SocketId> {
        while let Some((at, id)) = self.timers.pop_due(now) {
            if let Some(s) = self.sessions.get_mut(&id) {
                if s.scheduled == Some(at) {
                    s.scheduled = None;
                    return Some(id);
                }
            }
        }
        None
    }
}
