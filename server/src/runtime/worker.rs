//! One worker thread: a `mio::Poll`, its connections, and its engine [`Shard`].
//!
//! # The tick
//!
//! ```text
//! poll (timeout = earliest timer, 0 if work is left over)
//!  ├─ waker: take new streams from the acceptor; (engine ops are applied below)
//!  ├─ readable: read ≤ READS_PER_TICK chunks, feed HTTP parser / WsSession / Session,
//!  │            act on session events (routes, handlers), shard.send every frame
//!  └─ writable: remember the connection for a backlog flush
//! timers due: Session::handle_timeout, handshake/close timeouts
//! shard.process_ops()      (broadcasts etc. from other threads)
//! shard.drain(writer)      (one send/sendmsg per dirty socket)
//! shard.flush(id, writer)  (backlogs of connections that became writable)
//! shard.take_closed()      (slow consumers, Engine::disconnect)
//! finish connections whose WebSocket is done and whose bytes are written
//! ```
//!
//! Connections live in a slab indexed by their mio token; a second table maps a
//! socket's dense slot index (`SocketId::slot`) to its connection for the writer.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use std::sync::{Mutex, PoisonError};

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use roomcast::wire::{encode_frame, OP_BINARY, OP_TEXT};
use roomcast::{CloseCause, Shard, SocketId, Writer};
use smallvec::SmallVec;

use super::admin_http;
use super::deadlines::DeadlineFifo;
use super::engine_echo::EngineEcho;
use super::metrics::{Metrics, WorkerMetrics};
use super::{App, RuntimeStats, ShutdownSignal, WAKER};
use crate::app::{ConnectContext, EventContext};
use crate::eio::WsMessage;
use crate::handshake::{http_response, Classified, HandshakeConfig, Request};
use crate::router::{ack_payload, parse_virtual_request, Context, Method, Response};
use crate::session::{CloseReason, Session, SessionConfig, SessionEvent};
use crate::sio::EventName;
use crate::ws::{WsConfig, WsEvent, WsSession, CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY};

/// Most reads of one connection in one tick (then it waits for the next tick).
pub(crate) const READS_PER_TICK: usize = 16;
/// Size of one read.
const READ_CHUNK: usize = 64 * 1024;
/// Read-buffer capacity an idle connection may keep.
const IDLE_BUFFER: usize = 4 * 1024;
/// Close reason sent to slow consumers (with code 1008).
const SLOW_CONSUMER: &str = "slow consumer";

/// Where a connection is.
enum Phase {
    /// Reading the HTTP request head, until `deadline`.
    Http { deadline: u64 },
    /// Writing a direct HTTP answer (`out[written..]`), then reading the next
    /// request (`keep_alive`) or closing; dropped if not written by `deadline`.
    /// A keep-alive connection reads nothing meanwhile (pipelined bytes wait).
    Reply {
        out: Vec<u8>,
        written: usize,
        deadline: u64,
        keep_alive: bool,
    },
    /// Waiting for the answer of an admin query sent to other shards (see
    /// [`Answer`]); answered 503 if it does not come by `deadline`.
    Parked {
        deadline: u64,
        keep_alive: bool,
        head_only: bool,
    },
    /// Upgraded: every byte out goes through the shard under `id`.
    Ws(Box<WsConn>),
}

/// The protocol above the WebSocket. (Lives inside the boxed [`WsConn`]; the echo
/// variant is for conformance tests only, so the size difference is harmless.)
#[allow(clippy::large_enum_variant)]
enum Proto {
    Sio(Session),
    Echo(EngineEcho),
}

struct WsConn {
    id: SocketId,
    ws: WsSession,
    proto: Proto,
    /// Set when we sent our close frame: the peer must answer by then.
    close_deadline: Option<u64>,
    /// The writer stopped inside a frame (so no frame may be injected directly).
    mid_frame: bool,
    /// Engine.IO v3 (else v4), for the connection gauges.
    eio3: bool,
}

struct Conn {
    stream: TcpStream,
    serial: u64,
    phase: Phase,
    input: BytesMut,
    /// The earliest timer entry pending for this connection.
    scheduled: Option<u64>,
    /// An I/O error or a decision to drop: finish at the end of the tick, writing
    /// nothing more.
    dead: bool,
    /// The peer finished sending (EOF): finish at the end of the tick, after this
    /// tick's bytes were offered to the kernel.
    eof: bool,
}

