//! The crate's one error type.

use std::fmt;

/// Everything an engine operation can refuse.
///
/// Every variant is the caller's input being refused: no variant means the engine is
/// broken, and an error never leaves the engine half-changed. Variants that reject
/// values hand them back (the unknown ids, the bad name) so the caller can report
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A room name was empty or longer than the engine's limit (in bytes). Holds the
    /// name's length in bytes and the limit.
    InvalidRoomName {
        /// Length of the refused name in bytes.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A string that should have been a socket id is not one (wrong length,
    /// alphabet, or a shard this engine does not have). Holds the string.
    MalformedSocketId(String),
    /// Socket ids that are well-formed but not connected (Sails:
    /// `NO_SUCH_SOCKET`). For `emit` this means nothing was sent to anyone.
    UnknownSockets(Vec<String>),
    /// An event name the server must never emit (see
    /// [`RESERVED_EVENTS`](crate::wire::RESERVED_EVENTS)).
    ReservedEvent(String),
    /// A namespace name that does not start with `/` or contains a comma.
    InvalidNamespace(String),
    /// A resourceful pub/sub record id was empty (an empty string, or a JSON value
    /// that is neither a string nor a number).
    InvalidRecordId(String),
    /// A model identity was empty or not usable in a room name.
    InvalidIdentity(String),
    /// A value given to be sent could not be serialized to JSON.
    Serialize(String),
    /// There is no shard with this index.
    ShardGone(usize),
    /// The shard already holds its configured maximum of sockets.
    ShardFull(usize),
    /// A socket is already in the most rooms it may be in.
    TooManyRooms {
        /// The socket.
        socket: String,
        /// The configured maximum (`max_rooms_per_socket`).
        max: usize,
    },
    /// A node name that is empty, longer than `max` bytes, or not
    /// `[A-Za-z0-9._-]`.
    InvalidNodeName {
        /// The refused name.
        name: String,
        /// The longest name accepted.
        max: usize,
    },
    /// An operation needs another node's answer and the cluster cannot give it:
    /// the cluster bus (Redis) is down, or the node did not answer in time. Holds
    /// why. Nothing is known to have been applied on that node.
    ClusterUnavailable(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidRoomName { len: 0, .. } => f.write_str("room name is empty"),
            Error::InvalidRoomName { len, max } => {
                write!(f, "room name is {len} bytes long; the limit is {max}")
            }
            Error::MalformedSocketId(s) => write!(f, "not a socket id: {s:?}"),
            Error::UnknownSockets(ids) => write!(f, "no such socket: {}", ids.join(", ")),
            Error::ReservedEvent(e) => write!(f, "event name {e:?} is reserved by Socket.IO"),
            Error::InvalidNamespace(n) => write!(f, "invalid namespace {n:?}"),
            Error::InvalidRecordId(s) => write!(f, "invalid record id {s}"),
            Error::InvalidIdentity(s) => write!(f, "invalid model identity {s:?}"),
            Error::Serialize(e) => write!(f, "cannot serialize data: {e}"),
            Error::ShardGone(i) => write!(f, "no shard {i}"),
            Error::ShardFull(i) => write!(f, "shard {i} is full"),
            Error::TooManyRooms { socket, max } => write!(
                f,
                "socket {socket} is already in {max} rooms, the most a socket may join \
                 (max_rooms_per_socket)"
            ),
            Error::InvalidNodeName { name, max } => write!(
                f,
                "invalid node name {name:?}: 1 to {max} characters of A-Z a-z 0-9 . _ -"
            ),
            Error::ClusterUnavailable(why) => write!(f, "cluster unavailable: {why}"),
        }
    }
}

impl std::error::Error for Error {}
