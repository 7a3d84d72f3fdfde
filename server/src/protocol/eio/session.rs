//! [`Session`]: one Engine.IO connection's state, sans-IO and transport-agnostic.
//!
//! The session owns no socket and no clock. The transport (today a WebSocket;
//! HTTP long-polling carries the same packets) feeds it each inbound packet
//! ([`Session::handle_text`], [`Session::handle_binary`]), the time
//! ([`Session::handle_timeout`] once `now >=` [`Session::next_deadline`]) and the
//! end of the transport ([`Session::handle_transport_closed`]); after every call
//! it drains [`Session::poll_transmit`] (outbound packets, in order) and
//! [`Session::poll_event`] (messages for the layer above, and the close).
//!
//! # Behaviour (`docs/PROTOCOL-NOTES.md` §1.5–1.8)
//!
//! * The open packet `0{…}` is the first transmit.
//! * **Heartbeat v4** (server pings): `2` every `ping_interval`; no `3` within
//!   `ping_timeout` → close "ping timeout"; the interval restarts at the pong (a
//!   `3` with no ping pending restarts it too); a client `2` → close "invalid
//!   heartbeat direction".
//! * **Heartbeat v3** (client pings): each `2` is answered `3` at once (any data
//!   the ping carries is not echoed, as engine.io 3 does); no ping for
//!   `ping_interval + ping_timeout` → close; a `3` from the client is ignored.
//! * `1` closes at once; `0`, `5`, `6` are ignored; anything unparsable closes
//!   with a parse error naming the problem.
//! * Message packets (`4…`, binary) are handed up as [`EioEvent::Message`].
//!
//! ```
//! use roomcast_server::protocol::eio::{EioConfig, EioEvent, EioVersion, Session, WsMessage};
//!
//! let mut s = Session::new(EioVersion::V4, EioConfig::default(), "SID".into(), false, 0);
//! assert!(matches!(s.poll_transmit(), Some(WsMessage::Text(t)) if t.starts_with("0{\"sid\":\"SID\"")));
//! s.handle_text("4hello", 1);
//! assert_eq!(s.poll_event(), Some(EioEvent::Message(WsMessage::Text("hello".into()))));
//! s.send(WsMessage::Text("4hi".into())).unwrap();
//! assert_eq!(s.poll_transmit(), Some(WsMessage::Text("4hi".into())));
//! assert_eq!(s.next_deadline(), Some(25_000)); // the first ping
//! ```

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

use super::packet::{self, EioError, EioVersion, OpenPacket, Packet, WsMessage};

/// Engine.IO settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EioConfig {
    /// Milliseconds between heartbeats (advertised as `pingInterval`). Default 25000.
    pub ping_interval: u64,
    /// Milliseconds to wait for a heartbeat (advertised as `pingTimeout`). Default 20000.
    pub ping_timeout: u64,
    /// Largest message accepted, advertised as `maxPayload`. Default 1000000.
    pub max_payload: u64,
}

impl Default for EioConfig {
    fn default() -> Self {
        EioConfig {
            ping_interval: 25_000,
            ping_timeout: 20_000,
            max_payload: 1_000_000,
        }
    }
}

/// Why an Engine.IO session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioCloseReason {
    /// v4: no pong within `ping_timeout`; v3: no ping within interval + timeout.
    PingTimeout,
    /// The client sent `1`.
    ClosePacket,
    /// The transport closed (reported by the caller).
    TransportClose,
    /// A v4 client sent a ping (`2`): heartbeats go server → client.
    InvalidHeartbeatDirection,
    /// An unparsable packet.
    ParseError(EioError),
    /// The layer above closed the session ([`Session::close`]).
    ServerClose,
}

impl fmt::Display for EioCloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EioCloseReason::PingTimeout => f.write_str("ping timeout"),
            EioCloseReason::ClosePacket => f.write_str("client sent close packet"),
            EioCloseReason::TransportClose => f.write_str("transport close"),
            EioCloseReason::InvalidHeartbeatDirection => f.write_str("invalid heartbeat direction"),
            EioCloseReason::ParseError(e) => write!(f, "{e}"),
            EioCloseReason::ServerClose => f.write_str("server close"),
        }
    }
}

/// What the session hands up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioEvent {
    /// A message packet's data: text after the `4`, or the binary payload.
    Message(WsMessage),
    /// The session is over; reported once, last.
    Close(EioCloseReason),
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

