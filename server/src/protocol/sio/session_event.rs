//! What a Socket.IO [`Session`](super::Session) reports: its events
//! ([`SessionEvent`]) and why it ended ([`CloseReason`], [`Violation`]).

use std::fmt;

use bytes::Bytes;

use super::packet::{EventName, SioError};
use super::raw_json::{RawArgs, RawJson};
use crate::protocol::eio::{EioCloseReason, EioError};

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
    /// A binary packet's attachments did not all arrive within `ping_timeout`.
    IncompleteBinaryPacket,
    /// The application closed the session ([`Session::close`](super::Session::close)).
    ServerClose,
    /// The session's expiry ([`Session::set_expiry`](super::Session::set_expiry),
    /// a token's `exp`) passed: every namespace got its disconnect first.
    Expired,
    /// The application closed the session for a broken rule (e.g. a client far
    /// over its rate): every namespace got its disconnect first.
    PolicyClose(&'static str),
}

impl From<EioCloseReason> for CloseReason {
    fn from(r: EioCloseReason) -> CloseReason {
        match r {
            EioCloseReason::PingTimeout => CloseReason::PingTimeout,
            EioCloseReason::ClosePacket => CloseReason::ClosePacket,
            EioCloseReason::TransportClose => CloseReason::TransportClose,
            EioCloseReason::InvalidHeartbeatDirection => CloseReason::InvalidHeartbeatDirection,
            EioCloseReason::ParseError(e) => CloseReason::EngineParseError(e),
            EioCloseReason::ServerClose => CloseReason::ServerClose,
        }
    }
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
            CloseReason::IncompleteBinaryPacket => {
                f.write_str("binary packet not completed within the ping timeout")
            }
            CloseReason::ServerClose => f.write_str("server close"),
            CloseReason::Expired => f.write_str("session expired (token exp)"),
            CloseReason::PolicyClose(why) => write!(f, "closed by policy: {why}"),
        }
    }
}

/// What the session reports to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The client asks to join `nsp`; answer with [`Session::accept`](super::Session::accept) or
    /// [`Session::refuse`](super::Session::refuse) (e.g. "Invalid namespace" for an unknown one).
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
        /// The ack id to answer with [`Session::ack`](super::Session::ack), if any.
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
