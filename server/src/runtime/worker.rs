//! [`Worker`]: one worker thread's readiness loop — a `mio::Poll`, the
//! connections it owns ([`Slab`]) and its engine [`Shard`]. The loop only polls,
//! reads, hands bytes and time to each [`Connection`], and writes; what the bytes
//! mean is the connection's business.
//!
//! # The tick
//!
//! ```text
//! poll (timeout = earliest timer, 0 if work is left over)
//!  ├─ waker: new streams (from the acceptor, or connections other workers
//!  │         hand over: a polling request for a session of this worker),
//!  │         answers given later (admin queries, deferred acks)
//!  ├─ readable: read ≤ READS_PER_TICK chunks into the connection
//!  └─ writable: remember the connection for a write/flush after the drain
//! timers due: Connection::on_timeout, polling sessions' heartbeats
//! shard.process_ops()      (broadcasts etc. from other threads)
//! shard.flush_held()       (mail other shards' full mailboxes could not take;
//!                           while any is held, no client input is read)
//! shard.drain(writer)      (one send/sendmsg per dirty socket; a polling
//!                           socket's frames become its parked GET's answer)
//! backlogs of polling sockets given a GET (or upgraded) this tick, flushed
//! writable connections: HTTP answers written, shard backlogs flushed
//! shard.take_closed()      (slow consumers, Engine::disconnect)
//! finish connections that are done
//! ```

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use roomcast::{Engine, Shard, SocketId};

use super::access_table::AccessTable;
use super::app_state::AppState;

use super::connection::{Connection, ReadMode};
use super::deadlines::DeadlineFifo;
use super::env::{Answer, AnswerSink, AnswerTo, Env};
use super::log_limit::LogLimit;
use super::metrics::{Metrics, RuntimeStats, WorkerMetrics};
use super::poll_table::PollTable;
use super::polling;
use super::shutdown::ShutdownSignal;
use super::slab::Slab;
use super::stream_writer::StreamWriter;
use crate::protocol::eio::EioVersion;

/// Token of each poll's waker.
pub(crate) const WAKER: Token = Token(usize::MAX);
/// Most reads of one connection in one tick (then it waits for the next tick).
pub(crate) const READS_PER_TICK: usize = 16;
/// Size of one read.
const READ_CHUNK: usize = 64 * 1024;
/// While mail for other shards is held (their mailboxes full), how often the
/// worker retries.
const HELD_RETRY: Duration = Duration::from_millis(1);

/// A connection for a worker: a new one from the acceptor, or one another
/// worker hands over with the bytes it already read.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) stream: TcpStream,
    pub(crate) input: bytes::BytesMut,
}

impl Incoming {
    pub(crate) fn new(stream: TcpStream) -> Incoming {
        Incoming {
            stream,
            input: bytes::BytesMut::new(),
        }
    }
}

/// Every worker's queue of incoming connections, and its waker.
pub(crate) type Peers = Arc<Vec<(crossbeam_channel::Sender<Incoming>, Arc<Waker>)>>;

/// What a worker is started with.
pub(crate) struct WorkerParts {
    pub(crate) poll: Poll,
    pub(crate) waker: Arc<Waker>,
    pub(crate) shard: Shard,
    pub(crate) incoming: Receiver<Incoming>,
}

