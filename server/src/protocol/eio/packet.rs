//! Engine.IO v3/v4 packets over WebSocket, sans-IO.
//!
//! Over WebSocket every Engine.IO packet is exactly one WebSocket message
//! (`docs/PROTOCOL-NOTES.md` §1.3–1.4); there is no payload separator and no length prefix.
//!
//! * A **text** message is `<type digit><data>`: `0` open, `1` close, `2` ping,
//!   `3` pong, `4` message, `5` upgrade, `6` noop, e.g. `42["hey","Jude"]`.
//!   A text message `b<base64>` (v4) or `b4<base64>` (v3, `b64=1` clients) is a
//!   binary *message* in base64.
//! * A **binary** message carries a `message` packet: in v4 the payload as is, in v3
//!   the first byte is the packet type (`0x04`) followed by the payload.
//!
//! [`decode_text`] and [`decode_binary`] parse inbound messages into [`Packet`];
//! the `encode_*` functions and [`WsMessage`] build outbound ones. These are payloads of
//! WebSocket messages, not frames: the caller frames them.
//!
//! ```
//! use roomcast_server::protocol::eio::{decode_binary, decode_text, EioVersion, Packet};
//! assert_eq!(decode_text(EioVersion::V4, "42[\"hey\"]"), Ok(Packet::Message("2[\"hey\"]")));
//! assert!(matches!(decode_text(EioVersion::V4, "bAQID"), Ok(Packet::Binary(b)) if b[..] == [1, 2, 3]));
//! assert!(matches!(decode_binary(EioVersion::V3, &[4, 1, 2, 3]), Ok(Packet::Binary(b)) if b[..] == [1, 2, 3]));
//! assert!(decode_text(EioVersion::V4, "abc").is_err()); // closes with "parse error"
//! ```

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use bytes::Bytes;

/// The Engine.IO protocol version of a connection (`EIO` query key).
///
/// `V4` pairs with Socket.IO protocol v5 (socket.io-client 3.x/4.x), `V3` with
/// Socket.IO protocol v4 (socket.io-client 1.x/2.x, sails.io.js 1.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EioVersion {
    /// Engine.IO v3: client pings, binary messages prefixed with the type byte.
    V3,
    /// Engine.IO v4: server pings, raw binary messages.
    V4,
}

/// Engine.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`
    Open,
    /// `1`
    Close,
    /// `2`
    Ping,
    /// `3`
    Pong,
    /// `4`
    Message,
    /// `5`
    Upgrade,
    /// `6`
    Noop,
}

impl PacketType {
    /// The type for an ASCII digit `'0'..='6'`.
    #[must_use]
    pub fn from_char(c: u8) -> Option<PacketType> {
        Some(match c {
            b'0' => PacketType::Open,
            b'1' => PacketType::Close,
            b'2' => PacketType::Ping,
            b'3' => PacketType::Pong,
            b'4' => PacketType::Message,
            b'5' => PacketType::Upgrade,
            b'6' => PacketType::Noop,
            _ => return None,
        })
    }

    /// The ASCII digit.
    #[must_use]
    pub fn as_char(self) -> char {
        match self {
            PacketType::Open => '0',
            PacketType::Close => '1',
            PacketType::Ping => '2',
            PacketType::Pong => '3',
            PacketType::Message => '4',
            PacketType::Upgrade => '5',
            PacketType::Noop => '6',
        }
    }
}

