//! The per-connection Engine.IO + Socket.IO state machine, sans-IO (quinn style).
//!
//! A [`Session`] starts once the WebSocket handshake is done. It owns no socket and
//! no clock: the caller feeds it
//!
//! * WebSocket messages: [`Session::handle_text`], [`Session::handle_binary`];
//! * time: [`Session::handle_timeout`] whenever `now >= ` [`Session::next_deadline`]
//!   (virtual milliseconds, any monotonic origin);
//! * the end of the transport: [`Session::handle_transport_closed`];
//! * its decisions: [`Session::accept`] / [`Session::refuse`] for each
//!   [`SessionEvent::ConnectRequest`], and [`Session::emit`], [`Session::ack`],
//!   [`Session::disconnect`], [`Session::close`] for its own traffic;
//!
//! and drains, after every call,
//!
//! * [`Session::poll_transmit`]: WebSocket message payloads to frame and send, in order;
//! * [`Session::poll_event`]: [`SessionEvent`]s for the application.
//!
//! Once [`SessionEvent::Close`] has been returned the caller sends whatever
//! transmits are still queued, then a WebSocket close frame (the server never sends
//! Engine.IO `1` over WebSocket), and drops the session; every namespace of the
//! connection is gone (no separate [`SessionEvent::Disconnect`] is reported).
//!
//! # Protocol behaviour (PROTOCOL-NOTES §1.5–1.8, §2.4–2.7, §6)
//!
//! * The open packet `0{…}` is the first transmit.
//! * **Heartbeat v4** (server pings): `2` every `ping_interval`; no `3` within
//!   `ping_timeout` → close "ping timeout"; the interval restarts at the pong (a `3`
//!   with no ping pending restarts it too); a client `2` → close "invalid heartbeat
//!   direction".
//! * **Heartbeat v3** (client pings): each `2` is answered `3` at once; no ping for
//!   `ping_interval + ping_timeout` → close; a `3` from the client is ignored.
//! * Engine `1` closes at once; `0`, `5`, `6` are ignored; anything unparsable
//!   (including an empty `4`) closes with a parse error naming the problem.
//! * **Socket.IO v5** (EIO 4): every namespace, `/` included, must be requested with
//!   CONNECT, reported as [`SessionEvent::ConnectRequest`] (auth defaults to `{}`).
//!   A packet for a namespace not joined, a duplicate CONNECT or a client
//!   CONNECT_ERROR closes the connection; no namespace joined within
//!   `connect_timeout` closes it too. `41` leaves a namespace; the engine stays up.
//! * **Socket.IO v4** (EIO 3): `/` is requested implicitly at creation (the caller
//!   accepts it with the engine sid, and `40` follows the open packet); `40/nsp?query,`
//!   turns the query into the auth object and is answered `40/nsp,`. As socket.io
//!   2.x does, packets for namespaces not joined, duplicate CONNECTs and client
//!   ERROR packets are ignored.
//!
//! Buffers are bounded: at most `max_namespaces` namespaces, at most one binary
//! packet under reassembly with at most `max_attachments` attachments, and each
//! input yields a bounded number of transmits and events (the caller drains them).
//!
//! # Example
//!
//! ```
//! use roomcast_server::eio::{EioVersion, WsMessage};
//! use roomcast_server::session::{Session, SessionConfig, SessionEvent};
//!
//! let mut s = Session::new(EioVersion::V4, SessionConfig::default(), "ENGINE".into(), false, 0);
//! assert!(matches!(s.poll_transmit(), Some(WsMessage::Text(t)) if t.starts_with("0{\"sid\":\"ENGINE\"")));
//!
//! s.handle_text("40", 5); // the client asks for "/"
//! let Some(SessionEvent::ConnectRequest { nsp, auth }) = s.poll_event() else { panic!() };
//! assert_eq!((nsp.as_str(), auth.as_str()), ("/", "{}"));
//! s.accept("/", "SOCKET").unwrap();
//! assert_eq!(s.poll_transmit(), Some(WsMessage::Text(r#"40{"sid":"SOCKET"}"#.into())));
//!
//! s.handle_text(r#"421["echo",{"b":1,"a":2}]"#, 10); // an event asking for ack 1
//! let Some(SessionEvent::Event { nsp, ack_id: Some(id), args, .. }) = s.poll_event() else { panic!() };
//! s.ack(&nsp, id, args.as_str(), &[]).unwrap();
//! assert_eq!(s.poll_transmit(), Some(WsMessage::Text(r#"431[{"b":1,"a":2}]"#.into())));
//!
//! // the server pings pingInterval after OPEN; no pong within pingTimeout closes
//! assert_eq!(s.next_deadline(), Some(25_000));
//! s.handle_timeout(25_000);
//! assert_eq!(s.poll_transmit(), Some(WsMessage::Text("2".into())));
//! s.handle_timeout(45_000);
//! assert!(matches!(s.poll_event(), Some(SessionEvent::Close { .. })));
//! ```

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