/// One worker; see the module docs.
pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    /// New streams from the acceptor and other workers.
    incoming: Receiver<Incoming>,
    /// Every worker's incoming queue (for handovers).
    peers: Peers,
    /// Long-polling sessions.
    polls: PollTable,
    access: AccessTable,
    /// Polling sockets whose backlog goes to a GET (or WebSocket) this tick.
    poll_flush: Vec<SocketId>,
    /// Polling sessions whose close packet went out this tick.
    poll_done: Vec<SocketId>,
    /// Connections given a polling answer by the writer this tick.
    poll_replies: Vec<usize>,
    shard: Shard,
    engine: Engine,
    app: Arc<AppState>,
    metrics: Arc<Metrics>,
    worker_metrics: WorkerMetrics,
    stats: Arc<RuntimeStats>,
    slab: Slab,
    /// Deadlines, as `(connection index, serial)`.
    timers: DeadlineFifo<(usize, u64)>,
    start: Instant,
    /// Connections touched this tick (checked for completion after the drain).
    touched: Vec<usize>,
    /// Connections to write to after the drain (they became writable, or have an
    /// HTTP answer).
    writable: Vec<usize>,
    /// Connections with input left to read (read cap reached).
    more_input: Vec<usize>,
    /// Keep-alive connections whose answer was written: buffered input first,
    /// then a read (their readiness edge may have passed while they did not read).
    resume: Vec<usize>,
    scratch: Vec<u8>,
    answers: AnswerSink,
    answers_rx: Receiver<Answer>,
    /// Upgraded connections by Engine.IO version: `[v3, v4]`.
    eio_conns: [usize; 2],
    log_limit: LogLimit,
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn version_index(v: EioVersion) -> usize {
    usize::from(v != EioVersion::V3)
}

/// Builds the [`Env`] for connection `$idx` from the worker's disjoint fields.
macro_rules! env {
    ($w:ident, $idx:expr, $serial:expr) => {
        Env {
            now: millis_since($w.start),
            worker: $w.index,
            key: ($idx, $serial),
            shard: &mut $w.shard,
            engine: &$w.engine,
            app: &$w.app,
            metrics: &$w.metrics,
            stats: &$w.stats,
            answers: &$w.answers,
            log_limit: &mut $w.log_limit,
            polls: &mut $w.polls,
            access: &mut $w.access,
            poll_flush: &mut $w.poll_flush,
            poll: None,
        }
    };
}

/// The [`Env`] for work on a polling session (no connection of its own).
macro_rules! poll_env {
    ($w:ident) => {
        env!($w, usize::MAX, 0)
    };
}

