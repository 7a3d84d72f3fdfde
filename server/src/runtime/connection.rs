//! [`Connection`]: one TCP connection's protocol state, from its first byte to its
//! last, sans-IO. It owns no socket: the worker feeds it the bytes it read, the
//! end of input and the time, and writes what it asks for. Every phase and every
//! transition between phases lives in this file.
//!
//! ```text
//!            request head                 101 + WebSocket
//!  ┌──────┐ ─────────────▶ ┌──────────┐
//!  │ Http │                │WebSocket │── close sent/received ─▶ ┌─────────┐
//!  └──────┘ ◀──keep-alive─ └──────────┘                          │ Closing │
//!    │  ▲  ╲ plain request   answer ready                        └─────────┘
//!    │  │   ▶ ┌────────┐ ───────────────▶ ┌───────┐                   │
//!    │  │     │ Parked │  (admin query)   │ Reply │──written──▶ Http  │ peer's close,
//!    │  │     └────────┘                  └───────┘  (keep-alive)     │ written, or
//!    │  └──────────────────────────────────────┘                      │ deadline
//!    └── timeout, bad request, EOF, error ─────────────▶ ┌────────┐ ◀─┘
//!                                                        │ Closed │
//!                                                        └────────┘
//! ```
//!
//! * **Http**: reading a request head (and a plain request's body) until the
//!   handshake deadline. A Socket.IO upgrade opens a socket in the worker's
//!   shard and becomes **WebSocket**; a plain request (`/health`, `/metrics`, the
//!   demo page, the admin API) becomes **Reply**, or **Parked** while an admin
//!   query gathers every shard's part.
//! * **Reply**: an HTTP answer being written (by the worker, from
//!   [`Connection::http_pending`]); then **Http** again on a keep-alive
//!   connection, else **Closed**. A keep-alive connection reads nothing
//!   meanwhile, so pipelined requests are answered in order.
//! * **WebSocket**: every byte out goes through the shard under the socket's id
//!   (`Shard::send`), so broadcasts, acks, pings and close frames keep one order.
//! * **Closing**: our close frame is queued (or the peer's arrived); the peer has
//!   `close_timeout_ms` to answer and the shard to write what is queued.
//! * **Closed**: the worker closes the stream and forgets the connection.

use bytes::{Buf, Bytes, BytesMut};
use roomcast::{CloseCause, SocketId};

use super::admin_http::{self, Routed};
use super::admission::{self, Admitted};

use super::env::Env;
use super::polling;
use super::session_events;
use crate::protocol::eio::EioVersion;
use crate::protocol::eio::WsMessage;
use crate::protocol::http::{
    http_response, Classified, EngineErrorCode, HandshakeError, PollingRequest, Request,
    SocketIoUpgrade,
};
use crate::protocol::sio::{CloseReason, Response, Session, SessionEvent, SioError};
use crate::protocol::ws::{self, WsEvent, WsSession, CLOSE_GOING_AWAY, CLOSE_NORMAL, CLOSE_POLICY};

/// Read-buffer capacity an idle connection may keep.
const IDLE_BUFFER: usize = 4 * 1024;
/// Close reason sent to slow consumers (with code 1008).
const SLOW_CONSUMER: &str = "slow consumer";

/// See the module docs.
enum Phase {
    Http {
        deadline: u64,
    },
    Reply {
        out: Vec<u8>,
        written: usize,
        deadline: u64,
        keep_alive: bool,
    },
    Parked {
        deadline: u64,
        keep_alive: bool,
        head_only: bool,
    },
    /// A long-polling GET parked on its session until frames come.
    PollWait {
        socket: SocketId,
        deadline: u64,
    },
    /// A WebSocket probing the upgrade of a polling session.
    Probe(Box<Probe>),
    WebSocket(Box<Upgraded>),
    Closing(Box<Upgraded>),
    Closed,
}

/// A WebSocket taking a polling session over (`polling::probe`): until the
/// client's `5` its own bytes (the `101`, `3probe`) are written directly, not
/// through the shard, whose frames for the socket still go to polling.
struct Probe {
    id: SocketId,
    version: EioVersion,
    ws: WsSession,
    out: Vec<u8>,
    written: usize,
    deadline: u64,
}

/// Most bytes a parked GET's connection may send meanwhile (pipelined
/// requests, held until it is answered).
const MAX_HELD_INPUT: usize = 64 * 1024;

/// Which protocol an upgrade starts above the WebSocket.
#[derive(Clone, Copy)]
enum UpperKind {
    Sio,
    #[cfg(feature = "engine-echo")]
    Echo,
}

/// The protocol above the WebSocket. (The echo variant exists in test builds
/// only, so the size difference costs production nothing.)
#[allow(clippy::large_enum_variant)]
enum Upper {
    Sio(Session),
    /// A bare Engine.IO session echoing every message (conformance tests only).
    #[cfg(feature = "engine-echo")]
    Echo(crate::protocol::eio::Session),
}