use crate::eio::{self, EioError, EioVersion, OpenPacket, WsMessage};
use crate::handshake::Query;
use crate::sio::{self, Decoder, EventName, Packet, PacketData, RawArgs, RawJson, SioError};

/// Session settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Milliseconds between heartbeats (advertised as `pingInterval`). Default 25000.
    pub ping_interval: u64,
    /// Milliseconds to wait for a heartbeat (advertised as `pingTimeout`). Default 20000.
    pub ping_timeout: u64,
    /// Milliseconds a connection may stay without any namespace joined. Default 45000.
    pub connect_timeout: u64,
    /// Largest WebSocket message accepted (advertised as `maxPayload`). Default 1000000.
    pub max_payload: u64,
    /// Largest attachment count of a binary packet. Default 10.
    pub max_attachments: usize,
    /// Most namespaces (joined or pending) one connection may hold. Default 64.
    pub max_namespaces: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            ping_interval: 25_000,
            ping_timeout: 20_000,
            connect_timeout: 45_000,
            max_payload: 1_000_000,
            max_attachments: sio::DEFAULT_MAX_ATTACHMENTS,
            max_namespaces: 64,
        }
    }
}

/// A Socket.IO rule the client broke (v5 only; fatal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A packet for a namespace the client has not joined.
    NotJoined(String),
    /// A CONNECT for a namespace already joined or pending.
    DuplicateConnect(String),
    /// The client sent CONNECT_ERROR.
    ClientConnectError(String),
    /// More namespaces than `max_namespaces`.
    TooManyNamespaces,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::NotJoined(n) => write!(f, "packet for namespace {n:?} not joined"),
            Violation::DuplicateConnect(n) => write!(f, "duplicate CONNECT to {n:?}"),
            Violation::ClientConnectError(n) => write!(f, "CONNECT_ERROR from client on {n:?}"),
            Violation::TooManyNamespaces => f.write_str("too many namespaces"),
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// v4: no pong within `ping_timeout`; v3: no ping within interval + timeout.
    PingTimeout,
    /// No namespace joined within `connect_timeout`.
    ConnectTimeout,
    /// The client sent Engine.IO `1`.
    ClosePacket,
    /// The transport closed (reported by the caller).
    TransportClose,
    /// A v4 client sent a ping (`2`): heartbeats go server → client.
    InvalidHeartbeatDirection,
    /// An unparsable Engine.IO packet.
    EngineParseError(EioError),
    /// An unparsable or invalid Socket.IO packet.
    SocketIoParseError(SioError),
    /// A broken Socket.IO rule.
    ProtocolViolation(Violation),
    /// The application closed the session ([`Session::close`]).
    ServerClose,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::PingTimeout => f.write_str("ping timeout"),
            CloseReason::ConnectTimeout => f.write_str("connect timeout"),
            CloseReason::ClosePacket => f.write_str("client sent close packet"),
            CloseReason::TransportClose => f.write_str("transport close"),
            CloseReason::InvalidHeartbeatDirection => f.write_str("invalid heartbeat direction"),
            CloseReason::EngineParseError(e) => write!(f, "{e}"),
            CloseReason::SocketIoParseError(e) => write!(f, "parse error: {e}"),
            CloseReason::ProtocolViolation(v) => write!(f, "protocol violation: {v}"),
            CloseReason::ServerClose => f.write_str("server close"),
        }
    }
}

