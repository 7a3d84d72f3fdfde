//! [`CompatError`]: why a message from a socket.io cluster was refused. The
//! caller (the Redis wiring) counts and logs these and drops the message; no
//! decoder of this module panics on any input.

use std::fmt;

use super::notepack::NotepackError;

/// Why a message could not be decoded (or a value encoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompatError {
    /// Malformed or hostile MessagePack (or a value it cannot carry).
    Msgpack(NotepackError),
    /// Malformed JSON (serde_json's message).
    Json(String),
    /// Well-formed, but not the message expected here: what is wrong.
    Shape(&'static str),
    /// A request or response `type` this codec does not know.
    UnknownType(i64),
}

impl fmt::Display for CompatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Msgpack(e) => e.fmt(f),
            Self::Json(e) => write!(f, "json: {e}"),
            Self::Shape(what) => write!(f, "unexpected message: {what}"),
            Self::UnknownType(t) => write!(f, "unknown message type {t}"),
        }
    }
}

impl std::error::Error for CompatError {}

impl From<NotepackError> for CompatError {
    fn from(e: NotepackError) -> Self {
        Self::Msgpack(e)
    }
}