/// An upgraded connection's state.
struct Upgraded {
    id: SocketId,
    ws: WsSession,
    upper: Upper,
    /// Closing: the peer must answer (and our bytes be written) by then.
    close_deadline: Option<u64>,
    /// The writer stopped inside a frame (so no frame may be written directly).
    mid_frame: bool,
}

/// How the worker should treat readable input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Read and hand the bytes in.
    Process,
    /// Read to see the end of input, throw the bytes away.
    Discard,
    /// Leave the bytes in the kernel for now.
    Wait,
}

/// See the module docs.
pub(crate) struct Connection {
    phase: Phase,
    input: BytesMut,
    /// The peer finished sending.
    eof: bool,
    /// The socket opened at the upgrade, until [`finish`](Self::finish) takes it
    /// out of the engine (whatever the phase by then), and its Engine.IO version.
    socket: Option<(SocketId, EioVersion)>,
    /// The request belongs to a session of another worker: the worker hands
    /// the connection (and its unread bytes) to that one.
    handover: Option<usize>,
    /// The TCP peer's IP address.
    peer: Option<std::net::IpAddr>,
}

impl Connection {
    /// A connection accepted at `now`, which must send its request head by
    /// `now + handshake_timeout`.
    pub(crate) fn new(now: u64, handshake_timeout: u64) -> Connection {
        Connection {
            phase: Phase::Http {
                deadline: now + handshake_timeout,
            },
            input: BytesMut::new(),
            eof: false,
            socket: None,
            handover: None,
            peer: None,
        }
    }

    /// The TCP peer's address (the client, or a reverse proxy).
    pub(crate) fn set_peer(&mut self, peer: Option<std::net::IpAddr>) {
        self.peer = peer;
    }

    /// A connection handed over by another worker, with the bytes it read.
    pub(crate) fn with_input(now: u64, handshake_timeout: u64, input: BytesMut) -> Connection {
        Connection {
            input,
            ..Connection::new(now, handshake_timeout)
        }
    }

    /// The worker this connection must move to, once (its bytes go with it).
    pub(crate) fn take_handover(&mut self) -> Option<(usize, BytesMut)> {
        let to = self.handover.take()?;
        self.phase = Phase::Closed;
        Some((to, std::mem::take(&mut self.input)))
    }

    /// The socket of an upgraded connection (until it is finished).
    pub(crate) fn socket(&self) -> Option<SocketId> {
        self.socket.map(|(id, _)| id)
    }

    /// The Engine.IO version of an upgraded connection (until it is finished).
    pub(crate) fn eio_version(&self) -> Option<EioVersion> {
        self.socket.map(|(_, v)| v)
    }

    /// The earliest time [`on_timeout`](Self::on_timeout) must be called.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        match &self.phase {
            Phase::Http { deadline }
            | Phase::Reply { deadline, .. }
            | Phase::Parked { deadline, .. }
            | Phase::PollWait { deadline, .. } => Some(*deadline),
            Phase::Probe(p) => Some(p.deadline),
            Phase::WebSocket(up) | Phase::Closing(up) => {
                let upper = match &up.upper {
                    Upper::Sio(s) => s.next_deadline(),
                    #[cfg(feature = "engine-echo")]
                    Upper::Echo(e) => e.next_deadline(),
                };
                match (upper, up.close_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            Phase::Closed => None,
        }
    }

    /// What to do with readable input.
    pub(crate) fn read_mode(&self) -> ReadMode {
        match self.phase {
            Phase::Closed => ReadMode::Wait,
            _ if self.eof => ReadMode::Wait,
            Phase::Parked { .. }
            | Phase::Reply {
                keep_alive: true, ..
            } => ReadMode::Wait,
            Phase::Reply { .. } => ReadMode::Discard,
            _ => ReadMode::Process,
        }
    }

    /// Whether the worker should close the stream now: closed, or the peer is
    /// gone (once a pending HTTP answer is written), or the WebSocket is done and
    /// everything queued to it was written.
    pub(crate) fn is_done(&self, shard: &roomcast::Shard) -> bool {
        match &self.phase {
            Phase::Closed => true,
            Phase::Reply { .. } => false,
            _ if self.handover.is_some() => false,
            _ if self.eof => true,
            Phase::WebSocket(up) | Phase::Closing(up) => {
                up.ws.should_close_tcp() && !shard.has_backlog(up.id)
            }
            _ => false,
        }
    }

    /// The writer stopped inside a frame (true) or at a frame boundary.
    pub(crate) fn set_mid_frame(&mut self, mid: bool) {
        if let Phase::WebSocket(up) | Phase::Closing(up) = &mut self.phase {
            up.mid_frame = mid;
        }
    }

    /// A write or read failed: nothing more is written.
    pub(crate) fn fail(&mut self) {
        self.phase = Phase::Closed;
    }

    /// Whether nothing more may be written (the worker closes the stream).
    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    // ----- input -------------------------------------------------------------------