/// What the session reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The client asks to join `nsp`; answer with [`Session::accept`] or
    /// [`Session::refuse`] (e.g. "Invalid namespace" for an unknown one).
    ConnectRequest {
        /// The namespace (v5: verbatim, a `?query` included; v4: without the query).
        nsp: String,
        /// The auth payload as raw JSON (`{}` when absent; v4: the query as an object).
        auth: RawJson,
    },
    /// An event (binary attachments reassembled).
    Event {
        /// The namespace.
        nsp: String,
        /// The event name.
        name: EventName,
        /// The arguments after the name, as raw JSON.
        args: RawArgs,
        /// The ack id to answer with [`Session::ack`], if any.
        ack_id: Option<u64>,
        /// Binary attachments referenced by placeholders.
        attachments: Vec<Bytes>,
    },
    /// An acknowledgement of a server-sent event.
    Ack {
        /// The namespace.
        nsp: String,
        /// The ack id (unknown ids should be ignored).
        id: u64,
        /// The arguments, as raw JSON.
        args: RawArgs,
        /// Binary attachments referenced by placeholders.
        attachments: Vec<Bytes>,
    },
    /// The client left `nsp` (`41`); the connection stays open.
    Disconnect {
        /// The namespace.
        nsp: String,
    },
    /// The session is over; reported once, last.
    Close {
        /// Why.
        reason: CloseReason,
    },
}

/// A call the session could not honour (the caller's mistake or a race with close).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// The session is closed.
    Closed,
    /// The namespace is not joined.
    NotJoined(String),
    /// No CONNECT for this namespace awaits an answer.
    NoPendingConnect(String),
    /// The packet could not be encoded (reserved name, args not an array, …).
    Encode(SioError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Closed => f.write_str("session closed"),
            SessionError::NotJoined(n) => write!(f, "namespace {n:?} not joined"),
            SessionError::NoPendingConnect(n) => write!(f, "no pending CONNECT for {n:?}"),
            SessionError::Encode(e) => write!(f, "cannot encode: {e}"),
        }
    }
}

impl std::error::Error for SessionError {}

impl From<SioError> for SessionError {
    fn from(e: SioError) -> Self {
        SessionError::Encode(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NspState {
    Pending,
    Joined,
}

/// Heartbeat timers, per version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heartbeat {
    /// v4: the next ping is due at `next_ping`, or a pong is due by `pong_deadline`.
    ServerPings {
        next_ping: Option<u64>,
        pong_deadline: Option<u64>,
    },
    /// v3: the client must ping by `deadline`.
    ClientPings { deadline: u64 },
}

/// One Engine.IO/Socket.IO connection. See the module docs for the contract.
#[derive(Debug)]
pub struct Session {
    version: EioVersion,
    config: SessionConfig,
    sid: String,
    b64: bool,
    closed: Option<CloseReason>,
    heartbeat: Heartbeat,
    connect_deadline: Option<u64>,
    namespaces: Vec<(String, NspState)>,
    decoder: Decoder,
    transmits: VecDeque<WsMessage>,
    events: VecDeque<SessionEvent>,
}

impl Session {
    /// Starts a session at `now`: queues the open packet (sid supplied by the
    /// caller) and, for v3, reports the implicit [`SessionEvent::ConnectRequest`]
    /// for `/` (accept it with the engine sid so `40` follows the open packet).
    /// `b64` is the handshake's `b64` flag (v3: binary sent as base64 text).
    #[must_use]
    pub fn new(
        version: EioVersion,
        config: SessionConfig,
        sid: String,
        b64: bool,
        now: u64,
    ) -> Session {
        let heartbeat = match version {
            EioVersion::V4 => Heartbeat::ServerPings {
                next_ping: Some(now.saturating_add(config.ping_interval)),
                pong_deadline: None,
            },
            EioVersion::V3 => Heartbeat::ClientPings {
                deadline: now
                    .saturating_add(config.ping_interval)
                    .saturating_add(config.ping_timeout),
            },
        };
        let mut s = Session {
            version,
            decoder: Decoder::new(version, config.max_attachments),
            connect_deadline: Some(now.saturating_add(config.connect_timeout)),
            config,
            sid,
            b64,
            closed: None,
            heartbeat,
            namespaces: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        };
        s.transmits
            .push_back(WsMessage::Text(eio::encode_open(&OpenPacket {
                sid: &s.sid,
                ping_interval: s.config.ping_interval,
                ping_timeout: s.config.ping_timeout,
                max_payload: s.config.max_payload,
            })));
        if version == EioVersion::V3 {
            s.namespaces.push(("/".to_owned(), NspState::Pending));
            s.events.push_back(SessionEvent::ConnectRequest {
                nsp: "/".to_owned(),
                auth: empty_object(),
            });
        }
        s
    }

    /// The Engine.IO version.
    #[must_use]
    pub fn version(&self) -> EioVersion {
        self.version
    }

    /// The engine session id.
    #[must_use]
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Whether the session has ended.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// Why the session ended, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<&CloseReason> {
        self.closed.as_ref()
    }

    /// Whether `nsp` is joined.
    #[must_use]
    pub fn is_joined(&self, nsp: &str) -> bool {
        self.nsp_state(nsp) == Some(NspState::Joined)
    }

    /// The joined namespaces.
    pub fn joined(&self) -> impl Iterator<Item = &str> + '_ {
        self.namespaces
            .iter()
            .filter(|(_, s)| *s == NspState::Joined)
            .map(|(n, _)| n.as_str())
    }