/// A decoded inbound Engine.IO packet, borrowing from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0<data>` (server → client only; ignored when received).
    Open(&'a str),
    /// `1`: close the transport.
    Close(&'a str),
    /// `2<data>`.
    Ping(&'a str),
    /// `3<data>`.
    Pong(&'a str),
    /// `4<data>`: a text message (a Socket.IO packet). The data may be empty.
    Message(&'a str),
    /// `5`: upgrade (ignored over WebSocket).
    Upgrade(&'a str),
    /// `6`: noop (ignored).
    Noop(&'a str),
    /// A binary message (raw binary frame, or base64 text).
    Binary(Cow<'a, [u8]>),
}

/// Why an inbound message is not an Engine.IO packet. Fatal to the connection
/// (engine.io closes with reason "parse error").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EioError {
    /// An empty text message.
    EmptyText,
    /// A text message whose first character is not a packet type (nor `b`).
    UnknownType(char),
    /// A `b…` text message whose base64 does not decode.
    InvalidBase64,
    /// A v3 `b<type>…` or binary message whose type is not `4` (message).
    BinaryNotMessage(u8),
    /// An empty binary message in v3 (no type byte).
    EmptyBinary,
}

impl fmt::Display for EioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EioError::EmptyText => f.write_str("parse error: empty text message"),
            EioError::UnknownType(c) => write!(f, "parse error: unknown packet type {c:?}"),
            EioError::InvalidBase64 => f.write_str("parse error: invalid base64 binary message"),
            EioError::BinaryNotMessage(t) => {
                write!(
                    f,
                    "parse error: binary packet of type {t}, expected 4 (message)"
                )
            }
            EioError::EmptyBinary => f.write_str("parse error: empty v3 binary message"),
        }
    }
}

impl std::error::Error for EioError {}

/// Decodes a text WebSocket message.
///
/// # Errors
///
/// [`EioError::EmptyText`], [`EioError::UnknownType`], and for `b…` base64
/// messages [`EioError::InvalidBase64`] / [`EioError::BinaryNotMessage`].
pub fn decode_text(version: EioVersion, text: &str) -> Result<Packet<'_>, EioError> {
    let Some(&first) = text.as_bytes().first() else {
        return Err(EioError::EmptyText);
    };
    // `first` is ASCII whenever it matches below, so slicing at 1 is on a boundary.
    if first == b'b' {
        let b64 = match version {
            EioVersion::V4 => &text[1..],
            EioVersion::V3 => match text.as_bytes().get(1) {
                Some(b'4') => &text[2..],
                Some(&t) if t.is_ascii_digit() => return Err(EioError::BinaryNotMessage(t - b'0')),
                _ => return Err(EioError::InvalidBase64),
            },
        };
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|v| Packet::Binary(Cow::Owned(v)))
            .map_err(|_| EioError::InvalidBase64);
    }
    let Some(ty) = PacketType::from_char(first) else {
        let c = text.chars().next().unwrap_or('\0');
        return Err(EioError::UnknownType(c));
    };
    let data = &text[1..];
    Ok(match ty {
        PacketType::Open => Packet::Open(data),
        PacketType::Close => Packet::Close(data),
        PacketType::Ping => Packet::Ping(data),
        PacketType::Pong => Packet::Pong(data),
        PacketType::Message => Packet::Message(data),
        PacketType::Upgrade => Packet::Upgrade(data),
        PacketType::Noop => Packet::Noop(data),
    })
}

/// Decodes a binary WebSocket message: v4 takes the payload as is; v3 strips the
/// leading type byte, which must be `4`.
///
/// # Errors
///
/// v3 only: [`EioError::EmptyBinary`] or [`EioError::BinaryNotMessage`].
pub fn decode_binary(version: EioVersion, data: &[u8]) -> Result<Packet<'_>, EioError> {
    match version {
        EioVersion::V4 => Ok(Packet::Binary(Cow::Borrowed(data))),
        EioVersion::V3 => match data.split_first() {
            None => Err(EioError::EmptyBinary),
            Some((4, rest)) => Ok(Packet::Binary(Cow::Borrowed(rest))),
            Some((&t, _)) => Err(EioError::BinaryNotMessage(t)),
        },
    }
}

/// An outbound WebSocket message payload, to be framed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsMessage {
    /// A text message (opcode 0x1).
    Text(String),
    /// A binary message (opcode 0x2).
    Binary(Bytes),
}

impl WsMessage {
    /// The text, if this is a text message.
    #[must_use]
    pub fn as_text(&self) -> Option<&str> {
        match self {
            WsMessage::Text(s) => Some(s),
            WsMessage::Binary(_) => None,
        }
    }

    /// The payload bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            WsMessage::Text(s) => s.as_bytes(),
            WsMessage::Binary(b) => b,
        }
    }

    /// The message as one complete, unmasked WebSocket frame (text or binary).
    #[must_use]
    pub fn into_ws_frame(self) -> Bytes {
        use roomcast::wire::{encode_frame, OP_BINARY, OP_TEXT};
        match self {
            WsMessage::Text(t) => encode_frame(OP_TEXT, t.as_bytes()),
            WsMessage::Binary(b) => encode_frame(OP_BINARY, &b),
        }
    }
}

/// The fields of the open packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPacket<'a> {
    /// The engine session id.
    pub sid: &'a str,
    /// Milliseconds between pings.
    pub ping_interval: u64,
    /// Milliseconds to wait for the pong.
    pub ping_timeout: u64,
    /// Largest message the server accepts, in bytes.
    pub max_payload: u64,
    /// The session may upgrade to WebSocket (a polling session of a server
    /// with the WebSocket transport on): `"upgrades":["websocket"]`.
    pub upgrade: bool,
}

/// Encodes the open packet with exactly the five keys, in order:
/// `0{"sid":…,"upgrades":[],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`
/// (`["websocket"]` for a polling session that may upgrade).
#[must_use]
pub fn encode_open(open: &OpenPacket<'_>) -> String {
    let sid = serde_json::to_string(open.sid).unwrap_or_else(|_| "\"\"".to_owned());
    let upgrades = if open.upgrade {
        "[\"websocket\"]"
    } else {
        "[]"
    };
    format!(
        "0{{\"sid\":{sid},\"upgrades\":{upgrades},\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{}}}",
        open.ping_interval, open.ping_timeout, open.max_payload
    )
}