impl Conn {
    fn next_deadline(&self) -> Option<u64> {
        match &self.phase {
            Phase::Http { deadline } => Some(*deadline),
            Phase::Reply { deadline, .. } | Phase::Parked { deadline, .. } => Some(*deadline),
            Phase::Ws(w) => {
                let proto = match &w.proto {
                    Proto::Sio(s) => s.next_deadline(),
                    Proto::Echo(e) => e.next_deadline(),
                };
                match (proto, w.close_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    fn socket(&self) -> Option<SocketId> {
        match &self.phase {
            Phase::Ws(w) => Some(w.id),
            _ => None,
        }
    }
}

/// The shard's writer: one `send` (one buffer) or `sendmsg` (several), continued
/// until done or `WouldBlock`, on the socket's TCP stream.
struct StreamWriter<'a> {
    conns: &'a mut [Option<Conn>],
    by_slot: &'a [usize],
    /// Connections whose stream failed (finished at the end of the tick).
    failed: &'a mut Vec<usize>,
}

impl Writer for StreamWriter<'_> {
    fn write(&mut self, socket: SocketId, bufs: &[IoSlice<'_>]) -> usize {
        let Some(idx) = self.by_slot.get(socket.slot() as usize).copied() else {
            return 0;
        };
        let idx = idx.wrapping_sub(1);
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return 0;
        };
        if conn.dead {
            return 0;
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut slices: SmallVec<[IoSlice<'_>; 16]> =
            bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut view: &mut [IoSlice<'_>] = &mut slices;
        let mut taken = 0;
        // send/sendmsg rather than writev: same bytes, but they skip the VFS layer
        // (fdget_pos, rw_verify_area, fsnotify). perf at 100k deliveries/s: the
        // syscall's share outside tcp_sendmsg went from 14.8 % (writev) to 11.5 %
        // (sendmsg) to 9.1 % (send, for the usual one-frame write).
        let sock = socket2::SockRef::from(&conn.stream);
        while taken < total {
            let sent = match view {
                [one] => sock.send(one),
                _ => sock.send_vectored(view),
            };
            match sent {
                Ok(0) => {
                    conn.dead = true;
                    self.failed.push(idx);
                    break;
                }
                Ok(n) => {
                    taken += n;
                    IoSlice::advance_slices(&mut view, n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(%socket, "write failed: {e}");
                    conn.dead = true;
                    self.failed.push(idx);
                    break;
                }
            }
        }
        if taken > 0 {
            // Buffers after the first are whole frames; the first is a whole frame
            // or the rest of the one in progress. So a frame boundary is exactly a
            // buffer boundary.
            let mut sum = 0;
            let mut boundary = false;
            for b in bufs {
                sum += b.len();
                if sum == taken {
                    boundary = true;
                    break;
                }
                if sum > taken {
                    break;
                }
            }
            if let Phase::Ws(w) = &mut conn.phase {
                w.mid_frame = !boundary;
            }
        }
        taken
    }
}

/// The answer to a parked admin query, sent by the last shard that contributed.
struct Answer {
    idx: usize,
    serial: u64,
    response: Response,
}

/// Partial results of a `GET /api/rooms/:room` from every shard.
struct RoomGather {
    left: usize,
    count: usize,
    members: Vec<String>,
}

/// One worker; see the module docs.
pub(crate) struct Worker {
    index: usize,
    poll: Poll,
    shard: Shard,
    app: Arc<App>,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// `SocketId::slot` → connection index + 1 (0: none).
    by_slot: Vec<usize>,
    /// Deadlines, as `(connection index, connection serial)`.
    timers: DeadlineFifo<(usize, u64)>,
    start: Instant,
    next_serial: u64,
    /// Connections touched this tick (checked for completion after the drain).
    touched: Vec<usize>,
    /// Connections to flush after the drain (they became writable).
    writable: Vec<usize>,
    /// Connections with input left to read (read cap reached).
    more_input: Vec<usize>,
    scratch: Vec<u8>,
    handshake: HandshakeConfig,
    echo_handshake: Option<HandshakeConfig>,
    session_config: SessionConfig,
    ws_config: WsConfig,
    /// Keep-alive connections whose reply was written: buffered input first, then
    /// a read (their readiness edge may have passed while they did not read).
    resume: Vec<usize>,
    waker: Arc<Waker>,
    answers_tx: Sender<Answer>,
    answers_rx: Receiver<Answer>,
    metrics: Arc<Metrics>,
    worker_metrics: WorkerMetrics,
    /// Upgraded connections by Engine.IO version: `[v3, v4]`.
    eio_conns: [usize; 2],
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        poll: Poll,
        shard: Shard,
        app: Arc<App>,
        waker: Arc<Waker>,
        metrics: Arc<Metrics>,
    ) -> Worker {
        let (answers_tx, answers_rx) = crossbeam_channel::unbounded();
        let c = &app.config;
        let session_config = SessionConfig {
            ping_interval: c.ping_interval_ms,
            ping_timeout: c.ping_timeout_ms,
            connect_timeout: c.connect_timeout_ms,
            max_payload: c.max_payload as u64,
            ..SessionConfig::default()
        };
        let echo_handshake = app.engine_echo.as_ref().map(|path| HandshakeConfig {
            path: path.clone(),
            ..HandshakeConfig::default()
        });
        Worker {
            index,
            poll,
            shard,
            conns: Vec::new(),
            free: Vec::new(),
            by_slot: Vec::new(),
            timers: DeadlineFifo::default(),
            start: Instant::now(),
            next_serial: 0,
            touched: Vec::new(),
            writable: Vec::new(),
            more_input: Vec::new(),
            scratch: vec![0; READ_CHUNK],
            handshake: HandshakeConfig::default(),
            echo_handshake,
            session_config,
            ws_config: WsConfig {
                max_message_size: c.max_payload,
            },
            app,
            resume: Vec::new(),
            waker,
            answers_tx,
            answers_rx,
            worker_metrics: metrics.worker(index),
            metrics,
            eio_conns: [0; 2],
        }
    }

    fn now(&self) -> u64 {
        millis_since(self.start)
    }

    /// Runs until shutdown completes.
    pub(crate) fn run(
        mut self,
        incoming: &Receiver<TcpStream>,
        signal: &ShutdownSignal,
        stats: &RuntimeStats,
    ) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut shutdown_deadline: Option<u64> = None;
        loop {
            let now = self.now();
            let mut timeout = self
                .timers
                .next_deadline()
                .map(|t| Duration::from_millis(t.saturating_sub(now)));
            if !self.more_input.is_empty()
                || !self.resume.is_empty()
                || self.shard.has_pending_ops()
            {
                timeout = Some(Duration::ZERO);
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
                    self.on_readable(idx, stats);
                }
                if event.is_writable() {
                    self.writable.push(idx);
                    self.touched.push(idx);
                }
            }
            // New connections (after the events: their tokens are fresh).
            while let Ok(stream) = incoming.try_recv() {
                if stopping {
                    drop(stream);
                } else {
                    self.add_conn(stream, stats);
                }
            }
            for idx in std::mem::take(&mut self.more_input) {
                self.on_readable(idx, stats);
            }
            for idx in std::mem::take(&mut self.resume) {
                let buffered = matches!(
                    self.conns.get(idx),
                    Some(Some(c)) if matches!(c.phase, Phase::Http { .. }) && !c.input.is_empty()
                );
                if buffered {
                    self.touched.push(idx);
                    self.process_input(idx, stats);
                }
                self.on_readable(idx, stats);
            }
            while let Ok(answer) = self.answers_rx.try_recv() {
                self.on_answer(answer);
            }
            self.fire_timers(stats);
            if stopping && shutdown_deadline.is_none() {
                shutdown_deadline = Some(self.now() + self.app.config.shutdown_grace_ms);
                self.begin_shutdown();
            }
            self.end_tick(stats);
            let shard = &self.shard;
            self.worker_metrics.publish(
                self.eio_conns[0],
                self.eio_conns[1],
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
                let live = self.conns.iter().filter(|c| c.is_some()).count();
                if live == 0 || self.now() >= d {
                    if live > 0 {
                        tracing::info!(
                            worker = self.index,
                            live,
                            "shutdown grace over; dropping connections"
                        );
                    }
                    for idx in 0..self.conns.len() {
                        self.finish(idx);
                    }
                    return Ok(());
                }
            }
        }
    }

    // ----- connections ---------------------------------------------------------

    fn add_conn(&mut self, mut stream: TcpStream, stats: &RuntimeStats) {
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                self.conns.len() - 1
            }
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            tracing::warn!("register failed: {e}");
            self.free.push(idx);
            return;
        }
        self.next_serial += 1;
        let deadline = self.now() + self.app.config.handshake_timeout_ms;
        self.conns[idx] = Some(Conn {
            stream,
            serial: self.next_serial,
            phase: Phase::Http { deadline },
            input: BytesMut::new(),
            scheduled: None,
            dead: false,
            eof: false,
        });
        self.schedule(idx);
        // Edge-triggered: bytes may already be waiting.
        self.on_readable(idx, stats);
    }

    /// Closes and forgets connection `idx` now (its socket leaves the engine).
    fn finish(&mut self, idx: usize) {
        let Some(Some(mut conn)) = self.conns.get_mut(idx).map(Option::take) else {
            return;
        };
        if let Phase::Ws(w) = &mut conn.phase {
            let v = &mut self.eio_conns[usize::from(!w.eio3)];
            *v = v.saturating_sub(1);
            if let Proto::Sio(s) = &mut w.proto {
                s.handle_transport_closed();
            }
            let _ = w.ws.on_transport_closed();
            self.shard.disconnect(w.id);
            if let Some(e) = self.by_slot.get_mut(w.id.slot() as usize) {
                if *e == idx + 1 {
                    *e = 0;
                }
            }
        }
        let _ = conn.stream.shutdown(Shutdown::Write);
        // Read what the peer already sent so that closing does not reset the
        // connection (which could discard our last bytes in flight).
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match conn.stream.read(&mut sink) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.free.push(idx);
    }

    fn schedule(&mut self, idx: usize) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        if let Some(d) = conn.next_deadline() {
            if conn.scheduled.is_none_or(|s| d < s) {
                conn.scheduled = Some(d);
                self.timers.push(d, (idx, conn.serial));
            }
        }
    }