    /// The next WebSocket message payload to send, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<WsMessage> {
        self.transmits.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// The earliest time [`Session::handle_timeout`] must be called (`None` once
    /// closed).
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        let hb = match self.heartbeat {
            Heartbeat::ServerPings {
                next_ping,
                pong_deadline,
            } => pong_deadline.or(next_ping),
            Heartbeat::ClientPings { deadline } => Some(deadline),
        };
        match (hb, self.connect_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`: sends a v4 ping, or closes on a heartbeat or
    /// connect timeout. A deadline `d` fires when `now >= d`.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.closed.is_some() {
            return;
        }
        if self.connect_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::ConnectTimeout);
            return;
        }
        match &mut self.heartbeat {
            Heartbeat::ServerPings {
                next_ping,
                pong_deadline,
            } => {
                if pong_deadline.is_some_and(|d| now >= d) {
                    self.close_with(CloseReason::PingTimeout);
                } else if pong_deadline.is_none() && next_ping.is_some_and(|p| now >= p) {
                    *next_ping = None;
                    *pong_deadline = Some(now.saturating_add(self.config.ping_timeout));
                    self.transmits
                        .push_back(WsMessage::Text(eio::PING.to_owned()));
                }
            }
            Heartbeat::ClientPings { deadline } => {
                if now >= *deadline {
                    self.close_with(CloseReason::PingTimeout);
                }
            }
        }
    }

    /// Reports that the WebSocket closed (close frame, EOF, error, or a frame over
    /// the size limit); the session ends with [`CloseReason::TransportClose`].
    pub fn handle_transport_closed(&mut self) {
        self.close_with(CloseReason::TransportClose);
    }

    /// Ends the session from the application side ([`CloseReason::ServerClose`]).
    /// Queued transmits stay available; then send a WebSocket close frame.
    pub fn close(&mut self) {
        self.close_with(CloseReason::ServerClose);
    }

    /// Handles a text WebSocket message received at `now`.
    pub fn handle_text(&mut self, text: &str, now: u64) {
        if self.closed.is_some() {
            return;
        }
        match eio::decode_text(self.version, text) {
            Err(e) => self.close_with(CloseReason::EngineParseError(e)),
            Ok(eio::Packet::Open(_) | eio::Packet::Upgrade(_) | eio::Packet::Noop(_)) => {}
            Ok(eio::Packet::Close(_)) => self.close_with(CloseReason::ClosePacket),
            Ok(eio::Packet::Ping(_)) => match &mut self.heartbeat {
                Heartbeat::ServerPings { .. } => {
                    self.close_with(CloseReason::InvalidHeartbeatDirection);
                }
                Heartbeat::ClientPings { deadline } => {
                    *deadline = now
                        .saturating_add(self.config.ping_interval)
                        .saturating_add(self.config.ping_timeout);
                    self.transmits
                        .push_back(WsMessage::Text(eio::PONG.to_owned()));
                }
            },
            Ok(eio::Packet::Pong(_)) => {
                if let Heartbeat::ServerPings {
                    next_ping,
                    pong_deadline,
                } = &mut self.heartbeat
                {
                    *pong_deadline = None;
                    *next_ping = Some(now.saturating_add(self.config.ping_interval));
                }
            }
            Ok(eio::Packet::Message(data)) => match self.decoder.decode_text(data) {
                Err(e) => self.close_with(CloseReason::SocketIoParseError(e)),
                Ok(None) => {}
                Ok(Some(p)) => self.dispatch(p),
            },
            Ok(eio::Packet::Binary(b)) => self.binary_message(Bytes::from(b.into_owned())),
        }
    }

    /// Handles a binary WebSocket message received at `now`.
    pub fn handle_binary(&mut self, data: Bytes, now: u64) {
        let _ = now;
        if self.closed.is_some() {
            return;
        }
        let payload = match self.version {
            EioVersion::V4 => data,
            EioVersion::V3 => match eio::decode_binary(EioVersion::V3, &data) {
                Ok(_) => data.slice(1..),
                Err(e) => return self.close_with(CloseReason::EngineParseError(e)),
            },
        };
        self.binary_message(payload);
    }

    fn binary_message(&mut self, data: Bytes) {
        match self.decoder.decode_binary(data) {
            Err(e) => self.close_with(CloseReason::SocketIoParseError(e)),
            Ok(None) => {}
            Ok(Some(p)) => self.dispatch(p),
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        self.events.push_back(SessionEvent::Close { reason });
    }

    fn nsp_state(&self, nsp: &str) -> Option<NspState> {
        self.namespaces
            .iter()
            .find(|(n, _)| n == nsp)
            .map(|(_, s)| *s)
    }

    fn remove_nsp(&mut self, nsp: &str) {
        self.namespaces.retain(|(n, _)| n != nsp);
    }

    fn violation(&mut self, v: Violation) {
        self.close_with(CloseReason::ProtocolViolation(v));
    }

    fn dispatch(&mut self, packet: Packet) {
        let v5 = self.version == EioVersion::V4;
        let Packet { nsp, data } = packet;
        match data {
            PacketData::Connect { auth } => {
                let (nsp, auth) = if v5 {
                    (nsp, auth.unwrap_or_else(empty_object))
                } else {
                    split_v4_namespace(&nsp)
                };
                if self.nsp_state(&nsp).is_some() {
                    if v5 {
                        self.violation(Violation::DuplicateConnect(nsp));
                    }
                    return;
                }
                if self.namespaces.len() >= self.config.max_namespaces {
                    return self.violation(Violation::TooManyNamespaces);
                }
                self.namespaces.push((nsp.clone(), NspState::Pending));
                self.events
                    .push_back(SessionEvent::ConnectRequest { nsp, auth });
            }
            PacketData::ConnectError { .. } => {
                if v5 {
                    self.violation(Violation::ClientConnectError(nsp));
                }
            }
            _ if !self.is_joined(&nsp) => {
                if v5 {
                    self.violation(Violation::NotJoined(nsp));
                }
            }
            PacketData::Disconnect => {
                self.remove_nsp(&nsp);
                self.events.push_back(SessionEvent::Disconnect { nsp });
            }
            PacketData::Event {
                name,
                args,
                id,
                attachments,
            } => self.events.push_back(SessionEvent::Event {
                nsp,
                name,
                args,
                ack_id: id,
                attachments,
            }),
            PacketData::Ack {
                id,
                args,
                attachments,
            } => {
                if let Some(id) = id {
                    self.events.push_back(SessionEvent::Ack {
                        nsp,
                        id,
                        args,
                        attachments,
                    });
                }
            }
        }
    }

    fn check_open(&self) -> Result<(), SessionError> {
        if self.closed.is_some() {
            Err(SessionError::Closed)
        } else {
            Ok(())
        }
    }

    fn check_joined(&self, nsp: &str) -> Result<(), SessionError> {
        self.check_open()?;
        if self.is_joined(nsp) {
            Ok(())
        } else {
            Err(SessionError::NotJoined(nsp.to_owned()))
        }
    }

    fn take_pending(&mut self, nsp: &str) -> Result<(), SessionError> {
        self.check_open()?;
        if self.nsp_state(nsp) == Some(NspState::Pending) {
            Ok(())
        } else {
            Err(SessionError::NoPendingConnect(nsp.to_owned()))
        }
    }

    /// Accepts a pending CONNECT: queues `40…{"sid":"<sid>"}` (v5) or `40…` (v4)
    /// and marks `nsp` joined. `sid` is the Socket.IO socket id: a fresh id in v5;
    /// in v4 the client computes it (engine sid for `/`, `/nsp#<engine sid>` else).
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NoPendingConnect`].
    pub fn accept(&mut self, nsp: &str, sid: &str) -> Result<(), SessionError> {
        self.take_pending(nsp)?;
        let msg = sio::encode_connect(self.version, nsp, sid)?;
        if let Some(entry) = self.namespaces.iter_mut().find(|(n, _)| n == nsp) {
            entry.1 = NspState::Joined;
        }
        self.connect_deadline = None;
        self.transmits.push_back(WsMessage::Text(msg));
        Ok(())
    }

    /// Refuses a pending CONNECT with a CONNECT_ERROR (`message`, optional raw JSON
    /// `data`; see [`sio::encode_connect_error`] for the v4 form). The connection
    /// stays open.
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NoPendingConnect`],
    /// [`SessionError::Encode`] if `data` is not JSON.
    pub fn refuse(
        &mut self,
        nsp: &str,
        message: &str,
        data: Option<&str>,
    ) -> Result<(), SessionError> {
        self.take_pending(nsp)?;
        let msg = sio::encode_connect_error(self.version, nsp, message, data)?;
        self.remove_nsp(nsp);
        self.transmits.push_back(WsMessage::Text(msg));
        Ok(())
    }