    /// Bytes read from the stream.
    pub(crate) fn on_read(&mut self, bytes: &[u8], env: &mut Env<'_>) {
        if self.read_mode() == ReadMode::Discard {
            return;
        }
        self.input.extend_from_slice(bytes);
        if let Phase::PollWait { .. } = self.phase {
            // Held until the poll is answered (then looked at as the next request).
            if self.input.len() > MAX_HELD_INPUT {
                self.fail();
            }
            return;
        }
        self.process_input(env);
        if self.input.is_empty() && self.input.capacity() > IDLE_BUFFER {
            self.input = BytesMut::new();
        }
    }

    /// The peer finished sending (or reading failed).
    pub(crate) fn on_eof(&mut self, env: &mut Env<'_>) {
        self.eof = true;
        if let Phase::PollWait { socket, .. } = self.phase {
            super::polling::get_aborted(socket, env.key, env);
            self.phase = Phase::Closed;
            return;
        }
        if let Phase::WebSocket(up) | Phase::Closing(up) = &mut self.phase {
            let _ = up.ws.on_transport_closed();
            up.transport_closed();
            self.pump(env);
        }
    }

    /// After a keep-alive answer was written: handles a request already buffered.
    /// Returns whether one was.
    pub(crate) fn resume(&mut self, env: &mut Env<'_>) -> bool {
        if matches!(self.phase, Phase::Http { .. }) && !self.input.is_empty() {
            self.process_input(env);
            return true;
        }
        false
    }

    fn process_input(&mut self, env: &mut Env<'_>) {
        if let Phase::Probe(_) = self.phase {
            if !self.process_probe_input(env) {
                return;
            }
        }
        if let Phase::Http { .. } = self.phase {
            match env.app.handshake.process(&self.input) {
                Ok(None) => return,
                Err(e) => {
                    if env.log_limit.allow(env.now) {
                        tracing::info!(worker = env.worker, "bad HTTP request: {e}");
                    }
                    self.refuse(&e, "http", env);
                    return;
                }
                Ok(Some(classified)) => {
                    if !self.on_request(classified, env) {
                        return;
                    }
                }
            }
        }
        self.process_ws_input(env);
    }

    fn refuse(&mut self, e: &HandshakeError, kind: &'static str, env: &mut Env<'_>) {
        env.stats
            .rejected
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        env.metrics.protocol_error(kind);
        self.reply(e.response(), false, env);
    }

    /// Acts on a complete request head; true if the connection is now a
    /// WebSocket with input to decode.
    fn on_request(&mut self, classified: Classified, env: &mut Env<'_>) -> bool {
        #[cfg(feature = "engine-echo")]
        let classified = match super::engine_echo::classify(classified, env) {
            Ok(up) => return self.upgrade(&up, UpperKind::Echo, Admitted::default(), env),
            Err(c) => c,
        };
        match classified {
            Classified::SocketIo(up) => {
                match admission::check(&up.request, up.version, up.sid.is_none(), self.peer, env) {
                    Err(out) => {
                        self.reply(out, false, env);
                        false
                    }
                    Ok(_) if up.sid.is_some() => self.on_probe(&up, env),
                    Ok(admitted) => self.upgrade(&up, UpperKind::Sio, admitted, env),
                }
            }
            Classified::Polling(req) => {
                match admission::check(&req.request, req.version, req.sid.is_none(), self.peer, env)
                {
                    Err(out) => self.reply(out, false, env),
                    Ok(admitted) => self.on_polling(&req, admitted, env),
                }
                false
            }
            Classified::Preflight(req) => {
                let keep_alive = req.keep_alive();
                self.input.advance(req.head_len.min(self.input.len()));
                let out = env.app.cors.preflight(&req);
                self.reply(out, keep_alive, env);
                false
            }
            Classified::Http(req) => {
                self.on_http(&req, env);
                false
            }
            Classified::Upgrade(req, _) => {
                tracing::debug!(path = %req.path, "WebSocket upgrade on an unknown path");
                env.stats
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let body = Response::not_found(&format!("no such resource: {}", req.path));
                self.reply(json_response(&body, false), false, env);
                false
            }
            Classified::Rejected(e) => {
                if env.log_limit.allow(env.now) {
                    tracing::info!(worker = env.worker, "handshake refused: {e}");
                }
                self.refuse(&e, "handshake", env);
                false
            }
        }
    }

