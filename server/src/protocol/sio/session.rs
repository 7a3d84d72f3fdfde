//! The Socket.IO layer of one connection, sans-IO (quinn style): namespaces,
//! CONNECT / CONNECT_ERROR, events, acks and binary attachments, on top of an
//! [`crate::protocol::eio::Session`] that it owns (the Engine.IO
//! layer: open packet, heartbeats, close).
//!
//! A [`Session`] starts once the transport's handshake is done. It owns no socket
//! and no clock: the caller feeds it
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
//! # Protocol behaviour (`docs/PROTOCOL-NOTES.md` §2.4–2.7, §6)
//!
//! * Engine.IO (open packet, heartbeats, `1`, parse errors): see
//!   [`crate::protocol::eio::session`]; its close ends this session
//!   with the same reason. An empty `4` closes with a Socket.IO parse error.
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
//! use roomcast_server::protocol::eio::{EioVersion, WsMessage};
//! use roomcast_server::protocol::sio::{Session, SessionConfig, SessionEvent};
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

use super::decode::Decoder;
use super::encode;
use super::packet::{Packet, PacketData, SioError, DEFAULT_MAX_ATTACHMENTS};
use super::raw_json::RawJson;
pub use super::session_event::{CloseReason, SessionEvent, Violation};
use crate::protocol::eio::{self, EioConfig, EioEvent, EioVersion, WsMessage};
use crate::protocol::http::Query;

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
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            max_namespaces: 64,
        }
    }
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