    /// Server-side disconnect of `nsp`: queues `41…` and leaves the namespace.
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NotJoined`].
    pub fn disconnect(&mut self, nsp: &str) -> Result<(), SessionError> {
        self.check_joined(nsp)?;
        let msg = sio::encode_disconnect(nsp)?;
        self.remove_nsp(nsp);
        self.transmits.push_back(WsMessage::Text(msg));
        Ok(())
    }

    /// Queues an event `42[/nsp,][id]["name",…args]`; `args` is a raw JSON array.
    /// With attachments, a BINARY_EVENT and its binary messages (framed for this
    /// connection's version and `b64` flag).
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NotJoined`], [`SessionError::Encode`].
    pub fn emit(
        &mut self,
        nsp: &str,
        name: &str,
        args: &str,
        ack_id: Option<u64>,
        attachments: &[Bytes],
    ) -> Result<(), SessionError> {
        self.check_joined(nsp)?;
        let msgs =
            sio::encode_binary_event(self.version, self.b64, nsp, name, args, ack_id, attachments)?;
        self.transmits.extend(msgs);
        Ok(())
    }

    /// Queues the answer `43[/nsp,]<id>[…]` to an event's ack id; `args` is a raw JSON
    /// array copied byte for byte. With attachments, a BINARY_ACK.
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NotJoined`], [`SessionError::Encode`].
    pub fn ack(
        &mut self,
        nsp: &str,
        id: u64,
        args: &str,
        attachments: &[Bytes],
    ) -> Result<(), SessionError> {
        self.check_joined(nsp)?;
        let msgs = sio::encode_binary_ack(self.version, self.b64, nsp, id, args, attachments)?;
        self.transmits.extend(msgs);
        Ok(())
    }

    /// Queues an already-encoded WebSocket message (e.g. a broadcast's text built
    /// once by the core). The caller is responsible for its validity.
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`].
    pub fn send_raw(&mut self, msg: WsMessage) -> Result<(), SessionError> {
        self.check_open()?;
        self.transmits.push_back(msg);
        Ok(())
    }
}