    fn fire_timers(&mut self, stats: &RuntimeStats) {
        let now = self.now();
        while let Some((t, (idx, serial))) = self.timers.pop_due(now) {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                continue;
            };
            if conn.serial != serial || conn.scheduled != Some(t) {
                continue; // stale entry
            }
            conn.scheduled = None;
            self.touched.push(idx);
            match &mut conn.phase {
                Phase::Http { deadline } if *deadline <= now => {
                    tracing::debug!(worker = self.index, "handshake timeout");
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    conn.dead = true;
                    continue;
                }
                Phase::Reply { deadline, .. } if *deadline <= now => {
                    tracing::debug!(worker = self.index, "HTTP reply not taken in time");
                    conn.dead = true;
                    continue;
                }
                Phase::Parked { deadline, .. } if *deadline <= now => {
                    tracing::warn!(worker = self.index, "admin query not answered in time");
                    let resp = Response::error(503, "E_UNAVAILABLE", "query timed out");
                    let out = admin_http::render(
                        503,
                        "application/json",
                        resp.body.to_string().as_bytes(),
                        false,
                        false,
                    );
                    self.reply(idx, out, false);
                    continue;
                }
                Phase::Ws(w) => {
                    if w.close_deadline.is_some_and(|d| d <= now) {
                        tracing::debug!(socket = %w.id, "peer did not answer our close frame");
                        conn.dead = true;
                        continue;
                    }
                    match &mut w.proto {
                        Proto::Sio(s) => s.handle_timeout(now),
                        Proto::Echo(e) => e.handle_timeout(now),
                    }
                    self.pump(idx);
                }
                _ => {}
            }
            self.schedule(idx);
        }
    }

    fn begin_shutdown(&mut self) {
        let close_at = self.now() + self.app.config.close_timeout_ms;
        for idx in 0..self.conns.len() {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                continue;
            };
            match &mut conn.phase {
                Phase::Ws(w) => {
                    self.touched.push(idx);
                    let id = w.id;
                    if w.ws.close(CLOSE_GOING_AWAY, "server shutting down").is_ok() {
                        while let Some(f) = w.ws.poll_transmit() {
                            self.shard.send(id, f);
                        }
                    }
                    if w.close_deadline.is_none() {
                        w.close_deadline = Some(close_at);
                    }
                }
                _ => conn.dead = true,
            }
            self.touched.push(idx);
        }
    }

    // ----- input ---------------------------------------------------------------

    fn on_readable(&mut self, idx: usize, stats: &RuntimeStats) {
        self.touched.push(idx);
        for _ in 0..READS_PER_TICK {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                return;
            };
            if matches!(
                conn.phase,
                Phase::Parked { .. }
                    | Phase::Reply {
                        keep_alive: true,
                        ..
                    }
            ) {
                // Pipelined input waits in the kernel until the answer is written.
                return;
            }
            if conn.dead || conn.eof || matches!(conn.phase, Phase::Reply { .. }) {
                // A reply is being written: input is not wanted any more.
                if !conn.dead && !conn.eof {
                    match conn.stream.read(&mut self.scratch) {
                        Ok(0) => conn.eof = true,
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => conn.dead = true,
                    }
                }
                return;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) => {
                    self.on_eof(idx);
                    return;
                }
                Ok(n) => {
                    conn.input.extend_from_slice(&self.scratch[..n]);
                    self.process_input(idx, stats);
                    // An idle connection keeps no large read buffer.
                    if let Some(Some(conn)) = self.conns.get_mut(idx) {
                        if conn.input.is_empty() && conn.input.capacity() > IDLE_BUFFER {
                            conn.input = BytesMut::new();
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::debug!(worker = self.index, "read failed: {e}");
                    self.on_eof(idx);
                    return;
                }
            }
        }
        self.more_input.push(idx);
    }

    fn on_eof(&mut self, idx: usize) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        conn.eof = true;
        if let Phase::Ws(w) = &mut conn.phase {
            let _ = w.ws.on_transport_closed();
            if let Proto::Sio(s) = &mut w.proto {
                s.handle_transport_closed();
            }
            self.pump(idx);
        }
    }

    fn process_input(&mut self, idx: usize, stats: &RuntimeStats) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        if let Phase::Http { .. } = conn.phase {
            match self.handshake.process(&conn.input) {
                Ok(None) => return,
                Err(e) => {
                    tracing::info!(worker = self.index, "bad HTTP request: {e}");
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                    self.metrics.protocol_error("http");
                    self.reply(idx, e.response(), false);
                    return;
                }
                Ok(Some(classified)) => {
                    if !self.on_request(idx, classified, stats) {
                        return;
                    }
                }
            }
        }
        self.process_ws_input(idx);
    }

    /// Acts on a complete request head; returns true if the connection is now a
    /// WebSocket with input to decode.
    fn on_request(&mut self, idx: usize, classified: Classified, stats: &RuntimeStats) -> bool {
        let classified = match (classified, &self.echo_handshake) {
            (Classified::Http(req), Some(h)) if h.is_socket_io_path(&req.path) => h.classify(*req),
            (Classified::Upgrade(req, _), Some(h)) if h.is_socket_io_path(&req.path) => {
                match h.classify(*req) {
                    Classified::SocketIo(up) => {
                        return self.upgrade(
                            idx,
                            &up.request,
                            up.response(),
                            up.version,
                            up.b64,
                            true,
                            stats,
                        )
                    }
                    other => other,
                }
            }
            (c, _) => c,
        };
        match classified {
            Classified::SocketIo(up) => {
                let echo = false;
                self.upgrade(
                    idx,
                    &up.request,
                    up.response(),
                    up.version,
                    up.b64,
                    echo,
                    stats,
                )
            }
            Classified::Http(req) => {
                self.on_http(idx, &req, stats);
                false
            }
            Classified::Upgrade(req, _) => {
                tracing::debug!(path = %req.path, "WebSocket upgrade on an unknown path");
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                self.reply(idx, not_found(&req.path), false);
                false
            }
            Classified::Rejected(e) => {
                self.metrics.protocol_error("handshake");
                tracing::info!(worker = self.index, "handshake refused: {e}");
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                self.reply(idx, e.response(), false);
                false
            }
        }
    }

    /// A plain HTTP request whose head is complete: waits for its body, then
    /// answers it (see [`admin_http`]), directly or after a cross-shard query.
    fn on_http(&mut self, idx: usize, req: &Request, stats: &RuntimeStats) {
        let too_large = |limit: usize| {
            json_error(
                413,
                "E_TOO_LARGE",
                &format!("request body larger than {limit} bytes"),
            )
        };
        let limit = self.app.config.max_http_body;
        let len = match req.content_length() {
            Ok(n) => n,
            Err(e) => {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                self.metrics.protocol_error("http");
                self.reply(idx, e.response(), false);
                return;
            }
        };
        if len > limit as u64 {
            stats.rejected.fetch_add(1, Ordering::Relaxed);
            self.reply(idx, too_large(limit), false);
            return;
        }
        let need = req.head_len + len as usize;
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        if conn.input.len() < need {
            return; // the rest of the body has not come yet (the deadline runs)
        }
        let body = conn.input.split_to(need).split_off(req.head_len);
        let keep_alive = req.keep_alive();
        let head_only = req.method == "HEAD";
        let routed = admin_http::route(
            req,
            &body,
            &self.app.admin,
            self.app.config.admin_token.as_deref(),
            &mut self.shard,
        );
        match routed {
            admin_http::Routed::Reply(status, ctype, body) => {
                let out = admin_http::render(status, ctype, &body, keep_alive, head_only);
                self.reply(idx, out, keep_alive);
            }
            admin_http::Routed::Metrics => {
                let body = self.metrics.render(stats);
                let out = admin_http::render(
                    200,
                    super::metrics::CONTENT_TYPE,
                    body.as_bytes(),
                    keep_alive,
                    head_only,
                );
                self.reply(idx, out, keep_alive);
            }
            admin_http::Routed::Park(query) => self.park(idx, query, keep_alive, head_only),
        }
    }

    /// Sends `query` to the shards it needs; the last one to answer sends the
    /// [`Answer`] back and wakes this worker.
    fn park(&mut self, idx: usize, query: admin_http::Query, keep_alive: bool, head_only: bool) {
        let deadline = self.now() + self.app.config.handshake_timeout_ms;
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        let serial = conn.serial;
        conn.phase = Phase::Parked {
            deadline,
            keep_alive,
            head_only,
        };
        self.touched.push(idx);
        let engine = self.shard.engine().clone();
        let tx = self.answers_tx.clone();
        let waker = Arc::clone(&self.waker);
        let send = move |response: Response| {
            let _ = tx.send(Answer {
                idx,
                serial,
                response,
            });
            let _ = waker.wake();
        };
        let sent = match query {
            admin_http::Query::Socket { id } => {
                if engine.is_connected(id) {
                    engine.on_shard(usize::from(id.shard()), move |shard| {
                        send(match shard.rooms_of(id) {
                            Some(rooms) => Response::ok(serde_json::json!({
                                "id": id.to_string(),
                                "rooms": rooms,
                            })),
                            None => Response::unknown_sockets(&[id.to_string()]),
                        });
                    })
                } else {
                    send(Response::unknown_sockets(&[id.to_string()]));
                    Ok(())
                }
            }
            admin_http::Query::Room { room, limit } => {
                let shards = engine.shard_count();
                let gather = Arc::new(Mutex::new(RoomGather {
                    left: shards,
                    count: 0,
                    members: Vec::new(),
                }));
                let room = Arc::new(room);
                let mut result = Ok(());
                for s in 0..shards {
                    let gather = Arc::clone(&gather);
                    let room = Arc::clone(&room);
                    let send = send.clone();
                    result = result.and(engine.on_shard(s, move |shard| {
                        let members = shard.room_members(&room);
                        let mut g = gather.lock().unwrap_or_else(PoisonError::into_inner);
                        g.count += members.len();
                        let room_left = limit.saturating_sub(g.members.len());
                        g.members
                            .extend(members.iter().take(room_left).map(ToString::to_string));
                        g.left -= 1;
                        if g.left == 0 {
                            send(Response::ok(admin_http::room_body(
                                &room, g.count, &g.members,
                            )));
                        }
                    }));
                }
                result
            }
        };
        if let Err(e) = sent {
            tracing::warn!(worker = self.index, "admin query not sent: {e}");
            let resp = Response::from_core_error(&e);
            self.answer(idx, &resp, false, false);
        }
    }

    fn on_answer(&mut self, answer: Answer) {
        let Some(Some(conn)) = self.conns.get(answer.idx) else {
            return;
        };
        if conn.serial != answer.serial {
            return;
        }
        if let Phase::Parked {
            keep_alive,
            head_only,
            ..
        } = conn.phase
        {
            self.answer(answer.idx, &answer.response, keep_alive, head_only);
        }
    }

    fn answer(&mut self, idx: usize, resp: &Response, keep_alive: bool, head_only: bool) {
        let body = serde_json::to_vec(&resp.body).unwrap_or_else(|_| b"null".to_vec());
        let out = admin_http::render(
            resp.status,
            "application/json",
            &body,
            keep_alive,
            head_only,
        );
        self.reply(idx, out, keep_alive);
    }

    /// Starts writing `out` directly; then, with `keep_alive`, reads the next
    /// request, else closes the connection.
    fn reply(&mut self, idx: usize, out: Vec<u8>, keep_alive: bool) {
        let deadline = self.now() + self.app.config.close_timeout_ms;
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        if !keep_alive {
            conn.input.clear();
        }
        conn.phase = Phase::Reply {
            out,
            written: 0,
            deadline,
            keep_alive,
        };
        self.writable.push(idx);
        self.touched.push(idx);
    }

    #[allow(clippy::too_many_arguments)]
    fn upgrade(
        &mut self,
        idx: usize,
        request: &Request,
        response: Vec<u8>,
        version: crate::eio::EioVersion,
        b64: bool,
        echo: bool,
        stats: &RuntimeStats,
    ) -> bool {
        let id = match self.shard.open() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(worker = self.index, "refusing connection: {e}");
                self.reply(idx, json_error(503, "E_UNAVAILABLE", "server full"), false);
                return false;
            }
        };
        stats.upgraded.fetch_add(1, Ordering::Relaxed);
        let slot = id.slot() as usize;
        if self.by_slot.len() <= slot {
            self.by_slot.resize(slot + 1, 0);
        }
        let old = std::mem::replace(&mut self.by_slot[slot], idx + 1);
        if old != 0 && old != idx + 1 {
            // The slot's previous socket was disconnected through the engine and its
            // connection not reaped yet: its socket is gone, so drop it now.
            // (`finish` disconnects the old id, whose generation no longer matches,
            // so the new socket is untouched.)
            self.finish(old - 1);
        }
        let now = self.now();
        let sid = id.to_string();
        let proto = if echo {
            Proto::Echo(EngineEcho::new(
                version,
                &sid,
                b64,
                now,
                self.session_config.ping_interval,
                self.session_config.ping_timeout,
                self.session_config.max_payload,
            ))
        } else {
            Proto::Sio(Session::new(
                version,
                self.session_config.clone(),
                sid,
                b64,
                now,
            ))
        };
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return false;
        };
        conn.input.advance(request.head_len.min(conn.input.len()));
        conn.phase = Phase::Ws(Box::new(WsConn {
            id,
            ws: WsSession::new(self.ws_config),
            proto,
            close_deadline: None,
            mid_frame: false,
            eio3: version == crate::eio::EioVersion::V3,
        }));
        self.eio_conns[usize::from(version != crate::eio::EioVersion::V3)] += 1;
        tracing::debug!(worker = self.index, socket = %id, ?version, echo, path = %request.path, "upgraded");
        self.shard.send(id, Bytes::from(response));
        self.pump(idx);
        self.schedule(idx);
        true
    }

    fn process_ws_input(&mut self, idx: usize) {
        let now = self.now();
        let close_by = now + self.app.config.close_timeout_ms;
        loop {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                return;
            };
            let Phase::Ws(w) = &mut conn.phase else {
                return;
            };
            let id = w.id;
            let event = w.ws.poll_event(&mut conn.input);
            while let Some(f) = w.ws.poll_transmit() {
                self.shard.send(id, f);
            }
            let Some(event) = event else {
                break;
            };
            match event {
                WsEvent::Text(text) => match &mut w.proto {
                    Proto::Sio(s) => s.handle_text(&text, now),
                    Proto::Echo(e) => e.handle_text(&text, now),
                },
                WsEvent::Binary(bin) => match &mut w.proto {
                    Proto::Sio(s) => s.handle_binary(bin, now),
                    Proto::Echo(e) => e.handle_binary(bin),
                },
                WsEvent::Ping(_) | WsEvent::Pong(_) => {}
                WsEvent::Closed { code, reason, .. } => {
                    tracing::debug!(socket = %id, code, %reason, "WebSocket closed");
                    w.close_deadline.get_or_insert(close_by);
                    if let Proto::Sio(s) = &mut w.proto {
                        s.handle_transport_closed();
                    }
                }
                WsEvent::Failed(e) => {
                    self.metrics.protocol_error("websocket");
                    tracing::info!(socket = %id, code = e.close_code(), "WebSocket protocol error: {e}");
                    w.close_deadline.get_or_insert(close_by);
                    if let Proto::Sio(s) = &mut w.proto {
                        s.handle_transport_closed();
                    }
                }
            }
            self.pump(idx);
        }
        self.schedule(idx);
    }

    // ----- sessions ---------------------------------------------------------------

    /// Moves the session's output to the shard and acts on its events, until both
    /// are empty.
    fn pump(&mut self, idx: usize) {
        loop {
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                return;
            };
            let Phase::Ws(w) = &mut conn.phase else {
                return;
            };
            let id = w.id;
            let open = w.ws.is_open();
            let event = match &mut w.proto {
                Proto::Sio(s) => {
                    while let Some(msg) = s.poll_transmit() {
                        if open {
                            self.shard.send(id, frame(msg));
                        }
                    }
                    s.poll_event()
                }
                Proto::Echo(e) => {
                    while let Some(msg) = e.poll_transmit() {
                        if open {
                            self.shard.send(id, frame(msg));
                        }
                    }
                    if let Some(reason) = e.closed().map(str::to_owned) {
                        Some(SessionEvent::Close {
                            reason: if reason == "ping timeout" {
                                CloseReason::PingTimeout
                            } else {
                                CloseReason::ServerClose
                            },
                        })
                        .filter(|_| w.close_deadline.is_none() && w.ws.is_open())
                    } else {
                        None
                    }
                }
            };
            let Some(event) = event else {
                return;
            };
            self.on_session_event(idx, event);
        }
    }

    fn on_session_event(&mut self, idx: usize, event: SessionEvent) {
        let now = self.now();
        let Worker {
            conns,
            shard,
            app,
            metrics,
            ..
        } = self;
        let Some(Some(conn)) = conns.get_mut(idx) else {
            return;
        };
        let Phase::Ws(w) = &mut conn.phase else {
            return;
        };
        let id = w.id;
        match event {
            SessionEvent::Close { reason } => {
                let (code, level_info) = match &reason {
                    CloseReason::TransportClose => {
                        return;
                    }
                    CloseReason::PingTimeout
                    | CloseReason::ConnectTimeout
                    | CloseReason::ClosePacket
                    | CloseReason::ServerClose => (CLOSE_NORMAL, false),
                    CloseReason::InvalidHeartbeatDirection
                    | CloseReason::EngineParseError(_)
                    | CloseReason::SocketIoParseError(_)
                    | CloseReason::ProtocolViolation(_) => (CLOSE_POLICY, true),
                };
                let kind = match &reason {
                    CloseReason::PingTimeout | CloseReason::InvalidHeartbeatDirection => {
                        Some("heartbeat")
                    }
                    CloseReason::EngineParseError(_) => Some("engine_io"),
                    CloseReason::SocketIoParseError(_) | CloseReason::ProtocolViolation(_) => {
                        Some("socket_io")
                    }
                    _ => None,
                };
                if let Some(kind) = kind {
                    metrics.protocol_error(kind);
                }
                let text = reason.to_string();
                if level_info {
                    tracing::info!(socket = %id, "closing: {text}");
                } else {
                    tracing::debug!(socket = %id, "closing: {text}");
                }
                let mut r = text.as_str();
                while r.len() > crate::ws::MAX_CLOSE_REASON {
                    let mut end = crate::ws::MAX_CLOSE_REASON;
                    while !r.is_char_boundary(end) {
                        end -= 1;
                    }
                    r = &r[..end];
                }
                let _ = w.ws.close(code, r);
                while let Some(f) = w.ws.poll_transmit() {
                    shard.send(id, f);
                }
                if let Proto::Echo(e) = &mut w.proto {
                    e.close(&text);
                }
                w.close_deadline = Some(now + app.config.close_timeout_ms);
            }
            SessionEvent::ConnectRequest { nsp, auth } => {
                let Proto::Sio(session) = &mut w.proto else {
                    return;
                };
                if !app.namespaces.contains(&nsp) {
                    tracing::debug!(socket = %id, %nsp, "CONNECT to an unknown namespace");
                    let _ = session.refuse(&nsp, "Invalid namespace", None);
                    return;
                }
                let mut ctx = ConnectContext {
                    shard,
                    socket: id,
                    nsp: &nsp,
                    auth: auth.as_str(),
                    emits: Vec::new(),
                };
                let verdict = match app.connect_hooks.get(&nsp) {
                    Some(hook) => hook(&mut ctx),
                    None => Ok(()),
                };
                let emits = std::mem::take(&mut ctx.emits);
                match verdict {
                    Err((message, data)) => {
                        tracing::debug!(socket = %id, %nsp, %message, "CONNECT refused");
                        if session.refuse(&nsp, &message, data.as_deref()).is_err() {
                            let _ = session.refuse(&nsp, &message, None);
                        }
                    }
                    Ok(()) => {
                        if nsp == "/" {
                            shard.activate(id);
                        }
                        if session.accept(&nsp, &id.to_string()).is_ok() {
                            for (name, args) in emits {
                                if let Err(e) = session.emit(&nsp, &name, &args, None, &[]) {
                                    tracing::warn!(socket = %id, %name, "connect emit failed: {e}");
                                }
                            }
                        }
                    }
                }
            }
            SessionEvent::Event {
                nsp,
                name,
                args,
                ack_id,
                attachments,
            } => {
                let Proto::Sio(session) = &mut w.proto else {
                    return;
                };
                let method = match &name {
                    EventName::Str(s) if nsp == "/" => Method::from_event(s),
                    _ => None,
                };
                if let (Some(_), EventName::Str(event)) = (method, &name) {
                    let Some(ack) = ack_id else {
                        tracing::debug!(socket = %id, "virtual request without an ack id");
                        let _ = session.emit(
                            &nsp,
                            "sails:parseError",
                            r#"["Could not parse request: a virtual request must carry an ack id (callback)"]"#,
                            None,
                            &[],
                        );
                        return;
                    };
                    let response = match parse_virtual_request(event, args.as_str()) {
                        Ok(req) => app.router.dispatch(
                            &mut Context {
                                shard,
                                socket: Some(id),
                            },
                            req,
                        ),
                        Err(resp) => resp,
                    };
                    if let Err(e) = session.ack(&nsp, ack, &ack_payload(&response), &[]) {
                        tracing::warn!(socket = %id, "cannot ack a virtual request: {e}");
                    }
                    return;
                }
                let handler = app
                    .event_handlers
                    .get(&(nsp.clone(), name.as_str().to_owned()));
                let Some(handler) = handler else {
                    tracing::trace!(socket = %id, %nsp, name = name.as_str(), "event without a handler");
                    return;
                };
                let mut ctx = EventContext {
                    shard,
                    session,
                    socket: id,
                    nsp: &nsp,
                    name: name.as_str(),
                    args: args.as_str(),
                    attachments: &attachments,
                    ack_attachments: Vec::new(),
                };
                let result = handler(&mut ctx);
                let ack_attachments = std::mem::take(&mut ctx.ack_attachments);
                if let Some(ack) = ack_id {
                    let args = result.as_deref().unwrap_or("[]");
                    if let Err(e) = session.ack(&nsp, ack, args, &ack_attachments) {
                        tracing::warn!(socket = %id, %nsp, "handler ack failed: {e}");
                        let _ = session.ack(&nsp, ack, "[]", &[]);
                    }
                }
            }
            SessionEvent::Ack { .. } => {}
            SessionEvent::Disconnect { nsp } => {
                if nsp == "/" {
                    // As in socket.io, the socket leaves every room (its own id
                    // room too) and is no longer reached by blasts; the connection
                    // stays open and a new CONNECT to `/` activates it again.
                    shard.deactivate(id);
                }
            }
        }
    }

    // ----- output ------------------------------------------------------------------

    fn end_tick(&mut self, stats: &RuntimeStats) {
        self.shard.process_ops();
        {
            let mut writer = StreamWriter {
                conns: &mut self.conns,
                by_slot: &self.by_slot,
                failed: &mut self.touched,
            };
            self.shard.drain(&mut writer);
        }
        for idx in std::mem::take(&mut self.writable) {
            self.on_writable(idx);
        }
        for (id, cause) in self.shard.take_closed() {
            let Some(idx) = self
                .by_slot
                .get(id.slot() as usize)
                .copied()
                .filter(|&i| i != 0)
                .map(|i| i - 1)
            else {
                continue;
            };
            let Some(Some(conn)) = self.conns.get_mut(idx) else {
                continue;
            };
            if conn.socket() != Some(id) {
                continue;
            }
            match cause {
                CloseCause::SlowConsumer => {
                    stats.slow_consumers.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        worker = self.index,
                        socket = %id,
                        limit = self.app.config.outbound_limit,
                        "closing slow consumer (outbound limit passed), close code 1008"
                    );
                    if let Phase::Ws(w) = &conn.phase {
                        if !w.mid_frame {
                            if let Ok(f) = crate::ws::encode_close(CLOSE_POLICY, SLOW_CONSUMER) {
                                let _ = conn.stream.write(&f);
                            }
                        }
                    }
                }
                CloseCause::Disconnected => {
                    tracing::debug!(socket = %id, "disconnected through the engine");
                    if let Phase::Ws(w) = &conn.phase {
                        if !w.mid_frame && !self.shard.has_backlog(id) {
                            if let Ok(f) = crate::ws::encode_close(CLOSE_NORMAL, "disconnected") {
                                let _ = conn.stream.write(&f);
                            }
                        }
                    }
                }
            }
            conn.dead = true;
            self.touched.push(idx);
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &idx in &touched {
            let Some(Some(conn)) = self.conns.get(idx) else {
                continue;
            };
            let done = conn.dead
                || (conn.eof && !matches!(conn.phase, Phase::Reply { .. }))
                || match &conn.phase {
                    Phase::Ws(w) => w.ws.should_close_tcp() && !self.shard.has_backlog(w.id),
                    _ => false,
                };
            if done {
                self.finish(idx);
            } else {
                self.schedule(idx);
            }
        }
        touched.clear();
        self.touched = touched;
    }

    fn on_writable(&mut self, idx: usize) {
        let Some(Some(conn)) = self.conns.get_mut(idx) else {
            return;
        };
        self.touched.push(idx);
        match &mut conn.phase {
            Phase::Reply {
                out,
                written,
                keep_alive,
                ..
            } => {
                while *written < out.len() {
                    match conn.stream.write(&out[*written..]) {
                        Ok(0) => {
                            conn.dead = true;
                            return;
                        }
                        Ok(n) => *written += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => {
                            conn.dead = true;
                            return;
                        }
                    }
                }
                if *keep_alive {
                    // Written: wait for the next request on this connection.
                    conn.phase = Phase::Http {
                        deadline: millis_since(self.start) + self.app.config.handshake_timeout_ms,
                    };
                    self.resume.push(idx);
                } else {
                    conn.dead = true; // written: close
                }
            }
            Phase::Ws(w) => {
                let id = w.id;
                if self.shard.has_backlog(id) {
                    let mut writer = StreamWriter {
                        conns: &mut self.conns,
                        by_slot: &self.by_slot,
                        failed: &mut self.touched,
                    };
                    self.shard.flush(id, &mut writer);
                }
            }
            Phase::Http { .. } | Phase::Parked { .. } => {}
        }
    }
}

fn millis_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn frame(msg: WsMessage) -> Bytes {
    match msg {
        WsMessage::Text(t) => encode_frame(OP_TEXT, t.as_bytes()),
        WsMessage::Binary(b) => encode_frame(OP_BINARY, &b),
    }
}

fn not_found(path: &str) -> Vec<u8> {
    json_error(404, "E_NOT_FOUND", &format!("no such resource: {path}"))
}

/// A `{"error","message"}` JSON response that closes the connection.
fn json_error(status: u16, code: &str, message: &str) -> Vec<u8> {
    let body = Response::error(status, code, message).body.to_string();
    http_response(
        status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        false,
    )
}