/// The ping packet `2`.
pub const PING: &str = "2";
/// The pong packet `3`.
pub const PONG: &str = "3";

/// Encodes a text message packet: `4<data>`.
#[must_use]
pub fn encode_message(data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 1);
    s.push('4');
    s.push_str(data);
    s
}

/// Encodes a binary message for `version`: v4 the payload as is, v3 `0x04` +
/// payload, or for a v3 client that asked for base64 (`b64`) the text `b4<base64>`.
#[must_use]
pub fn encode_binary(version: EioVersion, b64: bool, data: &Bytes) -> WsMessage {
    match version {
        EioVersion::V4 => WsMessage::Binary(data.clone()),
        EioVersion::V3 if b64 => {
            let mut s = String::from("b4");
            base64::engine::general_purpose::STANDARD.encode_string(data, &mut s);
            WsMessage::Text(s)
        }
        EioVersion::V3 => {
            let mut v = Vec::with_capacity(data.len() + 1);
            v.push(4);
            v.extend_from_slice(data);
            WsMessage::Binary(v.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_packets() {
        use EioVersion::*;
        assert_eq!(decode_text(V4, "2"), Ok(Packet::Ping("")));
        assert_eq!(decode_text(V4, "3probe"), Ok(Packet::Pong("probe")));
        assert_eq!(
            decode_text(V4, "42[\"a\"]"),
            Ok(Packet::Message("2[\"a\"]"))
        );
        assert_eq!(decode_text(V3, "4"), Ok(Packet::Message("")));
        assert_eq!(decode_text(V4, "1"), Ok(Packet::Close("")));
        assert_eq!(decode_text(V4, "6"), Ok(Packet::Noop("")));
        assert_eq!(decode_text(V4, "5"), Ok(Packet::Upgrade("")));
        assert_eq!(decode_text(V4, "0x"), Ok(Packet::Open("x")));
        assert_eq!(decode_text(V4, ""), Err(EioError::EmptyText));
        assert_eq!(decode_text(V4, "abc"), Err(EioError::UnknownType('a')));
        assert_eq!(decode_text(V4, "7"), Err(EioError::UnknownType('7')));
        assert_eq!(decode_text(V4, "é"), Err(EioError::UnknownType('é')));
    }

    #[test]
    fn base64_binary() {
        use EioVersion::*;
        assert_eq!(
            decode_text(V4, "bAQID"),
            Ok(Packet::Binary(Cow::Owned(vec![1, 2, 3])))
        );
        assert_eq!(
            decode_text(V3, "b4AQID"),
            Ok(Packet::Binary(Cow::Owned(vec![1, 2, 3])))
        );
        assert_eq!(
            decode_text(V3, "b2AQID"),
            Err(EioError::BinaryNotMessage(2))
        );
        assert_eq!(decode_text(V4, "b!!"), Err(EioError::InvalidBase64));
        assert_eq!(decode_text(V3, "b"), Err(EioError::InvalidBase64));
    }

    #[test]
    fn binary_frames() {
        use EioVersion::*;
        assert_eq!(
            decode_binary(V4, &[1, 2, 3]),
            Ok(Packet::Binary(Cow::Borrowed(&[1, 2, 3][..])))
        );
        assert_eq!(
            decode_binary(V4, &[]),
            Ok(Packet::Binary(Cow::Borrowed(&[][..])))
        );
        assert_eq!(
            decode_binary(V3, &[4, 9]),
            Ok(Packet::Binary(Cow::Borrowed(&[9][..])))
        );
        assert_eq!(
            decode_binary(V3, &[2, 9]),
            Err(EioError::BinaryNotMessage(2))
        );
        assert_eq!(decode_binary(V3, &[]), Err(EioError::EmptyBinary));
        let d = Bytes::from_static(&[1, 2, 3]);
        assert_eq!(encode_binary(V4, false, &d), WsMessage::Binary(d.clone()));
        assert_eq!(encode_binary(V3, false, &d).as_bytes(), &[4, 1, 2, 3]);
        assert_eq!(
            encode_binary(V3, true, &d),
            WsMessage::Text("b4AQID".into())
        );
    }

    #[test]
    fn open_packet() {
        let s = encode_open(&OpenPacket {
            sid: "lv_VI97HAXpY6yYWAAAC",
            ping_interval: 25000,
            ping_timeout: 20000,
            max_payload: 1_000_000,
            upgrade: false,
        });
        assert_eq!(
            s,
            r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        );
        let s = encode_open(&OpenPacket {
            sid: "s",
            ping_interval: 1,
            ping_timeout: 2,
            max_payload: 3,
            upgrade: true,
        });
        assert_eq!(
            s,
            r#"0{"sid":"s","upgrades":["websocket"],"pingInterval":1,"pingTimeout":2,"maxPayload":3}"#
        );
        assert_eq!(encode_message("2[\"x\"]"), "42[\"x\"]");
    }
}