/// The session is closed: nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("session closed")
    }
}

impl std::error::Error for Closed {}

/// One Engine.IO session; see the [module docs](self).
#[derive(Debug)]
pub struct Session {
    version: EioVersion,
    config: EioConfig,
    sid: String,
    b64: bool,
    closed: Option<EioCloseReason>,
    heartbeat: Heartbeat,
    transmits: VecDeque<WsMessage>,
    events: VecDeque<EioEvent>,
}

impl Session {
    /// Starts a session at `now` and queues the open packet. `b64` is the
    /// handshake's `b64` flag (v3: binary sent as base64 text).
    #[must_use]
    pub fn new(
        version: EioVersion,
        config: EioConfig,
        sid: String,
        b64: bool,
        now: u64,
    ) -> Session {
        Session::open(version, config, sid, b64, now, false)
    }

    /// As [`new`](Self::new); `upgrade`: the open packet offers the WebSocket
    /// upgrade (`"upgrades":["websocket"]`, a polling session).
    #[must_use]
    pub fn open(
        version: EioVersion,
        config: EioConfig,
        sid: String,
        b64: bool,
        now: u64,
        upgrade: bool,
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
        let open = packet::encode_open(&OpenPacket {
            sid: &sid,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            max_payload: config.max_payload,
            upgrade,
        });
        Session {
            version,
            config,
            sid,
            b64,
            closed: None,
            heartbeat,
            transmits: VecDeque::from([WsMessage::Text(open)]),
            events: VecDeque::new(),
        }
    }

    /// The Engine.IO version.
    #[must_use]
    pub fn version(&self) -> EioVersion {
        self.version
    }

    /// The session id.
    #[must_use]
    pub fn sid(&self) -> &str {
        &self.sid
    }

    /// Whether binary goes out as base64 text (v3 `b64=1`).
    #[must_use]
    pub fn b64(&self) -> bool {
        self.b64
    }

    /// Why the session ended, once it has.
    #[must_use]
    pub fn close_reason(&self) -> Option<&EioCloseReason> {
        self.closed.as_ref()
    }

