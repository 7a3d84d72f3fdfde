//! [`EngineConfig`]: the settings an engine is built with.

use crate::NodeId;

/// Engine settings. `Default` gives one shard, node [`NodeId::LOCAL`], room names
/// up to 256 bytes, up to 10,000 rooms a socket, up to 4 Mi sockets a shard and
/// 4 MiB of unsent bytes a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Number of shards, 1 to [`MAX_SHARDS`](crate::id::MAX_SHARDS) (the server
    /// uses one a worker thread).
    pub shards: usize,
    /// This node's id, written into every socket id (see [`NodeId`]).
    pub node: NodeId,
    /// Longest accepted room name, in bytes.
    pub max_room_name_len: usize,
    /// Most rooms one socket may be in (its own id room not counted). A join past
    /// it is refused ([`Error::TooManyRooms`](crate::Error::TooManyRooms) when the
    /// socket's shard applies it at once; a join mailed from another thread, or a
    /// room-to-rooms move, skips the socket).
    pub max_rooms_per_socket: usize,
    /// Most sockets one shard holds at once (at most
    /// [`MAX_SLOTS`](crate::id::MAX_SLOTS)).
    pub max_sockets_per_shard: u32,
    /// A socket whose unsent bytes pass this is a slow consumer: it gets nothing
    /// more and is reported by [`Shard::take_closed`](crate::Shard::take_closed)
    /// so its transport can be closed.
    pub outbound_limit: usize,
    /// The Socket.IO namespace the engine's frames are encoded for (`"/"`).
    pub namespace: String,
    /// Mails (operations, queries) a shard's mailbox holds before producers meet
    /// back-pressure: an [`Engine`](crate::Engine) handle waits for room; a
    /// shard's own thread holds what does not fit (see
    /// [`Shard::has_held`](crate::Shard::has_held)). Memory is reserved up front:
    /// about 100 bytes a mail.
    pub mailbox_capacity: usize,
    /// A room's member set turns from a sorted list into a bitset once it has
    /// more members than `max(this, slots / 32)`. Tuning only: the default (64)
    /// is what the benches measured; tests lower it to reach dense sets with few
    /// sockets.
    pub dense_room_min: usize,
    /// Mint socket ids in the short, 20-character text form (40 random bits
    /// instead of 64), the length of socket.io's ids: for mixed clusters with
    /// Node peers ([`SocketId`](crate::SocketId)).
    pub short_ids: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            shards: 1,
            node: NodeId::LOCAL,
            max_room_name_len: 256,
            max_rooms_per_socket: 10_000,
            max_sockets_per_shard: 1 << 22,
            outbound_limit: 4 << 20,
            namespace: "/".to_owned(),
            mailbox_capacity: 16_384,
            dense_room_min: 64,
            short_ids: false,
        }
    }
}