fn empty_object() -> RawJson {
    RawJson::empty_object()
}

/// v4 (EIO3) CONNECT namespace `"/nsp?a=1&b=2"` → (`"/nsp"`, `{"a":"1","b":"2"}`).
/// Repeated keys keep their first value.
fn split_v4_namespace(raw: &str) -> (String, RawJson) {
    let Some((nsp, query)) = raw.split_once('?') else {
        return (raw.to_owned(), empty_object());
    };
    let mut map = serde_json::Map::new();
    for (k, v) in Query::parse(query).pairs {
        map.entry(k).or_insert(serde_json::Value::String(v));
    }
    let auth = serde_json::to_string(&map)
        .ok()
        .and_then(|s| RawJson::parse(&s).ok())
        .unwrap_or_else(empty_object);
    (nsp.to_owned(), auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig {
            ping_interval: 300,
            ping_timeout: 200,
            ..SessionConfig::default()
        }
    }

    fn texts(s: &mut Session) -> Vec<String> {
        std::iter::from_fn(|| s.poll_transmit())
            .map(|m| match m {
                WsMessage::Text(t) => t,
                WsMessage::Binary(b) => format!("<bin {:?}>", &b[..]),
            })
            .collect()
    }

    fn events(s: &mut Session) -> Vec<SessionEvent> {
        std::iter::from_fn(|| s.poll_event()).collect()
    }

    #[test]
    fn v4_namespace_query() {
        let (n, a) = split_v4_namespace("/admin?token=abc&x=%20&token=z");
        assert_eq!(n, "/admin");
        assert_eq!(a.as_str(), r#"{"token":"abc","x":" "}"#);
        let (n, a) = split_v4_namespace("/admin");
        assert_eq!((n.as_str(), a.as_str()), ("/admin", "{}"));
    }

    #[test]
    fn v5_open_and_ping_cycle() {
        let mut s = Session::new(EioVersion::V4, cfg(), "SID".into(), false, 1000);
        assert_eq!(
            texts(&mut s),
            [
                r#"0{"sid":"SID","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#
            ]
        );
        assert_eq!(s.next_deadline(), Some(1300));
        s.handle_timeout(1299);
        assert!(texts(&mut s).is_empty());
        s.handle_timeout(1300);
        assert_eq!(texts(&mut s), ["2"]);
        assert_eq!(s.next_deadline(), Some(1500));
        s.handle_text("3", 1499);
        assert_eq!(s.next_deadline(), Some(1799));
        s.handle_timeout(1799);
        assert_eq!(texts(&mut s), ["2"]);
        s.handle_timeout(1998);
        assert!(!s.is_closed());
        s.handle_timeout(1999);
        assert_eq!(s.close_reason(), Some(&CloseReason::PingTimeout));
        assert_eq!(
            events(&mut s),
            [SessionEvent::Close {
                reason: CloseReason::PingTimeout
            }]
        );
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn v3_open_and_client_pings() {
        let mut s = Session::new(EioVersion::V3, cfg(), "SID".into(), false, 0);
        assert_eq!(
            events(&mut s),
            [SessionEvent::ConnectRequest {
                nsp: "/".into(),
                auth: RawJson::parse("{}").unwrap()
            }]
        );
        s.accept("/", "SID").unwrap();
        let t = texts(&mut s);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1], "40");
        assert_eq!(s.next_deadline(), Some(500));
        s.handle_text("2", 104);
        assert_eq!(texts(&mut s), ["3"]);
        s.handle_text("3", 110); // ignored
        assert!(!s.is_closed());
        assert_eq!(s.next_deadline(), Some(604));
        s.handle_timeout(603);
        assert!(!s.is_closed());
        s.handle_timeout(604);
        assert_eq!(s.close_reason(), Some(&CloseReason::PingTimeout));
    }
}