    /// A plain HTTP request whose head is complete: waits for its body, then
    /// answers it (see [`admin_http`]), directly or after a query.
    fn on_http(&mut self, req: &Request, env: &mut Env<'_>) {
        let limit = env.app.config.max_http_body;
        let len = match req.content_length() {
            Ok(n) => n,
            Err(e) => return self.refuse(&e, "http", env),
        };
        if len > limit as u64 {
            env.stats
                .rejected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let body = Response::error(
                413,
                "E_TOO_LARGE",
                &format!("request body larger than {limit} bytes"),
            );
            return self.reply(json_response(&body, false), false, env);
        }
        let need = req.head_len + len as usize;
        if self.input.len() < need {
            return; // the rest of the body has not come yet (the deadline runs)
        }
        let body = self.input.split_to(need).split_off(req.head_len);
        let keep_alive = req.keep_alive();
        let head_only = req.method == "HEAD";
        let routed = admin_http::route(req, &body, env.app, env.shard, (env.answers, env.key));
        match routed {
            Routed::Reply(status, ctype, body) => {
                let out = admin_http::render(status, ctype, &body, keep_alive, head_only);
                self.reply(out, keep_alive, env);
            }
            Routed::Metrics => {
                let body = env.metrics.render(env.stats);
                let out = admin_http::render(
                    200,
                    super::metrics::CONTENT_TYPE,
                    body.as_bytes(),
                    keep_alive,
                    head_only,
                );
                self.reply(out, keep_alive, env);
            }
            Routed::Wait => {
                self.phase = Phase::Parked {
                    deadline: env.now + env.app.config.handshake_timeout_ms,
                    keep_alive,
                    head_only,
                };
            }
            Routed::Park(query) => {
                self.phase = Phase::Parked {
                    deadline: env.now + env.app.config.handshake_timeout_ms,
                    keep_alive,
                    head_only,
                };
                if let Err(e) = admin_http::ask(env.shard, query, env.answers.clone(), env.key) {
                    self.answer(&Response::from_core_error(&e), keep_alive, head_only, env);
                }
            }
        }
    }

    /// A parked query's answer arrived.
    pub(crate) fn on_answer(&mut self, response: &Response, env: &mut Env<'_>) {
        if let Phase::Parked {
            keep_alive,
            head_only,
            ..
        } = self.phase
        {
            self.answer(response, keep_alive, head_only, env);
        }
    }

    /// The deferred answer to virtual request `ack` on `nsp` arrived (a route
    /// that waited for another node): ack it, unless the socket is gone.
    pub(crate) fn on_ack(&mut self, nsp: &str, ack: u64, response: &Response, env: &mut Env<'_>) {
        let Phase::WebSocket(up) = &mut self.phase else {
            return;
        };
        #[allow(irrefutable_let_patterns)] // refutable with `engine-echo`
        if let Upper::Sio(session) = &mut up.upper {
            let payload = crate::protocol::sio::ack_payload(response);
            if let Err(e) = session.ack(nsp, ack, &payload, &[]) {
                tracing::warn!(socket = %up.id, "cannot ack a virtual request: {e}");
            }
        }
        self.pump(env);
    }

    /// The connect webhook decided about this socket's CONNECT to `nsp`.
    pub(crate) fn on_connect_decided(
        &mut self,
        nsp: &str,
        auth: &str,
        decision: &Response,
        env: &mut Env<'_>,
    ) {
        let Phase::WebSocket(up) = &mut self.phase else {
            return;
        };
        #[allow(irrefutable_let_patterns)] // refutable with `engine-echo`
        if let Upper::Sio(session) = &mut up.upper {
            session_events::connect_decided(nsp, auth, decision, up.id, session, env);
        }
        self.pump(env);
    }

    fn answer(&mut self, resp: &Response, keep_alive: bool, head_only: bool, env: &mut Env<'_>) {
        let body = serde_json::to_vec(&resp.body).unwrap_or_else(|_| b"null".to_vec());
        let out = admin_http::render(
            resp.status,
            "application/json",
            &body,
            keep_alive,
            head_only,
        );
        self.reply(out, keep_alive, env);
    }

    /// A long-polling request (`polling`): the handshake, a poll (→ PollWait),
    /// or packets (its body first). A session of another worker: handed over.
    fn on_polling(&mut self, req: &PollingRequest, admitted: Admitted, env: &mut Env<'_>) {
        let keep_alive = req.request.keep_alive();
        let head_len = req.request.head_len;
        let cors = env.app.cors.headers(&req.request);
        let Some(sid) = &req.sid else {
            self.input.advance(head_len.min(self.input.len()));
            match polling::handshake(req, admitted, env) {
                Ok(socket) => self.park(socket, env),
                Err(out) => self.reply(out, false, env),
            }
            return;
        };
        let Some(id) = self.session_here(sid, env) else {
            if self.handover.is_none() {
                let out = EngineErrorCode::SessionIdUnknown.response(&cors, false);
                self.reply(out, false, env);
            }
            return;
        };
        if !req.post {
            self.input.advance(head_len.min(self.input.len()));
            match polling::poll(req, id, env) {
                Ok(()) => self.park(id, env),
                Err(out) => self.reply(out, keep_alive, env),
            }
            return;
        }
        let len = match req.request.content_length() {
            Ok(n) => n,
            Err(e) => return self.refuse(&e, "http", env),
        };
        if len > env.app.config.max_payload as u64 {
            let out = polling::too_large(req, id, env);
            return self.reply(out, false, env);
        }
        let need = head_len + len as usize;
        if self.input.len() < need {
            return; // the rest of the body has not come yet (the deadline runs)
        }
        let body = self.input.split_to(need).split_off(head_len);
        let out = polling::post(req, id, &body, env);
        self.reply(out, keep_alive, env);
    }