/// One Socket.IO connection over its Engine.IO session. See the module docs for
/// the contract.
#[derive(Debug)]
pub struct Session {
    version: EioVersion,
    config: SessionConfig,
    engine: eio::Session,
    closed: Option<CloseReason>,
    connect_deadline: Option<u64>,
    /// A binary packet's attachments must all arrive by then (`ping_timeout`
    /// after its header).
    binary_deadline: Option<u64>,
    /// The session ends then ([`Session::set_expiry`]).
    expiry: Option<u64>,
    namespaces: Vec<(String, NspState)>,
    decoder: Decoder,
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
        Session::open(version, config, sid, b64, now, false)
    }

    /// As [`new`](Self::new); `upgrade`: the open packet offers the WebSocket
    /// upgrade (a polling session).
    #[must_use]
    pub fn open(
        version: EioVersion,
        config: SessionConfig,
        sid: String,
        b64: bool,
        now: u64,
        upgrade: bool,
    ) -> Session {
        let engine = eio::Session::open(
            version,
            EioConfig {
                ping_interval: config.ping_interval,
                ping_timeout: config.ping_timeout,
                max_payload: config.max_payload,
            },
            sid,
            b64,
            now,
            upgrade,
        );
        let mut s = Session {
            version,
            decoder: Decoder::with_max_bytes(
                version,
                config.max_attachments,
                usize::try_from(config.max_payload).unwrap_or(usize::MAX),
            ),
            binary_deadline: None,
            expiry: None,
            connect_deadline: Some(now.saturating_add(config.connect_timeout)),
            config,
            engine,
            closed: None,
            namespaces: Vec::new(),
            events: VecDeque::new(),
        };
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
        self.engine.sid()
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

    /// The next outbound Engine.IO packet (a WebSocket message payload), in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<WsMessage> {
        self.engine.poll_transmit()
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
        [
            self.engine.next_deadline(),
            self.connect_deadline,
            self.binary_deadline,
            self.expiry,
        ]
        .into_iter()
        .flatten()
        .min()
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
        if self.binary_deadline.is_some_and(|d| now >= d) {
            self.close_with(CloseReason::IncompleteBinaryPacket);
            return;
        }
        if self.expiry.is_some_and(|d| now >= d) {
            self.end(CloseReason::Expired);
            return;
        }
        self.engine.handle_timeout(now);
        self.pump_engine(now);
    }

    /// Reports that the transport closed (close frame, EOF, error, or a frame over
    /// the size limit); the session ends with [`CloseReason::TransportClose`].
    pub fn handle_transport_closed(&mut self) {
        self.engine.handle_transport_closed();
        self.pump_engine(0);
    }

    /// Ends the session from the application side ([`CloseReason::ServerClose`]).
    /// Queued transmits stay available; then send a WebSocket close frame.
    pub fn close(&mut self) {
        self.close_with(CloseReason::ServerClose);
    }

    /// Ends the session at `at` (`None`: never), as a server does when a
    /// client's credentials expire: a disconnect for every joined namespace
    /// first (so socket.io clients do not reconnect by themselves), then the
    /// close ([`CloseReason::Expired`]). A time already past ends it at the
    /// next [`handle_timeout`](Self::handle_timeout).
    pub fn set_expiry(&mut self, at: Option<u64>) {
        self.expiry = at;
    }

    /// Ends the session now for `reason` the way [`set_expiry`](Self::set_expiry)
    /// does: every joined namespace disconnected first, then the close.
    pub fn end(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.disconnect_all();
        self.close_with(reason);
    }

    /// Handles a text packet (WebSocket message) received at `now`.
    pub fn handle_text(&mut self, text: &str, now: u64) {
        if self.closed.is_some() {
            return;
        }
        self.engine.handle_text(text, now);
        self.pump_engine(now);
    }

    /// Handles a binary packet (WebSocket message) received at `now`.
    pub fn handle_binary(&mut self, data: Bytes, now: u64) {
        if self.closed.is_some() {
            return;
        }
        self.engine.handle_binary(data, now);
        self.pump_engine(now);
    }

    /// Takes the Engine.IO layer's events (at `now`): messages are Socket.IO
    /// packets, its close is ours.
    fn pump_engine(&mut self, now: u64) {
        while let Some(event) = self.engine.poll_event() {
            match event {
                EioEvent::Message(WsMessage::Text(data)) => {
                    if self.closed.is_some() {
                        continue;
                    }
                    match self.decoder.decode_text(&data) {
                        Err(e) => self.close_with(CloseReason::SocketIoParseError(e)),
                        Ok(None) => {
                            self.binary_deadline =
                                Some(now.saturating_add(self.config.ping_timeout));
                        }
                        Ok(Some(p)) => self.dispatch(p),
                    }
                }
                EioEvent::Message(WsMessage::Binary(b)) => {
                    if self.closed.is_none() {
                        self.binary_message(b);
                    }
                }
                EioEvent::Close(reason) => self.close_with(reason.into()),
            }
        }
    }

    fn binary_message(&mut self, data: Bytes) {
        match self.decoder.decode_binary(data) {
            Err(e) => self.close_with(CloseReason::SocketIoParseError(e)),
            Ok(None) => {}
            Ok(Some(p)) => {
                self.binary_deadline = None;
                self.dispatch(p);
            }
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        self.engine.close(); // no more heartbeats
        self.events.push_back(SessionEvent::Close { reason });
    }

    fn transmit(&mut self, msg: WsMessage) -> Result<(), SessionError> {
        self.engine.send(msg).map_err(|_| SessionError::Closed)
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
        let msg = encode::encode_connect(self.version, nsp, sid)?;
        if let Some(entry) = self.namespaces.iter_mut().find(|(n, _)| n == nsp) {
            entry.1 = NspState::Joined;
        }
        self.connect_deadline = None;
        self.transmit(WsMessage::Text(msg))
    }

    /// Refuses a pending CONNECT with a CONNECT_ERROR (`message`, optional raw JSON
    /// `data`; see [`encode_connect_error`](super::encode::encode_connect_error) for the v4 form). The connection
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
        let msg = encode::encode_connect_error(self.version, nsp, message, data)?;
        self.remove_nsp(nsp);
        self.transmit(WsMessage::Text(msg))
    }

    /// Server-side disconnect of every joined namespace (`41…` each, `/` last), as
    /// a server going away does before it closes the transport. Does nothing once
    /// closed.
    pub fn disconnect_all(&mut self) {
        let mut joined: Vec<String> = self.joined().map(str::to_owned).collect();
        joined.sort_by_key(|n| n == "/");
        for nsp in joined {
            let _ = self.disconnect(&nsp);
        }
    }

    /// Server-side disconnect of `nsp`: queues `41…` and leaves the namespace.
    ///
    /// # Errors
    ///
    /// [`SessionError::Closed`], [`SessionError::NotJoined`].
    pub fn disconnect(&mut self, nsp: &str) -> Result<(), SessionError> {
        self.check_joined(nsp)?;
        let msg = encode::encode_disconnect(nsp)?;
        self.remove_nsp(nsp);
        self.transmit(WsMessage::Text(msg))
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
        let b64 = self.engine.b64();
        let msgs =
            encode::encode_binary_event(self.version, b64, nsp, name, args, ack_id, attachments)?;
        msgs.into_iter().try_for_each(|m| self.transmit(m))
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
        let b64 = self.engine.b64();
        let msgs = encode::encode_binary_ack(self.version, b64, nsp, id, args, attachments)?;
        msgs.into_iter().try_for_each(|m| self.transmit(m))
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
    fn expiry_disconnects_every_namespace_then_closes() {
        let mut s = Session::new(EioVersion::V4, cfg(), "SID".into(), false, 0);
        let _ = texts(&mut s);
        s.handle_text("40", 1);
        s.handle_text("40/admin,", 1);
        let _ = events(&mut s);
        s.accept("/", "a").unwrap();
        s.accept("/admin", "b").unwrap();
        let _ = texts(&mut s);
        s.set_expiry(Some(250));
        assert_eq!(s.next_deadline(), Some(250));
        s.handle_timeout(249);
        assert!(!s.is_closed());
        s.handle_timeout(250);
        // The other namespaces first, `/` last, then the session is over.
        assert_eq!(texts(&mut s), ["41/admin,", "41"]);
        assert_eq!(s.close_reason(), Some(&CloseReason::Expired));
        assert_eq!(
            events(&mut s),
            [SessionEvent::Close {
                reason: CloseReason::Expired
            }]
        );
        assert_eq!(s.next_deadline(), None);
        // `end` does the same at once; an expiry already past fires at the next tick.
        let mut s = Session::new(EioVersion::V3, cfg(), "SID".into(), false, 0);
        let _ = events(&mut s);
        s.accept("/", "SID").unwrap();
        let _ = texts(&mut s);
        s.set_expiry(Some(0));
        s.handle_timeout(10);
        assert_eq!(texts(&mut s), ["41"]);
        assert!(s.is_closed());
        let mut s = Session::new(EioVersion::V4, cfg(), "SID".into(), false, 0);
        s.end(CloseReason::PolicyClose("rate"));
        assert_eq!(s.close_reason(), Some(&CloseReason::PolicyClose("rate")));
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