/// The shard's writer over the worker's disjoint fields.
macro_rules! writer {
    ($w:ident) => {
        StreamWriter {
            slab: &mut $w.slab,
            failed: &mut $w.touched,
            polls: &mut $w.polls,
            replies: &mut $w.poll_replies,
            done: &mut $w.poll_done,
            now: millis_since($w.start),
            close_timeout: $w.app.config.close_timeout_ms,
        }
    };
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        parts: WorkerParts,
        engine: Engine,
        app: Arc<AppState>,
        metrics: Arc<Metrics>,
        stats: Arc<RuntimeStats>,
        peers: Peers,
    ) -> Worker {
        let WorkerParts {
            poll,
            waker,
            shard,
            incoming,
        } = parts;
        let (answers_tx, answers_rx) = crossbeam_channel::unbounded();
        let answers = AnswerSink::new(
            answers_tx,
            Arc::new(move || {
                let _ = waker.wake();
            }),
        );
        Worker {
            index,
            poll,
            incoming,
            peers,
            polls: PollTable::default(),
            access: AccessTable::default(),

            poll_flush: Vec::new(),
            poll_done: Vec::new(),
            poll_replies: Vec::new(),
            shard,
            engine,
            app,
            worker_metrics: metrics.worker(index),
            metrics,
            stats,
            slab: Slab::default(),
            timers: DeadlineFifo::default(),
            start: Instant::now(),
            touched: Vec::new(),
            writable: Vec::new(),
            more_input: Vec::new(),
            resume: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            answers,
            answers_rx,
            eio_conns: [0; 2],
            log_limit: LogLimit::default(),
        }
    }

    fn now(&self) -> u64 {
        millis_since(self.start)
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(mut self, signal: &ShutdownSignal) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut shutdown_deadline: Option<u64> = None;
        loop {
            let now = self.now();
            let next = match (self.timers.next_deadline(), self.polls.next_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let mut timeout = next.map(|t| Duration::from_millis(t.saturating_sub(now)));
            if !self.more_input.is_empty()
                || !self.resume.is_empty()
                || self.shard.has_pending_ops()
            {
                timeout = Some(Duration::ZERO);
            }
            if self.shard.has_held() {
                // Other shards' mailboxes are full: give them a moment.
                // (Input is not read meanwhile, so no busy loop on `more_input`.)
                timeout = Some(HELD_RETRY);
            }
            if let Some(d) = shutdown_deadline {
                let left = Duration::from_millis(d.saturating_sub(now));
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            let busy_since = Instant::now();
            let stopping = signal.is_triggered();
            for event in &events {
                if event.token() == WAKER {
                    continue;
                }
                let idx = event.token().0;
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(idx);
                }
                if event.is_writable() {
                    self.writable.push(idx);
                    self.touched.push(idx);
                }
            }
            // New connections (after the events: their tokens are fresh).
            while let Ok(incoming) = self.incoming.try_recv() {
                if stopping {
                    drop(incoming);
                } else {
                    self.add_conn(incoming);
                }
            }
            for idx in std::mem::take(&mut self.more_input) {
                self.on_readable(idx);
            }
            for idx in std::mem::take(&mut self.resume) {
                self.call(idx, |c, env| c.resume(env));
                self.on_readable(idx);
            }
            while let Ok(answer) = self.answers_rx.try_recv() {
                let (idx, serial) = answer.key;
                if let AnswerTo::Connect { socket, nsp, auth } = &answer.to {
                    if self.polls.get_mut(*socket).is_some() {
                        let mut env = poll_env!(self);
                        polling::on_connect_decided(*socket, nsp, auth, &answer.response, &mut env);
                    } else if let Some(idx) = self.slab.by_socket(*socket) {
                        self.call(idx, |c, env| {
                            c.on_connect_decided(nsp, auth, &answer.response, env)
                        });
                    }
                    continue;
                }
                if let AnswerTo::PollAck { socket, nsp, id } = &answer.to {
                    let mut env = poll_env!(self);
                    polling::on_ack(*socket, nsp, *id, &answer.response, &mut env);
                    continue;
                }
                if self.slab.get(idx).is_some_and(|e| e.serial == serial) {
                    self.call(idx, |c, env| match &answer.to {
                        AnswerTo::Http => c.on_answer(&answer.response, env),
                        AnswerTo::Ack { nsp, id } => c.on_ack(nsp, *id, &answer.response, env),
                        AnswerTo::PollAck { .. } | AnswerTo::Connect { .. } => {}
                    });
                }
            }
            self.fire_timers();
            if stopping && shutdown_deadline.is_none() {
                shutdown_deadline = Some(self.now() + self.app.config.shutdown_timeout_ms);
                for idx in self.slab.indices() {
                    self.call(idx, |c, env| c.begin_shutdown(env));
                }
                for id in self.polls.ids() {
                    let mut env = poll_env!(self);
                    polling::begin_shutdown(id, &mut env);
                }
            }
            self.end_tick();
            let shard = &self.shard;
            self.worker_metrics.publish(
                self.eio_conns[0] + self.polls.by_version[0],
                self.eio_conns[1] + self.polls.by_version[1],
                [
                    shard.socket_count(),
                    shard.room_count(),
                    shard.membership_count(),
                ],
                &shard.stats(),
            );
            self.worker_metrics
                .observe_loop(busy_since.elapsed().as_secs_f64());
            if let Some(d) = shutdown_deadline {
                let live = self.slab.len();
                if live == 0 || self.now() >= d {
                    if live > 0 {
                        tracing::info!(
                            worker = self.index,
                            live,
                            "shutdown grace over; dropping connections"
                        );
                    }
                    for idx in self.slab.indices() {
                        self.finish(idx);
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Runs `f` on connection `idx` with its [`Env`], then notes what changed: a
    /// socket opened by an upgrade, an HTTP answer to write.
    fn call<R>(
        &mut self,
        idx: usize,
        f: impl FnOnce(&mut Connection, &mut Env<'_>) -> R,
    ) -> Option<R> {
        let entry = self.slab.get_mut(idx)?;
        let serial = entry.serial;
        let conn = &mut entry.conn;
        let mut env = env!(self, idx, serial);
        let r = f(conn, &mut env);
        self.touched.push(idx);
        if let Some((to, input)) = self.slab.get_mut(idx)?.conn.take_handover() {
            self.hand_over(idx, to, input);
            return Some(r);
        }
        let conn = &self.slab.get(idx)?.conn;
        if conn.http_pending().is_some() {
            self.writable.push(idx);
        }
        if let (Some(id), Some(version)) = (conn.socket(), conn.eio_version()) {
            if !self.slab.is_linked(idx, id) {
                self.eio_conns[version_index(version)] += 1;
                if let Some(old) = self.slab.link_socket(idx, id) {
                    // The slot's previous socket was disconnected through the
                    // engine and its connection not reaped yet: drop it now (its
                    // id's generation no longer matches, so the new socket is
                    // untouched).
                    self.finish(old);
                }
            }
        }
        Some(r)
    }

    // ----- connections -----------------------------------------------------------

    fn add_conn(&mut self, incoming: Incoming) {
        let Incoming { mut stream, input } = incoming;
        let idx = self.slab.vacant();
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!("register failed: {e}");
            return;
        }
        let handed_over = !input.is_empty();
        let mut conn =
            Connection::with_input(self.now(), self.app.config.handshake_timeout_ms, input);
        conn.set_peer(stream.peer_addr().ok().map(|a| a.ip()));
        self.slab.insert(idx, stream, conn);
        self.schedule(idx);
        if handed_over {
            // The bytes another worker read: the request is complete.
            self.call(idx, |c, env| c.resume(env));
        }
        // Edge-triggered: bytes may already be waiting.
        self.on_readable(idx);
    }

    /// Moves connection `idx` to worker `to` (its session lives there), with
    /// the bytes read so far; this worker forgets it without closing it.
    fn hand_over(&mut self, idx: usize, to: usize, input: bytes::BytesMut) {
        let Some(mut entry) = self.slab.remove(idx) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut entry.stream);
        let Some((tx, waker)) = self.peers.get(to) else {
            return;
        };
        self.stats
            .handovers
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if tx
            .send(Incoming {
                stream: entry.stream,
                input,
            })
            .is_ok()
        {
            let _ = waker.wake();
        }
    }

    /// Closes and forgets connection `idx` now (its socket leaves the engine).
    fn finish(&mut self, idx: usize) {
        let Some(mut entry) = self.slab.remove(idx) else {
            return;
        };
        if let Some(v) = entry.conn.eio_version() {
            let n = &mut self.eio_conns[version_index(v)];
            *n = n.saturating_sub(1);
        }
        let mut env = env!(self, idx, entry.serial);
        entry.conn.finish(&mut env);
        let _ = entry.stream.shutdown(Shutdown::Write);
        // Read what the peer already sent so that closing does not reset the
        // connection (which could discard our last bytes in flight).
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match entry.stream.read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let _ = self.poll.registry().deregister(&mut entry.stream);
    }

    fn schedule(&mut self, idx: usize) {
        let Some(entry) = self.slab.get_mut(idx) else {
            return;
        };
        if let Some(d) = entry.conn.next_deadline() {
            if entry.scheduled.is_none_or(|s| d < s) {
                entry.scheduled = Some(d);
                self.timers.push(d, (idx, entry.serial));
            }
        }
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        while let Some((t, (idx, serial))) = self.timers.pop_due(now) {
            let Some(entry) = self.slab.get_mut(idx) else {
                continue;
            };
            if entry.serial != serial || entry.scheduled != Some(t) {
                continue; // stale entry
            }
            entry.scheduled = None;
            self.call(idx, |c, env| c.on_timeout(env));
            self.schedule(idx);
        }
        while let Some(id) = self.polls.pop_due(now) {
            let mut env = poll_env!(self);
            polling::on_timeout(id, &mut env);
        }
    }

    // ----- input -------------------------------------------------------------------

    fn on_readable(&mut self, idx: usize) {
        self.touched.push(idx);
        if self.shard.has_held() {
            // Back-pressure: other shards cannot take more work from this one,
            // so no client input is read (the kernel's buffers, then TCP, push
            // back on the clients) until the held mail is sent.
            self.more_input.push(idx);
            return;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut capped = true;
        for _ in 0..READS_PER_TICK {
            let Some(entry) = self.slab.get_mut(idx) else {
                capped = false;
                break;
            };
            let mode = entry.conn.read_mode();
            if mode == ReadMode::Wait {
                // Pipelined input waits in the kernel until the answer is written.
                capped = false;
                break;
            }
            match entry.stream.read(&mut scratch) {
                Ok(0) => {
                    self.call(idx, |c, env| c.on_eof(env));
                    capped = false;
                    break;
                }
                Ok(n) if mode == ReadMode::Process => {
                    self.call(idx, |c, env| c.on_read(&scratch[..n], env));
                }
                Ok(_) => {} // not wanted any more (an answer is being written)
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    capped = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(worker = self.index, "read failed: {e}");
                    self.call(idx, |c, env| c.on_eof(env));
                    capped = false;
                    break;
                }
            }
        }
        self.scratch = scratch;
        if capped {
            self.more_input.push(idx);
        }
    }

    // ----- output ------------------------------------------------------------------

    fn end_tick(&mut self) {
        self.shard.process_ops();
        self.shard.flush_held();
        self.shard.drain(&mut writer!(self));
        for id in std::mem::take(&mut self.poll_flush) {
            if self.shard.has_backlog(id) {
                self.shard.flush(id, &mut writer!(self));
            }
        }
        self.writable.append(&mut self.poll_replies);
        for id in std::mem::take(&mut self.poll_done) {
            if let Some(ps) = self.polls.take(id) {
                let mut env = poll_env!(self);
                polling::finish(&ps, &mut env);
            }
        }
        for idx in std::mem::take(&mut self.writable) {
            self.on_writable(idx);
        }
        for (id, cause) in self.shard.take_closed() {
            let Some(idx) = self.slab.by_socket(id) else {
                let mut env = poll_env!(self);
                if let Some((version, get, before)) = polling::on_shard_close(id, cause, &mut env) {
                    let out = polling::close_answer(version, &get, &before);
                    let (idx, serial) = get.key;
                    if self.slab.get(idx).is_some_and(|e| e.serial == serial) {
                        let now = self.now();
                        let close = self.app.config.close_timeout_ms;
                        if let Some(e) = self.slab.get_mut(idx) {
                            e.conn.poll_answered(out, get.keep_alive, now, close);
                        }
                        self.on_writable(idx);
                    }
                }
                continue;
            };
            if let Some(Some(frame)) = self.call(idx, |c, env| c.on_shard_close(cause, env)) {
                if let Some(entry) = self.slab.get_mut(idx) {
                    let _ = entry.stream.write(&frame);
                }
            }
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &idx in &touched {
            let Some(entry) = self.slab.get(idx) else {
                continue;
            };
            if entry.conn.is_done(&self.shard) {
                self.finish(idx);
            } else {
                self.schedule(idx);
            }
        }
        touched.clear();
        self.touched = touched;
    }

    fn on_writable(&mut self, idx: usize) {
        self.touched.push(idx);
        let Some(entry) = self.slab.get_mut(idx) else {
            return;
        };
        if entry.conn.http_pending().is_some() {
            loop {
                let Some(entry) = self.slab.get_mut(idx) else {
                    return;
                };
                let Some(pending) = entry.conn.http_pending().filter(|p| !p.is_empty()) else {
                    break;
                };
                match entry.stream.write(pending) {
                    Ok(0) => {
                        entry.conn.fail();
                        return;
                    }
                    Ok(n) => {
                        let serial = entry.serial;
                        let conn = &mut entry.conn;
                        let env = env!(self, idx, serial);
                        if conn.http_written(n, &env) {
                            // Written, keep-alive: look for the next request.
                            self.resume.push(idx);
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        entry.conn.fail();
                        return;
                    }
                }
            }
            return;
        }
        if let Some(id) = entry.conn.socket() {
            if self.shard.has_backlog(id) {
                self.shard.flush(id, &mut writer!(self));
            }
        }
    }
}