    /// The socket a `sid` names if its session lives on this worker; for a
    /// session of another worker, marks the connection for a handover (and
    /// returns `None`).
    fn session_here(&mut self, sid: &str, env: &Env<'_>) -> Option<SocketId> {
        let id = polling::session_socket(sid, env)?;
        let shard = usize::from(id.shard());
        if shard != env.worker {
            if shard < env.engine.shard_count() {
                self.handover = Some(shard);
            }
            return None;
        }
        Some(id)
    }

    /// Http → PollWait: the GET waits for its session's frames.
    fn park(&mut self, socket: SocketId, env: &Env<'_>) {
        let c = &env.app.config;
        self.phase = Phase::PollWait {
            socket,
            // The session sends something every ping interval; this only
            // frees a connection whose session went away unanswered.
            deadline: env.now + c.ping_interval_ms + c.ping_timeout_ms + c.close_timeout_ms,
        };
    }

    /// PollWait → Reply: the shard's writer made the poll's answer.
    pub(crate) fn poll_answered(
        &mut self,
        out: Vec<u8>,
        keep_alive: bool,
        now: u64,
        close_timeout: u64,
    ) {
        if let Phase::PollWait { .. } = self.phase {
            self.phase = Phase::Reply {
                out,
                written: 0,
                deadline: now + close_timeout,
                keep_alive,
            };
        }
    }

    /// A WebSocket upgrade carrying the `sid` of a polling session: → Probe.
    fn on_probe(&mut self, up: &SocketIoUpgrade, env: &mut Env<'_>) -> bool {
        let sid = up.sid.as_deref().unwrap_or_default();
        let Some(id) = self.session_here(sid, env) else {
            if self.handover.is_none() {
                let e = HandshakeError::Engine(EngineErrorCode::SessionIdUnknown);
                self.refuse(&e, "handshake", env);
            }
            return false;
        };
        if let Err(code) = polling::probe(id, up.version, env) {
            self.refuse(&HandshakeError::Engine(code), "handshake", env);
            return false;
        }
        self.input
            .advance(up.request.head_len.min(self.input.len()));
        let c = &env.app.config;
        self.phase = Phase::Probe(Box::new(Probe {
            id,
            version: up.version,
            ws: WsSession::new(env.app.ws),
            out: up.response(),
            written: 0,
            deadline: env.now + c.ping_interval_ms + c.ping_timeout_ms,
        }));
        self.process_probe_input(env)
    }

    /// A probing WebSocket's input: `2probe` is answered `3probe` (and the
    /// parked GET released); `5` moves the session onto this connection (→
    /// WebSocket; returns true: what follows is WebSocket input). Anything else
    /// ends the probe; polling goes on.
    fn process_probe_input(&mut self, env: &mut Env<'_>) -> bool {
        loop {
            let Phase::Probe(p) = &mut self.phase else {
                return false;
            };
            let event = p.ws.poll_event(&mut self.input);
            while let Some(f) = p.ws.poll_transmit() {
                p.out.extend_from_slice(&f);
            }
            let Some(event) = event else {
                return false;
            };
            match event {
                WsEvent::Text(t) if t == "2probe" => {
                    p.out
                        .extend_from_slice(&WsMessage::Text("3probe".into()).into_ws_frame());
                    polling::probed(p.id, env);
                }
                WsEvent::Text(t) if t == "5" && p.written == 0 && p.out.is_empty() => {
                    let (id, version) = (p.id, p.version);
                    let Some((session, _get)) = polling::upgraded(id, env) else {
                        self.phase = Phase::Closed;
                        return false;
                    };
                    let Phase::Probe(p) = std::mem::replace(&mut self.phase, Phase::Closed) else {
                        return false;
                    };
                    self.socket = Some((id, version));
                    self.phase = Phase::WebSocket(Box::new(Upgraded {
                        id,
                        ws: p.ws,
                        upper: Upper::Sio(session),
                        close_deadline: None,
                        mid_frame: false,
                    }));
                    self.pump(env);
                    return true;
                }
                WsEvent::Ping(_) | WsEvent::Pong(_) => {}
                other => {
                    tracing::debug!(socket = %p.id, "upgrade probe ended: {other:?}");
                    polling::probe_gone(p.id, env.key, env);
                    self.phase = Phase::Closed;
                    return false;
                }
            }
        }
    }

    /// Starts writing `out` directly: → Reply.
    fn reply(&mut self, out: Vec<u8>, keep_alive: bool, env: &mut Env<'_>) {
        if !keep_alive {
            self.input.clear();
        }
        self.phase = Phase::Reply {
            out,
            written: 0,
            deadline: env.now + env.app.config.close_timeout_ms,
            keep_alive,
        };
    }

