//! A decoded Socket.IO packet ([`Packet`], [`PacketData`]) and its event names.
//! Arguments stay as the client's JSON text ([`RawArgs`]), so echoing
//! `["message-back",1,"2",{"3":[true]}]` reproduces every byte.
//!
//! ```
//! use roomcast_server::protocol::eio::EioVersion;
//! use roomcast_server::protocol::sio::{decode_packet, encode_ack, PacketData};
//! let (p, attachments) = decode_packet(EioVersion::V4, 10, r#"2/admin,13["save",{"z":1,"a":2.50}]"#).unwrap();
//! assert_eq!((p.nsp.as_str(), attachments), ("/admin", 0));
//! let PacketData::Event { name, args, id, .. } = p.data else { unreachable!() };
//! assert_eq!((name.as_str(), args.as_str(), id), ("save", r#"[{"z":1,"a":2.50}]"#, Some(13)));
//! assert_eq!(encode_ack("/admin", 13, args.as_str()).unwrap(), r#"43/admin,13[{"z":1,"a":2.50}]"#);
//! ```

use bytes::Bytes;

pub use super::error::SioError;
pub use super::kind::PacketKind;
use super::raw_json::{RawArgs, RawJson};

/// Default maximum number of binary attachments per packet (socket.io-parser's).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 10;

/// An event name: a string, or (the protocol allows it) a number kept as its JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventName {
    /// A string name, unescaped.
    Str(String),
    /// A numeric name, as its JSON text (e.g. `1`, `-2.5e3`).
    Num(Box<str>),
}

impl EventName {
    /// The name as text (the number's JSON text for numeric names).
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            EventName::Str(s) => s,
            EventName::Num(n) => n,
        }
    }

    /// The name as JSON (quoted and escaped for strings).
    #[must_use]
    pub fn to_json(&self) -> String {
        match self {
            EventName::Str(s) => json_string(s),
            EventName::Num(n) => n.to_string(),
        }
    }
}

/// The data of a decoded packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketData {
    /// CONNECT with its optional auth payload (raw JSON).
    Connect {
        /// The auth object as sent (`None` when absent).
        auth: Option<RawJson>,
    },
    /// DISCONNECT.
    Disconnect,
    /// EVENT or reassembled BINARY_EVENT.
    Event {
        /// The event name.
        name: EventName,
        /// The arguments after the name.
        args: RawArgs,
        /// The ack id the sender waits for.
        id: Option<u64>,
        /// Binary attachments, in placeholder order (empty for EVENT).
        attachments: Vec<Bytes>,
    },
    /// ACK or reassembled BINARY_ACK.
    Ack {
        /// The ack id answered (`None` if absent: such acks match nothing).
        id: Option<u64>,
        /// The arguments.
        args: RawArgs,
        /// Binary attachments (empty for ACK).
        attachments: Vec<Bytes>,
    },
    /// CONNECT_ERROR (v4: ERROR) with its payload.
    ConnectError {
        /// The payload (string or object) as raw JSON.
        data: Option<RawJson>,
    },
}

/// A decoded Socket.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The namespace as sent (`"/"` when absent; in v4 CONNECT it may carry `?query`).
    pub nsp: String,
    /// What the packet carries.
    pub data: PacketData,
}

impl Packet {
    /// The packet type after reassembly (binary types report as EVENT/ACK once
    /// their attachments are in).
    #[must_use]
    pub fn kind(&self) -> PacketKind {
        match &self.data {
            PacketData::Connect { .. } => PacketKind::Connect,
            PacketData::Disconnect => PacketKind::Disconnect,
            PacketData::Event { .. } => PacketKind::Event,
            PacketData::Ack { .. } => PacketKind::Ack,
            PacketData::ConnectError { .. } => PacketKind::ConnectError,
        }
    }

    pub(crate) fn push_attachment(&mut self, b: Bytes) {
        if let PacketData::Event { attachments, .. } | PacketData::Ack { attachments, .. } =
            &mut self.data
        {
            attachments.push(b);
        }
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}
