//! [`SioError`]: why a Socket.IO packet was refused, or could not be encoded.

use std::fmt;

use super::kind::PacketKind;

/// Why a Socket.IO packet was refused (decoding), or could not be encoded.
/// Decoding errors are fatal to the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SioError {
    /// An empty packet (engine message `4` with no data).
    Empty,
    /// The first character is not `0`–`6`.
    UnknownPacketType(char),
    /// The `<n>-` attachment count of a binary packet is missing or not numeric.
    IllegalAttachments,
    /// More attachments than allowed.
    TooManyAttachments {
        /// The configured maximum.
        max: usize,
    },
    /// A binary packet declaring zero attachments.
    NoAttachments,
    /// The ack id is not a decimal `u64`, or is followed by whitespace.
    InvalidAckId,
    /// The JSON tail does not parse.
    InvalidJson(String),
    /// The JSON does not fit the packet type.
    InvalidPayload {
        /// The packet type.
        kind: PacketKind,
        /// What is wrong, e.g. "CONNECT payload must be an object".
        reason: &'static str,
    },
    /// An EVENT named with a reserved name (`connect`, `disconnect`, …).
    ReservedEventName(String),
    /// A text message while binary attachments were awaited.
    UnexpectedText,
    /// A binary message while no attachment was awaited.
    UnexpectedBinary,
    /// A binary packet whose header and attachments together pass the limit.
    PacketTooLarge {
        /// The limit in bytes (the server's `max_payload`).
        max: usize,
    },
    /// A placeholder whose `num` is missing, not an integer, or out of range.
    IllegalPlaceholder,
    /// Encoding: a namespace that does not start with `/` or contains `,`.
    InvalidNamespace(String),
    /// Encoding: arguments that are not a JSON array.
    InvalidArgs,
}

impl fmt::Display for SioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SioError::Empty => f.write_str("empty socket.io packet"),
            SioError::UnknownPacketType(c) => write!(f, "unknown packet type {c:?}"),
            SioError::IllegalAttachments => f.write_str("illegal attachments count"),
            SioError::TooManyAttachments { max } => {
                write!(f, "too many attachments (max {max})")
            }
            SioError::NoAttachments => f.write_str("binary packet without attachments"),
            SioError::InvalidAckId => f.write_str("invalid ack id"),
            SioError::InvalidJson(e) => write!(f, "invalid JSON payload: {e}"),
            SioError::InvalidPayload { kind, reason } => {
                write!(f, "invalid payload for {}: {reason}", kind.name())
            }
            SioError::ReservedEventName(n) => write!(f, "reserved event name {n:?}"),
            SioError::UnexpectedText => {
                f.write_str("got plaintext data when reconstructing a packet")
            }
            SioError::UnexpectedBinary => {
                f.write_str("got binary data when not reconstructing a packet")
            }
            SioError::IllegalPlaceholder => f.write_str("illegal attachment placeholder"),
            SioError::PacketTooLarge { max } => {
                write!(
                    f,
                    "binary packet larger than {max} bytes with its attachments"
                )
            }
            SioError::InvalidNamespace(n) => write!(f, "invalid namespace {n:?}"),
            SioError::InvalidArgs => f.write_str("arguments are not a JSON array"),
        }
    }
}

impl std::error::Error for SioError {}