    /// The next outbound packet, in order.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<WsMessage> {
        self.transmits.pop_front()
    }

    /// The next event for the layer above.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<EioEvent> {
        self.events.pop_front()
    }

    /// Queues an outbound packet built by the layer above (a message packet:
    /// `4…` text, or a binary message framed for this version).
    ///
    /// # Errors
    ///
    /// [`Closed`] once the session has ended.
    pub fn send(&mut self, msg: WsMessage) -> Result<(), Closed> {
        if self.closed.is_some() {
            return Err(Closed);
        }
        self.transmits.push_back(msg);
        Ok(())
    }

    /// The earliest time [`Session::handle_timeout`] must be called (`None` once
    /// closed).
    #[must_use]
    pub fn next_deadline(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        match self.heartbeat {
            Heartbeat::ServerPings {
                next_ping,
                pong_deadline,
            } => pong_deadline.or(next_ping),
            Heartbeat::ClientPings { deadline } => Some(deadline),
        }
    }

    /// Runs the heartbeat timers due at `now`: sends a v4 ping, or closes on a
    /// heartbeat timeout. A deadline `d` fires when `now >= d`.
    pub fn handle_timeout(&mut self, now: u64) {
        if self.closed.is_some() {
            return;
        }
        match &mut self.heartbeat {
            Heartbeat::ServerPings {
                next_ping,
                pong_deadline,
            } => {
                if pong_deadline.is_some_and(|d| now >= d) {
                    self.close_with(EioCloseReason::PingTimeout);
                } else if pong_deadline.is_none() && next_ping.is_some_and(|p| now >= p) {
                    *next_ping = None;
                    *pong_deadline = Some(now.saturating_add(self.config.ping_timeout));
                    self.transmits
                        .push_back(WsMessage::Text(packet::PING.to_owned()));
                }
            }
            Heartbeat::ClientPings { deadline } => {
                if now >= *deadline {
                    self.close_with(EioCloseReason::PingTimeout);
                }
            }
        }
    }

    /// Reports that the transport closed; the session ends with
    /// [`EioCloseReason::TransportClose`].
    pub fn handle_transport_closed(&mut self) {
        self.close_with(EioCloseReason::TransportClose);
    }

    /// Ends the session from the server side ([`EioCloseReason::ServerClose`]).
    /// Queued transmits stay available.
    pub fn close(&mut self) {
        self.close_with(EioCloseReason::ServerClose);
    }

    /// Handles a text packet received at `now`.
    pub fn handle_text(&mut self, text: &str, now: u64) {
        if self.closed.is_some() {
            return;
        }
        match packet::decode_text(self.version, text) {
            Err(e) => self.close_with(EioCloseReason::ParseError(e)),
            Ok(Packet::Open(_) | Packet::Upgrade(_) | Packet::Noop(_)) => {}
            Ok(Packet::Close(_)) => self.close_with(EioCloseReason::ClosePacket),
            Ok(Packet::Ping(_)) => match &mut self.heartbeat {
                Heartbeat::ServerPings { .. } => {
                    self.close_with(EioCloseReason::InvalidHeartbeatDirection);
                }
                Heartbeat::ClientPings { deadline } => {
                    *deadline = now
                        .saturating_add(self.config.ping_interval)
                        .saturating_add(self.config.ping_timeout);
                    // As engine.io 3: a bare pong, whatever the ping carried (an
                    // upgrade's `2probe` is the transport's business, not the
                    // session's).
                    self.transmits
                        .push_back(WsMessage::Text(packet::PONG.to_owned()));
                }
            },
            Ok(Packet::Pong(_)) => {
                if let Heartbeat::ServerPings {
                    next_ping,
                    pong_deadline,
                } = &mut self.heartbeat
                {
                    *pong_deadline = None;
                    *next_ping = Some(now.saturating_add(self.config.ping_interval));
                }
            }
            Ok(Packet::Message(data)) => self
                .events
                .push_back(EioEvent::Message(WsMessage::Text(data.to_owned()))),
            Ok(Packet::Binary(b)) => {
                self.events
                    .push_back(EioEvent::Message(WsMessage::Binary(Bytes::from(
                        b.into_owned(),
                    ))))
            }
        }
    }

    /// Handles a binary packet received at `now` (v4: the payload as is; v3: a
    /// type byte, which must be `4`, then the payload).
    pub fn handle_binary(&mut self, data: Bytes, now: u64) {
        let _ = now;
        if self.closed.is_some() {
            return;
        }
        let payload = match self.version {
            EioVersion::V4 => data,
            EioVersion::V3 => match packet::decode_binary(EioVersion::V3, &data) {
                Ok(_) => data.slice(1..),
                Err(e) => return self.close_with(EioCloseReason::ParseError(e)),
            },
        };
        self.events
            .push_back(EioEvent::Message(WsMessage::Binary(payload)));
    }

    fn close_with(&mut self, reason: EioCloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        self.events.push_back(EioEvent::Close(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EioConfig {
        EioConfig {
            ping_interval: 300,
            ping_timeout: 200,
            ..EioConfig::default()
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

    #[test]
    fn v4_open_and_ping_cycle() {
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
        assert!(s.close_reason().is_none());
        s.handle_timeout(1999);
        assert_eq!(
            s.poll_event(),
            Some(EioEvent::Close(EioCloseReason::PingTimeout))
        );
        assert_eq!(s.next_deadline(), None);
        assert_eq!(s.send(WsMessage::Text("4x".into())), Err(Closed));
    }

    #[test]
    fn v3_client_pings_and_binary_messages() {
        let mut s = Session::new(EioVersion::V3, cfg(), "SID".into(), true, 0);
        assert_eq!(texts(&mut s).len(), 1);
        assert_eq!(s.next_deadline(), Some(500));
        s.handle_text("2", 104);
        assert_eq!(texts(&mut s), ["3"]);
        s.handle_text("3", 110); // ignored
        assert_eq!(s.next_deadline(), Some(604));
        s.handle_binary(Bytes::from_static(&[4, 9, 8]), 120);
        s.handle_text("b4AQID", 121);
        assert_eq!(
            std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>(),
            [
                EioEvent::Message(WsMessage::Binary(Bytes::from_static(&[9, 8]))),
                EioEvent::Message(WsMessage::Binary(Bytes::from_static(&[1, 2, 3]))),
            ]
        );
        s.handle_binary(Bytes::from_static(&[2, 9]), 130);
        assert_eq!(
            s.poll_event(),
            Some(EioEvent::Close(EioCloseReason::ParseError(
                EioError::BinaryNotMessage(2)
            )))
        );
    }
}