    /// The part of a direct HTTP answer not written yet (or of a probing
    /// WebSocket's own bytes).
    pub(crate) fn http_pending(&self) -> Option<&[u8]> {
        match &self.phase {
            Phase::Reply { out, written, .. } => Some(&out[*written..]),
            Phase::Probe(p) if p.written < p.out.len() => Some(&p.out[p.written..]),
            _ => None,
        }
    }

    /// `n` more bytes of the HTTP answer were written. Returns true when the
    /// answer is complete on a keep-alive connection (→ Http: the worker then
    /// looks for the next request).
    pub(crate) fn http_written(&mut self, n: usize, env: &Env<'_>) -> bool {
        if let Phase::Probe(p) = &mut self.phase {
            p.written += n;
            if p.written == p.out.len() {
                p.out.clear();
                p.written = 0;
            }
            return false;
        }
        let Phase::Reply {
            out,
            written,
            keep_alive,
            ..
        } = &mut self.phase
        else {
            return false;
        };
        *written += n;
        if *written < out.len() {
            return false;
        }
        if *keep_alive {
            self.phase = Phase::Http {
                deadline: env.now + env.app.config.handshake_timeout_ms,
            };
            true
        } else {
            self.phase = Phase::Closed;
            false
        }
    }

    /// Http → WebSocket: a socket opened in the shard, the `101` queued to it.
    fn upgrade(
        &mut self,
        up: &SocketIoUpgrade,
        kind: UpperKind,
        admitted: Admitted,
        env: &mut Env<'_>,
    ) -> bool {
        let id = match env.shard.open() {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(worker = env.worker, "refusing connection: {e}");
                let body = Response::error(503, "E_UNAVAILABLE", "server full");
                self.reply(json_response(&body, false), false, env);
                return false;
            }
        };
        admission::opened(id, admitted, env);
        env.stats
            .upgraded
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The socket id is the Engine.IO sid.
        let (version, sid, s) = (up.version, id.to_string(), &env.app.session);
        let upper = match kind {
            UpperKind::Sio => Upper::Sio(Session::new(version, s.clone(), sid, up.b64, env.now)),
            #[cfg(feature = "engine-echo")]
            UpperKind::Echo => Upper::Echo(super::engine_echo::session(up, s, sid, env.now)),
        };
        let request = &up.request;
        self.input.advance(request.head_len.min(self.input.len()));
        self.socket = Some((id, version));
        self.phase = Phase::WebSocket(Box::new(Upgraded {
            id,
            ws: WsSession::new(env.app.ws),
            upper,
            close_deadline: None,
            mid_frame: false,
        }));
        tracing::debug!(worker = env.worker, socket = %id, ?version, path = %request.path, "upgraded");
        env.shard.send(id, Bytes::from(up.response()));
        self.pump(env);
        true
    }

    fn process_ws_input(&mut self, env: &mut Env<'_>) {
        let close_by = env.now + env.app.config.close_timeout_ms;
        loop {
            let (Phase::WebSocket(up) | Phase::Closing(up)) = &mut self.phase else {
                return;
            };
            let id = up.id;
            let event = up.ws.poll_event(&mut self.input);
            while let Some(f) = up.ws.poll_transmit() {
                env.shard.send(id, f);
            }
            let Some(event) = event else {
                break;
            };
            match event {
                WsEvent::Text(text) => up.handle_text(&text, env.now),
                WsEvent::Binary(bin) => up.handle_binary(bin, env.now),
                WsEvent::Ping(_) | WsEvent::Pong(_) => {}
                WsEvent::Closed { code, reason, .. } => {
                    tracing::debug!(socket = %id, code, %reason, "WebSocket closed");
                    up.transport_closed();
                    env.shard.seal(id);
                    self.begin_closing(close_by);
                }
                WsEvent::Failed(e) => {
                    env.metrics.protocol_error("websocket");
                    if env.log_limit.allow(env.now) {
                        tracing::info!(socket = %id, code = e.close_code(), "WebSocket protocol error: {e}");
                    }
                    up.transport_closed();
                    env.shard.seal(id);
                    self.begin_closing(close_by);
                }
            }
            self.pump(env);
        }
    }

    /// WebSocket → Closing (a no-op when already closing): the peer must answer by
    /// `deadline`.
    fn begin_closing(&mut self, deadline: u64) {
        self.phase = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::WebSocket(mut up) => {
                up.close_deadline = Some(deadline);
                Phase::Closing(up)
            }
            other => other,
        };
    }

    // ----- the session ---------------------------------------------------------------

    /// Moves the session's output to the shard and acts on its events, until both
    /// are empty.
    fn pump(&mut self, env: &mut Env<'_>) {
        loop {
            let (Phase::WebSocket(up) | Phase::Closing(up)) = &mut self.phase else {
                return;
            };
            let id = up.id;
            let open = up.ws.is_open();
            let event = match &mut up.upper {
                Upper::Sio(s) => {
                    while let Some(msg) = s.poll_transmit() {
                        if open {
                            env.shard.send(id, msg.into_ws_frame());
                        }
                    }
                    s.poll_event()
                }
                #[cfg(feature = "engine-echo")]
                Upper::Echo(e) => super::engine_echo::pump(e, id, open, env),
            };
            match event {
                None => return,
                Some(SessionEvent::Close { reason }) => self.on_session_close(&reason, env),
                Some(event) => {
                    #[allow(irrefutable_let_patterns)] // refutable with `engine-echo`
                    if let Upper::Sio(session) = &mut up.upper {
                        session_events::handle(event, id, session, env);
                    }
                }
            }
        }
    }

    /// The session ended: our close frame (1000, or 1008 for a protocol error)
    /// with the reason → Closing.
    fn on_session_close(&mut self, reason: &CloseReason, env: &mut Env<'_>) {
        let (Phase::WebSocket(up) | Phase::Closing(up)) = &mut self.phase else {
            return;
        };
        let (code, kind) = match reason {
            CloseReason::TransportClose => return,
            CloseReason::ConnectTimeout
            | CloseReason::ClosePacket
            | CloseReason::ServerClose
            | CloseReason::Expired => (CLOSE_NORMAL, None),
            CloseReason::PolicyClose(_) => (CLOSE_POLICY, None),

            CloseReason::PingTimeout => (CLOSE_NORMAL, Some("heartbeat")),
            CloseReason::InvalidHeartbeatDirection => (CLOSE_POLICY, Some("heartbeat")),
            CloseReason::EngineParseError(_) => (CLOSE_POLICY, Some("engine_io")),
            CloseReason::SocketIoParseError(SioError::PacketTooLarge { .. }) => {
                (ws::CLOSE_MESSAGE_TOO_BIG, Some("socket_io"))
            }
            CloseReason::SocketIoParseError(_)
            | CloseReason::ProtocolViolation(_)
            | CloseReason::IncompleteBinaryPacket => (CLOSE_POLICY, Some("socket_io")),
        };
        if let Some(kind) = kind {
            env.metrics.protocol_error(kind);
        }
        let text = reason.to_string();
        if code != CLOSE_NORMAL {
            if env.log_limit.allow(env.now) {
                tracing::info!(socket = %up.id, "closing: {text}");
            }
        } else {
            tracing::debug!(socket = %up.id, "closing: {text}");
        }
        let _ = up.ws.close(code, truncate(&text, ws::MAX_CLOSE_REASON));
        while let Some(f) = up.ws.poll_transmit() {
            env.shard.send(up.id, f);
        }
        env.shard.seal(up.id);
        let deadline = env.now + env.app.config.close_timeout_ms;
        self.begin_closing(deadline);
        if let Phase::Closing(up) = &mut self.phase {
            up.close_deadline = Some(deadline);
        }
    }

    // ----- time, the shard's verdicts, shutdown ----------------------------------------

    /// Runs what is due at `env.now`.
    pub(crate) fn on_timeout(&mut self, env: &mut Env<'_>) {
        let now = env.now;
        match &mut self.phase {
            Phase::Http { deadline } if *deadline <= now => {
                tracing::debug!(worker = env.worker, "handshake timeout");
                env.stats
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.phase = Phase::Closed;
            }
            Phase::Reply { deadline, .. } if *deadline <= now => {
                tracing::debug!(worker = env.worker, "HTTP reply not taken in time");
                self.phase = Phase::Closed;
            }
            Phase::PollWait { socket, deadline } if *deadline <= now => {
                let socket = *socket;
                tracing::debug!(socket = %socket, "parked poll not answered in time");
                polling::get_aborted(socket, env.key, env);
                self.phase = Phase::Closed;
            }
            Phase::Probe(p) if p.deadline <= now => {
                let id = p.id;
                tracing::debug!(socket = %id, "upgrade probe not completed in time");
                polling::probe_gone(id, env.key, env);
                self.phase = Phase::Closed;
            }
            Phase::Parked { deadline, .. } if *deadline <= now => {
                tracing::warn!(worker = env.worker, "admin query not answered in time");
                let resp = Response::error(503, "E_UNAVAILABLE", "query timed out");
                self.reply(json_response(&resp, false), false, env);
            }
            Phase::WebSocket(up) | Phase::Closing(up) => {
                if up.close_deadline.is_some_and(|d| d <= now) {
                    tracing::debug!(socket = %up.id, "peer did not answer our close frame");
                    self.phase = Phase::Closed;
                    return;
                }
                match &mut up.upper {
                    Upper::Sio(s) => s.handle_timeout(now),
                    #[cfg(feature = "engine-echo")]
                    Upper::Echo(e) => e.handle_timeout(now),
                }
                self.pump(env);
            }
            _ => {}
        }
    }

    /// The shard gave up on this connection's socket: a slow consumer, or
    /// disconnected through the engine. Returns a close frame to write directly
    /// (the shard will not write any more) when the stream is at a frame boundary
    /// — after a Socket.IO DISCONNECT for each namespace when disconnected
    /// through the engine, as socket.io's `disconnect()`, so that clients do not
    /// reconnect by themselves ("io server disconnect"); → Closed.
    pub(crate) fn on_shard_close(&mut self, cause: CloseCause, env: &mut Env<'_>) -> Option<Bytes> {
        let (Phase::WebSocket(up) | Phase::Closing(up)) = &mut self.phase else {
            return None;
        };
        let (id, mid_frame) = (up.id, up.mid_frame);
        let frame = match cause {
            CloseCause::SlowConsumer => {
                env.slow_consumer(id, "slow consumer, close code 1008");
                (!mid_frame)
                    .then(|| ws::encode_close(CLOSE_POLICY, SLOW_CONSUMER).ok())
                    .flatten()
            }
            CloseCause::Disconnected => {
                tracing::debug!(socket = %id, "disconnected through the engine");
                if mid_frame || env.shard.has_backlog(id) {
                    None
                } else {
                    let mut out = Vec::new();
                    #[allow(irrefutable_let_patterns)] // refutable with `engine-echo`
                    if let Upper::Sio(session) = &mut up.upper {
                        session.disconnect_all();
                        while let Some(msg) = session.poll_transmit() {
                            out.extend_from_slice(&msg.into_ws_frame());
                        }
                    }
                    ws::encode_close(CLOSE_NORMAL, "disconnected")
                        .ok()
                        .map(|close| {
                            out.extend_from_slice(&close);
                            Bytes::from(out)
                        })
                }
            }
        };
        self.phase = Phase::Closed;
        frame
    }

    /// The server is shutting down: a WebSocket gets a Socket.IO disconnect for
    /// each namespace it joined, then close 1001 → Closing; any other connection
    /// → Closed.
    pub(crate) fn begin_shutdown(&mut self, env: &mut Env<'_>) {
        if let Phase::WebSocket(up) = &mut self.phase {
            #[allow(irrefutable_let_patterns)] // refutable with `engine-echo`
            if let Upper::Sio(session) = &mut up.upper {
                session.disconnect_all();
            }
            self.pump(env);
        }
        match &mut self.phase {
            Phase::WebSocket(up) | Phase::Closing(up) => {
                if up
                    .ws
                    .close(CLOSE_GOING_AWAY, "server shutting down")
                    .is_ok()
                {
                    while let Some(f) = up.ws.poll_transmit() {
                        env.shard.send(up.id, f);
                    }
                }
                env.shard.seal(up.id);
                let deadline = up
                    .close_deadline
                    .unwrap_or(env.now + env.app.config.close_timeout_ms);
                self.begin_closing(deadline);
            }
            // Answered by its session's shutdown (the close packet).
            Phase::PollWait { .. } => {}
            Phase::Probe(p) => {
                let id = p.id;
                polling::probe_gone(id, env.key, env);
                self.phase = Phase::Closed;
            }
            _ => self.phase = Phase::Closed,
        }
    }

    /// The stream is being closed: the socket leaves the engine → Closed.
    pub(crate) fn finish(&mut self, env: &mut Env<'_>) {
        match &self.phase {
            Phase::PollWait { socket, .. } => polling::get_aborted(*socket, env.key, env),
            Phase::Probe(p) => polling::probe_gone(p.id, env.key, env),
            _ => {}
        }
        if let Phase::WebSocket(up) | Phase::Closing(up) = &mut self.phase {
            up.transport_closed();
            let _ = up.ws.on_transport_closed();
        }
        if let Some((id, _)) = self.socket.take() {
            env.shard.disconnect(id);
            env.access.forget(id);
        }
        self.phase = Phase::Closed;
    }
}

impl Upgraded {
    fn handle_text(&mut self, text: &str, now: u64) {
        match &mut self.upper {
            Upper::Sio(s) => s.handle_text(text, now),
            #[cfg(feature = "engine-echo")]
            Upper::Echo(e) => e.handle_text(text, now),
        }
    }

    fn handle_binary(&mut self, bin: Bytes, now: u64) {
        match &mut self.upper {
            Upper::Sio(s) => s.handle_binary(bin, now),
            #[cfg(feature = "engine-echo")]
            Upper::Echo(e) => e.handle_binary(bin, now),
        }
    }

    fn transport_closed(&mut self) {
        match &mut self.upper {
            Upper::Sio(s) => s.handle_transport_closed(),
            #[cfg(feature = "engine-echo")]
            Upper::Echo(e) => e.handle_transport_closed(),
        }
    }
}

/// `text` cut at a character boundary to at most `max` bytes.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A `{"error","message"}` JSON response.
fn json_response(resp: &Response, keep_alive: bool) -> Vec<u8> {
    let body = resp.body.to_string();
    http_response(
        resp.status,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        keep_alive,
    )
}

#[cfg(test)]
#[path = "connection_tests.rs"]
mod tests;
